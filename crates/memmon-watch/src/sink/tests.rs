use super::lines::Lines;
use super::*;
use std::io;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memmon-sink-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn rotation_keeps_n_files_in_order() {
    let d = tmpdir("rotate");
    let log = d.join("memory_usage.log");
    for gen in 0..4 {
        fs::write(&log, format!("gen{gen}")).unwrap();
        rotate(&log, 2).unwrap();
    }
    assert!(!log.exists());
    assert_eq!(
        fs::read_to_string(d.join("memory_usage.log.1")).unwrap(),
        "gen3"
    );
    assert_eq!(
        fs::read_to_string(d.join("memory_usage.log.2")).unwrap(),
        "gen2"
    );
    assert!(!d.join("memory_usage.log.3").exists());
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_fast_run_never_rotates_away_the_newest_earlier_run() {
    let format = LogFormat::system();
    let line = [Record::Other("x".repeat(100))];
    for keep in [1u32, 2, 3] {
        let d = tmpdir(&format!("protect-{keep}"));
        let log = d.join("m.log");
        fs::write(&log, "the crash being investigated\n").unwrap();
        let opts = SinkOptions {
            max_bytes: 300,
            keep,
            sync: false,
        };
        let mut sink = LogSink::open(&log, opts).unwrap();
        let mut rotations = 0;
        for _ in 0..40 {
            sink.write(&format, &line, 0);
            if sink.over_limit() && sink.rotate_now().unwrap() {
                rotations += 1;
            }
        }
        let holders: Vec<String> = std::iter::once(log.clone())
            .chain((1..=keep).map(|n| d.join(format!("m.log.{n}"))))
            .filter(|p| {
                fs::read_to_string(p).is_ok_and(|t| t.contains("the crash being investigated"))
            })
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(holders.len(), 1, "keep {keep}: {holders:?}");
        assert!(!d.join(format!("m.log.{}", keep + 1)).exists());
        if keep == 1 {
            // One rotation moved it to .1; after that the log grows instead.
            assert_eq!(rotations, 1);
            assert!(fs::metadata(&log).unwrap().len() > 300);
        } else {
            assert!(rotations > 5, "keep {keep}: {rotations}");
            assert!(holders[0].ends_with(&format!(".{keep}")), "{holders:?}");
        }
        fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn writing_resumes_after_a_failure_with_the_lost_samples_line() {
    let d = tmpdir("resume");
    let opts = SinkOptions {
        max_bytes: 1 << 20,
        keep: 1,
        sync: false,
    };
    let format = LogFormat::system();
    let line = [sample()];
    let mut sink = LogSink::open(Path::new("/dev/full"), opts).unwrap();
    assert!(!sink.regular, "/dev/full is never rotated or checked");
    assert!(!sink.write(&format, &line, 1));
    assert!(!sink.write(&format, &line, 1));
    assert!(!sink.write(&format, &[Record::Blank], 0));
    assert_eq!(sink.errors_total(), 3);
    // Space returns: the same sink now writes to a regular file.
    let log = d.join("m.log");
    sink.file = open_log(&log).unwrap().file;
    assert!(sink.write(&format, &line, 1));
    assert!(sink.write(&format, &line, 1));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("⚠️ [memmon] 2件のサンプルをログに書けませんでした (No space left on device (os error 28))\n{SAMPLE}\n{SAMPLE}\n")
    );
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn deleted_moved_and_truncated_logs_are_noticed() {
    let d = tmpdir("moved");
    let log = d.join("m.log");
    let opts = SinkOptions {
        max_bytes: 1 << 20,
        keep: 1,
        sync: false,
    };
    let format = LogFormat::system();
    let line = [Record::Other("line".into())];
    let mut sink = LogSink::open(&log, opts).unwrap();
    assert!(sink.write(&format, &line, 0));
    assert_eq!(sink.reopen_if_moved(), None);
    fs::rename(&log, d.join("m.log.old")).unwrap();
    assert_eq!(sink.reopen_if_moved(), Some(Reopened::Replaced));
    assert!(sink.write(&format, &line, 0));
    assert_eq!(fs::read_to_string(&log).unwrap(), "line\n");
    fs::remove_file(&log).unwrap();
    assert_eq!(sink.reopen_if_moved(), Some(Reopened::Replaced));
    assert!(log.exists());
    assert!(sink.write(&format, &line, 0));
    assert!(sink.write(&format, &line, 0));
    fs::write(&log, "").unwrap();
    assert_eq!(sink.reopen_if_moved(), Some(Reopened::Truncated));
    assert_eq!(sink.reopen_if_moved(), None);
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn samples_check_the_log_at_most_once_a_second() {
    let d = tmpdir("now-and-then");
    let log = d.join("m.log");
    let opts = SinkOptions {
        max_bytes: 1 << 20,
        keep: 1,
        sync: false,
    };
    let mut sink = LogSink::open(&log, opts).unwrap();
    assert_eq!(sink.reopen_if_moved_now_and_then(), None);
    fs::rename(&log, d.join("m.log.old")).unwrap();
    // Checked a moment ago: not again yet.
    assert_eq!(sink.reopen_if_moved_now_and_then(), None);
    // A second later the move is noticed.
    sink.checked_at = sink.checked_at.map(|t| t - MOVED_CHECK_EVERY);
    assert_eq!(
        sink.reopen_if_moved_now_and_then(),
        Some(Reopened::Replaced)
    );
    assert!(log.exists());
    // The unconditional check (before the footer) never waits.
    fs::remove_file(&log).unwrap();
    assert_eq!(sink.reopen_if_moved(), Some(Reopened::Replaced));
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn samples_written_into_a_deleted_log_are_counted_as_lost() {
    let d = tmpdir("deleted-dir");
    let dir = d.join("logs");
    fs::create_dir(&dir).unwrap();
    let log = dir.join("m.log");
    let opts = SinkOptions {
        max_bytes: 1 << 20,
        keep: 1,
        sync: false,
    };
    let format = LogFormat::system();
    let line = [sample()];
    let mut sink = LogSink::open(&log, opts).unwrap();
    assert!(sink.write(&format, &line, 1));
    // The deleted file stays readable through this descriptor: what went into it.
    let deleted = File::open(&log).unwrap();
    // The path was checked a moment ago, then the log's directory is removed (`rm -rf`).
    assert_eq!(sink.reopen_if_moved_now_and_then(), None);
    fs::remove_dir_all(&dir).unwrap();
    // Two writes before any check go into the deleted file, and are counted.
    assert!(sink.write(&format, &line, 1));
    assert!(sink.write(&format, &line, 1));
    // The deletion makes the next check come at once, not a second later; the path cannot
    // be opened, so the samples after it are counted without being tried.
    assert!(sink.checked_at.is_none());
    assert_eq!(sink.reopen_if_moved_now_and_then(), None);
    assert!(!sink.write(&format, &line, 1));
    assert!(!sink.write(&format, &line, 1));
    assert!(!sink.write(&format, &line, 1));
    fs::create_dir(&dir).unwrap();
    assert_eq!(sink.reopen_if_moved(), Some(Reopened::Replaced));
    assert!(sink.write(&format, &line, 1));
    // Written: one sample before the deletion and two after it, in the deleted file; the new
    // file names all five that are in no file, with the reason the path could not be opened.
    assert_eq!(
        io::read_to_string(deleted).unwrap(),
        format!("{SAMPLE}\n{SAMPLE}\n{SAMPLE}\n")
    );
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("⚠️ [memmon] 5件のサンプルをログに書けませんでした (No such file or directory (os error 2))\n{SAMPLE}\n")
    );

    // The log alone deleted (`rm m.log`): the path opens again at once, and the sample that
    // went into the deleted file is named with the deletion as its reason.
    fs::remove_file(&log).unwrap();
    assert!(sink.write(&format, &line, 1));
    assert_eq!(
        sink.reopen_if_moved_now_and_then(),
        Some(Reopened::Replaced)
    );
    assert!(sink.write(&format, &line, 1));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("⚠️ [memmon] 1件のサンプルをログに書けませんでした (ログファイルが削除されていました)\n{SAMPLE}\n")
    );

    // Moved away, the file keeps its name: its lines are not lost.
    fs::rename(&log, d.join("m.log.moved")).unwrap();
    assert!(sink.write(&format, &line, 1));
    assert!(sink.checked_at.is_some());
    assert_eq!(sink.reopen_if_moved(), Some(Reopened::Replaced));
    assert!(sink.write(&format, &line, 1));
    assert_eq!(fs::read_to_string(&log).unwrap(), format!("{SAMPLE}\n"));
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_lost_samples_line_that_went_into_a_deleted_log_is_written_again() {
    let d = tmpdir("deleted-lost-line");
    let log = d.join("m.log");
    let opts = SinkOptions {
        max_bytes: 1 << 20,
        keep: 1,
        sync: false,
    };
    let format = LogFormat::system();
    let line = [sample()];
    // Two samples lost on a device that refuses writes…
    let mut sink = LogSink::open(Path::new("/dev/full"), opts).unwrap();
    assert!(!sink.write(&format, &line, 1));
    assert!(!sink.write(&format, &line, 1));
    // …then writing works again, into a log that is deleted just before the write that
    // carries the lost-samples line.
    sink.reset_to(open_log(&log).unwrap());
    sink.path = log.clone();
    let deleted = File::open(&log).unwrap();
    fs::remove_file(&log).unwrap();
    assert!(sink.write(&format, &line, 1));
    assert_eq!(
        io::read_to_string(deleted).unwrap(),
        format!("⚠️ [memmon] 2件のサンプルをログに書けませんでした ({ENOSPC})\n{SAMPLE}\n")
    );
    // The next file names the two again, and the sample that went with them.
    assert_eq!(sink.reopen_if_moved(), Some(Reopened::Replaced));
    assert!(sink.write(&format, &line, 1));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("⚠️ [memmon] 3件のサンプルをログに書けませんでした (ログファイルが削除されていました)\n{SAMPLE}\n")
    );
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn open_refuses_a_symlink_at_the_log_path() {
    let d = tmpdir("symlink");
    let target = d.join("target");
    fs::write(&target, "precious").unwrap();
    let log = d.join("memory_usage.log");
    std::os::unix::fs::symlink(&target, &log).unwrap();
    let opts = SinkOptions {
        max_bytes: 1 << 20,
        keep: 1,
        sync: false,
    };
    assert!(LogSink::open(&log, opts).is_err());
    assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn open_error_in_both_languages() {
    let log = Path::new("/nonexistent-memmon-dir/memory_usage.log");
    let opts = SinkOptions {
        max_bytes: 1 << 20,
        keep: 1,
        sync: false,
    };
    let Err(e) = LogSink::open(log, opts) else {
        panic!("opened a log in a missing directory")
    };
    let ja = e.message(Lang::Ja);
    assert!(
        ja.starts_with("ログ /nonexistent-memmon-dir/memory_usage.log を開けません: "),
        "{ja}"
    );
    assert_eq!(e.message(Lang::En), e.to_string());
    assert!(e
        .to_string()
        .starts_with("cannot open the log /nonexistent-memmon-dir/"));
}

const SAMPLE: &str = "[2025-11-21 14:30:00] 経過: 00:05:00 | RSS: 45.23MB (初期比: +2.15MB) | VMS: 123.45MB | ピーク: 47.12MB | システム: 35.2% (512MB空き)";
const HEADER: &str = "================================================================================\nメモリモニタリング開始: 2025-11-21 14:25:00\nPID: 12345\nモニタリング間隔: 300秒\n================================================================================\n\n";
const ENOSPC: &str = "No space left on device (os error 28)";

fn sample() -> Record {
    let r = memmon_format::parse_line(SAMPLE);
    assert!(matches!(r, Record::Sample(_)), "{r:?}");
    r
}

fn header() -> Vec<Record> {
    HEADER.lines().map(memmon_format::parse_line).collect()
}

/// A file that takes `left` more bytes (all of them when `None`), then says the disk is full.
struct Budget {
    out: Vec<u8>,
    left: Option<usize>,
}

impl io::Write for Budget {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.left.map_or(buf.len(), |left| left.min(buf.len()));
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.out.extend_from_slice(&buf[..n]);
        if let Some(left) = &mut self.left {
            *left -= n;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn budget(left: Option<usize>) -> Budget {
    Budget {
        out: Vec::new(),
        left,
    }
}

fn text(b: &Budget) -> String {
    String::from_utf8(b.out.clone()).unwrap()
}

#[test]
fn a_line_cut_short_is_completed_before_the_lost_samples_line() {
    let format = LogFormat::system();
    let mut lines = Lines::default();
    let mut file = budget(None);
    assert!(lines.write(&mut file, &format, &header()).error.is_none());
    assert!(lines.write(&mut file, &format, &[sample()]).error.is_none());
    // 30 bytes of the next sample line fit: the torn line.
    file.left = Some(30);
    let r = lines.write(&mut file, &format, &[sample()]);
    assert_eq!(r.bytes, 30);
    assert!(r.began && r.error.is_some());
    assert_eq!(text(&file), format!("{HEADER}{SAMPLE}\n{}", &SAMPLE[..30]));
    // Two more samples find the disk full: lost.
    for _ in 0..2 {
        let r = lines.write(&mut file, &format, &[sample()]);
        assert!(!r.began && r.bytes == 0);
    }
    assert_eq!(lines.errors_total(), 3);
    // Space returns: the cut line is whole first, then the count, then the new sample.
    file.left = None;
    let r = lines.write(&mut file, &format, &[sample()]);
    assert!(r.error.is_none());
    assert_eq!(
        r.recovered,
        Some(2),
        "the cut sample is completed, not lost"
    );
    assert_eq!(
        text(&file),
        format!("{HEADER}{SAMPLE}\n{SAMPLE}\n⚠️ [memmon] 2件のサンプルをログに書けませんでした ({ENOSPC})\n{SAMPLE}\n")
    );
    assert!(lines.pending().is_empty());
}

#[test]
fn a_header_that_could_not_be_written_goes_first_once_space_returns() {
    let format = LogFormat::system();
    for fits in [0, 10, HEADER.len() - 1] {
        let mut lines = Lines::default();
        let mut file = budget(Some(fits));
        let r = lines.write(&mut file, &format, &header());
        assert!(r.began && r.bytes == fits as u64);
        // A sample and a warning after it are lost; only the sample is counted.
        let warning = Record::Warning { growth_mb: 52.34 };
        lines.write(&mut file, &format, &[sample(), warning]);
        file.left = None;
        assert_eq!(
            lines.write(&mut file, &format, &[sample()]).recovered,
            Some(1)
        );
        assert_eq!(
            text(&file),
            format!(
                "{HEADER}⚠️ [memmon] 1件のサンプルをログに書けませんでした ({ENOSPC})\n{SAMPLE}\n"
            ),
            "{fits} bytes fitted"
        );
    }
}

#[test]
fn a_lost_samples_line_cut_short_is_completed_and_later_losses_get_their_own() {
    let format = LogFormat::system();
    let mut lines = Lines::default();
    let mut file = budget(None);
    lines.write(&mut file, &format, &header());
    file.left = Some(0);
    lines.write(&mut file, &format, &[sample()]);
    lines.write(&mut file, &format, &[sample()]);
    // Room for part of the lost-samples line only.
    file.left = Some(20);
    lines.write(&mut file, &format, &[sample()]);
    file.left = None;
    assert_eq!(
        lines.write(&mut file, &format, &[sample()]).recovered,
        Some(3)
    );
    assert_eq!(
        text(&file),
        format!("{HEADER}⚠️ [memmon] 2件のサンプルをログに書けませんでした ({ENOSPC})\n⚠️ [memmon] 1件のサンプルをログに書けませんでした ({ENOSPC})\n{SAMPLE}\n")
    );
}

#[test]
fn a_line_cut_short_is_completed_in_the_file_it_began_in_before_a_reopen() {
    let format = LogFormat::system();
    let mut lines = Lines::default();
    let mut old = budget(Some(HEADER.len() + 12));
    lines.write(&mut old, &format, &header());
    lines.write(&mut old, &format, &[sample()]);
    old.left = None;
    lines.finish_in(&mut old);
    assert_eq!(text(&old), format!("{HEADER}{SAMPLE}\n"));
    // The new file never starts with a fragment; nothing was lost.
    let mut new = budget(None);
    assert_eq!(
        lines.write(&mut new, &format, &[sample()]).recovered,
        Some(0)
    );
    assert_eq!(text(&new), format!("{SAMPLE}\n"));
    // When the old file refuses the rest too, it is dropped, never carried over.
    let mut lines = Lines::default();
    let mut old = budget(Some(HEADER.len() + 12));
    lines.write(&mut old, &format, &header());
    lines.write(&mut old, &format, &[sample()]);
    lines.finish_in(&mut old);
    let mut new = budget(None);
    lines.write(&mut new, &format, &[sample()]);
    assert_eq!(text(&new), format!("{SAMPLE}\n"));
}

proptest::proptest! {
    /// Whatever the disk lets through, once a write works again the file is whole lines of
    /// the log format, the header first, and every sample is either in it or counted in a
    /// lost-samples line.
    #[test]
    fn any_sequence_of_cut_and_failed_writes_leaves_whole_lines_and_counts_every_sample(
        writes in proptest::collection::vec((proptest::option::of(0usize..400), 0usize..4), 0..40),
        header_fits in proptest::option::of(0usize..300),
    ) {
        let format = LogFormat::system();
        let mut lines = Lines::default();
        let mut file = budget(header_fits);
        lines.write(&mut file, &format, &header());
        let mut samples = 0;
        for (left, kind) in writes {
            file.left = left;
            let records = match kind {
                0 => vec![sample()],
                1 => vec![sample(), Record::Warning { growth_mb: 52.34 }],
                2 => vec![Record::Smaps { anonymous_mb: 1.0, swap_mb: 0.0, threads: 2, fds: 3 }, Record::Blank],
                _ => vec![Record::SampleFailed { reason: "gone".into() }],
            };
            samples += records.iter().filter(|r| matches!(r, Record::Sample(_))).count() as u64;
            lines.write(&mut file, &format, &records);
        }
        file.left = None;
        lines.write(&mut file, &format, &[sample()]);
        samples += 1;
        let text = text(&file);
        proptest::prop_assert!(text.starts_with(HEADER), "{}", text);
        proptest::prop_assert!(text.ends_with(&format!("{SAMPLE}\n")), "{}", text);
        let (mut written, mut lost) = (0, 0);
        for line in text[HEADER.len()..].lines() {
            match memmon_format::parse_line(line) {
                Record::Sample(_) => written += 1,
                Record::LostSamples { count, .. } => lost += count,
                Record::Other(torn) => proptest::prop_assert!(false, "torn line {:?} in\n{}", torn, text),
                _ => {}
            }
        }
        proptest::prop_assert_eq!(written + lost, samples, "{}", text);
    }
}

fn refusal(path: &Path) -> String {
    match open_log(path) {
        Ok(_) => panic!("{} was opened", path.display()),
        Err(e) => e.message(Lang::En),
    }
}

#[test]
fn a_symlink_is_followed_only_when_no_other_user_could_have_planted_it_and_only_to_a_device() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let d = tmpdir("links");
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    // Ours, in a directory only we can write, to a character device: written as is.
    let null = d.join("null.log");
    symlink("/dev/null", &null).unwrap();
    let opened = open_log(&null).unwrap();
    assert!(!opened.regular);
    // A chain: every link is checked.
    let chain = d.join("chain.log");
    symlink(&null, &chain).unwrap();
    assert!(open_log(&chain).is_ok());
    // To a regular file: refused, whoever made the link (rotation would miss the file).
    fs::write(d.join("file"), "precious").unwrap();
    let to_file = d.join("file.log");
    symlink(d.join("file"), &to_file).unwrap();
    assert!(refusal(&to_file).starts_with("the symlink leads to the regular file "));
    let Err(e) = open_log(&to_file) else {
        panic!("followed a link to a file")
    };
    assert!(
        e.message(Lang::Ja)
            .starts_with("シンボリックリンクの先は通常のファイル "),
        "{}",
        e.message(Lang::Ja)
    );
    // To a directory: refused.
    let to_dir = d.join("dir.log");
    symlink("/tmp", &to_dir).unwrap();
    assert!(refusal(&to_dir).contains("neither a character device"));
    // A chain through a directory others can write (sticky or not) is refused.
    let open_dir = d.join("open");
    fs::create_dir(&open_dir).unwrap();
    symlink("/dev/null", open_dir.join("null")).unwrap();
    let via = d.join("via.log");
    symlink(open_dir.join("null"), &via).unwrap();
    for mode in [0o777, 0o1777, 0o775] {
        fs::set_permissions(&open_dir, fs::Permissions::from_mode(mode)).unwrap();
        assert!(
            refusal(&via).contains("is in a directory another user can write"),
            "{mode:o}"
        );
    }
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(open_log(&via).is_ok());
    // A link another user owns (root can make one for `nobody`).
    if rustix::process::geteuid().is_root() {
        let theirs = d.join("theirs.log");
        symlink("/dev/null", &theirs).unwrap();
        std::os::unix::fs::lchown(&theirs, Some(65534), None).unwrap();
        assert_eq!(
            refusal(&theirs),
            format!(
                "the symlink {} belongs to user 65534, not to root or memmon's user, so it is not followed",
                theirs.display()
            )
        );
    }
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn dev_stdout_and_dev_fd_are_memmon_s_own_output_written_as_is() {
    for path in ["/dev/stdout", "/dev/stderr", "/dev/fd/2", "/proc/self/fd/2"] {
        match open_log(Path::new(path)) {
            Ok(opened) => assert!(!opened.regular, "{path}"),
            // A test harness whose output is a socket: the kernel cannot reopen it.
            Err(e) => assert_eq!(
                e.message(Lang::En),
                "No such device or address (os error 6)",
                "{path}"
            ),
        }
    }
}
