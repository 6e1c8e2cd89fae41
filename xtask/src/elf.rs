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

/// The program interpreter `readelf -l` names (`[Requesting program interpreter: …]`), if any.
/// A dynamically linked program has one (the loader, `ld-linux-aarch64.so.1`); a static one
/// has none.
pub fn parse_interpreter(readelf_l: &str) -> Option<String> {
    let line = readelf_l
        .lines()
        .find(|l| l.contains("Requesting program interpreter:"))?;
    let start = line.find(':')? + 1;
    let end = line.rfind(']')?;
    Some(line.get(start..end)?.trim().to_string())
}

/// A Linux kernel version such as `3.7.0`, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion(pub u32, pub u32, pub u32);

impl KernelVersion {
    /// The oldest kernel of 64-bit Raspberry Pi OS (Bullseye's first 64-bit release, 5.10);
    /// Bookworm runs 6.1 and later.
    pub const PI_OS_64: KernelVersion = KernelVersion(5, 10, 0);
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The oldest kernel the binary's C library accepts: the `ABI:` of the `NT_GNU_ABI_TAG` note
/// that `readelf -n` prints (`OS: Linux, ABI: 3.7.0`). glibc refuses to start on an older
/// kernel; a static binary carries its glibc inside, so this is all it asks of the system.
pub fn parse_abi_tag(readelf_n: &str) -> Option<KernelVersion> {
    let line = readelf_n.lines().find(|l| l.contains("OS: Linux, ABI:"))?;
    let version = word_after(line, "ABI:")?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next()??;
    let patch = parts.next().unwrap_or(Some(0))?;
    Some(KernelVersion(major, minor, patch))
}

/// The word following `key` on `line`, when `key` occurs.
fn word_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(key)? + key.len();
    line[at..].split_whitespace().next()
}

/// The names of the symbols `readelf -s -W` lists as defined (section index not `UND`),
/// without their `@VERSION` suffix.
///
/// ```text
///  17543: 00000000005e8540    28 FUNC    WEAK   DEFAULT    7 getgroups
/// ```
pub fn parse_defined_symbols(readelf_s: &str) -> Vec<&str> {
    readelf_s
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [num, _value, _size, _type, _bind, _vis, ndx, name] = fields[..] else {
                return None;
            };
            let numbered = num
                .strip_suffix(':')
                .is_some_and(|n| n.parse::<u64>().is_ok());
            if !numbered || ndx == "UND" {
                return None;
            }
            name.split('@').next()
        })
        .collect()
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
            [] as [&str; 0]
        );
        // memmon as it was linked before it was static.
        assert_eq!(
            parse_needed(fixture!("memmon-aarch64-dynamic.d.txt")),
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
    fn a_static_binary_names_no_interpreter() {
        assert_eq!(parse_interpreter(fixture!("memmon-aarch64.l.txt")), None);
        let dynamic = "  INTERP         0x0000000000000238 0x0000000000000238 0x0000000000000238\n\
                       \x20     0x000000000000001b 0x000000000000001b  R      0x1\n\
                       \x20     [Requesting program interpreter: /lib/ld-linux-aarch64.so.1]\n";
        assert_eq!(
            parse_interpreter(dynamic).as_deref(),
            Some("/lib/ld-linux-aarch64.so.1")
        );
    }

    #[test]
    fn the_abi_tag_names_the_oldest_kernel() {
        let kernel = parse_abi_tag(fixture!("memmon-aarch64.n.txt")).unwrap();
        // glibc 2.36 on aarch64 supports Linux 3.7 and later.
        assert_eq!(kernel, KernelVersion(3, 7, 0));
        assert!(kernel <= KernelVersion::PI_OS_64);
        assert_eq!(kernel.to_string(), "3.7.0");
        assert_eq!(parse_abi_tag("    OS: Linux, ABI: 6.x"), None);
        assert_eq!(parse_abi_tag("not readelf"), None);
    }

    #[test]
    fn defined_symbols_skip_references_and_versions() {
        let text = "Symbol table '.symtab' contains 3 entries:\n\
                    \x20  Num:    Value          Size Type    Bind   Vis      Ndx Name\n\
                    \x20    0: 0000000000000000     0 NOTYPE  LOCAL  DEFAULT  UND \n\
                    \x20 17543: 00000000005e8540    28 FUNC    WEAK   DEFAULT    7 getgroups\n\
                    \x20 17544: 0000000000000000     0 NOTYPE  WEAK   DEFAULT  UND __nss_fork\n\
                    \x20 17545: 00000000005e8600    12 FUNC    GLOBAL DEFAULT    7 memcpy@@GLIBC_2.17\n";
        assert_eq!(parse_defined_symbols(text), ["getgroups", "memcpy"]);
        let real = parse_defined_symbols(fixture!("memmon-aarch64.s.txt"));
        assert!(real.contains(&"__libc_start_main"), "{real:?}");
    }

    #[test]
    fn section_names_include_the_line_tables() {
        let names = parse_section_names(fixture!("memmon-aarch64.S.txt"));
        assert!(names.iter().any(|n| n == ".text"), "{names:?}");
        assert!(names.iter().any(|n| n == ".text.cold"), "{names:?}");
        assert!(names.iter().any(|n| n == ".debug_line"), "{names:?}");
        assert!(names.iter().all(|n| n.starts_with('.')));
    }
}
