//! Properties of the parsers: no input makes them panic, and well-formed text parses back to
//! the numbers that were written into it.

use memmon_sampler::parse::{
    parse_children, parse_meminfo, parse_smaps, parse_smaps_rollup, parse_stat_ppid, parse_statm,
    parse_status, parse_vmstat_oom_kill, Meminfo, Statm,
};
use proptest::prelude::*;

/// Text that looks enough like `/proc` files to reach deep into the parsers.
fn procish() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        "[0-9a-f]{1,12}-[0-9a-f]{1,12} [rwxps-]{4} [0-9a-f]{8} [0-9:]{5} [0-9]{1,6} {0,20}[ -~]{0,30}",
        "(Rss|Anonymous|Swap|MemTotal|MemAvailable|MemFree|Buffers|Cached|Threads|VmRSS|State):[ \t]{0,8}[0-9]{0,25}( kB)?",
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
}
