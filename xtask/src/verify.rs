//! What the Pi binary must satisfy before it is packaged, as checks on the text of `readelf`
//! and of the binary's own output. Each check returns what it found (for the summary) or a
//! failure saying what is wrong and what it means on the Pi.

use crate::elf::{self, KernelVersion};
use crate::{fail, Result};

/// glibc's name-service (NSS) entry points: host, service, user and group lookups. glibc
/// serves them through modules it loads at run time (`libnss_files.so.2`, …), so a static
/// binary calling one would need the Pi's shared glibc after all, of the exact version it was
/// linked with. memmon looks up no names (the metrics server binds a parsed `SocketAddr`).
pub const NSS_FUNCTIONS: &[&str] = &[
    "getaddrinfo",
    "getnameinfo",
    "gethostbyname",
    "gethostbyname2",
    "gethostbyname_r",
    "gethostbyname2_r",
    "gethostbyaddr",
    "gethostbyaddr_r",
    "getservbyname",
    "getservbyname_r",
    "getservbyport",
    "getprotobyname",
    "getpwnam",
    "getpwnam_r",
    "getpwuid",
    "getpwuid_r",
    "getpwent",
    "getgrnam",
    "getgrnam_r",
    "getgrgid",
    "getgrgid_r",
    "getgrent",
    "getgrouplist",
    "initgroups",
    "getspnam",
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

/// Checks `readelf -l -d`: the binary is statically linked, with no program interpreter and
/// no NEEDED library, so it runs whatever glibc the Pi has (or none).
///
/// Why static: a dynamically linked memmon mapped ld.so, libc, libm and libgcc_s, about
/// 1.9 MiB of its 3.8 MiB peak RSS, and needed glibc 2.34 or newer. Linked statically it
/// carries only the parts of glibc it calls (BENCHMARKS.md, "Static linking and hot code").
pub fn check_static(readelf_l_d: &str) -> Result<()> {
    if let Some(interp) = elf::parse_interpreter(readelf_l_d) {
        return Err(fail!(
            "the binary asks for the program interpreter {interp}: it is dynamically linked; \
             the Pi build links statically (-C target-feature=+crt-static in its RUSTFLAGS)"
        ));
    }
    let needed = elf::parse_needed(readelf_l_d);
    if !needed.is_empty() {
        return Err(fail!(
            "the binary needs shared libraries: {}; the Pi build links statically \
             (-C target-feature=+crt-static), so a dependency asked for a library outside \
             it: drop that feature or link that library statically",
            needed.join(", ")
        ));
    }
    Ok(())
}

/// Checks `readelf -n`: the oldest kernel the binary's glibc accepts is one every 64-bit
/// Raspberry Pi OS has. Returns it, for the summary.
pub fn check_kernel(readelf_n: &str) -> Result<KernelVersion> {
    let kernel = elf::parse_abi_tag(readelf_n).ok_or_else(|| {
        fail!("readelf -n shows no `OS: Linux, ABI: …` note: was the binary linked with glibc?")
    })?;
    if kernel > KernelVersion::PI_OS_64 {
        return Err(fail!(
            "the binary needs Linux {kernel} or newer, newer than 64-bit Raspberry Pi OS's \
             oldest kernel ({}): link against an older glibc",
            KernelVersion::PI_OS_64
        ));
    }
    Ok(kernel)
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

/// Checks `readelf -s -W` (the symbol table, which the Pi build keeps): no [`NSS_FUNCTIONS`]
/// is linked in. The linker warns about them when linking glibc statically, but rustc does not
/// show linker warnings, so this check is what catches a dependency that starts calling one.
pub fn check_no_nss(readelf_syms: &str) -> Result<()> {
    let mut found: Vec<&str> = elf::parse_defined_symbols(readelf_syms)
        .into_iter()
        .filter(|name| NSS_FUNCTIONS.contains(name))
        .collect();
    found.sort_unstable();
    found.dedup();
    if found.is_empty() {
        Ok(())
    } else {
        Err(fail!(
            "the static binary links glibc's name lookups {}: glibc serves them by loading the \
             Pi's NSS modules at run time, which a static binary cannot do reliably; find the \
             caller (a host name, user or group lookup) and avoid it",
            found.join(", ")
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
    fn only_a_static_binary_passes() {
        let l = include_str!("../tests/fixtures/readelf/memmon-aarch64.l.txt");
        let d = include_str!("../tests/fixtures/readelf/memmon-aarch64.d.txt");
        check_static(&format!("{l}{d}")).unwrap();
        let dynamic = include_str!("../tests/fixtures/readelf/memmon-aarch64-dynamic.d.txt");
        let err = check_static(dynamic).unwrap_err().0;
        assert!(err.contains("libgcc_s.so.1, libm.so.6, libc.so.6"), "{err}");
        let interp = "      [Requesting program interpreter: /lib/ld-linux-aarch64.so.1]\n";
        let err = check_static(interp).unwrap_err().0;
        assert!(err.contains("/lib/ld-linux-aarch64.so.1"), "{err}");
        let openssl = include_str!("../tests/fixtures/readelf/openssl-x86_64.d.txt");
        assert!(check_static(openssl)
            .unwrap_err()
            .0
            .contains("libssl.so.3, libcrypto.so.3"));
    }

    #[test]
    fn the_kernel_floor_is_one_every_pi_os_has() {
        let n = include_str!("../tests/fixtures/readelf/memmon-aarch64.n.txt");
        assert_eq!(check_kernel(n).unwrap(), KernelVersion(3, 7, 0));
        let newer = "  GNU                  0x00000010\tNT_GNU_ABI_TAG (ABI version tag)\n    OS: Linux, ABI: 6.8.0\n";
        assert!(check_kernel(newer).unwrap_err().0.contains("Linux 6.8.0"));
        assert!(check_kernel("").is_err());
    }

    #[test]
    fn line_tables_must_be_there() {
        let s = include_str!("../tests/fixtures/readelf/memmon-aarch64.S.txt");
        check_line_tables(s).unwrap();
        let no_lines = "  [ 1] .text PROGBITS 0000000000000000 001000 000010 00 AX 0 0 4\n";
        assert!(check_line_tables(no_lines)
            .unwrap_err()
            .0
            .contains("no .debug_line"));
    }

    #[test]
    fn no_name_lookup_may_be_linked() {
        let syms = include_str!("../tests/fixtures/readelf/memmon-aarch64.s.txt");
        check_no_nss(syms).unwrap();
        let with = format!(
            "{syms} 18082: 00000000005e8600   912 FUNC    GLOBAL DEFAULT    7 getaddrinfo\n\
             \x20 18083: 00000000005e8990   120 FUNC    WEAK   DEFAULT    7 getpwuid_r@@GLIBC_2.17\n"
        );
        let err = check_no_nss(&with).unwrap_err().0;
        assert!(err.contains("lookups getaddrinfo, getpwuid_r:"), "{err}");
        // Only a reference, not linked in: fine.
        let undefined =
            format!("{syms} 18084: 0000000000000000     0 NOTYPE  WEAK   DEFAULT  UND getpwnam\n");
        check_no_nss(&undefined).unwrap();
    }

    #[test]
    fn the_header_must_be_aarch64() {
        let ok = include_str!("../tests/fixtures/readelf/memmon-aarch64.h.txt");
        assert_eq!(check_header(ok).unwrap().machine, "AArch64");
        let x86 = include_str!("../tests/fixtures/readelf/openssl-x86_64.h.txt");
        assert!(check_header(x86).unwrap_err().0.contains("X86-64"));
    }

    #[test]
    fn version_output_must_name_the_version() {
        assert!(check_version_output("memmon 0.1.0\n", "0.1.0").is_ok());
        assert!(check_version_output("memmon 0.2.0\n", "0.1.0").is_err());
    }
}
