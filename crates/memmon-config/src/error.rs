//! Why a configuration file was rejected, and what was accepted with a warning.

use std::fmt;

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
/// named it, so it can be shown as is.
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
        /// The parser's message, without its own position suffix.
        message: String,
    },
    /// The JSON document is not an object (`{ … }`).
    #[error("{file}: expected a JSON object at the top level, got {got}")]
    NotAnObject {
        /// The file as the user gave it.
        file: String,
        /// The document, rendered as JSON-ish text.
        got: String,
    },
    /// A key has a value of the wrong type or out of range.
    #[error("{file}: {key}: expected {expected}, got {got}")]
    Invalid {
        /// The file as the user gave it.
        file: String,
        /// Dotted key path, e.g. `memory_monitor.interval`.
        key: String,
        /// What the key accepts, e.g. `true or false`.
        expected: String,
        /// The bad value, rendered as JSON-ish text (strings quoted).
        got: String,
    },
}

/// Something in the file that was accepted but is probably a mistake: an unknown key inside
/// the `memory_monitor` block, which is ignored, or a misspelt block name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file as the user gave it.
    pub file: String,
    /// Dotted key path of the unknown key, e.g. `memory_monitor.intervall`.
    pub key: String,
    /// The known key it most likely meant, when one is close enough to be obvious.
    pub suggestion: Option<&'static str>,
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
