//! A format-neutral view of configuration values.
//!
//! JSON and TOML values are converted into [`Val`] so one validator serves both formats and
//! every error renders the bad value the same way. TOML's `nan`/`inf` and datetimes have no JSON
//! equivalent, which is why this is not simply `serde_json::Value`.

use crate::expected::ValueKind;

/// How deep a value is converted; deeper parts are only ever rendered in an error message, and
/// the cap keeps conversion recursion bounded whatever the parser accepted.
const MAX_DEPTH: usize = 16;

/// Rendered values longer than this are cut, so a huge array in a config file does not flood
/// the terminal.
const MAX_RENDER_CHARS: usize = 80;

/// A configuration value, independent of the file format.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    /// Written without a fraction or exponent. `i128` holds both JSON's `u64` and `i64`.
    Int(i128),
    /// Written with a fraction or exponent (or too large for an integer, in JSON).
    Float(f64),
    Str(String),
    /// A TOML datetime, kept as written.
    Datetime(String),
    Array(Vec<Val>),
    Table(Vec<(String, Val)>),
    /// Nested beyond [`MAX_DEPTH`].
    Elided,
}

impl Val {
    pub(crate) fn from_json(value: &serde_json::Value) -> Val {
        Self::from_json_at(value, 0)
    }

    fn from_json_at(value: &serde_json::Value, depth: usize) -> Val {
        use serde_json::Value as J;
        if depth > MAX_DEPTH {
            return Val::Elided;
        }
        match value {
            J::Null => Val::Null,
            J::Bool(b) => Val::Bool(*b),
            J::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Val::Int(i128::from(u))
                } else if let Some(i) = n.as_i64() {
                    Val::Int(i128::from(i))
                } else {
                    // Without `arbitrary_precision` every other number is an f64.
                    Val::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            J::String(s) => Val::Str(s.clone()),
            J::Array(items) => Val::Array(
                items
                    .iter()
                    .map(|v| Self::from_json_at(v, depth + 1))
                    .collect(),
            ),
            J::Object(map) => Val::Table(
                map.iter()
                    .map(|(k, v)| (k.clone(), Self::from_json_at(v, depth + 1)))
                    .collect(),
            ),
        }
    }

    pub(crate) fn from_toml(value: &toml::Value) -> Val {
        Self::from_toml_at(value, 0)
    }

    fn from_toml_at(value: &toml::Value, depth: usize) -> Val {
        use toml::Value as T;
        if depth > MAX_DEPTH {
            return Val::Elided;
        }
        match value {
            T::Boolean(b) => Val::Bool(*b),
            T::Integer(i) => Val::Int(i128::from(*i)),
            T::Float(f) => Val::Float(*f),
            T::String(s) => Val::Str(s.clone()),
            T::Datetime(d) => Val::Datetime(d.to_string()),
            T::Array(items) => Val::Array(
                items
                    .iter()
                    .map(|v| Self::from_toml_at(v, depth + 1))
                    .collect(),
            ),
            T::Table(table) => Val::Table(Self::toml_table_at(table, depth)),
        }
    }

    fn toml_table_at(table: &toml::Table, depth: usize) -> Vec<(String, Val)> {
        table
            .iter()
            .map(|(k, v)| (k.clone(), Self::from_toml_at(v, depth + 1)))
            .collect()
    }

    /// The value's type, named in Japanese error messages.
    pub(crate) fn kind(&self) -> ValueKind {
        match self {
            Val::Null => ValueKind::Null,
            Val::Bool(_) => ValueKind::Bool,
            Val::Int(_) => ValueKind::Integer,
            Val::Float(_) => ValueKind::Float,
            Val::Str(_) => ValueKind::String,
            Val::Datetime(_) => ValueKind::Datetime,
            Val::Array(_) => ValueKind::Array,
            Val::Table(_) => ValueKind::Table,
            Val::Elided => ValueKind::Elided,
        }
    }

    /// The value as JSON-ish text for error messages: strings quoted and escaped, tables as
    /// `{"k": v}`, long renderings cut with `…`.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        if out.chars().count() > MAX_RENDER_CHARS {
            let mut cut: String = out.chars().take(MAX_RENDER_CHARS - 1).collect();
            cut.push('…');
            cut
        } else {
            out
        }
    }

    fn render_into(&self, out: &mut String) {
        // Stop early: the result is cut anyway, and this bounds the work on huge values.
        if out.len() > MAX_RENDER_CHARS * 4 {
            return;
        }
        match self {
            Val::Null => out.push_str("null"),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Int(i) => out.push_str(&i.to_string()),
            Val::Float(f) => out.push_str(&render_float(*f)),
            Val::Str(s) => out.push_str(&quote(s)),
            Val::Datetime(d) => out.push_str(d),
            Val::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.render_into(out);
                }
                out.push(']');
            }
            Val::Table(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&quote(k));
                    out.push_str(": ");
                    v.render_into(out);
                }
                out.push('}');
            }
            Val::Elided => out.push('…'),
        }
    }
}

/// Shortest round-trip form that still shows a decimal number (`300.0`, not `300`), so the
/// message shows the value as the user wrote it.
pub(crate) fn render_float(f: f64) -> String {
    if f.is_nan() {
        "nan".to_owned()
    } else {
        format!("{f:?}")
    }
}

/// A string as a JSON string literal (quoted, with control characters escaped).
pub(crate) fn quote(s: &str) -> String {
    // Serializing a `&str` cannot fail; the fallback only keeps this free of `unwrap`.
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// A key as shown in a key path: plain when it is a simple identifier, quoted otherwise, so odd
/// keys (spaces, newlines, empty) stay readable on one line.
pub(crate) fn key_label(key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if simple {
        key.to_owned()
    } else {
        quote(key)
    }
}

/// 1-based line and column (in characters) of a byte offset, for syntax errors.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_json_ish() {
        assert_eq!(Val::Str("abc".into()).render(), "\"abc\"");
        assert_eq!(Val::Float(300.0).render(), "300.0");
        assert_eq!(Val::Float(f64::NAN).render(), "nan");
        assert_eq!(Val::Float(f64::NEG_INFINITY).render(), "-inf");
        assert_eq!(Val::Int(-5).render(), "-5");
        let table = Val::Table(vec![(
            "a".into(),
            Val::Array(vec![Val::Null, Val::Bool(true)]),
        )]);
        assert_eq!(table.render(), "{\"a\": [null, true]}");
    }

    #[test]
    fn long_renderings_are_cut() {
        let long = Val::Array((0..1000).map(Val::Int).collect());
        let text = long.render();
        assert_eq!(text.chars().count(), MAX_RENDER_CHARS);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 1), (1, 1));
        assert_eq!(line_col("x", 99), (1, 2));
    }

    #[test]
    fn key_labels() {
        assert_eq!(key_label("interval"), "interval");
        assert_eq!(key_label("a b"), "\"a b\"");
        assert_eq!(key_label(""), "\"\"");
    }
}
