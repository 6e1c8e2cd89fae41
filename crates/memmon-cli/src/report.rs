//! `memmon report LOG…`: one folder and one `.tgz` to attach to an issue (issue #20 item 2):
//! `report.md` (the issue body), `plot.png`, the logs and the evidence bundles, ASCII names.
//!
//! The users' tracker is public, so nothing goes in that names a host or an address unless
//! `--keep-hosts` asks: of the config only the `memory_monitor` settings (the metrics address
//! and the metrics label left out), of the inputs only their file names, and in what is copied
//! and in `report.md` this machine's host name, what the config names outside
//! `memory_monitor` and any address are masked (memmon-analyze's `redact`). The archive stays
//! within GitHub's 25 MB: the copies are budgeted before they are written
//! (`archive::content_budget`, `archive::share`). Nothing is written over an existing path or
//! an input: the folder is created with `mkdir` and the archive with `O_EXCL`.

use crate::lang::LangArg;
use clap::Args;
use memmon_analyze::archive::{self, ascii_name, MAX_FILE_BYTES, MAX_IMAGE_BYTES};
use memmon_analyze::markdown::{self, Context, FileEntry};
use memmon_analyze::redact::{config_names, Redactor};
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
    /// The config whose memory_monitor settings the report lists; its other values (the server address) are read only to mask them, never written out [default: ./client_config.json when present]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Language of the report and the plot's labels
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    pub lang: LangArg,
    /// Do not mask host names and addresses (this machine's, the config's, URLs', IPv4 and IPv6) in the copies and report.md: for a private tracker only
    #[arg(long)]
    pub keep_hosts: bool,
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
    // What to mask, known before anything is written ("unless asked": --keep-hosts).
    let redactor = if args.keep_hosts {
        None
    } else {
        let mut names: Vec<String> = machine_host_name().into_iter().collect();
        if let Some(config) = &resolved.source {
            let values = memmon_config::other_strings(config).map_err(|e| {
                crate::lang::config_error(lang, &e);
                tr(
                    lang,
                    format!(
                        "{}: 設定ファイルを読めません (何も書いていません)",
                        config.display()
                    ),
                    format!(
                        "{}: the config file cannot be read (nothing was written)",
                        config.display()
                    ),
                )
            })?;
            names.extend(config_names(&values));
        }
        Some(Redactor::new(names))
    };
    std::fs::create_dir(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    match fill(args, lang, &folder, &archive, &resolved, redactor.as_ref()) {
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
    redactor: Option<&Redactor>,
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
    if std::fs::metadata(&plot).is_ok_and(|m| m.len() > MAX_IMAGE_BYTES) {
        std::fs::remove_file(&plot).map_err(io_err(&plot))?;
    }
    let plot_len = std::fs::metadata(&plot).map_or(0, |m| m.len());

    // What goes in, named as inside the folder. A stream (stdin, a FIFO) was read by the
    // analysis and cannot be read again.
    let mut used = Vec::new();
    let mut logs: Vec<Input> = Vec::new();
    for log in args.logs.iter() {
        let Ok(meta) = std::fs::metadata(log) else {
            continue;
        };
        if meta.is_file() {
            let original = file_name(log);
            let name = format!("logs/{}", unique(&mut used, &ascii_name(&original)));
            logs.push(Input::new(log, name, original, meta.len(), false));
        }
    }
    let mut used = Vec::new();
    let mut bundles: Vec<Input> = Vec::new();
    for b in bundle::find(&args.logs) {
        let len = std::fs::metadata(&b).map_err(io_err(&b))?.len();
        let original = file_name(&b);
        let name = format!("evidence/{}", unique(&mut used, &ascii_name(&original)));
        let oom = bundle::oom_named(&b);
        bundles.push(Input::new(&b, name, original, len, oom));
    }

    // The archive within GitHub's 25 MB whatever the contents: the copies' bytes are budgeted
    // before any is written (masking never lengthens them), with room for the plot and for
    // report.md at its longest (65,536 characters of up to 4 bytes).
    let root = folder.file_name().map_or(0, |n| n.len());
    let path_lens: Vec<usize> = ["report.md", "plot.png"]
        .into_iter()
        .chain(logs.iter().chain(&bundles).map(|i| i.name.as_str()))
        .map(|n| root + 1 + n.len())
        .collect();
    let budget = archive::content_budget(MAX_FILE_BYTES, &path_lens)
        .saturating_sub(plot_len + 4 * markdown::MAX_CHARS as u64);
    let (bundle_caps, log_caps) = archive::share(
        budget,
        &bundles.iter().map(|b| (b.len, b.oom)).collect::<Vec<_>>(),
        &logs.iter().map(|l| l.len).collect::<Vec<_>>(),
    );

    // What the report says of each copy: what it was, how much was cut, how much masked.
    let mut notes: Vec<FileEntry> = Vec::new();
    let logs_dir = folder.join("logs");
    std::fs::create_dir(&logs_dir).map_err(io_err(&logs_dir))?;
    for (log, cap) in logs.iter().zip(log_caps) {
        let (cut, masked) = copy_capped(&log.src, &folder.join(&log.name), true, cap, redactor)
            .map_err(io_err(&log.src))?;
        notes.push(FileEntry {
            name: log.name.clone(),
            from: Some(log.original.clone()),
            cut_bytes: cut,
            cut_end: false,
            redacted: masked,
        });
    }
    let mut dropped = Vec::new();
    let mut last_bundle = None;
    if !bundles.is_empty() {
        let ev = folder.join("evidence");
        std::fs::create_dir(&ev).map_err(io_err(&ev))?;
    }
    for (b, cap) in bundles.iter().zip(bundle_caps) {
        let Some(cap) = cap else {
            dropped.push(b.original.clone());
            continue;
        };
        let (cut, masked) = copy_capped(&b.src, &folder.join(&b.name), false, cap, redactor)
            .map_err(io_err(&b.src))?;
        notes.push(FileEntry {
            name: b.name.clone(),
            from: None,
            cut_bytes: cut,
            cut_end: true,
            redacted: masked,
        });
        last_bundle = Some(b.name.clone());
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
        .map(|name| match notes.iter().find(|n| n.name == name) {
            Some(note) => note.clone(),
            None => FileEntry {
                name,
                from: None,
                cut_bytes: 0,
                cut_end: false,
                redacted: 0,
            },
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
        dropped,
    };
    let mut md = markdown::render(&analysis, &ctx, lang).into_bytes();
    // The growing lines and tracebacks come from the logs: masked as the copies are.
    if let Some(r) = redactor {
        r.mask(&mut md);
    }
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
                // Budgeted not to happen (content_budget): said, should the bound ever fail.
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

/// A file to copy into the folder: where it is, its name inside the folder
/// (`logs/memory_usage.log`), its own file name, its size, and (a bundle) whether an OOM line
/// names it.
struct Input {
    src: PathBuf,
    name: String,
    original: String,
    len: u64,
    oom: bool,
}

impl Input {
    fn new(src: &Path, name: String, original: String, len: u64, oom: bool) -> Input {
        Input {
            src: src.to_owned(),
            name,
            original,
            len,
            oom,
        }
    }
}

/// The file name of `path` (never its directory: paths name users).
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// This machine's host name, from the kernel.
fn machine_host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_owned())
}

/// Copies `src` to a new file `dst`, at most `cap` bytes, masked line by line (unless
/// `--keep-hosts`): a longer file keeps its end from a line's start (a log: the newest lines)
/// or its start (a bundle). Returns the bytes left out and how many names or addresses were
/// masked. A file growing meanwhile (the live log) is copied as long as it was.
fn copy_capped(
    src: &Path,
    dst: &Path,
    keep_end: bool,
    cap: u64,
    r: Option<&Redactor>,
) -> io::Result<(u64, u64)> {
    let mut from = File::open(src)?;
    let len = from.metadata()?.len();
    let mut to = io::BufWriter::new(OpenOptions::new().write(true).create_new(true).open(dst)?);
    // Where the copy starts: one byte before the kept end, so that reading to the first line
    // break drops exactly the partial line the cut falls into (only the `\n` when the cut is
    // at a line's start).
    let start = if keep_end && len > cap {
        len - cap - 1
    } else {
        0
    };
    from.seek(SeekFrom::Start(start))?;
    let mut reader = BufReader::new(from.take(len - start));
    if keep_end && len > cap {
        let mut partial = Vec::new();
        reader.read_until(b'\n', &mut partial)?;
    }
    let (mut written, mut masked) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        // A line is read whole only up to the cap: a file without line breaks stays bounded.
        let got = (&mut reader).take(cap + 1).read_until(b'\n', &mut line)?;
        if got == 0 || written + got as u64 > cap {
            break;
        }
        if let Some(r) = r {
            masked += r.mask(&mut line);
        }
        to.write_all(&line)?;
        written += got as u64;
    }
    let file = to.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok((len - written, masked))
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
    fn unique_names() {
        let mut used = Vec::new();
        assert_eq!(unique(&mut used, "a.log"), "a.log");
        assert_eq!(unique(&mut used, "a.log"), "2-a.log");
        assert_eq!(unique(&mut used, "a.log"), "3-a.log");
    }

    #[test]
    fn a_long_log_keeps_its_last_lines_a_bundle_its_first() {
        let d = std::env::temp_dir().join(format!("memmon-report-cap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let src = d.join("big.log");
        let text: String = (0..100)
            .map(|i| format!("line {i:04} 10.0.0.{i:03}\n"))
            .collect();
        std::fs::write(&src, &text).unwrap();
        let r = Redactor::default();
        for (cap, keep_end, want) in [
            // A cut at a line's start, and inside a line: whole lines only.
            (210, true, &text[text.len() - 210..]),
            (220, true, &text[text.len() - 210..]),
            (220, false, &text[..210]),
            (5000, true, &text[..]),
        ] {
            let dst = d.join(format!("copy-{cap}-{keep_end}.log"));
            let (cut, masked) = copy_capped(&src, &dst, keep_end, cap, None).unwrap();
            assert_eq!(std::fs::read_to_string(&dst).unwrap(), want);
            assert_eq!((cut, masked), ((text.len() - want.len()) as u64, 0));
            let masked_dst = d.join(format!("masked-{cap}-{keep_end}.log"));
            let (_, masked) = copy_capped(&src, &masked_dst, keep_end, cap, Some(&r)).unwrap();
            assert_eq!(masked, want.lines().count() as u64);
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
