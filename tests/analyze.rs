//! `memmon analyze` end to end: the real binary on the reference log and on generated logs.

use crate::util::Dir;
use jiff::civil::{date, DateTime};
use jiff::SignedDuration;
use memmon_format::{ExitKind, IntervalText, Record, SampleLine, SiteLine};
use serde_json::Value;
use std::fmt::Write as _;
use std::process::Output;

mod inputs;

const REFERENCE: &str =
    include_str!("../crates/memmon-format/tests/fixtures/original-test-mode.log");

/// Writes a log with memmon-format's own `Display`, as memmon would.
struct Gen {
    out: String,
    rng: u64,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            out: String::new(),
            rng: seed | 1,
        }
    }

    fn line(&mut self, r: Record) {
        writeln!(self.out, "{r}").unwrap();
    }

    /// Uniform noise in [-1, 1] (xorshift: deterministic).
    fn noise(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn header(&mut self, at: DateTime, interval: &str) {
        self.line(Record::Rule);
        self.line(Record::Start { at });
        self.line(Record::Pid(777));
        self.line(Record::Interval(IntervalText::parse(interval).unwrap()));
        self.line(Record::Rule);
        self.line(Record::Blank);
    }

    fn samples(
        &mut self,
        start: DateTime,
        interval: u64,
        n: u64,
        noise: f64,
        shape: impl Fn(f64) -> f64,
    ) {
        let (mut base, mut peak) = (None, 0.0_f64);
        for k in 0..n {
            let t = k * interval;
            let rss = ((shape(t as f64) + noise * self.noise()) * 100.0).round() / 100.0;
            let base = *base.get_or_insert(rss);
            peak = peak.max(rss);
            self.line(Record::Sample(SampleLine {
                at: start + SignedDuration::from_secs(t as i64),
                elapsed_secs: t,
                rss_mb: rss,
                growth_mb: rss - base,
                vms_mb: rss + 100.0,
                peak_mb: peak,
                sys_percent: 40.0,
                sys_available_mb: 1024.0,
            }));
        }
    }

    fn footer(&mut self, at: DateTime, code: i32) {
        self.line(Record::ProcessExit(ExitKind::Code(code)));
        self.line(Record::Blank);
        self.line(Record::Rule);
        self.line(Record::End { at });
        self.line(Record::Rule);
    }

    /// A whole footer, as memmon writes it: run time and the four memory figures (`None`
    /// prints `-`), after the exit line when the command ended.
    fn full_footer(&mut self, at: DateTime, code: Option<i32>, secs: u64, mb: [Option<f64>; 4]) {
        if let Some(code) = code {
            self.line(Record::ProcessExit(ExitKind::Code(code)));
        }
        self.line(Record::Blank);
        self.line(Record::Rule);
        self.line(Record::End { at });
        self.line(Record::Runtime { secs });
        self.line(Record::Initial { mb: mb[0] });
        self.line(Record::Final { mb: mb[1] });
        self.line(Record::Peak { mb: mb[2] });
        self.line(Record::Increase { mb: mb[3] });
        self.line(Record::Rule);
    }
}

fn t0() -> DateTime {
    date(2025, 11, 21).at(9, 0, 0, 0)
}

fn analyze(d: &Dir, args: &[&str]) -> Output {
    d.memmon().arg("analyze").args(args).output().unwrap()
}

fn ok_stdout(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(d: &Dir, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok_stdout(&analyze(d, &all))).unwrap()
}

fn near(got: &Value, want: f64, rel: f64) {
    let got = got.as_f64().unwrap();
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "got {got}, want {want} ± {}%",
        rel * 100.0
    );
}

#[test]
fn reference_log_is_a_leak_of_about_12_mb_per_minute() {
    let d = Dir::new("analyze-ref");
    d.write("original-test-mode.log", REFERENCE);
    let text = ok_stdout(&analyze(&d, &["original-test-mode.log"]));
    insta::assert_snapshot!("analyze_reference_text_ja", text);
    let en = ok_stdout(&analyze(&d, &["original-test-mode.log", "--lang", "en"]));
    insta::assert_snapshot!("analyze_reference_text_en", en);
    let out = ok_stdout(&analyze(&d, &["original-test-mode.log", "--json"]));
    insta::assert_snapshot!("analyze_reference_json", out);
    let v: Value = serde_json::from_str(&out).unwrap();
    let run = &v["runs"][0];
    assert_eq!(run["verdict"], "leak");
    near(&run["slope_mb_per_hour"], 720.0, 0.1);
    assert_eq!(run["samples"], 60);
    assert_eq!(v["restarts"], 0);
    assert!(run["time_to_exhaustion_s"].as_f64().unwrap() > 0.0);
    // The footer's figures, not the last sample line's (74.52 MB, +59.32 MB): the original
    // took 最終メモリ and メモリ増加量 from fresh samples at stop.
    assert_eq!(run["figures_from"], "footer");
    assert_eq!(run["baseline_mb"], 15.2);
    assert_eq!(run["last_mb"], 74.54);
    assert_eq!(run["peak_mb"], 74.52);
    assert_eq!(run["growth_mb"], 59.34);
    assert_eq!(run["runtime_s"], 300);
    assert_eq!(run["duration_s"], 295);
    assert!(
        text.contains(
            "  実行時間: 00:05:00 (サンプル数: 60)\n  初期メモリ: 15.20MB | 最終メモリ: 74.54MB | \
             ピークメモリ: 74.52MB | メモリ増加量: +59.34MB\n"
        ),
        "{text}"
    );
    // memory_monitor.py:236 keeps 10 MiB more at every block (every 50 s): 720 MiB/h.
    let sites = run["growing_sites"].as_array().unwrap();
    assert!(
        sites[0]["site"]
            .as_str()
            .unwrap()
            .ends_with("/memory_monitor.py:236"),
        "{sites:?}"
    );
    near(&sites[0]["slope_bytes_per_hour"], 720.0 * 1048576.0, 0.1);
    assert!(sites[0].get("pid").is_none(), "{sites:?}");
}

/// A log whose every 10th sample carries a tracemalloc block: `leak.py:42` keeps 1 MiB more at
/// each block, the other sites stay flat (with a little jitter, as real sites do).
#[test]
fn the_growing_tracemalloc_site_is_named_and_flat_ones_are_not() {
    let d = Dir::new("analyze-sites");
    let mut g = Gen::new(9);
    g.header(t0(), "5");
    let (interval, blocks) = (5u64, 8u64);
    for n in 0..blocks * 10 {
        let t = n * interval;
        let rss = 40.0 + t as f64 / 50.0;
        g.line(Record::Sample(SampleLine {
            at: t0() + SignedDuration::from_secs(t as i64),
            elapsed_secs: t,
            rss_mb: rss,
            growth_mb: rss - 40.0,
            vms_mb: rss + 100.0,
            peak_mb: rss,
            sys_percent: 40.0,
            sys_available_mb: 1024.0,
        }));
        if n % 10 != 9 {
            continue;
        }
        // The block after every 10th sample: block k (from 1) holds k MiB at leak.py:42.
        let k = n / 10 + 1;
        let jitter = (g.noise() * 4096.0) as i64;
        g.line(Record::Tracemalloc {
            pid: None,
            current_mb: 12.0 + k as f64,
            peak_mb: 13.0 + k as f64,
        });
        g.line(Record::TopHeader);
        g.line(Record::Site(SiteLine::new(
            "/app/leak.py:42",
            k << 20,
            10 * k,
        )));
        let cache = ((8 << 20) + jitter) as u64;
        g.line(Record::Site(SiteLine::new("/app/cache.py:7", cache, 500)));
        g.line(Record::Site(SiteLine::new(
            "/usr/lib/python3.11/re.py:100",
            300_000,
            40,
        )));
        g.line(Record::Blank);
    }
    g.footer(t0() + SignedDuration::from_secs(400), 0);
    d.write("m.log", &g.out);
    let v = json(&d, &["m.log"]);
    let run = &v["runs"][0];
    assert_eq!(run["samples"], blocks * 10);
    let sites = run["growing_sites"].as_array().unwrap();
    assert_eq!(sites.len(), 1, "{sites:?}");
    assert_eq!(sites[0]["site"], "/app/leak.py:42");
    // 1 MiB per block, a block every 50 s: 72 MiB per hour.
    near(&sites[0]["slope_bytes_per_hour"], 72.0 * 1048576.0, 0.1);
    assert_eq!(sites[0]["last_size"], 8 << 20);
    let text = ok_stdout(&analyze(&d, &["m.log"]));
    assert!(
        text.contains(
            "増加し続けている割り当て箇所 (tracemalloc):\n    1. /app/leak.py:42 +72.00MB/時"
        ),
        "{text}"
    );
    assert!(!text.contains("cache.py"), "{text}");
    let en = ok_stdout(&analyze(&d, &["m.log", "--lang", "en"]));
    assert!(
        en.contains("    1. /app/leak.py:42 +72.00MB/h (last 8192 KiB)"),
        "{en}"
    );
    // The plot lists it in its legend (the file name and the rate).
    ok_stdout(&analyze(&d, &["m.log", "--plot", "m.svg"]));
    let svg = d.read("m.svg");
    assert!(
        svg.contains("tracemalloc: leak.py:42 +72.00MB/時"),
        "no site in the SVG"
    );
    assert!(!svg.contains("cache.py"));
}

#[test]
fn csv_has_a_header_and_one_row_per_sample() {
    let d = Dir::new("analyze-csv");
    d.write("m.log", REFERENCE);
    ok_stdout(&analyze(&d, &["m.log", "--csv", "m.csv"]));
    let csv = d.read("m.csv");
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("timestamp,elapsed_s,rss_mb,delta_mb,vms_mb,peak_mb,sys_percent,sys_available_mb,run")
    );
    let samples = REFERENCE.lines().filter(|l| l.starts_with('[')).count();
    assert_eq!(rows.clone().count(), samples);
    assert_eq!(
        rows.next(),
        Some("2026-11-24 19:00:39,0,15.20,0.00,90.71,15.20,1.7,23686,1")
    );
}

#[test]
fn svg_plot_is_well_formed_and_holds_every_series() {
    let d = Dir::new("analyze-svg");
    let mut g = Gen::new(1);
    for run in 0..3 {
        let at = t0() + SignedDuration::from_hours(2 * run);
        g.header(at, "60");
        g.samples(at, 60, 90, 0.3, |t| 40.0 + 30.0 * t / 3600.0);
        g.footer(at + SignedDuration::from_secs(5400), 1);
    }
    d.write("m.log", &g.out);
    ok_stdout(&analyze(&d, &["m.log", "--plot", "m.svg"]));
    let svg = d.read("m.svg");
    assert!(svg.trim_start().starts_with("<svg"), "{}", &svg[..100]);
    assert!(svg.trim_end().ends_with("</svg>"));
    // Minimal well-formedness: every element opened is closed or self-closing.
    let opens = svg.matches("<").count();
    let closes = svg.matches(">").count();
    assert_eq!(opens, closes);
    let lines = svg.matches("<polyline").count() + svg.matches("<path").count();
    // 3 runs × (RSS, peak, threshold, trend) + 2 restarts, plus legend marks.
    assert!(lines >= 14, "{lines} lines");
    for label in [
        "メモリ使用量",
        "RSS",
        "ピーク",
        "警告しきい値",
        "傾向線",
        "再起動",
    ] {
        assert!(svg.contains(label), "no {label} in the SVG");
    }
}

#[test]
fn png_plot_decodes_at_its_size() {
    let d = Dir::new("analyze-png");
    d.write("m.log", REFERENCE);
    ok_stdout(&analyze(&d, &["m.log", "--plot", "m.png"]));
    let png = std::fs::read(d.join("m.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Decoded in full, not only its header: a truncated or corrupt stream fails here.
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (1200, 790));
    // Not blank: the white background plus lines of several colours.
    let mut colours: Vec<&[u8]> = pixels.chunks(3).collect();
    colours.sort();
    colours.dedup();
    assert!(colours.len() > 10, "{} colours", colours.len());
    // The tracemalloc site's own curve is in the chart (its colour, above the band), not
    // only named in the legend.
    let site_color: &[u8] = &[148, 103, 189];
    let in_chart = pixels
        .chunks(3)
        .enumerate()
        .filter(|(i, px)| *px == site_color && i / 1200 < CHART_BOTTOM as usize)
        .count();
    assert!(in_chart > 500, "{in_chart} pixels of the site's curve");
    let out = analyze(&d, &["m.log", "--plot", "m.pdf"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Where the chart ends and the legend and verdict band begins, pixels from the top.
const CHART_BOTTOM: f64 = 560.0;

/// The SVG's `<text>` elements: x, y and the text.
fn svg_texts(svg: &str) -> Vec<(f64, f64, String)> {
    let attr = |tag: &str, name: &str| -> f64 {
        let tag = format!(" {tag}");
        let at = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        tag[at..].split('"').next().unwrap().parse().unwrap()
    };
    svg.split("<text ")
        .skip(1)
        .map(|rest| {
            let (tag, body) = rest.split_once('>').unwrap();
            let text = body.split("</text>").next().unwrap().trim().to_string();
            (attr(tag, "x"), attr(tag, "y"), text)
        })
        .collect()
}

/// What `memmon analyze` says is on the picture, in a band under the chart: the verdict, the
/// rate, the time until memory runs out, the footer's figures; the legend, the tracemalloc
/// site's entry included, is in that band too, so it covers no curve.
#[test]
fn the_plot_says_the_verdict_and_its_legend_covers_no_curve() {
    let d = Dir::new("analyze-plot-verdict");
    d.write("m.log", REFERENCE);
    ok_stdout(&analyze(&d, &["m.log", "--plot", "m.svg"]));
    let texts = svg_texts(&d.read("m.svg"));
    let find = |want: &str| {
        texts
            .iter()
            .find(|t| t.2 == want)
            .unwrap_or_else(|| panic!("no {want:?} in {texts:#?}"))
    };
    let lines = [
        "実行 1/1 判定: メモリリークの疑い",
        "ウォームアップ除外: 00:00:00 | 増加率: +723.47MB/時 (r² 1.000)",
        "空きメモリ枯渇までの推定: 1日 8時間 (空き 23666MB)",
        "初期メモリ: 15.20MB | 最終メモリ: 74.54MB | ピークメモリ: 74.52MB | メモリ増加量: +59.34MB",
    ];
    let mut last_y = CHART_BOTTOM;
    for line in lines {
        let (_, y, _) = find(line);
        assert!(*y > last_y, "{line} at y {y}");
        last_y = *y;
    }
    for label in [
        "警告しきい値 (初期値 +50MB)",
        "傾向線 (ウォームアップ後)",
        "ピーク",
        "RSS",
        "tracemalloc: memory_monitor.py:236 +720.00MB/時",
    ] {
        let (x, y, _) = find(label);
        assert!(*y > CHART_BOTTOM && *x < 440.0, "{label} at ({x}, {y})");
    }
    // The site's curve: a dot at each of its six blocks.
    assert_eq!(d.read("m.svg").matches("<circle").count(), 6 + 1);

    let en = {
        ok_stdout(&analyze(&d, &["m.log", "--plot", "en.svg", "--lang", "en"]));
        svg_texts(&d.read("en.svg"))
    };
    for want in [
        "Run 1/1 verdict: leak suspected",
        "Estimated time until available memory runs out: 1d 8h (available 23666MB)",
        "Baseline: 15.20MB | Last: 74.54MB | Peak: 74.52MB | Growth: +59.34MB",
    ] {
        assert!(en.iter().any(|t| t.2 == want), "no {want:?} in {en:#?}");
    }
}

#[test]
fn slow_leak_below_the_warning_line_is_found() {
    let d = Dir::new("analyze-slow");
    let mut g = Gen::new(2);
    g.header(t0(), "300");
    g.samples(t0(), 300, 24 * 12, 0.5, |t| 45.0 + t / 3600.0);
    d.write("m.log", &g.out);
    let v = json(&d, &["m.log"]);
    let run = &v["runs"][0];
    assert_eq!(run["verdict"], "leak");
    near(&run["slope_mb_per_hour"], 1.0, 0.1);
    assert!(run["growth_mb"].as_f64().unwrap() < 50.0);
    assert_eq!(run["warnings"], 0);
}

#[test]
fn rotated_files_are_ordered_by_time_and_restarts_counted() {
    let d = Dir::new("analyze-rotated");
    let mut logs = Vec::new();
    for run in 0..4 {
        let mut g = Gen::new(10 + run);
        let at = t0() + SignedDuration::from_hours(run as i64);
        g.header(at, "30");
        g.samples(at, 30, 100, 0.2, |t| {
            30.0 + 5.0 * (1.0 - (-t / 300.0).exp())
        });
        g.footer(at + SignedDuration::from_secs(3000), 137);
        logs.push(g.out);
    }
    // memory_usage.log.2 is oldest; the live file holds the last two runs.
    d.write("memory_usage.log.2", &logs[0]);
    d.write("memory_usage.log.1", &logs[1]);
    d.write("memory_usage.log", &(logs[2].clone() + &logs[3]));
    let v = json(
        &d,
        &[
            "memory_usage.log",
            "memory_usage.log.1",
            "memory_usage.log.2",
        ],
    );
    assert_eq!(
        v["files"],
        serde_json::json!([
            "memory_usage.log.2",
            "memory_usage.log.1",
            "memory_usage.log"
        ])
    );
    assert_eq!(v["restarts"], 3);
    assert_eq!(v["crash_loop"], true);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r["run"], i + 1);
        assert_eq!(r["verdict"], "normal");
        assert_eq!(r["exit_code"], 137);
    }
    assert_eq!(runs[0]["start"], "2025-11-21 09:00:00");
    let text = ok_stdout(&analyze(
        &d,
        &[
            "memory_usage.log",
            "memory_usage.log.1",
            "memory_usage.log.2",
        ],
    ));
    assert!(text.contains("再起動: 3回"), "{text}");
    assert!(text.contains("判定: 正常"), "{text}");
}

#[test]
fn since_and_until_cut_the_samples() {
    let d = Dir::new("analyze-window");
    d.write("m.log", REFERENCE);
    let v = json(
        &d,
        &[
            "m.log",
            "--since",
            "2026-11-24 19:01:00",
            "--until",
            "2026-11-24 19:02:00",
        ],
    );
    assert_eq!(v["runs"][0]["samples"], 12);
    assert_eq!(v["samples_outside_window"], 48);
    // The footer speaks of the whole run: with samples cut, the figures are the window's.
    let run = &v["runs"][0];
    assert_eq!(run["figures_from"], "samples");
    assert_eq!(run["runtime_s"], serde_json::Value::Null);
    assert_eq!(run["last_mb"], 31.33, "{run}");
    assert_eq!(run["end"], "2026-11-24 19:01:59", "{run}");
    // A day alone: from its start, up to its end.
    let day = json(
        &d,
        &["m.log", "--since", "2026-11-24", "--until", "2026-11-24"],
    );
    assert_eq!(day["runs"][0]["samples"], 60);
    let bad = analyze(&d, &["m.log", "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn garbage_invalid_utf8_and_a_cut_last_line_are_skipped_and_counted() {
    let d = Dir::new("analyze-garbage");
    let mut bytes = REFERENCE.as_bytes().to_vec();
    bytes.extend_from_slice(b"hello from another program\n\x82\xa0\x82\xa2 Shift_JIS\n[2026-11-24 19:05:40] \xe7\xb5\x8c");
    std::fs::write(d.join("m.log"), bytes).unwrap();
    let v = json(&d, &["m.log"]);
    assert_eq!(v["skipped_lines"], 3);
    assert_eq!(v["garbage_lines"], 1);
    assert_eq!(v["invalid_utf8_lines"], 1);
    assert_eq!(v["truncated_lines"], 1);
    assert_eq!(v["runs"][0]["samples"], 60);
}

#[test]
fn a_file_without_samples_or_missing_is_exit_2_naming_it() {
    let d = Dir::new("analyze-nosample");
    d.write("empty.log", "nothing here\n");
    d.write("m.log", REFERENCE);
    let out = analyze(&d, &["m.log", "empty.log"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty.log"));
    assert!(out.stdout.is_empty());
    let out = analyze(&d, &["missing.log"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.log"));
}

/// Reliability: memory stays flat however long the log. A 1M-line log (about 170 MB) is
/// analysed in under 16 MiB of peak RSS. The peak is the child's `ru_maxrss`, read by a small
/// Python wrapper whose only child is memmon (the test process has other tests' children).
#[test]
fn a_million_line_log_is_analysed_in_under_16_mib() {
    let d = Dir::new("analyze-1m");
    let mut g = Gen::new(5);
    g.header(t0(), "1");
    g.samples(t0(), 1, 1_000_000, 0.3, |t| 40.0 + t / 36_000.0);
    std::fs::write(d.join("big.log"), &g.out).unwrap();
    drop(g);
    let out = std::process::Command::new("python3")
        .current_dir(&d.path)
        .args([
            "-c",
            "import resource, subprocess, sys\n\
             r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n\
             print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.stdout.decode())",
            env!("CARGO_BIN_EXE_memmon"),
            "analyze",
            "big.log",
            "--json",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.splitn(3, ' ');
    assert_eq!(parts.next(), Some("0"), "{text}");
    let max_rss_kib: u64 = parts.next().unwrap().parse().unwrap();
    let v: Value = serde_json::from_str(parts.next().unwrap()).unwrap();
    assert_eq!(v["runs"][0]["samples"], 1_000_000);
    assert!(max_rss_kib < 16 * 1024, "peak RSS {max_rss_kib} KiB");
}

/// Runs that ended before their first sample line (the command exited during the start-up
/// delay) leave a header, an exit line and a footer with `-`: they are runs (restarts, a crash
/// loop), their unknown figures are `null` in the JSON and `-` in the text, and they add no
/// CSV row.
#[test]
fn runs_ended_before_their_first_sample_are_reported_with_dashes() {
    let d = Dir::new("analyze-dash");
    let mut g = Gen::new(3);
    for k in 0..3 {
        let at = t0() + SignedDuration::from_mins(10 * k);
        g.header(at, "300");
        g.full_footer(
            at + SignedDuration::from_secs(4),
            Some(1),
            4,
            [None, None, None, None],
        );
    }
    // Stopped during the delay with the process alive: 最終 and ピーク from the fresh sample.
    let at = t0() + SignedDuration::from_mins(30);
    g.header(at, "300");
    g.full_footer(
        at + SignedDuration::from_secs(20),
        None,
        20,
        [None, Some(31.5), Some(31.5), None],
    );
    // A run with samples and a whole footer.
    let at = t0() + SignedDuration::from_hours(1);
    g.header(at, "60");
    g.samples(at, 60, 30, 0.0, |_| 40.0);
    g.full_footer(
        at + SignedDuration::from_secs(1800),
        None,
        1800,
        [Some(40.0), Some(40.25), Some(40.25), Some(0.25)],
    );
    d.write("m.log", &g.out);
    let v = json(&d, &["m.log", "--csv", "m.csv"]);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5, "{v}");
    assert_eq!(v["restarts"], 4);
    assert_eq!(v["crash_loop"], true);
    for r in &runs[..3] {
        assert_eq!(r["samples"], 0);
        assert_eq!(r["figures_from"], "footer");
        for key in ["baseline_mb", "last_mb", "peak_mb", "growth_mb"] {
            assert_eq!(r[key], Value::Null, "{key}: {r}");
        }
        assert_eq!(r["exit_code"], 1);
        assert_eq!(r["runtime_s"], 4);
        assert_eq!(r["verdict"], "inconclusive");
        assert_eq!(r["reason"], "too_short");
        assert_eq!(r["last_available_mb"], Value::Null);
    }
    assert_eq!(runs[0]["start"], "2025-11-21 09:00:00");
    assert_eq!(runs[0]["end"], "2025-11-21 09:00:04");
    let fresh = &runs[3];
    assert_eq!(
        [
            &fresh["baseline_mb"],
            &fresh["last_mb"],
            &fresh["peak_mb"],
            &fresh["growth_mb"]
        ],
        [
            &Value::Null,
            &serde_json::json!(31.5),
            &serde_json::json!(31.5),
            &Value::Null
        ]
    );
    assert_eq!(fresh["ended"], "footer");
    assert_eq!(runs[4]["last_mb"], 40.25);
    assert_eq!(runs[4]["growth_mb"], 0.25);
    assert_eq!(runs[4]["samples"], 30);
    // Only the sampled run has CSV rows.
    let csv = d.read("m.csv");
    assert_eq!(csv.lines().count(), 1 + 30, "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",5")), "{csv}");

    let text = ok_stdout(&analyze(&d, &["m.log"]));
    assert!(
        text.contains(
            "実行 1/5: 2025-11-21 09:00:00 〜 2025-11-21 09:00:04 (PID 777)\n\
             \x20 実行時間: 00:00:04 (サンプル数: 0)\n\
             \x20 初期メモリ: - | 最終メモリ: - | ピークメモリ: - | メモリ増加量: -\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "  初期メモリ: - | 最終メモリ: 31.50MB | ピークメモリ: 31.50MB | メモリ増加量: -\n"
        ),
        "{text}"
    );
    assert!(text.contains("再起動: 4回"), "{text}");
    // And the plot draws the sampled run, skipping the others.
    ok_stdout(&analyze(&d, &["m.log", "--plot", "m.svg"]));
}

/// A file of only such runs is a memmon log, not "no sample line".
#[test]
fn a_log_whose_only_run_ended_before_its_first_sample_is_analysed() {
    let d = Dir::new("analyze-dash-only");
    let mut g = Gen::new(4);
    g.header(t0(), "300");
    g.full_footer(
        t0() + SignedDuration::from_secs(2),
        Some(0),
        2,
        [None, None, None, None],
    );
    d.write("m.log", &g.out);
    let v = json(&d, &["m.log"]);
    assert_eq!(v["runs"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["runs"][0]["last_mb"], Value::Null);
    assert_eq!(v["runs"][0]["exit_code"], 0);
}
