//! Properties: format then parse gives the numbers back to the printed precision, the size
//! format matches Python's rules, 経過 for any duration, and the parser never panics.

use jiff::civil::DateTime;
use memmon_core::{Breakdown, FdCounts};
use memmon_format::{
    parse_line, python_float_repr, BreakdownLine, Elapsed, LogFormat, Record, SampleLine, SiteLine,
    Size,
};
use proptest::prelude::*;

const LOG: &str = include_str!("fixtures/original-test-mode.log");

/// Builds a footer record from its MiB figure (`None`: printed `-`).
type MakeRecord = fn(Option<f64>) -> Record;

fn datetime() -> impl Strategy<Value = DateTime> {
    datetime_in(1970..=2200)
}

/// Any civil time jiff can hold, negative years included.
fn any_datetime() -> impl Strategy<Value = DateTime> {
    datetime_in(-9999..=9999)
}

fn datetime_in(years: std::ops::RangeInclusive<i16>) -> impl Strategy<Value = DateTime> {
    (years, 1i8..=12, 1i8..=28, 0i8..24, 0i8..60, 0i8..60)
        .prop_map(|(y, mo, d, h, mi, s)| jiff::civil::date(y, mo, d).at(h, mi, s, 0))
}

/// A MiB figure as memmon computes them: whole bytes / 1048576.
fn mib() -> impl Strategy<Value = f64> {
    (0u64..(1 << 44)).prop_map(|b| b as f64 / 1_048_576.0)
}

fn signed_mib() -> impl Strategy<Value = f64> {
    (-(1i64 << 44)..(1 << 44)).prop_map(|b| b as f64 / 1_048_576.0)
}

/// A footer figure, or none (`-`) about one time in four.
fn opt_mib(figure: impl Strategy<Value = f64>) -> impl Strategy<Value = Option<f64>> {
    prop_oneof![1 => Just(None), 3 => figure.prop_map(Some)]
}

fn sample_line() -> impl Strategy<Value = SampleLine> {
    (
        datetime(),
        any::<u64>(),
        (mib(), signed_mib(), mib(), mib()),
        0.0f64..=100.0,
        mib(),
    )
        .prop_map(
            |(at, elapsed_secs, (rss, growth, vms, peak), pct, avail)| SampleLine {
                at,
                elapsed_secs,
                rss_mb: rss,
                growth_mb: growth,
                vms_mb: vms,
                peak_mb: peak,
                sys_percent: pct,
                sys_available_mb: avail,
            },
        )
}

fn fd_counts() -> impl Strategy<Value = FdCounts> {
    let count = || prop_oneof![0u64..5_000, any::<u64>()];
    (count(), count(), count(), count()).prop_map(|(sockets, files, pipes, other)| FdCounts {
        sockets,
        files,
        pipes,
        other,
    })
}

/// A breakdown as a sampler gives it: any bytes (up to a few TiB, and now and then any u64).
fn breakdown() -> impl Strategy<Value = Breakdown> {
    let bytes = || prop_oneof![0u64..(1 << 44), any::<u64>()];
    (
        (bytes(), bytes(), bytes(), bytes()),
        prop_oneof![0u64..10_000, any::<u64>()],
        fd_counts(),
    )
        .prop_map(|((anon, file, shmem, swap), threads, fds)| Breakdown {
            anon,
            file,
            shmem,
            swap,
            threads,
            fds,
        })
}

/// A breakdown line as the parser gives it back: MiB figures with two decimals, which read
/// back as the same `f64` (`k / 100` is the float nearest `k` hundredths, as parsing is).
fn printed_breakdown_line() -> impl Strategy<Value = BreakdownLine> {
    let hundredths = || (0u64..(1 << 53)).prop_map(|k| k as f64 / 100.0);
    (
        (hundredths(), hundredths(), hundredths(), hundredths()),
        any::<u64>(),
        fd_counts(),
    )
        .prop_map(
            |((anon_mb, file_mb, shmem_mb, swap_mb), threads, fds)| BreakdownLine {
                anon_mb,
                file_mb,
                shmem_mb,
                swap_mb,
                threads,
                fds,
            },
        )
}

/// `printed` is `value` to `decimals` decimals (within float noise).
fn close(printed: f64, value: f64, decimals: i32) -> bool {
    (printed - value).abs() <= 0.5 * 10f64.powi(-decimals) * (1.0 + 1e-9) + value.abs() * 1e-15
}

/// Python's `tracemalloc._format_size(size, False)`, written as plainly as possible.
fn python_format_size(size: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = size;
    for (i, unit) in units.iter().enumerate() {
        if size.abs() < 100.0 && *unit != "B" {
            return format!("{size:.1} {unit}");
        }
        if size.abs() < 10.0 * 1024.0 || i == units.len() - 1 {
            return format!("{size:.0} {unit}");
        }
        size /= 1024.0;
    }
    unreachable!()
}

fn reparse(record: &Record) -> Record {
    let text = record.to_string();
    let back = parse_line(&text);
    assert_eq!(back.to_string(), text, "re-format differs");
    back
}

proptest! {
    #[test]
    fn sample_round_trips(line in sample_line()) {
        let Record::Sample(p) = reparse(&Record::Sample(line)) else {
            panic!("not a sample: {line}");
        };
        prop_assert_eq!(p.at, line.at);
        prop_assert_eq!(p.elapsed_secs, line.elapsed_secs);
        prop_assert!(close(p.rss_mb, line.rss_mb, 2));
        prop_assert!(close(p.growth_mb, line.growth_mb, 2));
        prop_assert!(close(p.vms_mb, line.vms_mb, 2));
        prop_assert!(close(p.peak_mb, line.peak_mb, 2));
        prop_assert!(close(p.sys_percent, line.sys_percent, 1));
        prop_assert!(close(p.sys_available_mb, line.sys_available_mb, 0));
    }

    #[test]
    fn warning_and_footer_round_trip(
        growth in signed_mib(), initial in opt_mib(mib()), last in opt_mib(mib()),
        peak in opt_mib(mib()), inc in opt_mib(signed_mib()),
        secs in any::<u64>(), at in datetime(),
    ) {
        let Record::Warning { growth_mb } = reparse(&Record::Warning { growth_mb: growth }) else {
            panic!("warning");
        };
        prop_assert!(close(growth_mb, growth, 2));
        prop_assert_eq!(reparse(&Record::Runtime { secs }), Record::Runtime { secs });
        prop_assert_eq!(reparse(&Record::End { at }), Record::End { at });
        let footer: [(MakeRecord, Option<f64>); 4] = [
            (|mb| Record::Initial { mb }, initial),
            (|mb| Record::Final { mb }, last),
            (|mb| Record::Peak { mb }, peak),
            (|mb| Record::Increase { mb }, inc),
        ];
        for (make, value) in footer {
            let record = make(value);
            let text = record.to_string();
            // A figure nothing measured is `-` in place of the number, and nothing else.
            prop_assert_eq!(text.ends_with(": -"), value.is_none(), "{}", text);
            let back = reparse(&record);
            let mb = match back {
                Record::Initial { mb } | Record::Final { mb } | Record::Peak { mb }
                | Record::Increase { mb } => mb,
                other => panic!("{other:?}"),
            };
            match (mb, value) {
                (Some(mb), Some(value)) => prop_assert!(close(mb, value, 2)),
                (None, None) => {}
                (mb, value) => prop_assert!(false, "{:?} read back as {:?}", value, mb),
            }
        }
    }

    #[test]
    fn footer_figure_with_anything_around_the_dash_is_not_a_figure(
        label in prop_oneof![
            Just("初期メモリ: "), Just("最終メモリ: "), Just("ピークメモリ: "), Just("メモリ増加量: ")
        ],
        before in "[ +0-9A-Za-z.-]{0,3}", after in "[ +0-9A-Za-z.-]{0,3}",
    ) {
        let line = format!("{label}{before}-{after}");
        let parsed = parse_line(&line);
        // Whatever it reads as, it prints back as itself; `None` only for exactly `-`.
        prop_assert_eq!(parsed.to_string(), line.clone());
        let none = matches!(
            parsed,
            Record::Initial { mb: None } | Record::Final { mb: None }
                | Record::Peak { mb: None } | Record::Increase { mb: None }
        );
        prop_assert_eq!(none, before.is_empty() && after.is_empty(), "{}", line);
    }

    #[test]
    fn size_matches_python_rules(bytes in prop_oneof![
        0u64..(1 << 20),
        any::<u64>(),
        (0u32..50).prop_map(|s| (1u64 << s) * 100 - 1),
    ].prop_map(|b| b as f64), count in 0u64..1000) {
        prop_assert_eq!(Size::from_bytes(bytes).to_string(), python_format_size(bytes));
        let avg = bytes / count.max(1) as f64;
        prop_assert_eq!(Size::from_bytes(avg).to_string(), python_format_size(avg));
        // And the site line built from them reads back to the same text.
        let site = Record::Site(SiteLine::new("a.py:1", bytes as u64, count));
        prop_assert!(matches!(reparse(&site), Record::Site(_)));
    }

    #[test]
    fn elapsed_any_duration(secs in prop_oneof![0u64..400_000, any::<u64>()]) {
        let text = Elapsed(secs).to_string();
        let parts: Vec<&str> = text.split(':').collect();
        prop_assert_eq!(parts.len(), 3);
        prop_assert!(parts.iter().all(|p| p.len() >= 2));
        prop_assert!(parts[1].len() == 2 && parts[2].len() == 2);
        let h: u64 = parts[0].parse().unwrap();
        let m: u64 = parts[1].parse().unwrap();
        let s: u64 = parts[2].parse().unwrap();
        prop_assert!(m < 60 && s < 60);
        prop_assert_eq!(u128::from(h) * 3600 + u128::from(m) * 60 + u128::from(s), u128::from(secs));
    }

    #[test]
    fn interval_repr_round_trips(x in prop_oneof![
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
        1e-6f64..1e6,
        (0u32..1_000_000).prop_map(|n| f64::from(n) / 10.0),
    ]) {
        let text = python_float_repr(x);
        prop_assert_eq!(text.parse::<f64>().unwrap(), x);
        let exp = if x == 0.0 { 0 } else { x.abs().log10().floor() as i32 };
        if (-3..15).contains(&exp) {
            prop_assert!(!text.contains('e') && text.contains('.'), "{}", text);
        } else if !(-5..17).contains(&exp) {
            // Away from the boundaries, where log10 may be off by one.
            let (_, e) = text.split_once('e').unwrap();
            prop_assert!(e.starts_with('+') || e.starts_with('-'), "{}", text);
            prop_assert!(e.len() >= 3, "{}", text);
        }
    }

    #[test]
    fn breakdown_line_parses_to_what_was_printed(line in printed_breakdown_line()) {
        let record = Record::Breakdown(line);
        prop_assert_eq!(parse_line(&record.to_string()), record);
    }

    #[test]
    fn breakdown_from_a_sampler_round_trips(b in breakdown()) {
        let format = LogFormat::with_zone(jiff::tz::TimeZone::UTC);
        let record = format.breakdown(&b);
        let Record::Breakdown(p) = reparse(&record) else {
            panic!("not a breakdown: {record}");
        };
        // Counts exactly; MiB to the printed two decimals.
        prop_assert_eq!(p.threads, b.threads);
        prop_assert_eq!(p.fds, b.fds);
        let mib = |bytes: u64| bytes as f64 / 1_048_576.0;
        prop_assert!(close(p.anon_mb, mib(b.anon), 2));
        prop_assert!(close(p.file_mb, mib(b.file), 2));
        prop_assert!(close(p.shmem_mb, mib(b.shmem), 2));
        prop_assert!(close(p.swap_mb, mib(b.swap), 2));
        // And what was read back prints and parses as itself.
        prop_assert_eq!(parse_line(&Record::Breakdown(p).to_string()), Record::Breakdown(p));
    }

    /// A breakdown line with a signed, overflowing or re-shaped figure is a malformed line,
    /// never a breakdown; it still prints back as itself.
    #[test]
    fn malformed_breakdown_figures_are_other_lines(
        line in printed_breakdown_line(), field in 0usize..9, edit in 0usize..4,
    ) {
        let text = Record::Breakdown(line).to_string();
        let labels = [
            "匿名: ", "MB, ファイル: ", "共有: ", "スワップ: ", "スレッド: ", "ソケット ",
            ", ファイル ", "パイプ ", "その他 ",
        ];
        let at = text.find(labels[field]).unwrap_or(0) + labels[field].len();
        let overflow = "9".repeat(400);
        let insert = ["-", "+", "0", overflow.as_str()][edit];
        let bad = format!("{}{}{}", &text[..at], insert, &text[at..]);
        // A leading `0` before a lone `0` digit is `00`, also refused; before another digit a
        // superfluous zero; either way not the printed shape.
        prop_assert_eq!(parse_line(&bad), Record::Other(bad.clone()));
    }

    #[test]
    fn memmons_reason_lines_round_trip(reason in "[^\n\r]{0,80}") {
        // Free text after the fixed part: whatever the reason, it reads back as itself.
        for record in [
            Record::Unmonitored { reason: reason.clone() },
            Record::SampleFailed { reason: reason.clone() },
        ] {
            let text = record.to_string();
            if !text.ends_with('\r') {
                prop_assert_eq!(parse_line(&text), record);
            }
        }
    }

    /// A sample whose RSS, VMS, peak, use or free memory is negative, or any of whose figures
    /// overflows to infinity (a 400-digit RSS), is a malformed line, never a sample; a valid
    /// line with the same figures unsigned and short still parses to exactly what was printed.
    #[test]
    fn negative_or_overflowing_sample_figures_are_malformed(
        line in sample_line(), field in 0usize..6, digits in 309usize..500,
        negative in any::<bool>(),
    ) {
        let text = Record::Sample(line).to_string();
        prop_assert!(matches!(parse_line(&text), Record::Sample(_)));
        // Each figure's text starts after its label; 初期比 always carries a sign.
        let labels = ["RSS: ", "(初期比: ", "VMS: ", "ピーク: ", "システム: ", "% ("];
        let at = text.find(labels[field]).unwrap_or(0) + labels[field].len();
        let sign = if field == 1 { 1 } else { 0 };
        let bad = if negative && field != 1 {
            format!("{}-{}", &text[..at], &text[at..])
        } else {
            let overflow = "9".repeat(digits);
            format!("{}{}{}", &text[..at + sign], overflow, &text[at + sign..])
        };
        prop_assert_eq!(parse_line(&bad), Record::Other(bad.clone()));
    }

    #[test]
    fn never_panics_on_arbitrary_text(s in any::<String>()) {
        let record = parse_line(&s);
        // Any one line, known or not, prints back as itself.
        if !s.contains('\n') && !s.ends_with('\r') {
            prop_assert_eq!(record.to_string(), s);
        }
    }

    #[test]
    fn never_panics_on_prefixes_and_edits_of_real_lines(
        n in 0usize..163, cut in any::<prop::sample::Index>(), ch in any::<char>(),
        pos in any::<prop::sample::Index>(),
    ) {
        let line = LOG.lines().nth(n % LOG.lines().count()).unwrap_or("");
        let bounds: Vec<usize> = line.char_indices().map(|(i, _)| i).chain([line.len()]).collect();
        let prefix = &line[..*cut.get(&bounds)];
        let record = parse_line(prefix);
        // Whatever a prefix parses as, it prints back as itself.
        prop_assert_eq!(record.to_string(), prefix.strip_suffix('\r').unwrap_or(prefix));
        let at = *pos.get(&bounds);
        let edited = format!("{}{}{}", &line[..at], ch, &line[at..]);
        let record = parse_line(&edited);
        if !edited.contains('\n') && !edited.ends_with('\r') {
            prop_assert_eq!(record.to_string(), edited);
        }
    }
}

/// The sample line as it was laid out before the digits were written by hand: one `write!`
/// with `core::fmt`'s own `{:.2}` and padding. The hand-written layout must match it byte for
/// byte.
fn sample_line_via_core_fmt(s: &SampleLine) -> String {
    let d = s.at;
    let e = s.elapsed_secs;
    format!(
        "[{:04}-{:02}-{:02} {:02}:{:02}:{:02}] 経過: {:02}:{:02}:{:02} | RSS: {:.2}MB (初期比: {:+.2}MB) | VMS: {:.2}MB | ピーク: {:.2}MB | システム: {:.1}% ({:.0}MB空き)",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        e / 3600,
        e / 60 % 60,
        e % 60,
        s.rss_mb,
        s.growth_mb,
        s.vms_mb,
        s.peak_mb,
        s.sys_percent,
        s.sys_available_mb
    )
}

/// Any float, MiB figures and the ties between two printed values among them.
fn any_figure() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        any::<u64>().prop_map(|b| b as f64 / 1_048_576.0),
        (0u64..(1 << 40), any::<bool>()).prop_map(|(k, neg)| {
            let x = ((2 * k + 1) << 17) as f64 / 1_048_576.0;
            if neg {
                -x
            } else {
                x
            }
        }),
        -1e4f64..1e4,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn sample_line_is_laid_out_as_core_fmt_would(
        at in any_datetime(),
        elapsed_secs in prop_oneof![0u64..400_000, any::<u64>()],
        figures in proptest::array::uniform6(any_figure()),
    ) {
        let [rss_mb, growth_mb, vms_mb, peak_mb, sys_percent, sys_available_mb] = figures;
        let line = SampleLine {
            at,
            elapsed_secs,
            rss_mb,
            growth_mb,
            vms_mb,
            peak_mb,
            sys_percent,
            sys_available_mb,
        };
        let want = sample_line_via_core_fmt(&line);
        prop_assert_eq!(line.to_string(), want.clone());
        let mut buf = Vec::new();
        memmon_format::append_records(&mut buf, &[Record::Sample(line)]);
        prop_assert_eq!(String::from_utf8(buf).unwrap(), want + "\n");
    }

    #[test]
    fn footer_and_detail_figures_as_core_fmt_would(x in any_figure()) {
        let cases = [
            (Record::Initial { mb: Some(x) }, format!("初期メモリ: {x:.2}MB")),
            (Record::Increase { mb: Some(x) }, format!("メモリ増加量: {x:.2}MB")),
            (
                Record::Warning { growth_mb: x },
                format!("⚠️ [警告] メモリが初期値から {x:.2}MB 増加しています"),
            ),
            (
                Record::Tracemalloc { pid: None, current_mb: x, peak_mb: -x },
                format!("  [tracemalloc] Current: {x:.2}MB, Peak: {:.2}MB", -x),
            ),
        ];
        for (record, want) in cases {
            prop_assert_eq!(record.to_string(), want);
        }
    }
}
