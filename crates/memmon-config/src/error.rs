//! Why a configuration file was rejected, and what was accepted with a warning.
//!
//! Every message exists in Japanese and English ([`ConfigError::in_lang`],
//! [`ConfigWarning::in_lang`]); `Display` is the English one, as Rust errors conventionally
//! are, so what library users already log or match on does not change. The `memmon` binary
//! shows the language chosen with `--lang` (Japanese by default, like the rest of its console).

use std::fmt;

use memmon_core::Lang;

use crate::expected::{Expected, ValueKind};

/// The two file formats memmon reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `client_config.json` (any extension other than `.toml`).
    Json,
    /// `memmon.toml`.
    Toml,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Toml => "TOML",
        })
    }
}

/// A configuration file that cannot be used. Every message starts with the file as the user
/// named it, so it can be shown as is. `Display` is English; [`ConfigError::in_lang`] renders
/// either language.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file does not exist. Separate from [`ConfigError::Read`] so a caller can treat a
    /// missing default file differently from a broken one.
    #[error("{file}: file not found ({source})")]
    NotFound {
        /// The file as the user gave it.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A directory was given where a file was expected.
    #[error("{file}: is a directory, expected a configuration file")]
    IsDirectory {
        /// The directory as the user gave it.
        file: String,
    },
    /// Any other failure to read the file (permissions, I/O).
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file as the user gave it.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is larger than [`crate::MAX_FILE_BYTES`]: not a configuration file.
    #[error("{file}: too large for a configuration file (over {limit} bytes)")]
    TooLarge {
        /// The file as the user gave it.
        file: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file is not UTF-8 text (both JSON and TOML must be).
    #[error("{file}:{line}:{column}: not valid UTF-8 text (bad byte at offset {offset})")]
    NotUtf8 {
        /// The file as the user gave it.
        file: String,
        /// 1-based line of the first bad byte.
        line: usize,
        /// 1-based column (in characters) of the first bad byte.
        column: usize,
        /// Byte offset of the first bad byte.
        offset: usize,
    },
    /// The file is not well-formed JSON or TOML.
    #[error("{file}:{line}:{column}: invalid {format}: {message}")]
    Syntax {
        /// The file as the user gave it.
        file: String,
        /// Which parser rejected it.
        format: Format,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message (English in both languages), without its own position suffix.
        message: String,
    },
    /// A key written twice in the same JSON object of the `memory_monitor` block (or the block
    /// itself twice). JSON parsers keep the last value without a word, which hides a typo or
    /// a stale line; TOML refuses the same file, so JSON does too.
    #[error(
        "{file}:{line}: {key}: duplicate key, also at line {first_line} (JSON would silently keep \
         only the last one; remove one of them)"
    )]
    DuplicateKey {
        /// The file as the user gave it.
        file: String,
        /// Dotted key path, e.g. `memory_monitor.interval`.
        key: String,
        /// 1-based line of the first occurrence.
        first_line: usize,
        /// 1-based line of the second occurrence.
        line: usize,
    },
    /// A number too large for a 64-bit float (`1e309`), in JSON or TOML: serde_json and the
    /// toml crate refuse it (where Python's `json` reads `inf`), and their own messages name no
    /// key.
    #[error(
        "{file}:{line}:{column}: {key}: the number {written} is out of range (numbers here \
         must be within about ±1.8e308)"
    )]
    NumberOutOfRange {
        /// The file as the user gave it.
        file: String,
        /// 1-based line of the number.
        line: usize,
        /// 1-based column: where the JSON parser stopped, where the TOML number starts.
        column: usize,
        /// Dotted key path, e.g. `memory_monitor.interval`.
        key: String,
        /// The number as written.
        written: String,
    },
    /// The JSON document is not an object (`{ … }`).
    #[error("{file}: expected a JSON object at the top level, got {got}")]
    NotAnObject {
        /// The file as the user gave it.
        file: String,
        /// The document, rendered as JSON-ish text.
        got: String,
        /// The document's type, named in Japanese messages.
        got_kind: ValueKind,
    },
    /// A key has a value of the wrong type or out of range.
    #[error("{file}: {key}: expected {expected}, got {got}")]
    Invalid {
        /// The file as the user gave it.
        file: String,
        /// Dotted key path, e.g. `memory_monitor.interval`.
        key: String,
        /// What the key accepts.
        expected: Expected,
        /// The bad value, rendered as JSON-ish text (strings quoted).
        got: String,
        /// The bad value's type, named in Japanese messages.
        got_kind: ValueKind,
    },
}

impl ConfigError {
    /// The message in `lang`, for `format!`/`eprintln!` without building a `String` first:
    /// `eprintln!("memmon: {}", err.in_lang(lang))`.
    pub fn in_lang(&self, lang: Lang) -> InLang<'_, ConfigError> {
        InLang { item: self, lang }
    }

    /// The message in `lang` as a `String`.
    pub fn message(&self, lang: Lang) -> String {
        self.in_lang(lang).to_string()
    }

    /// The file the error is about, as the user gave it.
    pub fn file(&self) -> &str {
        match self {
            ConfigError::NotFound { file, .. }
            | ConfigError::IsDirectory { file }
            | ConfigError::Read { file, .. }
            | ConfigError::TooLarge { file, .. }
            | ConfigError::NotUtf8 { file, .. }
            | ConfigError::Syntax { file, .. }
            | ConfigError::DuplicateKey { file, .. }
            | ConfigError::NumberOutOfRange { file, .. }
            | ConfigError::NotAnObject { file, .. }
            | ConfigError::Invalid { file, .. } => file,
        }
    }

    /// The Japanese message. The OS's error text (`No such file or directory (os error 2)`) and
    /// the JSON/TOML parser's own message stay English inside the Japanese sentence: they come
    /// from std, serde_json and toml, which have no Japanese, and they are what a search engine
    /// knows.
    fn fmt_ja(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NotFound { file, source } => {
                write!(f, "{file}: ファイルが見つかりません ({source})")
            }
            ConfigError::IsDirectory { file } => {
                write!(
                    f,
                    "{file}: ディレクトリです (設定ファイルを指定してください)"
                )
            }
            ConfigError::Read { file, source } => write!(f, "{file}: 読み込めません: {source}"),
            ConfigError::TooLarge { file, limit } => write!(
                f,
                "{file}: 設定ファイルとしては大きすぎます ({limit} バイトを超えています)"
            ),
            ConfigError::NotUtf8 {
                file,
                line,
                column,
                offset,
            } => write!(
                f,
                "{file}:{line}:{column}: UTF-8 のテキストではありません \
                 (オフセット {offset} のバイトが不正です)"
            ),
            ConfigError::Syntax {
                file,
                format,
                line,
                column,
                message,
            } => write!(f, "{file}:{line}:{column}: {format}の構文エラー: {message}"),
            ConfigError::DuplicateKey {
                file,
                key,
                first_line,
                line,
            } => write!(
                f,
                "{file}:{line}: {key}: キーが重複しています ({first_line} 行目にもあります)。\
                 JSON では最後の値だけが黙って使われるので、どちらかを削除してください"
            ),
            ConfigError::NumberOutOfRange {
                file,
                line,
                column,
                key,
                written,
            } => write!(
                f,
                "{file}:{line}:{column}: {key}: 数値 {written} は範囲外です \
                 (絶対値がおよそ 1.8e308 までの数値が必要です)"
            ),
            ConfigError::NotAnObject {
                file,
                got,
                got_kind,
            } => {
                write!(
                    f,
                    "{file}: 最上位には JSON のオブジェクト ({{ … }}) が必要ですが "
                )?;
                write_got_ja(f, got, *got_kind)
            }
            ConfigError::Invalid {
                file,
                key,
                expected,
                got,
                got_kind,
            } => {
                let expected = expected.text(Lang::Ja);
                write!(
                    f,
                    "{file}: {key}: {expected}{}が必要ですが ",
                    gap(&expected)
                )?;
                write_got_ja(f, got, *got_kind)
            }
        }
    }
}

/// `"300" (文字列) でした`; `null` needs no type name.
fn write_got_ja(f: &mut fmt::Formatter<'_>, got: &str, kind: ValueKind) -> fmt::Result {
    match kind {
        ValueKind::Null => write!(f, "{got} でした"),
        _ => write!(f, "{got} ({}) でした", kind.name(Lang::Ja)),
    }
}

/// The space Japanese text puts between a Latin word or a closing bracket and the particle
/// that follows (`true か false が`, `数値 (秒) が`), and not after kana or kanji (`整数が`).
pub(crate) fn gap(before: &str) -> &'static str {
    match before.chars().last() {
        Some(c) if c.is_ascii() => " ",
        _ => "",
    }
}

/// Something in the file that was accepted but is probably a mistake: an unknown key inside
/// the `memory_monitor` block, which is ignored, or a misspelt block name. `Display` is
/// English; [`ConfigWarning::in_lang`] renders either language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file as the user gave it.
    pub file: String,
    /// Dotted key path of the unknown key, e.g. `memory_monitor.intervall`.
    pub key: String,
    /// The known key it most likely meant, when one is close enough to be obvious.
    pub suggestion: Option<&'static str>,
}

impl ConfigWarning {
    /// The message in `lang`: `eprintln!("memmon: 警告: {}", w.in_lang(lang))`.
    pub fn in_lang(&self, lang: Lang) -> InLang<'_, ConfigWarning> {
        InLang { item: self, lang }
    }

    /// The message in `lang` as a `String`.
    pub fn message(&self, lang: Lang) -> String {
        self.in_lang(lang).to_string()
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: unknown key (ignored)", self.file, self.key)?;
        if let Some(s) = self.suggestion {
            write!(f, "; did you mean \"{s}\"?")?;
        }
        Ok(())
    }
}

/// A [`ConfigError`] or [`ConfigWarning`] displayed in a chosen language (from `in_lang`).
#[derive(Debug, Clone, Copy)]
pub struct InLang<'a, T> {
    item: &'a T,
    lang: Lang,
}

impl fmt::Display for InLang<'_, ConfigError> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lang {
            Lang::En => fmt::Display::fmt(self.item, f),
            Lang::Ja => self.item.fmt_ja(f),
        }
    }
}

impl fmt::Display for InLang<'_, ConfigWarning> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.item;
        match self.lang {
            Lang::En => fmt::Display::fmt(w, f),
            Lang::Ja => {
                write!(f, "{}: {}: 不明なキーです (無視します)", w.file, w.key)?;
                if let Some(s) = w.suggestion {
                    write!(f, "。\"{s}\" の書き間違いではありませんか?")?;
                }
                Ok(())
            }
        }
    }
}
