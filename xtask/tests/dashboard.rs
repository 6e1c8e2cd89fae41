//! The Grafana dashboard's queries are the ones promtool tests (issue #19): every panel query of
//! `deploy/grafana/memmon-fleet.json`, with the dashboard's variables at "All", is exactly the
//! `expr` of a recording rule in `deploy/grafana/memmon-dashboard.rules.yml`, every such rule is
//! some panel's query and has a test in `memmon-dashboard.rules.test.yml`. So a query edited
//! in Grafana and exported cannot drift away from what `.ci/prometheus.sh` checks.

// Test helpers panic on a broken test environment; that is the failure we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn grafana_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace root")
        .join("deploy/grafana")
}

fn read(file: &str) -> String {
    let path = grafana_dir().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dashboard() -> Value {
    serde_json::from_str(&read("memmon-fleet.json")).expect("memmon-fleet.json is JSON")
}

/// `(record, expr)` of every recording rule, read without a YAML parser: each `- record:` line
/// must be followed by an `expr:` line holding the whole query, plain or in single quotes (the
/// rules file's comment asks for that). Anything else is refused rather than misread.
fn recording_rules(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut rules = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(record) = line.trim().strip_prefix("- record:") else {
            if line.trim_start().starts_with("expr:") {
                return Err(format!(
                    "line {}: an expr without a record before it",
                    n + 1
                ));
            }
            continue;
        };
        let record = record.trim().to_owned();
        let (n, expr_line) = lines
            .next()
            .ok_or_else(|| format!("line {}: {record} has no expr", n + 1))?;
        let raw = expr_line
            .trim()
            .strip_prefix("expr:")
            .ok_or_else(|| format!("line {}: {record}: the next line is not its expr", n + 1))?
            .trim();
        let expr = if let Some(quoted) = raw.strip_prefix('\'') {
            let inner = quoted
                .strip_suffix('\'')
                .filter(|inner| !inner.replace("''", "").contains('\''))
                .ok_or_else(|| format!("line {}: {record}: not one single-quoted string", n + 1))?;
            inner.replace("''", "'")
        } else if raw.is_empty()
            || raw.starts_with(['"', '|', '>', '&', '*', '!', '{', '['])
            || raw.contains(" #")
            || raw.contains(": ")
        {
            return Err(format!(
                "line {}: {record}: write the expr on one line, in single quotes",
                n + 1
            ));
        } else {
            raw.to_owned()
        };
        rules.push((record, expr));
    }
    Ok(rules)
}

/// Every panel, rows' collapsed panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `(panel title, expr)` of every query, in order.
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .into_iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("?").to_owned();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| (title.clone(), t["expr"].as_str().unwrap_or("").to_owned()))
        })
        .collect()
}

/// The query variables with their All value: `(name, allValue)`.
fn variables(dashboard: &Value) -> Vec<(String, Option<String>)> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let all = v["allValue"].as_str().filter(|_| v["includeAll"] == true);
            (
                v["name"].as_str().unwrap_or("").to_owned(),
                all.map(str::to_owned),
            )
        })
        .collect()
}

/// `expr` with every variable at its All value: `${v}` and `$v` (not `$vx`).
fn at_all(expr: &str, variables: &[(String, Option<String>)]) -> String {
    let mut out = expr.to_owned();
    for (name, all) in variables {
        let Some(all) = all else { continue };
        out = out.replace(&format!("${{{name}}}"), all);
        let token = format!("${name}");
        let mut replaced = String::new();
        let mut rest = out.as_str();
        while let Some(at) = rest.find(&token) {
            let after = &rest[at + token.len()..];
            replaced.push_str(&rest[..at]);
            if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                replaced.push_str(&token);
            } else {
                replaced.push_str(all);
            }
            rest = after;
        }
        replaced.push_str(rest);
        out = replaced;
    }
    out
}

/// What keeps the dashboard and the rules apart: a query that is no rule's expr, a rule that is
/// no panel's query, a variable without `.+` as its All value, a query left over with a `$`.
fn drift(dashboard: &Value, rules: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    let vars = variables(dashboard);
    for (name, all) in &vars {
        if all.as_deref() != Some(".+") {
            found.push(format!(
                "variable ${name}: its All value must be `.+` (includeAll, allValue), the rules' stand-in"
            ));
        }
    }
    let queries = panel_queries(dashboard);
    if queries.is_empty() {
        found.push("the dashboard has no query".to_owned());
    }
    let mut used = vec![false; rules.len()];
    for (title, expr) in &queries {
        let expr = at_all(expr, &vars);
        // Several rules may share an expr: they are all this query's.
        let mut matched = false;
        for ((_, e), used) in rules.iter().zip(used.iter_mut()) {
            if *e == expr {
                *used = true;
                matched = true;
            }
        }
        if !matched {
            found.push(format!(
                "panel {title:?}: its query is no recording rule's expr: {expr}"
            ));
        }
        if expr.contains('$') {
            found.push(format!(
                "panel {title:?}: a variable or macro the rules cannot stand for: {expr}"
            ));
        }
    }
    for ((record, _), used) in rules.iter().zip(used) {
        if !used {
            found.push(format!("rule {record}: no panel queries it"));
        }
    }
    found
}

#[test]
fn every_panel_query_is_a_tested_recording_rule_and_every_rule_a_panel_query() {
    let rules = recording_rules(&read("memmon-dashboard.rules.yml")).unwrap();
    assert!(!rules.is_empty(), "no recording rule found");
    let found = drift(&dashboard(), &rules);
    assert!(
        found.is_empty(),
        "the dashboard and its rules drifted: {found:#?}"
    );

    // Each rule is evaluated by a test (promtool fails on a wrong result, not on a missing one).
    let tests = read("memmon-dashboard.rules.test.yml");
    for (record, _) in &rules {
        assert!(
            record.starts_with("memmon:dashboard_"),
            "{record}: the dashboard's rules are named memmon:dashboard_<panel>"
        );
        assert!(
            tests
                .lines()
                .any(|l| l.trim() == format!("- expr: {record}")),
            "{record} has no promql_expr_test in memmon-dashboard.rules.test.yml"
        );
    }
}

/// The Prometheus data source is the dashboard's `datasource` variable everywhere, so the file
/// imports into any Grafana without editing a UID.
#[test]
fn every_panel_and_query_uses_the_datasource_variable() {
    let d = dashboard();
    let ds = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a `datasource` variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let expected = json!({"type": "prometheus", "uid": "${datasource}"});
    for p in panels(&d).into_iter().filter(|p| p["type"] != "row") {
        assert_eq!(p["datasource"], expected, "panel {}", p["title"]);
        for t in p["targets"].as_array().into_iter().flatten() {
            assert_eq!(t["datasource"], expected, "a query of panel {}", p["title"]);
        }
    }
}

/// The checks above can fail: each kind of drift is caught, and the rules' reader refuses what
/// it could misread.
#[test]
fn the_check_catches_drift_and_the_reader_refuses_what_it_cannot_read() {
    let rules = recording_rules(
        "groups:\n  - name: g\n    rules:\n      - record: memmon:dashboard_rss\n        \
         expr: 'max by (instance) (memmon_rss_bytes{instance=~\".+\", part!=''x''})'\n",
    )
    .unwrap();
    assert_eq!(
        rules,
        [(
            "memmon:dashboard_rss".to_owned(),
            "max by (instance) (memmon_rss_bytes{instance=~\".+\", part!='x'})".to_owned()
        )]
    );
    let dashboard = |expr: &str, all: &str| {
        json!({
            "templating": {"list": [
                {"name": "datasource", "type": "datasource"},
                {"name": "instance", "type": "query", "includeAll": true, "allValue": all},
            ]},
            "panels": [{"type": "row", "title": "r", "panels": [
                {"title": "RSS", "targets": [{"expr": expr}]},
            ]}],
        })
    };
    let fine = "max by (instance) (memmon_rss_bytes{instance=~\"$instance\", part!='x'})";
    assert_eq!(drift(&dashboard(fine, ".+"), &rules), Vec::<String>::new());
    let braces = "max by (instance) (memmon_rss_bytes{instance=~\"${instance}\", part!='x'})";
    assert_eq!(
        drift(&dashboard(braces, ".+"), &rules),
        Vec::<String>::new()
    );

    let edited = "max by (instance) (memmon_rss_bytes{instance=~\"$instance\",part!='x'})";
    let found = drift(&dashboard(edited, ".+"), &rules);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with("panel \"RSS\": its query is no recording rule's expr"));
    assert_eq!(found[1], "rule memmon:dashboard_rss: no panel queries it");

    let found = drift(&dashboard(fine, ".*"), &rules);
    assert!(found[0].starts_with("variable $instance"), "{found:#?}");
    let macro_ = "rate(memmon_rss_bytes[$__rate_interval])";
    let found = drift(&dashboard(macro_, ".+"), &rules);
    assert!(
        found.iter().any(|f| f.contains("a variable or macro")),
        "{found:#?}"
    );

    for bad in [
        "      - record: r\n        expr: \"up\"\n",
        "      - record: r\n        expr: |\n          up\n",
        "      - record: r\n        expr: 'up' # comment\n",
        "      - record: r\n        labels: {}\n        expr: up\n",
        "      - record: r\n",
    ] {
        assert!(recording_rules(bad).is_err(), "{bad}");
    }
}
