//! The log sink under an adversary and under faults: what the log path may name (`/dev/stdout`,
//! a symlink another user planted, a FIFO moved over the log mid-run), and a disk that fills.

use crate::util::{parse_log, Dir};
use memmon_format::Record;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const RULE: &str =
    "================================================================================";

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Waits for `child` at most `secs`; a hang is the bug, so it is killed and the test fails.
fn wait_at_most(child: &mut Child, secs: u64, what: &str) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("memmon hung: {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    s
}

/// The lost-sample counts of memmon's "works again (N samples were lost)" notices.
fn recoveries(stderr: &str) -> Vec<u64> {
    stderr
        .lines()
        .filter_map(|l| {
            l.split_once("works again (")?
                .1
                .split_once(' ')?
                .0
                .parse()
                .ok()
        })
        .collect()
}

fn lost_counts(records: &[Record]) -> Vec<u64> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::LostSamples { count, .. } => Some(*count),
            _ => None,
        })
        .collect()
}

fn unknown_lines(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Other(line) => Some(line.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn log_dev_stdout_is_written_as_is_to_a_file_and_to_a_pipe() {
    let d = Dir::new("dev-stdout");
    // A file the shell opened (`>>`): the log goes into it with the command's own output.
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.join("out.txt"))
        .unwrap();
    let run = d
        .memmon()
        .args(["run", "--startup-delay", "0", "--interval", "0.1"])
        .args(["--lang", "en", "--log", "/dev/stdout", "--"])
        .args(["sh", "-c", "sleep 0.35; echo ran"])
        .stdout(out)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("cannot"), "{stderr}");
    let records = parse_log(&d.join("out.txt"));
    assert_eq!(unknown_lines(&records), vec!["ran".to_owned()]);
    assert!(matches!(records[..2], [Record::Rule, Record::Start { .. }]));
    assert!(records.iter().any(|r| matches!(r, Record::Sample(_))));
    assert!(matches!(records.last(), Some(Record::Rule)), "a footer");
    // A pipe (`memmon run --log /dev/stdout … | cat`).
    let out = d
        .memmon()
        .args(["run", "--startup-delay", "0", "--interval", "0.1"])
        .args(["--lang", "en", "--log", "/dev/stdout", "--"])
        .args(["sh", "-c", "sleep 0.35; echo ran"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("cannot"), "{stderr}");
    let text = String::from_utf8(out.stdout).unwrap();
    let records: Vec<Record> = text.lines().map(memmon_format::parse_line).collect();
    assert_eq!(unknown_lines(&records), vec!["ran".to_owned()], "{text}");
    assert!(records.iter().any(|r| matches!(r, Record::Sample(_))));
}

#[test]
fn a_pipe_reader_that_stops_reading_never_blocks_memmon_and_the_samples_it_missed_are_counted() {
    let d = Dir::new("dev-stdout-slow");
    let (stdout, writer) = std::io::pipe().unwrap();
    // The smallest pipe the kernel makes (a page, ~24 lines), so it fills on a slow machine too.
    // SAFETY: fcntl on a descriptor this test owns; no memory is passed.
    unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    let mut child = d
        .memmon()
        .args(["run", "--startup-delay", "0", "--interval", "0.002"])
        .args(["--lang", "en", "--log", "/dev/stdout", "--", "sleep", "2"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads for a second: a few hundred samples, far more than the pipe holds.
    std::thread::sleep(Duration::from_millis(1000));
    let reader = std::thread::spawn(move || read_all(stdout));
    let stderr = read_all(child.stderr.take().unwrap());
    let status = wait_at_most(&mut child, 20, "a full pipe at /dev/stdout");
    assert_eq!(status.code(), Some(0), "{stderr}");
    let text = reader.join().unwrap();
    assert!(text.ends_with('\n'));
    let records: Vec<Record> = text.lines().map(memmon_format::parse_line).collect();
    assert_eq!(
        unknown_lines(&records),
        Vec::<String>::new(),
        "no torn line"
    );
    assert!(
        stderr.contains(
            "cannot write to the log /dev/stdout: Resource temporarily unavailable (os error 11)"
        ),
        "{stderr}"
    );
    // Every sample a full pipe refused is named, in the log and on stderr alike.
    let lost = lost_counts(&records);
    assert!(!lost.is_empty() && lost.iter().all(|&n| n > 0), "{lost:?}");
    assert_eq!(lost, recoveries(&stderr), "{stderr}");
    assert!(matches!(records.last(), Some(Record::Rule)), "a footer");
}

#[test]
fn a_symlink_another_user_could_have_planted_is_refused_and_the_command_runs() {
    if !is_root() {
        eprintln!("skipped: planting a link as another user needs root");
        return;
    }
    let d = Dir::new("planted-link");
    // A sticky world-writable directory, like /tmp.
    let shared = d.join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let precious = d.join("precious");
    fs::write(&precious, "root's own\n").unwrap();
    let planted = shared.join("m.log");
    symlink(&precious, &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(65534), Some(65534)).unwrap();
    let device = shared.join("null.log");
    symlink("/dev/null", &device).unwrap();
    for (link, why) in [
        (
            &planted,
            format!(
                "the symlink {} belongs to user 65534, not to root or memmon's user, so it is not followed",
                planted.display()
            ),
        ),
        // Root's own link, to a device, but where another user could have put it.
        (
            &device,
            format!(
                "the symlink {} is in a directory another user can write, so it is not followed",
                device.display()
            ),
        ),
    ] {
        let out = d
            .memmon()
            .args(["run", "--startup-delay", "0", "--lang", "en", "--log"])
            .arg(link)
            .args(["--", "sh", "-c", "echo ran; exit 3"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
        assert!(
            stderr.contains(&format!("cannot open the log {}: {why}", link.display()))
                && stderr.contains("running the command unmonitored"),
            "{stderr}"
        );
    }
    assert_eq!(fs::read_to_string(&precious).unwrap(), "root's own\n");
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

#[test]
fn a_fifo_moved_over_the_log_mid_run_is_refused_without_hanging_and_sigterm_ends_the_run() {
    let d = Dir::new("fifo-mid-run");
    let log = d.join("m.log");
    let mut child = d
        .memmon()
        .args(["run", "--startup-delay", "0", "--interval", "0.05"])
        .args(["--lang", "en", "--log", "m.log", "--", "sleep", "30"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || read_all(&mut stderr_pipe));
    crate::util::wait_for("samples", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("RSS:"))
    });
    // A FIFO with a reader (so that opening it for writing would succeed), moved over the log.
    let fifo = d.join("fifo");
    mkfifo(&fifo);
    let reader = rustix::fs::open(
        &fifo,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    fs::rename(&fifo, &log).unwrap();
    // memmon checks the log about once a second; it refuses the FIFO and goes on sampling.
    std::thread::sleep(Duration::from_millis(1600));
    assert!(child.try_wait().unwrap().is_none(), "memmon ended");
    // The FIFO goes away: memmon makes a new log and names the samples it could not write.
    fs::remove_file(&log).unwrap();
    crate::util::wait_for("a new log", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("RSS:"))
    });
    // It begins with a continuation header, then the samples that went nowhere, named once.
    let records = parse_log(&log);
    assert!(
        matches!(
            records[..6],
            [
                Record::Rule,
                Record::Continue { .. },
                Record::Pid(_),
                Record::Interval(_),
                Record::Rule,
                Record::Blank
            ]
        ),
        "{records:?}"
    );
    let Record::LostSamples {
        count: lost,
        reason,
    } = &records[6]
    else {
        panic!("{records:?}")
    };
    assert_eq!(
        reason,
        "通常のファイルでもデバイスでもありません (FIFO やソケットは memmon を止めてしまいます)"
    );
    assert!(*lost > 0);
    assert_eq!(unknown_lines(&records), Vec::<String>::new());
    // Another FIFO over it, this time with no reader at all, then SIGTERM: memmon is stuck
    // on nothing, and the stop reaches the command.
    let fifo = d.join("fifo2");
    mkfifo(&fifo);
    fs::rename(&fifo, &log).unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = wait_at_most(&mut child, 10, "SIGTERM with a FIFO at the log path");
    assert_eq!(
        status.signal(),
        Some(libc::SIGTERM),
        "ends as the command did"
    );
    let stderr = stderr.join().unwrap();
    // Nothing ever went into the FIFO.
    let mut buf = [0u8; 16];
    assert!(rustix::io::read(&reader, &mut buf).map_or(true, |n| n == 0));
    assert!(
        stderr.contains(
            "cannot write to the log m.log: not a regular file or a device (a FIFO or a socket would block memmon)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot write to the log m.log: No such device or address (os error 6)"),
        "{stderr}"
    );
    assert_eq!(recoveries(&stderr), vec![*lost], "{stderr}");
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs {
    path: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(at: std::path::PathBuf, size: &str) -> Result<Tmpfs, String> {
        if !is_root() {
            return Err("not root".into());
        }
        fs::create_dir_all(&at).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs { path: at })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

/// Fills the file system holding `path` until it refuses one more byte.
fn fill(path: &Path) {
    let mut f = fs::File::create(path).unwrap();
    let chunk = [0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    while f.write_all(&chunk[..1]).is_ok() {}
}

#[test]
fn a_full_disk_never_tears_a_line_and_the_header_comes_first_once_space_returns() {
    let d = Dir::new("disk-full");
    let fs_ = match Tmpfs::mount(d.join("small"), "512k") {
        Ok(t) => t,
        Err(why) => {
            eprintln!("skipped: cannot mount a small tmpfs ({})", why.trim());
            return;
        }
    };
    let (log, filler) = (fs_.path.join("m.log"), fs_.path.join("filler"));
    // Full before memmon starts: the header cannot be written.
    fill(&filler);
    let mut child = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.05",
            "--lang",
            "en",
        ])
        .arg("--log")
        .arg(&log)
        .args(["--", "sh", "-c", "echo $$ > pid; exec sleep 5"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || read_all(&mut stderr_pipe));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(fs::read_to_string(&log).unwrap(), "", "nothing fits");
    fs::remove_file(&filler).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    // Full again mid-run: the line being written is cut where the last page ends.
    // memmon goes on filling the page its log already has (~24 lines), then a write fails:
    // wait until the log stops growing, then lose a few more samples.
    fill(&filler);
    let mut last = (0, Instant::now());
    crate::util::wait_for("the log to stop growing", || {
        let len = fs::metadata(&log).map_or(0, |m| m.len());
        if len != last.0 {
            last = (len, Instant::now());
        }
        last.1.elapsed() > Duration::from_millis(400)
    });
    // Bytes: a line cut short may end inside a character.
    let while_full = fs::read(&log).unwrap();
    fs::remove_file(&filler).unwrap();
    let status = wait_at_most(&mut child, 20, "a full disk");
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot write to the log {}: No space left on device (os error 28)",
            log.display()
        )),
        "{stderr}"
    );
    let text = fs::read_to_string(&log).unwrap();
    // What was in the file stays; the line cut short was completed in place: the line that
    // holds the byte where the file ended while full is a sample line.
    assert!(text.as_bytes().starts_with(&while_full), "{text}");
    if while_full.ends_with(b"\n") {
        eprintln!("note: the disk filled at a line boundary this time; no line was cut");
    } else {
        let (cut, bytes) = (while_full.len(), text.as_bytes());
        let begin = bytes[..cut]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let end = cut + bytes[cut..].iter().position(|&b| b == b'\n').unwrap();
        let completed = std::str::from_utf8(&bytes[begin..end]).unwrap();
        assert!(
            matches!(memmon_format::parse_line(completed), Record::Sample(_)),
            "{completed}"
        );
    }
    // The header, whole and first.
    let pid = d.read("pid").trim().to_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], RULE);
    assert!(
        lines[1].starts_with("メモリモニタリング開始: "),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2..6],
        [
            format!("PID: {pid}").as_str(),
            "モニタリング間隔: 0.05秒",
            RULE,
            ""
        ]
    );
    // Then the samples the full disk took, with the exact counts memmon gave on stderr.
    let counts = recoveries(&stderr);
    assert_eq!(counts.len(), 2, "{stderr}");
    assert!(counts.iter().all(|&n| n >= 5), "{counts:?}");
    assert_eq!(
        lines[6],
        format!("⚠️ [memmon] {}件のサンプルをログに書けませんでした (No space left on device (os error 28))", counts[0])
    );
    let second = format!(
        "⚠️ [memmon] {}件のサンプルをログに書けませんでした (No space left on device (os error 28))",
        counts[1]
    );
    assert_eq!(lines.iter().filter(|l| **l == second).count(), 1, "{text}");
    let records = parse_log(&log);
    assert_eq!(unknown_lines(&records), Vec::<String>::new());
    assert_eq!(lost_counts(&records), counts);
    // analyze sees one run, the lost samples, and no line it does not know.
    let out = d
        .memmon()
        .arg("analyze")
        .arg(&log)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["skipped_lines"], 0, "{json}");
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(
        json["runs"][0]["lost_samples"],
        counts[0] + counts[1],
        "{json}"
    );
}

/// Sample lines in `text`.
fn sample_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| matches!(memmon_format::parse_line(l), Record::Sample(_)))
        .count()
}

/// `memmon_samples_total` in a Prometheus textfile: every sample memmon took.
fn samples_taken(prom: &str) -> usize {
    prom.lines()
        .find(|l| l.starts_with("memmon_samples_total"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or_else(|| panic!("no memmon_samples_total in:\n{prom}"))
}

/// One try of the `rm -rf` test: `None` when a write of memmon fell within the removal, so
/// the deletion point in the old file is not known exactly (the test tries again).
fn remove_the_logs_directory_mid_run(d: &Dir) -> Option<()> {
    let logs = d.join("logs");
    fs::create_dir_all(&logs).unwrap();
    let log = logs.join("m.log");
    let mut child = d
        .memmon()
        .args(["run", "--startup-delay", "0", "--interval", "0.02"])
        .args([
            "--lang",
            "en",
            "--prom-textfile",
            "m.prom",
            "--log",
            "logs/m.log",
        ])
        .args(["--", "sleep", "60"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || read_all(&mut stderr_pipe));
    crate::util::wait_for("samples", || {
        fs::read_to_string(&log).is_ok_and(|t| sample_lines(&t) >= 10)
    });
    // The old file stays readable through this descriptor once it is deleted: what went into
    // it before the deletion, and after.
    let old = fs::File::open(&log).unwrap();
    let size = |f: &fs::File| f.metadata().unwrap().len();
    // Removed halfway between two writes, so that no write of memmon falls within it.
    let grown = size(&old);
    crate::util::wait_for("a write", || size(&old) > grown);
    std::thread::sleep(Duration::from_millis(8));
    let before = size(&old);
    fs::remove_dir_all(&logs).unwrap();
    let after = size(&old);
    // Samples go nowhere for a while, then the directory is back and memmon, which tries the
    // path about once a second, makes a new log.
    std::thread::sleep(Duration::from_millis(400));
    fs::create_dir(&logs).unwrap();
    crate::util::wait_for("a new log", || {
        fs::read_to_string(&log).is_ok_and(|t| sample_lines(&t) >= 5)
    });
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = wait_at_most(
        &mut child,
        10,
        "SIGTERM after the log's directory came back",
    );
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    let stderr = stderr.join().unwrap();
    if before != after {
        return None;
    }
    let old = read_all(old);
    let (in_old, after_deletion) = old.split_at(before as usize);
    // One write went into the deleted file, and told memmon at once.
    assert_eq!(sample_lines(after_deletion), 1, "{after_deletion}");
    let text = fs::read_to_string(&log).unwrap();
    let records = parse_log(&log);
    assert!(
        matches!(
            records[..6],
            [
                Record::Rule,
                Record::Continue { .. },
                Record::Pid(_),
                Record::Interval(_),
                Record::Rule,
                Record::Blank
            ]
        ),
        "{text}"
    );
    let Record::LostSamples { count, reason } = &records[6] else {
        panic!("{text}")
    };
    assert_eq!(reason, "No such file or directory (os error 2)");
    assert_eq!(lost_counts(&records).len(), 1, "{text}");
    assert_eq!(unknown_lines(&records), Vec::<String>::new());
    assert_eq!(records.last(), Some(&Record::Rule), "{text}");
    // The lost-samples line names exactly the samples that are in no file: all memmon took,
    // less those in the old file when it was deleted and those in the new one.
    let taken = samples_taken(&fs::read_to_string(d.join("m.prom")).unwrap());
    let in_new = sample_lines(&text);
    assert_eq!(
        *count as usize,
        taken - sample_lines(in_old) - in_new,
        "taken {taken}, in the old file {}, in the new {in_new}\n{stderr}",
        sample_lines(in_old)
    );
    assert!(*count > 10, "{count}: 400 ms at 20 ms went nowhere");
    assert!(
        stderr.contains("the log logs/m.log was deleted; samples written to the deleted file are counted as lost"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("cannot write to the log logs/m.log: No such file or directory (os error 2)"),
        "{stderr}"
    );
    assert_eq!(recoveries(&stderr), vec![*count], "{stderr}");
    Some(())
}

#[test]
fn samples_written_after_the_log_s_directory_was_removed_are_counted_exactly() {
    // Before, about a second of samples went into the deleted file uncounted: the path is
    // checked about once a second, and only samples after a failed check were counted.
    for attempt in 0..3 {
        let d = Dir::new(&format!("rm-rf-{attempt}"));
        if remove_the_logs_directory_mid_run(&d).is_some() {
            return;
        }
        eprintln!("a write of memmon fell within the removal; trying again");
    }
    panic!("a write of memmon fell within the removal three times");
}
