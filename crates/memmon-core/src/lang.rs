//! The language of memmon's own messages (errors, notices, reports).
//!
//! The log lines themselves are always the original monitor's Japanese; this only chooses how
//! memmon speaks about them. It is a plain value so every crate can take it (memmon-config
//! renders its errors with it) without knowing the command line; the `--lang` flag lives in the
//! binary.

use std::fmt;
use std::str::FromStr;

/// A language for memmon's own messages. Japanese is the default, as the rest of the console
/// (the original monitor's lines) is Japanese.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Japanese, in the guide's and the log's own terms.
    #[default]
    Ja,
    /// English.
    En,
}

impl Lang {
    /// Both languages, for callers (and tests) that must handle every one.
    pub const ALL: [Lang; 2] = [Lang::Ja, Lang::En];

    /// The code used on the command line: `ja` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// Picks the text for this language: `lang.pick("日本語", "English")`. Both arguments are
    /// evaluated, which is fine for messages; use a `match` where building one is costly.
    pub fn pick<T>(self, ja: T, en: T) -> T {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A language code other than `ja` or `en`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?}: expected \"ja\" or \"en\"")]
pub struct ParseLangError(pub String);

impl FromStr for Lang {
    type Err = ParseLangError;

    /// Accepts `ja` and `en`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ja" => Ok(Lang::Ja),
            "en" => Ok(Lang::En),
            _ => Err(ParseLangError(s.to_owned())),
        }
    }
}

/// A message built in one language only, the other never formatted:
/// `tr!(lang, "プロセス {pid} を監視できません", "cannot watch process {pid}")` is a `String`.
/// Both literals take the same inline arguments as `format!`. Every crate that speaks to the
/// user in both languages uses it, so a message is always written in pairs.
#[macro_export]
macro_rules! tr {
    ($lang:expr, $ja:literal, $en:literal $(,)?) => {
        match $lang {
            $crate::Lang::Ja => format!($ja),
            $crate::Lang::En => format!($en),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_japanese() {
        assert_eq!(Lang::default(), Lang::Ja);
    }

    #[test]
    fn codes_round_trip() {
        for lang in Lang::ALL {
            assert_eq!(lang.code().parse::<Lang>(), Ok(lang));
            assert_eq!(lang.to_string(), lang.code());
        }
        assert_eq!("EN".parse::<Lang>(), Ok(Lang::En));
        assert_eq!(
            "fr".parse::<Lang>().unwrap_err().to_string(),
            "unknown language \"fr\": expected \"ja\" or \"en\""
        );
    }

    #[test]
    fn pick_chooses_by_language() {
        assert_eq!(Lang::Ja.pick("はい", "yes"), "はい");
        assert_eq!(Lang::En.pick("はい", "yes"), "yes");
    }

    #[test]
    fn tr_formats_only_the_chosen_language() {
        let pid = 42;
        assert_eq!(
            tr!(Lang::Ja, "プロセス {pid}", "process {pid}"),
            "プロセス 42"
        );
        assert_eq!(
            tr!(Lang::En, "プロセス {pid}", "process {pid}"),
            "process 42"
        );
    }
}
