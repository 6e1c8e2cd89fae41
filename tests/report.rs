//! `memmon report` end to end: the real binary on a log with evidence bundles beside it.

use crate::util::Dir;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const REFERENCE: &str =
    include_str!("../crates/memmon-format/tests/fixtures/original-test-mode.log");

const SERVER: &str = "pi-server.example.internal";
const ADDRESS: &str = "198.51.100.23";

/// The reference log, two bundles beside it (docs/evidence.md's layout, the newer one with
/// sites and tracebacks), and a client_config.json holding a server address.
fn setup(name: &str) -> Dir {
    let d = Dir::new(name);
    d.write(
        "memory_usage.log",
        &format!("{REFERENCE}{}", leaky_line(&hostname())),
    );
    std::fs::create_dir(d.join("memory_usage.evidence")).unwrap();
    d.write(
        "memory_usage.evidence/20261205-140000-4242-warning.txt",
        "# memmon 証拠バンドル\n## 概要\nトリガー: warning\n時刻: 2026-12-05 14:00:00\nPID: 4242\n\
memmon: 0.1.0\n## meminfo\nMemTotal: 1000 kB\n",
    );
    d.write(
        "memory_usage.evidence/20261205-143000-4242-horizon.txt",
        "# memmon 証拠バンドル\n## 概要\nトリガー: horizon\n時刻: 2026-12-05 14:30:00\nPID: 4242\n\
memmon: 0.1.0\n## 直近のサンプル\n[2026-12-05 14:29:00] 経過: 60秒\n\
## Python 4242: 割り当て箇所\n\
注意: tracemalloc はこの取得のために開始されました。それ以降の割り当てだけが見えます。\n\
1. card_reader.py:236: size=60.0 MiB, count=6000\n    card_reader.py:236\n    card_reader.py:88\n    main.py:10\n\
2. roster.py:12: size=1.5 MiB, count=40\n    roster.py:12\n\
## Python 4242: 型\nbytes: 6000個, 60.00MB\n",
    );
    // Not a bundle: no valid name.
    d.write(
        "memory_usage.evidence/.tmp-20261205-150000-4242-usr2.txt",
        "partial",
    );
    d.write(
        "client_config.json",
        &format!(
            "{{\"server_url\": \"http://{SERVER}:8080/api\", \"server_ip\": \"{ADDRESS}\", \
\"memory_monitor\": {{\"interval\": 60, \"tracemalloc\": true, \"metrics_listen\": \"{ADDRESS}:9100\"}}}}"
        ),
    );
    d
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// A line a client could have printed into the log: this machine's name and an address.
fn leaky_line(host: &str) -> String {
    format!("接続エラー: {host} {ADDRESS}\n")
}

fn report(d: &Dir, args: &[&str]) -> Output {
    d.memmon().arg("report").args(args).output().unwrap()
}

/// The names of a .tgz's entries.
fn archive_names(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(file));
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The files of the Markdown's attachment list (its last section), as named.
fn listed_files(md: &str) -> Vec<String> {
    let section = md.rsplit_once("\n## ").map(|(_, s)| s).unwrap_or_default();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split_once('`').map(|(name, _)| name.to_owned()))
        .collect()
}

fn table_rows(md: &str) -> Vec<Vec<String>> {
    md.lines()
        .skip_while(|l| !(l.starts_with("| 実行 |") || l.starts_with("| Run |")))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

fn same(cell: &str, json: &Value) {
    match json.as_f64() {
        Some(want) => assert_eq!(cell.parse::<f64>().unwrap(), want, "{cell} vs {json}"),
        None => assert_eq!(cell, "-", "{json}"),
    }
}

fn every_file(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            every_file(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn report_folder_and_archive_match_analyze_and_name_every_file() {
    let d = setup("report-main");
    let hostname = hostname();
    for (lang, out, words) in [
        ("ja", "rep", ["## 判定", "メモリリークの疑い"]),
        ("en", "rep-en", ["## Verdict", "leak suspected"]),
    ] {
        let o = report(&d, &["memory_usage.log", "--out", out, "--lang", lang]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            stdout.contains(out) && stdout.contains(&format!("{out}.tgz")),
            "{stdout}"
        );
        let md = d.read(&format!("{out}/report.md"));
        for w in words {
            assert!(md.contains(w), "{w} not in\n{md}");
        }
        assert!(md.chars().count() <= 65_536);

        // The figures are analyze --json's.
        let a = d
            .memmon()
            .args(["analyze", "--json", "--lang", lang, "memory_usage.log"])
            .output()
            .unwrap();
        assert!(a.status.success());
        let json: Value = serde_json::from_slice(&a.stdout).unwrap();
        let runs = json["runs"].as_array().unwrap();
        let rows = table_rows(&md);
        assert_eq!(rows.len(), runs.len(), "{md}");
        for (row, run) in rows.iter().zip(runs) {
            same(&row[0], &run["run"]);
            assert_eq!(row[1], run["start"].as_str().unwrap());
            assert_eq!(row[3], run["verdict"].as_str().unwrap());
            for (i, key) in [
                (4, "slope_mb_per_hour"),
                (5, "r2"),
                (6, "time_to_exhaustion_s"),
                (7, "growth_mb"),
                (8, "peak_mb"),
                (9, "warnings"),
                (10, "oom_kills"),
            ] {
                same(&row[i], &run[key]);
            }
        }
        let rate = runs[0]["slope_mb_per_hour"].as_f64().unwrap();
        assert!(md.contains(&format!("{rate} MB")), "{md}");

        // The last bundle's sites, with their tracebacks; the memory_monitor settings.
        assert!(
            md.contains("`card_reader.py:236: size=60.0 MiB, count=6000`"),
            "{md}"
        );
        assert!(md.contains("   card_reader.py:88\n   main.py:10\n"), "{md}");
        assert!(md.contains("20261205-143000-4242-horizon.txt"), "{md}");
        assert!(
            md.contains("interval = 60\n") && md.contains("tracemalloc = true\n"),
            "{md}"
        );
        assert!(
            md.contains(&format!("memmon: {}", env!("CARGO_PKG_VERSION"))),
            "{md}"
        );

        // The PNG is a PNG, and decodes.
        let png_bytes = std::fs::read(d.join(&format!("{out}/plot.png"))).unwrap();
        assert!(png_bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png_bytes.len() <= 10_000_000);
        let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert!(info.width > 100 && info.height > 100);

        // The archive holds every file the Markdown names, and nothing else; ASCII names.
        let names = archive_names(&d.join(&format!("{out}.tgz")));
        let listed = listed_files(&md);
        assert!(listed.len() >= 5, "{listed:?}");
        for f in &listed {
            assert!(
                names.contains(&format!("{out}/{f}")),
                "{f} not in {names:?}"
            );
        }
        assert_eq!(names.len(), listed.len(), "{names:?} vs {listed:?}");
        for want in [
            "report.md",
            "plot.png",
            "logs/memory_usage.log",
            "evidence/20261205-140000-4242-warning.txt",
            "evidence/20261205-143000-4242-horizon.txt",
        ] {
            assert!(listed.iter().any(|f| f == want), "{want} not in {listed:?}");
        }
        assert!(names.iter().all(|n| n.is_ascii()), "{names:?}");
        // The log travels as written, but for the host name and the address, masked.
        // The address is the config's `server_ip`: masked as a name, with `*`.
        let masked =
            leaky_line(&"*".repeat(hostname.len())).replace(ADDRESS, &"*".repeat(ADDRESS.len()));
        assert_eq!(
            d.read(&format!("{out}/logs/memory_usage.log")),
            format!("{REFERENCE}{masked}"),
        );
        if hostname.len() >= 2 {
            assert!(
                md.contains("(ホスト名・アドレスなど 2 箇所を伏せました)")
                    || md.contains("(2 host names, addresses or config values masked)"),
                "{md}"
            );
        }

        // The archive holds the folder's files as they are.
        let file = std::fs::File::open(d.join(&format!("{out}.tgz"))).unwrap();
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(file));
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            assert_eq!(bytes, std::fs::read(d.join(&name)).unwrap(), "{name}");
        }

        // Nothing names the server, an address, or this machine.
        let mut files = Vec::new();
        every_file(&d.join(out), &mut files);
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            for secret in [SERVER, ADDRESS, "server_url", "server_ip"] {
                assert!(!contains(&bytes, secret.as_bytes()), "{secret} in {f:?}");
            }
            if f.extension().is_some_and(|e| e == "png") {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            for w in words {
                assert!(
                    hostname.len() < 2 || !w.eq_ignore_ascii_case(&hostname),
                    "the host name in {f:?}"
                );
            }
        }
    }
}

#[test]
fn report_never_overwrites_and_says_where_it_wrote() {
    let d = setup("report-refuse");
    // An existing folder: refused, left as it was, no archive.
    std::fs::create_dir(d.join("rep")).unwrap();
    d.write("rep/keep.txt", "mine");
    let o = report(&d, &["memory_usage.log", "--out", "rep"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rep"));
    assert_eq!(d.read("rep/keep.txt"), "mine");
    assert_eq!(std::fs::read_dir(d.join("rep")).unwrap().count(), 1);
    assert!(!d.join("rep.tgz").exists());
    // An existing archive: refused before the folder is made.
    d.write("other.tgz", "mine");
    let o = report(&d, &["memory_usage.log", "--out", "other"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(d.read("other.tgz"), "mine");
    assert!(!d.join("other").exists());
    // An input as the folder: refused, the log untouched.
    let o = report(
        &d,
        &[
            "memory_usage.log",
            "--out",
            "memory_usage.log",
            "--lang",
            "en",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        d.read("memory_usage.log"),
        format!("{REFERENCE}{}", leaky_line(&hostname()))
    );
    // The default name, in the working directory, printed.
    let o = report(&d, &["memory_usage.log"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let folder = std::fs::read_dir(&d.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("memmon-report-") && !n.ends_with(".tgz"))
        .unwrap();
    assert_eq!(
        folder.len(),
        "memmon-report-YYYYMMDD-HHMMSS".len(),
        "{folder}"
    );
    assert!(d.join(&format!("{folder}.tgz")).is_file());
    assert!(
        stdout.contains(&folder) && stdout.contains(&format!("{folder}.tgz")),
        "{stdout}"
    );
    assert!(stdout.contains("レポートを書きました"), "{stdout}");
    // A rotated log alone: the live log's bundles are found.
    std::fs::rename(d.join("memory_usage.log"), d.join("memory_usage.log.1")).unwrap();
    let o = report(&d, &["memory_usage.log.1", "--out", "rot", "--lang", "en"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d
        .join("rot/evidence/20261205-143000-4242-horizon.txt")
        .is_file());
    assert!(d.read("rot/report.md").contains("card_reader.py:236"));
    // A log that cannot be read: exit 2, and no folder left behind.
    let o = report(&d, &["missing.log", "--out", "gone"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!d.join("gone").exists() && !d.join("gone.tgz").exists());
}

/// Every file of the folder and every entry of its archive, with its bytes.
fn everything(d: &Dir, out: &str) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    let mut files = Vec::new();
    every_file(&d.join(out), &mut files);
    for f in files {
        all.push((f.display().to_string(), std::fs::read(&f).unwrap()));
    }
    let file = std::fs::File::open(d.join(&format!("{out}.tgz"))).unwrap();
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = format!("{out}.tgz:{}", e.path().unwrap().display());
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
        all.push((name, bytes));
    }
    all
}

#[test]
fn report_masks_the_configs_server_and_ipv6_unless_asked() {
    const HOST: &str = "attend.example.org";
    const V6: &str = "2001:db8:4::17";
    let d = setup("report-hosts");
    d.write(
        "client_config.json",
        "{\"server_url\": \"https://attend.example.org:8443/api\", \"memory_monitor\": {\"interval\": 60}}",
    );
    let line = format!(
        "[2026-12-05 14:31:00] POST https://{HOST}:8443/api/touch: 接続エラー ({HOST} [{V6}]:8443) card_reader.py:236\n"
    );
    let log = format!("{REFERENCE}{line}");
    d.write("memory_usage.log", &log);
    let bundle = "memory_usage.evidence/20261205-143000-4242-horizon.txt";
    let text = format!("{}{line}", d.read(bundle));
    d.write(bundle, &text);

    let o = report(&d, &["memory_usage.log", "--out", "masked", "--lang", "en"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = everything(&d, "masked");
    assert!(
        all.len() >= 10,
        "{:?}",
        all.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (name, bytes) in &all {
        for secret in [HOST, V6, "example.org", "2001:db8"] {
            assert!(!contains(bytes, secret.as_bytes()), "{secret} in {name}");
        }
    }
    // Masked in place, the rest of the line as it was: the time, the port, the location.
    let want = "[2026-12-05 14:31:00] POST https://******************:8443/api/touch: \
接続エラー (****************** [xxxx:xxx:x::xx]:8443) card_reader.py:236\n";
    assert_eq!(
        d.read("masked/logs/memory_usage.log"),
        format!("{REFERENCE}{want}")
    );
    assert!(d
        .read("masked/evidence/20261205-143000-4242-horizon.txt")
        .ends_with(want));
    assert!(d
        .read("masked/report.md")
        .contains("(3 host names, addresses or config values masked)"));

    // Asked: --keep-hosts copies them as they are.
    let o = report(&d, &["memory_usage.log", "--out", "kept", "--keep-hosts"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(d.read("kept/logs/memory_usage.log"), log);
    assert_eq!(
        d.read("kept/evidence/20261205-143000-4242-horizon.txt"),
        text
    );
    let archived = everything(&d, "kept");
    for want in [
        "kept.tgz:kept/logs/memory_usage.log",
        "kept.tgz:kept/evidence/20261205-143000-4242-horizon.txt",
    ] {
        let (_, bytes) = archived.iter().find(|(n, _)| n == want).unwrap();
        assert!(
            contains(bytes, HOST.as_bytes()) && contains(bytes, V6.as_bytes()),
            "{want}"
        );
    }
}

#[test]
fn report_fits_25_mb_keeping_the_newest_lines() {
    let d = setup("report-size");
    // About 30 MB over two logs: the rotated one (older) and the live one (newest).
    let filler = |tag: &str, n: usize| -> String {
        let mut s = String::with_capacity(n * 100);
        for i in 0..n {
            s.push_str(&format!(
                "[2026-12-05 14:30:00] client {tag} line {i:08}: ................................................\n"
            ));
        }
        s
    };
    let lines = 150_000;
    d.write(
        "memory_usage.log.1",
        &format!("{REFERENCE}{}", filler("old", lines)),
    );
    let newest = "[2026-12-05 15:00:00] the newest line of all\n";
    // Each with samples of its own: the analysis wants some in every log.
    d.write(
        "memory_usage.log",
        &format!("{REFERENCE}{}{newest}", filler("new", lines)),
    );
    let total = std::fs::metadata(d.join("memory_usage.log")).unwrap().len()
        + std::fs::metadata(d.join("memory_usage.log.1"))
            .unwrap()
            .len();
    assert!(total > 29_000_000, "{total}");

    let started = std::time::Instant::now();
    let o = report(
        &d,
        &[
            "memory_usage.log.1",
            "memory_usage.log",
            "--out",
            "big",
            "--lang",
            "en",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    eprintln!("memmon report on {total} bytes: {:?}", started.elapsed());
    let archive = std::fs::metadata(d.join("big.tgz")).unwrap().len();
    assert!(archive <= 25_000_000, "{archive}");
    // The folder's contents fit too, whatever gzip makes of them.
    let mut files = Vec::new();
    every_file(&d.join("big"), &mut files);
    let unpacked: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert!(unpacked <= 25_000_000, "{unpacked}");
    // Both logs were cut from their start, and the report says by how much.
    let md = d.read("big/report.md");
    for log in ["memory_usage.log", "memory_usage.log.1"] {
        let kept = std::fs::metadata(d.join(&format!("big/logs/{log}")))
            .unwrap()
            .len();
        let size = std::fs::metadata(d.join(log)).unwrap().len();
        assert!(kept < size, "{log}");
        let said = format!(
            "- `logs/{log}` ← `{log}` (cut to keep the archive within 25 MB: its first {} bytes are left out, the end (the newest lines) is kept)",
            size - kept
        );
        assert!(md.contains(&said), "{said} not in\n{md}");
    }
    // The newest lines of the newest log are there, from a line's start; the bundles all are.
    let copy = d.read("big/logs/memory_usage.log");
    assert!(copy.ends_with(&format!(
        "line {:08}: {}\n{newest}",
        lines - 1,
        ".".repeat(48)
    )));
    assert!(
        copy.starts_with("[2026-12-05 14:30:00] client new line "),
        "{}",
        &copy[..80]
    );
    assert!(d
        .join("big/evidence/20261205-140000-4242-warning.txt")
        .is_file());
    assert!(d
        .join("big/evidence/20261205-143000-4242-horizon.txt")
        .is_file());
}

#[test]
fn report_leaves_out_old_bundles_first_but_not_the_oom_ones_nor_the_newest() {
    let d = setup("report-bundles");
    // 40 bundles of 1 MB: over the 25 MB with the log and the plot.
    let body = format!(
        "# memmon 証拠バンドル\n## 概要\n{}",
        "x".repeat(99).repeat(10_000)
    );
    let name = |i: usize| format!("20261205-15{:02}{:02}-4242-usr2.txt", i / 60, i % 60);
    for i in 0..40 {
        d.write(
            &format!("memory_usage.evidence/{}", name(i)),
            &format!("{body}\n{i}\n"),
        );
    }
    // Named by an OOM line: the oldest one.
    d.write(&format!("memory_usage.evidence/.oom-{}", name(0)), "");
    let o = report(&d, &["memory_usage.log", "--out", "rep"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::metadata(d.join("rep.tgz")).unwrap().len() <= 25_000_000);
    let kept = |i: usize| d.join(&format!("rep/evidence/{}", name(i))).is_file();
    assert!(kept(0) && kept(39), "the OOM-named and the newest are kept");
    assert!(!kept(1) && !kept(2), "the oldest others are left out first");
    let left_out: Vec<usize> = (0..40).filter(|&i| !kept(i)).collect();
    assert_eq!(left_out, (1..=left_out.len()).collect::<Vec<_>>());
    // setup()'s two bundles are older still: out first.
    assert!(!d
        .join("rep/evidence/20261205-140000-4242-warning.txt")
        .exists());
    let md = d.read("rep/report.md");
    let said = format!(
        "アーカイブを 25 MB に収めるため入れなかった証拠バンドル (古いものから {} 個): \
`20261205-140000-4242-warning.txt`, `20261205-143000-4242-horizon.txt`, `{}`, ",
        left_out.len() + 2,
        name(1)
    );
    assert!(md.contains(&said), "{said} not in\n{md}");
}
