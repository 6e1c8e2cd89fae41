//! Properties of the streaming `smaps` parsers (issue 17, item 13): fed line by line they give
//! what the whole-text parser gives, and past the path cap their totals stay exact.
#![allow(clippy::unwrap_used)] // a panic in a test harness is a failed test

use memmon_sampler::parse::{parse_smaps, PrivateSum, Smaps, SmapsStream, OTHER};
use proptest::prelude::*;

/// Lines of `smaps`-like text: mapping headers with paths that repeat (and hold spaces), the
/// fields memmon sums and some it must not, and now and then a line that is wrong.
fn smaps_line() -> impl Strategy<Value = String> {
    let path = prop_oneof![
        Just(String::new()),
        Just("[heap]".to_owned()),
        Just("[stack]".to_owned()),
        Just("/usr/lib/libc.so.6".to_owned()),
        Just("/tmp/a b (deleted)".to_owned()),
        "/lib/[a-e]{1,2}\\.so",
        "[ -~]{0,20}",
    ];
    let header = (
        0u64..1 << 47,
        0u64..1 << 20,
        "[r-][w-][x-][ps]",
        0u32..100_000,
        0usize..30,
        path,
    )
        .prop_map(|(start, len, perms, inode, pad, path)| {
            format!(
                "{start:x}-{:x} {perms} 00000000 08:01 {inode} {:pad$}{path}",
                start + len,
                ""
            )
        });
    let field = (
        prop_oneof![
            Just("Rss"),
            Just("Pss"),
            Just("Anonymous"),
            Just("Swap"),
            Just("Private_Clean"),
            Just("Private_Dirty"),
            Just("Private_Hugetlb"),
            Just("Shared_Clean"),
        ],
        0usize..12,
        0u64..1 << 40,
    )
        .prop_map(|(key, pad, kib)| format!("{key}:{:pad$}{kib} kB", ""));
    prop_oneof![
        4 => header,
        8 => field,
        1 => Just("VmFlags: rd wr mr mw me ac sd".to_owned()),
        1 => Just(String::new()),
        1 => "[ -~]{0,40}",
        1 => "Rss: [0-9a-z ]{0,8}",
    ]
}

fn smaps_text() -> impl Strategy<Value = String> {
    (prop::collection::vec(smaps_line(), 0..60), any::<bool>()).prop_map(|(lines, end)| {
        let mut text = lines.join("\n");
        if end {
            text.push('\n');
        }
        text
    })
}

fn stream(text: &str, cap: usize) -> Result<(Smaps, u64), memmon_sampler::parse::ParseError> {
    let mut s = SmapsStream::with_cap(cap);
    for line in text.lines() {
        s.line(line)?;
    }
    let private = s.private();
    Ok((s.finish(), private))
}

/// The sum of `Private_Clean` and `Private_Dirty` values, the way the text was written.
fn private_reference(text: &str) -> Option<u64> {
    let mut sum = 0u64;
    for line in text.lines() {
        for key in ["Private_Clean:", "Private_Dirty:"] {
            if let Some(v) = line.strip_prefix(key) {
                let kib: u64 = v.trim().strip_suffix(" kB")?.trim().parse().ok()?;
                sum = sum.saturating_add(kib.checked_mul(1024)?);
            }
        }
    }
    Some(sum)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_stream_gives_what_the_whole_text_parser_gives(text in smaps_text()) {
        let whole = parse_smaps(&text);
        let streamed = stream(&text, usize::MAX).map(|(smaps, _)| smaps);
        prop_assert_eq!(streamed, whole);
    }

    #[test]
    fn past_the_cap_paths_fold_into_other_and_totals_stay_exact(
        text in smaps_text(),
        cap in 0usize..4,
    ) {
        let Ok(whole) = parse_smaps(&text) else { return Ok(()) };
        let (capped, _) = stream(&text, cap).unwrap();
        prop_assert!(capped.groups.len() <= cap + 1);
        prop_assert_eq!(capped.anonymous, whole.anonymous);
        prop_assert_eq!(capped.swap, whole.swap);
        let totals = |s: &Smaps| s.groups.iter().fold((0u64, 0u64), |(r, c), g| {
            (r.saturating_add(g.rss), c + g.count)
        });
        prop_assert_eq!(totals(&capped), totals(&whole));
        if whole.groups.len() <= cap {
            prop_assert_eq!(&capped, &whole);
        } else {
            prop_assert!(capped.groups.iter().any(|g| g.path == OTHER));
        }
        // Every group kept on its own is exactly the whole-text parser's group.
        for g in capped.groups.iter().filter(|g| g.path != OTHER) {
            prop_assert!(whole.groups.contains(g), "{g:?} not in {:?}", whole.groups);
        }
        // Ordered by RSS, ties by path.
        for w in capped.groups.windows(2) {
            prop_assert!((std::cmp::Reverse(w[0].rss), &w[0].path) <= (std::cmp::Reverse(w[1].rss), &w[1].path));
        }
    }

    #[test]
    fn private_memory_is_summed_the_same_by_both_streams(text in smaps_text()) {
        let mut bytes = PrivateSum::default();
        let by_bytes: Result<(), _> = text.lines().try_for_each(|l| bytes.line(l.as_bytes()));
        let by_str = stream(&text, usize::MAX);
        if let (Ok(()), Ok((_, private))) = (by_bytes, by_str) {
            prop_assert_eq!(bytes.bytes, private);
            prop_assert_eq!(Some(bytes.bytes), private_reference(&text));
        }
    }
}

#[test]
fn private_sum_counts_clean_and_dirty_but_not_hugetlb() {
    let mut sum = PrivateSum::default();
    for line in [
        "0-1000 rw-p 00000000 00:00 0 [rollup]",
        "Private_Clean:        40 kB",
        "Private_Dirty:        60 kB",
        "Private_Hugetlb:    4096 kB",
        "Shared_Clean:        100 kB",
    ] {
        sum.line(line.as_bytes()).unwrap();
    }
    assert_eq!((sum.bytes, sum.lines), (100 * 1024, 5));
    assert!(PrivateSum::default().line(b"Private_Dirty: lots").is_err());
}
