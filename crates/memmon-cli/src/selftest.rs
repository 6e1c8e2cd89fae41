//! `memmon test`: the guide's test mode. memmon watches itself while keeping 1 MiB more at
//! every interval, so a user can see on their own device what a leak looks like in the log.

use crate::cli::TestArgs;
use crate::console::Console;
use crate::lang::tr;
use crate::run::{watch_signals, Wake, EXIT_USAGE};
use crate::session::{Final, Session, SessionParts};
use crate::sink::{LogSink, SinkOptions};
use memmon_core::{MonitorSettings, MIB};
use memmon_format::console;
use memmon_sampler::alloc::{set_mode, Mode};
use memmon_sampler::{AllocDetail, ProcfsOptions};
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

/// The test keeps this much more at every step, as the original did.
const STEP: usize = MIB as usize;

/// Runs the test mode; returns the exit code (130 when interrupted).
pub fn test(args: TestArgs) -> i32 {
    let lang = args.lang.get();
    let steps = (args.duration.as_secs_f64() / args.interval.as_secs_f64()).ceil() as u64;
    let console_out = Console::with_progress(steps);
    console_out.say(&console::test_start());
    let (tx, rx) = mpsc::channel();
    if let Err(e) = watch_signals(tx) {
        eprintln!(
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
            eprintln!("memmon: {}", e.message(lang));
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
            eprintln!(
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
    let mut session = Session::start(SessionParts {
        sampler,
        detail: Some(Box::new(AllocDetail::new())),
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
    });

    let mut held: Vec<Vec<u8>> = Vec::new();
    while let Some(deadline) = session.next_deadline() {
        loop {
            let timeout = deadline.saturating_duration_since(Instant::now());
            if timeout.is_zero() {
                break;
            }
            match rx.recv_timeout(timeout) {
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                Ok(Wake::Signal { .. }) => {
                    console_out.say(&console::test_interrupted());
                    session.finish(None, Final::Take);
                    console_out.done();
                    return 130;
                }
                Ok(_) => {}
            }
        }
        session.sample();
        let i = held.len();
        // Filled with a non-zero byte so every page is really touched and counts in RSS.
        held.push(vec![0xA5; STEP]);
        if i % 10 == 0 {
            console_out.say(&console::test_iteration(i as u64, held.len() as u64));
        }
    }
    session.finish(None, Final::Take);
    console_out.done();
    console_out.say(&console::test_done());
    drop(held);
    0
}
