//! A signed byte count, so that differences between readings need no casts at every use.

use std::fmt;
use std::ops::{Add, Sub};

/// One mebibyte. The log's "MB" is always MiB (bytes / 1048576), as in the original monitor.
pub const MIB: u64 = 1024 * 1024;

/// A signed number of bytes (a size, or the difference of two sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(pub i64);

impl Bytes {
    /// A size taken from an unsigned byte count; saturates at `i64::MAX` (8 EiB, far beyond any RAM).
    pub fn from_u64(n: u64) -> Self {
        Bytes(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// The raw signed count.
    pub fn get(self) -> i64 {
        self.0
    }

    /// The value in MiB, unrounded: what the log prints with two decimals.
    pub fn mib(self) -> f64 {
        self.0 as f64 / MIB as f64
    }
}

impl Add for Bytes {
    type Output = Bytes;
    fn add(self, rhs: Bytes) -> Bytes {
        Bytes(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Bytes {
    type Output = Bytes;
    fn sub(self, rhs: Bytes) -> Bytes {
        Bytes(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B", self.0)
    }
}
