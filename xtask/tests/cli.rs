//! The `xtask` binary as a user runs it: `pi-deploy --dry-run` lists every command and runs
//! none, and bad usage exits 2 with a message.

// Test helpers panic on a broken test environment; that is the failure we want.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn dry_run_prints_build_verify_package_and_remote_commands() {
    let out_dir = std::env::temp_dir().join(format!("xtask-dry-run-{}", std::process::id()));
    let out = out_dir.display().to_string();
    let o = xtask(&[
        "pi-deploy",
        "--dry-run",
        "--out",
        &out,
        "--host",
        "raspberry@raspberrypi",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    // One line per command, in this order.
    let expected_starts = [
        "# dry run",
        "== build memmon ",
        "cd ",
        "== verify",
        "readelf -h ",
        "readelf -l -d ",
        "readelf -n ",
        "readelf -S -W ",
        "readelf -s -W ",
        "qemu-aarch64-static /",
        "rm -rf ",
        "mkdir -p ",
        "qemu-aarch64-static /",
        "# check: ",
        "== package memmon-",
    ];
    for (line, start) in lines.iter().zip(expected_starts) {
        assert!(
            line.starts_with(start),
            "{line:?} should start with {start:?}\n{text}"
        );
    }
    assert!(lines[2].contains("RUSTC=/usr/bin/rustc "), "{}", lines[2]);
    assert!(
        lines[2].contains("target-feature=+crt-static"),
        "{}",
        lines[2]
    );
    assert!(lines[2].contains(
        "cargo build --release --target aarch64-unknown-linux-gnu -p memmon-cli --bin memmon"
    ));
    assert!(
        lines[12].ends_with("test --duration 3 --interval 0.5 --log ")
            || lines[12].contains(" test --duration 3 --interval 0.5 --log ")
    );
    assert!(text.contains(&format!("-czf {out}/memmon-")), "{text}");
    assert!(
        text.contains(&format!("cd {out} && sha256sum memmon-")),
        "{text}"
    );
    let tail: Vec<&str> = lines.iter().rev().take(3).rev().copied().collect();
    assert_eq!(tail[0], "== install on raspberry@raspberrypi");
    assert!(
        tail[1].starts_with(&format!("scp {out}/memmon-")),
        "{}",
        tail[1]
    );
    assert!(
        tail[1].ends_with(" raspberry@raspberrypi:/tmp/"),
        "{}",
        tail[1]
    );
    assert!(
        tail[2].starts_with("ssh -t raspberry@raspberrypi 'cd /tmp && sha256sum -c "),
        "{}",
        tail[2]
    );
    assert!(tail[2].contains("sudo sh install.sh"), "{}", tail[2]);
    // Nothing ran: the output directory was not even created.
    assert!(!out_dir.exists());
}

#[test]
fn unknown_tasks_and_flags_exit_2_with_usage() {
    let o = xtask(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown task \"frobnicate\""),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("pi-deploy"));

    let o = xtask(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("usage: cargo xtask"));

    let o = xtask(&["pi-deploy", "--host", "raspberrypi", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--host expects USER@HOST"),
        "{}",
        stderr(&o)
    );

    let o = xtask(&["pi-deploy", "--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("--install-deps"));
}
