//! The masks, as exact before/after strings, and their two promises as properties: a masked
//! text is as long as the original, and a line naming no host and no address is left alone.
#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn masked(r: &Redactor, text: &str) -> (String, u64) {
    let mut bytes = text.as_bytes().to_vec();
    let n = r.mask(&mut bytes);
    (String::from_utf8(bytes).unwrap(), n)
}

fn config() -> Redactor {
    let values = [
        ("server_url", "https://attend.example.org:8443/api"),
        ("notify.to", "ops@mail.example.net"),
        ("backup", "192.0.2.40:873"),
        ("host", "pi-gate-3"),
        ("beep_sound", "beep.wav"),
        ("reader", "RC-S380"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    Redactor::new(config_names(&values))
}

#[test]
fn names_from_the_config() {
    let values = [
        ("server_url", "https://user:pw@attend.example.org:8443/api"),
        ("notify.to", "ops@mail.example.net"),
        ("backup", "192.0.2.40:873"),
        ("mirror", "[2001:db8::7]:443"),
        ("v6", "2001:db8::1"),
        ("gateway", "gw-main"),
        ("api_key", "s3cr3t-token"),
        ("beep_sound", "beep.wav"),
        ("log", "client.log"),
        ("reader", "RC-S380"),
        ("greeting", "hello world"),
        ("plain_host", "db.internal.example"),
        ("server_port", "8443"),
        ("server", "localhost:5000"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!(
        config_names(&values),
        [
            "attend.example.org",
            "ops@mail.example.net",
            "mail.example.net",
            "192.0.2.40",
            "2001:db8::7",
            "2001:db8::1",
            "gw-main",
            "s3cr3t-token",
            "db.internal.example",
            "localhost",
        ]
    );
}

#[test]
fn config_hosts_urls_and_addresses_are_masked_in_place() {
    let r = config();
    let (out, n) = masked(
        &r,
        "[2026-12-05 14:30:00] POST https://attend.example.org:8443/api/touch failed \
(Attend.Example.org unreachable); mail ops@mail.example.net; rsync 192.0.2.40::backup; \
pi-gate-3 ok, pi-gate-30 not; ftp://bob:pw@files.example.com/x and http://10.1.2.3:80/.\n",
    );
    assert_eq!(
        out,
        "[2026-12-05 14:30:00] POST https://******************:8443/api/touch failed \
(****************** unreachable); mail ********************; rsync **********::backup; \
********* ok, pi-gate-30 not; ftp://******@*****************/x and http://********:80/.\n"
    );
    assert_eq!(n, 7);
}

#[test]
fn ipv6_addresses_are_masked_and_times_are_not() {
    let r = Redactor::default();
    for (before, after, count) in [
        (
            "to 2001:db8:85a3::8a2e:370:7334 ok",
            "to xxxx:xxx:xxxx::xxxx:xxx:xxxx ok",
            1,
        ),
        ("[fe80::1%eth0]:8080", "[xxxx::x%eth0]:8080", 1),
        (
            "2001:0db8:0000:0000:0000:ff00:0042:8329.",
            "xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx.",
            1,
        ),
        (
            "peer ::ffff:192.0.2.128 closed",
            "peer ::xxxx:xxx.x.x.xxx closed",
            1,
        ),
        ("host:2001:db8::1: refused", "host:xxxx:xxx::x: refused", 1),
        ("http://[2001:db8::2]:80/x", "http://[***********]:80/x", 1),
        // Left alone: times, locations, slices, words, loopback and link prefixes.
        (
            "[2026-12-05 14:30:00] 経過: 60秒",
            "[2026-12-05 14:30:00] 経過: 60秒",
            0,
        ),
        (
            "12:34:56 and 12:34:56.789012",
            "12:34:56 and 12:34:56.789012",
            0,
        ),
        (
            "card_reader.py:236 main.py:10",
            "card_reader.py:236 main.py:10",
            0,
        ),
        (
            "Foo::bar abc::def add::beef",
            "Foo::bar abc::def add::beef",
            0,
        ),
        (
            "dead::beefy ::1 fe80:: 1:2:3:4:5:6:7",
            "dead::beefy ::1 fe80:: 1:2:3:4:5:6:7",
            0,
        ),
        ("aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff", 0),
    ] {
        assert_eq!(masked(&r, before), (after.to_owned(), count), "{before}");
    }
}

#[test]
fn this_machine_and_ipv4() {
    let r = Redactor::new(["pi-gate-3".to_owned()]);
    let (out, n) = masked(
        &r,
        "pi-gate-3: to 192.168.1.20:8080 from PI-GATE-3, not pi-gate-30 or v1.2.3.4.5 \
or 10.0.0.256x [2026-12-05 14:30:00] 12.34MB",
    );
    assert_eq!(
        out,
        "*********: to xxx.xxx.x.xx:8080 from *********, not pi-gate-30 or v1.2.3.4.5 \
or 10.0.0.256x [2026-12-05 14:30:00] 12.34MB"
    );
    assert_eq!(n, 3);
}

#[test]
fn a_memmon_log_is_left_alone() {
    let log = include_str!("../../memmon-format/tests/fixtures/original-test-mode.log");
    let (out, n) = masked(&config(), log);
    assert_eq!((out.as_str(), n), (log, 0));
}

/// Pieces of log lines that name no host and no address.
fn harmless() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        (
            2000u32..2100,
            1u32..13,
            1u32..29,
            0u32..24,
            0u32..60,
            0u32..60
        )
            .prop_map(|(y, mo, d, h, mi, s)| format!("[{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}]")),
        (0u32..24, 0u32..60, 0u32..60, 0u32..1_000_000)
            .prop_map(|(h, m, s, us)| format!("{h}:{m:02}:{s:02}.{us:06}")),
        ("[a-z_]{1,12}", 1u32..5000).prop_map(|(f, l)| format!("{f}.py:{l}")),
        (0u32..100_000, 0u32..100).prop_map(|(a, b)| format!("{a}.{b:02}MB")),
        (0u32..10, 0u32..10, 0u32..10).prop_map(|(a, b, c)| format!("v{a}.{b}.{c}")),
        Just("経過: 60秒".to_owned()),
        Just("メモリ使用量".to_owned()),
        Just("size=12.0 MiB, count=1200".to_owned()),
        "[a-zA-Z]{1,10}",
        "[0-9]{1,8}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.join(" "))
}

proptest! {
    /// Masking never changes the length, and leaves UTF-8 valid.
    #[test]
    fn length_is_kept(text in "(\\PC|[0-9a-f:.@/\\[\\]%])*", names in prop::collection::vec("[a-z0-9.:-]{0,12}", 0..4)) {
        let r = Redactor::new(names);
        let mut bytes = text.as_bytes().to_vec();
        r.mask(&mut bytes);
        prop_assert_eq!(bytes.len(), text.len());
        prop_assert!(String::from_utf8(bytes).is_ok());
    }

    /// A line without a host or an address is never touched.
    #[test]
    fn harmless_lines_are_untouched(line in harmless()) {
        let mut bytes = line.as_bytes().to_vec();
        let n = config().mask(&mut bytes);
        prop_assert_eq!(String::from_utf8(bytes).unwrap(), line);
        prop_assert_eq!(n, 0);
    }
}

#[test]
fn what_a_bundle_copies_from_proc_is_left_alone() {
    // A bundle holds /proc/PID/status, smaps_rollup and meminfo as read: hex masks
    // (`Cpus_allowed: ff`), address ranges and `00:00` device numbers are no addresses.
    for p in [
        "/proc/self/status",
        "/proc/self/smaps_rollup",
        "/proc/meminfo",
    ] {
        let Ok(text) = std::fs::read_to_string(p) else {
            continue;
        };
        let (out, n) = masked(&Redactor::default(), &text);
        assert_eq!((out.as_str(), n), (text.as_str(), 0), "{p}");
    }
}
