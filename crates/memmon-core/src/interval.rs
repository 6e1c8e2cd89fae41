//! The sampling interval as the user wrote it.
//!
//! The header prints the interval the way Python prints the configured value (`300秒` for the
//! JSON integer `300`, `300.0秒` for `300.0`), so the value keeps whether it was an integer.

use std::time::Duration;

/// A sampling interval in seconds, remembering whether it was written as an integer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IntervalSpec {
    /// Written as an integer (`300`).
    Integer(u64),
    /// Written as a decimal number (`0.2`, `300.0`).
    Decimal(f64),
}

/// Why a number cannot be an interval.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntervalError {
    /// Zero, negative, NaN or infinite.
    #[error("expected a number of seconds > 0")]
    NotPositive,
    /// Positive but shorter than [`IntervalSpec::MIN_SECS`]: a busy loop, not a schedule (an
    /// interval of 1e-9 s wrote 60 MB of log in 2 s and rotated every earlier run away).
    #[error("expected at least {min} seconds", min = IntervalSpec::MIN_SECS)]
    TooSmall,
    /// Longer than memmon can schedule (more than about 136 years).
    #[error("expected at most {max} seconds", max = IntervalSpec::MAX_SECS)]
    TooLarge,
}

impl IntervalSpec {
    /// The largest interval accepted, in seconds (`u32::MAX`, about 136 years): larger values
    /// are typos, and keeping them bounded keeps deadline arithmetic exact.
    pub const MAX_SECS: u64 = u32::MAX as u64;

    /// The shortest interval accepted, in seconds (1 ms). memmon's own cost per sample is a
    /// few microseconds; below a millisecond the log grows faster than anyone reads it.
    pub const MIN_SECS: f64 = 0.001;

    /// Checks an integer interval.
    pub fn integer(secs: u64) -> Result<Self, IntervalError> {
        match secs {
            0 => Err(IntervalError::NotPositive),
            s if s > Self::MAX_SECS => Err(IntervalError::TooLarge),
            s => Ok(IntervalSpec::Integer(s)),
        }
    }

    /// Checks a decimal interval: at least [`IntervalSpec::MIN_SECS`].
    pub fn decimal(secs: f64) -> Result<Self, IntervalError> {
        if !secs.is_finite() || secs <= 0.0 {
            Err(IntervalError::NotPositive)
        } else if secs < Self::MIN_SECS {
            Err(IntervalError::TooSmall)
        } else if secs > Self::MAX_SECS as f64 {
            Err(IntervalError::TooLarge)
        } else {
            Ok(IntervalSpec::Decimal(secs))
        }
    }

    /// Parses a command-line value: digits only are an integer, anything else a decimal.
    pub fn parse(text: &str) -> Result<Self, IntervalError> {
        let t = text.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            match t.parse::<u64>() {
                Ok(n) => Self::integer(n),
                Err(_) => Err(IntervalError::TooLarge),
            }
        } else {
            t.parse::<f64>()
                .map_err(|_| IntervalError::NotPositive)
                .and_then(Self::decimal)
        }
    }

    /// The interval in seconds.
    pub fn as_secs_f64(self) -> f64 {
        match self {
            IntervalSpec::Integer(s) => s as f64,
            IntervalSpec::Decimal(s) => s,
        }
    }

    /// The interval as a duration (at least one nanosecond).
    pub fn as_duration(self) -> Duration {
        match self {
            IntervalSpec::Integer(s) => Duration::from_secs(s),
            IntervalSpec::Decimal(s) => Duration::from_secs_f64(s).max(Duration::from_nanos(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_integer_or_decimal() {
        assert_eq!(IntervalSpec::parse("300"), Ok(IntervalSpec::Integer(300)));
        assert_eq!(
            IntervalSpec::parse("300.0"),
            Ok(IntervalSpec::Decimal(300.0))
        );
        assert_eq!(IntervalSpec::parse("0.2"), Ok(IntervalSpec::Decimal(0.2)));
        assert_eq!(IntervalSpec::parse("0"), Err(IntervalError::NotPositive));
        assert_eq!(IntervalSpec::parse("-1"), Err(IntervalError::NotPositive));
        assert_eq!(IntervalSpec::parse("abc"), Err(IntervalError::NotPositive));
        assert_eq!(IntervalSpec::parse("NaN"), Err(IntervalError::NotPositive));
        assert_eq!(IntervalSpec::parse("1e-9"), Err(IntervalError::TooSmall));
        assert_eq!(IntervalSpec::parse("0.0009"), Err(IntervalError::TooSmall));
        assert_eq!(
            IntervalSpec::parse("0.001"),
            Ok(IntervalSpec::Decimal(0.001))
        );
        assert_eq!(
            IntervalSpec::parse("99999999999"),
            Err(IntervalError::TooLarge)
        );
        assert_eq!(IntervalSpec::parse("1e300"), Err(IntervalError::TooLarge));
    }

    #[test]
    fn durations() {
        assert_eq!(
            IntervalSpec::Integer(5).as_duration(),
            Duration::from_secs(5)
        );
        assert_eq!(
            IntervalSpec::Decimal(0.2).as_duration(),
            Duration::from_millis(200)
        );
    }
}
