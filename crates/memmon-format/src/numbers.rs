//! Number layouts the original monitor inherited from Python: tracemalloc's size format,
//! `repr(float)` for the interval, `%.0f` for the run time and `HH:MM:SS` for 経過.
//!
//! Everything else is plain `{:.2}` / `{:.1}` / `{:.0}`, which Rust and Python round alike
//! (both round the exact binary value half to even).

use crate::fixed::Cursor;
use std::fmt;
use std::time::Duration;

/// A unit of tracemalloc's size format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeUnit {
    /// Bytes.
    B,
    /// 1024 bytes.
    KiB,
    /// 1024² bytes.
    MiB,
    /// 1024³ bytes.
    GiB,
    /// 1024⁴ bytes; the last unit, so any larger size is printed in TiB.
    TiB,
}

impl SizeUnit {
    /// All units, smallest first, in the order tracemalloc walks them.
    pub const ALL: [SizeUnit; 5] = [
        SizeUnit::B,
        SizeUnit::KiB,
        SizeUnit::MiB,
        SizeUnit::GiB,
        SizeUnit::TiB,
    ];

    /// The unit as printed (`B`, `KiB`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SizeUnit::B => "B",
            SizeUnit::KiB => "KiB",
            SizeUnit::MiB => "MiB",
            SizeUnit::GiB => "GiB",
            SizeUnit::TiB => "TiB",
        }
    }

    /// Bytes in one of this unit.
    pub fn factor(self) -> f64 {
        match self {
            SizeUnit::B => 1.0,
            SizeUnit::KiB => 1024.0,
            SizeUnit::MiB => 1024.0 * 1024.0,
            SizeUnit::GiB => 1024.0 * 1024.0 * 1024.0,
            SizeUnit::TiB => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        }
    }

    /// The unit named by `text`, if any.
    pub fn from_text(text: &str) -> Option<SizeUnit> {
        SizeUnit::ALL.into_iter().find(|u| u.as_str() == text)
    }
}

/// A size as tracemalloc prints it (`5.2 MiB`, `1582 B`).
///
/// It keeps the printed form (value, unit, one decimal or none) rather than bytes alone,
/// because bytes do not always lead back to the same text: `99.96 KiB` prints as `100.0 KiB`,
/// which read back as bytes would print `100 KiB`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size {
    /// The number in `unit`.
    pub value: f64,
    /// The unit printed after the number.
    pub unit: SizeUnit,
    /// Whether the number is printed with one decimal (`%.1f`) or none (`%.0f`).
    pub one_decimal: bool,
}

impl Size {
    /// Python's `tracemalloc._format_size(size, False)`, step by step: walk B, KiB, MiB, GiB,
    /// TiB dividing by 1024; below 100 in a unit other than B print one decimal; below
    /// 10 × 1024 (or in TiB) print none.
    pub fn from_bytes(bytes: f64) -> Size {
        let mut value = bytes;
        for unit in SizeUnit::ALL {
            if value.abs() < 100.0 && unit != SizeUnit::B {
                return Size {
                    value,
                    unit,
                    one_decimal: true,
                };
            }
            if value.abs() < 10.0 * 1024.0 || unit == SizeUnit::TiB {
                return Size {
                    value,
                    unit,
                    one_decimal: false,
                };
            }
            value /= 1024.0;
        }
        // The loop always returns at TiB; this keeps the function total without a panic.
        Size {
            value,
            unit: SizeUnit::TiB,
            one_decimal: false,
        }
    }

    /// The size in bytes (as printed: the rounding of the text is not undone).
    pub fn bytes(&self) -> f64 {
        self.value * self.unit.factor()
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.one_decimal {
            write!(f, "{:.1} {}", self.value, self.unit.as_str())
        } else {
            write!(f, "{:.0} {}", self.value, self.unit.as_str())
        }
    }
}

/// 経過 as `HH:MM:SS`: each part at least two digits, hours never wrap (`100:00:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(pub u64);

impl Elapsed {
    /// Whole seconds of a duration, truncated (the original prints `int(seconds)`).
    pub fn from_duration(d: Duration) -> Elapsed {
        Elapsed(d.as_secs())
    }
}

impl Elapsed {
    /// Writes `HH:MM:SS` without `core::fmt`'s padding machinery (the sample line's way).
    pub(crate) fn put(&self, out: &mut Cursor<'_>) -> Option<()> {
        let s = self.0;
        out.uint(s / 3600, 2)?;
        out.byte(b':')?;
        out.two((s / 60 % 60) as u8)?;
        out.byte(b':')?;
        out.two((s % 60) as u8)
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(f, "{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }
}

/// A duration in whole seconds rounded half to even, as Python's `'%.0f' % seconds` prints it
/// (実行時間). Computed on the exact duration, so no float rounding creeps in.
pub fn round_secs_half_even(d: Duration) -> u64 {
    const HALF: u32 = 500_000_000;
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    let up = nanos > HALF || (nanos == HALF && secs % 2 == 1);
    secs.saturating_add(u64::from(up))
}

/// Python's `repr(float)`: the shortest digits that read back to the same float, in fixed
/// notation when the decimal exponent is in `-4..16` (with `.0` when integral), otherwise in
/// scientific notation with a signed, at least two-digit exponent (`1e-05`, `1.5e+16`).
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // Rust's `{:e}` prints the shortest round-trip digits, like Python's repr, but when two
    // shortest strings are equally close (the float lies exactly halfway) Rust rounds up where
    // Python rounds half to even (984967652539601.25 → Python `…601.2`). So only the digit
    // count is taken from `{:e}`; the digits come from `{:.Ne}`, which rounds the exact value
    // half to even. The closest N-digit decimal reads back to the same float whenever some
    // N-digit decimal does, so this is still a shortest round-trip form.
    let shortest = format!("{:e}", x.abs());
    let significant = shortest
        .split('e')
        .next()
        .map_or(1, |m| m.bytes().filter(u8::is_ascii_digit).count());
    let sci = format!("{:.*e}", significant.saturating_sub(1), x.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let mut digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // No trailing zeros in a shortest form (defensive: rounding cannot add any here).
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let mantissa = match digits.split_at(1) {
        (first, "") => first.to_owned(),
        (first, rest) => format!("{first}.{rest}"),
    };
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp < 0 {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("0.{zeros}{digits}")
        } else if exp + 1 >= n {
            let zeros = "0".repeat((exp + 1 - n) as usize);
            format!("{digits}{zeros}.0")
        } else {
            let (int, frac) = digits.split_at((exp + 1) as usize);
            format!("{int}.{frac}")
        };
        format!("{sign}{body}")
    } else {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exp.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_layouts() {
        let cases = [
            (300.0, "300.0"),
            (0.2, "0.2"),
            (1e-5, "1e-05"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (123.456, "123.456"),
            (1e-4, "0.0001"),
            (0.00012, "0.00012"),
            (9.999e15, "9999000000000000.0"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-2.5, "-2.5"),
            (1e100, "1e+100"),
            // Exactly halfway between two shortest forms: Python rounds half to even.
            (984_967_652_539_601.0 + 0.25, "984967652539601.2"),
            (9_882_226_104_217.0 + 0.3125, "9882226104217.312"),
        ];
        for (x, want) in cases {
            assert_eq!(python_float_repr(x), want, "{x:e}");
        }
    }

    #[test]
    fn half_even_runtime() {
        let ms = Duration::from_millis;
        assert_eq!(round_secs_half_even(ms(2500)), 2);
        assert_eq!(round_secs_half_even(ms(3500)), 4);
        assert_eq!(round_secs_half_even(ms(2501)), 3);
        assert_eq!(round_secs_half_even(ms(499)), 0);
        assert_eq!(round_secs_half_even(Duration::MAX), u64::MAX);
    }
}
