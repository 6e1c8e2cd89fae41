#!/usr/bin/env bash
# Checks memmon's Prometheus output with Prometheus's own tool: a textfile written by the real
# binary must pass `promtool check metrics` (what node_exporter's textfile collector accepts),
# and the alert rules and the Grafana dashboard's queries must load and pass their unit tests.
# Run from anywhere as root (to install promtool) or with promtool on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive

if ! command -v promtool >/dev/null 2>&1; then
  echo "== installing promtool (Debian's prometheus package)"
  # The package's postinst would start a Prometheus server; policy-rc.d exit 101 tells
  # invoke-rc.d not to start any service. Ours only if none exists, removed afterwards.
  created_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  apt-get update -q
  apt-get install -y -q --no-install-recommends prometheus
  if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
promtool --version | head -n 1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== a textfile from the real binary"
cargo build -q -p memmon-cli
cargo run -q -p memmon-cli -- run --startup-delay 0 --interval 0.2 --log "$tmp/memory_usage.log" \
  --name ci-reader --prom-textfile "$tmp/memmon.prom" -- sleep 1.5
test -s "$tmp/memmon.prom" || { echo "no textfile written" >&2; exit 1; }
cat "$tmp/memmon.prom"
# No temp file may be left beside it: the collector reads every *.prom of the directory.
leftover=$(find "$tmp" -name '*.tmp' | wc -l)
[ "$leftover" -eq 0 ] || { echo "temp files left: $leftover" >&2; exit 1; }

echo "== promtool check metrics"
# promtool prints lint findings and exits non-zero on any of them.
promtool check metrics <"$tmp/memmon.prom"

echo "== promtool check metrics (every family, from the renderer's insta snapshot)"
# The breakdown, Python's bytes and the verdict are absent from a short run (no breakdown yet,
# no verdict during warm-up): their shape is checked on the snapshot of a full Snapshot, the
# text after the snapshot's front matter.
snap=crates/memmon-watch/src/metrics/snapshots/memmon_watch__metrics__render__tests__renders_the_breakdown_python_objects_and_the_verdict.snap
sed '1,/^---$/d' "$snap" >"$tmp/full.prom"
grep -q '^memmon_leak_suspected{' "$tmp/full.prom" || { echo "no verdict in $snap" >&2; exit 1; }
promtool check metrics <"$tmp/full.prom"

echo "== promtool check config (the example scrape config)"
promtool check config deploy/prometheus/scrape.yml

echo "== promtool check rules"
promtool check rules deploy/prometheus/memmon.rules.yml

echo "== promtool test rules"
promtool test rules deploy/prometheus/memmon.rules.test.yml

echo "== the Grafana dashboard's queries (as recording rules): promtool check rules, test rules"
# xtask/tests/dashboard.rs (cargo test) keeps the panels' queries equal to these rules' exprs.
promtool check rules deploy/grafana/memmon-dashboard.rules.yml
promtool test rules deploy/grafana/memmon-dashboard.rules.test.yml
cargo test -q -p xtask --test dashboard

echo "== prometheus: OK"
