//! Properties of the parsers: no input makes them panic, and well-formed text parses back to
//! the numbers that were written into it.

use memmon_sampler::parse::{
    fd_kind, parse_children, parse_meminfo, parse_private_parts, parse_smaps, parse_smaps_rollup,
    parse_stat_ppid, parse_statm, parse_status, parse_status_memory, parse_vmstat_oom_kill, FdKind,
    Meminfo, PrivateParts, PrivateSum, Statm, StatusMemory,
};
use proptest::prelude::*;

/// Text that looks enough like `/proc` files to reach deep into the parsers.
fn procish() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        "[0-9a-f]{1,12}-[0-9a-f]{1,12} [rwxps-]{4} [0-9a-f]{8} [0-9:]{5} [0-9]{1,6} {0,20}[ -~]{0,30}",
        "(Rss|Anonymous|Swap|Private_Clean|Private_Dirty|RssAnon|RssFile|RssShmem|VmSwap|MemTotal|MemAvailable|MemFree|Buffers|Cached|Threads|VmRSS|State):[ \t]{0,8}[0-9]{0,25}( kB)?",
        "oom_kill [0-9]{0,25}",
        "[0-9]{1,6} \\([ -~]{0,10}\\) [A-Z] [0-9]{0,12}",
        "[ -~]{0,40}",
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

fn parse_everything(text: &str) {
    let _ = parse_statm(text, 4096);
    let _ = parse_statm(text, u64::MAX);
    let _ = parse_meminfo(text);
    let _ = parse_children(text, &mut Vec::new());
    let _ = parse_status(text);
    let _ = parse_smaps(text);
    let _ = parse_smaps_rollup(text);
    let _ = parse_vmstat_oom_kill(text);
    let _ = parse_stat_ppid(text);
    let _ = parse_status_memory(text);
    let _ = parse_private_parts(text);
    let _ = fd_kind(text);
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_text(text in any::<String>()) {
        parse_everything(&text);
    }

    #[test]
    fn parsers_never_panic_on_procish_text(text in procish()) {
        parse_everything(&text);
    }

    #[test]
    fn statm_parses_back(
        size in 0u64..(1 << 40),
        resident in 0u64..(1 << 40),
        rest in prop::array::uniform5(0u64..(1 << 40)),
        page_shift in 12u32..=16,
    ) {
        let page = 1u64 << page_shift;
        let text = format!(
            "{size} {resident} {} {} {} {} {}\n",
            rest[0], rest[1], rest[2], rest[3], rest[4]
        );
        prop_assert_eq!(
            parse_statm(&text, page),
            Ok(Statm { vms: size * page, rss: resident * page })
        );
    }

    #[test]
    fn meminfo_parses_back(
        total in 0u64..(1 << 50),
        available in 0u64..(1 << 50),
        free in 0u64..(1 << 50),
        available_first in any::<bool>(),
        pad in 1usize..12,
    ) {
        let field = |key: &str, kib: u64| format!("{key}:{:>pad$} kB\n", kib, pad = pad + 8);
        let mut text = field("MemTotal", total);
        let avail = field("MemAvailable", available);
        if available_first {
            text.insert_str(0, &avail);
        } else {
            text.push_str(&field("MemFree", free));
            text.push_str("HugePages_Total:       0\n");
            text.push_str(&avail);
        }
        prop_assert_eq!(
            parse_meminfo(&text),
            Ok(Meminfo { total: total * 1024, available: available * 1024 })
        );
    }

    #[test]
    fn children_parse_back(pids in prop::collection::vec(any::<u32>(), 0..20)) {
        let text: String = pids.iter().map(|p| format!("{p} ")).collect();
        let mut out = Vec::new();
        parse_children(&text, &mut out).unwrap();
        prop_assert_eq!(out, pids);
    }

    #[test]
    fn status_memory_parses_back(
        anon in 0u64..(1 << 40),
        file in 0u64..(1 << 40),
        shmem in 0u64..(1 << 40),
        swap in 0u64..(1 << 40),
        threads in 1u64..100_000,
        pad in 1usize..12,
    ) {
        let field = |key: &str, kib: u64| format!("{key}:\t{:>pad$} kB\n", kib, pad = pad);
        let text = format!(
            "Name:\tx\nState:\tS (sleeping)\n{}{}{}{}{}{}Threads:\t{threads}\n",
            field("VmRSS", anon + file + shmem),
            field("RssAnon", anon),
            field("RssFile", file),
            field("RssShmem", shmem),
            field("VmSwap", swap),
            "SigQ:\t0/1\n",
        );
        let m = parse_status_memory(&text).unwrap();
        prop_assert_eq!(m, StatusMemory {
            anon: anon * 1024,
            file: file * 1024,
            shmem: shmem * 1024,
            swap: swap * 1024,
            threads,
        });
        // The parts are the VmRSS the kernel prints beside them.
        prop_assert_eq!(Some(m.resident()), parse_status(&text).unwrap().vm_rss);
    }

    /// Over any smaps-like text, the split's private total is exactly the private memory the
    /// sample counts (`PrivateSum`), and its two parts add up to it.
    #[test]
    fn private_parts_add_up_to_what_the_sample_counts(
        mappings in prop::collection::vec(
            (0u64..(1 << 30), 0u64..(1 << 30), 0u64..(1 << 30), 0u64..(1 << 30)),
            0..8,
        ),
    ) {
        let mut text = String::new();
        let (mut private, mut anonymous, mut swap) = (0, 0, 0);
        for (i, (clean, dirty, anon, sw)) in mappings.iter().enumerate() {
            text.push_str(&format!("{:x}-{:x} rw-p 00000000 00:00 0  [heap]\n", i * 2, i * 2 + 1));
            text.push_str(&format!("Rss: {} kB\nPrivate_Clean: {clean} kB\n", clean + dirty));
            text.push_str(&format!("Private_Dirty: {dirty} kB\nAnonymous: {anon} kB\n"));
            text.push_str(&format!("Private_Hugetlb: 4096 kB\nSwap: {sw} kB\nSwapPss: 1 kB\n"));
            private += (clean + dirty) * 1024;
            anonymous += anon * 1024;
            swap += sw * 1024;
        }
        let parts = parse_private_parts(&text).unwrap();
        let mut sum = PrivateSum::default();
        for line in text.lines() {
            sum.line(line.as_bytes()).unwrap();
        }
        prop_assert_eq!(parts.private, sum.bytes);
        prop_assert_eq!(parts, PrivateParts {
            private,
            anon: anonymous.min(private),
            file: private - anonymous.min(private),
            swap,
        });
    }

    #[test]
    fn fd_kinds_follow_the_target_shape(inode in any::<u64>(), path in "[ -~]{0,40}") {
        prop_assert_eq!(fd_kind(&format!("socket:[{inode}]")), FdKind::Socket);
        prop_assert_eq!(fd_kind(&format!("pipe:[{inode}]")), FdKind::Pipe);
        prop_assert_eq!(fd_kind(&format!("anon_inode:{path}")), FdKind::Other);
        let file = format!("/srv/{path}");
        prop_assert_eq!(fd_kind(&file), FdKind::File);
        prop_assert_eq!(fd_kind(&format!("{file} (deleted)")), FdKind::File);
        prop_assert_eq!(fd_kind(&format!("/dev/{path}")) == FdKind::File,
            path.starts_with("shm/") || path.starts_with("mqueue/"));
    }
}
