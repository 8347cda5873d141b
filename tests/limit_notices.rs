//! The limits a profile sets or lowers are visible where a cluster operator looks: one stderr
//! line per memory, CPU or pids limit (containerd's shim logs the runtime's stderr), not only the
//! audit log. And `[resources] pod_limits = "pod-cgroup"` leaves a Kubernetes pod's unset limits
//! to its pod's cgroup instead of the profile's defaults (only on containerd's CRI path). The
//! limits are read from the container's cgroup files.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::{json, Value};

fn notices(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| l.starts_with("hardrun: ") && l.contains("(rule resources)"))
        .collect()
}

fn memory_limit(cgroup: &str) -> u64 {
    let p = if cgroup_v2() {
        Path::new("/sys/fs/cgroup")
            .join(cgroup.trim_start_matches('/'))
            .join("memory.max")
    } else {
        Path::new("/sys/fs/cgroup/memory")
            .join(cgroup.trim_start_matches('/'))
            .join("memory.limit_in_bytes")
    };
    cgroup_num(fs::read_to_string(&p).unwrap().trim())
}

#[test]
fn each_limit_the_profile_lowers_or_sets_is_one_stderr_line() {
    let w = World::new("lim-notice");
    let b = w.bundle_with("big", &["sleep", "1000"], |s| {
        s["linux"]["resources"]["memory"] = json!({"limit": 16u64 << 30});
        s["linux"]["resources"]["cpu"] = json!({"quota": 1_600_000, "period": 100_000});
        s["linux"]["resources"]["pids"] = json!({"limit": 100_000});
    });
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "ln1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        notices(&err),
        [
            "hardrun: memory limit 16 GiB lowered to 8 GiB by profile restricted (rule resources)",
            "hardrun: cpu limit 16 cpus lowered to 8 cpus by profile restricted (rule resources)",
            "hardrun: pids limit 100000 lowered to 8192 by profile restricted (rule resources)",
        ],
        "{err}"
    );
    assert_eq!(w.cgroup_memory("ln1").0, 8 << 30);

    // none set: the profile's defaults, one line each
    let b = w.bundle("none", &["sleep", "1000"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "ln2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        notices(&err),
        [
            "hardrun: memory limit unset, set to 512 MiB by profile restricted (rule resources)",
            "hardrun: cpu limit unset, set to 2 cpus by profile restricted (rule resources)",
            "hardrun: pids limit unset, set to 1024 by profile restricted (rule resources)",
        ],
        "{err}"
    );
    assert_eq!(w.cgroup_memory("ln2").0, 512 << 20);

    // permissive changes nothing, so it says nothing
    let out = w.hr(&[
        "--profile",
        "permissive",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "ln3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(notices(&stderr(&out)).is_empty(), "{}", stderr(&out));
    for id in ["ln1", "ln2", "ln3"] {
        let o = w.hr(&["delete", "--force", id]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

/// A BestEffort pod (no limits) under a profile with `pod_limits = "pod-cgroup"`: on containerd's
/// CRI path its limits stay unset (its pod's cgroup bounds it), a limit it does set is still held
/// to the ceiling; the same spec from any other caller gets the defaults.
#[test]
fn pod_limits_pod_cgroup_leaves_a_pods_unset_limits_to_its_pod_cgroup() {
    let w = World::new("lim-pod");
    let dir = w.dir.join("profiles");
    fs::create_dir_all(&dir).unwrap();
    let restricted =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/restricted.toml"))
            .unwrap();
    let text = restricted
        .replace("name = \"restricted\"", "name = \"k8s\"")
        .replace(
            "[resources]\n",
            "[resources]\npod_limits = \"pod-cgroup\"\n",
        );
    fs::write(dir.join("k8s.toml"), text).unwrap();
    let pod = |s: &mut Value| {
        s["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-namespace": "default",
            "io.kubernetes.cri.sandbox-name": "web"
        });
    };
    let run = |root: &Path, b: &Path, id: &str| {
        let out = w.hr_in(
            root,
            &[
                "--profile",
                "k8s",
                "run",
                "-d",
                "--bundle",
                b.to_str().unwrap(),
                id,
            ],
        );
        assert!(out.status.success(), "{id}: {}", stderr(&out));
        let root = fs::canonicalize(root).unwrap();
        (
            stderr(&out),
            hardrun::commands::create::default_cgroups_path(&root, id),
        )
    };

    let (b, root) = w.cri_bundle("lp1", &["sleep", "1000"], pod);
    let (err, cgroup) = run(&root, &b, "lp1");
    assert!(notices(&err).is_empty(), "{err}");
    // no limit: `max` on cgroup v2, the page counter's maximum on v1
    let limit = memory_limit(&cgroup);
    assert!(
        limit > 1 << 50,
        "a BestEffort pod got a memory limit: {limit}"
    );

    let (b, root) = w.cri_bundle("lp2", &["sleep", "1000"], |s| {
        pod(s);
        s["linux"]["resources"]["memory"] = json!({"limit": 16u64 << 30});
    });
    let (err, cgroup) = run(&root, &b, "lp2");
    assert_eq!(
        notices(&err),
        ["hardrun: memory limit 16 GiB lowered to 8 GiB by profile k8s (rule resources)"],
        "{err}"
    );
    assert_eq!(memory_limit(&cgroup), 8 << 30);

    // not containerd's CRI: the annotations are a claim, the defaults apply
    let b = w.bundle_with("plain", &["sleep", "1000"], pod);
    let (err, cgroup) = run(&w.root, &b, "lp3");
    assert_eq!(notices(&err).len(), 3, "{err}");
    assert_eq!(memory_limit(&cgroup), 512 << 20);
}
