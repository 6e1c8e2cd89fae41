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
fast, fast_traces = hook["_top_sites"](own)
public, public_traces = hook["_top_sites_public"](own)
assert fast_traces == public_traces == len(frozen), (fast_traces, public_traces, len(frozen))
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
        .env("MEMMON_HOOK_PROTOCOL", "1")
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

/// Python for a client that talks to its own hook: `ask(line)` sends one request line to the
/// process's socket and returns the reply, parsed (the hook's thread answers while the main
/// thread waits).
const ASK: &str = r#"
import _socket, json, os, sys, tracemalloc
def ask(line):
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.connect(os.path.join(os.environ["MEMMON_HOOK_DIR"], "%d.sock" % os.getpid()))
    s.sendall(line.encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)
"#;

/// Runs `client` (after [`ASK`]) with the hook in a fresh directory, after `prepare` has had the
/// directory; returns stdout, asserting the client succeeded and the hook said nothing.
fn hooked(name: &str, prepare: impl FnOnce(&std::path::Path), client: &str) -> String {
    let dir = std::env::temp_dir().join(format!("memmon-py-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sitecustomize.py"), HOOK_SOURCE).unwrap();
    prepare(&dir);
    let out = Command::new("python3")
        .args(["-c", &format!("{ASK}{client}")])
        .env("PYTHONPATH", &dir)
        .env("MEMMON_HOOK_DIR", &dir)
        .env("MEMMON_HOOK_PROTOCOL", "1")
        .env("MEMMON_TRACEMALLOC_FRAMES", "1")
        .env_remove("PYTHONTRACEMALLOC")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stderr, "", "{stdout}");
    stdout
}

/// The line of the hooked client's code (after [`ASK`]) that contains `needle`.
fn line_of(client: &str, needle: &str) -> usize {
    let source = format!("{ASK}{client}");
    source.lines().position(|l| l.contains(needle)).unwrap() + 1
}

/// Tracing starts when memmon asks (its first sample, after the client has loaded), not at the
/// interpreter's start: what the client imported and built before is neither traced nor shown,
/// and its runtime line comes first. `start` is idempotent.
#[test]
fn tracing_starts_on_request_not_at_start_up() {
    let client = "
print(tracemalloc.is_tracing())
import decimal, email.message, xml.dom.minidom
loaded = [str(i) * 10 for i in range(20000)]
print(json.dumps(ask('start 1'), sort_keys=True))
print(tracemalloc.is_tracing(), ask('start 1')['tracing'])
keep = [bytearray(1000) for _ in range(100)]
reply = ask('snapshot 1')
print(reply['sites'][0][0], reply['current'] < 1 << 20)
print([s[0] for s in reply['sites'] if 'frozen' in s[0] or ':' not in s[0]])
";
    let out = hooked("start", |_| {}, client);
    let keep = line_of(client, "keep = ");
    let lines: Vec<&str> = out.lines().collect();
    let pid = lines
        .get(1)
        .and_then(|l| l.strip_prefix("{\"pid\": "))
        .and_then(|l| l.split(',').next())
        .unwrap_or_default();
    assert_eq!(
        lines,
        [
            "False",
            &format!("{{\"pid\": {pid}, \"tracing\": true, \"v\": 1}}"),
            "True True",
            &format!("<string>:{keep} True"),
            "[]"
        ],
        "{out}"
    );
}

/// A Python process that starts after memmon's first sample (the marker is in the directory)
/// traces from its own start: its imports are traced too.
#[test]
fn a_process_started_after_the_first_sample_traces_from_its_start() {
    let client = "
print(tracemalloc.is_tracing())
import decimal
print(tracemalloc.get_traced_memory()[0] > 100000)
";
    let marker = |dir: &std::path::Path| {
        std::fs::write(dir.join("trace-from-start"), "").unwrap();
    };
    assert_eq!(hooked("marker", marker, client), "True\nTrue\n");
}

/// The version is checked both ways: a request of another version and an unknown verb get an
/// error reply (and the hook serves on); a hook given another version stays inert and says so.
#[test]
fn a_request_of_another_version_or_verb_gets_an_error_and_the_hook_serves_on() {
    let client = "
print(ask('snapshot 2')['error'])
print(ask('frobnicate 1')['error'])
print(ask('snapshot')['v'], 'error' in ask('snapshot'))
print(ask('start 1'))
";
    let out = hooked("version", |_| {}, client);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], "protocol: hook speaks 1, asked b'snapshot 2\\n'");
    assert_eq!(lines[1], "unknown request 'frobnicate'");
    assert_eq!(lines[2], "1 True");
    assert!(
        lines[3].starts_with("{'tracing': True, 'v': 1, 'pid': "),
        "{out}"
    );

    let dir = std::env::temp_dir().join(format!("memmon-py-other-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sitecustomize.py"), HOOK_SOURCE).unwrap();
    let out = Command::new("python3")
        .args(["-c", "import os, tracemalloc; print(tracemalloc.is_tracing(), os.listdir(os.environ['MEMMON_HOOK_DIR']))"])
        .env("PYTHONPATH", &dir)
        .env("MEMMON_HOOK_DIR", &dir)
        .env("MEMMON_HOOK_PROTOCOL", "2")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "False ['sitecustomize.py']\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "[memmon] tracemalloc hook disabled: protocol: memmon speaks 2, this hook 1\n"
    );
}

/// A snapshot of a large traced heap gives its memory back: 300,000 live traces cost ~50 MB
/// while a snapshot groups them, and without `malloc_trim` most of it stayed in the client for
/// good (+46 MB after the first, more after the next). Three snapshots here may leave at most
/// 20 MB.
#[test]
fn a_snapshot_of_a_large_heap_gives_its_memory_back() {
    let client = "
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) * 1024
keep = [(i, str(i)) for i in range(150000)]
before = rss()
for _ in range(3):
    reply = ask('snapshot 1')
print(len(keep), reply['sites'][0][0], (rss() - before) >> 20)
";
    let marker = |dir: &std::path::Path| {
        std::fs::write(dir.join("trace-from-start"), "").unwrap();
    };
    let out = hooked("trim", marker, client);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields.len(), 3, "{out}");
    let keep = format!("<string>:{}", line_of(client, "keep = "));
    assert_eq!(fields[..2], ["150000", keep.as_str()], "{out}");
    let grown: i64 = fields[2].parse().unwrap();
    assert!(grown <= 20, "the snapshots kept {grown} MB\n{out}");
}

/// The hook's own modules and thread are not the client's memory: the server starts, and what
/// its replies import is imported, before tracing starts, so no line of `threading`, `json` or
/// `ctypes` shows up among the sites, even in the first reply of a client traced from its start
/// that allocates little, and the client's own line comes first. The hook listens with
/// `_socket` (as [`ASK`] asks with it), so no line of `socket` or `enum` is traced either.
#[test]
fn the_first_reply_counts_none_of_the_hooks_own_imports() {
    let client = "
keep = [bytearray(100) for _ in range(50)]
print(json.dumps(sys.modules['_memmon_hook']._snapshot()))
";
    let marker = |dir: &std::path::Path| {
        std::fs::write(dir.join("trace-from-start"), "").unwrap();
    };
    let out = hooked("first", marker, client);
    let line = line_of(client, "keep = ");
    assert!(
        out.contains(&format!("\"sites\": [[\"<string>:{line}\", ")),
        "{out}"
    );
    for module in [
        "/socket.py:",
        "/enum.py:",
        "/threading.py:",
        "/json/",
        "/ctypes/",
    ] {
        assert!(!out.contains(module), "{module} in {out}");
    }
}
