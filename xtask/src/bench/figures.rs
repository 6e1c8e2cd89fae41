//! Figures and their lines: `name: value unit`, `name: skipped: reason`, `name: failed: reason`.
//! CI reads these lines, so the format is pinned by tests.

use std::collections::BTreeMap;
use std::fmt;

/// The unit of a figure, which also decides how many decimals it prints with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds, whole.
    Ns,
    /// Microseconds, two decimals (a sample costs a few to a few hundred).
    Us,
    /// KiB (1024 bytes), whole.
    Kib,
    /// Lines per second, whole.
    LinesPerS,
    /// A dimensionless ratio, three decimals, printed without a unit.
    Ratio,
}

impl Unit {
    fn decimals(self) -> usize {
        match self {
            Unit::Ns | Unit::Kib | Unit::LinesPerS => 0,
            Unit::Us => 2,
            Unit::Ratio => 3,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Unit::Ns => " ns",
            Unit::Us => " us",
            Unit::Kib => " KiB",
            Unit::LinesPerS => " lines/s",
            Unit::Ratio => "",
        }
    }
}

/// What became of a figure.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Measured.
    Value(f64, Unit),
    /// Not producible here for a known, accepted reason (psutil absent, feature not built).
    Skipped(String),
    /// Should have been produced and was not: the bench exits non-zero.
    Failed(String),
}

/// One line of the bench's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The figure's name, `kebab-case`, with its unit in the name where it has one.
    pub name: &'static str,
    /// Its value or why there is none.
    pub outcome: Outcome,
}

impl Figure {
    /// A measured figure.
    pub fn value(name: &'static str, value: f64, unit: Unit) -> Self {
        Figure {
            name,
            outcome: Outcome::Value(value, unit),
        }
    }

    /// A figure skipped for `reason`.
    pub fn skipped(name: &'static str, reason: impl Into<String>) -> Self {
        Figure {
            name,
            outcome: Outcome::Skipped(reason.into()),
        }
    }

    /// A figure that failed for `reason`.
    pub fn failed(name: &'static str, reason: impl Into<String>) -> Self {
        Figure {
            name,
            outcome: Outcome::Failed(reason.into()),
        }
    }

    /// `value` when it is `Some` and finite, else a failure saying `missing` was the cause.
    pub fn from_option(name: &'static str, value: Option<f64>, unit: Unit, missing: &str) -> Self {
        match value {
            Some(v) if v.is_finite() => Figure::value(name, v, unit),
            _ => Figure::failed(name, missing.to_string()),
        }
    }

    /// Whether this figure makes the bench fail.
    pub fn is_failure(&self) -> bool {
        matches!(self.outcome, Outcome::Failed(_))
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Value(v, unit) => {
                write!(
                    f,
                    "{}: {:.*}{}",
                    self.name,
                    unit.decimals(),
                    v,
                    unit.suffix()
                )
            }
            // A reason is one line: the output stays one figure per line.
            Outcome::Skipped(reason) => write!(f, "{}: skipped: {}", self.name, one_line(reason)),
            Outcome::Failed(reason) => write!(f, "{}: failed: {}", self.name, one_line(reason)),
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads the `name: number` lines a helper binary prints (other lines are ignored), keeping
/// every value of a name in order: a helper prints one line per name and round.
pub fn parse_values(output: &str) -> BTreeMap<String, Vec<f64>> {
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in output.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let number = rest.split_whitespace().next().map(str::parse::<f64>);
        if let Some(Ok(v)) = number {
            values.entry(name.trim().to_string()).or_default().push(v);
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_with_their_unit_and_decimals() {
        let line = |name, v, unit| Figure::value(name, v, unit).to_string();
        assert_eq!(line("sample-ns", 1234.56, Unit::Ns), "sample-ns: 1235 ns");
        assert_eq!(
            line("sample-ratio", 1.23456, Unit::Ratio),
            "sample-ratio: 1.235"
        );
        assert_eq!(
            line("run-cpu-per-sample-us", 12.345, Unit::Us),
            "run-cpu-per-sample-us: 12.35 us"
        );
        assert_eq!(
            line("run-rss-kib", 2047.6, Unit::Kib),
            "run-rss-kib: 2048 KiB"
        );
        assert_eq!(
            line("analyze-lines-per-s", 1_500_000.4, Unit::LinesPerS),
            "analyze-lines-per-s: 1500000 lines/s"
        );
    }

    #[test]
    fn skipped_and_failed_lines_carry_a_one_line_reason() {
        let s = Figure::skipped("python-hook-ratio", "python3 is\nnot installed");
        assert_eq!(
            s.to_string(),
            "python-hook-ratio: skipped: python3 is not installed"
        );
        assert!(!s.is_failure());
        let f = Figure::failed("sample-ns", "sample_bench failed:\n  exit 2");
        assert_eq!(
            f.to_string(),
            "sample-ns: failed: sample_bench failed: exit 2"
        );
        assert!(f.is_failure());
    }

    #[test]
    fn a_missing_or_non_finite_value_is_a_failure() {
        let f = Figure::from_option("x", None, Unit::Ns, "no rounds");
        assert_eq!(f.to_string(), "x: failed: no rounds");
        let f = Figure::from_option("x", Some(f64::INFINITY), Unit::Ratio, "zero limit");
        assert!(f.is_failure());
        let f = Figure::from_option("x", Some(2.0), Unit::Ratio, "unused");
        assert_eq!(f.to_string(), "x: 2.000");
    }

    #[test]
    fn helper_output_is_parsed_per_name_in_order() {
        let out = "sample-ns: 900.5\nsample-limit-ns: 700\nsample-ns: 910\n\
                   noise without colon\nalloc-1t-ratio: 1.020\nbad: x\n";
        let v = parse_values(out);
        assert_eq!(v["sample-ns"], [900.5, 910.0]);
        assert_eq!(v["sample-limit-ns"], [700.0]);
        assert_eq!(v["alloc-1t-ratio"], [1.02]);
        assert!(!v.contains_key("bad"));
        assert_eq!(v.len(), 3);
    }
}
