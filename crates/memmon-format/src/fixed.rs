//! Digits without `core::fmt`: the log's `{:.2}` / `{:.1}` / `{:.0}` numbers and its
//! zero-padded clock fields, written straight into a byte buffer.
//!
//! Why: at a 10 ms interval the sample line was over half of `memmon run`'s own instructions,
//! most of them in `core::fmt`'s float path (Grisu with its exact fallback, padding, the
//! `Formatter` plumbing) for six numbers that are all "an integer and two digits". A sample after
//! a sleep runs with cold caches, so the code it touches matters as much as its instruction count.
//!
//! [`fixed_digits`] gives exactly what `format!("{:.N}", x)` prints (`{:+.N}` with `plus`), for
//! every `f64` it accepts: Rust rounds the exact binary value half to even, and so does this, in
//! integers. Values it does not accept (NaN, infinities, |x| × 10^N of 2⁶⁴ or more) are left to
//! `core::fmt` by the callers.

use std::fmt;

/// A number as `{:.N}` prints it: sign, then `q / 10^N`, a point and the `N` digits of
/// `q % 10^N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedDigits {
    negative: bool,
    q: u64,
    decimals: u32,
}

/// `|x| × 10^decimals` rounded half to even (decimals 0, 1 or 2), and the sign; `None` when `x`
/// is NaN, infinite or too large for a `u64`.
pub(crate) fn fixed_digits(x: f64, decimals: u32) -> Option<FixedDigits> {
    let scale: u64 = match decimals {
        0 => 1,
        1 => 10,
        2 => 100,
        _ => return None,
    };
    let bits = x.to_bits();
    let negative = bits >> 63 == 1;
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    if exp_bits == 0x7ff {
        return None;
    }
    // |x| = m × 2^e exactly.
    let (m, e) = if exp_bits == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, exp_bits - 1075)
    };
    // |x| × scale = n × 2^e with n < 2^60, so the rounding below is on the exact value.
    let n = m * scale;
    let q = if e >= 0 {
        // n × 2^e must fit in a u64.
        if e >= 64 || n.leading_zeros() < e.unsigned_abs() {
            return None;
        }
        n << e
    } else {
        let s = e.unsigned_abs();
        if s > 61 {
            // n / 2^s < 2^60 / 2^62 = 1/4: rounds to 0, and cannot be a tie.
            0
        } else {
            let q = n >> s;
            let r = n & ((1 << s) - 1);
            let half = 1 << (s - 1);
            // Half to even: a tie rounds towards the even neighbour.
            q + u64::from(r > half || (r == half && q & 1 == 1))
        }
    };
    Some(FixedDigits {
        negative,
        q,
        decimals,
    })
}

/// Writes into a byte slice, refusing (`None`) rather than panicking when it is full.
pub(crate) struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Cursor<'a> {
        Cursor { buf, len: 0 }
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// What has been written.
    pub(crate) fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> Option<()> {
        let end = self.len + b.len();
        self.buf.get_mut(self.len..end)?.copy_from_slice(b);
        self.len = end;
        Some(())
    }

    pub(crate) fn byte(&mut self, b: u8) -> Option<()> {
        *self.buf.get_mut(self.len)? = b;
        self.len += 1;
        Some(())
    }

    /// `n` (below 100) as two digits: `{:02}`.
    pub(crate) fn two(&mut self, n: u8) -> Option<()> {
        self.bytes(&[b'0' + n / 10 % 10, b'0' + n % 10])
    }

    /// `n` in decimal, at least `width` digits (zero-padded): `{n:0width$}` for `width` ≤ 20.
    pub(crate) fn uint(&mut self, mut n: u64, width: usize) -> Option<()> {
        // Pre-filled with zeros, so padding is only a matter of where the slice starts.
        let mut digits = [b'0'; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        let start = i.min(digits.len().saturating_sub(width));
        self.bytes(&digits[start..])
    }

    /// A number from [`fixed_digits`], `+` before a non-negative one when `plus`.
    pub(crate) fn fixed(&mut self, d: FixedDigits, plus: bool) -> Option<()> {
        // Rust prints the sign of every negative value, -0.0 and those rounding to 0 included.
        if d.negative {
            self.byte(b'-')?;
        } else if plus {
            self.byte(b'+')?;
        }
        match d.decimals {
            0 => self.uint(d.q, 1),
            1 => {
                self.uint(d.q / 10, 1)?;
                self.bytes(&[b'.', b'0' + (d.q % 10) as u8])
            }
            _ => {
                self.uint(d.q / 100, 1)?;
                self.byte(b'.')?;
                self.two((d.q % 100) as u8)
            }
        }
    }
}

/// Displays `x` as `{:.N}` (`{:+.N}` with `plus`) does, through [`fixed_digits`] where it can.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fixed {
    /// The number.
    pub x: f64,
    /// Decimals: 0, 1 or 2.
    pub decimals: u32,
    /// A `+` before non-negative values.
    pub plus: bool,
}

impl Fixed {
    /// `{:.2}`.
    pub(crate) fn mb(x: f64) -> Fixed {
        Fixed {
            x,
            decimals: 2,
            plus: false,
        }
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A sign, 20 digits, a point, two decimals.
        let mut buf = [0u8; 24];
        let mut text = Cursor::new(&mut buf);
        if let Some(()) = fixed_digits(self.x, self.decimals).and_then(|d| text.fixed(d, self.plus))
        {
            return f.write_str(std::str::from_utf8(text.written()).map_err(|_| fmt::Error)?);
        }
        let prec = self.decimals as usize;
        if self.plus {
            write!(f, "{:+.prec$}", self.x)
        } else {
            write!(f, "{:.prec$}", self.x)
        }
    }
}

/// A `fmt::Write` that appends to a byte buffer: what is written through it is UTF-8 text.
pub(crate) struct Utf8Bytes<'a>(pub &'a mut Vec<u8>);

impl fmt::Write for Utf8Bytes<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn std_fmt(x: f64, decimals: u32, plus: bool) -> String {
        let prec = decimals as usize;
        if plus {
            format!("{x:+.prec$}")
        } else {
            format!("{x:.prec$}")
        }
    }

    fn ours(x: f64, decimals: u32, plus: bool) -> String {
        let fixed = Fixed { x, decimals, plus };
        let mut buf = [0u8; 24];
        let mut cursor = Cursor::new(&mut buf);
        let text = fixed.to_string();
        // The cursor (the sample line's way) writes what Display writes, where it writes at all.
        if let Some(d) = fixed_digits(x, decimals) {
            cursor.fixed(d, plus).unwrap();
            assert_eq!(std::str::from_utf8(cursor.written()).unwrap(), text);
        }
        text
    }

    fn check(x: f64) {
        for decimals in 0..=2 {
            for plus in [false, true] {
                assert_eq!(
                    ours(x, decimals, plus),
                    std_fmt(x, decimals, plus),
                    "{x:e} .{decimals} plus {plus}"
                );
            }
        }
    }

    #[test]
    fn known_values() {
        let cases = [
            0.0,
            -0.0,
            0.125, // a tie: 0.12
            0.375, // a tie: 0.38
            0.005, // not a tie in binary (just above)
            0.015, // just below
            2.5,
            3.5,
            -2.5,
            -0.001,
            -0.004999,
            99.995,
            1e-300,
            5e-324,
            -5e-324,
            0.25,
            0.05,
            0.45,
            1.0 / 3.0,
            45.23,
            123.45,
            1e17,
            1.8e17,
            1.8446744073709552e17,
            1.8446744073709552e19,
            1e19,
            1e20,
            1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for x in cases {
            check(x);
        }
    }

    #[test]
    fn every_mib_tie_up_to_a_few_gib() {
        // bytes × 100 / 2^20 is a tie when bytes = 2^17 × odd (x.125, x.375 …).
        for k in 0..100_000u64 {
            let bytes = (2 * k + 1) << 17;
            check(bytes as f64 / 1_048_576.0);
        }
    }

    fn uint(n: u64, width: usize) -> String {
        let mut buf = [0u8; 20];
        let mut cursor = Cursor::new(&mut buf);
        cursor.uint(n, width).unwrap();
        String::from_utf8(cursor.written().to_vec()).unwrap()
    }

    #[test]
    fn two_digits_and_a_full_cursor() {
        for n in 0..100u8 {
            let mut buf = [0u8; 2];
            let mut cursor = Cursor::new(&mut buf);
            cursor.two(n).unwrap();
            assert_eq!(cursor.written(), format!("{n:02}").as_bytes());
            assert_eq!(cursor.byte(b'x'), None);
            assert_eq!(cursor.len(), 2);
        }
        let mut buf = [0u8; 3];
        let mut cursor = Cursor::new(&mut buf);
        assert_eq!(cursor.uint(1234, 1), None);
        assert_eq!(cursor.fixed(fixed_digits(-12.5, 2).unwrap(), false), None);
    }

    #[test]
    fn uint_matches_std() {
        for n in [0u64, 1, 9, 10, 99, 100, 2025, 9999, 10_000, u64::MAX] {
            for w in [0, 1, 2, 4, 20] {
                assert_eq!(uint(n, w), format!("{n:0w$}"));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn any_f64_as_std_prints_it(bits in any::<u64>()) {
            check(f64::from_bits(bits));
        }

        #[test]
        fn any_byte_count_in_mib(bytes in any::<u64>()) {
            check(bytes as f64 / 1_048_576.0);
            check(-(bytes as f64) / 1_048_576.0);
        }

        #[test]
        fn byte_counts_near_ties(k in 0u64..(1 << 40), delta in -3i64..=3) {
            let bytes = (((2 * k + 1) << 17) as i64 + delta) as u64;
            check(bytes as f64 / 1_048_576.0);
        }

        #[test]
        fn percentages(used in 0u64..(1 << 45), total in 1u64..(1 << 45)) {
            check(used as f64 / total as f64 * 100.0);
        }

        #[test]
        fn small_magnitudes(x in -1e6f64..1e6) {
            check(x);
        }

        #[test]
        fn uint_any(n in any::<u64>(), w in 0usize..=20) {
            prop_assert_eq!(uint(n, w), format!("{n:0w$}"));
        }
    }
}
