//! `memmon report LOG…`: one folder and one `.tgz` to attach to an issue (issue #20 item 2):
//! `report.md` (the issue body), `plot.png`, the logs and the evidence bundles, ASCII names.
//!
//! The users' tracker is public, so nothing goes in that names a host or an address: of the
//! config only the `memory_monitor` settings (the metrics address and the metrics label left
//! out), of the inputs only their file names. Nothing is written over an existing path or an
//! input: the folder is created with `mkdir` and the archive with `O_EXCL`.

use crate::lang::LangArg;
use clap::Args;
use memmon_analyze::archive::{self, ascii_name, MAX_FILE_BYTES, MAX_IMAGE_BYTES};
use memmon_analyze::markdown::{self, Context, FileEntry};
use memmon_analyze::{bundle, outputs, Lang, Request};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// `memmon report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Log files (rotated ones such as memory_usage.log.1 may be given together, in any order);
    /// the evidence bundles beside them (memory_usage.evidence/) are taken too
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,
    /// The folder to write; the archive is DIR.tgz beside it. Neither may exist [default: ./memmon-report-YYYYMMDD-HHMMSS]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The config whose memory_monitor settings the report lists (no other key is read out) [default: ./client_config.json when present]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Language of the report and the plot's labels
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    pub lang: LangArg,
}

fn tr(lang: Lang, ja: String, en: String) -> String {
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

/// Runs `memmon report`; returns the exit code (2 when nothing, or not everything, was written).
///
/// Never inlined, like `analyze::run`: `memmon run` never calls it, and out of line it stays in
/// `.text.cold` (cold-text.ld's `memmon::report`, `tar` and `filetime` patterns).
#[inline(never)]
pub fn run(args: ReportArgs) -> i32 {
    match report(&args) {
        Ok(()) => 0,
        Err(message) => {
            memmon_watch::say!("memmon: {message}");
            2
        }
    }
}

/// The archive's path: the folder's with `.tgz` added.
fn archive_path(folder: &Path) -> PathBuf {
    let mut name = folder.file_name().unwrap_or_default().to_os_string();
    name.push(".tgz");
    folder.with_file_name(name)
}

fn report(args: &ReportArgs) -> Result<(), String> {
    let lang = args.lang.get();
    let folder = match &args.out {
        Some(p) => p.clone(),
        None => PathBuf::from(
            memmon_format::LogFormat::system()
                .local_time(std::time::SystemTime::now())
                .strftime("memmon-report-%Y%m%d-%H%M%S")
                .to_string(),
        ),
    };
    if folder.file_name().is_none() {
        return Err(tr(
            lang,
            format!("--out {}: フォルダ名がありません", folder.display()),
            format!("--out {}: not a folder name", folder.display()),
        ));
    }
    let archive = archive_path(&folder);
    outputs::check(
        &args.logs,
        &[
            ("--out", folder.as_path()),
            ("the archive", archive.as_path()),
        ],
    )
    .map_err(|e| e.to_string())?;
    for p in [&folder, &archive] {
        if p.symlink_metadata().is_ok() {
            return Err(tr(
                lang,
                format!(
                    "{} は既にあります。上書きしません (何も書いていません)。--out で別の名前を指定してください",
                    p.display()
                ),
                format!(
                    "{} exists; memmon report never overwrites (nothing was written). Pick another name with --out",
                    p.display()
                ),
            ));
        }
    }
    if let Some(c) = &args.config {
        outputs::check(std::slice::from_ref(c), &[("--out", folder.as_path())])
            .map_err(|e| e.to_string())?;
    }
    let resolved = crate::settings::load_config(args.config.as_deref(), lang).map_err(|e| {
        crate::lang::config_error(lang, &e);
        tr(
            lang,
            "設定ファイルを読めません (何も書いていません)".into(),
            "the config file cannot be read (nothing was written)".into(),
        )
    })?;
    std::fs::create_dir(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    match fill(args, lang, &folder, &archive, &resolved) {
        Ok(()) => Ok(()),
        Err(e) => {
            // Only what this command created: the folder made above, and the archive when it
            // was begun (O_EXCL: it was not there before).
            let _ = std::fs::remove_dir_all(&folder);
            Err(e)
        }
    }
}

fn fill(
    args: &ReportArgs,
    lang: Lang,
    folder: &Path,
    archive_out: &Path,
    resolved: &crate::settings::Resolved,
) -> Result<(), String> {
    let io_err = |p: &Path| {
        let p = p.to_owned();
        move |e: io::Error| format!("{}: {e}", p.display())
    };
    // The analysis, and the plot drawn into the folder.
    let plot = folder.join("plot.png");
    let request = Request {
        logs: args.logs.clone(),
        plot: Some(plot.clone()),
        lang,
        ..Request::default()
    };
    let (analysis, _read) = memmon_analyze::analyze_files(&request).map_err(|e| e.to_string())?;
    let mut notes: Vec<(String, Option<String>, u64, u64)> = Vec::new();
    let redactor = Redactor::for_this_machine();
    if std::fs::metadata(&plot).is_ok_and(|m| m.len() > MAX_IMAGE_BYTES) {
        std::fs::remove_file(&plot).map_err(io_err(&plot))?;
    }

    // The logs, their last 25 MB at most.
    let logs_dir = folder.join("logs");
    std::fs::create_dir(&logs_dir).map_err(io_err(&logs_dir))?;
    let mut used: Vec<String> = Vec::new();
    for log in &args.logs {
        // A stream (stdin, a FIFO) was read by the analysis and cannot be read again.
        if !std::fs::metadata(log).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let original = log
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = unique(&mut used, &ascii_name(&original));
        let dst = logs_dir.join(&name);
        let (cut, masked) = copy_capped(log, &dst, true, &redactor).map_err(io_err(log))?;
        notes.push((format!("logs/{name}"), Some(original), cut, masked));
    }

    // The bundles beside the logs, oldest first.
    let bundles = bundle::find(&args.logs);
    let mut last_bundle = None;
    if !bundles.is_empty() {
        let ev = folder.join("evidence");
        std::fs::create_dir(&ev).map_err(io_err(&ev))?;
        let mut used = Vec::new();
        for b in &bundles {
            let original = b
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = unique(&mut used, &ascii_name(&original));
            let dst = ev.join(&name);
            let (cut, masked) = copy_capped(b, &dst, false, &redactor).map_err(io_err(b))?;
            notes.push((format!("evidence/{name}"), None, cut, masked));
            last_bundle = Some(format!("evidence/{name}"));
        }
    }
    let last_bundle = match last_bundle {
        Some(name) => {
            let bytes = std::fs::read(folder.join(&name)).map_err(io_err(&folder.join(&name)))?;
            Some((name, bundle::parse(&String::from_utf8_lossy(&bytes))))
        }
        None => None,
    };

    // Every file the archive will hold, report.md included.
    let mut names = archive::files_under(folder).map_err(io_err(folder))?;
    names.push("report.md".into());
    names.sort();
    let files = names
        .into_iter()
        .map(|name| {
            let note = notes.iter().find(|n| n.0 == name);
            FileEntry {
                from: note.and_then(|n| n.1.clone()),
                cut_bytes: note.map_or(0, |n| n.2),
                redacted: note.map_or(0, |n| n.3),
                name,
            }
        })
        .collect();
    let ctx = Context {
        version: env!("CARGO_PKG_VERSION").into(),
        machine: machine_model(),
        mem_total_kib: mem_total_kib(),
        settings: public_settings(&resolved.config),
        settings_from: resolved.source.as_ref().map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        files,
        last_bundle,
        bundles: bundles.len(),
    };
    let mut md = markdown::render(&analysis, &ctx, lang).into_bytes();
    // The growing lines and tracebacks come from the logs: masked as the copies are.
    redactor.mask(&mut md);
    let report_md = folder.join("report.md");
    write_new(&report_md, &md).map_err(io_err(&report_md))?;
    let inside = archive::write_tgz(folder, archive_out).map_err(|e| {
        // Begun by this command (O_EXCL), unless it was there already.
        if e.kind() != io::ErrorKind::AlreadyExists {
            let _ = std::fs::remove_file(archive_out);
        }
        format!("{}: {e}", archive_out.display())
    })?;
    let size = std::fs::metadata(archive_out).map_or(0, |m| m.len());
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "{}",
        tr(
            lang,
            format!(
                "レポートを書きました: {}\nアーカイブ ({} ファイル, {} バイト): {}\nreport.md の内容を issue に貼り、アーカイブを添付してください。",
                folder.display(),
                inside.len(),
                size,
                archive_out.display()
            ),
            format!(
                "Report written: {}\nArchive ({} files, {} bytes): {}\nPaste report.md into the issue and attach the archive.",
                folder.display(),
                inside.len(),
                size,
                archive_out.display()
            ),
        )
    );
    if size > MAX_FILE_BYTES {
        memmon_watch::say!(
            "{}",
            tr(
                lang,
                "memmon: アーカイブが GitHub の上限 25 MB を超えています。フォルダ内のファイルを分けて添付してください".into(),
                "memmon: the archive is over GitHub's 25 MB: attach the folder's files separately".into(),
            )
        );
    }
    let _ = out.flush();
    Ok(())
}

/// `name`, or `N-name` when it is taken already.
fn unique(used: &mut Vec<String>, name: &str) -> String {
    let mut candidate = name.to_owned();
    let mut n = 1;
    while used.contains(&candidate) {
        n += 1;
        candidate = format!("{n}-{name}");
    }
    used.push(candidate.clone());
    candidate
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Masks what names this machine or an address in the text that travels: this machine's host
/// name (as a word: `*` for each of its bytes) and IPv4 addresses (`x` for each digit). The
/// replacement is never longer than what it replaces, so a copy stays within its bound.
pub struct Redactor {
    host: Option<Vec<u8>>,
}

impl Redactor {
    /// This machine's host name, from the kernel.
    pub fn for_this_machine() -> Redactor {
        let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .map(|h| h.trim().as_bytes().to_vec())
            .filter(|h| h.len() >= 2);
        Redactor { host }
    }

    /// Masks `text` in place; returns how many were masked.
    pub fn mask(&self, text: &mut [u8]) -> u64 {
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        let mut n = 0;
        if let Some(host) = &self.host {
            let mut i = 0;
            while i + host.len() <= text.len() {
                let at = &text[i..i + host.len()];
                let before = i.checked_sub(1).map(|j| text[j]);
                let after = text.get(i + host.len()).copied();
                if at.eq_ignore_ascii_case(host)
                    && !before.is_some_and(word)
                    && !after.is_some_and(word)
                {
                    text[i..i + host.len()].fill(b'*');
                    n += 1;
                    i += host.len();
                } else {
                    i += 1;
                }
            }
        }
        // IPv4: four groups of 1-3 digits joined by dots, not part of a longer number or word.
        let mut i = 0;
        while i < text.len() {
            let before = i.checked_sub(1).map(|j| text[j]);
            if !text[i].is_ascii_digit() || before.is_some_and(|b| word(b) || b == b'.') {
                i += 1;
                continue;
            }
            let mut j = i;
            let mut groups = 0;
            loop {
                let start = j;
                while j < text.len() && text[j].is_ascii_digit() && j - start < 4 {
                    j += 1;
                }
                let len = j - start;
                if len == 0 || len > 3 {
                    groups = 0;
                    break;
                }
                groups += 1;
                if groups == 4 || j >= text.len() || text[j] != b'.' {
                    break;
                }
                j += 1;
            }
            let after = text.get(j).copied();
            // Not followed by a word, nor by `.` and a digit (a fifth group: a version).
            let fifth = after == Some(b'.') && text.get(j + 1).is_some_and(u8::is_ascii_digit);
            let ends_clean = !after.is_some_and(word) && !fifth;
            if groups == 4 && ends_clean {
                text[i..j]
                    .iter_mut()
                    .filter(|b| b.is_ascii_digit())
                    .for_each(|b| *b = b'x');
                n += 1;
                i = j;
            } else {
                // Past this run of digits and dots.
                while i < text.len() && (text[i].is_ascii_digit() || text[i] == b'.') {
                    i += 1;
                }
            }
        }
        n
    }
}

/// Copies `src` to a new file `dst`, at most GitHub's 25 MB, masked line by line: a longer
/// file keeps its end (a log, from a line's start) or its start (a bundle). Returns the bytes
/// left out and how many host names or addresses were masked.
fn copy_capped(src: &Path, dst: &Path, keep_end: bool, r: &Redactor) -> io::Result<(u64, u64)> {
    let mut from = File::open(src)?;
    let len = from.metadata()?.len();
    let mut to = io::BufWriter::new(OpenOptions::new().write(true).create_new(true).open(dst)?);
    let mut cut = 0;
    if len > MAX_FILE_BYTES && keep_end {
        from.seek(SeekFrom::Start(len - MAX_FILE_BYTES))?;
    }
    let mut reader = BufReader::new(from);
    if len > MAX_FILE_BYTES && keep_end {
        // Drop the partial line the cut falls into.
        let mut partial = Vec::new();
        reader.read_until(b'\n', &mut partial)?;
        cut = len - MAX_FILE_BYTES + partial.len() as u64;
    }
    let (mut written, mut masked) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        // A line is read whole only up to the bound: a file without line breaks stays bounded.
        let got = (&mut reader)
            .take(MAX_FILE_BYTES + 1)
            .read_until(b'\n', &mut line)?;
        if got == 0 {
            break;
        }
        if written + got as u64 > MAX_FILE_BYTES {
            cut += len.saturating_sub(cut + written);
            break;
        }
        masked += r.mask(&mut line);
        to.write_all(&line)?;
        written += got as u64;
    }
    let file = to.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok((cut, masked))
}

/// The `memory_monitor` settings as `check-config` lists them, without the values that may
/// name a host: the metrics address and the metrics label (often the host's role or name).
fn public_settings(config: &memmon_config::Config) -> Vec<(String, String)> {
    config
        .describe()
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| {
            let v = match k {
                "metrics_listen" | "name" if v != "(none)" => "(set; left out of the report)",
                _ => v,
            };
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The machine's model: the device tree's (a Raspberry Pi's `Raspberry Pi 4 Model B Rev 1.4`),
/// else DMI's vendor and product name; never the host name.
fn machine_model() -> Option<String> {
    let read = |p: &str| {
        std::fs::read(p).ok().map(|b| {
            String::from_utf8_lossy(&b)
                .trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
    };
    if let Some(m) = read("/proc/device-tree/model").filter(|m| !m.is_empty()) {
        return Some(m);
    }
    let product = read("/sys/class/dmi/id/product_name").filter(|m| !m.is_empty())?;
    match read("/sys/class/dmi/id/sys_vendor").filter(|v| !v.is_empty()) {
        Some(v) if !product.starts_with(&v) => Some(format!("{v} {product}")),
        _ => Some(product),
    }
}

/// `MemTotal` of `/proc/meminfo`, KiB.
fn mem_total_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn settings_leave_out_addresses() {
        let c = memmon_config::Config {
            metrics_listen: Some("192.0.2.7:9100".parse().unwrap()),
            name: Some("pi-gate-3".into()),
            ..Default::default()
        };
        let s = public_settings(&c);
        let all = format!("{s:?}");
        assert!(
            !all.contains("192.0.2.7") && !all.contains("pi-gate-3"),
            "{all}"
        );
        assert!(s.iter().any(|(k, v)| k == "interval" && v == "300"));
        assert_eq!(s.len(), c.describe().lines().count());
    }

    #[test]
    fn host_names_and_addresses_are_masked_in_place() {
        let r = Redactor {
            host: Some(b"pi-gate-3".to_vec()),
        };
        let mut t =
            b"pi-gate-3: to 192.168.1.20:8080 from PI-GATE-3, not pi-gate-30 or v1.2.3.4.5 \
or 10.0.0.256x [2026-12-05 14:30:00] 12.34MB"
                .to_vec();
        let n = r.mask(&mut t);
        assert_eq!(
            String::from_utf8(t).unwrap(),
            "*********: to xxx.xxx.x.xx:8080 from *********, not pi-gate-30 or v1.2.3.4.5 \
or 10.0.0.256x [2026-12-05 14:30:00] 12.34MB"
        );
        assert_eq!(n, 3);
    }

    #[test]
    fn unique_names() {
        let mut used = Vec::new();
        assert_eq!(unique(&mut used, "a.log"), "a.log");
        assert_eq!(unique(&mut used, "a.log"), "2-a.log");
        assert_eq!(unique(&mut used, "a.log"), "3-a.log");
    }

    #[test]
    fn a_long_log_keeps_its_last_lines() {
        let d = std::env::temp_dir().join(format!("memmon-report-cap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let src = d.join("big.log");
        let line = "x".repeat(99) + "\n";
        let n = (MAX_FILE_BYTES / 100 + 50) as usize;
        std::fs::write(&src, line.repeat(n)).unwrap();
        let dst = d.join("copy.log");
        let r = Redactor { host: None };
        let (cut, _) = copy_capped(&src, &dst, true, &r).unwrap();
        let len = std::fs::metadata(&dst).map_or(0, |m| m.len());
        assert!(len <= MAX_FILE_BYTES);
        assert_eq!(cut + len, (n * 100) as u64);
        assert_eq!(len % 100, 0, "whole lines only");
        let _ = std::fs::remove_dir_all(&d);
    }
}
