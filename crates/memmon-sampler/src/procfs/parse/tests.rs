//! Tests of the `/proc` parsers: literal text, and the byte parsers against the `str` ones.

use super::*;
use proptest::prelude::*;

/// `parse_meminfo` as it was before it read bytes: the reference the byte parser must match.
fn parse_meminfo_str(text: &str) -> Result<Meminfo, ParseError> {
    let mut total = None;
    let mut available = None;
    let (mut free, mut buffers, mut cached) = (None, None, None);
    for (i, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => &mut total,
            "MemAvailable" => &mut available,
            "MemFree" => &mut free,
            "Buffers" => &mut buffers,
            "Cached" => &mut cached,
            _ => continue,
        };
        *slot = Some(kib_value(value, i + 1)?);
        if total.is_some() && available.is_some() {
            break;
        }
    }
    let total = total.ok_or(ParseError::whole("MemTotal is missing"))?;
    let available = match (available, free, buffers, cached) {
        (Some(a), ..) => a,
        (None, Some(f), Some(b), Some(c)) => f.saturating_add(b).saturating_add(c),
        _ => return Err(ParseError::whole("MemAvailable is missing")),
    };
    Ok(Meminfo { total, available })
}

fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ \t\r\x0c]{0,4}[+-]{0,2}[0-9]{0,22}[ \t\r\x0c]{0,3}(kB|kb|B|k)?[ \t\r]{0,2}[ -~]{0,6}",
        any::<String>(),
    ]
}

fn meminfo_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("MemTotal"),
        Just("MemAvailable"),
        Just("MemFree"),
        Just("Buffers"),
        Just("Cached"),
        Just("SwapCached"),
        Just("memtotal"),
        Just(" MemTotal"),
    ];
    let line = prop_oneof![
        (key, value_text()).prop_map(|(k, v)| format!("{k}:{v}")),
        "[ -~]{0,30}",
    ];
    crate::test_text::lines_text(line, 8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn kib_value_in_line_reads_as_kib_value(
        value in value_text(),
        next in "[ -~\n]{0,20}",
        line in 1usize..60,
    ) {
        // The value as `lines()` would hand it over (no '\n'), then the rest of the file.
        let value = value.split('\n').next().unwrap_or("");
        let text = format!("{value}\n{next}");
        let got = kib_value_in_line(text.as_bytes(), line);
        prop_assert_eq!(got.map(|(n, _)| n), kib_value(value, line));
        if let Ok((_, rest)) = got {
            prop_assert_eq!(rest, next.as_bytes());
        }
        // The last line of a file may have no '\n'.
        let last = kib_value_in_line(value.as_bytes(), line);
        prop_assert_eq!(last.map(|(n, rest)| (n, rest.is_empty())), kib_value(value, line).map(|n| (n, true)));
    }

    #[test]
    fn decimal_u64_reads_as_str_parse(field in prop_oneof![
        "[+-]{0,2}[0-9]{0,22}",
        any::<u64>().prop_map(|n| n.to_string()),
        any::<String>(),
    ]) {
        prop_assert_eq!(decimal_u64(field.as_bytes()), field.parse::<u64>().ok());
    }

    #[test]
    fn meminfo_bytes_reads_as_the_str_parser(text in meminfo_text()) {
        prop_assert_eq!(parse_meminfo_bytes(text.as_bytes()), parse_meminfo_str(&text));
    }
}

#[test]
fn statm_in_pages_becomes_bytes() {
    let s = parse_statm("765 402 374 5 0 123 0\n", 4096).unwrap();
    assert_eq!(
        s,
        Statm {
            vms: 765 * 4096,
            rss: 402 * 4096
        }
    );
    assert_eq!(
        parse_statm("", 4096).unwrap_err().what,
        "expected the size in pages"
    );
    assert!(parse_statm("1 x", 4096).is_err());
    assert!(parse_statm(&format!("{} 1", u64::MAX), 4096).is_err());
}

#[test]
fn meminfo_falls_back_without_mem_available() {
    let old = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 1 kB\n";
    let m = parse_meminfo(old).unwrap();
    assert_eq!(
        m,
        Meminfo {
            total: 1000 * 1024,
            available: 111 * 1024
        }
    );
    let err = parse_meminfo("MemTotal: 1 kB\n").unwrap_err();
    assert_eq!(err.to_string(), "MemAvailable is missing");
    let err = parse_meminfo("MemTotal: lots kB\n").unwrap_err();
    assert_eq!(err.to_string(), "line 1: expected a number of kB");
}

#[test]
fn children_append() {
    let mut out = vec![1];
    parse_children("4243 4250 \n", &mut out).unwrap();
    assert_eq!(out, [1, 4243, 4250]);
    parse_children("", &mut out).unwrap();
    assert_eq!(out.len(), 3);
    assert!(parse_children("12 -3", &mut out).is_err());
}

#[test]
fn headers_keep_paths_with_spaces() {
    let h = "7f00-7f01 rw-p 00000000 00:00 0                          [heap]";
    assert_eq!(mapping_header(h), Some("[heap]"));
    let h = "7f00-7f01 rw-p 00000000 08:01 42   /tmp/a b (deleted)";
    assert_eq!(mapping_header(h), Some("/tmp/a b (deleted)"));
    assert_eq!(mapping_header("7f00-7f01 rw-p 00000000 00:00 0 "), Some(""));
    assert_eq!(mapping_header("Rss:  4 kB"), None);
    assert_eq!(mapping_header("7f00-7f01 rw-p"), None);
}

#[test]
fn smaps_rejects_fields_before_a_header() {
    let err = parse_smaps("Rss: 4 kB\n").unwrap_err();
    assert_eq!(err, ParseError::at(1, "field before any mapping header"));
    let err = parse_smaps("0-1 r--p 0 0:0 0\nnonsense\n").unwrap_err();
    assert_eq!(err.line, 2);
}

#[test]
fn stat_ppid_survives_odd_command_names() {
    assert_eq!(
        parse_stat_ppid("4243 (a) b) (c) S 4242 4243 1 0").unwrap(),
        4242
    );
    assert!(parse_stat_ppid("4243 (sh) S").is_err());
}

#[test]
fn vmstat_without_oom_kill_is_none() {
    assert_eq!(parse_vmstat_oom_kill("nr_free_pages 5\n").unwrap(), None);
    assert_eq!(parse_vmstat_oom_kill("a 1\noom_kill 3\n").unwrap(), Some(3));
    assert!(parse_vmstat_oom_kill("oom_kill x\n").is_err());
}
