//! The notices of `--children` reach the caller once per process, however many samplers read
//! the tree (`memmon run` has two). A test binary of its own: the queue is process-wide.
#![allow(clippy::unwrap_used)] // a panic in a test harness is a failed test

use memmon_core::Sampler;
use memmon_sampler::{ProcfsOptions, ProcfsSampler};
use std::path::PathBuf;

#[test]
fn two_samplers_of_one_tree_queue_each_notice_once() {
    let options = ProcfsOptions {
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc"),
        children: true,
    };
    assert!(ProcfsSampler::take_pending_notices().is_empty());
    let mut first = ProcfsSampler::new(4242, options.clone()).unwrap();
    let mut second = ProcfsSampler::new(4242, options).unwrap();
    first.sample().unwrap();
    second.sample().unwrap();
    // Each sampler knows what it found.
    assert_eq!(first.notices().len(), 2);
    assert_eq!(second.notices().len(), 2);
    let queued = ProcfsSampler::take_pending_notices();
    assert_eq!(queued.len(), 2, "{queued:?}");
    assert!(queued[0].contains("process 4247"), "{queued:?}");
    assert!(queued[1].contains("smaps_rollup"), "{queued:?}");
    second.sample().unwrap();
    assert!(ProcfsSampler::take_pending_notices().is_empty());
}
