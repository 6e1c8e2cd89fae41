//! The flight recorder inside the session (issue #20): the triggers checked at each sample,
//! SIGUSR2's capture on demand, a bundle written at once (`crate::evidence`), its `[証拠]` line,
//! and the OOM line naming the last bundle.

use super::*;

impl Session {
    /// Turns the flight recorder on (issue #20, `docs/evidence.md`): bundles beside the log.
    /// A log that is not a regular file (`/dev/stdout`, `/dev/null`) has no directory beside it
    /// for memmon to write: bundles are then off, and said so.
    pub fn set_evidence(&mut self, opts: crate::evidence::EvidenceOptions) {
        if !opts.on {
            return;
        }
        let path = self.sink.path();
        if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            let shown = path.display();
            self.console.say(&format!(
                "memmon: {}",
                crate::lang::tr!(
                    crate::lang::current(),
                    "ログ {shown} は通常のファイルではないため、証拠バンドル (evidence) は保存しません",
                    "the log {shown} is not a regular file: no evidence bundles are kept"
                )
            ));
            return;
        }
        if !opts.horizon.is_zero() {
            // The horizon reads the online trend's slope.
            self.diagnosis.want_trend();
        }
        self.evidence = Some(crate::evidence::Recorder::new(opts, path));
    }

    /// SIGUSR2 to memmon: a bundle now (once per run), its line in the log at once.
    pub fn capture_on_demand(&mut self) {
        let Some(rec) = self.evidence.as_mut() else {
            self.console.say(&format!(
                "memmon: {}",
                crate::lang::tr!(
                    crate::lang::current(),
                    "SIGUSR2 を受けましたが、証拠バンドルは無効です (evidence: false、またはログが通常のファイルではありません)",
                    "SIGUSR2 received, but evidence bundles are off (evidence: false, or the log is not a regular file)"
                )
            ));
            return;
        };
        if !rec.fire(crate::evidence::Trigger::Usr2) {
            self.console.say(&format!(
                "memmon: {}",
                crate::lang::tr!(
                    crate::lang::current(),
                    "SIGUSR2 による証拠バンドルはこの実行ですでに保存しました (トリガーごとに 1 回)",
                    "a SIGUSR2 evidence bundle was already kept in this run (one per trigger)"
                )
            ));
            return;
        }
        self.records.clear();
        self.capture(crate::evidence::Trigger::Usr2);
        if !self.records.is_empty() {
            self.write_records(0, false);
        }
    }

    /// The triggers a sample can fire: the first warning, the escalation, and the machine's.
    /// Several at once make one bundle, named after the first; each is then spent.
    pub(super) fn check_evidence(
        &mut self,
        elapsed: Duration,
        available: u64,
        warned: bool,
        escalated: bool,
    ) {
        use crate::evidence::Trigger;
        let slope = self.diagnosis.slope();
        let Some(rec) = self.evidence.as_mut() else {
            return;
        };
        let mut due = Vec::new();
        if warned {
            due.push(Trigger::Warning);
        }
        if escalated {
            due.push(Trigger::Escalation);
        }
        if let Some(root) = self.proc_root.as_deref() {
            let (machine, notice) = rec.machine(elapsed, root, self.pid, available, slope);
            if let Some(notice) = notice {
                self.console.say(&format!("memmon: {notice}"));
            }
            due.extend(machine);
        }
        due.retain(|t| !rec.fired(*t));
        let Some(&first) = due.first() else {
            return;
        };
        for t in due {
            rec.fire(t);
        }
        self.capture(first);
    }

    /// Writes a bundle now and pushes its line onto `self.records`; says on stderr where it is
    /// (or why it could not be written).
    pub(super) fn capture(&mut self, trigger: crate::evidence::Trigger) {
        if self.evidence.is_none() {
            return;
        }
        // A bundle of a process that has ended is no evidence (no memory, no Python to ask),
        // and as the run's last it would be the one an OOM line names, in place of the one
        // from before the death: none is kept. (A sample reads a live process; the OOM killer
        // can strike between it and this, as it did in the end-to-end OOM test.)
        if let Some(root) = self.proc_root.as_deref() {
            if memmon_sampler::has_ended(root, self.pid) {
                let kind = trigger.name();
                self.console.say(&format!(
                    "memmon: {}",
                    crate::lang::tr!(
                        crate::lang::current(),
                        "コマンドが終了していたため証拠バンドル ({kind}) は作りません",
                        "no evidence bundle ({kind}): the command had ended"
                    )
                ));
                return;
            }
        }
        let python = match (
            self.detail_deadline,
            self.detail.as_mut().or(self.dormant.as_mut()),
        ) {
            // A request in flight is never crossed by another on the same sockets.
            (None, Some(source)) => source.evidence().unwrap_or_default(),
            _ => Vec::new(),
        };
        let Some(rec) = self.evidence.as_mut() else {
            return;
        };
        let local = self.format.local_time(SystemTime::now());
        let time = local.strftime("%Y-%m-%d %H:%M:%S").to_string();
        let at = [
            local.year(),
            local.month().into(),
            local.day().into(),
            local.hour().into(),
            local.minute().into(),
            local.second().into(),
        ]
        .map(|v: i16| u16::try_from(v).unwrap_or(0));
        let mut pids = vec![self.pid];
        if let (true, Some(root)) = (rec.opts.children, self.proc_root.as_deref()) {
            pids.extend(memmon_sampler::descendants(root, self.pid).unwrap_or_default());
        }
        let samples: Vec<String> = rec.samples.iter().cloned().collect();
        let text = crate::evidence::capture::render(&crate::evidence::capture::Parts {
            trigger: trigger.name(),
            time: &time,
            pid: self.pid,
            samples: &samples,
            breakdown: rec.breakdown.as_deref(),
            pids: &pids,
            proc_root: self.proc_root.as_deref(),
            python: &python,
            max_bytes: usize::try_from(rec.opts.max_kb.saturating_mul(1024)).unwrap_or(usize::MAX),
        });
        let name = memmon_core::bundle_name::bundle_name(at, self.pid, trigger.name());
        match rec.store.write(&name, text.as_bytes()) {
            Ok(path) => {
                let relative = format!("{}/{name}", rec.store.name().to_string_lossy());
                rec.last = Some((relative.clone(), name));
                self.records.push(self.format.evidence(&relative));
                let shown = std::path::absolute(&path).unwrap_or(path);
                let shown = shown.display();
                let kind = trigger.name();
                self.console.say(&format!(
                    "memmon: {}",
                    crate::lang::tr!(
                        crate::lang::current(),
                        "証拠バンドルを保存しました ({kind}): {shown}",
                        "evidence bundle kept ({kind}): {shown}"
                    )
                ));
            }
            Err(e) => {
                let dir = rec.store.path();
                let dir = dir.display();
                self.console.say(&format!(
                    "memmon: {}",
                    crate::lang::tr!(
                        crate::lang::current(),
                        "証拠バンドルを {dir} に保存できません: {e}",
                        "cannot keep an evidence bundle in {dir}: {e}"
                    )
                ));
            }
        }
    }

    /// The command was killed by the OOM killer: the line naming the run's last bundle, which
    /// is then marked so that it is never removed to make room.
    pub(super) fn evidence_oom(&mut self) {
        let Some(rec) = self.evidence.as_ref() else {
            return;
        };
        let last = rec.last.clone();
        self.records.push(
            self.format
                .evidence_oom(last.as_ref().map(|(rel, _)| rel.as_str())),
        );
        if let Some((_, name)) = last {
            if let Err(e) = rec.store.protect(&name) {
                tracing::debug!("cannot mark {name} as named by an OOM line: {e}");
            }
        }
    }
}
