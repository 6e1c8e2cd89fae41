//! Which key a TOML number too large for an `f64` (`interval = 1e309`) belongs to. The `toml`
//! crate refuses it with a position and "floating-point number overflowed", naming no key;
//! JSON's error names the key and the number as written (`json.rs`), and TOML's does too.
//!
//! The number is the float literal at the error's position. Its key comes from a second parse
//! of the text with a marker string in the number's place: wherever the marker lands in the
//! table (a `[table]`, a dotted key, an inline table, an array, an array of tables) is the key
//! path, without re-implementing TOML's rules for keys.

use crate::value::key_label;

/// A float literal beyond `f64` in TOML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutOfRange {
    /// The key's path, e.g. `memory_monitor.interval` (`[i]` for an array element).
    pub(crate) key: String,
    /// The number as written.
    pub(crate) written: String,
    /// Its byte offset in the text.
    pub(crate) start: usize,
}

/// The marker put in the number's place, as it reads in the parsed table.
const MARKER: &str = "memmon: the number out of range";

/// How many further overflowing numbers the second parse sets aside (each with a finite
/// stand-in) before giving up on naming the first one's key.
const MAX_LATER: usize = 16;

/// The key and text of the number `error` stopped at, when that is a float too large for an
/// `f64`; `None` for any other error (it stays a syntax error with its position).
pub(crate) fn out_of_range(text: &str, error: &toml::de::Error) -> Option<OutOfRange> {
    let (start, written) = float_at(text, error.span()?.start)?;
    // A file that already holds the marker could mislead the search: not worth naming then.
    if text.contains(MARKER) {
        return None;
    }
    let mut marked = format!(
        "{}\"{MARKER}\"{}",
        &text[..start],
        &text[start + written.len()..]
    );
    for _ in 0..=MAX_LATER {
        match marked.parse::<toml::Table>() {
            Ok(table) => {
                let key = find(&table, "")?;
                return Some(OutOfRange {
                    key,
                    written,
                    start,
                });
            }
            // A later number out of range stops the second parse too; only the first is named.
            Err(e) => {
                let (at, later) = float_at(&marked, e.span()?.start)?;
                marked.replace_range(at..at + later.len(), "0.0");
            }
        }
    }
    None
}

/// The float literal starting at byte `at`, when it is one too large for an `f64`: its start
/// and its text.
fn float_at(text: &str, at: usize) -> Option<(usize, String)> {
    let rest = text.get(at..)?;
    let len = rest
        .bytes()
        .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'_' | b'e' | b'E'))
        .count();
    // ASCII only, so `len` is a character boundary.
    let written = rest.get(..len)?;
    if !written.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    // TOML's `_` between digits is only for the eye.
    let value: f64 = written.replace('_', "").parse().ok()?;
    value.is_infinite().then(|| (at, written.to_owned()))
}

/// The path of the marker in `table`, `prefix` being the table's own path.
fn find(table: &toml::Table, prefix: &str) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        let label = key_label(key);
        let path = if prefix.is_empty() {
            label
        } else {
            format!("{prefix}.{label}")
        };
        find_in(value, path)
    })
}

fn find_in(value: &toml::Value, path: String) -> Option<String> {
    match value {
        toml::Value::String(s) if s == MARKER => Some(path),
        toml::Value::Table(table) => find(table, &path),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_in(item, format!("{path}[{i}]"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(text: &str) -> Option<(String, String)> {
        let error = text.parse::<toml::Table>().err()?;
        out_of_range(text, &error).map(|n| (n.key, n.written))
    }

    fn pair(key: &str, written: &str) -> Option<(String, String)> {
        Some((key.to_owned(), written.to_owned()))
    }

    #[test]
    fn an_overflowing_float_is_named_by_its_key_as_written() {
        for (text, key, written) in [
            (
                "[memory_monitor]\ninterval = 1e309\n",
                "memory_monitor.interval",
                "1e309",
            ),
            (
                "[memory_monitor]\nenabled = true\nwarn_threshold_mb = -2.5E+400 # no\n",
                "memory_monitor.warn_threshold_mb",
                "-2.5E+400",
            ),
            (
                "memory_monitor.interval = 1_000e400",
                "memory_monitor.interval",
                "1_000e400",
            ),
            (
                "memory_monitor = { interval = +9e999 }",
                "memory_monitor.interval",
                "+9e999",
            ),
            (
                "[memory_monitor]\nx = [1, 1e999]",
                "memory_monitor.x[1]",
                "1e999",
            ),
            ("[[a]]\nb = 1\n[[a]]\nb = 1e309", "a[1].b", "1e309"),
            (
                "[\"odd key\"]\n\"a b\" = 1e309",
                "\"odd key\".\"a b\"",
                "1e309",
            ),
        ] {
            assert_eq!(named(text), pair(key, written), "{text}");
        }
    }

    #[test]
    fn only_the_first_of_several_is_named() {
        let text = "[memory_monitor]\ninterval = 1e309\nstartup_delay = 1e400\n";
        assert_eq!(named(text), pair("memory_monitor.interval", "1e309"));
    }

    #[test]
    fn other_errors_and_fitting_numbers_are_not_this() {
        assert_eq!(named("[memory_monitor]\ninterval = 1e"), None);
        assert_eq!(
            named("[memory_monitor]\ninterval = 99999999999999999999"),
            None
        );
        assert_eq!(
            named("[memory_monitor]\ninterval = 1e309\ninterval = 2"),
            None
        );
        assert!("a = 1e308\nb = inf".parse::<toml::Table>().is_ok());
        // The marker already in the file: left a syntax error rather than misnamed.
        let text = format!("a = \"{MARKER}\"\nb = 1e309");
        assert_eq!(named(&text), None);
    }
}
