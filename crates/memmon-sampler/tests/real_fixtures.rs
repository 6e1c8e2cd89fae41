//! The parsers against text captured from a real kernel (Linux 6.18, x86_64, 4 KiB pages):
//! `cat /proc/self/…` and `/proc/meminfo`, `/proc/vmstat`; `smaps` trimmed to 24 of its mappings.

use memmon_sampler::parse::{
    parse_meminfo, parse_smaps, parse_smaps_rollup, parse_statm, parse_status,
    parse_vmstat_oom_kill, MappingGroup, Meminfo, Statm,
};

const KIB: u64 = 1024;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/real/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn statm_pages_are_converted_with_the_given_page_size() {
    let text = fixture("statm"); // "765 402 374 5 0 123 0"
    assert_eq!(
        parse_statm(&text, 4096).unwrap(),
        Statm {
            vms: 765 * 4096,
            rss: 402 * 4096
        }
    );
    assert_eq!(parse_statm(&text, 16384).unwrap().rss, 402 * 16384);
}

#[test]
fn meminfo_gives_total_and_available_in_bytes() {
    let m = parse_meminfo(&fixture("meminfo")).unwrap();
    assert_eq!(
        m,
        Meminfo {
            total: 24_683_656 * KIB,
            available: 24_376_460 * KIB
        }
    );
}

#[test]
fn status_gives_threads_state_and_vm_figures() {
    let s = parse_status(&fixture("status")).unwrap();
    assert_eq!(s.threads, 1);
    assert_eq!(s.state, Some('R'));
    assert_eq!(s.vm_rss, Some(1704 * KIB));
    assert_eq!(s.vm_size, Some(3060 * KIB));
    assert!(!s.is_dead());
}

#[test]
fn smaps_groups_mappings_by_path() {
    let smaps = parse_smaps(&fixture("smaps")).unwrap();
    let g = |path: &str, rss_kib: u64, count: u64| MappingGroup {
        path: path.to_owned(),
        rss: rss_kib * KIB,
        count,
    };
    assert_eq!(
        smaps.groups,
        [
            g("/usr/lib/x86_64-linux-gnu/libc.so.6", 1068, 5),
            g("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 212, 5),
            g("/usr/lib/locale/C.utf8/LC_CTYPE", 128, 1),
            g("/usr/bin/cat", 48, 5),
            g("[anon]", 28, 2),
            g("[heap]", 16, 1),
            g("[stack]", 12, 1),
            g("[vdso]", 4, 1),
            // Ties are ordered by path.
            g("[vsyscall]", 0, 1),
            g("[vvar]", 0, 1),
            g("[vvar_vclock]", 0, 1),
        ]
    );
    assert_eq!(smaps.groups.iter().map(|g| g.count).sum::<u64>(), 24);
    assert_eq!(smaps.anonymous, 104 * KIB);
    assert_eq!(smaps.swap, 0);
}

#[test]
fn smaps_rollup_gives_anonymous_and_swap() {
    let r = parse_smaps_rollup(&fixture("smaps_rollup")).unwrap();
    assert_eq!(r.anonymous, 112 * KIB);
    assert_eq!(r.swap, 0);
}

#[test]
fn vmstat_gives_the_oom_kill_counter() {
    assert_eq!(parse_vmstat_oom_kill(&fixture("vmstat")).unwrap(), Some(0));
}
