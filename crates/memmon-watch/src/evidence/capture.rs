//! A bundle's text (`docs/evidence.md`, "Layout"): the fixed first line, then `## ` sections in
//! a fixed order, cut at the size bound.

use memmon_core::EvidenceReply;
use std::fmt::Write as _;
use std::path::Path;

/// Sites listed per Python process.
const SITES_SHOWN: usize = 10;
/// Types listed per Python process.
const TYPES_SHOWN: usize = 20;
/// The most bytes of one `/proc` file read into a bundle.
const PROC_FILE_MAX: u64 = 64 * 1024;

/// What a bundle is made of, gathered by the session.
pub(crate) struct Parts<'a> {
    /// The trigger's name (`usr2`, …).
    pub trigger: &'a str,
    /// Local time, `YYYY-MM-DD HH:MM:SS`.
    pub time: &'a str,
    /// The watched PID.
    pub pid: u32,
    /// The last sample lines, as written.
    pub samples: &'a [String],
    /// The last breakdown line, as written.
    pub breakdown: Option<&'a str>,
    /// Every watched process.
    pub pids: &'a [u32],
    /// Where `/proc` is (`None`: no procfs, no process or machine sections).
    pub proc_root: Option<&'a Path>,
    /// The hooked Python processes' answers.
    pub python: &'a [EvidenceReply],
    /// The size bound in bytes.
    pub max_bytes: usize,
}

/// The bundle's text, at most `max_bytes` bytes.
pub(crate) fn render(p: &Parts<'_>) -> String {
    let mut s = String::with_capacity(16 * 1024);
    s.push_str("# memmon 証拠バンドル\n## 概要\n");
    let _ = writeln!(s, "トリガー: {}", p.trigger);
    let _ = writeln!(s, "時刻: {}", p.time);
    let _ = writeln!(s, "PID: {}", p.pid);
    let _ = writeln!(s, "memmon: {}", env!("CARGO_PKG_VERSION"));
    if !p.samples.is_empty() {
        s.push_str("## 直近のサンプル\n");
        for line in p.samples {
            s.push_str(line);
            s.push('\n');
        }
    }
    if let Some(line) = p.breakdown {
        s.push_str("## 内訳\n");
        s.push_str(line);
        s.push('\n');
    }
    let pids = if p.proc_root.is_some() { p.pids } else { &[] };
    for &pid in pids {
        let Some(root) = p.proc_root else { break };
        let dir = root.join(pid.to_string());
        for file in ["status", "smaps_rollup"] {
            if let Some(text) = read_bounded(&dir.join(file)) {
                let _ = writeln!(s, "## プロセス {pid}: {file}");
                push_text(&mut s, &text);
            }
        }
        if let Some(fds) = fd_summary(&dir.join("fd")) {
            let _ = writeln!(s, "## プロセス {pid}: FD");
            let _ = writeln!(
                s,
                "ソケット {}, ファイル {}, パイプ {}, その他 {}",
                fds[0], fds[1], fds[2], fds[3]
            );
        }
    }
    if let Some(text) = p
        .proc_root
        .and_then(|root| read_bounded(&root.join("meminfo")))
    {
        s.push_str("## meminfo\n");
        push_text(&mut s, &text);
    }
    for reply in p.python {
        if !reply.sites.is_empty()
            || reply.started_now
            || reply.sites_skipped.is_some()
            || reply.estimate.is_some()
        {
            let _ = writeln!(s, "## Python {}: 割り当て箇所", reply.pid);
            if reply.started_now {
                s.push_str("注意: tracemalloc はこの取得のために開始されました。それ以降の割り当てだけが見えます。\n");
            }
            if let Some(why) = &reply.sites_skipped {
                let _ = writeln!(
                    s,
                    "注意: 割り当て箇所と型は取得しませんでした (残りのメモリが少なく、オブジェクトの一覧がクライアントを終了させかねないため): {}",
                    one_line(why)
                );
            }
            if let Some(e) = &reply.estimate {
                // The sizes are a sample's estimate, not tracemalloc's statistics: say so, and
                // how much of the traced memory the estimate accounts for.
                let _ = writeln!(
                    s,
                    "推定: 生きているオブジェクトの標本から ({} 個に 1 個, 標本 {} 個; 長い文字列・バイト列 {} 個は個別に、項目の多いコンテナ {} 個は項目を抽出)。size と count は推定値です。割り当て箇所に置いた推定 {:.2}MB / tracemalloc の追跡中 {:.2}MB",
                    e.step,
                    e.samples,
                    e.large,
                    e.containers,
                    e.estimated_bytes as f64 / memmon_core::MIB as f64,
                    e.traced_bytes as f64 / memmon_core::MIB as f64
                );
            }
            for (i, site) in reply.sites.iter().take(SITES_SHOWN).enumerate() {
                let _ = writeln!(
                    s,
                    "{}. {}: size={}, count={}",
                    i + 1,
                    one_line(&site.location),
                    memmon_format::Size::from_bytes(site.size as f64),
                    site.count
                );
                for frame in &site.traceback {
                    let _ = writeln!(s, "    {}", one_line(frame));
                }
            }
        }
        if !reply.types.is_empty() {
            let _ = writeln!(s, "## Python {}: 型", reply.pid);
            for t in reply.types.iter().take(TYPES_SHOWN) {
                let _ = writeln!(
                    s,
                    "{}: {}個, {:.2}MB",
                    one_line(&t.name),
                    t.count,
                    t.bytes as f64 / memmon_core::MIB as f64
                );
            }
        }
    }
    cut(s, p.max_bytes)
}

/// Cuts `s` at a line boundary so that it and the note saying so fit `max` bytes.
fn cut(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    // Room for the note (its number has at most 20 digits).
    let room = max.saturating_sub(64);
    let mut end = room.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let end = s[..end].rfind('\n').map_or(0, |i| i + 1);
    let omitted = s.len() - end;
    s.truncate(end);
    let _ = writeln!(s, "(切り詰め: {omitted} バイト省略)");
    s
}

/// A traceback frame or name on one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect()
}

fn push_text(s: &mut String, text: &str) {
    s.push_str(text);
    if !text.ends_with('\n') {
        s.push('\n');
    }
}

/// A `/proc` file, at most [`PROC_FILE_MAX`] bytes (`None`: unreadable).
fn read_bounded(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(PROC_FILE_MAX)
        .read_to_end(&mut text)
        .ok()?;
    Some(String::from_utf8_lossy(&text).into_owned())
}

/// Sockets, files, pipes and the rest among the descriptors in `dir` (`/proc/PID/fd`).
fn fd_summary(dir: &Path) -> Option<[u64; 4]> {
    let mut counts = [0u64; 4];
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let t = target.as_os_str().as_encoded_bytes();
        let i = if t.starts_with(b"socket:") {
            0
        } else if t.starts_with(b"/") {
            1
        } else if t.starts_with(b"pipe:") {
            2
        } else {
            3
        };
        counts[i] += 1;
    }
    Some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_has_its_sections_in_order_and_is_cut_at_its_bound() {
        let me = std::process::id();
        let samples = vec!["[2026-12-05 14:30:00] line".to_owned()];
        let python = vec![EvidenceReply {
            pid: me,
            started_now: true,
            sites: vec![memmon_core::TracedSite {
                location: "client.py:42".into(),
                size: 12 * memmon_core::MIB,
                count: 1200,
                traceback: vec!["client.py:42".into(), "main.py:10".into()],
            }],
            types: vec![memmon_core::TypeCount {
                name: "__main__.Card".into(),
                count: 1200,
                bytes: 115_200,
            }],
            types_complete: true,
            sites_skipped: None,
            estimate: Some(memmon_core::SiteEstimate {
                step: 51,
                samples: 3937,
                large: 2,
                containers: 1,
                estimated_bytes: 9 * memmon_core::MIB,
                traced_bytes: 12 * memmon_core::MIB,
            }),
        }];
        let parts = Parts {
            trigger: "usr2",
            time: "2026-12-05 14:30:00",
            pid: me,
            samples: &samples,
            breakdown: Some("  [内訳] x"),
            pids: &[me],
            proc_root: Some(Path::new("/proc")),
            python: &python,
            max_bytes: 256 * 1024,
        };
        let text = render(&parts);
        let headings: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(
            headings,
            [
                "# memmon 証拠バンドル".to_owned(),
                "## 概要".into(),
                "## 直近のサンプル".into(),
                "## 内訳".into(),
                format!("## プロセス {me}: status"),
                format!("## プロセス {me}: smaps_rollup"),
                format!("## プロセス {me}: FD"),
                "## meminfo".into(),
                format!("## Python {me}: 割り当て箇所"),
                format!("## Python {me}: 型"),
            ]
        );
        assert!(text.contains(
            "1. client.py:42: size=12.0 MiB, count=1200\n    client.py:42\n    main.py:10\n"
        ));
        assert!(text.contains("__main__.Card: 1200個, 0.11MB\n"));
        assert!(text.contains("注意: tracemalloc はこの取得のために開始されました"));
        assert!(text.contains("\n推定: 生きているオブジェクトの標本から (51 個に 1 個, 標本 3937 個; 長い文字列・バイト列 2 個は個別に、項目の多いコンテナ 1 個は項目を抽出)。size と count は推定値です。割り当て箇所に置いた推定 9.00MB / tracemalloc の追跡中 12.00MB\n1. client.py:42"), "{text}");

        let small = render(&Parts {
            max_bytes: 1000,
            ..parts
        });
        assert!(small.len() <= 1000, "{}", small.len());
        let last = small.lines().last().unwrap();
        assert!(
            last.starts_with("(切り詰め: ") && last.ends_with(" バイト省略)"),
            "{last}"
        );
        assert!(small.starts_with("# memmon 証拠バンドル\n"));
    }

    /// Near an OOM the hook skips the walk of the objects: the bundle says why, under the
    /// process's heading, and has no types section.
    #[test]
    fn skipped_sites_are_said_in_the_bundle() {
        let me = std::process::id();
        let python = vec![EvidenceReply {
            pid: 77,
            started_now: false,
            sites: vec![],
            types: vec![],
            types_complete: false,
            sites_skipped: Some("the list of objects needs ~61 MiB, 40 MiB left".into()),
            estimate: None,
        }];
        let parts = Parts {
            trigger: "floor",
            time: "2026-12-05 14:30:00",
            pid: me,
            samples: &[],
            breakdown: None,
            pids: &[],
            proc_root: None,
            python: &python,
            max_bytes: 256 * 1024,
        };
        let text = render(&parts);
        assert!(
            text.ends_with("## Python 77: 割り当て箇所\n注意: 割り当て箇所と型は取得しませんでした (残りのメモリが少なく、オブジェクトの一覧がクライアントを終了させかねないため): the list of objects needs ~61 MiB, 40 MiB left\n"),
            "{text}"
        );
    }
}
