//! Issue #20's flight-recorder line: `  [証拠] …` names an evidence bundle written beside the
//! log (`docs/evidence.md`), and, after the command was killed by the OOM killer, the last
//! bundle of the run. Laid out (`Display`), built (`LogFormat`) and read back (`parse`) here;
//! two-space indented, one fixed Japanese form each, none of the words the guide's grep recipes
//! look for (`docs/log-format.md`).

use crate::events::LogFormat;
use crate::record::Record;
use std::fmt;

const EVIDENCE: &str = "  [証拠] ";
const SAVED: &str = "保存: ";
const OOM: &str = "OOMキラーによる終了の直前: ";
const EXITED: &str = "終了の直前: ";
/// Said by an OOM form when the run wrote no bundle.
const NONE: &str = "なし";

/// What an evidence line says of its bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceKind {
    /// A bundle was just written.
    Saved,
    /// The command was killed by the OOM killer: the run's last bundle (or none).
    OomKilled,
    /// The command ended otherwise, after the run wrote a bundle: the last one.
    Exited,
}

/// `  [証拠] 保存: memory_usage.evidence/20261205-143000-4242-usr2.txt`, or
/// `  [証拠] OOMキラーによる終了の直前: memory_usage.evidence/….txt` (`なし` without a bundle),
/// or `  [証拠] 終了の直前: memory_usage.evidence/….txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceLine {
    /// Which form.
    pub kind: EvidenceKind,
    /// The bundle, relative to the log's directory (`DIR.evidence/NAME.txt`); `None`: no bundle
    /// (the OOM form only).
    pub path: Option<String>,
}

impl fmt::Display for EvidenceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EVIDENCE)?;
        f.write_str(match self.kind {
            EvidenceKind::Saved => SAVED,
            EvidenceKind::OomKilled => OOM,
            EvidenceKind::Exited => EXITED,
        })?;
        f.write_str(self.path.as_deref().unwrap_or(NONE))
    }
}

/// A path as a line prints it: one line, control characters replaced by `_`.
fn clean_path(path: &str) -> String {
    let cleaned: String = path
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

impl LogFormat {
    /// A bundle was just written at `path` (relative to the log's directory).
    pub fn evidence(&self, path: &str) -> Record {
        Record::Evidence(EvidenceLine {
            kind: EvidenceKind::Saved,
            path: Some(clean_path(path)),
        })
    }

    /// The command ended (not by the OOM killer) after the run wrote the bundle at `path`.
    pub fn evidence_exit(&self, path: &str) -> Record {
        Record::Evidence(EvidenceLine {
            kind: EvidenceKind::Exited,
            path: Some(clean_path(path)),
        })
    }

    /// The command was killed by the OOM killer; `path`: the run's last bundle, if any.
    pub fn evidence_oom(&self, path: Option<&str>) -> Record {
        Record::Evidence(EvidenceLine {
            kind: EvidenceKind::OomKilled,
            path: path.map(clean_path),
        })
    }
}

/// The evidence line (`None`: not one).
pub(crate) fn parse(line: &str) -> Option<Record> {
    let rest = line.strip_prefix(EVIDENCE)?;
    let (kind, path) = if let Some(path) = rest.strip_prefix(SAVED) {
        (EvidenceKind::Saved, path)
    } else if let Some(path) = rest.strip_prefix(EXITED) {
        (EvidenceKind::Exited, path)
    } else {
        (EvidenceKind::OomKilled, rest.strip_prefix(OOM)?)
    };
    if path.is_empty() || path.chars().any(char::is_control) {
        return None;
    }
    let path = match (kind, path) {
        (EvidenceKind::OomKilled, NONE) => None,
        // The other forms always name a bundle: `なし` there is a file of that name.
        _ => Some(path.to_owned()),
    };
    Some(Record::Evidence(EvidenceLine { kind, path }))
}
