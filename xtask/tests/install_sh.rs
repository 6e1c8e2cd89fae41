//! `deploy/install.sh` against a temporary root (`DESTDIR`): it installs, refuses to overwrite
//! a file the admin changed, upgrades what it installed, and uninstalls only its own files.
//! systemd is not running here: a stand-in `systemctl show` (tests/fake-systemctl) answers from
//! the stand-in unit below the root; with DESTDIR set the script never reloads systemd.

// Test helpers panic on a broken test environment; that is the failure we want.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;

/// The users' unit at the guide's path.
fn guides_pi(dir: &std::path::Path) -> Pi {
    let pi = Pi::new(dir, "pi");
    pi.unit(
        UNIT,
        &users_unit(
            "raspberry",
            "/home/raspberry/Desktop/attendance/card_reader_improved",
            "/bin/bash start_pi.sh",
        ),
    );
    pi
}

#[test]
fn installs_refuses_a_changed_file_upgrades_and_uninstalls() {
    let tmp = Temp::new("install-sh");
    let pi = guides_pi(&tmp.0);
    let root = &pi.root;
    let unit_file = format!("{UNIT_DIR}/{UNIT}");
    let pkg = package(&tmp.0, "memmon v1\n");

    let o = pi.install(&pkg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("not running systemctl daemon-reload"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("sudo systemctl restart attendance-client-fixed.service"));
    assert_eq!(
        files(root),
        [
            unit_file.as_str(),
            DROP_IN,
            "usr/local/bin/memmon",
            "var/lib/memmon/installed.sha256"
        ]
    );
    let bin = root.join("usr/local/bin/memmon");
    assert_eq!(
        std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
        0o755
    );
    // For the users' own command the generated drop-in is the archive's example, byte for byte.
    assert_eq!(
        pi.drop_in(),
        std::fs::read_to_string(deploy_dir().join(DROP_IN_TEMPLATE)).unwrap()
    );
    let manifest = std::fs::read_to_string(root.join("var/lib/memmon/installed.sha256")).unwrap();
    assert!(manifest.contains(" /usr/local/bin/memmon\n"), "{manifest}");
    // DESTDIR: systemd is asked about the unit, never reloaded.
    let calls = std::fs::read_to_string(&pi.calls).unwrap();
    assert!(
        calls.lines().all(|l| l.starts_with("systemctl show ")),
        "{calls}"
    );

    // Running it again reads the unit's command, not the drop-in it wrote: nothing changes.
    let before = pi.drop_in();
    let o = pi.install(&pkg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(pi.drop_in(), before);

    // A newer binary replaces the one memmon installed (it is unchanged since).
    let pkg = package(&tmp.0, "memmon v2\n");
    let o = pi.install(&pkg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&bin).unwrap(), "memmon v2\n");

    // The admin edits the drop-in: install.sh refuses and writes nothing, not even the binary.
    std::fs::write(
        root.join(DROP_IN),
        "[Service]\nExecStart=\nExecStart=/bin/true\n",
    )
    .unwrap();
    let pkg = package(&tmp.0, "memmon v3\n");
    let o = pi.install(&pkg, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refusing to overwrite"), "{}", text(&o));
    assert!(text(&o).contains(DROP_IN), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&bin).unwrap(), "memmon v2\n");

    // Uninstall keeps the edited file (it no longer starts memmon) and removes the rest.
    let o = pi.install(&pkg, &["--uninstall"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("kept"), "{}", text(&o));
    assert_eq!(files(root), [unit_file.as_str(), DROP_IN]);

    // Once the admin's file is gone too, nothing of memmon is left.
    std::fs::remove_file(root.join(DROP_IN)).unwrap();
    let o = pi.install(&pkg, &["--uninstall"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("nothing to uninstall"), "{}", text(&o));
}

#[test]
fn uninstall_keeps_the_binary_an_edited_drop_in_still_starts() {
    let tmp = Temp::new("install-sh-keep-binary");
    let pi = guides_pi(&tmp.0);
    let pkg = package(&tmp.0, "memmon\n");
    assert!(pi.install(&pkg, &[]).status.success());
    // The admin adds a flag: the drop-in still runs /usr/local/bin/memmon.
    let edited = pi
        .drop_in()
        .replace("run --children", "run --children --interval 60");
    std::fs::write(pi.root.join(DROP_IN), &edited).unwrap();

    let o = pi.install(&pkg, &["--uninstall"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("still starts it"), "{}", text(&o));
    let unit_file = format!("{UNIT_DIR}/{UNIT}");
    assert_eq!(
        files(&pi.root),
        [
            unit_file.as_str(),
            DROP_IN,
            "usr/local/bin/memmon",
            "var/lib/memmon/installed.sha256"
        ]
    );
    // Without the edited drop-in, a second --uninstall takes the binary too.
    std::fs::remove_file(pi.root.join(DROP_IN)).unwrap();
    let o = pi.install(&pkg, &["--uninstall"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(files(&pi.root), [unit_file.as_str()]);
}

#[test]
fn a_clean_install_uninstalls_to_an_empty_tree() {
    let tmp = Temp::new("install-sh-clean");
    let pi = Pi::new(&tmp.0, "pi");
    let root = &pi.root;
    pi.unit(
        "other.service",
        "[Service]\nExecStart=/usr/bin/other --serve\n",
    );
    let pkg = package(&tmp.0, "memmon\n");
    let o = pi.install(&pkg, &["other.service"]);
    assert!(o.status.success(), "{}", text(&o));
    let drop_in =
        std::fs::read_to_string(root.join(UNIT_DIR).join("other.service.d/memmon.conf")).unwrap();
    assert_eq!(
        last_exec_start(&drop_in),
        "/usr/local/bin/memmon run --children -- /usr/bin/other --serve"
    );
    let o = pi.install(&pkg, &["--standalone"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("systemctl enable --now memmon.service"),
        "{}",
        text(&o)
    );
    assert!(root.join(UNIT_DIR).join("memmon.service").exists());

    let o = pi.install(&pkg, &["--uninstall"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(files(root), [format!("{UNIT_DIR}/other.service")]);
    // The drop-in directory and /var/lib/memmon went with their files.
    assert!(!root.join(UNIT_DIR).join("other.service.d").exists());
    assert!(!root.join("var/lib/memmon").exists());
}

#[test]
fn a_file_memmon_did_not_install_is_never_overwritten() {
    let tmp = Temp::new("install-sh-foreign");
    let pi = guides_pi(&tmp.0);
    let pkg = package(&tmp.0, "memmon\n");
    let bin = pi.root.join("usr/local/bin/memmon");
    write(&bin, "someone else's memmon\n", 0o755);
    let o = pi.install(&pkg, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refusing to overwrite"), "{}", text(&o));
    assert_eq!(
        files(&pi.root),
        [format!("{UNIT_DIR}/{UNIT}"), "usr/local/bin/memmon".into()]
    );
    assert_eq!(
        std::fs::read_to_string(&bin).unwrap(),
        "someone else's memmon\n"
    );
}

#[test]
fn bad_arguments_exit_1_with_a_message() {
    let tmp = Temp::new("install-sh-args");
    let pi = Pi::new(&tmp.0, "pi");
    let pkg = package(&tmp.0, "memmon\n");
    for (args, needle) in [
        (&["--bogus"][..], "unknown option --bogus"),
        (&["attendance"][..], "ending in .service"),
        (&["../x.service"][..], "has no '/'"),
    ] {
        let o = pi.install(&pkg, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(text(&o).contains(needle), "{args:?}: {}", text(&o));
    }
    let o = pi.install(&pkg, &["--help"]);
    assert!(o.status.success());
    assert!(
        text(&o).contains("sudo sh install.sh --uninstall"),
        "{}",
        text(&o)
    );
    assert_eq!(files(&pi.root), Vec::<String>::new());
}
