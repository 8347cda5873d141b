//! A namespace left out of a spec is, in OCI, the runtime's own: the host's. Kubernetes asks for
//! `hostNetwork` (network and uts), `hostPID` and `hostIPC` that way through containerd's CRI,
//! Docker and podman for `--network`/`--pid`/`--ipc host`. hardrun never replaces such a request
//! with a new namespace behind the caller's back: a profile that forbids host namespaces refuses
//! it, naming the namespace (and the pod), a `host-namespaces` exception of the profile
//! authorizes it for a Kubernetes namespace (the container then runs in the host's, recorded),
//! and `permissive` runs it in the host's, as runc does. Every check reads
//! `/proc/<pid>/ns/<kind>` of the container's init against the test process's own.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// (OCI type, /proc/<pid>/ns name, the namespaces the CRI leaves out for it)
const KINDS: &[(&str, &str, &[&str])] = &[
    ("network", "net", &["network", "uts"]),
    ("pid", "pid", &["pid"]),
    ("ipc", "ipc", &["ipc"]),
];

/// `restricted` as `k8s`, with a host-namespaces exception for `kind` in `kube-system`.
fn k8s_profile(w: &World, kind: &str) {
    k8s_profile_for(w, &format!("\"{kind}\""));
}

/// `restricted` as `k8s`, with a host-namespaces exception for `values` (TOML array items) in
/// `kube-system`.
fn k8s_profile_for(w: &World, values: &str) {
    let dir = w.dir.join("profiles");
    fs::create_dir_all(&dir).unwrap();
    let restricted =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/restricted.toml"))
            .unwrap();
    let text = restricted.replace("name = \"restricted\"", "name = \"k8s\"")
        + &format!(
            "\n[[exceptions]]\nkind = \"host-namespaces\"\nvalues = [{values}]\nnamespaces = [\"kube-system\"]\ncomment = \"node agents\"\n"
        );
    fs::write(dir.join("k8s.toml"), text).unwrap();
}

/// A pod's container spec as containerd's CRI writes it, without the namespaces in `omit`.
fn pod(namespace: &str, omit: &'static [&'static str]) -> impl FnOnce(&mut Value) {
    let namespace = namespace.to_owned();
    move |s: &mut Value| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| !omit.contains(&n["type"].as_str().unwrap()));
        if omit.contains(&"uts") {
            // the host's hostname: containerd sets none (runc refuses one without a UTS namespace)
            s.as_object_mut().unwrap().remove("hostname");
        }
        s["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": "agent",
            "io.kubernetes.cri.sandbox-id": "0123456789abcdef",
            "io.kubernetes.cri.sandbox-name": "web",
            "io.kubernetes.cri.sandbox-namespace": namespace,
            "io.kubernetes.cri.image-name": "docker.io/library/busybox:latest"
        });
    }
}

fn ns_of(pid: &str, name: &str) -> std::path::PathBuf {
    fs::read_link(format!("/proc/{pid}/ns/{name}")).unwrap()
}

fn pid_in(w: &World, root: &Path, id: &str) -> String {
    let st = w.hr_in(root, &["state", id]);
    assert!(st.status.success(), "state {id}: {}", stderr(&st));
    serde_json::from_slice::<Value>(&st.stdout).unwrap()["pid"]
        .as_i64()
        .unwrap()
        .to_string()
}

#[test]
fn a_pod_leaving_a_namespace_out_is_refused_unless_an_exception_authorizes_the_hosts() {
    for (kind, proc_name, omit) in KINDS {
        let w = World::new(&format!("hns-{kind}"));
        k8s_profile(&w, kind);

        // restricted, pod default/web: refused in one line naming the namespace and the pod
        let id = format!("hns-{kind}-refused");
        let (b, root) = w.cri_bundle(&id, &["sleep", "1000"], pod("default", omit));
        let out = w.hr_in(
            &root,
            &[
                "--profile",
                "restricted",
                "create",
                "--bundle",
                b.to_str().unwrap(),
                &id,
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{kind}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{kind}: {err}");
        assert!(
            err.contains(&format!("{kind} namespace omitted"))
                && err.contains("pod default/web")
                && err.contains("rule namespaces"),
            "{kind}: {err}"
        );
        assert!(!root.join(&id).exists(), "{kind}: state left behind");
        let last = w.audit().last().cloned().unwrap();
        assert_eq!(last["decision"], "denied", "{kind}: {last}");

        // the profile's exception authorizes it for kube-system: the container's init is in the
        // host's namespace, and the record says so
        let id = format!("hns-{kind}-granted");
        let (b, root) = w.cri_bundle(&id, &["sleep", "1000"], pod("kube-system", omit));
        let out = w.hr_in(
            &root,
            &[
                "--profile",
                "k8s",
                "run",
                "-d",
                "--bundle",
                b.to_str().unwrap(),
                &id,
            ],
        );
        assert!(out.status.success(), "{kind}: {}", stderr(&out));
        let pid = pid_in(&w, &root, &id);
        for n in omit.iter().map(|k| if *k == "network" { "net" } else { k }) {
            assert_eq!(
                ns_of(&pid, n),
                ns_of("self", n),
                "{kind}: the container's {n} namespace is not the host's"
            );
        }
        assert_eq!(ns_of(&pid, proc_name), ns_of("self", proc_name));
        let create = w.audit().last().cloned().unwrap();
        assert_eq!(create["command"], "create", "{create}");
        assert_eq!(create["exceptions_used"], json!(["k8s#0"]), "{create}");
        let found: Vec<&Value> = create["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                f["code"] == "namespaces"
                    && f["message"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("{kind} namespace omitted"))
            })
            .collect();
        assert_eq!(found.len(), 1, "{kind}: {create}");
        assert_eq!(found[0]["action"], "audit", "{kind}: {}", found[0]);
        let msg = found[0]["message"].as_str().unwrap();
        assert!(
            msg.contains("pod kube-system/web") && msg.contains("runs in the host's"),
            "{msg}"
        );
        // the live check holds it to what was authorized, not to private namespaces
        let live = w.hr_in(
            &root,
            &["check", "--running", "--live", "--format", "json", &id],
        );
        assert_eq!(
            live.status.code(),
            Some(0),
            "{kind}: {}{}",
            stdout(&live),
            stderr(&live)
        );
        let o = w.hr_in(&root, &["delete", "--force", &id]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

/// Outside the CRI (a hand-written spec, Docker's or podman's `--pid host`) the omission is the
/// same request: restricted refuses it (no exception can authorize it: only containerd's CRI
/// vouches for a Kubernetes namespace), permissive runs it in the host's, as runc does.
#[test]
fn a_spec_leaving_pid_out_is_refused_by_restricted_and_runs_in_the_hosts_under_permissive() {
    let w = World::new("hns-plain");
    let b = w.bundle_with("b", &["sleep", "1000"], |s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
    });
    let out = w.hr(&[
        "--profile",
        "restricted",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "hnp1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("pid namespace omitted: the spec asks for the host's"),
        "{err}"
    );
    w.assert_nothing_left("hnp1");

    let out = w.hr(&[
        "--profile",
        "permissive",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "hnp2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = w.state("hnp2")["pid"].as_i64().unwrap().to_string();
    assert_eq!(ns_of(&pid, "pid"), ns_of("self", "pid"));
    let o = w.hr(&["delete", "--force", "hnp2"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A node agent with host network, PID and IPC, and the host's `/dev/shm` bound writable, as
/// containerd's CRI gives a `hostIPC` pod: the namespaces rule notes the granted namespaces, and
/// the CIS gate does not hold the controls they fail (5.6, 5.10, 5.16, 5.17, 5.21, 5.31) against
/// it, so it runs under restricted's 85 %, in the host's namespaces, with the rest of restricted
/// in place (without the exception it is refused: the test above). Before the gate knew of
/// exceptions, this container was refused by `cis-score` at 70 %.
#[test]
fn an_authorized_pod_with_every_host_namespace_passes_the_gate() {
    let w = World::new("hns-all");
    k8s_profile_for(&w, "\"network\", \"pid\", \"ipc\"");
    let all: &'static [&'static str] = &["network", "uts", "pid", "ipc"];
    let (b, root) = w.cri_bundle("hns-all", &["sleep", "1000"], |s: &mut Value| {
        pod("kube-system", all)(s);
        s["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/dev/shm",
            "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate", "rw"]}));
    });
    let out = w.hr_in(
        &root,
        &[
            "--profile",
            "k8s",
            "run",
            "-d",
            "--bundle",
            b.to_str().unwrap(),
            "hns-all",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = pid_in(&w, &root, "hns-all");
    for n in ["net", "uts", "pid", "ipc"] {
        assert_eq!(ns_of(&pid, n), ns_of("self", n), "{n}");
    }
    // the rest of restricted holds, read from the host
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert_eq!(field("Uid:"), "65534", "{status}");
    assert_eq!(field("Seccomp:"), "2", "{status}");
    assert_eq!(field("NoNewPrivs:"), "1", "{status}");
    // restricted keeps CAP_NET_BIND_SERVICE (bit 10) and nothing else
    let cap_eff = u64::from_str_radix(&field("CapEff:"), 16).unwrap();
    assert_eq!(cap_eff & !(1 << 10), 0, "{status}");
    let create = w.audit().last().cloned().unwrap();
    assert_eq!(create["decision"], "allowed", "{create}");
    let excepted: Vec<&str> = create["score"]["excepted"]
        .as_array()
        .unwrap_or_else(|| panic!("no excepted controls: {create}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        excepted,
        ["5.6", "5.10", "5.16", "5.17", "5.21", "5.31"],
        "{create}"
    );
    assert!(
        create["score"]["level1"].as_f64().unwrap() >= 85.0,
        "{create}"
    );
    let o = w.hr_in(&root, &["delete", "--force", "hns-all"]);
    assert!(o.status.success(), "{}", stderr(&o));
}
