//! `--lang`: the language of memmon's own console messages (errors, warnings, notices).
//!
//! The value itself is [`memmon_core::Lang`], so memmon-config can render its errors with it;
//! this module adds the clap side ([`LangArg`]) and what the subcommands share to print a
//! message in the chosen language: `tr!` (memmon-core's) for memmon's own sentences, the
//! per-process language (memmon-watch's `set_current`), [`config_error`] and
//! [`config_warnings`] for memmon-config's, [`warning_prefix`] for other warnings. The log file
//! and the original monitor's console lines (memmon-format) are Japanese whatever `--lang`
//! says: they are the format users grep.

use clap::ValueEnum;
use memmon_config::{ConfigError, ConfigWarning};
use memmon_watch::say;

pub use memmon_core::Lang;

/// `--lang ja|en` as clap sees it; convert with [`LangArg::get`] (or `Lang::from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LangArg {
    /// Japanese, in the log's own terms.
    #[default]
    Ja,
    /// English.
    En,
}

impl LangArg {
    /// The language this flag chose.
    pub fn get(self) -> Lang {
        match self {
            LangArg::Ja => Lang::Ja,
            LangArg::En => Lang::En,
        }
    }
}

impl From<LangArg> for Lang {
    fn from(arg: LangArg) -> Lang {
        arg.get()
    }
}

pub use memmon_core::tr;
pub use memmon_watch::lang::set_current;

/// Prints a configuration file's warnings (unknown keys), one line each, in `lang`.
pub fn config_warnings(lang: Lang, warnings: &[ConfigWarning]) {
    for w in warnings {
        say!("memmon: {}{}", warning_prefix(lang), w.in_lang(lang));
    }
}

/// Prints why a configuration file cannot be used, in `lang`: `memmon: FILE: …`.
pub fn config_error(lang: Lang, error: &ConfigError) {
    say!("memmon: {}", error.in_lang(lang));
}

/// `警告: ` / `warning: `, as in the guide's `[警告]` lines: `say!("memmon: {}{msg}",
/// warning_prefix(lang))`.
pub fn warning_prefix(lang: Lang) -> &'static str {
    lang.pick("警告: ", "warning: ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_maps_to_the_shared_type() {
        assert_eq!(LangArg::default().get(), Lang::Ja);
        assert_eq!(Lang::from(LangArg::En), Lang::En);
        // The codes clap accepts are the ones memmon-core parses.
        for arg in LangArg::value_variants() {
            let name = arg.to_possible_value().map(|v| v.get_name().to_owned());
            assert_eq!(name.as_deref(), Some(arg.get().code()));
        }
    }

    #[test]
    fn warning_prefixes() {
        assert_eq!(warning_prefix(Lang::Ja), "警告: ");
        assert_eq!(warning_prefix(Lang::En), "warning: ");
    }
}
