//! What the Pi binary must satisfy before it is packaged, as checks on the text of `readelf`
//! and of the binary's own output. Each check returns what it found (for the summary) or a
//! failure saying what is wrong and what it means on the Pi.

use crate::elf::{self, GlibcVersion};
use crate::{fail, Result};

/// Shared libraries the Pi always has: glibc's own (libc, libm, the loader, and the old
/// libpthread/libdl/librt stubs) and libgcc_s, which glibc itself needs for unwinding.
/// Anything else (fontconfig, freetype, OpenSSL, …) would have to be installed on the Pi.
pub const ALLOWED_NEEDED: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libgcc_s.so.1",
    "ld-linux-aarch64.so.1",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
];

/// Checks `readelf -h`: a 64-bit AArch64 ELF file.
pub fn check_header(readelf_h: &str) -> Result<elf::ElfHeader> {
    let header = elf::parse_header(readelf_h)
        .ok_or_else(|| fail!("readelf -h printed no Class/Machine lines: not an ELF file?"))?;
    if header.class != "ELF64" || header.machine != "AArch64" {
        return Err(fail!(
            "the binary is {} {}, not ELF64 AArch64: the build did not target aarch64-unknown-linux-gnu",
            header.class,
            header.machine
        ));
    }
    Ok(header)
}

/// Checks `readelf -d`: every NEEDED library is in [`ALLOWED_NEEDED`]. Returns the list.
pub fn check_needed(readelf_d: &str) -> Result<Vec<String>> {
    let needed = elf::parse_needed(readelf_d);
    if needed.is_empty() {
        return Err(fail!(
            "readelf -d lists no NEEDED library: expected at least libc.so.6 (a static binary?)"
        ));
    }
    let extra: Vec<&str> = needed
        .iter()
        .map(String::as_str)
        .filter(|n| !ALLOWED_NEEDED.contains(n))
        .collect();
    if !extra.is_empty() {
        return Err(fail!(
            "the binary needs shared libraries a Pi may not have: {} (allowed: glibc's, libgcc_s); \
             a dependency pulled in a system library: drop that feature or link it statically",
            extra.join(", ")
        ));
    }
    Ok(needed)
}

/// What the binary asks of glibc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlibcVerdict {
    /// The newest `GLIBC_x.y` version the binary needs.
    pub max: GlibcVersion,
    /// Whether Debian 11 Bullseye (glibc 2.31) can run it too.
    pub bullseye: bool,
}

impl GlibcVerdict {
    /// One line for the summary.
    pub fn describe(&self) -> String {
        let bullseye = if self.bullseye {
            "Bullseye (2.31) can run it too"
        } else {
            "Bullseye (2.31) cannot run it: Bookworm or newer only"
        };
        format!(
            "needs glibc >= {} (Bookworm has {}); {bullseye}",
            self.max,
            GlibcVersion::BOOKWORM
        )
    }
}

/// Checks `readelf -V`: the newest glibc version needed is at most Bookworm's, and no
/// `GLIBC_PRIVATE` symbol ties the binary to one glibc build.
pub fn check_glibc(readelf_v: &str) -> Result<GlibcVerdict> {
    let needs = elf::parse_version_needs(readelf_v);
    let (versions, odd) = elf::glibc_versions(&needs);
    if !odd.is_empty() {
        return Err(fail!(
            "the binary needs {}: it would run only with the exact glibc it was linked against",
            odd.join(", ")
        ));
    }
    let max = versions.last().copied().ok_or_else(|| {
        fail!("readelf -V lists no GLIBC_ version need: expected some (is it dynamically linked?)")
    })?;
    if max > GlibcVersion::BOOKWORM {
        return Err(fail!(
            "the binary needs GLIBC_{max}, newer than Bookworm's {}: link against an older glibc \
             (Debian 12's aarch64-linux-gnu-gcc does)",
            GlibcVersion::BOOKWORM
        ));
    }
    Ok(GlibcVerdict {
        max,
        bullseye: max <= GlibcVersion::BULLSEYE,
    })
}

/// Checks `readelf -S -W`: the line tables are there, so allocation sites and panics can
/// name `file.rs:LINE` on the Pi.
pub fn check_line_tables(readelf_s: &str) -> Result<()> {
    let names = elf::parse_section_names(readelf_s);
    if names.iter().any(|n| n == ".debug_line") {
        Ok(())
    } else {
        Err(fail!(
            "the binary has no .debug_line section: file:line would be lost; \
             the profile must keep debug = \"line-tables-only\" and strip = \"none\""
        ))
    }
}

/// Checks the output of `memmon --version`: it names `version`.
pub fn check_version_output(stdout: &str, version: &str) -> Result<()> {
    let line = stdout.trim();
    if line.split_whitespace().any(|w| w == version) {
        Ok(())
    } else {
        Err(fail!(
            "`memmon --version` printed {line:?}, expected version {version}"
        ))
    }
}

/// What a well-formed `memmon test` log held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    /// Sample lines (`[time] 経過: …`).
    pub samples: usize,
    /// The footer's `メモリ増加量: …` line.
    pub growth: String,
}

/// The header's and footer's rule: 80 `=`.
const RULE: &str =
    "================================================================================";

/// Checks a `memmon test --duration 3 --interval 0.5` log: header rule and start line, at
/// least 5 sample lines, and a footer with the growth line closed by the rule.
pub fn check_test_log(text: &str) -> Result<LogSummary> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.first() != Some(&RULE) {
        return Err(fail!(
            "the test log does not start with the 80-'=' header rule: {:?}",
            lines.first().unwrap_or(&"")
        ));
    }
    if !lines
        .iter()
        .any(|l| l.starts_with("メモリモニタリング開始: "))
    {
        return Err(fail!("the test log has no `メモリモニタリング開始: ` line"));
    }
    let samples = lines
        .iter()
        .filter(|l| l.starts_with('[') && l.contains(" 経過: "))
        .count();
    if samples < 5 {
        return Err(fail!(
            "the test log has {samples} sample lines, expected at least 5 in 3 s at 0.5 s"
        ));
    }
    let growth = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("メモリ増加量: "))
        .ok_or_else(|| fail!("the test log has no footer (`メモリ増加量: ` line)"))?;
    let last = lines.iter().rev().find(|l| !l.trim().is_empty());
    if last != Some(&RULE) {
        return Err(fail!(
            "the test log does not end with the 80-'=' footer rule: {:?}",
            last.unwrap_or(&"")
        ));
    }
    Ok(LogSummary {
        samples,
        growth: growth.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
================================================================================
メモリモニタリング開始: 2026-11-24 19:00:39
PID: 4638
モニタリング間隔: 0.5秒
================================================================================

[2026-11-24 19:00:39] 経過: 00:00:00 | RSS: 15.20MB (初期比: +0.00MB) | VMS: 90.71MB | ピーク: 15.20MB | システム: 1.7% (23686MB空き)
[2026-11-24 19:00:39] 経過: 00:00:00 | RSS: 16.22MB (初期比: +1.02MB) | VMS: 91.71MB | ピーク: 16.22MB | システム: 1.7% (23691MB空き)
[2026-11-24 19:00:40] 経過: 00:00:01 | RSS: 17.22MB (初期比: +2.03MB) | VMS: 92.72MB | ピーク: 17.22MB | システム: 1.7% (23694MB空き)
[2026-11-24 19:00:40] 経過: 00:00:01 | RSS: 18.23MB (初期比: +3.03MB) | VMS: 93.72MB | ピーク: 18.23MB | システム: 2.0% (23618MB空き)
[2026-11-24 19:00:41] 経過: 00:00:02 | RSS: 19.23MB (初期比: +4.04MB) | VMS: 94.73MB | ピーク: 19.23MB | システム: 2.0% (23629MB空き)
[2026-11-24 19:00:41] 経過: 00:00:02 | RSS: 20.23MB (初期比: +5.04MB) | VMS: 95.73MB | ピーク: 20.23MB | システム: 2.0% (23629MB空き)

================================================================================
モニタリング終了: 2026-11-24 19:00:42
実行時間: 3秒
初期メモリ: 15.20MB
最終メモリ: 20.23MB
ピークメモリ: 20.23MB
メモリ増加量: 5.03MB
================================================================================
";

    #[test]
    fn a_complete_test_log_passes() {
        let s = check_test_log(LOG).unwrap();
        assert_eq!(s.samples, 6);
        assert_eq!(s.growth, "メモリ増加量: 5.03MB");
    }

    #[test]
    fn a_log_cut_short_fails_and_says_why() {
        let no_footer = LOG.split("\n\n====").next().unwrap();
        assert!(check_test_log(no_footer)
            .unwrap_err()
            .0
            .contains("no footer"));
        let few: String = LOG
            .lines()
            .filter(|l| !l.contains("経過: 00:00:02"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(check_test_log(&few)
            .unwrap_err()
            .0
            .contains("4 sample lines"));
        assert!(check_test_log("").unwrap_err().0.contains("header rule"));
        let unclosed = LOG.trim_end().trim_end_matches('=');
        assert!(check_test_log(unclosed)
            .unwrap_err()
            .0
            .contains("footer rule"));
    }

    #[test]
    fn only_glibc_libraries_are_allowed() {
        let ok = include_str!("../tests/fixtures/readelf/memmon-aarch64.d.txt");
        assert!(check_needed(ok).is_ok());
        let bad = include_str!("../tests/fixtures/readelf/openssl-x86_64.d.txt");
        let err = check_needed(bad).unwrap_err().0;
        assert!(err.contains("libssl.so.3, libcrypto.so.3"), "{err}");
        let fontconfig =
            " 0x0000000000000001 (NEEDED)             Shared library: [libfontconfig.so.1]\n";
        assert!(check_needed(fontconfig)
            .unwrap_err()
            .0
            .contains("libfontconfig.so.1"));
    }

    #[test]
    fn the_header_must_be_aarch64() {
        let ok = include_str!("../tests/fixtures/readelf/memmon-aarch64.h.txt");
        assert_eq!(check_header(ok).unwrap().machine, "AArch64");
        let x86 = include_str!("../tests/fixtures/readelf/openssl-x86_64.h.txt");
        assert!(check_header(x86).unwrap_err().0.contains("X86-64"));
    }

    #[test]
    fn glibc_verdict_names_bookworm_and_bullseye() {
        let v = check_glibc(include_str!(
            "../tests/fixtures/readelf/memmon-aarch64.V.txt"
        ))
        .unwrap();
        assert!(v.max <= GlibcVersion::BOOKWORM);
        let x86 = check_glibc(include_str!(
            "../tests/fixtures/readelf/openssl-x86_64.V.txt"
        ))
        .unwrap();
        assert_eq!(x86.max, GlibcVersion(2, 34, 0));
        assert!(!x86.bullseye);
        assert_eq!(
            x86.describe(),
            "needs glibc >= 2.34 (Bookworm has 2.36); Bullseye (2.31) cannot run it: Bookworm or newer only"
        );
        let too_new = "Version needs section '.gnu.version_r' contains 1 entry:\n  0x0000: Version: 1  File: libc.so.6  Cnt: 1\n  0x0010:   Name: GLIBC_2.38  Flags: none  Version: 2\n";
        assert!(check_glibc(too_new).unwrap_err().0.contains("GLIBC_2.38"));
    }

    #[test]
    fn version_output_must_name_the_version() {
        assert!(check_version_output("memmon 0.1.0\n", "0.1.0").is_ok());
        assert!(check_version_output("memmon 0.2.0\n", "0.1.0").is_err());
    }
}
