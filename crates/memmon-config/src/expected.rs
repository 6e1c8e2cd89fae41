//! What a key accepts and what it was given, as values that render in either language.
//!
//! Kept typed (not a ready-made English string) so [`crate::ConfigError`] can be rendered in
//! Japanese as well as English without translating text after the fact.

use std::fmt;

use memmon_core::Lang;

/// What a key (or the whole file) accepts. `Display` is the English wording; use
/// [`Expected::text`] for another language.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Expected {
    /// `true` or `false`.
    Bool,
    /// A number of seconds greater than zero.
    Seconds,
    /// A number of seconds greater than zero and at most the given bound.
    SecondsAtMost(u64),
    /// A number of seconds of at least the given floor (the interval's 0.001).
    SecondsAtLeast(f64),
    /// A number of seconds of zero or more and at most the given bound.
    SecondsFromZeroAtMost(u64),
    /// A number of the given unit (`MB`) that is zero or more.
    NumberAtLeastZero {
        /// The unit, as written in both languages (`MB`).
        unit: &'static str,
    },
    /// A number of the given unit (`MB`) greater than zero.
    PositiveNumber {
        /// The unit, as written in both languages (`MB`).
        unit: &'static str,
    },
    /// An integer of at least 1.
    IntegerAtLeastOne,
    /// An integer in `min..=max`. `i64`, not the parser's `i128`: every bound memmon uses fits,
    /// and it keeps [`crate::ConfigError`] small enough to return by value.
    IntegerIn {
        /// The smallest accepted value.
        min: i64,
        /// The largest accepted value.
        max: i64,
    },
    /// A string that is not empty.
    NonEmptyString,
    /// A file path the OS could open as a file: see [`crate::check_file_path`].
    FilePath,
    /// An address and port such as `127.0.0.1:9464`.
    SocketAddr,
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
    /// A JSON object (`{ … }`).
    Object,
    /// A TOML table.
    Table,
}

impl Expected {
    /// The wording in `lang`. Japanese is a noun phrase that reads before `が必要です`.
    pub fn text(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.to_string(),
            Lang::Ja => match self {
                Expected::Bool => "true か false".to_owned(),
                Expected::Seconds => "0 より大きい数値 (秒)".to_owned(),
                Expected::SecondsAtMost(max) => format!("0 より大きく {max} 以下の数値 (秒)"),
                Expected::SecondsFromZeroAtMost(max) => format!("0 以上 {max} 以下の数値 (秒)"),
                Expected::SecondsAtLeast(min) => format!("{min} 以上の数値 (秒)"),
                Expected::NumberAtLeastZero { unit } => format!("0 以上の数値 ({unit})"),
                Expected::PositiveNumber { unit } => format!("0 より大きい数値 ({unit})"),
                Expected::IntegerAtLeastOne => "1 以上の整数".to_owned(),
                Expected::IntegerIn { min, max } => format!("{min} 以上 {max} 以下の整数"),
                Expected::NonEmptyString => "空でない文字列".to_owned(),
                Expected::FilePath => "ファイルのパス (空でなく、NUL バイトを含まず、\"/\"・\".\"・\"..\" で終わらず、全体で 4095 バイト、名前ごとに 255 バイトまで)".to_owned(),
                Expected::SocketAddr => "\"127.0.0.1:9464\" のようなアドレスとポート".to_owned(),
                Expected::OneOf(words) => format!("{} のいずれか", quoted_list(words, "、")),
                Expected::Object => "オブジェクト ({ … })".to_owned(),
                Expected::Table => "テーブル".to_owned(),
            },
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Bool => f.write_str("true or false"),
            Expected::Seconds => f.write_str("a number of seconds > 0"),
            Expected::SecondsAtMost(max) => {
                write!(f, "a number of seconds > 0 and at most {max}")
            }
            Expected::SecondsAtLeast(min) => write!(f, "a number of seconds >= {min}"),
            Expected::SecondsFromZeroAtMost(max) => {
                write!(f, "a number of seconds >= 0 and at most {max}")
            }
            Expected::NumberAtLeastZero { unit } => write!(f, "a number of {unit} >= 0"),
            Expected::PositiveNumber { unit } => write!(f, "a number of {unit} > 0"),
            Expected::IntegerAtLeastOne => f.write_str("an integer >= 1"),
            Expected::IntegerIn { min, max } => write!(f, "an integer from {min} to {max}"),
            Expected::NonEmptyString => f.write_str("a non-empty string"),
            Expected::FilePath => f.write_str(
                "a file path (not empty, no NUL byte, not ending in \"/\", \".\" or \"..\", \
                 at most 4095 bytes and 255 per name)",
            ),
            Expected::SocketAddr => f.write_str("an address and port like \"127.0.0.1:9464\""),
            Expected::OneOf(words) => write!(f, "one of {}", quoted_list(words, ", ")),
            Expected::Object => f.write_str("an object"),
            Expected::Table => f.write_str("a table"),
        }
    }
}

/// `"a", "b", "c"` with the given separator.
fn quoted_list(words: &[&str], separator: &str) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(separator)
}

/// The type of a bad value, named in Japanese messages: a quoted `"300"` is easy to misread as
/// a number, so the message says (文字列).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueKind {
    /// JSON `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number written without a fraction or exponent.
    Integer,
    /// A number written with a fraction or exponent (or `nan`, `inf`).
    Float,
    /// A string.
    String,
    /// A TOML date or time.
    Datetime,
    /// An array.
    Array,
    /// A JSON object or TOML table.
    Table,
    /// Nested too deep to be looked at.
    Elided,
}

impl ValueKind {
    /// The type's name in `lang`.
    pub fn name(self, lang: Lang) -> &'static str {
        match self {
            ValueKind::Null => "null",
            ValueKind::Bool => lang.pick("真偽値", "boolean"),
            ValueKind::Integer => lang.pick("整数", "integer"),
            ValueKind::Float => lang.pick("小数", "decimal number"),
            ValueKind::String => lang.pick("文字列", "string"),
            ValueKind::Datetime => lang.pick("日時", "date-time"),
            ValueKind::Array => lang.pick("配列", "array"),
            // Values are rendered JSON-style (`{"a": 1}`) in both formats, so one name fits.
            ValueKind::Table => lang.pick("オブジェクト", "object"),
            ValueKind::Elided => lang.pick("値", "value"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_wording_is_the_display() {
        assert_eq!(Expected::Bool.text(Lang::En), "true or false");
        assert_eq!(
            Expected::OneOf(&["auto", "smaps"]).to_string(),
            "one of \"auto\", \"smaps\""
        );
    }

    #[test]
    fn japanese_wording() {
        assert_eq!(
            Expected::IntegerIn { min: 1, max: 100 }.text(Lang::Ja),
            "1 以上 100 以下の整数"
        );
        assert_eq!(
            Expected::OneOf(&["auto", "smaps"]).text(Lang::Ja),
            "\"auto\"、\"smaps\" のいずれか"
        );
        assert_eq!(
            Expected::PositiveNumber { unit: "MB" }.text(Lang::Ja),
            "0 より大きい数値 (MB)"
        );
        assert_eq!(ValueKind::String.name(Lang::Ja), "文字列");
        assert_eq!(ValueKind::String.name(Lang::En), "string");
    }
}
