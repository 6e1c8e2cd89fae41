//! The monitor's state machine: baseline, peak, growth threshold, every-Nth detail policy, footer.

use crate::bytes::{Bytes, MIB};
use crate::sample::{Reading, SampleError};
use std::num::NonZeroU64;
use std::time::{Duration, SystemTime};

/// When something happened, as the caller measured it: the wall clock for the printed timestamp,
/// the monotonic elapsed time since monitoring started for `経過` (so a wall-clock jump moves
/// timestamps only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Wall-clock time (printed in the system's time zone).
    pub wall: SystemTime,
    /// Monotonic time since monitoring started.
    pub elapsed: Duration,
}

/// The policy knobs of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSettings {
    /// Growth strictly above this warns (default 50 MiB, the guide's threshold).
    pub warn_threshold: Bytes,
    /// A detail block is due on counted samples N, 2N, 3N … (default 10); `None` never.
    pub detail_every: Option<NonZeroU64>,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            warn_threshold: Bytes::from_u64(50 * MIB),
            detail_every: NonZeroU64::new(10),
        }
    }
}

impl MonitorSettings {
    /// Converts a threshold in MiB (possibly fractional) to the byte threshold. The byte count
    /// is floored: for whole-byte growth `g`, `g > floor(t)` is exactly `g > t`.
    pub fn threshold_from_mib(mib: f64) -> Bytes {
        let bytes = (mib * MIB as f64).floor();
        if bytes >= i64::MAX as f64 {
            Bytes(i64::MAX)
        } else if bytes.is_nan() || bytes < 0.0 {
            Bytes(0)
        } else {
            Bytes(bytes as i64)
        }
    }
}

/// A sample line's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleEvent {
    /// When the reading was taken.
    pub at: Stamp,
    /// 1-based count of successful samples so far (failed samples are not counted).
    pub index: u64,
    /// The reading itself.
    pub reading: Reading,
    /// 初期比: RSS minus the first sample's RSS.
    pub growth: Bytes,
    /// ピーク: the largest RSS among the sample lines so far, this one included.
    pub peak: u64,
}

/// The growth warning written right after a sample line whose growth passed the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarningEvent {
    /// The growth that passed the threshold (printed unsigned, two decimals).
    pub growth: Bytes,
}

/// A sample that could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEvent {
    /// When it was attempted.
    pub at: Stamp,
    /// Why it failed.
    pub error: SampleError,
}

/// Everything one successful sample produces, without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleOutcome {
    /// The sample line.
    pub sample: SampleEvent,
    /// The warning, when growth is strictly above the threshold.
    pub warning: Option<WarningEvent>,
    /// Whether this counted sample is due a detail block.
    pub detail_due: bool,
}

impl SampleOutcome {
    /// The outcome as events, in the order the log writes them: sample, warning, detail.
    pub fn events(&self) -> impl Iterator<Item = Event> {
        let detail = self.detail_due.then_some(Event::DetailDue {
            index: self.sample.index,
        });
        [
            Some(Event::Sample(self.sample)),
            self.warning.map(Event::Warning),
            detail,
        ]
        .into_iter()
        .flatten()
    }
}

/// A typed event of the monitor, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A sample line.
    Sample(SampleEvent),
    /// A growth warning.
    Warning(WarningEvent),
    /// A detail block is due now (the caller asks its [`crate::DetailSource`]).
    DetailDue {
        /// The counted sample it follows.
        index: u64,
    },
    /// A sample failed.
    SampleFailed(FailedEvent),
}

/// The footer's numbers. A figure is `None` when nothing measured it (the footer prints `-`):
/// the footer is always written, and never with an invented value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// When monitoring stopped; `elapsed` is the run time (実行時間).
    pub at: Stamp,
    /// 初期メモリ: the first sample's RSS; `None` when no sample line was written.
    pub initial: Option<u64>,
    /// 最終メモリ: the fresh final sample's RSS, or the last good one; `None` when there is
    /// neither.
    pub last: Option<u64>,
    /// ピークメモリ: the peak with the final value folded in, so never below `last`; `None`
    /// exactly when `last` is.
    pub peak: Option<u64>,
    /// メモリ増加量: `last - initial`, from the same sample as `last`; `None` when either is.
    pub growth: Option<Bytes>,
    /// Whether `last` is a fresh sample (false: the last good sample stands in, and the log
    /// says so before the footer, or there is no last value at all).
    pub fresh: bool,
}

impl Summary {
    /// Whether the last good sample stands in for a fresh one (the log says so before the
    /// footer).
    pub fn last_good_used(&self) -> bool {
        !self.fresh && self.last.is_some()
    }
}

/// The monitor's state machine. Feed it readings in time order; it never looks at a clock.
#[derive(Debug, Clone)]
pub struct Monitor {
    settings: MonitorSettings,
    baseline: Option<u64>,
    peak: u64,
    counted: u64,
    warnings: u64,
    failures: u64,
    last: Option<Reading>,
}

impl Monitor {
    /// A monitor that has seen nothing yet.
    pub fn new(settings: MonitorSettings) -> Self {
        Monitor {
            settings,
            baseline: None,
            peak: 0,
            counted: 0,
            warnings: 0,
            failures: 0,
            last: None,
        }
    }

    /// Takes a successful reading. The first one becomes the baseline.
    pub fn on_sample(&mut self, at: Stamp, reading: Reading) -> SampleOutcome {
        let baseline = *self.baseline.get_or_insert(reading.rss);
        self.peak = self.peak.max(reading.rss);
        self.counted += 1;
        self.last = Some(reading);
        let growth = Bytes::from_u64(reading.rss) - Bytes::from_u64(baseline);
        let warning = (growth > self.settings.warn_threshold).then_some(WarningEvent { growth });
        if warning.is_some() {
            self.warnings += 1;
        }
        let detail_due = self
            .settings
            .detail_every
            .is_some_and(|n| self.counted % n.get() == 0);
        SampleOutcome {
            sample: SampleEvent {
                at,
                index: self.counted,
                reading,
                growth,
                peak: self.peak,
            },
            warning,
            detail_due,
        }
    }

    /// Records a failed sample. It writes a line but does not count toward the detail policy.
    pub fn on_failure(&mut self, at: Stamp, error: SampleError) -> FailedEvent {
        self.failures += 1;
        FailedEvent { at, error }
    }

    /// The footer's numbers at stop. `fresh` is the final sample taken at stop, when one could
    /// be taken; without it the last good sample stands in. A run that ends before its first
    /// sample (a command that exits during the start-up delay) still gets a footer: its figures
    /// are `None` where nothing was measured.
    pub fn finish(&self, at: Stamp, fresh: Option<Reading>) -> Summary {
        let (last, is_fresh) = match (fresh, self.last) {
            (Some(r), _) => (Some(r.rss), true),
            (None, Some(r)) => (Some(r.rss), false),
            (None, None) => (None, false),
        };
        let initial = self.baseline;
        // Before the first sample line the peak of the lines is undefined: the fresh value alone.
        let peak = last.map(|l| {
            if self.counted == 0 {
                l
            } else {
                self.peak.max(l)
            }
        });
        let growth = match (last, initial) {
            (Some(l), Some(i)) => Some(Bytes::from_u64(l) - Bytes::from_u64(i)),
            _ => None,
        };
        Summary {
            at,
            initial,
            last,
            peak,
            growth,
            fresh: is_fresh,
        }
    }

    /// Successful samples so far.
    pub fn samples(&self) -> u64 {
        self.counted
    }

    /// Warnings issued so far.
    pub fn warnings(&self) -> u64 {
        self.warnings
    }

    /// Failed samples so far.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// The last successful reading.
    pub fn last_reading(&self) -> Option<Reading> {
        self.last
    }

    /// The running peak RSS (0 before the first sample).
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// The baseline RSS (the first sample's).
    pub fn baseline(&self) -> Option<u64> {
        self.baseline
    }

    /// The settings in force.
    pub fn settings(&self) -> MonitorSettings {
        self.settings
    }
}
