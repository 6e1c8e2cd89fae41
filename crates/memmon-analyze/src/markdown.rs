//! `memmon report`'s Markdown: one issue body (at most [`MAX_CHARS`] characters, GitHub's
//! bound) with the verdict, the rate, the time until memory runs out, the part and cause with
//! the guide's remedy, the growing lines, the last evidence bundle's sites and tracebacks,
//! restarts and OOM kills, the `memory_monitor` settings, memmon's version and the machine.
//!
//! Every figure is the value `memmon analyze --json` prints for the same logs: each run's JSON
//! object ([`crate::report`]'s) is built and read back here, so the two cannot disagree. The
//! report names no host and no address: the caller passes only the `memory_monitor` settings
//! (with the metrics address left out) and file names without their directories.

use crate::bundle::Parsed;
use crate::report::{ending_text, human_duration, run_json, verdict_text};
use crate::runs::{Analysis, RunSummary};
use crate::Lang;
use memmon_core::{Verdict, MIB};
use serde_json::Value;
use std::fmt::Write as _;

/// GitHub's bound on an issue body, in characters.
pub const MAX_CHARS: usize = 65_536;

/// A file of the report folder, as the report lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    /// The path inside the folder (`logs/memory_usage.log`), ASCII.
    pub name: String,
    /// The input's own file name, when it is a copy (no directory: paths name users).
    pub from: Option<String>,
    /// Bytes left out to keep the archive within GitHub's 25 MB: from the start (a log keeps
    /// its newest lines), or from the end when `cut_end` (a bundle keeps its start).
    pub cut_bytes: u64,
    /// The bytes cut were the file's last ones.
    pub cut_end: bool,
    /// Host names and addresses masked in the copy (`*` and `x` in their place).
    pub redacted: u64,
}

/// What the report says besides the analysis.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// memmon's version.
    pub version: String,
    /// The machine's model (device tree or DMI), when readable.
    pub machine: Option<String>,
    /// `MemTotal` of `/proc/meminfo`, KiB.
    pub mem_total_kib: Option<u64>,
    /// The `memory_monitor` settings, `(key, value)` in `check-config`'s order.
    pub settings: Vec<(String, String)>,
    /// The config file's name (`None`: the built-in defaults).
    pub settings_from: Option<String>,
    /// The files of the folder, in the order listed.
    pub files: Vec<FileEntry>,
    /// The newest bundle: its name in the folder and what it says.
    pub last_bundle: Option<(String, Parsed)>,
    /// How many bundles were found.
    pub bundles: usize,
    /// The bundles left out to keep the archive within 25 MB (their file names), oldest first.
    pub dropped: Vec<String>,
}

fn t(lang: Lang, ja: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

/// A JSON number as the report writes it (Rust's shortest form, which reads back to the same
/// value), `-` for `null`.
fn num(v: &Value) -> String {
    match v {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => f.to_string(),
            _ => n.to_string(),
        },
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A table cell: no `|` or line break inside.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A section: fixed text, or a heading and items that may be dropped from the end to fit.
struct Section {
    head: String,
    items: Vec<String>,
    tail: String,
    cuttable: bool,
}

impl Section {
    fn fixed(text: String) -> Section {
        Section {
            head: text,
            items: Vec::new(),
            tail: String::new(),
            cuttable: false,
        }
    }

    fn len(&self) -> usize {
        self.head.chars().count()
            + self.items.iter().map(|i| i.chars().count()).sum::<usize>()
            + self.tail.chars().count()
    }
}

fn cut_note(lang: Lang, left: usize, files: bool) -> String {
    match (lang, files) {
        (Lang::Ja, true) => {
            format!("\n_(切り詰め: 長さの上限のため残り {left} 項目を省略しました。アーカイブにすべて入っています)_\n")
        }
        (Lang::Ja, false) => {
            format!("\n_(切り詰め: 長さの上限のため残り {left} 項目を省略しました。ログとバンドルはアーカイブにあります)_\n")
        }
        (Lang::En, true) => format!(
            "\n_(cut: {left} more items left out to fit the length limit; the archive has them all)_\n"
        ),
        (Lang::En, false) => format!(
            "\n_(cut: {left} more items left out to fit the length limit; the logs and bundles are in the archive)_\n"
        ),
    }
}

/// Joins the sections within `limit` characters: the fixed ones whole, the cuttable ones in
/// order with as many of their items as fit, and a note saying how many were left out.
fn fit(sections: Vec<Section>, limit: usize, lang: Lang) -> String {
    let fixed: usize = sections
        .iter()
        .filter(|s| !s.cuttable)
        .map(Section::len)
        .sum();
    let mut budget = limit.saturating_sub(fixed);
    let mut out = String::new();
    for (i, s) in sections.iter().enumerate() {
        if !s.cuttable {
            out.push_str(&s.head);
            out.push_str(&s.tail);
            continue;
        }
        // What the later cuttable sections need at least (their headings and a note).
        let later: usize = sections[i + 1..]
            .iter()
            .filter(|s| s.cuttable)
            .map(|s| s.head.chars().count() + s.tail.chars().count() + 120)
            .sum();
        let whole = s.len();
        if whole + later <= budget {
            budget -= whole;
            out.push_str(&s.head);
            s.items.iter().for_each(|it| out.push_str(it));
            out.push_str(&s.tail);
            continue;
        }
        let note_room = 160;
        let mut used = s.head.chars().count() + s.tail.chars().count() + note_room;
        if used + later > budget {
            continue;
        }
        out.push_str(&s.head);
        let mut kept = 0;
        for it in &s.items {
            let n = it.chars().count();
            if used + n + later > budget {
                break;
            }
            used += n;
            kept += 1;
            out.push_str(it);
        }
        out.push_str(&s.tail);
        out.push_str(&cut_note(
            lang,
            s.items.len() - kept,
            i + 1 == sections.len(),
        ));
        budget = budget.saturating_sub(used);
    }
    // The sections above are sized to fit; this only guards the bound itself.
    if out.chars().count() > limit {
        out = out.chars().take(limit).collect();
    }
    out
}

/// The run the summary speaks of: the last run suspected of leaking, else the last run.
fn main_run(a: &Analysis) -> Option<&RunSummary> {
    a.runs
        .iter()
        .rev()
        .find(|r| r.verdict == Verdict::Leak)
        .or(a.runs.last())
}

/// The Markdown report of `a` (in `lang`), within [`MAX_CHARS`] characters.
pub fn render(a: &Analysis, ctx: &Context, lang: Lang) -> String {
    render_within(a, ctx, lang, MAX_CHARS)
}

/// [`render`] within `limit` characters.
pub fn render_within(a: &Analysis, ctx: &Context, lang: Lang, limit: usize) -> String {
    let runs: Vec<Value> = a
        .runs
        .iter()
        .map(|r| serde_json::to_value(run_json(r, lang)).unwrap_or(Value::Null))
        .collect();
    let mut sections = Vec::new();

    // Title and where it comes from.
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# {}\n",
        t(lang, "memmon メモリレポート", "memmon memory report")
    );
    let _ = writeln!(s, "- memmon: {}", ctx.version);
    let _ = writeln!(
        s,
        "- {}: {}",
        t(lang, "機種", "Machine"),
        ctx.machine
            .as_deref()
            .unwrap_or(t(lang, "(不明)", "(unknown)"))
    );
    match ctx.mem_total_kib {
        Some(k) => {
            let _ = writeln!(
                s,
                "- {}: {} MB (MemTotal {k} kB)",
                t(lang, "メモリ", "Memory"),
                (k as f64 / 1024.0).round()
            );
        }
        None => {
            let _ = writeln!(s, "- {}: -", t(lang, "メモリ", "Memory"));
        }
    }
    let _ = writeln!(
        s,
        "- {}: {}, {}: {}, {}: {}, {}: {}",
        t(lang, "実行", "Runs"),
        a.runs.len(),
        t(lang, "再起動", "Restarts"),
        a.restarts(),
        t(lang, "OOM kill", "OOM kills"),
        a.runs.iter().map(|r| r.oom_kills).sum::<u64>(),
        t(lang, "証拠バンドル", "Evidence bundles"),
        ctx.bundles
    );
    if a.crash_loop() {
        let _ = writeln!(
            s,
            "- {}",
            t(
                lang,
                "**クラッシュループ**: 再起動が繰り返されています",
                "**Crash loop**: the command keeps restarting"
            )
        );
    }
    s.push('\n');
    sections.push(Section::fixed(s));

    // The summary of the run that matters.
    let mut s = format!("## {}\n\n", t(lang, "判定", "Verdict"));
    let main = main_run(a).and_then(|r| {
        let i = a.runs.iter().position(|x| std::ptr::eq(x, r))?;
        Some((r, runs.get(i)?))
    });
    match main {
        Some((r, j)) => summary(&mut s, r, j, lang),
        None => {
            let _ = writeln!(s, "{}", t(lang, "サンプルがありません。", "No samples."));
        }
    }
    s.push('\n');
    sections.push(Section::fixed(s));

    // Every run, a row each.
    let head = format!(
        "## {}\n\n{}\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        t(lang, "実行ごと", "Runs"),
        t(
            lang,
            "| 実行 | 開始 | 期間 | 判定 | 増加率 MB/時 | R² | 枯渇まで (秒) | 増加 MB | ピーク MB | 警告 | OOM kill | 終わり方 |",
            "| Run | Start | Duration | Verdict | Rate MB/h | R² | Until exhausted (s) | Growth MB | Peak MB | Warnings | OOM kills | Ending |"
        )
    );
    let items = a
        .runs
        .iter()
        .zip(&runs)
        .map(|(r, j)| {
            format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                num(&j["run"]),
                j["start"].as_str().unwrap_or("-"),
                human_duration(r.duration_s() as f64, lang),
                j["verdict"].as_str().unwrap_or("-"),
                num(&j["slope_mb_per_hour"]),
                num(&j["r2"]),
                num(&j["time_to_exhaustion_s"]),
                num(&j["growth_mb"]),
                num(&j["peak_mb"]),
                num(&j["warnings"]),
                num(&j["oom_kills"]),
                cell(&ending_text(&r.ending, lang)),
            )
        })
        .collect();
    sections.push(Section {
        head,
        items,
        tail: "\n".into(),
        cuttable: true,
    });

    // The lines that grow, from the log's tracemalloc blocks.
    let mut items = Vec::new();
    for (r, j) in a.runs.iter().zip(&runs) {
        let Some(sites) = j["growing_sites"].as_array() else {
            continue;
        };
        for site in sites {
            let slope = site["slope_bytes_per_hour"].as_f64().unwrap_or(0.0);
            let last = site["last_size"].as_f64().unwrap_or(0.0);
            items.push(format!(
                "- {} {}: `{}` {:+.3} MiB{} ({} {:.3} MiB)\n",
                t(lang, "実行", "run"),
                r.index,
                site["site"].as_str().unwrap_or("?").replace('`', "'"),
                slope / MIB as f64,
                t(lang, "/時", "/h"),
                t(lang, "最後", "last"),
                last / MIB as f64,
            ));
        }
    }
    if !items.is_empty() {
        sections.push(Section {
            head: format!(
                "## {}\n\n",
                t(lang, "増え続けている行 (ログ)", "Growing lines (log)")
            ),
            items,
            tail: "\n".into(),
            cuttable: true,
        });
    }

    // The newest bundle's sites and tracebacks.
    if let Some((name, b)) = &ctx.last_bundle {
        let mut head = format!(
            "## {}: `{name}`\n\n",
            t(lang, "最後の証拠バンドル", "Last evidence bundle")
        );
        if let Some(tr) = &b.trigger {
            let _ = writeln!(head, "- {}: {tr}", t(lang, "トリガー", "Trigger"));
        }
        if let Some(tm) = &b.time {
            let _ = writeln!(head, "- {}: {tm}", t(lang, "時刻", "Time"));
        }
        for n in &b.notes {
            let _ = writeln!(head, "- {}", note_in(lang, n));
        }
        if b.truncated {
            let _ = writeln!(
                head,
                "- {}",
                t(
                    lang,
                    "バンドルはサイズ上限で切り詰められています",
                    "the bundle was cut to its size bound"
                )
            );
        }
        head.push('\n');
        if b.sites.is_empty() {
            let _ = writeln!(
                head,
                "{}\n",
                t(
                    lang,
                    "割り当て箇所はありません (Python のフックなし、または取得前)。",
                    "No allocation sites (no Python hook, or none captured)."
                )
            );
        }
        let items = b
            .sites
            .iter()
            .enumerate()
            .map(|(i, site)| {
                let mut it = format!(
                    "{}. PID {}: `{}`\n",
                    i + 1,
                    site.pid,
                    site.line.replace('`', "'")
                );
                if !site.frames.is_empty() {
                    it.push_str("   ```text\n");
                    for f in &site.frames {
                        let _ = writeln!(it, "   {}", f.replace("```", "'''"));
                    }
                    it.push_str("   ```\n");
                }
                it
            })
            .collect();
        sections.push(Section {
            head,
            items,
            tail: "\n".into(),
            cuttable: true,
        });
    }

    // The settings: the memory_monitor block only.
    let mut s = format!("## {} (`memory_monitor`)\n\n", t(lang, "設定", "Settings"));
    match &ctx.settings_from {
        Some(f) => {
            let _ = writeln!(
                s,
                "{}: `{}`\n",
                t(lang, "設定ファイル", "Config file"),
                f.replace('`', "'")
            );
        }
        None => {
            let _ = writeln!(
                s,
                "{}\n",
                t(
                    lang,
                    "設定ファイルなし (既定値)",
                    "No config file (the defaults)"
                )
            );
        }
    }
    s.push_str("```text\n");
    for (k, v) in &ctx.settings {
        let _ = writeln!(s, "{k} = {}", v.replace("```", "'''"));
    }
    s.push_str("```\n\n");
    sections.push(Section::fixed(s));

    sections.extend(files::sections(ctx, lang));
    fit(sections, limit, lang)
}

/// The summary bullets of one run, from its JSON object `j`.
fn summary(s: &mut String, r: &RunSummary, j: &Value, lang: Lang) {
    let _ = writeln!(
        s,
        "- {} ({} {}): **{}**",
        t(lang, "判定", "Verdict"),
        t(lang, "実行", "run"),
        r.index,
        verdict_text(r.verdict, lang)
    );
    let _ = writeln!(
        s,
        "- {}: {} MB{} (R² {})",
        t(lang, "増加率", "Rate"),
        num(&j["slope_mb_per_hour"]),
        t(lang, "/時", "/h"),
        num(&j["r2"])
    );
    let tte = match j["time_to_exhaustion_s"].as_f64() {
        Some(secs) => format!(
            "{} ({} {})",
            human_duration(secs, lang),
            num(&j["time_to_exhaustion_s"]),
            t(lang, "秒", "s")
        ),
        None => t(lang, "- (増えていません)", "- (not growing)").to_owned(),
    };
    let _ = writeln!(
        s,
        "- {}: {tte}",
        t(lang, "メモリが尽きるまで", "Until memory runs out")
    );
    let _ = writeln!(
        s,
        "- {}: {} MB, {}: {} MB, {}: {} MB",
        t(lang, "増加", "Growth"),
        num(&j["growth_mb"]),
        t(lang, "ピーク", "Peak"),
        num(&j["peak_mb"]),
        t(lang, "最後の空きメモリ", "Last available"),
        num(&j["last_available_mb"])
    );
    let att = &j["attribution"];
    if att.is_object() {
        let part = r
            .diagnosis
            .as_ref()
            .and_then(|d| d.attribution)
            .filter(|_| !att["part"].is_null())
            .map(|a| a.part);
        if let Some(part) = part {
            let _ = writeln!(
                s,
                "- {}: {} ({} {}{})",
                t(lang, "増えている部分", "The part that grows"),
                part.name(lang),
                num(&att["rate_per_hour"]),
                if part.is_bytes() { "MiB" } else { "" },
                t(lang, "/時", "/h")
            );
        }
        let _ = writeln!(
            s,
            "- {}: {}",
            t(lang, "原因", "Cause"),
            att["name"].as_str().unwrap_or("-")
        );
        if let Some(remedy) = att["remedy"].as_str() {
            let _ = writeln!(s, "- {}: {remedy}", t(lang, "対処", "Remedy"));
        }
    }
    let _ = writeln!(
        s,
        "- {}: {}, OOM kill: {}",
        t(lang, "警告", "Warnings"),
        num(&j["warnings"]),
        num(&j["oom_kills"])
    );
}

#[path = "markdown_files.rs"]
mod files;

#[cfg(test)]
#[path = "markdown_tests.rs"]
mod tests;

/// A bundle's note (written in Japanese by the recorder) for the report: as written in `ja`;
/// in `en`, the known notes said in English with the bundle's own text after them, so their
/// figures stay as the bundle has them.
fn note_in(lang: Lang, note: &str) -> String {
    if lang == Lang::Ja {
        return note.to_owned();
    }
    let said = if note.starts_with("推定:") {
        "Sizes and counts below are estimates from a sample of the live objects (never a copy of tracemalloc's traces)"
    } else if note.starts_with("注意: tracemalloc はこの取得のために開始されました")
    {
        "tracemalloc was started for this capture: it shows only what was allocated since"
    } else if note.starts_with("注意: 割り当て箇所と型は取得しませんでした") {
        "No sites or types were taken: too little memory was left for the list of objects the capture walks"
    } else {
        return note.to_owned();
    };
    format!("{said} (the bundle: {note})")
}
