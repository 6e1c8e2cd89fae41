//! One monitoring session: the sampler, memmon-core's state machine and the log, wired together.
//! `run` and `test` both drive a `Session`; they differ only in what they watch and how they wait.

use crate::console::Console;
use crate::metrics::{Metrics, Snapshot};
use crate::sink::LogSink;
use diagnose::Diagnosis;
pub use diagnose::DiagnosisOptions;
use memmon_core::{
    DetailResult, DetailSource, IntervalSpec, Monitor, MonitorSettings, SampleError, Sampler,
    Schedule, Stamp,
};
use memmon_format::{console, ExitKind, LogFormat, Record};
use std::path::PathBuf;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

/// The OOM counter is read at most this often (see `check_oom`).
const OOM_CHECK_EVERY: Duration = Duration::from_millis(900);

/// What a session needs to start.
pub struct SessionParts {
    /// Reads the watched process.
    pub sampler: Box<dyn Sampler + Send>,
    /// Fills detail blocks, when detail is on.
    pub detail: Option<Box<dyn DetailSource + Send>>,
    /// The open log.
    pub sink: LogSink,
    /// Threshold and detail cadence.
    pub settings: MonitorSettings,
    /// Sampling interval as configured.
    pub interval: IntervalSpec,
    /// Stop after this long, counted from the first sample.
    pub duration: Option<Duration>,
    /// The first sample is taken this long after the start (the spec's `startup_delay`).
    pub startup_delay: Duration,
    /// The language of memmon's own notices (the original's console lines stay Japanese).
    pub lang: crate::lang::Lang,
    /// The PID shown in the header.
    pub pid: u32,
    /// Where `/proc/vmstat` is read for the OOM line (`None`: not watched).
    pub proc_root: Option<PathBuf>,
    /// Where console lines go.
    pub console: Console,
    /// Prometheus outputs, when configured.
    pub metrics: Option<Metrics>,
    /// Woken (from any thread) when a pending detail block may be ready: the caller then calls
    /// [`Session::detail_ready`].
    pub waker: Waker,
    /// Issue #19: the breakdown line, escalation and its probes.
    pub diagnosis: DiagnosisOptions,
    /// The hooked Python processes' source when tracemalloc is off: not asked anything until
    /// a leak is suspected, then started and made the run's detail source.
    pub dormant: Option<Box<dyn DetailSource + Send>>,
}

/// Where the footer's 最終メモリ comes from.
pub enum Final {
    /// Take a fresh sample now.
    Take,
    /// A fresh sample already taken (before a stop signal went on to the command).
    Have(memmon_core::Reading),
    /// None can be had: the last good sample stands in.
    Gone,
}

/// The outcome of one attempt to sample.
pub enum Attempt {
    /// A sample line (and perhaps a warning and detail) was produced.
    Sampled,
    /// The sample failed for a reason worth a log line.
    Failed,
    /// The watched process is gone.
    Gone,
}

/// A running session.
pub struct Session {
    monitor: Monitor,
    format: LogFormat,
    sink: LogSink,
    sampler: Box<dyn Sampler + Send>,
    detail: Option<Box<dyn DetailSource + Send>>,
    schedule: Schedule,
    interval: IntervalSpec,
    started: Instant,
    started_wall: SystemTime,
    pid: u32,
    /// Reads `/proc/vmstat` (`None`: the OOM counter is not watched).
    oom: Option<memmon_sampler::OomCounter>,
    oom_seen: Option<u64>,
    oom_checked_at: Option<Duration>,
    records: Vec<Record>,
    console: Console,
    metrics: Option<Metrics>,
    told_detail_failed: bool,
    /// Whether a block's sites left out near an OOM has been said (once a run).
    told_sites_skipped: bool,
    waker: Waker,
    /// A detail request in flight, and when it gives up.
    detail_deadline: Option<Instant>,
    /// Detail blocks that fell due while a request was in flight (not sent, not silent).
    details_skipped: u64,
    /// Whether the detail source has been told of the first sample.
    first_sample_told: bool,
    /// The command's status, when it ended before the run did (its descendants still watched).
    command_exit: Option<ExitKind>,
    /// The breakdown, the online trend and the investigation it starts (issue #19).
    diagnosis: Diagnosis,
    /// See [`SessionParts::dormant`].
    dormant: Option<Box<dyn DetailSource + Send>>,
    /// Where `/proc` is read (`None`: no procfs).
    proc_root: Option<PathBuf>,
    /// The OOM counter when the run began (an OOM kill of the command is one that grew it).
    oom_at_start: Option<u64>,
    /// The flight recorder (issue #20), once [`Session::set_evidence`] turned it on.
    evidence: Option<crate::evidence::Recorder>,
}

impl Session {
    /// Starts monitoring: writes the console start lines and the header.
    pub fn start(parts: SessionParts) -> Self {
        let format = LogFormat::system();
        let mut oom = parts
            .proc_root
            .as_deref()
            .map(memmon_sampler::OomCounter::new);
        let oom_seen = oom.as_mut().and_then(|counter| counter.read().ok());
        let want_trend =
            parts.metrics.is_some() || parts.diagnosis.escalate || parts.diagnosis.tracing;
        let mut s = Session {
            monitor: Monitor::new(parts.settings),
            format,
            sink: parts.sink,
            sampler: parts.sampler,
            detail: parts.detail,
            schedule: Schedule::new(parts.interval.as_duration(), parts.duration)
                .with_delay(parts.startup_delay),
            interval: parts.interval,
            started: Instant::now(),
            started_wall: SystemTime::now(),
            pid: parts.pid,
            oom,
            oom_seen,
            oom_checked_at: None,
            records: Vec::with_capacity(16),
            console: parts.console,
            metrics: parts.metrics,
            told_detail_failed: false,
            told_sites_skipped: false,
            waker: parts.waker,
            detail_deadline: None,
            details_skipped: 0,
            first_sample_told: false,
            command_exit: None,
            // The trend's readers: the escalation and the metrics.
            diagnosis: Diagnosis::new(parts.diagnosis, want_trend),
            dormant: parts.dormant,
            proc_root: parts.proc_root.clone(),
            oom_at_start: oom_seen,
            evidence: None,
        };
        if s.detail.is_some() {
            s.console.say(&console::tracemalloc_enabled());
        }
        let shown = std::path::absolute(s.sink.path()).unwrap_or_else(|_| s.sink.path().into());
        s.console.say(&console::log_file(&shown));
        s.console.say(&console::start(s.interval));
        let header = s.format.header(s.started_wall, s.pid, s.interval, false);
        s.sink.write(&s.format, &header, 0);
        if !parts.startup_delay.is_zero() {
            s.console
                .say(&startup_wait(parts.startup_delay, parts.lang));
        }
        // The PID and the run's start go out now, not at the first sample: a client that
        // dies during the start-up delay still counts for the crash-loop alert.
        if let Some(metrics) = s.metrics.as_mut() {
            metrics.update(&Snapshot {
                pid: s.pid,
                interval_secs: s.interval.as_secs_f64(),
                run_start_unix: unix_secs(s.started_wall),
                ..Snapshot::default()
            });
        }
        s
    }

    /// The next sampling deadline as an `Instant`, or `None` when the duration is over.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        let now = self.started.elapsed();
        self.schedule.next(now).map(|d| self.started + d.at)
    }

    fn stamp(&self) -> Stamp {
        Stamp {
            wall: SystemTime::now(),
            elapsed: self.started.elapsed(),
        }
    }

    /// Takes one sample and writes its lines.
    pub fn sample(&mut self) -> Attempt {
        if !std::mem::replace(&mut self.first_sample_told, true) {
            // Tracing starts here, after the start-up delay (see `on_first_sample`).
            if let Some(source) = self.detail.as_mut() {
                source.on_first_sample();
            }
        }
        let at = self.stamp();
        self.records.clear();
        let result = self.sampler.sample();
        // Said once each by the sampler (`--children` counting a descendant's RSS because its
        // private memory cannot be read); process-wide since `sampler` is a `dyn Sampler`.
        for notice in memmon_sampler::ProcfsSampler::take_pending_notices() {
            self.console.say(&format!("memmon: {notice}"));
        }
        let attempt = match result {
            Ok(reading) => {
                let out = self.monitor.on_sample(at, reading);
                let sample = self.format.sample(&out.sample);
                if let Some(rec) = self.evidence.as_mut() {
                    rec.note_sample(sample.to_string());
                }
                let warned = out.warning.is_some();
                let every = self.monitor.settings().detail_every;
                if every.is_some_and(|n| out.sample.index % n.get() == 0) {
                    self.console.say(&console::sample(&sample));
                }
                self.records.push(sample);
                if let Some(w) = out.warning {
                    let line = self.format.warning(&w);
                    self.console.say(&console::warning(&line));
                    self.records.push(line);
                }
                self.check_oom();
                let every = self.monitor.settings().detail_every;
                if every.is_some_and(|n| out.sample.index % n.get() == 0) {
                    self.take_breakdown(out.sample.at.elapsed);
                }
                self.diagnosis
                    .push_rss(out.sample.at.elapsed, out.sample.reading.rss);
                let escalated = self.escalate();
                self.check_evidence(
                    out.sample.at.elapsed,
                    out.sample.reading.sys_available,
                    warned,
                    escalated,
                );
                self.publish(&out.sample);
                if out.detail_due {
                    self.request_detail();
                }
                Attempt::Sampled
            }
            Err(SampleError::Exited { .. }) => return Attempt::Gone,
            Err(error) => {
                self.console.say(&console::error(&error));
                let failed = self.monitor.on_failure(at, error);
                self.records.push(self.format.failed(&failed));
                Attempt::Failed
            }
        };
        self.console.step();
        let samples = u64::from(matches!(attempt, Attempt::Sampled));
        self.write_records(samples, false);
        attempt
    }

    /// Starts the detail block due with this sample. A source that answers at once has its
    /// block in this sample's write; one that takes time (Python processes asked over their
    /// sockets) is written by [`Session::detail_ready`] when it completes, so the schedule never
    /// waits for it. A block that falls due while a request is still in flight and within its
    /// timeout (a cadence faster than a snapshot takes) is skipped and counted: ending the
    /// request early would report processes that are answering as silent (`応答なし (0s)`, issue
    /// 17 item 14), and asking again would only queue behind the answer on its way. A request
    /// past its timeout (the loop has not yet collected it) is ended first, so blocks never
    /// interleave.
    fn request_detail(&mut self) {
        if let Some(deadline) = self.detail_deadline {
            if Instant::now() < deadline {
                self.skip_detail();
                return;
            }
            let pending = std::mem::take(&mut self.records);
            self.settle_detail(true);
            self.records = pending;
        }
        let Some(source) = self.detail.as_mut() else {
            return;
        };
        match source.request(&self.waker) {
            Poll::Ready(result) => self.push_detail(result),
            Poll::Pending => {
                self.detail_deadline = Some(Instant::now() + source.timeout());
            }
        }
    }

    /// When a pending detail request gives up (the caller calls [`Session::detail_ready`]
    /// then at the latest).
    pub fn detail_deadline(&self) -> Option<Instant> {
        self.detail_deadline
    }

    /// Collects a pending detail block: written now if every process has answered, or with
    /// `応答なし` lines for the silent ones once the timeout has passed.
    pub fn detail_ready(&mut self) {
        let give_up = self.detail_deadline.is_some_and(|d| Instant::now() >= d);
        self.settle_detail(give_up);
    }

    /// Counts a block skipped because a request is still in flight; the first one is said at
    /// once (why blocks are fewer than every 10th sample), the total at the end of the run.
    fn skip_detail(&mut self) {
        self.details_skipped += 1;
        if self.details_skipped == 1 {
            let timeout =
                seconds_text(self.detail.as_ref().map_or(Duration::ZERO, |d| d.timeout()));
            self.console.say(&format!(
                "memmon: {}",
                crate::lang::tr!(
                    crate::lang::current(),
                    "詳細ブロックの時刻ですが、前のブロックの応答をまだ待っています (最長 {timeout}秒): このブロックは省略します。省略した数は終了時に表示します",
                    "a detail block is due while the previous one's answers are still awaited (up to {timeout} s): this block is skipped; the number skipped is shown at the end"
                )
            ));
        }
    }

    /// Ends the run's detail requests: one still in flight is waited for until it completes or
    /// its timeout passes, as during the run, so a process that is answering is never written
    /// silent because the run ended first (the command has usually exited by now, and its
    /// processes' sockets end at once: they are then left out). Then the skipped blocks, if
    /// any, are counted on stderr.
    fn settle_detail_at_end(&mut self) {
        while let Some(deadline) = self.detail_deadline {
            if Instant::now() >= deadline {
                self.settle_detail(true);
                break;
            }
            self.settle_detail(false);
            if self.detail_deadline.is_some() {
                // The source wakes the run loop's waker, which this loop no longer reads: a
                // short sleep is the wait, bounded by the timeout.
                std::thread::sleep(
                    deadline
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(5)),
                );
            }
        }
        if self.details_skipped > 0 {
            let n = self.details_skipped;
            self.console.say(&format!(
                "memmon: {}",
                crate::lang::tr!(
                    crate::lang::current(),
                    "省略した詳細ブロック: {n}件 (前のブロックの応答を待っている間に時刻が来たもの。detail_every × interval をスナップショットにかかる時間より長くすると省略されません)",
                    "detail blocks skipped: {n} (due while the previous block's answers were awaited; a detail_every × interval longer than a snapshot takes skips none)"
                )
            ));
        }
    }

    /// Polls a pending request and writes its block (in a write of its own) when complete.
    fn settle_detail(&mut self, give_up: bool) {
        if self.detail_deadline.is_none() {
            return;
        }
        let Some(source) = self.detail.as_mut() else {
            self.detail_deadline = None;
            return;
        };
        let Poll::Ready(result) = source.poll(give_up) else {
            if give_up {
                // A source that cannot give up is not waited for again: a deadline left in
                // the past would wake the loop at once, forever.
                tracing::debug!("detail source still pending after giving up; block dropped");
                self.detail_deadline = None;
            }
            return;
        };
        self.detail_deadline = None;
        self.records.clear();
        self.push_detail(result);
        if !self.records.is_empty() {
            self.write_records(0, false);
        }
    }

    /// Adds a detail block's lines to `self.records`.
    fn push_detail(&mut self, result: DetailResult) {
        match result {
            Ok(blocks) => {
                for block in &blocks {
                    self.records.extend(self.format.detail(block));
                }
                if let Some(source) = self.detail.as_mut() {
                    if let Some(why) = source.sites_skipped().filter(|_| !self.told_sites_skipped) {
                        self.told_sites_skipped = true;
                        self.console.say(&format!(
                            "memmon: {}",
                            crate::lang::tr!(
                                crate::lang::current(),
                                "tracemalloc の割り当て箇所を省きました (残りのメモリが少なく、トレースの複製がクライアントを終了させかねないため; 以後も同じ時は省きます): {why}",
                                "tracemalloc's sites left out (too little memory left: copying the traces could end the client; so again whenever that holds): {why}"
                            )
                        ));
                    }
                    let sampler = &mut self.sampler;
                    let mut rss_now = || sampler.sample().ok().map(|r| r.rss);
                    let lines = self.diagnosis.on_blocks(
                        &self.format,
                        &blocks,
                        source.as_mut(),
                        &mut rss_now,
                    );
                    self.records.extend(lines);
                }
            }
            Err(e) => {
                // Said once: a detail source that fails (another user's process hides its
                // smaps) fails the same way every time.
                if !self.told_detail_failed {
                    self.told_detail_failed = true;
                    let pid = self.pid;
                    self.console.say(&format!(
                        "memmon: {}",
                        crate::lang::tr!(
                            crate::lang::current(),
                            "プロセス {pid} の詳細ブロックはありません: {e}。サンプル行は続けます",
                            "no detail block for process {pid}: {e}; sample lines go on"
                        )
                    ));
                }
                tracing::debug!("detail block skipped: {e}");
            }
        }
    }

    /// Writes `self.records` in one write, reopening a log that was moved away, deleted or
    /// truncated (with the spec's continuation header), and rotating one past the limit.
    /// Samples (`check_now` false) check the log at most about once a second, so a fast interval
    /// does not pay a `stat` per sample; the last lines (`check_now` true) always check first.
    fn write_records(&mut self, samples: u64, check_now: bool) {
        let reopened = if check_now {
            self.sink.reopen_if_moved()
        } else {
            self.sink.reopen_if_moved_now_and_then()
        };
        if reopened.is_some() {
            // The spec's continuation header: 経過 keeps counting from the original start.
            let header = self
                .format
                .header(SystemTime::now(), self.pid, self.interval, true);
            self.records.splice(0..0, header);
        }
        self.sink.write(&self.format, &self.records, samples);
        if self.sink.over_limit() {
            self.rotate();
        }
    }

    /// The watched process (not memmon's child) is gone: one line in the log and on stderr.
    pub fn target_gone(&mut self) {
        let error = SampleError::Exited { pid: self.pid };
        self.console.say(&format!("memmon: {error}"));
        let failed = self.monitor.on_failure(self.stamp(), error);
        self.records.clear();
        self.records.push(self.format.failed(&failed));
        self.write_records(0, true);
    }

    /// The breakdown line at the detail cadence (config `breakdown`): after the sample line,
    /// its warning and an OOM line, before the detail block. A sampler without one (sysinfo)
    /// writes none; one that fails is skipped (the sample line already says what matters).
    fn take_breakdown(&mut self, at: Duration) {
        if !self.diagnosis.options().breakdown {
            return;
        }
        match self.sampler.breakdown() {
            Some(Ok(b)) => {
                let line = self.format.breakdown(&b);
                if let Some(rec) = self.evidence.as_mut() {
                    rec.breakdown = Some(line.to_string());
                }
                self.records.push(line);
                self.diagnosis.breakdown_taken(at, b);
            }
            Some(Err(e)) => tracing::debug!("no breakdown this time: {e}"),
            None => {}
        }
    }

    /// The trend has just called a leak: one line (rate, reason, what memmon does), said on
    /// stderr too, and tracemalloc started in the hooked processes if it was off.
    fn escalate(&mut self) -> bool {
        let Some((line, started)) = self
            .diagnosis
            .check_escalation(&self.format, &mut self.dormant)
        else {
            return false;
        };
        self.console
            .say(&format!("memmon: {}", line.to_string().trim_start()));
        self.records.push(line);
        if let Some(source) = started {
            // The tracemalloc blocks follow at the detail cadence from now on.
            self.detail = Some(source);
            self.first_sample_told = true;
        }
        true
    }

    fn publish(&mut self, sample: &memmon_core::SampleEvent) {
        let Some(metrics) = self.metrics.as_mut() else {
            return;
        };
        let slope = self.diagnosis.slope();
        let snapshot = Snapshot {
            sampled: true,
            rss: sample.reading.rss,
            vms: sample.reading.vms,
            peak_rss: sample.peak,
            growth: sample.growth.get(),
            sys_available: sample.reading.sys_available,
            sys_total: sample.reading.sys_total,
            samples_total: self.monitor.samples(),
            warnings_total: self.monitor.warnings(),
            log_write_errors_total: self.sink.errors_total(),
            pid: self.pid,
            interval_secs: self.interval.as_secs_f64(),
            last_sample_unix: unix_secs(sample.at.wall),
            run_start_unix: unix_secs(self.started_wall),
            leak_slope_bytes_per_sec: slope,
            breakdown: self.diagnosis.breakdown(),
            python_traced_bytes: self.diagnosis.python_bytes(),
            leak_suspected: self.diagnosis.leak_suspected(),
            leak_cause: self.diagnosis.cause(),
        };
        metrics.update(&snapshot);
    }

    /// `/proc/vmstat` is long and rebuilt by the kernel at every read: at fast intervals it
    /// would cost more than the sample itself, so it is read at most about once a second.
    fn check_oom(&mut self) {
        let (Some(counter), Some(seen)) = (self.oom.as_mut(), self.oom_seen) else {
            return;
        };
        let now_elapsed = self.started.elapsed();
        if self
            .oom_checked_at
            .is_some_and(|at| now_elapsed.saturating_sub(at) < OOM_CHECK_EVERY)
        {
            return;
        }
        self.oom_checked_at = Some(now_elapsed);
        if let Ok(now) = counter.read() {
            if now > seen {
                self.records.push(self.format.oom(now - seen));
            }
            self.oom_seen = Some(now);
        }
    }

    fn rotate(&mut self) {
        match self.sink.rotate_now() {
            Ok(false) => {}
            Ok(true) => {
                let header = self
                    .format
                    .header(SystemTime::now(), self.pid, self.interval, true);
                self.sink.write(&self.format, &header, 0);
            }
            Err(e) => {
                let path = self.sink.path().display();
                self.console.say(&format!(
                    "memmon: {}",
                    crate::lang::tr!(
                        crate::lang::current(),
                        "ログ {path} をローテーションできません: {e}。ログはこのまま大きくなります",
                        "cannot rotate the log {path}: {e}; it keeps growing"
                    )
                ))
            }
        }
    }

    /// The command ended while descendants it started still run and are watched
    /// (`--children`): its status is kept for the exit line, which the spec puts after the last
    /// sample line and right before the footer, so sample lines go on until the last of them
    /// ends and [`Session::finish`] writes it. (The caller says on stderr what happened: the
    /// spec has no log line for it.)
    pub fn command_ended(&mut self, exit: ExitKind) {
        self.command_exit = Some(exit);
    }

    /// Ends the session: the exit line (when the command ended, now or earlier through
    /// [`Session::command_ended`]), the final sample `last` says, and the footer. Returns how
    /// many writes to the log failed in the whole session.
    pub fn finish(mut self, exit: Option<ExitKind>, last: Final) -> u64 {
        // A block still on its way is written before the footer, which ends the run.
        self.settle_detail_at_end();
        let exit = exit.or(self.command_exit.take());
        let at = self.stamp();
        self.records.clear();
        // An OOM kill the throttled check has not seen yet (systemd's `OOMPolicy=stop` sends
        // memmon SIGTERM right after the kill): the counter is read now.
        let oom_now = self.oom.as_mut().and_then(|c| c.read().ok());
        if let (Some(now), Some(seen)) = (oom_now, self.oom_seen) {
            if now > seen {
                self.records.push(self.format.oom(now - seen));
                self.oom_seen = Some(now);
            }
        }
        let oom_killed = matches!(&exit, Some(ExitKind::Signal { number, .. }) if *number == libc::SIGKILL)
            && matches!((oom_now, self.oom_at_start), (Some(now), Some(start)) if now > start);
        // The bundle lines go right before the exit line, which stays next to the footer.
        if oom_killed {
            self.evidence_oom();
        } else if let Some(rec) = self.evidence.as_ref().filter(|_| exit.is_some()) {
            // The command ended after a bundle: the exit names the last one too.
            if let Some((relative, _)) = rec.last.as_ref() {
                self.records.push(self.format.evidence_exit(relative));
            }
        }
        if let Some(kind) = exit {
            self.records.push(self.format.process_exit(kind));
        }
        let reading = match last {
            Final::Take => self.sampler.sample().ok(),
            Final::Have(reading) => Some(reading),
            Final::Gone => None,
        };
        // Always a footer, even before the first sample: its figures are `-` where nothing was
        // measured (the spec's Schedule section), never zeros.
        let summary = self.monitor.finish(at, reading);
        self.records.extend(self.format.footer(&summary));
        self.write_records(0, true);
        let shown =
            std::path::absolute(self.sink.path()).unwrap_or_else(|_| self.sink.path().into());
        self.console.say(&console::stop(&shown));
        self.sink.errors_total()
    }
}

/// Seconds since the Unix epoch (0 for a clock set before 1970).
fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The stderr line while memmon waits for the command to load (the spec's `startup_delay`).
fn startup_wait(delay: Duration, lang: crate::lang::Lang) -> String {
    let secs = seconds_text(delay);
    let said = crate::lang::tr!(
        lang,
        "起動を待っています: 最初のサンプル (初期比の基準) は {secs}秒後です (startup_delay / --startup-delay)",
        "waiting for the command to load: the first sample (the baseline of 初期比) is taken in {secs} s (startup_delay / --startup-delay)"
    );
    format!("memmon: {said}")
}

/// Whole seconds as an integer (`60`), others as Python prints a float (`2.5`).
pub fn seconds_text(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        memmon_format::python_float_repr(d.as_secs_f64())
    }
}

#[cfg(test)]
mod cadence_tests;
mod diagnose;
#[cfg(test)]
mod diagnose_tests;
#[cfg(test)]
mod evidence_tests;
mod recorder;
#[cfg(test)]
mod tests;
