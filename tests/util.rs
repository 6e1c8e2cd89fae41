//! The end-to-end harness: a fresh directory per test, the freshly built binary, parsed logs.

use memmon_format::{parse_line, Record};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A fresh, empty directory for one test, removed when the test passes.
pub struct Dir {
    pub path: PathBuf,
}

impl Dir {
    pub fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("memmon-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir { path }
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }

    /// `memmon` with this directory as its working directory, a pinned time zone and no input.
    pub fn memmon(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_memmon"));
        c.current_dir(&self.path)
            .env("TZ", "Asia/Tokyo")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null());
        c
    }

    pub fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.join(p)).unwrap()
    }

    pub fn write(&self, p: &str, text: &str) {
        std::fs::write(self.join(p), text).unwrap();
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Every line of a log, parsed.
pub fn parse_log(path: &Path) -> Vec<Record> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.ends_with('\n'),
        "log does not end with a newline:\n{text}"
    );
    text.lines().map(parse_line).collect()
}

/// The sample lines of a parsed log.
pub fn samples(records: &[Record]) -> Vec<&memmon_format::SampleLine> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Sample(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// No line of the log is unknown to the parser.
pub fn assert_well_formed(records: &[Record], text: &str) {
    for r in records {
        assert!(
            !matches!(r, Record::Other(_)),
            "unknown line {r:?} in:\n{text}"
        );
    }
}

/// Python code that sleeps, then keeps `mib` MiB (touched), then sleeps again.
pub fn py_alloc(sleep_before: f64, mib: u32, sleep_after: f64) -> String {
    format!(
        "import time; time.sleep({sleep_before}); b = b'\\x01' * ({mib} << 20); time.sleep({sleep_after})"
    )
}

/// A spawned memmon that is killed if the test fails before it ends, so a failed test leaves
/// nothing running.
pub struct Running(pub Child);

impl Running {
    /// The process ID.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Waits for the process to end.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        match self.0.wait() {
            Ok(status) => status,
            Err(e) => panic!("cannot wait for memmon: {e}"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `python3 -m venv venv` in `d` (no pip: nothing is downloaded).
pub fn make_venv(d: &Dir) {
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip", "venv"])
        .current_dir(&d.path)
        .status()
        .unwrap();
    assert!(made.success());
}

/// Waits (at most 30 s, polling every 20 ms) until `done` says so; fails the test naming `what`.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !done() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
