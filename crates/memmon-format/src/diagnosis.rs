//! The lines of issue #19's diagnosis: the leak suspected online and the investigation it
//! starts (`[リーク疑い]`), Python's share of the growth of anonymous memory
//! (`[Python/ネイティブ]`), the `malloc_trim` probe (`[malloc_trim]`) and the object types that
//! grow (`[増加した型]`). Each is laid out (`Display`), built from exact numbers (`LogFormat`)
//! and read back (`parse`) here; every one is two-space indented, has one fixed Japanese form
//! and contains none of the words the guide's grep recipes look for (`docs/log-format.md`).

use crate::events::LogFormat;
use crate::fixed::Fixed;
use crate::parse::{Cur, Sign};
use crate::record::Record;
use memmon_core::{TrimOutcome, TypesReply, MIB};
use std::fmt;

const ESCALATION: &str = "  [リーク疑い] 増加率: ";
const NATIVE: &str = "  [Python/ネイティブ] 匿名の増加: ";
const TRIM: &str = "  [malloc_trim] 前: ";
const TYPES: &str = "  [増加した型] PID ";
/// Said after a types line's items when the hook's time budget cut its walk short.
const PARTIAL: &str = " (時間切れのため一部)";
/// The most types one line lists.
pub const TYPES_SHOWN: usize = 5;

/// What memmon did when it suspected a leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Investigation {
    /// Asked the hooked Python processes to start tracemalloc.
    Started,
    /// tracemalloc was already on (config `tracemalloc`): its blocks go on.
    AlreadyTracing,
    /// `--pid`: memmon started nothing, so there is no hook to ask.
    NoHookPid,
    /// `python_hook: off`: no hook to ask.
    HookOff,
    /// `escalate: false`: memmon only says so.
    NotAsked,
}

impl Investigation {
    const ALL: [Investigation; 5] = [
        Investigation::Started,
        Investigation::AlreadyTracing,
        Investigation::NoHookPid,
        Investigation::HookOff,
        Investigation::NotAsked,
    ];

    fn text(self) -> &'static str {
        match self {
            Investigation::Started => "tracemalloc を開始しました",
            Investigation::AlreadyTracing => "tracemalloc は実行中です",
            Investigation::NoHookPid => "フックがありません (--pid では開始できません)",
            Investigation::HookOff => "フックがありません (python_hook: off)",
            Investigation::NotAsked => "開始しません (escalate: false)",
        }
    }
}

/// `  [リーク疑い] 増加率: 12.34MB/時, 根拠: 1500秒で +8.20MB の一定した増加, 調査: …`
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EscalationLine {
    /// The online trend's slope, MiB per hour.
    pub rate_mb_per_hour: f64,
    /// The fitted span after warm-up, whole seconds.
    pub span_secs: u64,
    /// The rise over that span, MiB (never negative: a leak rises).
    pub rise_mb: f64,
    /// What memmon did about it.
    pub action: Investigation,
}

impl fmt::Display for EscalationLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ESCALATION}{}MB/時, 根拠: {}秒で +{}MB の一定した増加, 調査: {}",
            Fixed::mb(self.rate_mb_per_hour),
            self.span_secs,
            Fixed::mb(self.rise_mb),
            self.action.text()
        )
    }
}

/// `  [Python/ネイティブ] 匿名の増加: +6.00MB, Python: +0.10MB, ネイティブ: +5.90MB, 区間: 600秒`
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeLine {
    /// Growth of the tree's anonymous memory over the span, MiB (signed).
    pub anon_mb: f64,
    /// Growth of Python's traced bytes (less tracemalloc's own memory), MiB (signed).
    pub python_mb: f64,
    /// The anonymous growth Python's does not explain, MiB (signed).
    pub native_mb: f64,
    /// The span compared, whole seconds.
    pub span_secs: u64,
}

impl fmt::Display for NativeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{NATIVE}{}MB, Python: {}MB, ネイティブ: {}MB, 区間: {}秒",
            signed_mb(self.anon_mb),
            signed_mb(self.python_mb),
            signed_mb(self.native_mb),
            self.span_secs
        )
    }
}

/// The outcomes, for the parser.
const TRIM_OUTCOMES: [TrimOutcome; 3] = [
    TrimOutcome::Returned,
    TrimOutcome::Unchanged,
    TrimOutcome::Unavailable,
];

/// The fixed text of an outcome.
fn trim_text(outcome: TrimOutcome) -> &'static str {
    match outcome {
        TrimOutcome::Returned => "返却 (C のアロケータが返せる空きを保持していました: 断片化)",
        TrimOutcome::Unchanged => {
            "変化なし (使用中のメモリ、または malloc_trim の届かない所に保持されています)"
        }
        TrimOutcome::Unavailable => "実行できません (glibc の malloc_trim がありません)",
    }
}

/// `  [malloc_trim] 前: 120.50MB, 後: 80.25MB, 差: -40.25MB, 結果: …`: the watched tree's
/// resident memory right before and after the hooked processes called `malloc_trim(0)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrimLine {
    /// Resident memory before, MiB.
    pub before_mb: f64,
    /// Resident memory after, MiB.
    pub after_mb: f64,
    /// `after − before` in MiB, from the bytes (not from the rounded figures).
    pub change_mb: f64,
    /// What it means.
    pub outcome: TrimOutcome,
}

impl fmt::Display for TrimLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{TRIM}{}MB, 後: {}MB, 差: {}MB, 結果: {}",
            Fixed::mb(self.before_mb),
            Fixed::mb(self.after_mb),
            signed_mb(self.change_mb),
            trim_text(self.outcome)
        )
    }
}

/// One type of a types line.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeItem {
    /// The type's name, with spaces, commas and control characters replaced by `_`.
    pub name: String,
    /// Objects more (or fewer).
    pub count: i64,
    /// Shallow MiB more (or fewer).
    pub mb: f64,
}

/// `  [増加した型] PID 1234: __main__.Card +1200個 +0.11MB, dict +3個 +0.00MB`, or `なし`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypesLine {
    /// The process.
    pub pid: u32,
    /// The types that grew most, at most [`TYPES_SHOWN`].
    pub types: Vec<TypeItem>,
    /// False: the hook's time budget ended its walk early (` (時間切れのため一部)` follows).
    pub complete: bool,
}

impl fmt::Display for TypesLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TYPES}{}: ", self.pid)?;
        if self.types.is_empty() {
            f.write_str("なし")?;
        }
        for (i, t) in self.types.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {:+}個 {}MB", t.name, t.count, signed_mb(t.mb))?;
        }
        if !self.complete {
            f.write_str(PARTIAL)?;
        }
        Ok(())
    }
}

/// `{:+.2}`.
fn signed_mb(x: f64) -> Fixed {
    Fixed {
        x,
        decimals: 2,
        plus: true,
    }
}

fn mib_signed(bytes: i64) -> f64 {
    bytes as f64 / MIB as f64
}

/// A type name as a types line prints it: one word without `, ` (the item separator).
fn clean_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .take(120)
        .map(|c| {
            if c.is_whitespace() || c.is_control() || c == ',' {
                '_'
            } else {
                c
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

impl LogFormat {
    /// The line saying a leak is likely: the online trend's slope (bytes per second), its
    /// fitted span and rise, and what memmon did about it.
    pub fn escalation(
        &self,
        slope_bytes_per_sec: f64,
        span_secs: f64,
        rise_bytes: f64,
        action: Investigation,
    ) -> Record {
        Record::Escalation(EscalationLine {
            rate_mb_per_hour: slope_bytes_per_sec * 3600.0 / MIB as f64,
            span_secs: span_secs.max(0.0).round() as u64,
            rise_mb: rise_bytes.max(0.0) / MIB as f64,
            action,
        })
    }

    /// Python's share of the growth of anonymous memory over `span_secs`.
    pub fn native(&self, anon_bytes: i64, python_bytes: i64, span_secs: f64) -> Record {
        Record::Native(NativeLine {
            anon_mb: mib_signed(anon_bytes),
            python_mb: mib_signed(python_bytes),
            native_mb: mib_signed(anon_bytes.saturating_sub(python_bytes)),
            span_secs: span_secs.max(0.0).round() as u64,
        })
    }

    /// The `malloc_trim` probe: resident bytes before and after, and what that means.
    pub fn trim(&self, before: u64, after: u64, outcome: TrimOutcome) -> Record {
        let change = i64::try_from(after)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(before).unwrap_or(i64::MAX));
        Record::Trim(TrimLine {
            before_mb: before as f64 / MIB as f64,
            after_mb: after as f64 / MIB as f64,
            change_mb: mib_signed(change),
            outcome,
        })
    }

    /// One hooked process's growing types, the first [`TYPES_SHOWN`].
    pub fn types(&self, reply: &TypesReply) -> Record {
        Record::Types(TypesLine {
            pid: reply.pid,
            types: reply
                .types
                .iter()
                .take(TYPES_SHOWN)
                .map(|t| TypeItem {
                    name: clean_name(&t.name),
                    count: t.count,
                    mb: mib_signed(t.bytes),
                })
                .collect(),
            complete: reply.complete,
        })
    }
}

/// The diagnosis lines, tried among the two-space lines (`None`: not one of them).
pub(crate) fn parse(line: &str) -> Option<Record> {
    if let Some(rest) = line.strip_prefix(ESCALATION) {
        return escalation(rest).map(Record::Escalation);
    }
    if let Some(rest) = line.strip_prefix(NATIVE) {
        return native(rest).map(Record::Native);
    }
    if let Some(rest) = line.strip_prefix(TRIM) {
        return trim(rest).map(Record::Trim);
    }
    if let Some(rest) = line.strip_prefix(TYPES) {
        return types(rest).map(Record::Types);
    }
    None
}

fn escalation(rest: &str) -> Option<EscalationLine> {
    let mut c = Cur::new(rest);
    let rate_mb_per_hour = c.fixed(2, Sign::Minus)?;
    c.lit("MB/時, 根拠: ")?;
    let span_secs = c.uint()?;
    c.lit("秒で +")?;
    let rise_mb = c.fixed(2, Sign::None)?;
    c.lit("MB の一定した増加, 調査: ")?;
    let action = *Investigation::ALL.iter().find(|a| c.rest() == a.text())?;
    Some(EscalationLine {
        rate_mb_per_hour,
        span_secs,
        rise_mb,
        action,
    })
}

fn native(rest: &str) -> Option<NativeLine> {
    let mut c = Cur::new(rest);
    let anon_mb = c.fixed(2, Sign::Always)?;
    c.lit("MB, Python: ")?;
    let python_mb = c.fixed(2, Sign::Always)?;
    c.lit("MB, ネイティブ: ")?;
    let native_mb = c.fixed(2, Sign::Always)?;
    c.lit("MB, 区間: ")?;
    let span_secs = c.uint()?;
    c.lit("秒")?;
    c.end()?;
    Some(NativeLine {
        anon_mb,
        python_mb,
        native_mb,
        span_secs,
    })
}

fn trim(rest: &str) -> Option<TrimLine> {
    let mut c = Cur::new(rest);
    let before_mb = c.fixed(2, Sign::None)?;
    c.lit("MB, 後: ")?;
    let after_mb = c.fixed(2, Sign::None)?;
    c.lit("MB, 差: ")?;
    let change_mb = c.fixed(2, Sign::Always)?;
    c.lit("MB, 結果: ")?;
    let outcome = *TRIM_OUTCOMES.iter().find(|o| c.rest() == trim_text(**o))?;
    Some(TrimLine {
        before_mb,
        after_mb,
        change_mb,
        outcome,
    })
}

fn types(rest: &str) -> Option<TypesLine> {
    let mut c = Cur::new(rest);
    let pid = u32::try_from(c.uint()?).ok()?;
    c.lit(": ")?;
    let (body, complete) = match c.rest().strip_suffix(PARTIAL) {
        Some(body) => (body, false),
        None => (c.rest(), true),
    };
    let mut types = Vec::new();
    if body != "なし" {
        for item in body.split(", ") {
            let (name, figures) = item.split_once(' ')?;
            if name.is_empty() || name.contains(',') || types.len() == TYPES_SHOWN {
                return None;
            }
            let mut c = Cur::new(figures);
            let count = c.signed_int()?;
            c.lit("個 ")?;
            let mb = c.fixed(2, Sign::Always)?;
            c.lit("MB")?;
            c.end()?;
            types.push(TypeItem {
                name: name.to_owned(),
                count,
                mb,
            });
        }
    }
    Some(TypesLine {
        pid,
        types,
        complete,
    })
}
