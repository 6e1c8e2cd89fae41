//! Allocation sites: the tracking allocator names the line that holds the memory, estimates its
//! size from samples, and forgets it once freed.

use memmon_core::{Detail, DetailSource};
use memmon_sampler::alloc::{self, AllocDetail, TrackingAllocator};

#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator::new();

const BLOCK: usize = 4096;

/// Keeps 8 MiB in 4 KiB blocks; returns the line of the allocation.
#[inline(never)]
fn fill_big(out: &mut Vec<Vec<u8>>) -> u32 {
    let line = line!() + 2;
    for _ in 0..(8 << 20) / BLOCK {
        out.push(vec![1u8; BLOCK]);
    }
    line
}

/// Keeps 1 MiB in 4 KiB blocks; returns the line of the allocation.
#[inline(never)]
fn fill_small(out: &mut Vec<Vec<u8>>) -> u32 {
    let line = line!() + 2;
    for _ in 0..(1 << 20) / BLOCK {
        out.push(vec![2u8; BLOCK]);
    }
    line
}

fn sites(detail: &mut AllocDetail) -> Vec<memmon_core::Site> {
    match detail.detail().expect("the allocator is installed").pop() {
        Some(Detail::Traced { sites, .. }) => sites,
        other => panic!("expected a traced block, got {other:?}"),
    }
}

// One test in this binary: the site table and the sampling seed are per process, and the
// harness's other test threads would otherwise allocate alongside.
#[test]
fn top_site_is_the_line_holding_most_memory_and_leaves_when_freed() {
    alloc::set_sample_interval(16 * 1024);
    alloc::set_seed(0x5eed);
    let mut big = Vec::with_capacity((8 << 20) / BLOCK);
    let mut small = Vec::with_capacity((1 << 20) / BLOCK);
    let big_line = fill_big(&mut big);
    let small_line = fill_small(&mut small);

    let mut detail = AllocDetail::new();
    let report = sites(&mut detail);
    let big_site = format!("alloc_sites.rs:{big_line}");
    let small_site = format!("alloc_sites.rs:{small_line}");
    let first = &report[0];
    assert!(first.location.ends_with(&big_site), "{report:#?}");
    let expected = 8u64 << 20;
    assert!(
        first.size.abs_diff(expected) <= expected / 4,
        "estimated {} for {expected}",
        first.size
    );
    assert!(first.count.abs_diff(2048) <= 512, "count {}", first.count);
    let second = report
        .iter()
        .find(|s| s.location.ends_with(&small_site))
        .unwrap_or_else(|| panic!("no {small_site} in {report:#?}"));
    assert!(second.size.abs_diff(1 << 20) <= (1 << 20) / 2, "{second:?}");

    let stats = alloc::stats();
    assert!(stats.current >= 9 << 20, "{stats:?}");
    assert!(stats.sampled > 0 && stats.dropped_samples == 0, "{stats:?}");

    drop(big);
    let report = sites(&mut detail);
    assert!(
        report.iter().all(|s| !s.location.ends_with(&big_site)),
        "{report:#?}"
    );
    assert!(report[0].location.ends_with(&small_site), "{report:#?}");
    drop(small);
}
