//! Growing allocation sites: "the line that leaks", from the tracemalloc detail blocks.
//!
//! Every 10th sample the log may carry a tracemalloc block with the top 10 allocation sites of
//! the watched Python process (one block per process, `PID N` in its first line, when several are
//! watched). Per run, each site `(pid, location)` gets its own [`TrendEstimator`] fed with
//! (経過 of the sample line the block follows, site size in bytes): the same robust Theil–Sen
//! slope as the RSS trend, so a GC drop or a one-off spike does not make a site "grow".
//!
//! Memory stays bounded on long logs: at most [`MAX_SITES`] sites are tracked per run; a new site
//! when the table is full replaces the tracked site with the smallest last size, and only when it
//! is larger (so a leak that climbs into the top 10 is picked up, churn of small sites is not).
//! A site missing from a later block gets no point (it fell out of the top 10: its size there is
//! unknown, and a zero would invent a drop). Blocks of other sources (`[smaps]`) are not sites of
//! the program's code and are ignored.

use memmon_core::{TrendEstimator, TrendSettings, MIB};
use memmon_format::SiteLine;
use std::collections::BTreeMap;

/// The most sites tracked per run. Each estimator reserves up to ~32 KiB of bins, so the table
/// stays under ~8 MiB however long the log.
pub const MAX_SITES: usize = 256;
/// Blocks a site must appear in before it can be called growing (two points always fit a line).
pub const MIN_BLOCKS: u64 = 3;
/// A rise (slope × fitted span) of at least this is growth whatever the site's size.
pub const MIN_RISE_BYTES: f64 = MIB as f64;
/// A smaller rise still counts when it is at least this fraction of the site's last size...
pub const MIN_RISE_FRACTION: f64 = 0.2;
/// ...and at least this many bytes: Python's own small caches (a few KiB of interned strings,
/// thread state) grow steadily by percent but are not what anyone is hunting.
pub const MIN_RISE_FLOOR_BYTES: f64 = 64.0 * 1024.0;
/// The most growing sites reported per run.
pub const MAX_REPORTED: usize = 10;
/// Points kept per site for the plot's curve: between this and twice this many, evenly spread
/// over the run (every 2ᵏth block), whatever the log's length.
pub const PLOT_POINTS: usize = 64;

/// A site whose size grows steadily over the run.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowingSite {
    /// The process, when the block named one (several processes watched).
    pub pid: Option<u32>,
    /// `file.py:LINE` as the log prints it.
    pub site: String,
    /// Theil–Sen slope of the site's size, bytes per hour.
    pub slope_bytes_per_hour: f64,
    /// The size in the last block that listed the site, bytes (as printed, so ±5%).
    pub last_size_bytes: f64,
    /// (経過 seconds, bytes) of the blocks that listed it, thinned to at most
    /// 2 × [`PLOT_POINTS`]: the plot draws the site's own curve.
    pub points: Vec<(f64, f64)>,
}

/// One tracked site.
#[derive(Debug)]
struct Track {
    estimator: TrendEstimator,
    last_size: f64,
    points: Thinned<(f64, f64)>,
}

/// Points kept at every `stride`th push; when full, every other one goes and the stride
/// doubles, so they stay evenly spread and bounded.
#[derive(Debug, Clone)]
pub(crate) struct Thinned<T> {
    pub(crate) points: Vec<T>,
    stride: u64,
    seen: u64,
}

impl<T> Thinned<T> {
    pub(crate) fn new() -> Thinned<T> {
        Thinned {
            points: Vec::new(),
            stride: 1,
            seen: 0,
        }
    }

    pub(crate) fn push(&mut self, point: T) {
        if self.seen % self.stride == 0 {
            self.points.push(point);
            if self.points.len() >= 2 * PLOT_POINTS {
                let mut keep = false;
                self.points.retain(|_| {
                    keep = !keep;
                    keep
                });
                self.stride *= 2;
            }
        }
        self.seen += 1;
    }
}

/// Key of a site: the process (`None` for the original's single-process block) and location.
/// A `BTreeMap` keeps eviction and tie order deterministic (same log, same report).
type Key = (Option<u32>, String);

/// The per-run site tracker. Feed it the run's records in order.
#[derive(Debug, Default)]
pub struct SiteTracker {
    sites: BTreeMap<Key, Track>,
    /// 経過 of the last accepted sample; `None` before one or after a sample outside the window
    /// (a block then belongs to a sample the analysis skipped).
    last_elapsed: Option<f64>,
    /// The open tracemalloc block: its process and time.
    block: Option<(Option<u32>, f64)>,
    /// Tracemalloc blocks seen (after an accepted sample).
    blocks: u64,
}

impl SiteTracker {
    /// An accepted sample line: later blocks are at its 経過.
    pub fn sample(&mut self, elapsed_secs: f64) {
        self.last_elapsed = Some(elapsed_secs);
        self.block = None;
    }

    /// A sample outside `--since`/`--until`: its block, if any, is left out too.
    pub fn skipped_sample(&mut self) {
        self.last_elapsed = None;
        self.block = None;
    }

    /// `  [tracemalloc] [PID N ]Current: …`: site lines up to the closing empty line are its.
    pub fn open_block(&mut self, pid: Option<u32>) {
        self.block = self.last_elapsed.map(|t| (pid, t));
        if self.block.is_some() {
            self.blocks += 1;
        }
    }

    /// Any line that cannot be inside a tracemalloc block (the empty line, a smaps block…).
    pub fn close_block(&mut self) {
        self.block = None;
    }

    /// A site line: a point for its site when inside a tracemalloc block.
    pub fn site(&mut self, line: SiteLine) {
        let Some((pid, t)) = self.block else {
            return;
        };
        let size = line.size.bytes();
        let key = (pid, line.location);
        if let Some(track) = self.sites.get_mut(&key) {
            // Refused only for absurd values or time going back (impossible within a run).
            if track.estimator.push(t, size).is_ok() {
                track.last_size = size;
                track.points.push((t, size));
            }
            return;
        }
        if self.sites.len() >= MAX_SITES {
            let smallest = self
                .sites
                .iter()
                .min_by(|a, b| a.1.last_size.total_cmp(&b.1.last_size))
                .filter(|(_, track)| track.last_size < size)
                .map(|(k, _)| k.clone());
            match smallest {
                Some(k) => {
                    self.sites.remove(&k);
                }
                None => return,
            }
        }
        // `online()` samples at most 4,096 slope pairs per fit: with up to 256 sites, an exact
        // fit of 1,024 bins each would cost ~10⁸ slope evaluations at the end of a long run.
        let Ok(mut estimator) = TrendEstimator::new(TrendSettings::online()) else {
            return;
        };
        if estimator.push(t, size).is_ok() {
            let mut points = Thinned::new();
            points.push((t, size));
            self.sites.insert(
                key,
                Track {
                    estimator,
                    last_size: size,
                    points,
                },
            );
        }
    }

    /// Tracemalloc blocks seen in the run.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// The growing sites, fastest first (at most [`MAX_REPORTED`]).
    ///
    /// Growing means: listed in at least [`MIN_BLOCKS`] blocks, a positive slope, and a rise
    /// over the fitted span of at least [`MIN_RISE_BYTES`], or of at least [`MIN_RISE_FRACTION`]
    /// of the last size and [`MIN_RISE_FLOOR_BYTES`].
    pub fn growing(&self) -> Vec<GrowingSite> {
        let mut out: Vec<GrowingSite> = self
            .sites
            .iter()
            .filter(|(_, track)| track.estimator.points() >= MIN_BLOCKS)
            .filter_map(|((pid, site), track)| {
                let e = track.estimator.estimate()?;
                let rise = e.rise_bytes();
                let meaningful = rise >= MIN_RISE_BYTES
                    || (rise >= MIN_RISE_FRACTION * track.last_size
                        && rise >= MIN_RISE_FLOOR_BYTES);
                (e.slope_bytes_per_sec > 0.0 && meaningful).then(|| GrowingSite {
                    pid: *pid,
                    site: site.clone(),
                    slope_bytes_per_hour: e.slope_bytes_per_sec * 3600.0,
                    last_size_bytes: track.last_size,
                    points: track.points.points.clone(),
                })
            })
            .collect();
        // Stable sort over the map's order: ties keep a deterministic order.
        out.sort_by(|a, b| b.slope_bytes_per_hour.total_cmp(&a.slope_bytes_per_hour));
        out.truncate(MAX_REPORTED);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(s: &mut SiteTracker, t: f64, pid: Option<u32>, sites: &[(&str, u64)]) {
        s.sample(t);
        s.open_block(pid);
        for (loc, size) in sites {
            s.site(SiteLine::new(*loc, *size, 1));
        }
        s.close_block();
    }

    #[test]
    fn a_steady_site_grows_and_flat_or_vanishing_ones_do_not() {
        let mut s = SiteTracker::default();
        for k in 0..6u64 {
            let mut sites = vec![("leak.py:4", (k + 1) * MIB), ("flat.py:9", 3 * MIB)];
            if k < 2 {
                // Falls out of the top 10 later: no invented zeros, so no fall either.
                sites.push(("gone.py:1", 2 * MIB));
            }
            block(&mut s, k as f64 * 50.0, None, &sites);
        }
        let g = s.growing();
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].site, "leak.py:4");
        let want = MIB as f64 / 50.0 * 3600.0;
        assert!((g[0].slope_bytes_per_hour - want).abs() < 0.1 * want);
        assert_eq!(s.blocks(), 6);
        // Its curve for the plot: every block's (経過, size).
        let want: Vec<(f64, f64)> = (0..6u64)
            .map(|k| (k as f64 * 50.0, ((k + 1) * MIB) as f64))
            .collect();
        assert_eq!(g[0].points, want);
    }

    #[test]
    fn plot_points_stay_bounded_and_evenly_spread() {
        let mut t = Thinned::new();
        for k in 0..10_000u64 {
            t.push((k as f64, 0.0));
        }
        let xs: Vec<f64> = t.points.iter().map(|p| p.0).collect();
        assert!(
            xs.len() >= PLOT_POINTS && xs.len() < 2 * PLOT_POINTS,
            "{}",
            xs.len()
        );
        assert_eq!(xs[0], 0.0);
        // One stride between every pair, and the last point near the end.
        let stride = xs[1] - xs[0];
        assert!(xs.windows(2).all(|w| w[1] - w[0] == stride), "{xs:?}");
        assert!(10_000.0 - xs[xs.len() - 1] <= stride, "{xs:?}");
    }

    #[test]
    fn sites_are_kept_apart_by_pid_and_blocks_after_skipped_samples_ignored() {
        let mut s = SiteTracker::default();
        for k in 0..4u64 {
            block(
                &mut s,
                k as f64 * 10.0,
                Some(1),
                &[("a.py:1", (k + 1) * MIB)],
            );
            s.open_block(Some(2));
            s.site(SiteLine::new("a.py:1", MIB, 1));
            s.close_block();
        }
        s.skipped_sample();
        s.open_block(Some(1));
        s.site(SiteLine::new("a.py:1", 0, 1));
        let g = s.growing();
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(
            (g[0].pid, g[0].last_size_bytes),
            (Some(1), 4.0 * MIB as f64)
        );
    }

    #[test]
    fn the_table_is_bounded_and_keeps_the_larger_sites() {
        let mut s = SiteTracker::default();
        s.sample(0.0);
        s.open_block(None);
        for i in 0..(MAX_SITES as u64 + 50) {
            s.site(SiteLine::new(format!("f.py:{i}"), 1000 + i, 1));
        }
        assert_eq!(s.sites.len(), MAX_SITES);
        assert!(!s.sites.contains_key(&(None, "f.py:0".to_string())));
        assert!(s
            .sites
            .contains_key(&(None, format!("f.py:{}", MAX_SITES + 49))));
    }
}
