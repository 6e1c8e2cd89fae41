//! Parsers for `readelf` output: what the Pi binary is and what it needs from the system.
//!
//! They take the text `readelf` printed (GNU binutils' layout) and do no I/O, so the tests feed
//! them output captured from real binaries (`tests/fixtures/readelf/`).

use std::fmt;

/// From `readelf -h`: the fields that say which machine an ELF file runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfHeader {
    /// `ELF64` or `ELF32`.
    pub class: String,
    /// `AArch64`, `Advanced Micro Devices X86-64`, …
    pub machine: String,
}

/// Reads the `Class:` and `Machine:` lines of `readelf -h`; `None` when either is missing
/// (the text is not readelf's header dump).
pub fn parse_header(readelf_h: &str) -> Option<ElfHeader> {
    let field = |name: &str| {
        readelf_h.lines().find_map(|line| {
            let (key, value) = line.trim().split_once(':')?;
            (key == name).then(|| value.trim().to_string())
        })
    };
    Some(ElfHeader {
        class: field("Class")?,
        machine: field("Machine")?,
    })
}

/// The `NEEDED` shared libraries listed by `readelf -d`, in file order.
///
/// A line looks like ` 0x0000000000000001 (NEEDED)  Shared library: [libc.so.6]`.
pub fn parse_needed(readelf_d: &str) -> Vec<String> {
    readelf_d
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| {
            let start = line.find('[')? + 1;
            let end = line[start..].find(']')? + start;
            Some(line[start..end].to_string())
        })
        .collect()
}

/// A glibc symbol version such as `GLIBC_2.17` or `GLIBC_2.2.5`, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub u32, pub u32, pub u32);

impl GlibcVersion {
    /// Debian 12 Bookworm, the Pi's Raspberry Pi OS.
    pub const BOOKWORM: GlibcVersion = GlibcVersion(2, 36, 0);
    /// Debian 11 Bullseye, the previous Raspberry Pi OS.
    pub const BULLSEYE: GlibcVersion = GlibcVersion(2, 31, 0);

    /// Parses the part after `GLIBC_`: `2.17`, `2.2.5`; `None` for `PRIVATE` and the like.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = match parts.next() {
            None => 0,
            Some(p) => p?,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(GlibcVersion(major, minor, patch))
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)?;
        if self.2 != 0 {
            write!(f, ".{}", self.2)?;
        }
        Ok(())
    }
}

/// One entry of the version-needs section: library `file` must provide version `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionNeed {
    /// The library, e.g. `libc.so.6`.
    pub file: String,
    /// The version, e.g. `GLIBC_2.34`.
    pub name: String,
}

/// The version needs of `readelf -V` (section `.gnu.version_r`): which library must provide
/// which symbol version. The per-symbol table (`.gnu.version`) repeats the same names and is
/// skipped.
///
/// ```text
/// Version needs section '.gnu.version_r' contains 3 entries:
///   0x0020: Version: 1  File: libc.so.6  Cnt: 9
///   0x0030:   Name: GLIBC_2.15  Flags: none  Version: 14
/// ```
pub fn parse_version_needs(readelf_v: &str) -> Vec<VersionNeed> {
    let mut needs = Vec::new();
    let mut in_needs = false;
    let mut file = String::new();
    for line in readelf_v.lines() {
        if line.starts_with("Version ") {
            in_needs = line.starts_with("Version needs section");
            continue;
        }
        if !in_needs {
            continue;
        }
        if let Some(f) = word_after(line, "File:") {
            file = f.to_string();
        } else if let Some(name) = word_after(line, "Name:") {
            needs.push(VersionNeed {
                file: file.clone(),
                name: name.to_string(),
            });
        }
    }
    needs
}

/// The word following `key` on `line`, when `key` occurs.
fn word_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(key)? + key.len();
    line[at..].split_whitespace().next()
}

/// The glibc versions among `needs` (numeric ones) and the non-numeric `GLIBC_*` names
/// (`GLIBC_PRIVATE`), which tie a binary to one glibc build.
pub fn glibc_versions(needs: &[VersionNeed]) -> (Vec<GlibcVersion>, Vec<String>) {
    let mut versions = Vec::new();
    let mut odd = Vec::new();
    for need in needs {
        if let Some(rest) = need.name.strip_prefix("GLIBC_") {
            match GlibcVersion::parse(rest) {
                Some(v) => versions.push(v),
                None => odd.push(need.name.clone()),
            }
        }
    }
    versions.sort();
    versions.dedup();
    (versions, odd)
}

/// Section names from `readelf -S -W`, e.g. `.text`, `.debug_line`.
pub fn parse_section_names(readelf_s: &str) -> Vec<String> {
    readelf_s
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix('[')?;
            let (index, after) = rest.split_once(']')?;
            index.trim().parse::<u32>().ok()?;
            let name = after.split_whitespace().next()?;
            // The first section has no name: the first word is then its type.
            name.starts_with('.').then(|| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../tests/fixtures/readelf/", $name))
        };
    }

    #[test]
    fn header_names_the_machine() {
        let h = parse_header(fixture!("memmon-aarch64.h.txt")).unwrap();
        assert_eq!(h.class, "ELF64");
        assert_eq!(h.machine, "AArch64");
        let h = parse_header(fixture!("openssl-x86_64.h.txt")).unwrap();
        assert_eq!(h.machine, "Advanced Micro Devices X86-64");
        assert_eq!(parse_header("not readelf"), None);
    }

    #[test]
    fn needed_lists_the_shared_libraries() {
        assert_eq!(
            parse_needed(fixture!("memmon-aarch64.d.txt")),
            [
                "libgcc_s.so.1",
                "libm.so.6",
                "libc.so.6",
                "ld-linux-aarch64.so.1"
            ]
        );
        assert_eq!(
            parse_needed(fixture!("openssl-x86_64.d.txt")),
            ["libssl.so.3", "libcrypto.so.3", "libc.so.6"]
        );
    }

    #[test]
    fn version_needs_come_from_the_needs_section_only() {
        let needs = parse_version_needs(fixture!("openssl-x86_64.V.txt"));
        assert_eq!(needs.len(), 1 + 9 + 3, "{needs:?}");
        assert_eq!(
            needs[0],
            VersionNeed {
                file: "libssl.so.3".into(),
                name: "OPENSSL_3.0.0".into()
            }
        );
        let (glibc, odd) = glibc_versions(&needs);
        assert_eq!(glibc.first(), Some(&GlibcVersion(2, 2, 5)));
        assert_eq!(glibc.last(), Some(&GlibcVersion(2, 34, 0)));
        assert!(odd.is_empty());
    }

    #[test]
    fn the_pi_binary_needs_nothing_past_bookworm() {
        let needs = parse_version_needs(fixture!("memmon-aarch64.V.txt"));
        assert!(needs.iter().any(|n| n.file == "libc.so.6"), "{needs:?}");
        let (glibc, odd) = glibc_versions(&needs);
        let max = glibc.last().copied().unwrap();
        // std's `__libc_start_main@GLIBC_2.34`: Bookworm yes, Bullseye no.
        assert_eq!(max, GlibcVersion(2, 34, 0));
        assert_eq!(glibc.first(), Some(&GlibcVersion(2, 17, 0)));
        assert!(odd.is_empty(), "{odd:?}");
    }

    #[test]
    fn glibc_versions_order_numerically_and_flag_private() {
        assert_eq!(GlibcVersion::parse("2.2.5"), Some(GlibcVersion(2, 2, 5)));
        assert_eq!(GlibcVersion::parse("PRIVATE"), None);
        assert_eq!(GlibcVersion::parse("2"), None);
        assert!(GlibcVersion(2, 9, 0) < GlibcVersion(2, 17, 0));
        assert_eq!(GlibcVersion(2, 2, 5).to_string(), "2.2.5");
        assert_eq!(GlibcVersion::BOOKWORM.to_string(), "2.36");
        let needs: Vec<VersionNeed> = ["GLIBC_2.34", "GLIBC_PRIVATE", "GCC_4.2.0", "GLIBC_2.17"]
            .iter()
            .map(|n| VersionNeed {
                file: "libc.so.6".into(),
                name: n.to_string(),
            })
            .collect();
        let (v, odd) = glibc_versions(&needs);
        assert_eq!(v, [GlibcVersion(2, 17, 0), GlibcVersion(2, 34, 0)]);
        assert_eq!(odd, ["GLIBC_PRIVATE"]);
    }

    #[test]
    fn section_names_include_the_line_tables() {
        let names = parse_section_names(fixture!("memmon-aarch64.S.txt"));
        assert!(names.iter().any(|n| n == ".text"), "{names:?}");
        assert!(names.iter().any(|n| n == ".debug_line"), "{names:?}");
        assert!(names.iter().all(|n| n.starts_with('.')));
    }
}
