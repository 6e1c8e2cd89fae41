//! A second reading of JSON text, for what serde_json's `Value` loses: where each key was, so a
//! key written twice in memmon's block is an error naming both lines (a `Value` keeps the last
//! one silently, and TOML refuses the file), and which key a number too large for an `f64`
//! (`1e309`) belongs to (serde_json's error names only the position).
//!
//! The reading is serde's own: a visitor over serde_json's deserializer, reading through a
//! reader that counts the bytes it hands out, which gives the position of each key.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::validate::BLOCK;
use crate::value::key_label;

/// A key written twice in the same object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    /// The key's path, e.g. `memory_monitor.interval`.
    pub(crate) key: String,
    /// 1-based line of its first occurrence.
    pub(crate) first_line: usize,
    /// 1-based line of its second occurrence.
    pub(crate) line: usize,
}

/// A number serde_json refused as out of range, and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutOfRange {
    /// The key's path, e.g. `memory_monitor.interval`.
    pub(crate) key: String,
    /// The number as written.
    pub(crate) written: String,
}

/// What the second reading found.
#[derive(Debug, Default)]
pub(crate) struct Scanned {
    /// The first duplicate key inside memmon's block (or of the block itself), if any.
    pub(crate) duplicate: Option<Duplicate>,
    /// Set when the text failed to parse at a number too large for an `f64`.
    pub(crate) out_of_range: Option<OutOfRange>,
}

/// Reads `text` for duplicate keys and an out-of-range number. Duplicates are looked for in
/// the `memory_monitor` block (at any depth) and of the block's key itself: other top-level
/// keys belong to the client, whose Python `json` keeps the last value, and are not memmon's to
/// refuse.
pub(crate) fn scan(text: &str) -> Scanned {
    let scan = Scan {
        text,
        pos: Cell::new(0),
        path: RefCell::new(Vec::new()),
        duplicate: RefCell::new(None),
        failed_at: RefCell::new(None),
    };
    let reader = Counting { scan: &scan };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = ValueSeed {
        scan: &scan,
        level: Level::Top,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    let out_of_range = match parsed {
        Ok(()) => None,
        Err(_) => scan.failed_at.take().and_then(|(key, start)| {
            let written = number_at(text, start)?;
            (!key.is_empty()).then_some(OutOfRange { key, written })
        }),
    };
    Scanned {
        duplicate: scan.duplicate.take(),
        out_of_range,
    }
}

/// The JSON number that starts at or just before byte `start` (serde_json may have read one
/// byte ahead), when it is one too large for an `f64`.
fn number_at(text: &str, start: usize) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = start.saturating_sub(1).min(bytes.len());
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n' | b':' | b',' | b'[') {
        i += 1;
    }
    let len = bytes[i..]
        .iter()
        .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .count();
    // ASCII only, so `i` and `i + len` are character boundaries.
    let written = text.get(i..i + len)?;
    let value: f64 = written.parse().ok()?;
    (!value.is_finite()).then(|| written.to_owned())
}

/// Where in the document a value is, for which duplicates matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The document itself: only a second `memory_monitor` key matters.
    Top,
    /// Inside memmon's block: every duplicate matters.
    Block,
    /// Elsewhere: the client's.
    Other,
}

struct Scan<'t> {
    text: &'t str,
    /// Bytes handed to serde_json so far.
    pos: Cell<usize>,
    /// The current key path, one part per level (`.key` or `[i]`).
    path: RefCell<Vec<String>>,
    duplicate: RefCell<Option<Duplicate>>,
    /// The path and start of the innermost value whose reading failed.
    failed_at: RefCell<Option<(String, usize)>>,
}

impl Scan<'_> {
    fn path_string(&self) -> String {
        let joined: String = self.path.borrow().concat();
        joined.strip_prefix('.').unwrap_or(&joined).to_owned()
    }

    /// The line of the key just read: what serde_json has taken, less any whitespace it read
    /// ahead (a key never spans lines).
    fn line_here(&self) -> usize {
        let mut end = self.pos.get().min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        self.text[..end].trim_end().matches('\n').count() + 1
    }
}

/// A reader over the text that counts what it hands out.
struct Counting<'s, 't> {
    scan: &'s Scan<'t>,
}

impl Read for Counting<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let bytes = self.scan.text.as_bytes();
        let at = self.scan.pos.get().min(bytes.len());
        let n = buf.len().min(bytes.len() - at);
        buf[..n].copy_from_slice(&bytes[at..at + n]);
        self.scan.pos.set(at + n);
        Ok(n)
    }
}

#[derive(Clone, Copy)]
struct ValueSeed<'s, 't> {
    scan: &'s Scan<'t>,
    level: Level,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        let start = self.scan.pos.get();
        let read = de.deserialize_any(self);
        if read.is_err() && self.scan.failed_at.borrow().is_none() {
            *self.scan.failed_at.borrow_mut() = Some((self.scan.path_string(), start));
        }
        read
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let level = match self.level {
            Level::Top => Level::Other,
            other => other,
        };
        let mut index = 0usize;
        loop {
            self.scan.path.borrow_mut().push(format!("[{index}]"));
            let next = seq.next_element_seed(ValueSeed {
                scan: self.scan,
                level,
            })?;
            self.scan.path.borrow_mut().pop();
            if next.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let watched = match self.level {
                Level::Top => key == BLOCK,
                Level::Block => true,
                Level::Other => false,
            };
            let part = format!(".{}", key_label(&key));
            if watched {
                let line = self.scan.line_here();
                if let Some(&first_line) = seen.get(&key) {
                    let mut duplicate = self.scan.duplicate.borrow_mut();
                    if duplicate.is_none() {
                        let mut path = self.scan.path_string();
                        path.push_str(&part);
                        *duplicate = Some(Duplicate {
                            key: path.strip_prefix('.').unwrap_or(&path).to_owned(),
                            first_line,
                            line,
                        });
                    }
                } else {
                    seen.insert(key.clone(), line);
                }
            }
            let level = match self.level {
                Level::Top if key == BLOCK => Level::Block,
                Level::Top | Level::Other => Level::Other,
                Level::Block => Level::Block,
            };
            self.scan.path.borrow_mut().push(part);
            map.next_value_seed(ValueSeed {
                scan: self.scan,
                level,
            })?;
            self.scan.path.borrow_mut().pop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_in_the_block_is_found_with_both_lines() {
        let text = "{\n  \"memory_monitor\": {\n    \"interval\": 60,\n    \"enabled\": true,\n    \"interval\": 5\n  }\n}\n";
        let found = scan(text);
        assert_eq!(
            found.duplicate,
            Some(Duplicate {
                key: "memory_monitor.interval".into(),
                first_line: 3,
                line: 5
            })
        );
        assert_eq!(found.out_of_range, None);
    }

    #[test]
    fn the_block_itself_twice_is_a_duplicate_but_the_clients_keys_are_not_ours() {
        let text = "{\"memory_monitor\": {},\n\"memory_monitor\": {\"interval\": 1}}";
        let found = scan(text).duplicate;
        assert_eq!(
            found,
            Some(Duplicate {
                key: "memory_monitor".into(),
                first_line: 1,
                line: 2
            })
        );
        let text = r#"{"server_url": 1, "server_url": 2, "beep": {"a": 1, "a": 2}}"#;
        assert_eq!(scan(text).duplicate, None);
    }

    #[test]
    fn deeper_duplicates_in_the_block_name_their_path() {
        let text = "{\"memory_monitor\": {\"x\": [{\"a b\": 1,\n \"a b\": 2}]}}";
        assert_eq!(
            scan(text).duplicate,
            Some(Duplicate {
                key: "memory_monitor.x[0].\"a b\"".into(),
                first_line: 1,
                line: 2
            })
        );
    }

    #[test]
    fn an_overflowing_number_is_named_by_its_key_as_written() {
        for (text, key, written) in [
            (
                r#"{"memory_monitor": {"interval": 1e309}}"#,
                "memory_monitor.interval",
                "1e309",
            ),
            (
                "{\"memory_monitor\": {\n\"a\": 1, \"interval\":\n\t-2.5E+400 }}",
                "memory_monitor.interval",
                "-2.5E+400",
            ),
            (
                r#"{"memory_monitor": {"x": [1, 1e999]}}"#,
                "memory_monitor.x[1]",
                "1e999",
            ),
            (
                r#"{"server": {"timeout": 1e309}}"#,
                "server.timeout",
                "1e309",
            ),
        ] {
            assert_eq!(
                scan(text).out_of_range,
                Some(OutOfRange {
                    key: key.into(),
                    written: written.into()
                }),
                "{text}"
            );
        }
        // Other syntax errors, and a bare number, are not this.
        assert_eq!(
            scan(r#"{"memory_monitor": {"interval": 1e}}"#).out_of_range,
            None
        );
        assert_eq!(scan("1e309").out_of_range, None);
        assert_eq!(scan(r#"{"a": 1e308}"#).out_of_range, None);
    }
}
