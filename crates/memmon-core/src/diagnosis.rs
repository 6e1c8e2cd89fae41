//! The vocabulary of issue #19's attribution: which part of a process's memory (or of what it
//! holds) carries the growth, and which cause that points to. The decision itself
//! (`attribute`) and the guide's names and remedies live beside these types; the labels are
//! stable, since JSON output, Prometheus series and alert rules carry them.

use crate::{Lang, MIB};

/// A part of what a watched tree is made of, whose slope can carry a leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// Python objects: tracemalloc's traced bytes (less its own memory).
    PythonObjects,
    /// Anonymous memory that Python's traced bytes do not explain (C allocator, extensions).
    Native,
    /// Anonymous resident memory, when Python's bytes are not known.
    Anon,
    /// File-backed resident memory.
    FileBacked,
    /// Shared resident memory.
    Shared,
    /// Swapped-out memory.
    Swap,
    /// Threads.
    Threads,
    /// Socket descriptors.
    Sockets,
    /// Regular-file descriptors.
    Files,
    /// Pipe descriptors.
    Pipes,
    /// Other descriptors.
    OtherFds,
}

impl Part {
    /// Every part, in the order reports list them.
    pub const ALL: [Part; 11] = [
        Part::PythonObjects,
        Part::Native,
        Part::Anon,
        Part::FileBacked,
        Part::Shared,
        Part::Swap,
        Part::Threads,
        Part::Sockets,
        Part::Files,
        Part::Pipes,
        Part::OtherFds,
    ];

    /// The stable label (JSON, Prometheus `part=`).
    pub fn label(self) -> &'static str {
        match self {
            Part::PythonObjects => "python_objects",
            Part::Native => "native",
            Part::Anon => "anon",
            Part::FileBacked => "file_backed",
            Part::Shared => "shared",
            Part::Swap => "swap",
            Part::Threads => "threads",
            Part::Sockets => "sockets",
            Part::Files => "files",
            Part::Pipes => "pipes",
            Part::OtherFds => "other_fds",
        }
    }

    /// The part's name in reports and the plot's legend.
    pub fn name(self, lang: Lang) -> &'static str {
        match self {
            Part::PythonObjects => lang.pick("Python のオブジェクト", "Python objects"),
            Part::Native => lang.pick("ネイティブメモリ", "native memory"),
            Part::Anon => lang.pick("匿名メモリ", "anonymous memory"),
            Part::FileBacked => lang.pick("ファイルのメモリ", "file-backed memory"),
            Part::Shared => lang.pick("共有メモリ", "shared memory"),
            Part::Swap => lang.pick("スワップ", "swap"),
            Part::Threads => lang.pick("スレッド", "threads"),
            Part::Sockets => lang.pick("ソケット", "sockets"),
            Part::Files => lang.pick("ファイルディスクリプタ", "file descriptors"),
            Part::Pipes => lang.pick("パイプ", "pipes"),
            Part::OtherFds => lang.pick("その他のディスクリプタ", "other descriptors"),
        }
    }

    /// Whether the part is counted in bytes (the others are counts).
    pub fn is_bytes(self) -> bool {
        matches!(
            self,
            Part::PythonObjects
                | Part::Native
                | Part::Anon
                | Part::FileBacked
                | Part::Shared
                | Part::Swap
        )
    }
}

/// Why a process grows, as far as its parts tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    /// The guide's cause 1: objects piling up (Python's traced bytes grow).
    ObjectsKept,
    /// The guide's cause 2: threads that never end.
    ThreadsNeverEnd,
    /// The guide's cause 3: connections (sockets, database files) never closed.
    ConnectionsNotClosed,
    /// Native memory the C allocator keeps but could return (`malloc_trim` gave it back).
    NativeFragmentation,
    /// Native memory really held, or kept where `malloc_trim` cannot reach.
    NativeHeld,
    /// Native memory grows; not yet probed.
    Native,
    /// Anonymous memory grows; Python's share is not known (no tracing).
    Anon,
    /// Other descriptors pile up (pipes, eventfds…).
    DescriptorsNotClosed,
    /// File-backed or shared memory grows (mapped files, tmpfs, shared memory).
    FileOrShared,
    /// Swap grows.
    Swap,
    /// Nothing grows (or nothing can be said).
    None,
}

impl Cause {
    /// Every cause.
    pub const ALL: [Cause; 11] = [
        Cause::ObjectsKept,
        Cause::ThreadsNeverEnd,
        Cause::ConnectionsNotClosed,
        Cause::NativeFragmentation,
        Cause::NativeHeld,
        Cause::Native,
        Cause::Anon,
        Cause::DescriptorsNotClosed,
        Cause::FileOrShared,
        Cause::Swap,
        Cause::None,
    ];

    /// The stable label (JSON, Prometheus `cause=`).
    pub fn label(self) -> &'static str {
        match self {
            Cause::ObjectsKept => "objects_kept",
            Cause::ThreadsNeverEnd => "threads_never_end",
            Cause::ConnectionsNotClosed => "connections_not_closed",
            Cause::NativeFragmentation => "native_fragmentation",
            Cause::NativeHeld => "native_held",
            Cause::Native => "native",
            Cause::Anon => "anon",
            Cause::DescriptorsNotClosed => "descriptors_not_closed",
            Cause::FileOrShared => "file_or_shared",
            Cause::Swap => "swap",
            Cause::None => "none",
        }
    }
}

/// What the `malloc_trim(0)` probe measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrimOutcome {
    /// Resident memory dropped: the C allocator kept free memory it could return
    /// (fragmentation).
    Returned,
    /// No drop worth the name: memory really held, or kept where `malloc_trim` cannot reach
    /// (pymalloc's arenas, another allocator preloaded).
    Unchanged,
    /// No process could call it (no glibc `malloc_trim`).
    Unavailable,
}

impl Cause {
    /// The cause's name: the guide's own words (`既知のメモリリーク原因`) for its three causes,
    /// memmon's for the others.
    pub fn name(self, lang: Lang) -> &'static str {
        match self {
            Cause::ObjectsKept => lang.pick(
                "カード読み取りループでのオブジェクト蓄積",
                "objects piling up in the card-reading loop",
            ),
            Cause::ThreadsNeverEnd => lang.pick("スレッドの未解放", "threads that never end"),
            Cause::ConnectionsNotClosed => lang.pick(
                "データベース接続のリーク",
                "database connections never closed",
            ),
            Cause::NativeFragmentation => lang.pick(
                "ネイティブメモリの断片化 (C のアロケータが解放済みのメモリを保持)",
                "native memory fragmentation (the C allocator keeps freed memory)",
            ),
            Cause::NativeHeld => lang.pick(
                "ネイティブメモリの保持 (C 拡張のリーク、または malloc_trim の届かない所)",
                "native memory held (a C extension leaks, or memory malloc_trim cannot reach)",
            ),
            Cause::Native => lang.pick(
                "ネイティブメモリの増加 (Python のオブジェクトでは説明できない増加)",
                "native memory grows (growth Python's objects do not explain)",
            ),
            Cause::Anon => lang.pick(
                "匿名メモリの増加 (Python の内訳は不明)",
                "anonymous memory grows (Python's share unknown)",
            ),
            Cause::DescriptorsNotClosed => lang.pick(
                "ファイルディスクリプタの未解放 (パイプなど)",
                "descriptors never closed (pipes and others)",
            ),
            Cause::FileOrShared => lang.pick(
                "ファイル・共有メモリの増加",
                "file-backed or shared memory grows",
            ),
            Cause::Swap => lang.pick("スワップの増加", "swap grows"),
            Cause::None => lang.pick("増加なし", "nothing grows"),
        }
    }

    /// What to do about it: the guide's `対策` for its three causes, word for word (its items
    /// joined by `、`), `MALLOC_ARENA_MAX=2` or a periodic `malloc_trim` for fragmentation, the
    /// guide's step 2 when Python's share is unknown; `None` where there is nothing to do.
    pub fn remedy(self, lang: Lang) -> Option<&'static str> {
        Some(match self {
            Cause::ObjectsKept => lang.pick(
                "カード読み取り後に明示的にオブジェクトを削除、ガベージコレクションを定期実行",
                "delete objects explicitly after each card read; run garbage collection periodically",
            ),
            Cause::ThreadsNeverEnd => lang.pick(
                "daemon=True を設定、スレッドの適切な終了処理",
                "set daemon=True; end threads properly",
            ),
            Cause::ConnectionsNotClosed => lang.pick(
                "with 文を使用、明示的に conn.close()",
                "use a with statement; call conn.close() explicitly",
            ),
            Cause::NativeFragmentation => lang.pick(
                "環境変数 MALLOC_ARENA_MAX=2 を設定、または定期的に malloc_trim(0) を実行",
                "set the environment variable MALLOC_ARENA_MAX=2, or call malloc_trim(0) periodically",
            ),
            Cause::NativeHeld => lang.pick(
                "C 拡張・ネイティブライブラリが確保したまま解放しないメモリ (閉じられないハンドル、バッファ) を確認",
                "look for memory a C extension or native library allocates and never frees (handles never closed, buffers)",
            ),
            Cause::Native => lang.pick(
                "malloc_trim の結果で断片化か保持かを確認",
                "let the malloc_trim probe tell fragmentation from memory held",
            ),
            Cause::Anon => lang.pick(
                "tracemalloc有効化して詳細調査",
                "enable tracemalloc to investigate in detail",
            ),
            Cause::DescriptorsNotClosed => lang.pick(
                "使い終わったパイプ・ファイルを明示的に close()",
                "close pipes and files explicitly once done",
            ),
            Cause::FileOrShared => lang.pick(
                "マップしたファイル・tmpfs・共有メモリの使い方を確認",
                "check mapped files, tmpfs and shared memory",
            ),
            Cause::Swap => lang.pick(
                "空きメモリ不足: 他の部分の増加を確認",
                "memory is short: look at what else grows",
            ),
            Cause::None => return None,
        })
    }
}

/// The smallest growth of a byte part that can carry a leak: 1 MiB per hour (in bytes per
/// second). Below it is allocator jitter over any span the verdict would call a leak (its
/// smallest rise is 2 MiB), and a part this slow cannot be what fills a Pi's memory.
pub const MIN_BYTES_PER_SEC: f64 = MIB as f64 / 3600.0;
/// The smallest growth of threads that counts: one thread per hour (per second). A client
/// that does not leak them keeps a fixed pool; one more every hour is already 24 a day.
pub const MIN_THREADS_PER_SEC: f64 = 1.0 / 3600.0;
/// The smallest growth of descriptors (of one kind) that counts: one per hour (per second).
pub const MIN_FDS_PER_SEC: f64 = 1.0 / 3600.0;

/// The slopes of a watched tree's parts over one span, per second (bytes for the byte parts,
/// counts for threads and descriptors), and the slope of its RSS over the same span. A part
/// not measured (no breakdown line, no tracemalloc figures) is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PartSlopes {
    /// RSS, bytes per second.
    pub rss: f64,
    slopes: [Option<f64>; Part::ALL.len()],
}

impl PartSlopes {
    /// No part measured; the RSS slope given.
    pub fn new(rss_bytes_per_sec: f64) -> PartSlopes {
        PartSlopes {
            rss: rss_bytes_per_sec,
            slopes: [None; Part::ALL.len()],
        }
    }

    fn index(part: Part) -> usize {
        Part::ALL.iter().position(|p| *p == part).unwrap_or(0)
    }

    /// The slope of `part`, per second, when measured.
    pub fn get(&self, part: Part) -> Option<f64> {
        self.slopes[Self::index(part)]
    }

    /// Sets (or clears) the slope of `part`. A non-finite slope is not a measurement: cleared.
    pub fn set(&mut self, part: Part, slope: Option<f64>) {
        self.slopes[Self::index(part)] = slope.filter(|s| s.is_finite());
    }

    /// `self` with `part`'s slope set.
    pub fn with(mut self, part: Part, slope: f64) -> PartSlopes {
        self.set(part, Some(slope));
        self
    }

    /// The measured parts and their slopes, in [`Part::ALL`]'s order.
    pub fn measured(&self) -> impl Iterator<Item = (Part, f64)> + '_ {
        Part::ALL
            .iter()
            .zip(self.slopes)
            .filter_map(|(p, s)| s.map(|s| (*p, s)))
    }

    /// Whether anything besides the RSS was measured.
    pub fn any(&self) -> bool {
        self.slopes.iter().any(Option::is_some)
    }

    /// `part`'s growth counts: measured, and at least its minimum rate.
    fn grows(&self, part: Part) -> Option<f64> {
        let min = match part {
            Part::Threads => MIN_THREADS_PER_SEC,
            Part::Sockets | Part::Files | Part::Pipes | Part::OtherFds => MIN_FDS_PER_SEC,
            _ => MIN_BYTES_PER_SEC,
        };
        self.get(part).filter(|s| *s >= min)
    }
}

/// Which part carries the growth, and the cause it points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Attribution {
    /// The part; meaningless (`Part::Anon`) when `cause` is [`Cause::None`].
    pub part: Part,
    /// The cause.
    pub cause: Cause,
}

impl Attribution {
    /// Nothing grows.
    pub const NONE: Attribution = Attribution {
        part: Part::Anon,
        cause: Cause::None,
    };
}

/// Decides which part carries the growth (pure: used offline by `memmon analyze` and live by
/// the watching loop).
///
/// 1. Held resources first, each at its minimum rate ([`MIN_THREADS_PER_SEC`],
///    [`MIN_FDS_PER_SEC`]): threads ([`Cause::ThreadsNeverEnd`]: each holds a stack and what
///    it references, so the memory follows), then sockets and regular files
///    ([`Cause::ConnectionsNotClosed`]: a database connection holds a socket, an sqlite one a
///    file), then pipes and other descriptors ([`Cause::DescriptorsNotClosed`]). A resource
///    that should stay flat and piles up is the cause whatever the bytes do.
/// 2. Else the byte part with the largest slope (the largest share of the RSS growth) of at
///    least [`MIN_BYTES_PER_SEC`]: when Python's figures are known, Python objects
///    ([`Cause::ObjectsKept`]) against native memory, whose cause the trim probe names
///    (`Returned` → [`Cause::NativeFragmentation`], `Unchanged` → [`Cause::NativeHeld`],
///    not probed or unavailable → [`Cause::Native`]); else anonymous memory as a whole
///    ([`Cause::Anon`]). File-backed and shared memory ([`Cause::FileOrShared`]) and swap
///    ([`Cause::Swap`]) compete with them.
/// 3. Else nothing grows: [`Attribution::NONE`].
///
/// Ties go to the earlier part in [`Part::ALL`]. A cause is only named for a part whose slope
/// is positive, and scaling every slope by a factor keeps the decision as long as no part
/// crosses its minimum rate.
pub fn attribute(slopes: &PartSlopes, trim: Option<TrimOutcome>) -> Attribution {
    let held = [
        (Part::Threads, Cause::ThreadsNeverEnd),
        (Part::Sockets, Cause::ConnectionsNotClosed),
        (Part::Files, Cause::ConnectionsNotClosed),
        (Part::Pipes, Cause::DescriptorsNotClosed),
        (Part::OtherFds, Cause::DescriptorsNotClosed),
    ];
    if let Some((part, cause)) = held.iter().find(|(p, _)| slopes.grows(*p).is_some()) {
        return Attribution {
            part: *part,
            cause: *cause,
        };
    }
    let python_known =
        slopes.get(Part::PythonObjects).is_some() && slopes.get(Part::Native).is_some();
    let anon_parts: &[Part] = if python_known {
        &[Part::PythonObjects, Part::Native]
    } else {
        &[Part::Anon]
    };
    let mut best: Option<(Part, f64)> = None;
    for part in anon_parts
        .iter()
        .chain(&[Part::FileBacked, Part::Shared, Part::Swap])
    {
        if let Some(s) = slopes.grows(*part) {
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((*part, s));
            }
        }
    }
    let Some((part, _)) = best else {
        return Attribution::NONE;
    };
    let cause = match part {
        Part::PythonObjects => Cause::ObjectsKept,
        Part::Native => match trim {
            Some(TrimOutcome::Returned) => Cause::NativeFragmentation,
            Some(TrimOutcome::Unchanged) => Cause::NativeHeld,
            Some(TrimOutcome::Unavailable) | None => Cause::Native,
        },
        Part::Anon => Cause::Anon,
        Part::FileBacked | Part::Shared => Cause::FileOrShared,
        _ => Cause::Swap,
    };
    Attribution { part, cause }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_snake_case() {
        for l in Part::ALL
            .iter()
            .map(|p| p.label())
            .chain(Cause::ALL.iter().map(|c| c.label()))
        {
            assert!(l.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{l}");
        }
        let parts: std::collections::BTreeSet<_> = Part::ALL.iter().map(|p| p.label()).collect();
        let causes: std::collections::BTreeSet<_> = Cause::ALL.iter().map(|c| c.label()).collect();
        assert_eq!(parts.len(), Part::ALL.len());
        assert_eq!(causes.len(), Cause::ALL.len());
    }
}

#[cfg(test)]
mod attribute_tests {
    use super::*;
    use proptest::prelude::*;

    /// MiB per hour, in bytes per second.
    fn mb_h(x: f64) -> f64 {
        x * MIB as f64 / 3600.0
    }

    /// Per hour, in per second.
    fn per_h(x: f64) -> f64 {
        x / 3600.0
    }

    /// A breakdown's slopes, all flat: anon, file, shared, swap, threads, fds.
    fn flat(rss: f64) -> PartSlopes {
        let mut s = PartSlopes::new(rss);
        for p in [
            Part::Anon,
            Part::FileBacked,
            Part::Shared,
            Part::Swap,
            Part::Threads,
            Part::Sockets,
            Part::Files,
            Part::Pipes,
            Part::OtherFds,
        ] {
            s.set(p, Some(0.0));
        }
        s
    }

    fn with_python(s: PartSlopes, python: f64, native: f64) -> PartSlopes {
        s.with(Part::PythonObjects, python)
            .with(Part::Native, native)
    }

    #[test]
    fn the_guides_causes_from_literal_slopes() {
        let objects = with_python(
            flat(mb_h(6.0)).with(Part::Anon, mb_h(6.0)),
            mb_h(5.5),
            mb_h(0.5),
        );
        assert_eq!(
            attribute(&objects, None),
            Attribution {
                part: Part::PythonObjects,
                cause: Cause::ObjectsKept
            }
        );
        let threads = flat(mb_h(2.0))
            .with(Part::Anon, mb_h(2.0))
            .with(Part::Threads, per_h(30.0));
        assert_eq!(
            attribute(&threads, None),
            Attribution {
                part: Part::Threads,
                cause: Cause::ThreadsNeverEnd
            }
        );
        let sockets = flat(mb_h(0.5)).with(Part::Sockets, per_h(12.0));
        assert_eq!(attribute(&sockets, None).cause, Cause::ConnectionsNotClosed);
        let sqlite = flat(mb_h(0.5)).with(Part::Files, per_h(2.0));
        assert_eq!(
            attribute(&sqlite, None),
            Attribution {
                part: Part::Files,
                cause: Cause::ConnectionsNotClosed
            }
        );
    }

    #[test]
    fn native_growth_is_named_by_the_trim_probe() {
        let native = with_python(
            flat(mb_h(20.0)).with(Part::Anon, mb_h(20.0)),
            mb_h(0.1),
            mb_h(19.9),
        );
        let cause = |t| attribute(&native, t);
        assert_eq!(
            cause(Some(TrimOutcome::Returned)).cause,
            Cause::NativeFragmentation
        );
        assert_eq!(cause(Some(TrimOutcome::Unchanged)).cause, Cause::NativeHeld);
        assert_eq!(cause(Some(TrimOutcome::Unavailable)).cause, Cause::Native);
        assert_eq!(cause(None).cause, Cause::Native);
        assert_eq!(cause(None).part, Part::Native);
        // Without Python's figures the growth is anonymous memory's, whatever the probe said.
        let anon = flat(mb_h(20.0)).with(Part::Anon, mb_h(20.0));
        assert_eq!(
            attribute(&anon, Some(TrimOutcome::Returned)),
            Attribution {
                part: Part::Anon,
                cause: Cause::Anon
            }
        );
    }

    #[test]
    fn minimum_rates_are_inclusive_and_below_them_nothing_grows() {
        assert_eq!(attribute(&flat(0.0), None), Attribution::NONE);
        assert_eq!(
            attribute(&PartSlopes::new(mb_h(50.0)), None),
            Attribution::NONE
        );
        let slow = flat(mb_h(0.9))
            .with(Part::Anon, mb_h(0.9))
            .with(Part::Threads, per_h(0.9))
            .with(Part::Sockets, per_h(0.5));
        assert_eq!(attribute(&slow, None), Attribution::NONE);
        let at_min = flat(0.0).with(Part::Threads, MIN_THREADS_PER_SEC);
        assert_eq!(attribute(&at_min, None).cause, Cause::ThreadsNeverEnd);
        let file = flat(mb_h(3.0))
            .with(Part::FileBacked, mb_h(3.0))
            .with(Part::Anon, mb_h(1.0));
        assert_eq!(attribute(&file, None).cause, Cause::FileOrShared);
        let swap = flat(mb_h(-4.0)).with(Part::Swap, mb_h(4.0));
        assert_eq!(attribute(&swap, None).cause, Cause::Swap);
        let pipes = flat(0.0).with(Part::Pipes, per_h(5.0));
        assert_eq!(attribute(&pipes, None).cause, Cause::DescriptorsNotClosed);
        // NaN is no measurement.
        let nan = flat(0.0).with(Part::Threads, f64::NAN);
        assert_eq!(nan.get(Part::Threads), None);
    }

    #[test]
    fn names_and_remedies_follow_the_guide() {
        use crate::Lang::{En, Ja};
        assert_eq!(
            Cause::ObjectsKept.name(Ja),
            "カード読み取りループでのオブジェクト蓄積"
        );
        assert_eq!(Cause::ThreadsNeverEnd.name(Ja), "スレッドの未解放");
        assert_eq!(
            Cause::ConnectionsNotClosed.name(Ja),
            "データベース接続のリーク"
        );
        assert_eq!(
            Cause::ObjectsKept.remedy(Ja),
            Some("カード読み取り後に明示的にオブジェクトを削除、ガベージコレクションを定期実行")
        );
        assert_eq!(
            Cause::ThreadsNeverEnd.remedy(Ja),
            Some("daemon=True を設定、スレッドの適切な終了処理")
        );
        assert_eq!(
            Cause::ConnectionsNotClosed.remedy(Ja),
            Some("with 文を使用、明示的に conn.close()")
        );
        for lang in [Ja, En] {
            let r = Cause::NativeFragmentation.remedy(lang).unwrap_or_default();
            assert!(
                r.contains("MALLOC_ARENA_MAX=2") && r.contains("malloc_trim"),
                "{r}"
            );
        }
        assert_eq!(Cause::None.remedy(En), None);
        for c in Cause::ALL {
            assert!(!c.name(Ja).is_empty() && c.name(En).is_ascii(), "{c:?}");
            assert_eq!(c.remedy(Ja).is_some(), c.remedy(En).is_some(), "{c:?}");
        }
    }

    /// A slope that is either not growing (≤ 0) or above every minimum rate (the largest is
    /// [`MIN_BYTES_PER_SEC`], ~291), so scaling
    /// by a factor ≥ 1 crosses no threshold.
    fn slope() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            (-1e6f64..=0.0).prop_map(Some),
            (1e3f64..1e6).prop_map(Some),
        ]
    }

    fn slopes() -> impl Strategy<Value = PartSlopes> {
        (
            proptest::collection::vec(slope(), Part::ALL.len()),
            -1e6f64..1e6,
        )
            .prop_map(|(v, rss)| {
                let mut s = PartSlopes::new(rss);
                for (p, x) in Part::ALL.iter().zip(v) {
                    s.set(*p, x);
                }
                s
            })
    }

    fn trim() -> impl Strategy<Value = Option<TrimOutcome>> {
        prop_oneof![
            Just(None),
            Just(Some(TrimOutcome::Returned)),
            Just(Some(TrimOutcome::Unchanged)),
            Just(Some(TrimOutcome::Unavailable)),
        ]
    }

    proptest! {
        #[test]
        fn a_cause_is_only_named_for_a_growing_part(s in slopes(), t in trim()) {
            let a = attribute(&s, t);
            if a.cause != Cause::None {
                prop_assert!(s.get(a.part).is_some_and(|x| x > 0.0), "{a:?} {s:?}");
            }
        }

        #[test]
        fn no_growth_is_no_cause(s in slopes(), t in trim()) {
            let mut flat = s;
            for (p, x) in s.measured() {
                flat.set(p, Some(x.min(0.0)));
            }
            prop_assert_eq!(attribute(&flat, t), Attribution::NONE);
        }

        #[test]
        fn scaling_keeps_the_cause(s in slopes(), t in trim(), k in 1.0f64..1e3) {
            let mut scaled = PartSlopes::new(s.rss * k);
            for (p, x) in s.measured() {
                scaled.set(p, Some(x * k));
            }
            prop_assert_eq!(attribute(&scaled, t), attribute(&s, t));
        }

        #[test]
        fn the_trim_probe_only_names_native_growth(s in slopes(), t in trim()) {
            let a = attribute(&s, t);
            let b = attribute(&s, None);
            prop_assert_eq!(a.part, b.part);
            if a.part != Part::Native {
                prop_assert_eq!(a.cause, b.cause);
            }
        }
    }
}
