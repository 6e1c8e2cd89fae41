//! The language of the notices said deep inside a run (the log sink, the metrics, the detail
//! source), where no `--lang` is passed down: one per process, set once by whoever starts the
//! run (the `memmon` binary, from its flag). The messages themselves are written with
//! memmon-core's `tr!`.

pub use memmon_core::{tr, Lang};
use std::sync::atomic::{AtomicU8, Ordering};

/// The chosen language, as a code: 0 Japanese (the default), 1 English.
static CURRENT: AtomicU8 = AtomicU8::new(0);

/// Sets [`current`] (the binary does, from its `--lang`).
pub fn set_current(lang: Lang) {
    let code = match lang {
        Lang::Ja => 0,
        Lang::En => 1,
    };
    CURRENT.store(code, Ordering::Relaxed);
}

/// The language chosen for this process (Japanese until someone sets it).
pub fn current() -> Lang {
    match CURRENT.load(Ordering::Relaxed) {
        1 => Lang::En,
        _ => Lang::Ja,
    }
}
