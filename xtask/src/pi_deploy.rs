//! `cargo xtask pi-deploy`: build `memmon` for the Raspberry Pi (aarch64, statically linked
//! with Debian 12's glibc), check the binary, pack it with its systemd files, and optionally
//! install it on a Pi.
//!
//! The work is a list of [`Step`]s built up front by [`plan`]: `--dry-run` prints that list,
//! a real run prints each step and then does it, so both show the same commands.

use crate::cmd::{self, Cmd};
use crate::elf::KernelVersion;
use crate::prereq::{self, Host};
use crate::templates::TEMPLATES;
use crate::verify::{self, LogSummary};
use crate::{fail, project_root, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// `cargo xtask pi-deploy --help`.
const HELP: &str = "\
usage: cargo xtask pi-deploy [--out DIR] [--host USER@HOST] [--dry-run] [--install-deps]

Builds memmon for the Raspberry Pi (aarch64-unknown-linux-gnu, 64-bit Raspberry Pi OS Bookworm)
with Debian's rustc and aarch64-linux-gnu-gcc, linked statically, checks the binary (aarch64,
no shared library, no NSS function, a kernel floor every 64-bit Pi OS meets, line tables,
`memmon --version` and a 3-second `memmon test` under qemu), and
packs memmon-VERSION-aarch64-linux.tar.gz with install.sh, the systemd drop-in and unit, a
sample client_config.json and README-pi.md, plus its .sha256.

options:
  --out DIR          where the archive goes [default: target/pi-dist]
  --host USER@HOST   then copy it to the Pi (scp) and run install.sh there (ssh, sudo)
  --dry-run          print every command without running any
  --install-deps     install missing prerequisites with apt-get (as root)

The build has its own target directory, target/pi: Debian's rustc and rustup's cannot share
artifacts. Exit status: 0 done, 2 bad usage, a missing prerequisite or a failed step.
";

/// The Rust target of 64-bit Raspberry Pi OS.
pub const TARGET: &str = "aarch64-unknown-linux-gnu";

/// The release profile for the Pi, passed as `CARGO_PROFILE_RELEASE_*` so the Pi build keeps
/// it whatever the root `Cargo.toml` says (today the root release profile is the same, so that
/// `cargo xtask bench` measures what the Pi runs).
///
/// - `opt-level = "s"`, `lto = "fat"`, `codegen-units = 1`: the smallest code (measured on
///   memmon 0.1.0: 6.5 MB with `.text` 1.8 MB, against 8.0 MB and 2.3 MB at `opt-level = 3`);
///   memmon samples every few minutes, so speed is not what the Pi needs from it.
/// - `panic = "unwind"`: memmon sits in `ExecStart=` in front of the attendance client; a bug
///   in a helper thread must not abort the process that holds the client.
/// - `debug = "line-tables-only"`, `strip = "none"`: `.debug_line` stays, so allocation sites
///   and panics name `file.rs:LINE`. `strip = "debuginfo"` or `"symbols"` would drop it too.
pub const PROFILE: &[(&str, &str)] = &[
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s"),
    ("CARGO_PROFILE_RELEASE_LTO", "fat"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"),
    ("CARGO_PROFILE_RELEASE_PANIC", "unwind"),
    ("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only"),
    ("CARGO_PROFILE_RELEASE_STRIP", "none"),
];

/// The flags of the Pi build, given as `CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS` with
/// `--target`, so they reach the Pi binary only, never the build scripts and proc macros that
/// cargo builds for the host (`crt-static` would break those).
///
/// - `--compress-debug-sections=zlib`: Debian's Rust std for aarch64 carries full debug info,
///   which `strip = "none"` would ship (about 10 MB). The linker compresses the debug sections
///   instead (zlib, which std's backtrace reader decompresses), keeping the line tables at a
///   third of the size.
/// - `+crt-static`: glibc linked in statically. For aarch64 rustc links that as a non-PIE
///   executable: its code sits at a fixed address (stack, heap and mappings are still
///   randomised) and the kernel maps it with nothing to relocate at start. The dynamic build
///   mapped ld.so, libc, libm and libgcc_s, about half of memmon's peak RSS while it watches
///   (3.8 MiB on x86_64), and needed glibc 2.34 or newer; static, it holds only the glibc code
///   it calls and needs no glibc on the Pi at all, only Linux 3.7 or newer (BENCHMARKS.md,
///   "Static linking and hot code"). memmon uses none of the functions static glibc cannot
///   serve alone (name lookups through NSS): `verify::check_no_nss` makes sure.
pub const RUSTFLAGS: &str =
    "-C link-arg=-Wl,--compress-debug-sections=zlib -C target-feature=+crt-static";

/// The flags, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `--out DIR`.
    pub out: Option<PathBuf>,
    /// `--host USER@HOST`.
    pub host: Option<String>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--install-deps`.
    pub install_deps: bool,
}

/// Parses the flags after `pi-deploy`; `Ok(None)` for `--help`.
pub fn parse_args(args: &[String]) -> Result<Option<Options>> {
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| fail!("{name} needs a value\n\n{HELP}"))
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "--out" => opts.out = Some(PathBuf::from(value("--out")?)),
            "--host" => opts.host = Some(check_host(&value("--host")?)?),
            "--dry-run" => opts.dry_run = true,
            "--install-deps" => opts.install_deps = true,
            _ => return Err(fail!("unknown option {arg:?}\n\n{HELP}")),
        }
    }
    Ok(Some(opts))
}

/// Accepts `USER@HOST` made of plain name characters only: the value goes into scp and ssh
/// command lines, where a leading `-`, a `:` or a space would change their meaning.
fn check_host(value: &str) -> Result<String> {
    let plain = |s: &str| {
        !s.is_empty()
            && !s.starts_with('-')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    match value.split_once('@') {
        Some((user, host)) if plain(user) && plain(host) => Ok(value.to_string()),
        _ => Err(fail!(
            "--host expects USER@HOST (letters, digits, '.', '-', '_'), e.g. raspberry@192.168.1.40; got {value:?}"
        )),
    }
}

/// The package version: `memmon-cli`'s own, or the workspace's when it inherits it.
pub fn package_version(cli_toml: &str, workspace_toml: &str) -> Option<String> {
    match toml_string(cli_toml, "package", "version") {
        Some(v) => Some(v),
        None => toml_string(workspace_toml, "workspace.package", "version"),
    }
}

/// The string value of `key = "…"` in `[section]`; a minimal reader for two known files.
fn toml_string(toml: &str, section: &str, key: &str) -> Option<String> {
    let mut current = "";
    for line in toml.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim();
            continue;
        }
        if current != section {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == key {
            let v = v.trim();
            return v.strip_prefix('"')?.split('"').next().map(str::to_string);
        }
    }
    None
}

/// Where everything goes, derived from the project root, the version and `--out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The workspace root.
    pub root: PathBuf,
    /// The package version.
    pub version: String,
    /// The Pi build's own target directory (kept between runs).
    pub target_dir: PathBuf,
    /// Where the archive and its checksum go.
    pub out_dir: PathBuf,
}

impl Layout {
    /// The layout for `root`, `version` and `--out` (relative to `cwd`).
    pub fn new(root: &Path, version: &str, out: Option<&Path>, cwd: &Path) -> Self {
        let out_dir = match out {
            Some(o) => cwd.join(o),
            None => root.join("target/pi-dist"),
        };
        Layout {
            root: root.to_path_buf(),
            version: version.to_string(),
            target_dir: root.join("target/pi"),
            out_dir,
        }
    }
    /// The built binary.
    pub fn binary(&self) -> PathBuf {
        self.target_dir.join(TARGET).join("release/memmon")
    }
    /// The archive's top directory, `memmon-VERSION-aarch64-linux`.
    pub fn top(&self) -> String {
        format!("memmon-{}-aarch64-linux", self.version)
    }
    /// The archive's file name.
    pub fn archive_name(&self) -> String {
        format!("{}.tar.gz", self.top())
    }
    /// The archive.
    pub fn archive(&self) -> PathBuf {
        self.out_dir.join(self.archive_name())
    }
    fn stage(&self) -> PathBuf {
        self.target_dir.join("stage")
    }
    fn test_log(&self) -> PathBuf {
        self.target_dir.join("verify/test_memory.log")
    }
}

/// What a step checks in the output of its command (or in a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `readelf -h`: ELF64 AArch64.
    Header,
    /// `readelf -l -d`: statically linked (no interpreter, no NEEDED library).
    Static,
    /// `readelf -n`: the kernel glibc needs is one every 64-bit Pi OS has.
    Kernel,
    /// `readelf -S -W`: `.debug_line` is there.
    LineTables,
    /// `readelf -s -W`: no glibc name lookup (NSS) is linked in.
    NoNss,
    /// `memmon --version` names this version.
    Version(String),
}

/// One step of the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A heading.
    Section(String),
    /// Run a command.
    Run(Cmd),
    /// Run a command and check its stdout.
    Check(Cmd, Check),
    /// Check that the `memmon test` log at this path is well-formed.
    CheckLog(PathBuf),
    /// Remove a file or directory tree if it exists.
    Remove(PathBuf),
    /// Create a directory and its parents.
    MakeDir(PathBuf),
    /// Copy the binary into the staging tree (mode 0755).
    CopyBinary(PathBuf, PathBuf),
    /// Write a template from `deploy/`.
    Write(PathBuf, &'static crate::templates::Template),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = |p: &Path| cmd::quote(&p.display().to_string());
        match self {
            Step::Section(title) => write!(f, "== {title}"),
            Step::Run(c) => write!(f, "{c}"),
            Step::Check(c, check) => write!(f, "{c}  # check: {check:?}"),
            Step::CheckLog(p) => write!(f, "# check: {} is a well-formed test log", q(p)),
            Step::Remove(p) => write!(f, "rm -rf {}", q(p)),
            Step::MakeDir(p) => write!(f, "mkdir -p {}", q(p)),
            Step::CopyBinary(from, to) => write!(f, "install -m 0755 {} {}", q(from), q(to)),
            Step::Write(to, t) => {
                write!(f, "install -m {:04o} deploy/{} {}", t.mode, t.path, q(to))
            }
        }
    }
}

/// Runs the aarch64 binary here under qemu. It is static, so qemu needs no `-L` prefix to
/// find a loader and libraries: the binary runs as it will on the Pi, on the kernel alone.
fn qemu(binary: &Path) -> Cmd {
    Cmd::new("qemu-aarch64-static").path_arg(binary)
}

/// Every step, in order, for `layout` (and `host`, when given); `cargo` is the cargo to run.
pub fn plan(layout: &Layout, host: Option<&str>, cargo: &str) -> Vec<Step> {
    let bin = layout.binary();
    let mut build = Cmd::new(cargo)
        .env("RUSTC", "/usr/bin/rustc")
        .env("CARGO_TARGET_DIR", layout.target_dir.display().to_string())
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
            "aarch64-linux-gnu-gcc",
        )
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
            RUSTFLAGS,
        );
    for (k, v) in PROFILE {
        build = build.env(k, *v);
    }
    let build = build
        .args(["build", "--release", "--target", TARGET])
        .args(["-p", "memmon-cli", "--bin", "memmon"])
        .cwd(&layout.root);
    let readelf = |flags: &[&str]| {
        Cmd::new("readelf")
            .args(flags.iter().copied())
            .path_arg(&bin)
    };
    let log = layout.test_log();
    let mut steps = vec![
        Step::Section(format!("build memmon {} for {TARGET}", layout.version)),
        Step::Run(build),
        Step::Section("verify".into()),
        Step::Check(readelf(&["-h"]), Check::Header),
        Step::Check(readelf(&["-l", "-d"]), Check::Static),
        Step::Check(readelf(&["-n"]), Check::Kernel),
        Step::Check(readelf(&["-S", "-W"]), Check::LineTables),
        Step::Check(readelf(&["-s", "-W"]), Check::NoNss),
        Step::Check(
            qemu(&bin).arg("--version"),
            Check::Version(layout.version.clone()),
        ),
        // memmon appends to its log: start from none, so the check sees this run only.
        Step::Remove(log.clone()),
        Step::MakeDir(log.parent().unwrap_or(&layout.target_dir).to_path_buf()),
        Step::Run(
            qemu(&bin)
                .args(["test", "--duration", "3", "--interval", "0.5", "--log"])
                .path_arg(&log),
        ),
        Step::CheckLog(log),
        Step::Section(format!("package {}", layout.archive_name())),
    ];
    let stage = layout.stage();
    let top = stage.join(layout.top());
    steps.push(Step::Remove(stage.clone()));
    steps.push(Step::MakeDir(top.clone()));
    steps.push(Step::CopyBinary(bin.clone(), top.join("memmon")));
    for t in TEMPLATES {
        steps.push(Step::Write(top.join(t.path), t));
    }
    steps.push(Step::MakeDir(layout.out_dir.clone()));
    let archive = layout.archive();
    steps.push(Step::Run(
        Cmd::new("tar")
            // Root-owned, name-ordered entries: the same tree packs the same way anywhere.
            .args(["--owner=0", "--group=0", "--numeric-owner", "--sort=name"])
            .arg("-C")
            .path_arg(&stage)
            .arg("-czf")
            .path_arg(&archive)
            .arg(layout.top()),
    ));
    let sha_name = format!("{}.sha256", layout.archive_name());
    steps.push(Step::Run(
        Cmd::new("sha256sum")
            .arg(layout.archive_name())
            .cwd(&layout.out_dir)
            .stdout_to(&layout.out_dir.join(&sha_name)),
    ));
    if let Some(host) = host {
        steps.push(Step::Section(format!("install on {host}")));
        steps.push(Step::Run(
            Cmd::new("scp")
                .path_arg(&archive)
                .path_arg(&layout.out_dir.join(&sha_name))
                .arg(format!("{host}:/tmp/")),
        ));
        // Unpack in a private directory (/tmp is shared), install, clean up, keep the status.
        let remote = format!(
            "cd /tmp && sha256sum -c {sha_name} && d=$(mktemp -d) && tar xzf {archive} -C \"$d\" \
             && (cd \"$d/{top}\" && sudo sh install.sh); rc=$?; rm -rf \"$d\"; exit $rc",
            archive = layout.archive_name(),
            top = layout.top(),
        );
        steps.push(Step::Run(Cmd::new("ssh").arg("-t").arg(host).arg(remote)));
    }
    steps
}

/// What the checks found, for the closing summary.
#[derive(Debug, Default)]
struct Findings {
    kernel: Option<KernelVersion>,
    version_line: String,
    log: Option<LogSummary>,
}

fn execute(steps: &[Step]) -> Result<Findings> {
    let mut found = Findings::default();
    for step in steps {
        match step {
            Step::Section(_) => println!("{step}"),
            _ => println!("+ {step}"),
        }
        match step {
            Step::Section(_) => {}
            Step::Run(c) => c.run()?,
            Step::Check(c, check) => {
                let out = c.capture()?;
                match check {
                    Check::Header => {
                        verify::check_header(&out)?;
                    }
                    Check::Static => verify::check_static(&out)?,
                    Check::Kernel => found.kernel = Some(verify::check_kernel(&out)?),
                    Check::LineTables => verify::check_line_tables(&out)?,
                    Check::NoNss => verify::check_no_nss(&out)?,
                    Check::Version(v) => {
                        verify::check_version_output(&out, v)?;
                        found.version_line = out.trim().to_string();
                    }
                }
            }
            Step::CheckLog(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| fail!("cannot read the test log {}: {e}", path.display()))?;
                found.log = Some(verify::check_test_log(&text)?);
            }
            Step::Remove(path) => remove(path)?,
            Step::MakeDir(dir) => std::fs::create_dir_all(dir)
                .map_err(|e| fail!("cannot create {}: {e}", dir.display()))?,
            Step::CopyBinary(from, to) => {
                std::fs::copy(from, to).map_err(|e| {
                    fail!("cannot copy {} to {}: {e}", from.display(), to.display())
                })?;
                set_mode(to, 0o755)?;
            }
            Step::Write(to, t) => {
                if let Some(dir) = to.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| fail!("cannot create {}: {e}", dir.display()))?;
                }
                std::fs::write(to, t.contents)
                    .map_err(|e| fail!("cannot write {}: {e}", to.display()))?;
                set_mode(to, t.mode)?;
            }
        }
    }
    Ok(found)
}

fn remove(path: &Path) -> Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Err(_) => return Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    result.map_err(|e| fail!("cannot remove {}: {e}", path.display()))
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| fail!("cannot set the mode of {}: {e}", path.display()))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Checks the prerequisites; with `--install-deps` (as root) installs the missing ones.
/// A dry run only reports them.
fn ensure_prereqs(opts: &Options) -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let host = Host {
        path: &path,
        root: Path::new("/"),
    };
    let list: Vec<prereq::Prereq> = prereq::BUILD
        .iter()
        .chain(if opts.host.is_some() {
            prereq::REMOTE
        } else {
            &[]
        })
        .copied()
        .collect();
    let missing = prereq::missing(host, &list);
    if missing.is_empty() {
        eprintln!("prerequisites: all present");
        return Ok(());
    }
    if opts.dry_run {
        eprintln!("(dry run) {}", prereq::report(&missing));
        return Ok(());
    }
    if !opts.install_deps {
        return Err(fail!("{}", prereq::report(&missing)));
    }
    if !prereq::running_as_root() {
        return Err(fail!(
            "--install-deps needs root.\n{}",
            prereq::report(&missing)
        ));
    }
    for c in prereq::install_commands(&missing) {
        println!("+ {c}");
        c.run()?;
    }
    let still = prereq::missing(host, &list);
    if still.is_empty() {
        Ok(())
    } else {
        Err(fail!(
            "still missing after apt-get install:\n{}",
            prereq::report(&still)
        ))
    }
}

/// The entry point: `args` are the words after `pi-deploy`.
pub fn main(args: &[String]) -> Result<()> {
    let Some(opts) = parse_args(args)? else {
        print!("{HELP}");
        return Ok(());
    };
    let root = project_root();
    let read = |rel: &str| {
        std::fs::read_to_string(root.join(rel))
            .map_err(|e| fail!("cannot read {}: {e}", root.join(rel).display()))
    };
    let version = package_version(&read("crates/memmon-cli/Cargo.toml")?, &read("Cargo.toml")?)
        .ok_or_else(|| {
            fail!("no version in crates/memmon-cli/Cargo.toml or [workspace.package]")
        })?;
    let cwd =
        std::env::current_dir().map_err(|e| fail!("cannot read the current directory: {e}"))?;
    let layout = Layout::new(&root, &version, opts.out.as_deref(), &cwd);
    ensure_prereqs(&opts)?;
    let steps = plan(&layout, opts.host.as_deref(), &cmd::cargo());
    if opts.dry_run {
        println!("# dry run: these commands would run, in this order; none ran");
        for step in &steps {
            println!("{step}");
        }
        return Ok(());
    }
    let found = execute(&steps)?;
    let size = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| mib(m.len()))
            .unwrap_or_default()
    };
    println!("== done");
    println!(
        "binary:  {} ({}, line tables kept, debug sections compressed)",
        layout.binary().display(),
        size(&layout.binary())
    );
    if let Some(kernel) = found.kernel {
        println!(
            "needs:   no shared library (glibc linked in); Linux >= {kernel} \
             (64-bit Pi OS has {} or newer)",
            KernelVersion::PI_OS_64
        );
    }
    println!("qemu:    `memmon --version` → {}", found.version_line);
    if let Some(log) = &found.log {
        println!(
            "         `memmon test` → {} samples, {}",
            log.samples, log.growth
        );
    }
    println!(
        "archive: {} ({})",
        layout.archive().display(),
        size(&layout.archive())
    );
    println!("sha256:  {}.sha256", layout.archive().display());
    if opts.host.is_none() {
        println!(
            "install: copy both to the Pi, then: tar xzf {} && cd {} && sudo sh install.sh",
            layout.archive_name(),
            layout.top()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_parse_in_both_forms() {
        let o = parse_args(&args(&["--out", "d", "--host=pi@raspberrypi", "--dry-run"]))
            .unwrap()
            .unwrap();
        assert_eq!(o.out, Some(PathBuf::from("d")));
        assert_eq!(o.host.as_deref(), Some("pi@raspberrypi"));
        assert!(o.dry_run && !o.install_deps);
        assert_eq!(parse_args(&args(&["--help"])).unwrap(), None);
    }

    #[test]
    fn bad_flags_say_what_is_wrong() {
        let err = |a: &[&str]| parse_args(&args(a)).unwrap_err().0;
        assert!(err(&["--out"]).starts_with("--out needs a value"));
        assert!(err(&["--frobnicate"]).starts_with("unknown option \"--frobnicate\""));
        for host in [
            "raspberrypi",
            "-oProxyCommand=x@h",
            "pi@host:/tmp",
            "pi@ho st",
            "@h",
        ] {
            assert!(
                err(&["--host", host]).starts_with("--host expects USER@HOST"),
                "{host}"
            );
        }
    }

    #[test]
    fn the_version_comes_from_the_cli_or_the_workspace() {
        let ws = "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"0.1.0\"\nedition = \"2021\"\n";
        let inherits = "[package]\nname = \"memmon-cli\"\nversion.workspace = true\n";
        assert_eq!(package_version(inherits, ws).as_deref(), Some("0.1.0"));
        let own = "[package]\nname = \"memmon-cli\"\nversion = \"0.2.0\" # own\n";
        assert_eq!(package_version(own, ws).as_deref(), Some("0.2.0"));
        assert_eq!(package_version(inherits, "[workspace]\n"), None);
    }

    #[test]
    fn the_real_manifests_give_a_version() {
        let root = project_root();
        let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap();
        let v =
            package_version(&read("crates/memmon-cli/Cargo.toml"), &read("Cargo.toml")).unwrap();
        assert!(v.split('.').count() == 3, "{v}");
    }

    #[test]
    fn the_plan_lists_every_command_in_order() {
        let layout = Layout::new(
            Path::new("/src/memmon"),
            "0.1.0",
            Some(Path::new("dist")),
            Path::new("/home/me"),
        );
        let text: Vec<String> = plan(&layout, Some("raspberry@raspberrypi"), "cargo")
            .iter()
            .map(ToString::to_string)
            .collect();
        insta::assert_snapshot!("dry_run_plan", text.join("\n"));
    }
}
