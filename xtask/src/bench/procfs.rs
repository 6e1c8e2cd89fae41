//! What the bench reads about the processes it measures: CPU time and peak RSS from `/proc`.
//! Parsers take text, so tests feed them literals.

use crate::{fail, Result};
use std::path::Path;

/// CPU time a process has used so far, in nanoseconds, summed over its threads.
///
/// Read from `/proc/PID/task/*/schedstat` (nanosecond run time) where the kernel has it, because
/// `utime + stime` in `/proc/PID/stat` counts clock ticks of 10 ms: a watcher that costs 20 µs
/// per sample at 100 samples/s uses about one tick in five seconds, too coarse to compare. The
/// ticks are the fallback (converted with `getconf CLK_TCK`, else 100 Hz).
pub fn cpu_ns(pid: u32) -> Result<u64> {
    match schedstat_ns(pid) {
        Some(ns) => Ok(ns),
        None => {
            let path = format!("/proc/{pid}/stat");
            let text =
                std::fs::read_to_string(&path).map_err(|e| fail!("cannot read {path}: {e}"))?;
            let ticks =
                parse_stat_ticks(&text).ok_or_else(|| fail!("unexpected {path}: {text}"))?;
            Ok(ticks.saturating_mul(1_000_000_000) / clock_ticks_per_s())
        }
    }
}

/// The sum of the run times in `/proc/PID/task/*/schedstat`; `None` when unreadable.
fn schedstat_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let (mut total, mut read) = (0u64, 0usize);
    for task in tasks.flatten() {
        // A thread that ended between the listing and the read is skipped, not a failure:
        // falling back to `stat` (whole clock ticks) would lose the precision for nothing.
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        total = total.saturating_add(parse_schedstat(&text)?);
        read += 1;
    }
    (read > 0).then_some(total)
}

/// The first field of `schedstat`: time spent on the CPU, in nanoseconds.
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `utime + stime` from a `/proc/PID/stat` line, in clock ticks. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_stat_ticks(text: &str) -> Option<u64> {
    let after = &text[text.rfind(')')? + 1..];
    // After the name: state is field 3, utime field 14, stime field 15.
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`), 100 when it cannot be asked.
fn clock_ticks_per_s() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&hz: &u64| hz > 0)
        .unwrap_or(100)
}

/// A process's peak RSS (`VmHWM` in `/proc/PID/status`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| fail!("cannot read {path}: {e}"))?;
    parse_vmhwm_kib(&text).ok_or_else(|| fail!("no VmHWM in {path}"))
}

/// `VmHWM:   2048 kB` → 2048 (the kernel's kB are KiB).
pub fn parse_vmhwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line["VmHWM:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many lines `path` holds now (0 when it does not exist yet).
pub fn count_lines(path: &Path) -> Result<u64> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes.iter().filter(|&&b| b == b'\n').count() as u64),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(fail!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_are_counted_after_the_name() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 120 0 0 0 7 5 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(stat), Some(12));
        assert_eq!(parse_stat_ticks("4242 (x) S 1"), None);
        assert_eq!(parse_stat_ticks("no name"), None);
    }

    #[test]
    fn schedstat_and_vmhwm_are_read_from_literals() {
        assert_eq!(parse_schedstat("172575 3286241 2\n"), Some(172_575));
        assert_eq!(parse_schedstat(""), None);
        let status = "Name:\tmemmon\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1900 kB\n";
        assert_eq!(parse_vmhwm_kib(status), Some(2048));
        assert_eq!(parse_vmhwm_kib("Name:\tx\n"), None);
    }

    #[test]
    fn our_own_cpu_time_is_readable() {
        // Some CPU time of our own first: a young process can be at 0 clock ticks.
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let ns = cpu_ns(std::process::id());
        assert!(matches!(ns, Ok(n) if n > 0), "{ns:?}");
    }
}
