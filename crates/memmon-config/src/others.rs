//! The client's own settings, the part of the file memmon otherwise ignores: `memmon report`
//! needs their string values (the server's address above all) to mask them in what it copies
//! for a public issue tracker (issue #20). Read only for that, never validated or acted on.

use crate::{format_of, load_bytes, read_bytes, strip_bom, ConfigError, Format, BLOCK};
use std::path::Path;

/// Nesting deeper than this is not walked. serde_json stops at 128 levels anyway; the bound
/// keeps the recursion below ours whatever the parser accepted.
const MAX_DEPTH: usize = 64;

/// Every string value outside the `memory_monitor` block, with its key path (`server.url`; an
/// array's items under the array's key), by key. The file is read and checked as
/// [`crate::load`] does, with the same errors.
pub fn other_strings(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let bytes = read_bytes(path)?;
    // The same checks and messages as `load`: a file `load` refuses is refused here too.
    load_bytes(&bytes, path)?;
    // `load_bytes` accepted it, so it is UTF-8 and parses; the fallbacks avoid a panic path.
    let text = strip_bom(std::str::from_utf8(&bytes).unwrap_or_default());
    let mut out = Vec::new();
    match format_of(path) {
        Format::Json => {
            if let Ok(serde_json::Value::Object(top)) = serde_json::from_str(text) {
                for (k, v) in top.iter().filter(|(k, _)| k.as_str() != BLOCK) {
                    json_strings(k, v, 0, &mut out);
                }
            }
        }
        Format::Toml => {
            if let Ok(top) = text.parse::<toml::Table>() {
                for (k, v) in top.iter().filter(|(k, _)| k.as_str() != BLOCK) {
                    toml_strings(k, v, 0, &mut out);
                }
            }
        }
    }
    Ok(out)
}

fn json_strings(key: &str, v: &serde_json::Value, depth: usize, out: &mut Vec<(String, String)>) {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        J::String(s) => out.push((key.to_owned(), s.clone())),
        J::Array(items) => items
            .iter()
            .for_each(|i| json_strings(key, i, depth + 1, out)),
        J::Object(map) => map
            .iter()
            .for_each(|(k, i)| json_strings(&format!("{key}.{k}"), i, depth + 1, out)),
        J::Null | J::Bool(_) | J::Number(_) => {}
    }
}

fn toml_strings(key: &str, v: &toml::Value, depth: usize, out: &mut Vec<(String, String)>) {
    use toml::Value as T;
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        T::String(s) => out.push((key.to_owned(), s.clone())),
        T::Array(items) => items
            .iter()
            .for_each(|i| toml_strings(key, i, depth + 1, out)),
        T::Table(map) => map
            .iter()
            .for_each(|(k, i)| toml_strings(&format!("{key}.{k}"), i, depth + 1, out)),
        T::Integer(_) | T::Float(_) | T::Boolean(_) | T::Datetime(_) => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strings_outside_the_block() {
        let d = std::env::temp_dir().join(format!("memmon-config-others-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let json = d.join("client_config.json");
        std::fs::write(
            &json,
            r#"{"server_url": "https://attend.example.org:8443/api", "retries": 3,
"mail": {"to": ["ops@example.org", "b@example.org"]},
"memory_monitor": {"enabled": true, "name": "inside"}}"#,
        )
        .unwrap();
        assert_eq!(
            other_strings(&json).unwrap(),
            [
                ("mail.to".into(), "ops@example.org".into()),
                ("mail.to".into(), "b@example.org".into()),
                (
                    "server_url".into(),
                    "https://attend.example.org:8443/api".into()
                ),
            ]
        );
        let toml = d.join("memmon.toml");
        std::fs::write(
            &toml,
            "host = \"db.example.net\"\n[memory_monitor]\nname = \"inside\"\n",
        )
        .unwrap();
        assert_eq!(
            other_strings(&toml).unwrap(),
            [("host".to_owned(), "db.example.net".to_owned())]
        );
        // Refused as `load` refuses it.
        std::fs::write(&json, "{").unwrap();
        assert!(other_strings(&json).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
