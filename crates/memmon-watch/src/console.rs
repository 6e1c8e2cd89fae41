//! Where the console lines go: stderr (stdout belongs to the watched command), above a
//! progress bar when `memmon test` runs on a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// `eprintln!` that never panics: stderr can be closed, full (`2>/dev/full`) or a pipe whose
/// reader is gone (`2>&1 | head -c 10`), and memmon goes on monitoring whatever happens to its
/// console. A line that cannot be written is dropped, and none is written once [`set_quiet`]
/// was called (a program embedding the in-process monitor keeps its terminal).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if !$crate::console::quiet() {
            let _ = writeln!(std::io::stderr().lock(), $($arg)*);
        }
    }};
}
pub use crate::say;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether memmon-watch keeps quiet in this process (see [`set_quiet`]).
static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences every console line memmon-watch would print in this process: the in-process
/// [`crate::Monitor`] does, since a library leaves the terminal to its program. The `memmon`
/// binary never calls it.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether [`set_quiet`] silenced the console (read by [`say!`]).
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// The console.
#[derive(Clone, Default)]
pub struct Console {
    bar: Option<ProgressBar>,
}

impl Console {
    /// Plain stderr lines.
    pub fn plain() -> Self {
        Console { bar: None }
    }

    /// Lines above a progress bar of `len` steps, when stderr is a terminal; plain otherwise.
    pub fn with_progress(len: u64) -> Self {
        if !std::io::stderr().is_terminal() {
            return Console::plain();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} サンプル")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Console { bar: Some(bar) }
    }

    /// Prints one console line.
    pub fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => say!("{line}"),
        }
    }

    /// Advances the progress bar, if any.
    pub fn step(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Removes the progress bar, if any.
    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
