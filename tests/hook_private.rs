//! The hook's directory is first on `sys.path` of Python processes memmon starts, often as
//! root: no other user may create, replace or write it, during memmon's life or after it.

use crate::util::Dir;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

const PROBE: &str = r#"
import json, os, sys
hook = os.environ["MEMMON_HOOK_DIR"]
real = os.path.realpath(hook)
json.dump({
    "hook": hook,
    "on_sys_path": any(isinstance(p, str) and os.path.realpath(p or ".") == real for p in sys.path),
    "pythonpath": os.environ.get("PYTHONPATH", ""),
}, open("seen.json", "w"))
"#;

#[test]
fn the_hook_never_lives_where_another_user_can_write() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to play the other user (CI runs as root)");
        return;
    }
    let d = Dir::new("hook-private");
    std::fs::set_permissions(&d.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A runtime directory that belongs to another user (root through `su` without `-`, or
    // `sudo -E`, keeps the user's XDG_RUNTIME_DIR): memmon must not put root's hook there.
    let theirs = d.join("xdg-nobody");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    d.write("probe.py", PROBE);
    let out = d
        .memmon()
        .env("XDG_RUNTIME_DIR", &theirs)
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.2",
            "--detail",
        ])
        .args(["--log", "m.log", "--", "python3", "probe.py"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let seen: serde_json::Value = serde_json::from_str(&d.read("seen.json")).unwrap();
    let hook = seen["hook"].as_str().unwrap().to_owned();
    assert!(!hook.starts_with(theirs.to_str().unwrap()), "{hook}");
    assert!(hook.starts_with("/run/memmon/memmon-"), "{hook}");
    // Loaded, the hook took its directory off sys.path; PYTHONPATH keeps it for the processes
    // this one starts.
    assert_eq!(seen["on_sys_path"], false, "{seen}");
    assert!(
        seen["pythonpath"].as_str().unwrap().starts_with(&hook),
        "{seen}"
    );
    // The parent is root's own, and after memmon the name cannot be taken by another user.
    let parent = std::fs::metadata("/run/memmon").unwrap();
    assert_eq!(parent.uid(), 0);
    assert_eq!(parent.mode() & 0o022, 0, "{:o}", parent.mode());
    assert!(!Path::new(&hook).exists(), "{hook} left behind");
    let planted = Command::new("mkdir")
        .arg(&hook)
        .uid(65534)
        .gid(65534)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!planted.success(), "nobody could recreate {hook}");
    assert!(!Path::new(&hook).exists());
}
