//! Reports: the sampled table resolved to `file.rs:LINE` sites, and the traced heap as a reading.

use super::counters::with_busy;
use super::table::Entry;
use super::{stats, TABLE};
use memmon_core::{Detail, DetailSource, Reading, SampleError, Sampler, Site};
use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};

/// How many sites a report keeps (the log's `[Top 10 …]`).
pub const TOP: usize = 10;

/// The tracking allocator's detail block: traced current and peak heap, and the top sites by
/// estimated live bytes, as `Detail::Traced { pid: None, .. }`.
///
/// Resolving addresses allocates (the `backtrace` crate parses DWARF and keeps its caches); it
/// runs with the thread marked busy, so those allocations are counted as heap but never sampled.
/// Resolved addresses are cached here, so keep one `AllocDetail` for the life of a monitor.
///
/// The line tables name source files as the build machine saw them (`/home/ci/memmon/crates/…`),
/// which says nothing on the device the log comes from: with [`AllocDetail::with_source_root`]
/// files under that root are named relative to it (`crates/memmon-cli/src/selftest.rs:96`), and
/// crates.io dependencies always by their crate directory (`serde-1.0.228/src/de.rs:12`).
#[derive(Debug, Default)]
pub struct AllocDetail {
    /// Return address → the site it names, or `None` when all its frames are internal.
    cache: HashMap<usize, Option<String>>,
    /// Sources under this directory are named relative to it.
    source_root: Option<PathBuf>,
}

impl AllocDetail {
    /// A source with an empty address cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the program's line tables now, resolving `code` (any address of the program's
    /// code, such as a function's). The `backtrace` crate parses and keeps them on its first
    /// resolve: megabytes of heap, and of the executable's debug sections paged in. A monitor
    /// that calls this before its first sample has that cost in its baseline, rather than as a
    /// jump in 初期比 right after the first detail block.
    pub fn warm_up(&mut self, code: usize) {
        let root = self.source_root.clone();
        // Busy: counted as heap, never sampled, as for every report.
        with_busy(|| {
            // +1: `resolve` steps back one byte from what it takes for a return address.
            let _ = resolve(code.wrapping_add(1), root.as_deref());
        });
        // The sites already in the table (a time-zone database read at start, say) come from
        // other compilation units, whose line tables are parsed on their first resolve too.
        let _ = self.top_sites(TOP);
    }

    /// Names source files under `root` (the program's workspace, as built) relative to it.
    pub fn with_source_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.source_root = Some(root.into());
        self
    }

    /// The block now. Errors only when no tracking allocator is installed.
    pub fn report(&mut self) -> Result<Detail, SampleError> {
        if super::mode().is_none() {
            return Err(SampleError::Io {
                path: "tracking allocator".to_owned(),
                message: "not installed as the #[global_allocator]".to_owned(),
            });
        }
        with_busy(|| {
            let heap = stats();
            Ok(Detail::Traced {
                pid: None,
                current: heap.current,
                peak: heap.peak,
                sites: self.top_sites(TOP),
            })
        })
    }

    /// The `n` sites holding the most estimated live bytes, largest first (ties by location).
    pub fn top_sites(&mut self, n: usize) -> Vec<Site> {
        with_busy(|| {
            // Reserve outside the table's lock: allocating under it could deadlock. A few spare
            // slots cover samples taken between the two steps; later ones wait for the next report.
            let mut entries = Vec::with_capacity(TABLE.len() + 64);
            TABLE.snapshot(&mut entries);
            let mut by_site: HashMap<String, (f64, f64)> = HashMap::new();
            for e in &entries {
                let location = self.locate(e);
                let acc = by_site.entry(location).or_insert((0.0, 0.0));
                acc.0 += e.size as f64 * e.weight;
                acc.1 += e.weight;
            }
            let mut sites: Vec<Site> = by_site
                .into_iter()
                .map(|(location, (bytes, count))| Site {
                    location,
                    // `as` saturates; estimates are far below u64::MAX anyway.
                    size: bytes.round() as u64,
                    count: count.round() as u64,
                })
                .collect();
            sites.sort_by(|a, b| {
                b.size
                    .cmp(&a.size)
                    .then_with(|| a.location.cmp(&b.location))
            });
            sites.truncate(n);
            sites
        })
    }

    fn locate(&mut self, e: &Entry) -> String {
        for &ip in e.frames.iter().take(e.depth) {
            let root = self.source_root.as_deref();
            let site = self.cache.entry(ip).or_insert_with(|| resolve(ip, root));
            if let Some(site) = site {
                return site.clone();
            }
        }
        "<unknown>".to_owned()
    }
}

impl DetailSource for AllocDetail {
    fn detail(&mut self) -> Result<Vec<Detail>, SampleError> {
        self.report().map(|d| vec![d])
    }
}

/// The first user frame at a return address (inlined frames innermost first), as `path:LINE`
/// where line tables exist, else the function name; `None` when every frame there is internal.
fn resolve(ip: usize, root: Option<&Path>) -> Option<String> {
    let mut site = None;
    // `resolve` itself steps back from the return address into the call instruction.
    backtrace::resolve(ip as *mut c_void, |symbol| {
        if site.is_some() {
            return;
        }
        let name = symbol.name().map(|n| format!("{n:#}"));
        let file = symbol.filename();
        if is_internal(name.as_deref(), file) {
            return;
        }
        site = match (file, symbol.lineno()) {
            (Some(file), Some(line)) => {
                Some(format!("{}:{line}", shown_path(file, root).display()))
            }
            _ => name,
        };
    });
    site
}

/// A source file as the log names it: relative to `root` when under it; a crates.io
/// dependency from its crate directory (`~/.cargo/registry/src/<index>/CRATE-VERSION/…`, the
/// build machine's home, is left out); anything else as the line tables have it.
fn shown_path<'a>(file: &'a Path, root: Option<&Path>) -> &'a Path {
    if let Some(relative) = root.and_then(|r| file.strip_prefix(r).ok()) {
        if !relative.as_os_str().is_empty() {
            return relative;
        }
    }
    let parts: Vec<_> = file.components().collect();
    let registry = parts
        .windows(2)
        .position(|w| w[0].as_os_str() == "registry" && w[1].as_os_str() == "src");
    match registry {
        // registry/src/<index>/<crate>/…: keep from <crate> on.
        Some(at) if parts.len() > at + 4 => {
            let skip: PathBuf = parts[..at + 3].iter().collect();
            file.strip_prefix(skip).unwrap_or(file)
        }
        _ => file,
    }
}

/// Whether a frame belongs to the machinery between the user's line and the allocator.
fn is_internal(name: Option<&str>, file: Option<&Path>) -> bool {
    if let Some(file) = file.and_then(Path::to_str) {
        // The standard library's sources are remapped to /rustc/<hash>/library/…, its vendored
        // dependencies (hashbrown …) to /rust/deps/….
        const STD_PATHS: [&str; 4] = ["/rustc/", "/rust/deps/", "/library/std/", "/library/alloc/"];
        if STD_PATHS
            .iter()
            .any(|p| file.starts_with(p) || file.contains(p))
        {
            return true;
        }
        if file.contains("/backtrace-0.3") {
            return true;
        }
    }
    if file.is_some_and(is_this_allocator) {
        return true;
    }
    let Some(name) = name else {
        // No symbol and no file: libc, the unwinder, or a stripped frame.
        return file.is_none();
    };
    let path = name.trim_start_matches('<');
    // The in-process monitor thread (memmon-watch's, here before issue #18 moved it) is
    // memmon's own work, not the program's: skipped as it was when it lived in this module.
    const CRATES: [&str; 7] = [
        "std::",
        "core::",
        "alloc::",
        "backtrace::",
        "hashbrown::",
        "memmon_sampler::alloc::",
        "memmon_watch::monitor::",
    ];
    if CRATES.iter().any(|c| path.starts_with(c)) {
        return true;
    }
    // The shims `#[global_allocator]` generates (`__rust_alloc`, `crate::_::__rg_alloc` …).
    let last = name.rsplit("::").next().unwrap_or(name);
    ["__rust_", "__rg_", "__rdl_", "_Unwind"]
        .iter()
        .any(|p| last.starts_with(p))
}

/// Whether `file` is one of this allocator's sources (`memmon-sampler…/src/alloc/…`). Its
/// `record` and `capture` are inlined into `alloc_slow`, and with line tables alone
/// (`debug = "line-tables-only"`, as in memmon's release builds) inlined frames come without a
/// function name: only the file tells them from the program's.
fn is_this_allocator(file: &Path) -> bool {
    let parts: Vec<_> = file.components().map(|c| c.as_os_str()).collect();
    parts.windows(3).any(|w| {
        w[0].to_str()
            .is_some_and(|c| c.starts_with("memmon-sampler"))
            && w[1] == "src"
            && w[2] == "alloc"
    })
}

/// A [`Sampler`] over the traced heap alone: `rss` = live bytes, `vms` = peak, and the system
/// fields 0 (unknown). For programs that want 初期比 and warnings on the heap rather than RSS;
/// memmon-watch's `Monitor` samples real RSS instead.
#[derive(Debug, Default, Clone, Copy)]
pub struct HeapSampler;

impl HeapSampler {
    /// A sampler of the installed tracking allocator.
    pub fn new() -> Self {
        HeapSampler
    }
}

impl Sampler for HeapSampler {
    fn sample(&mut self) -> Result<Reading, SampleError> {
        if super::mode().is_none() {
            return Err(SampleError::Io {
                path: "tracking allocator".to_owned(),
                message: "not installed as the #[global_allocator]".to_owned(),
            });
        }
        let heap = stats();
        Ok(Reading {
            rss: heap.current,
            vms: heap.peak,
            sys_total: 0,
            sys_available: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_paths_are_named_from_the_workspace_or_the_crate() {
        let root = Path::new("/home/ci/memmon");
        let cases = [
            (
                "/home/ci/memmon/crates/memmon-cli/src/selftest.rs",
                Some(root),
                "crates/memmon-cli/src/selftest.rs",
            ),
            // Not under the root, or no root: as the line tables have it.
            ("/srv/other/src/main.rs", Some(root), "/srv/other/src/main.rs"),
            (
                "/home/ci/memmon/crates/memmon-cli/src/selftest.rs",
                None,
                "/home/ci/memmon/crates/memmon-cli/src/selftest.rs",
            ),
            // A prefix of a directory name is not the directory.
            ("/home/ci/memmon2/src/a.rs", Some(root), "/home/ci/memmon2/src/a.rs"),
            (
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde_json-1.0.145/src/de.rs",
                Some(root),
                "serde_json-1.0.145/src/de.rs",
            ),
            ("/root/.cargo/registry/src/x", None, "/root/.cargo/registry/src/x"),
        ];
        for (file, root, want) in cases {
            assert_eq!(shown_path(Path::new(file), root), Path::new(want), "{file}");
        }
    }

    #[test]
    fn internal_frames() {
        let std_file = Path::new("/rustc/abc123/library/alloc/src/vec/mod.rs");
        assert!(is_internal(Some("alloc::vec::from_elem"), Some(std_file)));
        assert!(is_internal(
            Some("<memmon_sampler::alloc::TrackingAllocator as core::alloc::global::GlobalAlloc>::alloc"),
            Some(Path::new("/src/memmon/crates/memmon-sampler/src/alloc/mod.rs")),
        ));
        assert!(is_internal(
            Some("alloc_sites::_::__rg_alloc"),
            Some(Path::new("tests/alloc_sites.rs"))
        ));
        assert!(is_internal(Some("__rust_alloc"), None));
        assert!(is_internal(None, None));
        assert!(!is_internal(
            Some("alloc_sites::fill_big"),
            Some(Path::new("tests/alloc_sites.rs"))
        ));
        assert!(!is_internal(
            Some("<app::Foo as core::clone::Clone>::clone"),
            None
        ));
        assert!(!is_internal(None, Some(Path::new("src/main.rs"))));
        // Inlined frames of this allocator, named by their file alone (line tables only), in
        // the workspace and as a registry dependency.
        for file in [
            "/src/memmon/crates/memmon-sampler/src/alloc/stack.rs",
            "/home/u/.cargo/registry/src/x/memmon-sampler-0.1.0/src/alloc/mod.rs",
        ] {
            assert!(is_internal(None, Some(Path::new(file))), "{file}");
        }
        assert!(!is_internal(
            None,
            Some(Path::new("/src/app/crates/alloc-tools/src/alloc/mod.rs"))
        ));
    }
}
