//! The report's last sections: the bundles left out to fit 25 MB, and the files of the folder
//! and the archive, with what was cut or masked in each.

use super::{Context, Section};
use crate::Lang;
use std::fmt::Write as _;

/// How many left-out bundles the report names; the rest are counted.
const DROPPED_NAMED: usize = 20;

fn t(lang: Lang, ja: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

/// The sections, in order.
pub(super) fn sections(ctx: &Context, lang: Lang) -> Vec<Section> {
    let mut sections = Vec::new();
    // The bundles left out: fixed, so the reader always learns that evidence is missing.
    if !ctx.dropped.is_empty() {
        let mut s = String::new();
        let named: Vec<String> = ctx
            .dropped
            .iter()
            .take(DROPPED_NAMED)
            .map(|n| format!("`{}`", n.replace('`', "'")))
            .collect();
        let more = ctx.dropped.len() - named.len();
        let _ = write!(
            s,
            "{}: {}",
            match lang {
                Lang::Ja => format!(
                    "アーカイブを 25 MB に収めるため入れなかった証拠バンドル (古いものから {} 個)",
                    ctx.dropped.len()
                ),
                Lang::En => format!(
                    "Evidence bundles left out to keep the archive within 25 MB (the oldest, {})",
                    ctx.dropped.len()
                ),
            },
            named.join(", ")
        );
        if more > 0 {
            let _ = write!(
                s,
                "{}",
                match lang {
                    Lang::Ja => format!(" ほか {more} 個"),
                    Lang::En => format!(" and {more} more"),
                }
            );
        }
        s.push_str("\n\n");
        sections.push(Section::fixed(s));
    }

    // The files of the folder and the archive.
    let head = format!(
        "## {}\n\n",
        t(
            lang,
            "添付ファイル (アーカイブ内)",
            "Attached files (in the archive)"
        )
    );
    let items = ctx
    .files
    .iter()
    .map(|f| {
        let mut it = format!("- `{}`", f.name);
        if let Some(from) = &f.from {
            let _ = write!(it, " ← `{}`", from.replace('`', "'"));
        }
        if f.cut_bytes > 0 {
            let n = f.cut_bytes;
            let _ = write!(
                it,
                " {}",
                match (lang, f.cut_end) {
                    (Lang::Ja, false) => format!(
                        "(アーカイブを 25 MB に収めるため先頭 {n} バイトを省略し、最後の部分 (新しい行) だけを入れました)"
                    ),
                    (Lang::En, false) => format!(
                        "(cut to keep the archive within 25 MB: its first {n} bytes are left out, the end (the newest lines) is kept)"
                    ),
                    (Lang::Ja, true) => format!(
                        "(アーカイブを 25 MB に収めるため末尾 {n} バイトを省略しました)"
                    ),
                    (Lang::En, true) => format!(
                        "(cut to keep the archive within 25 MB: its last {n} bytes are left out)"
                    ),
                }
            );
        }
        if f.redacted > 0 {
            let _ = write!(
                it,
                " {}",
                match lang {
                    Lang::Ja => format!("(ホスト名・アドレスなど {} 箇所を伏せました)", f.redacted),
                    Lang::En => format!("({} host names, addresses or config values masked)", f.redacted),
                }
            );
        }
        it.push('\n');
        it
    })
    .collect();
    sections.push(Section {
        head,
        items,
        tail: String::new(),
        cuttable: true,
    });
    sections
}
