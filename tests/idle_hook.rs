//! The idle hook (#19, item 2): with `python_hook: auto` (the default) every Python process
//! memmon starts loads the hook, even with tracemalloc off; it then listens on its socket and
//! does nothing else, and memmon asks it nothing. With `python_hook: off` nothing is installed.

use crate::util::{assert_well_formed, parse_log, Dir};
use memmon_format::Record;
use serde_json::Value;

/// What a Python process sees of the hook, written to `NAME.json` (argv[1]). It looks before
/// importing anything itself, so the modules it reports are the hook's and the interpreter's.
/// It lives ~1.2 s, so memmon takes several samples (and detail cadences) meanwhile.
const PROBE: &str = r#"
import os, sys, time
loaded = {m: m in sys.modules for m in ("_memmon_hook", "tracemalloc", "json", "ctypes")}
time.sleep(1.2)
import json, threading, tracemalloc
hook = os.environ.get("MEMMON_HOOK_DIR")
real = os.path.realpath(hook) if hook else None
json.dump({
    "hook": hook,
    "protocol": os.environ.get("MEMMON_HOOK_PROTOCOL"),
    "pythonpath": os.environ.get("PYTHONPATH"),
    "loaded": loaded,
    "tracing": tracemalloc.is_tracing(),
    "socket": bool(hook) and os.path.exists(os.path.join(hook, "%d.sock" % os.getpid())),
    "marker": bool(hook) and os.path.exists(os.path.join(hook, "trace-from-start")),
    "on_sys_path": any(isinstance(p, str) and os.path.realpath(p or ".") == real for p in sys.path),
    "threads": sorted(t.name for t in threading.enumerate()),
}, open(sys.argv[1] + ".json", "w"))
"#;

/// Runs `memmon run --config c.json --log m.log [extra] -- python3 probe.py seen` in `d` with
/// `PYTHONPATH` set to `pythonpath`; returns memmon's stderr, the probe's report and the log.
fn run(d: &Dir, config: &str, extra: &[&str], pythonpath: Option<&str>) -> (String, Value, String) {
    d.write("probe.py", PROBE);
    d.write("c.json", config);
    let mut memmon = d.memmon();
    memmon
        .args([
            "run", "--config", "c.json", "--log", "m.log", "--lang", "en",
        ])
        .args(extra)
        .args(["--", "python3", "probe.py", "seen"]);
    match pythonpath {
        Some(p) => memmon.env("PYTHONPATH", p),
        None => memmon.env_remove("PYTHONPATH"),
    };
    let out = memmon.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("[memmon]"), "the hook complained: {err}");
    let seen: Value = serde_json::from_str(&d.read("seen.json")).unwrap();
    let text = d.read("m.log");
    assert_well_formed(&parse_log(&d.join("m.log")), &text);
    (err, seen, text)
}

/// Short interval, first sample at once, a detail cadence every 2nd sample: with tracemalloc
/// off, still no detail block.
const DEFAULTS: &str =
    r#"{"memory_monitor": {"interval": 0.2, "startup_delay": 0, "detail_every": 2}}"#;

fn detail_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            matches!(
                memmon_format::parse_line(l),
                Record::Tracemalloc { .. }
                    | Record::Smaps { .. }
                    | Record::NoAnswer { .. }
                    | Record::TopHeader
                    | Record::Site(_)
            )
        })
        .collect()
}

#[test]
fn with_tracemalloc_off_the_hook_is_loaded_and_only_listens() {
    let d = Dir::new("idle-hook");
    let (_, seen, text) = run(&d, DEFAULTS, &[], Some("/nonexistent/keep"));
    let hook = seen["hook"]
        .as_str()
        .unwrap_or_else(|| panic!("no hook: {seen}"));
    assert_eq!(seen["protocol"], "1", "{seen}");
    assert_eq!(seen["loaded"]["_memmon_hook"], true, "{seen}");
    // Listening: its socket, its thread; nothing of tracing loaded, nothing traced.
    assert_eq!(seen["socket"], true, "{seen}");
    assert_eq!(
        seen["threads"],
        serde_json::json!(["MainThread", "memmon-tracemalloc"]),
        "{seen}"
    );
    assert_eq!(seen["tracing"], false, "{seen}");
    for module in ["tracemalloc", "json", "ctypes"] {
        assert_eq!(seen["loaded"][module], false, "{module} loaded: {seen}");
    }
    // memmon never asked it to trace (no marker), and its directory left sys.path; PYTHONPATH
    // keeps it first for the processes this one starts, what was there after it.
    assert_eq!(seen["marker"], false, "{seen}");
    assert_eq!(seen["on_sys_path"], false, "{seen}");
    assert_eq!(
        seen["pythonpath"].as_str().unwrap(),
        format!("{hook}:/nonexistent/keep")
    );
    // The log is the one without a hook: samples, no detail block.
    assert!(detail_lines(&text).is_empty(), "{text}");
    assert!(!std::path::Path::new(hook).exists(), "{hook} left behind");
}

#[test]
fn python_hook_off_installs_nothing() {
    let d = Dir::new("idle-hook-off");
    let off = r#"{"memory_monitor": {"interval": 0.2, "startup_delay": 0, "detail_every": 2, "python_hook": "off"}}"#;
    let (err, seen, text) = run(&d, off, &[], Some("/nonexistent/keep"));
    // Nothing to say: tracemalloc is off, so nothing is lost without the hook.
    assert!(
        !err.contains("python_hook") && !err.contains("memmon:"),
        "{err}"
    );
    assert_eq!(seen["hook"], Value::Null, "{seen}");
    assert_eq!(seen["protocol"], Value::Null, "{seen}");
    assert_eq!(seen["pythonpath"], "/nonexistent/keep", "{seen}");
    assert_eq!(seen["loaded"]["_memmon_hook"], false, "{seen}");
    assert_eq!(seen["threads"], serde_json::json!(["MainThread"]), "{seen}");
    assert!(detail_lines(&text).is_empty(), "{text}");
    // No PYTHONPATH before: none after either.
    let (_, seen, _) = run(&d, DEFAULTS, &["--python-hook", "off"], None);
    assert_eq!(seen["pythonpath"], Value::Null, "{seen}");
    assert_eq!(seen["hook"], Value::Null, "{seen}");
}

#[test]
fn python_hook_off_with_tracemalloc_takes_detail_from_smaps_and_says_why_once() {
    let d = Dir::new("idle-hook-off-detail");
    let (err, seen, text) = run(&d, DEFAULTS, &["--python-hook", "off", "--detail"], None);
    assert_eq!(
        err.matches("python_hook is off").count(),
        1,
        "stderr must say why once: {err}"
    );
    assert!(err.contains("detail comes from smaps"), "{err}");
    assert_eq!(seen["hook"], Value::Null, "{seen}");
    // The smaps block (its own line, then its mappings), never tracemalloc's.
    let detail = detail_lines(&text);
    assert!(
        detail
            .iter()
            .any(|l| matches!(memmon_format::parse_line(l), Record::Smaps { .. })),
        "no smaps block:\n{text}"
    );
    assert!(
        !detail.iter().any(|l| matches!(
            memmon_format::parse_line(l),
            Record::Tracemalloc { .. } | Record::NoAnswer { .. }
        )),
        "{detail:?}"
    );
}

/// A Python process that forks: the child (watched with `--children`) gets a listener of its
/// own at once (`os.register_at_fork`), which answers on `<child pid>.sock`; the parent's still
/// answers too. Both stay idle. A request memmon never sends (`ping`) gets the protocol's error
/// reply, so asking costs nothing and starts nothing.
#[test]
fn a_forked_child_gets_its_own_listener() {
    const FORKY: &str = r#"
import json, os, socket, sys, threading, time, tracemalloc
hook = os.environ["MEMMON_HOOK_DIR"]

def ask(pid):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(os.path.join(hook, "%d.sock" % pid))
    s.sendall(b"ping 1\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    s.close()
    return json.loads(reply)

def report(name, peer):
    json.dump({
        "pid": os.getpid(),
        "own": ask(os.getpid()),
        "peer": ask(peer) if peer else None,
        "tracing": tracemalloc.is_tracing(),
        "threads": sorted(t.name for t in threading.enumerate()),
    }, open(name, "w"))

parent = os.getpid()
pid = os.fork()
if pid == 0:
    time.sleep(0.6)
    report("child.json", parent)
    # Stay until the parent has asked this child (it writes parent.json after asking): under
    # load the parent's question can come after the child's own report.
    deadline = time.time() + 20
    while not os.path.exists("parent.json") and time.time() < deadline:
        time.sleep(0.02)
    os._exit(0)
time.sleep(0.6)
report("parent.json", pid)
os.waitpid(pid, 0)
"#;
    let d = Dir::new("idle-hook-fork");
    d.write("forky.py", FORKY);
    d.write("c.json", DEFAULTS);
    let out = d
        .memmon()
        .args(["run", "--config", "c.json", "--log", "m.log", "--children"])
        .args(["--", "python3", "forky.py"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("[memmon]"), "the hook complained: {err}");
    let parent: Value = serde_json::from_str(&d.read("parent.json")).unwrap();
    let child: Value = serde_json::from_str(&d.read("child.json")).unwrap();
    let (ppid, cpid) = (&parent["pid"], &child["pid"]);
    assert_ne!(ppid, cpid);
    for (who, me, other) in [(&parent, ppid, cpid), (&child, cpid, ppid)] {
        // Each answers on its own socket, as itself.
        assert_eq!(&who["own"]["pid"], me, "{who}");
        assert_eq!(&who["peer"]["pid"], other, "{who}");
        assert_eq!(who["own"]["v"], 1, "{who}");
        assert!(
            who["own"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("unknown request")),
            "{who}"
        );
        assert_eq!(who["tracing"], false, "{who}");
        assert_eq!(
            who["threads"],
            serde_json::json!(["MainThread", "memmon-tracemalloc"]),
            "{who}"
        );
    }
    let text = d.read("m.log");
    assert!(detail_lines(&text).is_empty(), "{text}");
}
