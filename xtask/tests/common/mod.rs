//! Helpers of the install.sh tests: an unpacked archive, a Pi (a DESTDIR root with a stand-in
//! `systemctl show`, `fake-systemctl` beside this directory) and the users' unit as their setup
//! scripts write it.

// Test helpers panic on a broken test environment; that is the failure we want.
#![allow(clippy::unwrap_used, dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary directory removed on drop.
pub struct Temp(pub PathBuf);

impl Temp {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Other users (the stand-in units' users) walk through it to their checkouts.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Temp(dir)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

pub const DROP_IN_TEMPLATE: &str = "systemd/attendance-client-fixed.service.d/memmon.conf";
pub const UNIT: &str = "attendance-client-fixed.service";
pub const UNIT_DIR: &str = "etc/systemd/system";
pub const DROP_IN: &str = "etc/systemd/system/attendance-client-fixed.service.d/memmon.conf";

/// Writes `contents` to `path` with mode `mode`, parents created.
pub fn write(path: &Path, contents: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// An unpacked archive: `deploy/`'s files plus a fake `memmon` binary with `binary` as text.
pub fn package(dir: &Path, binary: &str) -> PathBuf {
    let pkg = dir.join("pkg");
    for rel in ["install.sh", "systemd/memmon.service", DROP_IN_TEMPLATE] {
        let to = pkg.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(deploy_dir().join(rel), &to).unwrap();
    }
    write(&pkg.join("memmon"), binary, 0o755);
    pkg
}

/// One Pi: its root (install.sh's DESTDIR) and a `systemctl` that answers `show` from the unit
/// files below that root; every call to it is logged.
pub struct Pi {
    pub root: PathBuf,
    bin: PathBuf,
    pub calls: PathBuf,
}

impl Pi {
    pub fn new(dir: &Path, name: &str) -> Self {
        let base = dir.join(name);
        let bin = base.join("bin");
        let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-systemctl");
        write(
            &bin.join("systemctl"),
            &std::fs::read_to_string(fake).unwrap(),
            0o755,
        );
        let root = base.join("root");
        std::fs::create_dir_all(&root).unwrap();
        Pi {
            root,
            bin,
            calls: base.join("systemctl.calls"),
        }
    }

    /// Writes unit `name` below the root.
    pub fn unit(&self, name: &str, text: &str) {
        write(&self.root.join(UNIT_DIR).join(name), text, 0o644);
    }

    /// Runs the archive's install.sh with `args` on this Pi.
    pub fn install(&self, pkg: &Path, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("sh")
            .arg(pkg.join("install.sh"))
            .args(args)
            .env("DESTDIR", &self.root)
            .env("PATH", path)
            .env("FAKE_SYSTEMCTL_ROOT", &self.root)
            .env("FAKE_SYSTEMCTL_LOG", &self.calls)
            .output()
            .unwrap()
    }

    pub fn drop_in(&self) -> String {
        std::fs::read_to_string(self.root.join(DROP_IN)).unwrap()
    }
}

/// The client's unit as the users' setup scripts write it: the installing user, the checkout's
/// directory, pcscd's group, a wait for pcscd, the locale, Restart=always, and systemd's
/// default KillMode.
pub fn users_unit(user: &str, working_directory: &str, exec_start: &str) -> String {
    format!(
        "[Unit]
Description=NFC attendance client
After=network-online.target pcscd.service
Wants=network-online.target

[Service]
Type=simple
User={user}
Group=pcscd
WorkingDirectory={working_directory}
ExecStartPre=/bin/sh -c 'until pidof pcscd >/dev/null; do sleep 1; done'
ExecStart={exec_start}
Restart=always
RestartSec=10
Environment=LANG=ja_JP.UTF-8 LC_ALL=ja_JP.UTF-8
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=multi-user.target
"
    )
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file below `dir`, as sorted relative paths.
pub fn files(dir: &Path) -> Vec<String> {
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

/// Lines systemd reads (not comments or blank).
pub fn directives(unit: &str) -> Vec<&str> {
    unit.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

/// The value of the last `ExecStart=` of `unit`.
pub fn last_exec_start(unit: &str) -> &str {
    unit.lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .next_back()
        .unwrap()
}

/// Splits an ExecStart= value as systemd does for the lines these tests write: the prefix
/// characters, then words separated by blanks, with "…" and '…' quoting and backslash escapes
/// (`\s` is a space). No specifier or $VAR expansion: the test units use none.
pub fn split_exec(value: &str) -> (String, Vec<String>) {
    let prefix: String = value
        .chars()
        .take_while(|c| "-@:+!|".contains(*c))
        .collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    let mut chars = value[prefix.len()..].chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, ' ' | '\t') => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (_, '\\') => {
                in_word = true;
                match chars.next() {
                    Some('s') => word.push(' '),
                    Some('t') => word.push('\t'),
                    Some('n') => word.push('\n'),
                    Some(other) => word.push(other),
                    None => {}
                }
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quoting: {value}");
    if in_word {
        words.push(word);
    }
    (prefix, words)
}
