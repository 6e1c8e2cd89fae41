//! The hook on a real `python3`: its fast site grouping (raw traces, grouped by their most recent
//! frame) gives exactly the lines tracemalloc's own `Snapshot.statistics("lineno")` gives, and a
//! hook that cannot start says so once and leaves the client alone.
#![allow(clippy::unwrap_used)] // a panic in a test harness is a failed test

use memmon_sampler::python::HOOK_SOURCE;
use std::process::Command;

/// Loads the hook without running it, freezes the traces (both paths read
/// `_tracemalloc._get_traces`, so both see the very same list), and prints both results.
const COMPARE: &str = r#"
import sys, tracemalloc, _tracemalloc
tracemalloc.start(int(sys.argv[2]))
src = open(sys.argv[1]).read().replace("\n_main()\n", "\n")
hook = {"__file__": sys.argv[1], "__name__": "memmon_hook_under_test"}
exec(compile(src, sys.argv[1], "exec"), hook)

def nest(n):
    return [str(n)] if n == 0 else nest(n - 1)

keep = []
for i in range(20000):
    keep.append([str(i), {"a": i}, (i, i + 1)])
    if i % 7 == 0:
        keep.append(nest(3))
frozen = _tracemalloc._get_traces()
_tracemalloc._get_traces = lambda: frozen
tracemalloc._get_traces = lambda: frozen
own = (sys.argv[1], tracemalloc.__file__, "<unknown>")
fast = hook["_top_sites"](own)
public = hook["_top_sites_public"](own)
print(repr(fast))
print(repr(public))
"#;

fn compare(frames: &str) {
    let dir = std::env::temp_dir().join(format!("memmon-py-sites-{}-{frames}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hook = dir.join("sitecustomize.py");
    std::fs::write(&hook, HOOK_SOURCE).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(COMPARE)
        .arg(&hook)
        .arg(frames)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(
        lines[0], lines[1],
        "fast grouping differs from tracemalloc's statistics"
    );
    // The workload's lines, largest first: the kept lists (line 13), the loop's appends
    // (line 12), the innermost frame of the recursion (line 9); the hook's own lines are left out.
    assert!(
        lines[0].starts_with("[['<string>:13', ")
            && lines[0].contains("], ['<string>:12', ")
            && lines[0].contains("], ['<string>:9', "),
        "{stdout}"
    );
    assert!(!lines[0].contains("sitecustomize.py"), "{stdout}");
}

#[test]
fn fast_grouping_equals_tracemallocs_statistics_with_one_frame() {
    compare("1");
}

#[test]
fn fast_grouping_equals_tracemallocs_statistics_with_several_frames() {
    compare("5");
}

/// The hook must never break the client: with a channel directory it cannot serve in, it says
/// so once on stderr (`[memmon] …`) and the client runs and exits as it would without it.
#[test]
fn a_hook_that_cannot_start_says_so_once_and_the_client_runs_on() {
    let dir = std::env::temp_dir().join(format!("memmon-py-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sitecustomize.py"), HOOK_SOURCE).unwrap();
    let out = Command::new("python3")
        .args(["-c", "import sys; print('client ran'); sys.exit(3)"])
        .env("PYTHONPATH", &dir)
        .env("MEMMON_HOOK_DIR", dir.join("no-such-dir"))
        .env("MEMMON_TRACEMALLOC_FRAMES", "1")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "client ran\n");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("[memmon] tracemalloc hook disabled: "),
        "{stderr}"
    );
}

/// The hook's own modules and thread are not the client's memory: the server starts, and what
/// its replies import is imported, before tracing starts, so no line of `socket`, `enum`
/// (which `socket` imports), `threading` or `json` shows up among the sites, even in the first
/// reply of a client that allocates little, and the client's own line comes first.
#[test]
fn the_first_reply_counts_none_of_the_hooks_own_imports() {
    let dir = std::env::temp_dir().join(format!("memmon-py-first-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sitecustomize.py"), HOOK_SOURCE).unwrap();
    let client = "import sys\n\
                  keep = [bytearray(100) for _ in range(50)]\n\
                  sys.stdout.write(sys.modules['_memmon_hook']._snapshot().decode())\n";
    let out = Command::new("python3")
        .args(["-c", client])
        .env("PYTHONPATH", &dir)
        .env("MEMMON_HOOK_DIR", &dir)
        .env("MEMMON_TRACEMALLOC_FRAMES", "1")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("{\"pid\":"), "{stdout}{stderr}");
    assert!(stdout.contains("\"sites\":[[\"<string>:2\","), "{stdout}");
    for module in ["/socket.py:", "/enum.py:", "/threading.py:", "/json/"] {
        assert!(!stdout.contains(module), "{module} in {stdout}");
    }
}
