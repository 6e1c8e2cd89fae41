//! `ProcfsSampler`, `SmapsSource` and `oom_kills` pointed at hand-made `/proc` trees, so every
//! number is exact. Pages are converted at 4096 bytes whatever the host's page size.
//!
//! `fixtures/proc`: process 4242 has children 4243 and 4244 (thread 4242) and 4246 (thread
//! 4250); 4243 has child 4247; 4244 is listed but gone. `fixtures/proc-nochildren` has no
//! `children` files (a kernel without `CONFIG_PROC_CHILDREN`): 4242 → 4243 → 4247 via `stat`.

use memmon_core::{Detail, DetailSource, Reading, SampleError, Sampler, Site};
use memmon_sampler::{oom_kills, ProcfsOptions, ProcfsSampler, SmapsSource};
use std::path::PathBuf;

const PAGE: u64 = 4096;
const KIB: u64 = 1024;

fn root(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn sampler(tree: &str, pid: u32, children: bool) -> Result<ProcfsSampler, SampleError> {
    let options = ProcfsOptions {
        root: root(tree),
        children,
    };
    ProcfsSampler::new(pid, options).map(|s| s.with_page_size(PAGE))
}

#[test]
fn one_process_reads_its_statm_and_meminfo() {
    let mut s = sampler("proc", 4242, false).unwrap();
    assert_eq!(s.pid(), 4242);
    let expected = Reading {
        rss: 1000 * PAGE,
        vms: 2000 * PAGE,
        sys_total: 1_024_000 * KIB,
        sys_available: 512_000 * KIB,
    };
    assert_eq!(s.sample().unwrap(), expected);
    // Re-reading the kept-open files gives the same again.
    assert_eq!(s.sample().unwrap(), expected);
}

#[test]
fn children_sum_every_descendant_of_every_thread_and_skip_the_vanished() {
    let mut s = sampler("proc", 4242, true).unwrap();
    let r = s.sample().unwrap();
    // 4242's RSS + the private memory of 4243 (from smaps), 4246 (smaps_rollup) and the RSS
    // of 4247 (neither file; see children_private.rs); 4244 is listed but has no directory.
    assert_eq!(r.rss, 1000 * PAGE + 152 * KIB + 100 * KIB + 200 * PAGE);
    assert_eq!(r.vms, (2000 + 1500 + 100 + 300) * PAGE);
}

#[test]
fn descendants_are_listed_both_ways_for_the_stop_signal() {
    let mut found = memmon_sampler::descendants(&root("proc"), 4242).unwrap();
    found.sort_unstable();
    // 4244 is listed by its parent but already gone: signalling it is harmless.
    assert_eq!(found, [4243, 4244, 4246, 4247]);
    let mut found = memmon_sampler::descendants(&root("proc-nochildren"), 4242).unwrap();
    found.sort_unstable();
    assert_eq!(found, [4243, 4247]);
    assert!(memmon_sampler::descendants(&root("proc"), 4247)
        .unwrap()
        .is_empty());
}

#[test]
fn children_of_a_subtree() {
    let mut s = sampler("proc", 4243, true).unwrap();
    assert_eq!(s.sample().unwrap().rss, (700 + 200) * PAGE);
}

#[test]
fn without_children_files_the_parents_are_scanned() {
    let mut s = sampler("proc-nochildren", 4242, true).unwrap();
    let r = s.sample().unwrap();
    // 4242 → 4243 (whose command name holds `) S 1 (`) → 4247; 1 and 99 are not descendants.
    assert_eq!(r.rss, (1000 + 700 + 200) * PAGE);
    assert_eq!(r.vms, (2000 + 1500 + 300) * PAGE);
    // No MemAvailable: MemFree + Buffers + Cached.
    assert_eq!(r.sys_total, 2000 * KIB);
    assert_eq!(r.sys_available, 150 * KIB);
}

#[test]
fn a_missing_process_has_exited() {
    assert_eq!(
        sampler("proc", 4244, false).unwrap_err(),
        SampleError::Exited { pid: 4244 }
    );
}

#[test]
fn a_zombie_and_a_kernel_thread_are_refused_at_the_start() {
    assert_eq!(
        sampler("proc", 4300, false).unwrap_err(),
        SampleError::Zombie { pid: 4300 }
    );
    // The fixture's kthreadd has no `stat`: its all-zero statm and live state decide.
    assert_eq!(
        sampler("proc", 2, false).unwrap_err(),
        SampleError::KernelThread { pid: 2 }
    );
}

#[test]
fn bad_content_is_a_parse_error_naming_the_file() {
    let err = sampler("proc", 4400, false).unwrap_err();
    let SampleError::Parse { path, detail } = err else {
        panic!("expected a parse error, got {err:?}");
    };
    assert!(path.ends_with("fixtures/proc/4400/statm"), "{path}");
    assert_eq!(detail, "line 1: expected the size in pages");
}

#[test]
fn a_root_without_meminfo_is_an_io_error_not_an_exit() {
    let err = sampler("nonexistent-root", 4242, false).unwrap_err();
    assert!(matches!(err, SampleError::Io { .. }), "{err:?}");
}

#[test]
fn smaps_source_groups_the_fixture_mappings() {
    let mut source = SmapsSource::new(4242, root("proc"));
    assert_eq!(source.pid(), 4242);
    let site = |location: &str, kib: u64, count: u64| Site {
        location: location.to_owned(),
        size: kib * KIB,
        count,
    };
    let expected = Detail::Smaps {
        anonymous: 4020 * KIB,
        swap: 524 * KIB,
        threads: 2,
        fds: 4,
        sites: vec![
            // Equal RSS: ordered by path.
            site("[anon]", 2000, 2),
            site("[heap]", 2000, 1),
            site("/usr/bin/worker", 304, 2),
            site("[stack]", 16, 1),
            site("/dev/shm/a b (deleted)", 4, 1),
        ],
    };
    assert_eq!(source.detail().unwrap(), [expected]);
}

#[test]
fn smaps_of_a_missing_process_has_exited() {
    let mut source = SmapsSource::new(4244, root("proc"));
    assert_eq!(
        source.detail().unwrap_err(),
        SampleError::Exited { pid: 4244 }
    );
}

#[test]
fn oom_kills_reads_vmstat_and_treats_an_absent_counter_as_zero() {
    assert_eq!(oom_kills(&root("proc")).unwrap(), 3);
    // The real fixture directory's vmstat has `oom_kill 0`.
    assert_eq!(oom_kills(&root("real")).unwrap(), 0);
    let err = oom_kills(&root("proc-nochildren")).unwrap_err();
    assert!(matches!(err, SampleError::Io { .. }), "{err:?}");
}

#[test]
fn smaps_source_keeps_the_top_10_and_falls_back_without_smaps_rollup() {
    // 4243 holds the real kernel's smaps (11 groups) and status, and no smaps_rollup, as on
    // kernels before 4.14: the sums of smaps stand in.
    let mut source = SmapsSource::new(4243, root("proc"));
    let blocks = source.detail().unwrap();
    let [Detail::Smaps {
        anonymous,
        swap,
        threads,
        fds,
        sites,
    }] = blocks.as_slice()
    else {
        panic!("expected one smaps block, got {blocks:?}");
    };
    assert_eq!((*anonymous, *swap, *threads, *fds), (104 * KIB, 0, 1, 1));
    assert_eq!(sites.len(), 10);
    assert_eq!(sites[0].location, "/usr/lib/x86_64-linux-gnu/libc.so.6");
    assert_eq!(sites[0].size, 1068 * KIB);
    assert_eq!(sites[0].count, 5);
    // [vvar_vclock], the 11th, ties at 0 with [vsyscall] and [vvar] and sorts after them.
    assert_eq!(sites[9].location, "[vvar]");
}

/// A waker that sends on a channel, as `memmon run`'s does.
struct ChannelWaker(std::sync::Mutex<std::sync::mpsc::Sender<()>>);

impl std::task::Wake for ChannelWaker {
    fn wake(self: std::sync::Arc<Self>) {
        if let Ok(tx) = self.0.lock() {
            let _ = tx.send(());
        }
    }
}

#[test]
fn smaps_source_answers_a_request_from_its_worker_and_wakes_the_caller() {
    use std::task::Poll;
    let mut source = SmapsSource::new(4242, root("proc"));
    let expected = source.detail().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let waker = std::task::Waker::from(std::sync::Arc::new(ChannelWaker(tx.into())));
    assert!(source.request(&waker).is_pending());
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the worker wakes the caller");
    let Poll::Ready(Ok(blocks)) = source.poll(false) else {
        panic!("a woken request is ready");
    };
    assert_eq!(blocks, expected);
    // Nothing in flight any more.
    assert_eq!(source.poll(false), Poll::Ready(Ok(vec![])));
    // A missing process: the worker's answer is the error `detail` gives.
    let mut gone = SmapsSource::new(4244, root("proc"));
    assert!(gone.request(&waker).is_pending());
    rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(
        gone.poll(false),
        Poll::Ready(Err(SampleError::Exited { pid: 4244 }))
    );
}

/// A process whose `statm` reads all zeros after the start has lost its address space: it is
/// exiting (its status may still say running for a moment), and no `RSS: 0.00MB` line may come
/// of it. The tree is copied so `statm` can be rewritten in place under the kept-open file.
#[test]
fn a_process_that_lost_its_memory_mid_run_has_exited() {
    let tmp = std::env::temp_dir().join(format!("memmon-exiting-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let proc_dir = tmp.join("4242");
    std::fs::create_dir_all(&proc_dir).unwrap();
    for f in ["statm", "status"] {
        std::fs::copy(root("proc").join("4242").join(f), proc_dir.join(f)).unwrap();
    }
    std::fs::copy(root("proc").join("meminfo"), tmp.join("meminfo")).unwrap();
    let options = ProcfsOptions {
        root: tmp.clone(),
        children: false,
    };
    let mut s = ProcfsSampler::new(4242, options)
        .unwrap()
        .with_page_size(PAGE);
    assert_eq!(s.sample().unwrap().rss, 1000 * PAGE);
    // Same inode, new content: what the kernel shows once `exit_mm` ran.
    std::fs::write(proc_dir.join("statm"), "0 0 0 0 0 0 0\n").unwrap();
    let status = std::fs::read_to_string(proc_dir.join("status")).unwrap();
    assert!(
        status.contains("State:\tS") || status.contains("State:\tR"),
        "{status}"
    );
    assert_eq!(s.sample().unwrap_err(), SampleError::Exited { pid: 4242 });
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Issue #19's breakdown of the fixture tree. Each process's parts come from what the sample
/// counts for it, so the resident parts add up to the sample's RSS exactly:
///
/// - 4242 (watched): `status` RssAnon 3000 + RssFile 900 + RssShmem 100 kB = its statm's
///   1000 pages; VmSwap 524 kB; 2 threads; fds `/dev/null` (other), a pipe, a socket and a
///   deleted log file.
/// - 4243 (`smaps`, no rollup): private 152 kB = Anonymous 104 + 48 file-backed; 1 thread;
///   a socket.
/// - 4246 (`smaps_rollup`): private 40 + 60 kB = Anonymous 60 + 40 file-backed; 4 threads; an
///   eventfd (other) and a file.
/// - 4247 (counted by its RSS, 200 pages): its `status` split 500 + 250 + 50 kB, VmSwap 16 kB;
///   1 thread; a pipe.
#[test]
fn the_breakdown_of_the_tree_adds_up_to_the_sample() {
    use memmon_core::{Breakdown, FdCounts};
    let mut s = sampler("proc", 4242, true).unwrap();
    let rss = s.sample().unwrap().rss;
    let b = s.breakdown().unwrap();
    assert_eq!(
        b,
        Breakdown {
            anon: (3000 + 104 + 60 + 500) * KIB,
            file: (900 + 48 + 40 + 250) * KIB,
            shmem: (100 + 50) * KIB,
            swap: (524 + 16) * KIB,
            threads: 2 + 1 + 4 + 1,
            fds: FdCounts {
                sockets: 2,
                files: 2,
                pipes: 2,
                other: 2,
            },
        }
    );
    assert_eq!(b.resident(), rss);
    // Reading it changes nothing the samples keep: the next sample is the same.
    assert_eq!(s.sample().unwrap().rss, rss);
    assert_eq!(s.breakdown().unwrap(), b);
}

#[test]
fn the_breakdown_of_one_process_is_its_status_and_fds() {
    use memmon_core::{Breakdown, FdCounts};
    let mut s = sampler("proc", 4242, false).unwrap();
    let b = s.breakdown().unwrap();
    assert_eq!(
        b,
        Breakdown {
            anon: 3000 * KIB,
            file: 900 * KIB,
            shmem: 100 * KIB,
            swap: 524 * KIB,
            threads: 2,
            fds: FdCounts {
                sockets: 1,
                files: 1,
                pipes: 1,
                other: 1,
            },
        }
    );
    assert_eq!(b.resident(), s.sample().unwrap().rss);
}
