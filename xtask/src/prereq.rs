//! The tools the Pi build needs on a Debian host, how to tell they are there, and the apt
//! command that installs the missing ones.
//!
//! Detection takes PATH and the file-system root as parameters, so tests run it against a
//! fake root and a PATH of fake executables.

use crate::cmd::Cmd;
use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The oldest rustc that builds the workspace (its `rust-version`).
pub const MIN_RUSTC: (u32, u32) = (1, 85);

/// How to tell that a prerequisite is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// This file exists (path relative to the root).
    File(&'static str),
    /// This directory (relative to the root) holds a file whose name starts with the prefix.
    DirHas(&'static str, &'static str),
    /// An executable of this name is on PATH.
    OnPath(&'static str),
    /// Debian's rustc at `usr/bin/rustc` (relative to the root), at least [`MIN_RUSTC`].
    DebianRustc,
}

/// One tool the Pi build needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prereq {
    /// What it is, for the message.
    pub what: &'static str,
    /// How to tell it is there.
    pub probe: Probe,
    /// The Debian package that provides it (`:arm64` for the foreign architecture).
    pub package: &'static str,
}

/// What the build, the checks and the packaging need.
pub const BUILD: &[Prereq] = &[
    Prereq {
        what: "Debian's rustc at /usr/bin/rustc (the aarch64 std below is built for it, not for rustup's)",
        probe: Probe::DebianRustc,
        package: "rustc-web",
    },
    Prereq {
        what: "the Rust standard library for aarch64-unknown-linux-gnu",
        probe: Probe::DirHas("usr/lib/rustlib/aarch64-unknown-linux-gnu/lib", "libstd-"),
        package: "libstd-rust-web-dev:arm64",
    },
    Prereq {
        what: "aarch64-linux-gnu-gcc, the linker for aarch64",
        probe: Probe::OnPath("aarch64-linux-gnu-gcc"),
        package: "gcc-aarch64-linux-gnu",
    },
    Prereq {
        what: "qemu-aarch64-static, to run the aarch64 binary here",
        probe: Probe::OnPath("qemu-aarch64-static"),
        package: "qemu-user-static",
    },
    Prereq {
        // memmon links glibc statically (pi_deploy::RUSTFLAGS): Debian 12's glibc 2.36 for
        // aarch64, as an archive. gcc-aarch64-linux-gnu only recommends this package, and
        // `apt-get install --no-install-recommends` or apt's settings can leave it out.
        what: "the static glibc for aarch64 (usr/aarch64-linux-gnu/lib/libc.a), linked in",
        probe: Probe::File("usr/aarch64-linux-gnu/lib/libc.a"),
        package: "libc6-dev-arm64-cross",
    },
    Prereq {
        what: "readelf, to check the binary",
        probe: Probe::OnPath("readelf"),
        package: "binutils",
    },
    Prereq {
        what: "tar, to pack the archive",
        probe: Probe::OnPath("tar"),
        package: "tar",
    },
    Prereq {
        what: "sha256sum, for the archive's checksum",
        probe: Probe::OnPath("sha256sum"),
        package: "coreutils",
    },
];

/// What `--host` needs on top.
pub const REMOTE: &[Prereq] = &[
    Prereq {
        what: "scp, to copy the archive to the Pi",
        probe: Probe::OnPath("scp"),
        package: "openssh-client",
    },
    Prereq {
        what: "ssh, to run install.sh on the Pi",
        probe: Probe::OnPath("ssh"),
        package: "openssh-client",
    },
];

/// Where to look: PATH and the file-system root (`/` outside tests).
#[derive(Debug, Clone, Copy)]
pub struct Host<'a> {
    /// The PATH to search for executables.
    pub path: &'a OsStr,
    /// The file-system root the file probes are relative to.
    pub root: &'a Path,
}

/// A prerequisite that is not there, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The prerequisite.
    pub prereq: Prereq,
    /// Why it counts as missing (not found, too old, …).
    pub reason: String,
}

/// The prerequisites of `list` that `host` lacks.
pub fn missing(host: Host<'_>, list: &[Prereq]) -> Vec<Missing> {
    list.iter()
        .filter_map(|p| {
            probe(host, p.probe)
                .err()
                .map(|reason| Missing { prereq: *p, reason })
        })
        .collect()
}

fn probe(host: Host<'_>, probe: Probe) -> Result<(), String> {
    match probe {
        Probe::File(rel) => {
            let file = host.root.join(rel);
            if file.exists() {
                Ok(())
            } else {
                Err(format!("{} not found", file.display()))
            }
        }
        Probe::DirHas(rel, prefix) => {
            let dir = host.root.join(rel);
            let found = std::fs::read_dir(&dir)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
                })
                .unwrap_or(false);
            if found {
                Ok(())
            } else {
                Err(format!("no {prefix}* in {}", dir.display()))
            }
        }
        Probe::OnPath(name) => match find_on_path(host.path, name) {
            Some(_) => Ok(()),
            None => Err(format!("{name} not on PATH")),
        },
        Probe::DebianRustc => {
            let rustc = host.root.join("usr/bin/rustc");
            if !is_executable(&rustc) {
                return Err(format!("{} not found", rustc.display()));
            }
            let out = std::process::Command::new(&rustc)
                .arg("--version")
                .output()
                .map_err(|e| format!("cannot run {} --version: {e}", rustc.display()))?;
            let text = String::from_utf8_lossy(&out.stdout);
            match parse_rustc_version(&text) {
                Some(v) if v >= MIN_RUSTC => Ok(()),
                Some((major, minor)) => Err(format!(
                    "{} is {major}.{minor}, older than {}.{} (Debian's `rustc` package; rustc-web is newer)",
                    rustc.display(),
                    MIN_RUSTC.0,
                    MIN_RUSTC.1
                )),
                None => Err(format!(
                    "{} --version printed {:?}",
                    rustc.display(),
                    text.trim()
                )),
            }
        }
    }
}

/// `rustc 1.96.0 (ac68faa20 2026-05-25)` → `(1, 96)`.
pub fn parse_rustc_version(text: &str) -> Option<(u32, u32)> {
    let version = text
        .trim()
        .strip_prefix("rustc ")?
        .split_whitespace()
        .next()?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The first executable named `name` in the directories of `path`.
pub fn find_on_path(path: &OsStr, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(file: &Path) -> bool {
    std::fs::metadata(file)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The Debian packages for `missing`, without repeats, in list order.
fn packages(missing: &[Missing]) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for m in missing {
        if !packages.contains(&m.prereq.package) {
            packages.push(m.prereq.package);
        }
    }
    packages
}

/// The commands that install `missing` on Debian 12, in order. The arm64 architecture is
/// added first when an `:arm64` package is among them (apt needs its package lists).
pub fn install_commands(missing: &[Missing]) -> Vec<Cmd> {
    let packages = packages(missing);
    if packages.is_empty() {
        return Vec::new();
    }
    let mut cmds = Vec::new();
    if packages.iter().any(|p| p.ends_with(":arm64")) {
        cmds.push(Cmd::new("dpkg").args(["--add-architecture", "arm64"]));
    }
    cmds.push(Cmd::new("apt-get").arg("update"));
    cmds.push(
        Cmd::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y"])
            .args(packages),
    );
    cmds
}

/// The message for missing prerequisites: each one and why, then the command line that
/// installs them all.
pub fn report(missing: &[Missing]) -> String {
    let mut text = String::from("missing prerequisites for the Pi build:\n");
    for m in missing {
        text.push_str(&format!(
            "  - {} ({}; package {})\n",
            m.prereq.what, m.reason, m.prereq.package
        ));
    }
    let line: Vec<String> = install_commands(missing)
        .iter()
        .map(ToString::to_string)
        .collect();
    text.push_str(&format!(
        "install them as root with:\n  {}\nor run `cargo xtask pi-deploy --install-deps` as root",
        line.join(" && ")
    ));
    text
}

/// Whether xtask runs as root (`/proc/self` belongs to the process's effective user).
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    /// A fake root holding Debian's rustc (a script printing `version`) and the aarch64 std.
    fn fake_root(dir: &TempDir, rustc_version: Option<&str>, std: bool) -> PathBuf {
        let root = dir.path().join("root");
        if let Some(v) = rustc_version {
            dir.script(
                "root/usr/bin/rustc",
                &format!("echo 'rustc {v} (ac68faa20 2026-05-25)'"),
            );
        }
        if std {
            dir.file(
                "root/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib/libstd-0123.rlib",
                "",
            );
        }
        dir.file("root/usr/aarch64-linux-gnu/lib/libc.a", "");
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    #[test]
    fn everything_present_means_nothing_missing() {
        let dir = TempDir::new("prereq-all");
        let root = fake_root(&dir, Some("1.96.0"), true);
        for tool in [
            "aarch64-linux-gnu-gcc",
            "qemu-aarch64-static",
            "readelf",
            "tar",
            "sha256sum",
        ] {
            dir.script(&format!("bin/{tool}"), "exit 0");
        }
        let path = dir.path().join("bin").into_os_string();
        let host = Host {
            path: &path,
            root: &root,
        };
        assert_eq!(missing(host, BUILD), []);
        assert_eq!(missing(host, REMOTE).len(), 2);
    }

    #[test]
    fn each_missing_tool_names_its_package_and_the_command() {
        let dir = TempDir::new("prereq-none");
        let root = fake_root(&dir, Some("1.63.0"), false);
        dir.script("bin/readelf", "exit 0");
        // Not executable: does not count.
        dir.file("bin/tar", "");
        dir.script("bin/sha256sum", "exit 0");
        let path = dir.path().join("bin").into_os_string();
        let found = missing(
            Host {
                path: &path,
                root: &root,
            },
            BUILD,
        );
        let packages: Vec<&str> = found.iter().map(|m| m.prereq.package).collect();
        assert_eq!(
            packages,
            [
                "rustc-web",
                "libstd-rust-web-dev:arm64",
                "gcc-aarch64-linux-gnu",
                "qemu-user-static",
                "tar"
            ]
        );
        assert!(
            found[0].reason.contains("is 1.63, older than 1.85"),
            "{}",
            found[0].reason
        );
        let report = report(&found);
        assert!(
            report.ends_with(
                "install them as root with:\n  dpkg --add-architecture arm64 && apt-get update && \
                 DEBIAN_FRONTEND=noninteractive apt-get install -y rustc-web libstd-rust-web-dev:arm64 \
                 gcc-aarch64-linux-gnu qemu-user-static tar\n\
                 or run `cargo xtask pi-deploy --install-deps` as root"
            ),
            "{report}"
        );
    }

    #[test]
    fn no_rustc_at_all_is_reported_as_not_found() {
        let dir = TempDir::new("prereq-norustc");
        let root = fake_root(&dir, None, true);
        let path = std::ffi::OsString::new();
        let found = missing(
            Host {
                path: &path,
                root: &root,
            },
            &BUILD[..1],
        );
        assert!(
            found[0].reason.ends_with("usr/bin/rustc not found"),
            "{found:?}"
        );
    }

    #[test]
    fn no_arm64_package_needs_no_foreign_architecture() {
        let m = Missing {
            prereq: BUILD[3],
            reason: String::new(),
        };
        let line: Vec<String> = install_commands(&[m])
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            line,
            [
                "apt-get update",
                "DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-user-static"
            ]
        );
        assert!(install_commands(&[]).is_empty());
    }

    #[test]
    fn rustc_versions_parse() {
        assert_eq!(
            parse_rustc_version(
                "rustc 1.96.0 (ac68faa20 2026-05-25) (built from a source tarball)\n"
            ),
            Some((1, 96))
        );
        assert_eq!(parse_rustc_version("cargo 1.95.0"), None);
    }
}
