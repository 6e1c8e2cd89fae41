//! Loads memmon's settings from `client_config.json` (its `memory_monitor` block, as the
//! Python NFC client reads it) or from `memmon.toml` (table `[memory_monitor]`).
//!
//! Files are parsed into generic JSON/TOML values, never straight into typed structs, and then
//! checked key by key: an error names the file, the key path, the bad value and what was
//! expected; an unknown key in the block is a [`ConfigWarning`], not an error; other top-level
//! keys (`server_url`, `beep_settings`, …) belong to the client and are ignored. Errors and
//! warnings render in Japanese or English ([`ConfigError::in_lang`], [`Lang`]).
//!
//! What it must never do: sample memory, write logs, or act on the settings (a disabled
//! monitor is reported as `enabled: false`, and the caller decides). It only reads the one file
//! it is given.
//!
//! # Example
//! ```
//! use memmon_config::load_json_str;
//! use memmon_core::IntervalSpec;
//!
//! let text = r#"{"server_url": "http://192.168.1.31:5000",
//!                "memory_monitor": {"enabled": true, "interval": 300, "tracemalloc": false}}"#;
//! let loaded = load_json_str(text, "client_config.json")?;
//! assert_eq!(loaded.config.interval, IntervalSpec::Integer(300));
//! assert!(loaded.warnings.is_empty());
//! # Ok::<(), memmon_config::ConfigError>(())
//! ```

mod config;
mod error;
mod expected;
mod json;
mod others;
mod rules;
mod toml_number;
mod validate;
mod value;

use std::io::Read;
use std::path::Path;

pub use config::{Config, DetailSourceKind, ParseDetailSourceError, PythonHook};
pub use error::{ConfigError, ConfigWarning, Format, InLang};
pub use expected::{Expected, ValueKind};
pub use memmon_core::Lang;
pub use others::other_strings;
pub use rules::{
    check_file_path, check_name, check_python_hook, parse_name, parse_python_hook, Refused,
    MAX_NAME_BYTES, MAX_PATH_BYTES,
};

use validate::BLOCK;
use value::{line_col, Val};

/// Files larger than this are rejected before parsing: a config file is a few hundred bytes,
/// and the limit keeps a mistaken path (a log, `/dev/zero`) from exhausting memory.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A successfully loaded file: the settings, and what was accepted but looks wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The effective settings (defaults for every missing key).
    pub config: Config,
    /// Unknown keys in the `memory_monitor` block, in key order, and a top-level key that looks
    /// like a misspelt `memory_monitor` when the block itself is missing; the caller should
    /// show them.
    pub warnings: Vec<ConfigWarning>,
}

/// Reads and validates a configuration file; `.toml` (any case) is TOML, anything else JSON.
/// Messages name the file as `path` displays.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let bytes = read_bytes(path)?;
    load_bytes(&bytes, path)
}

/// The file's bytes, at most [`MAX_FILE_BYTES`]; errors name the file as `path` displays.
fn read_bytes(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let file = path.display().to_string();
    let read_error = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => ConfigError::NotFound {
            file: file.clone(),
            source,
        },
        std::io::ErrorKind::IsADirectory => ConfigError::IsDirectory { file: file.clone() },
        _ if path.is_dir() => ConfigError::IsDirectory { file: file.clone() },
        _ => ConfigError::Read {
            file: file.clone(),
            source,
        },
    };
    let handle = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    handle
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge {
            file,
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(bytes)
}

/// Validates file contents already read; `file` picks the format by extension (as in [`load`])
/// and labels messages. Bytes that are not UTF-8 are an error giving the first bad position.
pub fn load_bytes(bytes: &[u8], file: &Path) -> Result<Loaded, ConfigError> {
    let label = file.display().to_string();
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let offset = e.valid_up_to();
            // The prefix is valid by definition; the fallback only avoids a panic path.
            let valid = std::str::from_utf8(&bytes[..offset]).unwrap_or("");
            let (line, column) = line_col(valid, offset);
            return Err(ConfigError::NotUtf8 {
                file: label,
                line,
                column,
                offset,
            });
        }
    };
    match format_of(file) {
        Format::Toml => load_toml_str(text, &label),
        Format::Json => load_json_str(text, &label),
    }
}

/// The format a path implies: `.toml` (any case) is TOML, anything else JSON, because the
/// Python client's file is JSON whatever it is called.
pub fn format_of(file: &Path) -> Format {
    match file.extension() {
        Some(ext) if ext.eq_ignore_ascii_case("toml") => Format::Toml,
        _ => Format::Json,
    }
}

/// Validates JSON text (the `client_config.json` layout); `file` labels messages.
pub fn load_json_str(text: &str, file: &str) -> Result<Loaded, ConfigError> {
    let text = strip_bom(text);
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        if let Some(number) = json::scan(text).out_of_range {
            return ConfigError::NumberOutOfRange {
                file: file.to_owned(),
                line: e.line().max(1),
                column: e.column().max(1),
                key: number.key,
                written: number.written,
            };
        }
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        ConfigError::Syntax {
            file: file.to_owned(),
            format: Format::Json,
            line: e.line().max(1),
            // serde_json reports column 0 for an error at the very start of a line.
            column: e.column().max(1),
            message,
        }
    })?;
    // Before validation: a last-wins value may be the one that was not meant.
    if let Some(dup) = json::scan(text).duplicate {
        return Err(ConfigError::DuplicateKey {
            file: file.to_owned(),
            key: dup.key,
            first_line: dup.first_line,
            line: dup.line,
        });
    }
    let serde_json::Value::Object(top) = doc else {
        let got = Val::from_json(&doc);
        return Err(ConfigError::NotAnObject {
            file: file.to_owned(),
            got: got.render(),
            got_kind: got.kind(),
        });
    };
    let mut loaded = validate::block(file, Format::Json, top.get(BLOCK).map(Val::from_json))?;
    if !top.contains_key(BLOCK) {
        loaded
            .warnings
            .extend(validate::misspelled_block(file, top.keys()));
    }
    Ok(loaded)
}

/// Validates TOML text (the `memmon.toml` layout, table `[memory_monitor]`); `file` labels
/// messages.
pub fn load_toml_str(text: &str, file: &str) -> Result<Loaded, ConfigError> {
    let text = strip_bom(text);
    let top: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        if let Some(number) = toml_number::out_of_range(text, &e) {
            let (line, column) = line_col(text, number.start);
            return ConfigError::NumberOutOfRange {
                file: file.to_owned(),
                line,
                column,
                key: number.key,
                written: number.written,
            };
        }
        let (line, column) = e.span().map_or((1, 1), |span| line_col(text, span.start));
        ConfigError::Syntax {
            file: file.to_owned(),
            format: Format::Toml,
            line,
            column,
            message: e.message().trim_end().to_owned(),
        }
    })?;
    let mut loaded = validate::block(file, Format::Toml, top.get(BLOCK).map(Val::from_toml))?;
    if !top.contains_key(BLOCK) {
        loaded
            .warnings
            .extend(validate::misspelled_block(file, top.keys()));
    }
    Ok(loaded)
}

/// Editors on other systems may save a UTF-8 byte-order mark, which neither parser accepts and
/// which is invisible to the user.
fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}
