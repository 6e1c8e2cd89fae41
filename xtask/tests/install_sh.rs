//! `deploy/install.sh` against a temporary root (`DESTDIR`): it installs, refuses to overwrite
//! a file the admin changed, upgrades what it installed, and uninstalls only its own files.
//! No systemd is involved: with DESTDIR set the script does not call systemctl.

// Test helpers panic on a broken test environment; that is the failure we want.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary directory removed on drop.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Temp(dir)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// An unpacked archive: `deploy/`'s files plus a fake `memmon` binary with `binary` as text.
fn package(dir: &Path, binary: &str) -> PathBuf {
    let pkg = dir.join("pkg");
    for rel in [
        "install.sh",
        "systemd/memmon.service",
        "systemd/attendance-client-fixed.service.d/memmon.conf",
    ] {
        let to = pkg.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(deploy_dir().join(rel), &to).unwrap();
    }
    let bin = pkg.join("memmon");
    std::fs::write(&bin, binary).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    pkg
}

fn install(pkg: &Path, destdir: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .arg(pkg.join("install.sh"))
        .args(args)
        .env("DESTDIR", destdir)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file below `dir`, as sorted relative paths.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

const DROP_IN: &str = "etc/systemd/system/attendance-client-fixed.service.d/memmon.conf";

#[test]
fn installs_refuses_a_changed_file_upgrades_and_uninstalls() {
    let tmp = Temp::new("install-sh");
    let root = tmp.0.join("root");
    let pkg = package(&tmp.0, "memmon v1\n");

    let o = install(&pkg, &root, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("not running systemctl daemon-reload"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("sudo systemctl restart attendance-client-fixed.service"));
    assert_eq!(
        files(&root),
        [
            "etc/systemd/system/attendance-client-fixed.service.d/memmon.conf",
            "usr/local/bin/memmon",
            "var/lib/memmon/installed.sha256"
        ]
    );
    let bin = root.join("usr/local/bin/memmon");
    assert_eq!(
        std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(
        std::fs::read_to_string(root.join(DROP_IN)).unwrap(),
        std::fs::read_to_string(
            deploy_dir().join("systemd/attendance-client-fixed.service.d/memmon.conf")
        )
        .unwrap()
    );
    let manifest = std::fs::read_to_string(root.join("var/lib/memmon/installed.sha256")).unwrap();
    assert!(manifest.contains(" /usr/local/bin/memmon\n"), "{manifest}");

    // Running it again changes nothing and succeeds.
    let o = install(&pkg, &root, &[]);
    assert!(o.status.success(), "{}", text(&o));

    // A newer binary replaces the one memmon installed (it is unchanged since).
    let pkg = package(&tmp.0, "memmon v2\n");
    let o = install(&pkg, &root, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&bin).unwrap(), "memmon v2\n");

    // The admin edits the drop-in: install.sh refuses and writes nothing, not even the binary.
    std::fs::write(
        root.join(DROP_IN),
        "[Service]\nExecStart=\nExecStart=/bin/true\n",
    )
    .unwrap();
    let pkg = package(&tmp.0, "memmon v3\n");
    let o = install(&pkg, &root, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refusing to overwrite"), "{}", text(&o));
    assert!(text(&o).contains(DROP_IN), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&bin).unwrap(), "memmon v2\n");

    // Uninstall keeps the edited file and removes the rest.
    let o = install(&pkg, &root, &["--uninstall"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("kept"), "{}", text(&o));
    assert_eq!(files(&root), [DROP_IN]);

    // Once the admin's file is gone too, nothing of memmon is left.
    std::fs::remove_file(root.join(DROP_IN)).unwrap();
    let o = install(&pkg, &root, &["--uninstall"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("nothing to uninstall"), "{}", text(&o));
}

#[test]
fn a_clean_install_uninstalls_to_an_empty_tree() {
    let tmp = Temp::new("install-sh-clean");
    let root = tmp.0.join("root");
    let pkg = package(&tmp.0, "memmon\n");
    assert!(install(&pkg, &root, &["other.service"]).status.success());
    assert!(root
        .join("etc/systemd/system/other.service.d/memmon.conf")
        .exists());
    let o = install(&pkg, &root, &["--standalone"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("systemctl enable --now memmon.service"),
        "{}",
        text(&o)
    );
    assert!(root.join("etc/systemd/system/memmon.service").exists());

    let o = install(&pkg, &root, &["--uninstall"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(files(&root), Vec::<String>::new());
    // The drop-in directory and /var/lib/memmon went with their files.
    assert!(!root.join("etc/systemd/system/other.service.d").exists());
    assert!(!root.join("var/lib/memmon").exists());
}

#[test]
fn a_file_memmon_did_not_install_is_never_overwritten() {
    let tmp = Temp::new("install-sh-foreign");
    let root = tmp.0.join("root");
    let pkg = package(&tmp.0, "memmon\n");
    let bin = root.join("usr/local/bin/memmon");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::write(&bin, "someone else's memmon\n").unwrap();
    let o = install(&pkg, &root, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(files(&root), ["usr/local/bin/memmon"]);
}

#[test]
fn bad_arguments_exit_1_with_a_message() {
    let tmp = Temp::new("install-sh-args");
    let pkg = package(&tmp.0, "memmon\n");
    for (args, needle) in [
        (&["--bogus"][..], "unknown option --bogus"),
        (&["attendance"][..], "ending in .service"),
        (&["../x.service"][..], "has no '/'"),
    ] {
        let o = install(&pkg, &tmp.0.join("root"), args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
    }
    let o = install(&pkg, &tmp.0.join("root"), &["--help"]);
    assert!(o.status.success());
    assert!(
        text(&o).contains("sudo sh install.sh --uninstall"),
        "{}",
        text(&o)
    );
}
