//! [`Record`]: one typed log line, and the one place where lines are laid out (`Display`).

use crate::fixed::{fixed_digits, Cursor, Fixed, Utf8Bytes};
use crate::numbers::{python_float_repr, Elapsed, Size};
use jiff::civil::DateTime;
use memmon_core::{FdCounts, IntervalSpec};
use std::fmt::{self, Write as _};

/// The frame line of the header and footer: 80 `=` signs.
pub(crate) const RULE: &str =
    "================================================================================";

/// One line of `memory_usage.log`, typed.
///
/// `Display` writes the line exactly as the original monitor (or memmon, for its own lines)
/// writes it, without the trailing `\n`; [`crate::parse_line`] reads it back. Any line the
/// original or memmon wrote re-formats to the same bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// 80 `=` signs, framing the header and the footer.
    Rule,
    /// An empty line (after the header, closing a detail block, opening the footer).
    Blank,
    /// `メモリモニタリング開始: 2025-11-21 14:25:00`.
    Start {
        /// Local wall-clock time, whole seconds.
        at: DateTime,
    },
    /// `メモリモニタリング継続: 2025-11-21 14:25:00` (memmon reopened its log).
    Continue {
        /// Local wall-clock time of the reopening, whole seconds.
        at: DateTime,
    },
    /// `PID: 12345`.
    Pid(u32),
    /// `モニタリング間隔: 300秒`.
    Interval(IntervalText),
    /// A sample line.
    Sample(SampleLine),
    /// `⚠️ [警告] メモリが初期値から 52.34MB 増加しています`.
    Warning {
        /// The growth in MiB (printed with two decimals, no sign).
        growth_mb: f64,
    },
    /// `  [tracemalloc] Current: 38.45MB, Peak: 42.12MB`, or with `PID N ` before `Current`
    /// when several processes are watched.
    Tracemalloc {
        /// The process, when several are watched.
        pid: Option<u32>,
        /// Currently traced MiB.
        current_mb: f64,
        /// Peak traced MiB.
        peak_mb: f64,
    },
    /// `  [smaps] Anonymous: X.XXMB, Swap: X.XXMB, スレッド: N, FD: N`.
    Smaps {
        /// Anonymous memory in MiB.
        anonymous_mb: f64,
        /// Swapped-out memory in MiB.
        swap_mb: f64,
        /// Thread count.
        threads: u64,
        /// Open file descriptors.
        fds: u64,
    },
    /// `  [内訳] 匿名: X.XXMB, ファイル: X.XXMB, 共有: X.XXMB, スワップ: X.XXMB, スレッド: N, FD:
    /// ソケット N, ファイル N, パイプ N, その他 N`: what the watched tree's memory is made of and
    /// what it holds (issue #19's breakdown). A line of its own, not part of a detail block.
    Breakdown(BreakdownLine),
    /// `  [リーク疑い] 増加率: …`: the online trend says a leak is likely, and what memmon did.
    Escalation(crate::diagnosis::EscalationLine),
    /// `  [Python/ネイティブ] 匿名の増加: …`: Python's share of the anonymous growth.
    Native(crate::diagnosis::NativeLine),
    /// `  [malloc_trim] 前: …`: the trim probe's before and after.
    Trim(crate::diagnosis::TrimLine),
    /// `  [増加した型] PID N: …`: the object types that grew in one Python process.
    Types(crate::diagnosis::TypesLine),
    /// `  [証拠] 保存: DIR.evidence/NAME.txt`: an evidence bundle was written (issue #20), or
    /// `  [証拠] OOMキラーによる終了の直前: …`: the run's last one, after an OOM kill.
    Evidence(crate::evidence::EvidenceLine),
    /// `  [tracemalloc] PID N: 応答なし (Ns)`: a process that did not answer in time.
    NoAnswer {
        /// The silent process.
        pid: u32,
        /// How long memmon waited, whole seconds.
        secs: u64,
    },
    /// `  [Top 10 メモリ消費箇所]`.
    TopHeader,
    /// `    LOCATION: size=SIZE, count=N, average=SIZE`.
    Site(SiteLine),
    /// `モニタリング終了: 2025-11-21 18:00:00`.
    End {
        /// Local wall-clock time, whole seconds.
        at: DateTime,
    },
    /// `実行時間: 12600秒`.
    Runtime {
        /// Run time in whole seconds.
        secs: u64,
    },
    /// `初期メモリ: 43.08MB`, or `初期メモリ: -` when nothing measured it.
    Initial {
        /// MiB; `None` prints `-`.
        mb: Option<f64>,
    },
    /// `最終メモリ: 95.40MB`, or `最終メモリ: -` when nothing measured it.
    Final {
        /// MiB; `None` prints `-`.
        mb: Option<f64>,
    },
    /// `ピークメモリ: 96.02MB`, or `ピークメモリ: -` when nothing measured it.
    Peak {
        /// MiB; `None` prints `-`.
        mb: Option<f64>,
    },
    /// `メモリ増加量: 52.32MB` (a decrease prints `-1.23MB`), or `メモリ増加量: -` when there is
    /// no first sample to compare with.
    Increase {
        /// MiB, signed; `None` prints `-`.
        mb: Option<f64>,
    },
    /// `プロセス終了: 終了コード N` or `プロセス終了: シグナル N (SIGNAME)`.
    ProcessExit(ExitKind),
    /// `⚠️ [警告] OOMキラーが発動しました (+N)`.
    Oom {
        /// How much `oom_kill` grew since the last sample.
        kills: u64,
    },
    /// `⚠️ [memmon] サンプル取得失敗: REASON`.
    SampleFailed {
        /// Why (the sampler error's message).
        reason: String,
    },
    /// `⚠️ [memmon] N件のサンプルをログに書けませんでした (REASON)`.
    LostSamples {
        /// Samples that could not be written.
        count: u64,
        /// Why writing failed.
        reason: String,
    },
    /// `⚠️ [memmon] 最終サンプルを取得できないため、直前のサンプルを使用します`.
    LastGoodUsed,
    /// `⚠️ [memmon] 監視なしで実行します: REASON`: memmon started the command but cannot
    /// monitor it (a broken configuration, a log it cannot use, …); nothing else of the run
    /// follows.
    Unmonitored {
        /// Why (the same text as on stderr).
        reason: String,
    },
    /// Any line of no known shape, kept as is (reading a log never fails on a line).
    Other(String),
}

/// The numbers of a sample line, in MiB unless named otherwise.
///
/// `[2025-11-21 14:30:00] 経過: 00:05:00 | RSS: 45.23MB (初期比: +2.15MB) | VMS: 123.45MB |
/// ピーク: 47.12MB | システム: 35.2% (512MB空き)`
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleLine {
    /// Local wall-clock time of the sample, whole seconds.
    pub at: DateTime,
    /// 経過: whole seconds since monitoring started.
    pub elapsed_secs: u64,
    /// RSS (two decimals).
    pub rss_mb: f64,
    /// 初期比: RSS minus the first sample's (two decimals, always signed).
    pub growth_mb: f64,
    /// VMS (two decimals).
    pub vms_mb: f64,
    /// ピーク: the largest RSS so far (two decimals).
    pub peak_mb: f64,
    /// System memory in use, percent (one decimal).
    pub sys_percent: f64,
    /// System memory available (no decimals).
    pub sys_available_mb: f64,
}

/// The figures of a breakdown line: resident memory by kind and swap in MiB (two decimals, as
/// every MB of the log), threads and descriptors by kind as counts.
///
/// `  [内訳] 匿名: 30.12MB, ファイル: 8.40MB, 共有: 1.20MB, スワップ: 0.00MB, スレッド: 4, FD:
/// ソケット 3, ファイル 5, パイプ 2, その他 4`
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakdownLine {
    /// 匿名: anonymous resident memory.
    pub anon_mb: f64,
    /// ファイル: file-backed resident memory.
    pub file_mb: f64,
    /// 共有: shared resident memory (shmem, tmpfs, SysV).
    pub shmem_mb: f64,
    /// スワップ: swapped-out memory.
    pub swap_mb: f64,
    /// スレッド: threads.
    pub threads: u64,
    /// FD: open descriptors by kind.
    pub fds: FdCounts,
}

/// The breakdown line's fixed start: a two-space indent like the detail blocks' first lines, so
/// the parser tries it only among indented lines and a sample line's path never meets it.
pub(crate) const BREAKDOWN_PREFIX: &str = "  [内訳] 匿名: ";

impl fmt::Display for BreakdownLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let FdCounts {
            sockets,
            files,
            pipes,
            other,
        } = self.fds;
        write!(
            f,
            "{BREAKDOWN_PREFIX}{}MB, ファイル: {}MB, 共有: {}MB, スワップ: {}MB, スレッド: {}, FD: ソケット {sockets}, ファイル {files}, パイプ {pipes}, その他 {other}",
            Fixed::mb(self.anon_mb),
            Fixed::mb(self.file_mb),
            Fixed::mb(self.shmem_mb),
            Fixed::mb(self.swap_mb),
            self.threads,
        )
    }
}

/// One site of a detail block's top 10.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteLine {
    /// Where (`file.py:123`, `[heap]`, a mapping path).
    pub location: String,
    /// Bytes held there, as printed.
    pub size: Size,
    /// Number of blocks (allocations or mappings).
    pub count: u64,
    /// `size / count`, as printed; `None` when the count is 0 (the part is left out).
    pub average: Option<Size>,
}

impl SiteLine {
    /// A site line from exact numbers, laid out as tracemalloc's `Statistic.__str__` does.
    pub fn new(location: impl Into<String>, size_bytes: u64, count: u64) -> SiteLine {
        let size = size_bytes as f64;
        SiteLine {
            location: location.into(),
            size: Size::from_bytes(size),
            count,
            average: (count != 0).then(|| Size::from_bytes(size / count as f64)),
        }
    }
}

/// How the watched command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitKind {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal {
        /// The signal number.
        number: i32,
        /// Its name (`SIGKILL`).
        name: String,
    },
}

/// The interval as the header prints it, keeping the printed text so that a parsed line
/// re-formats identically.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalText {
    secs: f64,
    text: String,
}

impl IntervalText {
    /// The interval as Python prints the configured value: an integer as is, a decimal in
    /// `repr(float)` form (`0.2`, `300.0`, `1e-05`).
    pub fn from_spec(spec: IntervalSpec) -> IntervalText {
        let text = match spec {
            IntervalSpec::Integer(n) => n.to_string(),
            IntervalSpec::Decimal(x) => python_float_repr(x),
        };
        IntervalText {
            secs: spec.as_secs_f64(),
            text,
        }
    }

    /// Reads printed interval text back; `None` when it is not a number.
    pub fn parse(text: &str) -> Option<IntervalText> {
        // Only the characters a Python int or float repr can hold, so that odd text such as
        // `infinity` or ` 5` stays an unknown line rather than a number printed differently.
        let plausible = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'-' | b'+'))
            || matches!(text, "inf" | "-inf" | "nan");
        if !plausible {
            return None;
        }
        let secs = text.parse::<f64>().ok()?;
        Some(IntervalText {
            secs,
            text: text.to_owned(),
        })
    }

    /// The interval in seconds.
    pub fn secs(&self) -> f64 {
        self.secs
    }

    /// The interval as printed (without `秒`).
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for IntervalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `%Y-%m-%d %H:%M:%S`; sub-seconds are dropped, as Python's `strftime` does.
pub(crate) struct Clock(pub DateTime);

impl Clock {
    /// Writes the time without `core::fmt`'s padding machinery (the sample line's way); `None`
    /// for a year `{:04}` would print otherwise (below 0: it counts the sign in the width).
    pub(crate) fn put(&self, out: &mut Cursor<'_>) -> Option<()> {
        let d = self.0;
        let year = u16::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
        out.uint(year.into(), 4)?;
        // Every other field of a jiff civil time is within 0..=99.
        let two = |out: &mut Cursor<'_>, sep: u8, n: i8| {
            out.byte(sep)?;
            out.two(n.unsigned_abs())
        };
        two(out, b'-', d.month())?;
        two(out, b'-', d.day())?;
        two(out, b' ', d.hour())?;
        two(out, b':', d.minute())?;
        two(out, b':', d.second())
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    }
}

/// A footer figure: `X.XXMB`, or `-` when nothing measured it (never an invented number).
struct FooterMb(Option<f64>);

impl fmt::Display for FooterMb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(mb) => write!(f, "{}MB", Fixed::mb(mb)),
            None => f.write_str(NO_FIGURE),
        }
    }
}

/// What a footer figure reads when nothing measured it.
pub(crate) const NO_FIGURE: &str = "-";

/// Writes free text (a reason, a location) on one line: a `\n` inside it would split the
/// record into two lines and the second would parse as something else. A `\r` is kept: it ends
/// no line in this format, and keeping it lets any line read as [`Record::Other`] print back as
/// itself.
pub(crate) struct OneLine<'a>(pub &'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = self.0.split('\n');
        if let Some(first) = parts.next() {
            f.write_str(first)?;
        }
        for part in parts {
            f.write_str(" ")?;
            f.write_str(part)?;
        }
        Ok(())
    }
}

/// Room for any sample line [`SampleLine::put_fast`] writes: ~100 bytes of text, a 19-byte
/// time, 経過 of at most 26 bytes and six numbers of at most 24.
const SAMPLE_LINE_MAX: usize = 320;

impl SampleLine {
    /// Appends the line (without `\n`) to a byte buffer.
    ///
    /// This runs at every sample, and laid out with one `write!` it was over half of `memmon
    /// run`'s own instructions at fast intervals (`core::fmt`'s float and padding paths), so the
    /// layout is spelled out here byte by byte, into space reserved at the end of `out`. The
    /// rare line it cannot write that way (a year before 0, a NaN, a figure whose |x| × 10^N
    /// reaches 2⁶⁴) goes through `core::fmt` instead; both write the same bytes for a line.
    pub fn put(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + SAMPLE_LINE_MAX, 0);
        let mut cursor = Cursor::new(&mut out[start..]);
        match self.put_fast(&mut cursor) {
            Some(()) => {
                let len = cursor.len();
                out.truncate(start + len);
            }
            None => {
                out.truncate(start);
                // Writing into a Vec cannot fail.
                let _ = self.write_core_fmt(&mut Utf8Bytes(out));
            }
        }
    }

    fn put_fast(&self, out: &mut Cursor<'_>) -> Option<()> {
        // All six first: a figure left to core::fmt sends the whole line there, unwritten.
        let rss = fixed_digits(self.rss_mb, 2)?;
        let growth = fixed_digits(self.growth_mb, 2)?;
        let vms = fixed_digits(self.vms_mb, 2)?;
        let peak = fixed_digits(self.peak_mb, 2)?;
        let percent = fixed_digits(self.sys_percent, 1)?;
        let available = fixed_digits(self.sys_available_mb, 0)?;
        out.byte(b'[')?;
        Clock(self.at).put(out)?;
        out.bytes("] 経過: ".as_bytes())?;
        Elapsed(self.elapsed_secs).put(out)?;
        out.bytes(b" | RSS: ")?;
        out.fixed(rss, false)?;
        out.bytes("MB (初期比: ".as_bytes())?;
        out.fixed(growth, true)?;
        out.bytes(b"MB) | VMS: ")?;
        out.fixed(vms, false)?;
        out.bytes("MB | ピーク: ".as_bytes())?;
        out.fixed(peak, false)?;
        out.bytes("MB | システム: ".as_bytes())?;
        out.fixed(percent, false)?;
        out.bytes(b"% (")?;
        out.fixed(available, false)?;
        out.bytes("MB空き)".as_bytes())
    }

    /// The same line through `core::fmt`, for the values `put_fast` leaves alone.
    fn write_core_fmt(&self, w: &mut impl fmt::Write) -> fmt::Result {
        write!(
            w,
            "[{}] 経過: {} | RSS: {:.2}MB (初期比: {:+.2}MB) | VMS: {:.2}MB | ピーク: {:.2}MB | システム: {:.1}% ({:.0}MB空き)",
            Clock(self.at),
            Elapsed(self.elapsed_secs),
            self.rss_mb,
            self.growth_mb,
            self.vms_mb,
            self.peak_mb,
            self.sys_percent,
            self.sys_available_mb
        )
    }
}

impl fmt::Display for SampleLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = Vec::with_capacity(SAMPLE_LINE_MAX);
        self.put(&mut line);
        f.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Display for SiteLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "    {}: size={}, count={}",
            OneLine(&self.location),
            self.size,
            self.count
        )?;
        match &self.average {
            Some(avg) => write!(f, ", average={avg}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitKind::Code(code) => write!(f, "終了コード {code}"),
            ExitKind::Signal { number, name } => {
                write!(f, "シグナル {number} ({})", OneLine(name))
            }
        }
    }
}

impl Record {
    /// Appends the line (without `\n`) to a byte buffer: what `Display` writes, with the
    /// sample line laid out directly rather than through a `Formatter`.
    pub fn put(&self, out: &mut Vec<u8>) {
        match self {
            Record::Sample(line) => line.put(out),
            // Writing into a Vec cannot fail.
            other => {
                let _ = write!(Utf8Bytes(out), "{other}");
            }
        }
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Record::Rule => f.write_str(RULE),
            Record::Blank => Ok(()),
            Record::Start { at } => write!(f, "メモリモニタリング開始: {}", Clock(*at)),
            Record::Continue { at } => write!(f, "メモリモニタリング継続: {}", Clock(*at)),
            Record::Pid(pid) => write!(f, "PID: {pid}"),
            Record::Interval(text) => write!(f, "モニタリング間隔: {}秒", OneLine(text.text())),
            Record::Sample(line) => line.fmt(f),
            Record::Warning { growth_mb } => {
                write!(
                    f,
                    "⚠️ [警告] メモリが初期値から {}MB 増加しています",
                    Fixed::mb(*growth_mb)
                )
            }
            Record::Tracemalloc {
                pid,
                current_mb,
                peak_mb,
            } => {
                f.write_str("  [tracemalloc] ")?;
                if let Some(pid) = pid {
                    write!(f, "PID {pid} ")?;
                }
                write!(
                    f,
                    "Current: {}MB, Peak: {}MB",
                    Fixed::mb(*current_mb),
                    Fixed::mb(*peak_mb)
                )
            }
            Record::Smaps {
                anonymous_mb,
                swap_mb,
                threads,
                fds,
            } => write!(
                f,
                "  [smaps] Anonymous: {}MB, Swap: {}MB, スレッド: {threads}, FD: {fds}",
                Fixed::mb(*anonymous_mb),
                Fixed::mb(*swap_mb)
            ),
            Record::Breakdown(line) => line.fmt(f),
            Record::Escalation(line) => line.fmt(f),
            Record::Native(line) => line.fmt(f),
            Record::Trim(line) => line.fmt(f),
            Record::Types(line) => line.fmt(f),
            Record::Evidence(line) => line.fmt(f),
            Record::NoAnswer { pid, secs } => {
                write!(f, "  [tracemalloc] PID {pid}: 応答なし ({secs}s)")
            }
            Record::TopHeader => f.write_str("  [Top 10 メモリ消費箇所]"),
            Record::Site(site) => site.fmt(f),
            Record::End { at } => write!(f, "モニタリング終了: {}", Clock(*at)),
            Record::Runtime { secs } => write!(f, "実行時間: {secs}秒"),
            Record::Initial { mb } => write!(f, "初期メモリ: {}", FooterMb(*mb)),
            Record::Final { mb } => write!(f, "最終メモリ: {}", FooterMb(*mb)),
            Record::Peak { mb } => write!(f, "ピークメモリ: {}", FooterMb(*mb)),
            Record::Increase { mb } => write!(f, "メモリ増加量: {}", FooterMb(*mb)),
            Record::ProcessExit(kind) => write!(f, "プロセス終了: {kind}"),
            Record::Oom { kills } => write!(f, "⚠️ [警告] OOMキラーが発動しました (+{kills})"),
            Record::SampleFailed { reason } => {
                write!(f, "⚠️ [memmon] サンプル取得失敗: {}", OneLine(reason))
            }
            Record::LostSamples { count, reason } => write!(
                f,
                "⚠️ [memmon] {count}件のサンプルをログに書けませんでした ({})",
                OneLine(reason)
            ),
            Record::LastGoodUsed => f.write_str(
                "⚠️ [memmon] 最終サンプルを取得できないため、直前のサンプルを使用します",
            ),
            Record::Unmonitored { reason } => {
                write!(f, "⚠️ [memmon] 監視なしで実行します: {}", OneLine(reason))
            }
            Record::Other(line) => OneLine(line).fmt(f),
        }
    }
}
