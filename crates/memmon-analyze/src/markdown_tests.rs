//! The Markdown's figures are `analyze --json`'s, in both languages, within GitHub's bound.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::bundle::{self, BundleSite};
use crate::{analyze_reader, report};

fn analysis() -> Analysis {
    analyze_reader(crate::tests::runs_with_detail(true).as_bytes()).unwrap()
}

fn context() -> Context {
    Context {
        version: "0.1.0".into(),
        machine: Some("Raspberry Pi 4 Model B Rev 1.4".into()),
        mem_total_kib: Some(3_882_000),
        settings: vec![
            ("enabled".into(), "true".into()),
            ("interval".into(), "60".into()),
        ],
        settings_from: Some("client_config.json".into()),
        files: vec![
            FileEntry {
                name: "plot.png".into(),
                from: None,
                cut_bytes: 0,
                cut_end: false,
                redacted: 0,
            },
            FileEntry {
                name: "logs/memory_usage.log".into(),
                from: Some("memory_usage.log".into()),
                cut_bytes: 0,
                cut_end: false,
                redacted: 0,
            },
        ],
        last_bundle: Some((
            "evidence/20261205-143000-4242-horizon.txt".into(),
            bundle::Parsed {
                trigger: Some("horizon".into()),
                time: Some("2026-12-05 14:30:00".into()),
                sites: vec![BundleSite {
                    pid: 4242,
                    line: "client.py:42: size=12.0 MiB, count=1200".into(),
                    frames: vec!["client.py:42".into(), "main.py:10".into()],
                }],
                notes: Vec::new(),
                truncated: false,
            },
        )),
        bundles: 1,
        dropped: Vec::new(),
    }
}

/// The rows of the runs table, split into cells.
fn rows(md: &str) -> Vec<Vec<String>> {
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

#[test]
fn figures_are_the_jsons_in_both_languages() {
    let a = analysis();
    for lang in [Lang::Ja, Lang::En] {
        let md = render(&a, &context(), lang);
        let json: Value = serde_json::from_str(&report::json(&a, &[], lang)).unwrap();
        let runs = json["runs"].as_array().unwrap();
        let rows = rows(&md);
        assert_eq!(rows.len(), runs.len(), "{md}");
        for (row, run) in rows.iter().zip(runs) {
            same(&row[0], &run["run"]);
            assert_eq!(row[1], run["start"].as_str().unwrap());
            assert_eq!(row[3], run["verdict"].as_str().unwrap());
            same(&row[4], &run["slope_mb_per_hour"]);
            same(&row[5], &run["r2"]);
            same(&row[6], &run["time_to_exhaustion_s"]);
            same(&row[7], &run["growth_mb"]);
            same(&row[8], &run["peak_mb"]);
            same(&row[9], &run["warnings"]);
            same(&row[10], &run["oom_kills"]);
        }
        // The summary speaks of the leaking run: its rate and cause, with the guide's remedy.
        let leak = &runs[0];
        assert_eq!(leak["verdict"], "leak");
        let rate = format!("{} MB", leak["slope_mb_per_hour"].as_f64().unwrap());
        assert!(md.contains(&rate), "{rate} not in\n{md}");
        let att = &leak["attribution"];
        assert!(md.contains(att["name"].as_str().unwrap()), "{md}");
        if let Some(remedy) = att["remedy"].as_str() {
            assert!(md.contains(remedy), "{md}");
        }
        // The growing line of the log, and the bundle's site with its traceback.
        assert!(md.contains("`/srv/app/worker.py:42`"), "{md}");
        assert!(
            md.contains("`client.py:42: size=12.0 MiB, count=1200`"),
            "{md}"
        );
        assert!(md.contains("   main.py:10\n"), "{md}");
        assert!(md.contains("Raspberry Pi 4 Model B Rev 1.4"), "{md}");
        assert!(md.contains("interval = 60"), "{md}");
        assert!(md.contains("- `logs/memory_usage.log`"), "{md}");
        assert!(md.chars().count() <= MAX_CHARS);
    }
    let ja = render(&a, &context(), Lang::Ja);
    let en = render(&a, &context(), Lang::En);
    assert!(
        ja.contains("## 判定") && ja.contains("メモリリークの疑い"),
        "{ja}"
    );
    assert!(
        en.contains("## Verdict") && en.contains("leak suspected"),
        "{en}"
    );
}

#[test]
fn a_long_report_is_cut_to_githubs_bound_with_a_note() {
    let a = analysis();
    let mut ctx = context();
    let site = ctx.last_bundle.as_ref().unwrap().1.sites[0].clone();
    let deep = BundleSite {
        frames: (0..400)
            .map(|i| format!("some/long/module/path_{i}.py:{i}"))
            .collect(),
        ..site
    };
    ctx.last_bundle.as_mut().unwrap().1.sites = vec![deep; 40];
    ctx.files = (0..3000)
        .map(|i| FileEntry {
            name: format!("evidence/20261205-1430{:02}-{i}-usr2.txt", i % 60),
            from: None,
            cut_bytes: 0,
            cut_end: false,
            redacted: 0,
        })
        .collect();
    for lang in [Lang::Ja, Lang::En] {
        let md = render(&a, &ctx, lang);
        let n = md.chars().count();
        assert!(n <= MAX_CHARS, "{n}");
        assert!(n > MAX_CHARS - 2000, "{n}: the room is used");
        assert!(
            md.contains("_(切り詰め: ") || md.contains("_(cut: "),
            "no note"
        );
        // The fixed parts are whole, and no code block is left open.
        assert!(md.contains("interval = 60"));
        assert_eq!(md.matches("```").count() % 2, 0);
        assert_eq!(rows(&md).len(), 2);
    }
    // Small bounds still hold.
    for limit in [3000, 5000, 20_000] {
        let md = render_within(&a, &ctx, Lang::Ja, limit);
        assert!(md.chars().count() <= limit);
    }
}

#[test]
fn no_bundle_and_no_config() {
    let a = analysis();
    let mut ctx = context();
    ctx.last_bundle = None;
    ctx.settings_from = None;
    ctx.machine = None;
    let md = render(&a, &ctx, Lang::En);
    assert!(!md.contains("Last evidence bundle"));
    assert!(md.contains("No config file (the defaults)"));
    assert!(md.contains("- Machine: (unknown)"));
}

#[test]
fn cuts_and_left_out_bundles_are_said() {
    let mut ctx = context();
    ctx.files[1].cut_bytes = 1234;
    ctx.files.push(FileEntry {
        name: "evidence/20261205-143000-4242-horizon.txt".into(),
        from: None,
        cut_bytes: 99,
        cut_end: true,
        redacted: 0,
    });
    ctx.dropped = (0..22)
        .map(|i| format!("20261205-1400{i:02}-4242-usr2.txt"))
        .collect();
    let ja = render(&analysis(), &ctx, Lang::Ja);
    assert!(ja.contains("アーカイブを 25 MB に収めるため入れなかった証拠バンドル (古いものから 22 個): `20261205-140000-4242-usr2.txt`, "), "{ja}");
    assert!(
        ja.contains("`20261205-140019-4242-usr2.txt` ほか 2 個\n"),
        "{ja}"
    );
    assert!(
        ja.contains("先頭 1234 バイトを省略し、最後の部分 (新しい行) だけを入れました"),
        "{ja}"
    );
    assert!(ja.contains("末尾 99 バイトを省略しました"), "{ja}");
    let en = render(&analysis(), &ctx, Lang::En);
    assert!(en.contains("Evidence bundles left out to keep the archive within 25 MB (the oldest, 22): `20261205-140000-4242-usr2.txt`"), "{en}");
    assert!(en.contains(" and 2 more\n"), "{en}");
    assert!(
        en.contains("its first 1234 bytes are left out, the end (the newest lines) is kept"),
        "{en}"
    );
    assert!(en.contains("its last 99 bytes are left out"), "{en}");
}

/// The bundle's notes: as written in Japanese; in English, said in English before the
/// bundle's own words (its figures stay as the bundle has them).
#[test]
fn the_bundles_notes_in_both_languages() {
    let estimate = "推定: 生きているオブジェクトの標本から (51 個に 1 個, 標本 3937 個; 長い文字列・バイト列 2 個は個別に、項目の多いコンテナ 1 個は項目を抽出)。size と count は推定値です。割り当て箇所に置いた推定 9.00MB / tracemalloc の追跡中 12.00MB";
    let started =
        "注意: tracemalloc はこの取得のために開始されました。それ以降の割り当てだけが見えます。";
    let mut ctx = context();
    if let Some((_, b)) = ctx.last_bundle.as_mut() {
        b.notes = vec![started.into(), estimate.into(), "その他".into()];
    }
    let ja = render(&analysis(), &ctx, Lang::Ja);
    assert!(
        ja.contains(&format!("- {started}\n- {estimate}\n- その他\n")),
        "{ja}"
    );
    let en = render(&analysis(), &ctx, Lang::En);
    assert!(
        en.contains(&format!(
            "- tracemalloc was started for this capture: it shows only what was allocated since (the bundle: {started})\n\
             - Sizes and counts below are estimates from a sample of the live objects (never a copy of tracemalloc's traces) (the bundle: {estimate})\n\
             - その他\n"
        )),
        "{en}"
    );
}
