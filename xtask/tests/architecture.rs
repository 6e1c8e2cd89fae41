//! The crate graph is the one ARCHITECTURE.md draws (issue #18): every arrow its "The arrows"
//! list names exists in a `Cargo.toml`, no other arrow does, none of the forbidden arrows
//! appears, and there is no cycle. `cargo metadata` is the source of truth for the manifests,
//! so `workspace = true` dependencies and every dependency kind (normal, dev, build) count.

// Test helpers panic on a broken test environment; that is the failure we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `from → to`, both package names of this workspace.
type Arrows = BTreeSet<(String, String)>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace root")
        .to_path_buf()
}

/// The arrows between the workspace's own packages, as cargo resolves the manifests.
fn manifest_arrows() -> (BTreeSet<String>, Arrows) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .current_dir(root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let ours: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    let mut arrows = Arrows::new();
    for p in packages {
        let from = p["name"].as_str().expect("name").to_owned();
        for d in p["dependencies"].as_array().expect("dependencies") {
            let to = d["name"].as_str().expect("dependency name");
            if ours.contains(to) {
                arrows.insert((from.clone(), to.to_owned()));
            }
        }
    }
    (ours, arrows)
}

/// The bullets under ARCHITECTURE.md's `## The arrows`: `` - `a` → `b`, `c` ``.
fn documented_arrows(text: &str) -> Arrows {
    let mut arrows = Arrows::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("## ") {
            inside = line.trim() == "## The arrows";
            continue;
        }
        let Some(item) = line.strip_prefix("- ").filter(|_| inside) else {
            continue;
        };
        let Some((from, to)) = item.split_once('→') else {
            continue;
        };
        let name = |s: &str| s.trim().trim_matches('`').to_owned();
        for t in to.split(',') {
            arrows.insert((name(from), name(t)));
        }
    }
    arrows
}

/// The arrows issue #18 forbids, whatever ARCHITECTURE.md says: memmon-core reaching any crate
/// of ours, memmon-sampler reaching memmon-format or memmon-config, a library reaching the binary
/// (or xtask), and any cycle.
fn violations(ours: &BTreeSet<String>, arrows: &Arrows) -> Vec<String> {
    let mut found = Vec::new();
    for (from, to) in arrows {
        let why = if from == "memmon-core" {
            Some("memmon-core depends on no crate of ours")
        } else if from == "memmon-sampler" && (to == "memmon-format" || to == "memmon-config") {
            Some("samplers produce numbers, not lines or settings")
        } else if (to == "memmon-cli" || to == "xtask") && from != "xtask" {
            Some("no crate reaches the binary or the automation")
        } else {
            None
        };
        if let Some(why) = why {
            found.push(format!("{from} → {to}: {why}"));
        }
    }
    let graph: BTreeMap<&str, Vec<&str>> = ours
        .iter()
        .map(|p| {
            let next = arrows
                .iter()
                .filter(|(f, _)| f == p)
                .map(|(_, t)| t.as_str())
                .collect();
            (p.as_str(), next)
        })
        .collect();
    for start in ours {
        if reaches(&graph, start, start, &mut BTreeSet::new()) {
            found.push(format!("{start} is on a cycle"));
        }
    }
    found
}

fn reaches<'a>(
    graph: &BTreeMap<&'a str, Vec<&'a str>>,
    from: &'a str,
    target: &str,
    seen: &mut BTreeSet<&'a str>,
) -> bool {
    for &next in graph.get(from).into_iter().flatten() {
        if next == target {
            return true;
        }
        if seen.insert(next) && reaches(graph, next, target, seen) {
            return true;
        }
    }
    false
}

#[test]
fn the_manifests_have_exactly_the_arrows_architecture_md_lists() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let documented = documented_arrows(&text);
    assert!(
        !documented.is_empty(),
        "ARCHITECTURE.md has no `## The arrows` list"
    );
    let (ours, actual) = manifest_arrows();
    let missing: Vec<_> = documented.difference(&actual).collect();
    let undocumented: Vec<_> = actual.difference(&documented).collect();
    assert!(
        missing.is_empty() && undocumented.is_empty(),
        "listed in ARCHITECTURE.md but not in any Cargo.toml: {missing:?}\n\
         in a Cargo.toml but not listed in ARCHITECTURE.md: {undocumented:?}"
    );
    for (from, to) in &documented {
        assert!(
            ours.contains(from) && ours.contains(to),
            "ARCHITECTURE.md names a crate the workspace does not have: {from} → {to}"
        );
    }
}

#[test]
fn no_forbidden_arrow_and_no_cycle() {
    let (ours, actual) = manifest_arrows();
    let found = violations(&ours, &actual);
    assert!(found.is_empty(), "forbidden arrows: {found:#?}");
}

/// The check itself catches each kind of arrow the issue names, so the test above can fail.
#[test]
fn the_check_catches_every_forbidden_kind() {
    let names = [
        "memmon-core",
        "memmon-sampler",
        "memmon-format",
        "memmon-config",
        "memmon-watch",
        "memmon-cli",
    ];
    let ours: BTreeSet<String> = names.iter().map(|s| s.to_string()).collect();
    let arrow = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    let fine: Arrows = [
        arrow("memmon-sampler", "memmon-core"),
        arrow("memmon-watch", "memmon-sampler"),
        arrow("memmon-cli", "memmon-watch"),
    ]
    .into();
    assert_eq!(violations(&ours, &fine), Vec::<String>::new());
    for (bad, expected) in [
        (
            arrow("memmon-core", "memmon-format"),
            "memmon-core → memmon-format: memmon-core depends on no crate of ours",
        ),
        (
            arrow("memmon-sampler", "memmon-config"),
            "memmon-sampler → memmon-config: samplers produce numbers, not lines or settings",
        ),
        (
            arrow("memmon-format", "memmon-cli"),
            "memmon-format → memmon-cli: no crate reaches the binary or the automation",
        ),
    ] {
        let mut arrows = fine.clone();
        arrows.insert(bad);
        assert_eq!(violations(&ours, &arrows), vec![expected.to_owned()]);
    }
    let mut cycle = fine.clone();
    cycle.insert(arrow("memmon-sampler", "memmon-watch"));
    assert_eq!(
        violations(&ours, &cycle),
        vec![
            "memmon-sampler is on a cycle".to_owned(),
            "memmon-watch is on a cycle".to_owned()
        ]
    );
}

#[test]
fn the_list_is_read_from_its_section_only() {
    let text = "# A\n- `x` → `y`\n## The arrows\n- `a` → `b`, `c`\n- prose without arrow\n\
                ## Next\n- `d` → `e`\n";
    let got: Vec<_> = documented_arrows(text).into_iter().collect();
    assert_eq!(
        got,
        vec![
            ("a".to_owned(), "b".to_owned()),
            ("a".to_owned(), "c".to_owned())
        ]
    );
}
