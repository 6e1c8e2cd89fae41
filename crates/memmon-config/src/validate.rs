//! Key-by-key validation of the `memory_monitor` block.
//!
//! Values arrive format-neutral ([`Val`]), so JSON and TOML get the same checks and the same
//! messages. Each key is checked on its own so the error names exactly one key and its value.

use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::time::Duration;

use memmon_core::{IntervalError, IntervalSpec};

use crate::config::{Config, DetailSourceKind, PythonHook};
use crate::error::{ConfigError, ConfigWarning, Format};
use crate::expected::Expected;
use crate::rules;
use crate::value::{key_label, Val};
use crate::Loaded;

/// The block's name, at the top level of both formats.
pub(crate) const BLOCK: &str = "memory_monitor";

/// Every key the block understands, for unknown-key suggestions.
const KNOWN_KEYS: [&str; 25] = [
    "enabled",
    "interval",
    "startup_delay",
    "tracemalloc",
    "log_file",
    "warn_threshold_mb",
    "detail_every",
    "max_log_mb",
    "keep_logs",
    "name",
    "prom_textfile",
    "metrics_listen",
    "tracemalloc_frames",
    "tracemalloc_timeout",
    "detail_source",
    "python_hook",
    "breakdown",
    "escalate",
    "malloc_trim_probe",
    "evidence",
    "evidence_max",
    "evidence_horizon",
    "evidence_floor_mb",
    "evidence_pressure",
    "evidence_max_kb",
];

/// The largest `tracemalloc_frames`; Python's tracemalloc accepts more, but deeper stacks make
/// every allocation slower for little insight.
const MAX_FRAMES: i64 = 100;

/// Validates the `memory_monitor` value (or its absence) into a [`Loaded`].
pub(crate) fn block(file: &str, format: Format, block: Option<Val>) -> Result<Loaded, ConfigError> {
    let mut config = Config::default();
    let mut warnings = Vec::new();
    let entries = match block {
        None => Vec::new(),
        Some(Val::Table(entries)) => entries,
        Some(other) => {
            let expected = match format {
                Format::Json => Expected::Object,
                Format::Toml => Expected::Table,
            };
            return Err(invalid(file, BLOCK.to_owned(), expected, &other));
        }
    };
    for (key, value) in entries {
        let path = format!("{BLOCK}.{}", key_label(&key));
        let c = Check {
            file,
            path: &path,
            value: &value,
        };
        match key.as_str() {
            "enabled" => config.enabled = c.boolean()?,
            "interval" => config.interval = c.interval()?,
            "startup_delay" => config.startup_delay = c.optional(Check::delay)?,
            "tracemalloc" => config.tracemalloc = c.boolean()?,
            "log_file" => config.log_file = c.path()?,
            "warn_threshold_mb" => config.warn_threshold_mb = c.number_at_least_zero("MB")?,
            "detail_every" => config.detail_every = c.positive_integer()?,
            "max_log_mb" => config.max_log_mb = c.positive_number("MB")?,
            "keep_logs" => config.keep_logs = c.integer_in(0, i64::from(u32::MAX))?,
            "name" => config.name = c.optional(Check::name)?,
            "prom_textfile" => config.prom_textfile = c.optional(Check::path)?,
            "metrics_listen" => config.metrics_listen = c.optional(Check::socket_addr)?,
            "tracemalloc_frames" => config.tracemalloc_frames = c.integer_in(1, MAX_FRAMES)?,
            "tracemalloc_timeout" => config.tracemalloc_timeout = c.timeout()?,
            "detail_source" => config.detail_source = c.detail_source()?,
            "python_hook" => config.python_hook = c.python_hook()?,
            "breakdown" => config.breakdown = c.boolean()?,
            "escalate" => config.escalate = c.boolean()?,
            "malloc_trim_probe" => config.malloc_trim_probe = c.boolean()?,
            "evidence" => config.evidence = c.boolean()?,
            "evidence_max" => config.evidence_max = c.integer_in(1, 1000)?,
            "evidence_horizon" => config.evidence_horizon = c.delay()?,
            "evidence_floor_mb" => config.evidence_floor_mb = c.number_at_least_zero("MB")?,
            "evidence_pressure" => config.evidence_pressure = c.number_at_least_zero("%")?,
            "evidence_max_kb" => config.evidence_max_kb = c.integer_in(16, 65536)?,
            _ => warnings.push(ConfigWarning {
                file: file.to_owned(),
                key: path,
                suggestion: suggest(&key),
            }),
        }
    }
    Ok(Loaded { config, warnings })
}

fn invalid(file: &str, key: String, expected: Expected, got: &Val) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_owned(),
        key,
        expected,
        got: got.render(),
        got_kind: got.kind(),
    }
}

/// One key's value, with what is needed to name it in an error.
struct Check<'a> {
    file: &'a str,
    path: &'a str,
    value: &'a Val,
}

impl Check<'_> {
    fn fail<T>(&self, expected: Expected) -> Result<T, ConfigError> {
        Err(invalid(
            self.file,
            self.path.to_owned(),
            expected,
            self.value,
        ))
    }

    fn boolean(&self) -> Result<bool, ConfigError> {
        match self.value {
            Val::Bool(b) => Ok(*b),
            _ => self.fail(Expected::Bool),
        }
    }

    fn interval(&self) -> Result<IntervalSpec, ConfigError> {
        let checked = match self.value {
            Val::Int(i) if *i <= 0 => Err(IntervalError::NotPositive),
            Val::Int(i) => u64::try_from(*i)
                .map_err(|_| IntervalError::TooLarge)
                .and_then(IntervalSpec::integer),
            Val::Float(f) => IntervalSpec::decimal(*f),
            _ => Err(IntervalError::NotPositive),
        };
        checked.or_else(|e| match e {
            IntervalError::NotPositive => self.fail(Expected::Seconds),
            IntervalError::TooSmall => self.fail(Expected::SecondsAtLeast(IntervalSpec::MIN_SECS)),
            IntervalError::TooLarge => self.fail(Expected::SecondsAtMost(IntervalSpec::MAX_SECS)),
        })
    }

    /// Integers are accepted too: `50` and `50.0` mean the same amount.
    fn number(&self) -> Option<f64> {
        match self.value {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) if f.is_finite() => Some(*f),
            _ => None,
        }
    }

    fn number_at_least_zero(&self, unit: &'static str) -> Result<f64, ConfigError> {
        match self.number() {
            Some(n) if n >= 0.0 => Ok(n),
            _ => self.fail(Expected::NumberAtLeastZero { unit }),
        }
    }

    fn positive_number(&self, unit: &'static str) -> Result<f64, ConfigError> {
        match self.number() {
            Some(n) if n > 0.0 => Ok(n),
            _ => self.fail(Expected::PositiveNumber { unit }),
        }
    }

    fn positive_integer(&self) -> Result<NonZeroU64, ConfigError> {
        match self.value {
            Val::Int(i) => match u64::try_from(*i).ok().and_then(NonZeroU64::new) {
                Some(n) => Ok(n),
                None => self.fail(Expected::IntegerAtLeastOne),
            },
            _ => self.fail(Expected::IntegerAtLeastOne),
        }
    }

    fn integer_in<T: TryFrom<i128>>(&self, min: i64, max: i64) -> Result<T, ConfigError> {
        let expected = Expected::IntegerIn { min, max };
        match self.value {
            Val::Int(i) if (i128::from(min)..=i128::from(max)).contains(i) => match T::try_from(*i)
            {
                Ok(n) => Ok(n),
                Err(_) => self.fail(expected),
            },
            _ => self.fail(expected),
        }
    }

    /// `name`: the rule `--name` uses too ([`rules::check_name`]).
    fn name(&self) -> Result<String, ConfigError> {
        match self.value {
            Val::Str(s) => match rules::check_name(s) {
                Ok(()) => Ok(s.clone()),
                Err(expected) => self.fail(expected),
            },
            _ => self.fail(Expected::NonEmptyString),
        }
    }

    /// A file memmon writes: refused here exactly when `run` could never open it
    /// ([`rules::check_file_path`]), so `check-config` and `run` agree.
    fn path(&self) -> Result<PathBuf, ConfigError> {
        match self.value {
            Val::Str(s) => match rules::check_file_path(s) {
                Ok(()) => Ok(PathBuf::from(s)),
                Err(expected) => self.fail(expected),
            },
            _ => self.fail(Expected::FilePath),
        }
    }

    fn socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        match self.value {
            Val::Str(s) => match s.parse() {
                Ok(addr) => Ok(addr),
                Err(_) => self.fail(Expected::SocketAddr),
            },
            _ => self.fail(Expected::SocketAddr),
        }
    }

    /// `null` (JSON only) means "not set" for optional keys, as a missing key would.
    fn optional<T>(
        &self,
        check: impl FnOnce(&Self) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        match self.value {
            Val::Null => Ok(None),
            _ => check(self).map(Some),
        }
    }

    fn timeout(&self) -> Result<Duration, ConfigError> {
        // Bounded like the interval, so adding it to an `Instant` can never overflow.
        let secs = self.number().filter(|n| *n > 0.0);
        match secs {
            Some(s) if s <= IntervalSpec::MAX_SECS as f64 => {
                let d = Duration::from_secs_f64(s);
                if d.is_zero() {
                    self.fail(Expected::Seconds)
                } else {
                    Ok(d)
                }
            }
            Some(_) => self.fail(Expected::SecondsAtMost(IntervalSpec::MAX_SECS)),
            None => self.fail(Expected::Seconds),
        }
    }

    /// Seconds ≥ 0 (0 samples at once), bounded like the interval so that adding it to an
    /// `Instant` can never overflow.
    fn delay(&self) -> Result<Duration, ConfigError> {
        match self.number() {
            Some(s) if (0.0..=IntervalSpec::MAX_SECS as f64).contains(&s) => {
                Ok(Duration::from_secs_f64(s))
            }
            _ => self.fail(Expected::SecondsFromZeroAtMost(IntervalSpec::MAX_SECS)),
        }
    }

    fn detail_source(&self) -> Result<DetailSourceKind, ConfigError> {
        let expected = Expected::OneOf(&["auto", "smaps", "python", "both"]);
        match self.value {
            Val::Str(s) => match s.parse() {
                Ok(kind) => Ok(kind),
                Err(_) => self.fail(expected),
            },
            _ => self.fail(expected),
        }
    }
}

impl Check<'_> {
    /// The same rule as `--python-hook` ([`rules::check_python_hook`]).
    fn python_hook(&self) -> Result<PythonHook, ConfigError> {
        match self.value {
            Val::Str(s) => rules::check_python_hook(s).or_else(|e| self.fail(e)),
            _ => self.fail(Expected::OneOf(&PythonHook::WORDS)),
        }
    }
}

/// Other programs' keys at the top level are expected and ignored, but one that is a near miss
/// of `memory_monitor` (`memory_monitr`, `Memory_Monitor`) most likely holds memmon's settings,
/// which would otherwise be silently replaced by the defaults: warn about it.
pub(crate) fn misspelled_block<'a>(
    file: &str,
    keys: impl Iterator<Item = &'a String>,
) -> Option<ConfigWarning> {
    keys.filter(|k| k.chars().count() <= 32)
        .find(|k| edit_distance(&k.to_lowercase(), BLOCK) <= 2)
        .map(|k| ConfigWarning {
            file: file.to_owned(),
            key: key_label(k),
            suggestion: Some(BLOCK),
        })
}

/// The known key an unknown one most likely meant: the unique closest within edit distance 2
/// (ignoring case), or `None` when nothing is obviously meant.
pub(crate) fn suggest(unknown: &str) -> Option<&'static str> {
    let lower = unknown.to_lowercase();
    // Long keys (pasted junk) cannot be within distance 2 of any known key.
    if lower.chars().count() > 32 {
        return None;
    }
    let mut best: Option<(usize, &'static str)> = None;
    let mut tie = false;
    for known in KNOWN_KEYS {
        let d = edit_distance(&lower, known);
        match best {
            Some((bd, _)) if d > bd => {}
            Some((bd, _)) if d == bd => tie = true,
            _ => {
                best = Some((d, known));
                tie = false;
            }
        }
    }
    match best {
        Some((d, known)) if d <= 2 && !tie => Some(known),
        _ => None,
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("intervall", "interval"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn a_near_miss_of_the_block_name_is_warned_about() {
        let keys: Vec<String> = ["server_url", "memory_monitr"].map(String::from).to_vec();
        let w = misspelled_block("c.json", keys.iter());
        assert_eq!(
            w.map(|w| w.to_string()),
            Some(
                "c.json: memory_monitr: unknown key (ignored); did you mean \"memory_monitor\"?"
                    .to_owned()
            )
        );
        let keys: Vec<String> = ["Memory_Monitor"].map(String::from).to_vec();
        assert!(misspelled_block("c.json", keys.iter()).is_some());
        let keys: Vec<String> = ["server_url", "monitor", "memory"]
            .map(String::from)
            .to_vec();
        assert_eq!(misspelled_block("c.json", keys.iter()), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("intervall"), Some("interval"));
        assert_eq!(suggest("Enabled"), Some("enabled"));
        assert_eq!(suggest("tracemaloc"), Some("tracemalloc"));
        assert_eq!(suggest("keep_log"), Some("keep_logs"));
        assert_eq!(suggest("server_url"), None);
        assert_eq!(suggest(""), None);
    }
}
