//! `memmon test`: the guide's test mode. memmon watches itself while keeping 1 MiB more at
//! every interval, so a user can see on their own device what a leak looks like in the log.
//!
//! As the original's test mode: it runs for the whole duration (the footer's 実行時間 is the
//! duration, `300秒` for 5 minutes, though the last sample is one interval before the end), and
//! ends with `テスト完了`, after `テスト中断` when interrupted.
//!
//! The detail block is memmon's own heap, by allocation site, named from the workspace
//! (`crates/memmon-cli/src/selftest.rs:LINE`, not the build machine's directory). Two things
//! would make it disagree with the sample lines, and are taken care of here:
//! - the site sizes are estimates from sampled allocations (one sampled allocation of `s`
//!   bytes stands for `s / (1 - exp(-s / interval))`): at the default 512 KiB interval a 1 MiB
//!   block is sampled with probability 0.86, so ten blocks read as 7–10 × 1.16 MiB (the block
//!   said `size=8290 KiB` for about 10 MiB). The test samples every 64 KiB on average, so each
//!   1 MiB block is sampled (probability 1 - e⁻¹⁶) and counts exactly 1 MiB;
//! - naming a site loads the binary's line tables on first use (heap and paged-in debug
//!   sections: +11.7 MB of RSS in a release build, far more in a debug one), which showed as a
//!   jump in 初期比 after the first block. They are loaded before the first sample, so the
//!   baseline holds them and every step is the 1 MiB the test keeps.

use crate::cli::TestArgs;
use crate::lang::tr;
use crate::run::{watch_signals, Wake, EXIT_USAGE};
use memmon_core::{MonitorSettings, MIB};
use memmon_format::console;
use memmon_sampler::alloc::{set_mode, set_sample_interval, Mode};
use memmon_sampler::{AllocDetail, ProcfsOptions};
use memmon_watch::console::Console;
use memmon_watch::say;
use memmon_watch::session::{Final, Session, SessionParts};
use memmon_watch::sink::{LogSink, SinkOptions};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Instant;

/// The test keeps this much more at every step, as the original did.
const STEP: usize = MIB as usize;

/// Mean bytes between sampled allocations in the test: far below [`STEP`], so every block the
/// test keeps is sampled and its site's size is exact (see the module's doc).
const TEST_SAMPLE_INTERVAL: u64 = 64 * 1024;

/// The workspace memmon was built in (`crates/memmon-cli/../..`): sites under it are named
/// relative to it.
fn workspace_root() -> Option<&'static Path> {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.parent()
}

/// Waits until `until`, or until a signal: `true` when a signal came.
fn wait_until(rx: &Receiver<Wake>, until: Instant) -> bool {
    loop {
        let timeout = until.saturating_duration_since(Instant::now());
        if timeout.is_zero() {
            return false;
        }
        match rx.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return false,
            Ok(Wake::Signal { .. }) => return true,
            Ok(_) => {}
        }
    }
}

/// Runs the test mode; returns the exit code (130 when interrupted).
pub fn test(args: TestArgs) -> i32 {
    crate::lang::set_current(args.lang.get());
    let lang = args.lang.get();
    let steps = (args.duration.as_secs_f64() / args.interval.as_secs_f64()).ceil() as u64;
    let console_out = Console::with_progress(steps);
    console_out.say(&console::test_start());
    let (tx, rx) = mpsc::channel();
    // No command: a stop signal is the loop's alone.
    if let Err(e) = watch_signals(tx, false) {
        say!(
            "memmon: {}",
            tr!(
                lang,
                "シグナルハンドラを設定できません: {e}",
                "cannot install signal handlers: {e}"
            )
        );
        return EXIT_USAGE;
    }
    let sink = match LogSink::open(
        &args.log,
        SinkOptions {
            max_bytes: 10 * MIB,
            keep: 5,
            sync: args.interval.as_secs_f64() >= 1.0,
        },
    ) {
        Ok(s) => s,
        Err(e) => {
            say!("memmon: {}", e.message(lang));
            return EXIT_USAGE;
        }
    };
    let pid = std::process::id();
    let root = PathBuf::from("/proc");
    let options = ProcfsOptions {
        root: root.clone(),
        children: false,
    };
    let sampler = match memmon_sampler::auto_sampler(pid, options) {
        Ok(s) => s,
        Err(e) => {
            say!(
                "memmon: {}",
                tr!(
                    lang,
                    "memmon 自身のメモリ使用量を読み取れません: {e}",
                    "cannot read memmon's own memory: {e}"
                )
            );
            return EXIT_USAGE;
        }
    };
    // The detail block is memmon's own traced heap, like the original's tracemalloc block:
    // its first site is the line below that keeps 1 MiB per step.
    set_mode(Mode::Sites);
    set_sample_interval(TEST_SAMPLE_INTERVAL);
    let mut detail = match workspace_root() {
        Some(root) => AllocDetail::new().with_source_root(root),
        None => AllocDetail::new(),
    };
    // The log's time zone is read first (jiff keeps the database), so that its allocation
    // sites are among those the warm-up resolves.
    drop(memmon_format::LogFormat::system());
    detail.warm_up(test as *const () as usize);
    let mut session = Session::start(SessionParts {
        sampler,
        detail: Some(Box::new(detail)),
        sink,
        settings: MonitorSettings::default(),
        interval: args.interval,
        duration: Some(args.duration),
        // The spec: `memmon test` samples at once, as the original's test mode did.
        startup_delay: std::time::Duration::ZERO,
        lang: crate::lang::Lang::Ja,
        pid,
        proc_root: root.is_dir().then_some(root),
        console: console_out.clone(),
        metrics: None,
        // memmon's own allocator answers at once: no block is ever pending.
        waker: std::task::Waker::noop().clone(),
        // The spec fixes what the test mode writes: none of issue #19's lines.
        diagnosis: memmon_watch::session::DiagnosisOptions {
            breakdown: false,
            escalate: false,
            malloc_trim_probe: false,
            tracing: true,
            no_hook: None,
            leak_line: false,
        },
        dormant: None,
    });

    // The duration counts from the first sample, taken at once.
    let end = Instant::now() + args.duration;
    let mut held: Vec<Vec<u8>> = Vec::new();
    let interrupted = |session: Session| {
        console_out.say(&console::test_interrupted());
        session.finish(None, Final::Take);
        console_out.done();
        // The original prints it last, interrupted or not.
        console_out.say(&console::test_done());
        130
    };
    while let Some(deadline) = session.next_deadline() {
        if wait_until(&rx, deadline) {
            return interrupted(session);
        }
        session.sample();
        let i = held.len();
        // Filled with a non-zero byte so every page is really touched and counts in RSS.
        held.push(vec![0xA5; STEP]);
        if i % 10 == 0 {
            console_out.say(&console::test_iteration(i as u64, held.len() as u64));
        }
    }
    // The last sample is one interval before the end; the test, like the original's, runs to
    // the end, so the footer's 実行時間 is the duration.
    if wait_until(&rx, end) {
        return interrupted(session);
    }
    session.finish(None, Final::Take);
    console_out.done();
    console_out.say(&console::test_done());
    drop(held);
    0
}
