use super::store::{dir_name, is_bundle_name, Store};
use super::*;
use std::os::unix::fs::{symlink, PermissionsExt};

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn bundle(i: u32, trigger: &str) -> String {
    format!("20261205-1430{i:02}-4242-{trigger}.txt")
}

#[test]
fn the_directory_is_named_after_the_log() {
    assert_eq!(
        dir_name(Path::new("/x/memory_usage.log")),
        "memory_usage.evidence"
    );
    assert_eq!(dir_name(Path::new("a.b.log")), "a.b.evidence");
    assert_eq!(dir_name(Path::new("log")), "log.evidence");
    assert!(is_bundle_name("20261205-143000-4242-usr2.txt"));
    assert!(!is_bundle_name("20261205-143000-4242-other.txt"));
    assert!(!is_bundle_name(".oom-20261205-143000-4242-usr2.txt"));
    assert!(!is_bundle_name("2026120-143000-4242-usr2.txt"));
}

#[test]
fn a_bundle_is_written_in_a_private_directory_with_no_temporary_left() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::beside(&tmp.path().join("memory_usage.log"), 10);
    let path = store.write(&bundle(0, "usr2"), b"text\n").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"text\n");
    let dir = tmp.path().join("memory_usage.evidence");
    assert_eq!(path, dir.join(bundle(0, "usr2")));
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(names(&dir), [bundle(0, "usr2")]);
}

#[test]
fn evidence_max_holds_and_the_oom_named_bundle_is_never_evicted() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::beside(&tmp.path().join("memory_usage.log"), 3);
    store.write(&bundle(0, "warning"), b"0").unwrap();
    store.write(&bundle(1, "floor"), b"1").unwrap();
    store.protect(&bundle(1, "floor")).unwrap();
    for i in 2..12 {
        store.write(&bundle(i, "usr2"), b"n").unwrap();
    }
    let dir = store.path();
    let bundles: Vec<String> = names(&dir)
        .into_iter()
        .filter(|n| is_bundle_name(n))
        .collect();
    assert_eq!(
        bundles,
        [
            bundle(1, "floor"),
            bundle(9, "usr2"),
            bundle(10, "usr2"),
            bundle(11, "usr2")
        ]
    );
    assert_eq!(protected_bundles(&dir), [bundle(1, "floor")]);
}

#[test]
fn a_symlink_planted_at_the_directory_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    symlink(&elsewhere, tmp.path().join("memory_usage.evidence")).unwrap();
    let store = Store::beside(&tmp.path().join("memory_usage.log"), 10);
    let err = store.write(&bundle(0, "usr2"), b"x").unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    assert!(names(&elsewhere).is_empty());
}

#[test]
fn a_symlink_planted_at_the_bundle_path_is_replaced_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::beside(&tmp.path().join("memory_usage.log"), 10);
    store.write(&bundle(0, "usr2"), b"first").unwrap();
    let target = tmp.path().join("victim");
    std::fs::write(&target, b"keep").unwrap();
    // At the bundle's own name and at the temporary name it would use.
    symlink(&target, store.path().join(bundle(1, "floor"))).unwrap();
    let tmp_name = format!(
        ".tmp-{}-{}",
        std::process::id(),
        bundle(1, "floor").trim_end_matches(".txt")
    );
    symlink(&target, store.path().join(tmp_name)).unwrap();
    let path = store.write(&bundle(1, "floor"), b"bundle").unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    assert!(!std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&path).unwrap(), b"bundle");
}

#[test]
fn a_directory_others_can_write_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("memory_usage.evidence");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let store = Store::beside(&tmp.path().join("memory_usage.log"), 10);
    let err = store.write(&bundle(0, "usr2"), b"x").unwrap_err();
    assert!(err.to_string().contains("other users"), "{err}");
}

#[test]
fn the_cgroup_remainder_is_read_from_v1_and_v2() {
    let tmp = tempfile::tempdir().unwrap();
    let proc_root = tmp.path().join("proc");
    let cg = tmp.path().join("cg");
    std::fs::create_dir_all(proc_root.join("7")).unwrap();
    // v1: the process's path is not below the mount (a container): the mount's own files.
    std::fs::write(proc_root.join("7/cgroup"), "4:memory:/docker/abc\n0::/\n").unwrap();
    std::fs::create_dir_all(cg.join("memory")).unwrap();
    std::fs::write(cg.join("memory/memory.limit_in_bytes"), "104857600\n").unwrap();
    std::fs::write(cg.join("memory/memory.usage_in_bytes"), "94371840\n").unwrap();
    assert_eq!(cgroup_left(&proc_root, &cg, 7), Some(10 * memmon_core::MIB));
    // A child cgroup made inside the container: its path carries the container's prefix.
    std::fs::create_dir_all(cg.join("memory/test")).unwrap();
    std::fs::write(cg.join("memory/test/memory.limit_in_bytes"), "2000\n").unwrap();
    std::fs::write(cg.join("memory/test/memory.usage_in_bytes"), "500\n").unwrap();
    std::fs::write(proc_root.join("7/cgroup"), "4:memory:/docker/abc/test\n").unwrap();
    assert_eq!(cgroup_left(&proc_root, &cg, 7), Some(1500));
    std::fs::write(proc_root.join("7/cgroup"), "4:memory:/docker/abc\n0::/\n").unwrap();
    std::fs::write(
        cg.join("memory/memory.limit_in_bytes"),
        "9223372036854771712\n",
    )
    .unwrap();
    assert_eq!(cgroup_left(&proc_root, &cg, 7), None);
    // v2: the unit's memory.max and memory.high, the smaller one.
    std::fs::write(proc_root.join("7/cgroup"), "0::/system.slice/x.service\n").unwrap();
    let unit = cg.join("system.slice/x.service");
    std::fs::create_dir_all(&unit).unwrap();
    std::fs::write(unit.join("memory.current"), "1000\n").unwrap();
    std::fs::write(unit.join("memory.max"), "max\n").unwrap();
    assert_eq!(cgroup_left(&proc_root, &cg, 7), None);
    std::fs::write(unit.join("memory.high"), "5000\n").unwrap();
    assert_eq!(cgroup_left(&proc_root, &cg, 7), Some(4000));
}

#[test]
fn machine_triggers_floor_horizon_and_pressure() {
    let tmp = tempfile::tempdir().unwrap();
    let proc_root = tmp.path();
    std::fs::create_dir_all(proc_root.join("pressure")).unwrap();
    std::fs::write(
        proc_root.join("pressure/memory"),
        "some avg10=25.00 avg60=1.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    )
    .unwrap();
    let opts = EvidenceOptions {
        cgroup_root: tmp.path().join("nocgroup"),
        ..EvidenceOptions::default()
    };
    let mut r = Recorder::new(opts, &tmp.path().join("memory_usage.log"));
    let gib = 1024 * memmon_core::MIB;
    let (t, notice) = r.machine(Duration::ZERO, proc_root, 7, gib, Some(1.0));
    assert_eq!(t, [Trigger::Pressure]);
    assert!(notice.is_none());
    // 40 MiB left: under the 50 MiB floor; 1 GiB at 1 MiB/s: 17 minutes, within 30.
    let (t, _) = r.machine(Duration::ZERO, proc_root, 7, 40 * memmon_core::MIB, None);
    assert_eq!(t, [Trigger::Floor, Trigger::Pressure]);
    let (t, _) = r.machine(
        Duration::ZERO,
        proc_root,
        7,
        gib,
        Some(memmon_core::MIB as f64),
    );
    assert_eq!(t, [Trigger::Horizon, Trigger::Pressure]);
    assert!(r.fire(Trigger::Horizon));
    assert!(!r.fire(Trigger::Horizon));
    // No PSI: said once.
    std::fs::remove_file(proc_root.join("pressure/memory")).unwrap();
    let (_, notice) = r.machine(Duration::from_secs(5), proc_root, 7, gib, None);
    assert!(notice.unwrap().contains("psi=1"));
    let (_, notice) = r.machine(Duration::from_secs(10), proc_root, 7, gib, None);
    assert!(notice.is_none());
}
