//! [`LogFormat`]: memmon-core's events turned into records, and writing records to a log.

use crate::numbers::{round_secs_half_even, Elapsed};
use crate::record::{BreakdownLine, ExitKind, IntervalText, Record, SampleLine, SiteLine};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use memmon_core::{
    Breakdown, Detail, FailedEvent, IntervalSpec, SampleEvent, Site, Summary, WarningEvent, MIB,
};
use std::cell::Cell;
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

/// How many sites a detail block lists (`[Top 10 …]`).
pub const TOP_SITES: usize = 10;

/// Turns memmon-core's events into log records, printing times in one time zone.
///
/// This is how a log is written: nothing else in memmon lays out a log line.
#[derive(Debug, Clone)]
pub struct LogFormat {
    tz: TimeZone,
    /// The last time printed: its whole seconds since the epoch and its local civil time. At a
    /// fast interval most samples fall in the second before them, and the zone lookup and civil
    /// conversion were a tenth of a sample's formatting.
    last: Cell<Option<(u64, DateTime)>>,
}

/// The system's zone. With `TZ` unset and `/etc/localtime` a link into a zoneinfo tree (as on
/// Debian and Raspberry Pi OS), the file is read here and named after the link, as jiff names
/// it: `TimeZone::system()` gives the same zone, but first lists the whole zoneinfo tree to look
/// that one name up (a few hundred directory reads at start-up, and ~100 KiB of names kept on
/// the heap for the life of the process). Every other case (`TZ` in any of its forms, a copied
/// `/etc/localtime`, no zone at all) is jiff's.
fn system_zone() -> TimeZone {
    if std::env::var_os("TZ").is_none() {
        if let Some(tz) = linked_zone(Path::new("/etc/localtime")) {
            return tz;
        }
    }
    TimeZone::system()
}

/// The TZif file at `link`, named after the part of the link's target past `zoneinfo/`;
/// `None` when `link` is no such link or its file no valid zone.
fn linked_zone(link: &Path) -> Option<TimeZone> {
    let target = std::fs::read_link(link).ok()?;
    let target = target.to_str()?;
    let name = &target[target.rfind("zoneinfo/")? + "zoneinfo/".len()..];
    let data = std::fs::read(link).ok()?;
    TimeZone::tzif(name, &data).ok()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

impl LogFormat {
    /// Times in the system's zone (`TZ`, else `/etc/localtime`), read by jiff (never through
    /// libc's `localtime`), so it stays right in a multi-threaded process; UTC when no zone can
    /// be found.
    pub fn system() -> LogFormat {
        LogFormat::with_zone(system_zone())
    }

    /// Times in the given zone (tests pin one).
    pub fn with_zone(tz: TimeZone) -> LogFormat {
        LogFormat {
            tz,
            last: Cell::new(None),
        }
    }

    /// The zone times are printed in.
    pub fn zone(&self) -> &TimeZone {
        &self.tz
    }

    /// A wall-clock time as the log prints it: local civil time, sub-seconds dropped (as
    /// Python's `strftime` does). Times outside jiff's range (years ±9999) are clamped.
    pub fn local_time(&self, at: SystemTime) -> DateTime {
        // Sub-seconds are dropped and zone offsets are whole seconds, so a time after the epoch
        // prints as the one before it whenever their whole seconds agree.
        let secs = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs());
        if let (Some(secs), Some((last_secs, last))) = (secs, self.last.get()) {
            if secs == last_secs {
                return last;
            }
        }
        let dt = self.convert(at);
        if let Some(secs) = secs {
            self.last.set(Some((secs, dt)));
        }
        dt
    }

    fn convert(&self, at: SystemTime) -> DateTime {
        let ts = Timestamp::try_from(at).unwrap_or(if at < SystemTime::UNIX_EPOCH {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        });
        let dt = self.tz.to_datetime(ts);
        DateTime::new(
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            0,
        )
        .unwrap_or(dt)
    }

    /// The header: rule, `開始` (or `継続` for a `continuation`, when memmon reopens its log),
    /// PID, interval, rule, then an empty line. `at` is the time printed on the second line.
    pub fn header(
        &self,
        at: SystemTime,
        pid: u32,
        interval: IntervalSpec,
        continuation: bool,
    ) -> Vec<Record> {
        let at = self.local_time(at);
        let opening = if continuation {
            Record::Continue { at }
        } else {
            Record::Start { at }
        };
        vec![
            Record::Rule,
            opening,
            Record::Pid(pid),
            Record::Interval(IntervalText::from_spec(interval)),
            Record::Rule,
            Record::Blank,
        ]
    }

    /// The sample line's numbers.
    pub fn sample_line(&self, event: &SampleEvent) -> SampleLine {
        let r = &event.reading;
        SampleLine {
            at: self.local_time(event.at.wall),
            elapsed_secs: Elapsed::from_duration(event.at.elapsed).0,
            rss_mb: mib(r.rss),
            growth_mb: event.growth.mib(),
            vms_mb: mib(r.vms),
            peak_mb: mib(event.peak),
            sys_percent: r.sys_used_percent(),
            sys_available_mb: mib(r.sys_available),
        }
    }

    /// A sample line.
    pub fn sample(&self, event: &SampleEvent) -> Record {
        Record::Sample(self.sample_line(event))
    }

    /// The growth warning.
    pub fn warning(&self, event: &WarningEvent) -> Record {
        Record::Warning {
            growth_mb: event.growth.mib(),
        }
    }

    /// The failed-sample line; the reason is the error's message.
    pub fn failed(&self, event: &FailedEvent) -> Record {
        Record::SampleFailed {
            reason: event.error.to_string(),
        }
    }

    /// A detail block. Traced and smaps blocks: the first line, `[Top 10 …]`, at most
    /// [`TOP_SITES`] site lines (in the order given), an empty line. A process that did not
    /// answer: its one line and the empty line — no `[Top 10 …]`, since it has no sites, but
    /// still closed like every block, so a reader can always take an empty line as a block's end.
    pub fn detail(&self, detail: &Detail) -> Vec<Record> {
        let (first, sites) = match detail {
            Detail::Traced {
                pid,
                current,
                peak,
                sites,
            } => (
                Record::Tracemalloc {
                    pid: *pid,
                    current_mb: mib(*current),
                    peak_mb: mib(*peak),
                },
                sites,
            ),
            Detail::Smaps {
                anonymous,
                swap,
                threads,
                fds,
                sites,
            } => (
                Record::Smaps {
                    anonymous_mb: mib(*anonymous),
                    swap_mb: mib(*swap),
                    threads: *threads,
                    fds: *fds,
                },
                sites,
            ),
            Detail::NoAnswer { pid, waited } => {
                return vec![
                    Record::NoAnswer {
                        pid: *pid,
                        secs: round_secs_half_even(*waited),
                    },
                    Record::Blank,
                ];
            }
        };
        let mut records = Vec::with_capacity(3 + sites.len().min(TOP_SITES));
        records.push(first);
        records.push(Record::TopHeader);
        records.extend(sites.iter().take(TOP_SITES).map(site));
        records.push(Record::Blank);
        records
    }

    /// The breakdown line of a watched tree: its resident memory by kind and swap in MiB, its
    /// threads and descriptors by kind. One line, not a block: no `[Top 10 …]`, no closing
    /// empty line.
    pub fn breakdown(&self, breakdown: &Breakdown) -> Record {
        Record::Breakdown(BreakdownLine {
            anon_mb: mib(breakdown.anon),
            file_mb: mib(breakdown.file),
            shmem_mb: mib(breakdown.shmem),
            swap_mb: mib(breakdown.swap),
            threads: breakdown.threads,
            fds: breakdown.fds,
        })
    }

    /// The footer: when the last good sample stands in for a fresh one, first the line saying
    /// so; then an empty line, rule, `終了`, run time, initial, final, peak, increase, rule. A
    /// figure nothing measured prints `-`.
    pub fn footer(&self, summary: &Summary) -> Vec<Record> {
        let mut records = Vec::with_capacity(10);
        if summary.last_good_used() {
            records.push(Record::LastGoodUsed);
        }
        records.extend([
            Record::Blank,
            Record::Rule,
            Record::End {
                at: self.local_time(summary.at.wall),
            },
            Record::Runtime {
                secs: round_secs_half_even(summary.at.elapsed),
            },
            Record::Initial {
                mb: summary.initial.map(mib),
            },
            Record::Final {
                mb: summary.last.map(mib),
            },
            Record::Peak {
                mb: summary.peak.map(mib),
            },
            Record::Increase {
                mb: summary.growth.map(|g| g.mib()),
            },
            Record::Rule,
        ]);
        records
    }

    /// `プロセス終了: …`: the watched command ended.
    pub fn process_exit(&self, kind: ExitKind) -> Record {
        Record::ProcessExit(kind)
    }

    /// The OOM-killer warning: `oom_kill` grew by `kills` since the last sample.
    pub fn oom(&self, kills: u64) -> Record {
        Record::Oom { kills }
    }

    /// `⚠️ [memmon] 監視なしで実行します: REASON`, written after a header when memmon runs
    /// the command without monitoring it.
    pub fn unmonitored(&self, reason: &str) -> Record {
        Record::Unmonitored {
            reason: reason.to_owned(),
        }
    }

    /// `count` samples could not be written (written once writing works again).
    pub fn lost_samples(&self, count: u64, reason: &str) -> Record {
        Record::LostSamples {
            count,
            reason: reason.to_owned(),
        }
    }
}

fn site(site: &Site) -> Record {
    Record::Site(SiteLine::new(site.location.clone(), site.size, site.count))
}

/// Writes one record and its `\n` in a single `write_all`, so an unbuffered append-mode file
/// never holds half a line from memmon.
pub fn write_record(w: &mut impl Write, record: &Record) -> io::Result<()> {
    write_records(w, std::slice::from_ref(record))
}

/// Writes records, each followed by `\n`, in a single `write_all` (a header, a detail block or a
/// footer lands whole or, on error, as far as the writer got).
pub fn write_records(w: &mut impl Write, records: &[Record]) -> io::Result<()> {
    let mut text = Vec::new();
    append_records(&mut text, records);
    w.write_all(&text)
}

/// Appends records, each followed by `\n`, to `buf`: for a caller that keeps one buffer for
/// all its writes (the log, at every sample) and so allocates nothing once it is large enough.
pub fn append_records(buf: &mut Vec<u8>, records: &[Record]) {
    // A sample line is ~170 bytes of UTF-8: room for all at once, not a regrowth mid-line.
    buf.reserve(records.len() * 192);
    for record in records {
        record.put(buf);
        buf.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    proptest! {
        #[test]
        fn the_kept_last_time_prints_as_a_fresh_conversion(
            first in 0u64..8_000_000_000,
            steps in prop::collection::vec(0u64..3_000_000_000, 1..20),
            zone in prop_oneof![Just("UTC"), Just("Asia/Tokyo"), Just("America/New_York"), Just("Europe/London")],
        ) {
            let Ok(tz) = TimeZone::get(zone) else { return Ok(()) };
            let format = LogFormat::with_zone(tz);
            let mut at = SystemTime::UNIX_EPOCH + Duration::from_millis(first);
            for step in steps {
                // Nanosecond steps: many within one second, some across a second's edge.
                at += Duration::from_nanos(step);
                prop_assert_eq!(format.local_time(at), format.convert(at));
            }
        }
    }

    #[test]
    fn a_link_into_zoneinfo_gives_the_zone_jiff_finds_by_name() {
        let file = Path::new("/usr/share/zoneinfo/Asia/Tokyo");
        if !file.exists() {
            return; // no tzdata on this machine: nothing to compare with
        }
        let dir = std::env::temp_dir().join(format!("memmon-zone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("localtime");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(file, &link).unwrap();
        let zone = linked_zone(&link).unwrap();
        let named = TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(zone.iana_name(), Some("Asia/Tokyo"));
        for secs in [0, 1_000_000_000, 1_800_000_000, -2_000_000_000] {
            let ts = Timestamp::from_second(secs).unwrap();
            assert_eq!(zone.to_offset(ts), named.to_offset(ts), "at {ts}");
        }
        // A plain file (a copied /etc/localtime) is left to jiff.
        let copy = dir.join("copy");
        std::fs::copy(file, &copy).unwrap();
        assert!(linked_zone(&copy).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
