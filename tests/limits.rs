//! Limits a caller cannot undo (issue 12, items 6 and 10): `update` is held to the profile's
//! ceilings whatever flag form it comes in, memory+swap stays between the memory limit and the
//! ceiling, `linux.resources.unified` is refused on cgroup v1 (like runc), and a container's
//! default cgroup belongs to its state root. Every value is read from the kernel's cgroup files
//! after create and after each update: cgroup v1's on this host, cgroup v2's in the cgroup v2
//! lane (scripts/cgroup2-vm.sh), where `unified` is applied and held to the same ceilings.

mod common;

use std::fs;
use std::io::Write;
use std::process::{Output, Stdio};

use common::*;
use serde_json::{json, Value};

const M: u64 = 1 << 20;
const G: u64 = 1 << 30;
/// restricted's `memory_max`, the ceiling of memory and of memory+swap
const CEILING: u64 = 8 * G;

fn run_restricted(w: &World, id: &str) {
    let b = w.bundle("b", &["sleep", "1000"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        id,
    ]);
    assert!(out.status.success(), "run {id}: {}", stderr(&out));
}

fn update(w: &World, id: &str, args: &[&str]) -> Output {
    let mut a = vec!["update"];
    a.extend_from_slice(args);
    a.push(id);
    let out = w.hr(&a);
    assert!(out.status.success(), "update {args:?}: {}", stderr(&out));
    out
}

fn update_json(w: &World, id: &str, resources: &Value) -> Output {
    let mut child = w
        .hr_cmd(&["update", "--resources", "-", id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(resources.to_string().as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// (memory limit, memory+swap limit) as the kernel holds them (v1: memory.limit_in_bytes,
/// memory.memsw.limit_in_bytes; v2: memory.max, memory.max + memory.swap.max), checked against
/// the invariant: memory <= memory+swap <= the profile's ceiling.
fn memory(w: &World, id: &str) -> (u64, u64) {
    let (limit, memsw) = w.cgroup_memory(id);
    assert!(
        limit <= memsw && memsw <= CEILING,
        "memory {limit} / memory+swap {memsw}: not within memory <= memory+swap <= {CEILING}"
    );
    (limit, memsw)
}

/// (quota, period): v1's cpu.cfs_quota_us and cpu.cfs_period_us, v2's cpu.max
fn cpu(w: &World, id: &str) -> (i64, u64) {
    w.cgroup_cpu(id)
}

/// The soft memory limit (`--memory-reservation`): v1's memory.soft_limit_in_bytes, v2's
/// memory.low (where libcgroups writes the reservation)
fn soft_limit(w: &World, id: &str) -> u64 {
    let file = if cgroup_v2() {
        "memory.low"
    } else {
        "memory.soft_limit_in_bytes"
    };
    cgroup_num(&w.cgroup_read("memory", id, file))
}

#[test]
fn memory_swap_stays_within_the_ceiling_and_never_below_memory() {
    let w = World::new("lim-swap");
    let id = "ls1";
    run_restricted(&w, id);
    assert_eq!(memory(&w, id), (512 * M, 512 * M));

    // unlimited memory+swap is the ceiling, not unlimited
    update(&w, id, &["--memory-swap=-1"]);
    assert_eq!(memory(&w, id), (512 * M, CEILING));
    // a smaller memory limit keeps the memory+swap in force (within the ceiling)
    update(&w, id, &["--memory", "256m"]);
    assert_eq!(memory(&w, id), (256 * M, CEILING));
    update(&w, id, &["--memory-swap", "16g"]);
    assert_eq!(memory(&w, id), (256 * M, CEILING));
    // memory+swap below memory (the kernel's EINVAL) is raised to the memory limit
    let out = update(&w, id, &["--memory", "1g", "--memory-swap", "512m"]);
    assert_eq!(memory(&w, id), (G, G));
    assert!(
        stderr(&out).contains("memory+swap limit 512m below the memory limit 1g"),
        "{}",
        stderr(&out)
    );
    update(&w, id, &["--memory-swap", "2g"]);
    assert_eq!(memory(&w, id), (G, 2 * G));
    update(&w, id, &["--memory", "512m"]);
    assert_eq!(memory(&w, id), (512 * M, 2 * G));
    // dockerd's shape
    let out = update_json(&w, id, &json!({"memory": {"limit": 64 * M, "swap": -1}}));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(memory(&w, id), (64 * M, CEILING));

    // what the container's record says is what the kernel has
    let spec: Value =
        serde_json::from_slice(&fs::read(w.root.join(id).join("bundle/config.json")).unwrap())
            .unwrap();
    assert_eq!(
        spec["linux"]["resources"]["memory"],
        json!({"limit": 64 * M, "swap": CEILING})
    );
    assert!(w.hr(&["delete", "--force", id]).status.success());
}

#[test]
fn raising_memory_above_the_swap_in_force_works() {
    // restricted sets memory+swap = memory (512m): a larger memory limit alone was EINVAL
    let w = World::new("lim-raise");
    let id = "lr1";
    run_restricted(&w, id);
    update(&w, id, &["--memory", "1g"]);
    assert_eq!(memory(&w, id), (G, G));
    update(&w, id, &["--memory", "2g", "--memory-swap", "4g"]);
    assert_eq!(memory(&w, id), (2 * G, 4 * G));
    // lowering both at once: the kernel sees memory lowered before memory+swap
    update(&w, id, &["--memory", "128m", "--memory-swap", "256m"]);
    assert_eq!(memory(&w, id), (128 * M, 256 * M));
    assert!(w.hr(&["delete", "--force", id]).status.success());
}

#[test]
fn minus_one_is_unlimited_in_both_flag_forms_and_clamped_to_the_ceiling() {
    let w = World::new("lim-neg");
    let id = "ln1";
    run_restricted(&w, id);
    for form in [&["--memory", "-1"][..], &["--memory=-1"]] {
        let out = update(&w, id, form);
        assert_eq!(memory(&w, id), (CEILING, CEILING), "{form:?}");
        let err = stderr(&out);
        let line = err
            .lines()
            .find(|l| l.contains("memory limit -1 (unlimited)"))
            .unwrap_or_else(|| panic!("no clamp line on stderr for {form:?}: {err}"));
        assert!(
            line.starts_with(&format!("update {id:?}: "))
                && line.contains("8g")
                && line.contains("restricted"),
            "{line}"
        );
    }
    update(&w, id, &["--memory", "256m"]);
    for form in [&["--memory-swap", "-1"][..], &["--memory-swap=-1"]] {
        update(&w, id, form);
        assert_eq!(memory(&w, id), (256 * M, CEILING), "{form:?}");
    }
    for form in [&["--pids-limit", "-1"][..], &["--pids-limit=-1"]] {
        update(&w, id, &["--pids-limit", "10"]);
        assert_eq!(w.cgroup_read("pids", id, "pids.max"), "10");
        let out = update(&w, id, form);
        assert_eq!(w.cgroup_read("pids", id, "pids.max"), "8192", "{form:?}");
        assert!(
            stderr(&out).contains("pids limit -1 (unlimited)"),
            "{}",
            stderr(&out)
        );
    }
    for form in [&["--cpu-quota", "-1"][..], &["--cpu-quota=-1"]] {
        update(&w, id, &["--cpu-quota", "50000"]);
        assert_eq!(cpu(&w, id), (50000, 100000));
        update(&w, id, form);
        assert_eq!(cpu(&w, id), (800000, 100000), "{form:?}");
    }
    // a soft limit (no profile ceiling): -1 is taken as it is
    for form in [
        &["--memory-reservation", "-1"][..],
        &["--memory-reservation=-1"],
    ] {
        update(&w, id, &["--memory-reservation", "64m"]);
        update(&w, id, form);
        assert!(soft_limit(&w, id) > CEILING, "{form:?}");
    }
    assert!(w.hr(&["delete", "--force", id]).status.success());
}

#[test]
fn cpu_period_alone_cannot_widen_the_quota() {
    let w = World::new("lim-cpu");
    let id = "lc1";
    run_restricted(&w, id);
    assert_eq!(cpu(&w, id), (200000, 100000));
    // the quota in force over a tenth of the period would be 20 cpus: held to restricted's 8
    update(&w, id, &["--cpu-period", "10000"]);
    let (q, p) = cpu(&w, id);
    assert_eq!((q, p), (80000, 10000), "{q}/{p}");
    // the quota in force stays what it is over a longer period
    update(&w, id, &["--cpu-period", "100000"]);
    assert_eq!(cpu(&w, id), (80000, 100000));
    update(&w, id, &["--cpu-quota", "1600000"]);
    assert_eq!(cpu(&w, id), (800000, 100000));
    update(&w, id, &["--cpu-quota", "150000"]);
    assert_eq!(cpu(&w, id), (150000, 100000));
    assert!(w.hr(&["delete", "--force", id]).status.success());
}

#[test]
fn unified_is_refused_on_cgroup_v1_like_runc() {
    if cgroup_v2() {
        eprintln!(
            "cgroup v2 host: unified applies here (unified_cannot_relax_the_ceilings_on_cgroup_v2)"
        );
        return;
    }
    let w = World::new("lim-unified");
    let b = w.bundle_with("bu", &["sleep", "1000"], |s| {
        s["linux"]["resources"]["unified"] = json!({"memory.max": "max"});
    });
    // under enforce and under the world's permissive default alike: the host cannot apply it
    for profile in ["restricted", "permissive"] {
        let out = w.hr(&[
            "--profile",
            profile,
            "run",
            "-d",
            "--bundle",
            b.to_str().unwrap(),
            "lu1",
        ]);
        assert!(!out.status.success(), "{profile}: unified ran on cgroup v1");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("linux.resources.unified") && err.contains("cgroup v1"),
            "{err}"
        );
        w.assert_nothing_left("lu1");
    }

    // update: dockerd's JSON may carry a unified map too
    run_restricted(&w, "lu2");
    let out = update_json(&w, "lu2", &json!({"unified": {"pids.max": "max"}}));
    assert!(!out.status.success(), "unified update ran on cgroup v1");
    assert!(stderr(&out).contains("cgroup v1"), "{}", stderr(&out));
    assert_eq!(w.cgroup_read("pids", "lu2", "pids.max"), "1024");
    // an empty map is nothing to apply
    let out = update_json(&w, "lu2", &json!({"unified": {}, "pids": {"limit": 100}}));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.cgroup_read("pids", "lu2", "pids.max"), "100");
    assert!(w.hr(&["delete", "--force", "lu2"]).status.success());
}

/// On cgroup v2 `unified` is applied (after every typed field, by libcgroups), so its keys are
/// held to the same ceilings as the typed fields: `max` for memory, swap, pids and CPU under
/// `restricted` leaves the profile's limits in the kernel, at create and at update. Under the
/// world's `permissive` a unified key is what the kernel gets. Only on cgroup v2 (the lane).
#[test]
fn unified_cannot_relax_the_ceilings_on_cgroup_v2() {
    if !cgroup_v2() {
        eprintln!(
            "cgroup v1 host: unified is refused here (unified_is_refused_on_cgroup_v1_like_runc)"
        );
        return;
    }
    let w = World::new("lim-unified2");
    let b = w.bundle_with("bu", &["sleep", "1000"], |s| {
        s["linux"]["resources"]["unified"] = json!({
            "memory.max": "max", "memory.swap.max": "max", "pids.max": "max", "cpu.max": "max 100000"
        });
    });
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "lv1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // memory() holds memory <= memory+swap <= the ceiling
    let (mem, _) = memory(&w, "lv1");
    assert!(
        mem <= 512 * M,
        "unified memory.max max raised memory to {mem}"
    );
    let pids = cgroup_num(&w.cgroup_read("pids", "lv1", "pids.max"));
    assert!(pids <= 8192, "unified pids.max max left pids.max {pids}");
    let (q, p) = cpu(&w, "lv1");
    assert!(
        q > 0 && q as u64 <= 8 * p,
        "unified cpu.max max left cpu.max {q} {p}"
    );
    // dockerd's update JSON may carry a unified map too
    let out = update_json(
        &w,
        "lv1",
        &json!({"unified": {"pids.max": "max", "memory.max": "max"}}),
    );
    let after = cgroup_num(&w.cgroup_read("pids", "lv1", "pids.max"));
    assert!(
        after <= 8192,
        "update unified pids.max max: {after} ({})",
        stderr(&out)
    );
    memory(&w, "lv1");
    assert!(w.hr(&["delete", "--force", "lv1"]).status.success());
    w.assert_nothing_left("lv1");

    // permissive changes nothing: the unified value is the kernel's
    let b = w.bundle_with("bp", &["sleep", "1000"], |s| {
        s["linux"]["resources"]["unified"] = json!({"pids.max": "77"});
    });
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "lv2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.cgroup_read("pids", "lv2", "pids.max"), "77");
    assert!(w.hr(&["delete", "--force", "lv2"]).status.success());
    w.assert_nothing_left("lv2");
}

/// The kernel's view of a process: alive (not a zombie) and its memory cgroup.
fn alive(pid: u64) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().to_owned()))
        .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X'))
}

/// On cgroup v2 the one hierarchy's line (`0::PATH`), which holds the memory controller.
fn memory_cgroup(pid: u64) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v2 = cgroup_v2();
    text.lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
            let memory = if v2 {
                ctl.is_empty()
            } else {
                ctl.split(',').any(|c| c == "memory")
            };
            memory.then(|| path.to_owned())
        })
        .expect("a memory cgroup line")
}

/// Where the memory controller's hierarchy is mounted: `/sys/fs/cgroup/memory` on cgroup v1,
/// `/sys/fs/cgroup` on cgroup v2.
fn memory_hierarchy() -> &'static std::path::Path {
    std::path::Path::new(if cgroup_v2() {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/memory"
    })
}

#[test]
fn same_id_under_two_roots_keeps_two_cgroups() {
    let a = World::new("lim-root-a");
    let b = World::new("lim-root-b");
    let id = "twin";
    let mut pids = vec![];
    for w in [&a, &b] {
        let bundle = w.bundle("b", &["sleep", "1000"]);
        let out = w.hr(&["run", "-d", "--bundle", bundle.to_str().unwrap(), id]);
        assert!(out.status.success(), "{}", stderr(&out));
        pids.push(w.state(id)["pid"].as_u64().unwrap());
    }
    let (pa, pb) = (pids[0], pids[1]);
    let (ca, cb) = (memory_cgroup(pa), memory_cgroup(pb));

    let out = a.hr(&["delete", "--force", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!alive(pa));
    // the other root's container is untouched: its init alive, its cgroup there
    assert!(
        alive(pb),
        "delete --force in one root killed the other's container (cgroups {ca} and {cb})"
    );
    assert_ne!(ca, cb, "two containers, one cgroup");
    assert_eq!(cb, b.cgroup_path(id));
    a.assert_nothing_left(id);
    assert_eq!(b.state(id)["status"], "running");
    assert!(
        memory_hierarchy().join(cb.trim_start_matches('/')).is_dir(),
        "{cb} is gone"
    );
    assert_eq!(
        fs::read_to_string(
            memory_hierarchy()
                .join(cb.trim_start_matches('/'))
                .join("cgroup.procs")
        )
        .unwrap()
        .trim(),
        pb.to_string()
    );
    assert!(b.hr(&["delete", "--force", id]).status.success());
    b.assert_nothing_left(id);
}
