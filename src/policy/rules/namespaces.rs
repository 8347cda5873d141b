//! `namespaces` (CIS 5.10, 5.16, 5.17, 5.21; each finding carries only its own namespace's
//! control, see [`cis_of`]): the required namespaces are present (a namespace
//! missing from `linux.namespaces` is the host's) and none of them is joined to the host's. A
//! missing one is added; joining the host's cannot be rewritten away without changing what the
//! workload is (host networking, host PID), so it is refused under enforce.

use serde_json::{json, Value};

use super::{Proposal, Rule, RuleCtx};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::{Profile, HOST_NAMESPACE_KINDS};

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "pid, ipc, uts, mount, network and cgroup namespaces are private, never the host's",
    severity: Severity::High,
    process: false,
    evaluate: Some(evaluate),
};

/// The CIS Docker Benchmark control about sharing the host's namespace of this OCI type: network
/// 5.10, pid 5.16, ipc 5.17, uts 5.21, user 5.31. No control is about the mount, cgroup or time
/// namespace, so their findings carry none (they still count against the rule).
pub fn cis_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "network" => &["5.10"],
        "pid" => &["5.16"],
        "ipc" => &["5.17"],
        "uts" => &["5.21"],
        "user" => &["5.31"],
        _ => &[],
    }
}

/// OCI namespace type → /proc/<pid>/ns file name.
fn proc_name(kind: &str) -> &str {
    match kind {
        "network" => "net",
        "mount" => "mnt",
        other => other,
    }
}

/// The kinds of [`HOST_NAMESPACE_KINDS`] that `spec` leaves out of `linux.namespaces`: in OCI
/// the runtime's own, i.e. the host's. This is how every caller asks for a host namespace:
/// containerd's and CRI-O's CRI for `hostNetwork` (network and uts), `hostPID`, `hostIPC`;
/// Docker, podman and nerdctl for `--network`/`--pid`/`--ipc`/`--uts host`.
pub fn omitted_host_kinds(spec: &Value) -> Vec<&'static str> {
    let list = spec
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    HOST_NAMESPACE_KINDS
        .iter()
        .copied()
        .filter(|k| {
            !list
                .iter()
                .any(|n| n.get("type").and_then(Value::as_str) == Some(k))
        })
        .collect()
}

/// The kinds of [`HOST_NAMESPACE_KINDS`] that `spec` joins by a path naming the host's
/// namespace: the containers of a `hostNetwork`/`hostPID`/`hostIPC` pod, which containerd's CRI
/// points at the sandbox's namespaces (`/proc/<pause>/ns/uts`), the host's once the sandbox
/// runs in them. A host-namespaces exception that authorized the sandbox covers them too.
pub fn host_joined_kinds(spec: &Value, host: &dyn crate::base::host::Host) -> Vec<&'static str> {
    let list = spec
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    HOST_NAMESPACE_KINDS
        .iter()
        .copied()
        .filter(|k| {
            list.iter().any(|n| {
                n.get("type").and_then(Value::as_str) == Some(k)
                    && n.get("path")
                        .and_then(Value::as_str)
                        .filter(|p| !p.is_empty())
                        .is_some_and(|p| joins_host(p, k, host))
            })
        })
        .collect()
}

/// `path` names the host's namespace of `kind`: `/proc/1/ns/*` whatever this process can stat,
/// or the same inode as the host's.
fn joins_host(path: &str, kind: &str, host: &dyn crate::base::host::Host) -> bool {
    let names_pid1 = path.trim_end_matches('/').starts_with("/proc/1/ns/");
    let h = host.host_ns(proc_name(kind));
    names_pid1 || (h.is_some() && h == host.ns_at(path))
}

/// The Kubernetes pod field that asks for the host's namespace of this kind.
fn pod_field(kind: &str) -> &'static str {
    match kind {
        "network" => "hostNetwork",
        "pid" => "hostPID",
        "ipc" => "hostIPC",
        _ => "hostNetwork, which shares the host's uts namespace too",
    }
}

/// Whether the annotations are those of a pod's container or sandbox (containerd's CRI or
/// CRI-O write its type).
pub fn is_pod(ann: &std::collections::BTreeMap<String, String>) -> bool {
    ann.contains_key("io.kubernetes.cri.container-type")
        || ann.contains_key("io.kubernetes.cri-o.ContainerType")
}

/// The pod a CRI spec belongs to, from the annotations containerd's CRI (or CRI-O) writes:
/// `pod <namespace>/<name> (container <name>)`, `… (sandbox)`. `None`: not a pod's spec.
fn pod_of(ann: &std::collections::BTreeMap<String, String>) -> Option<String> {
    let get = |keys: &[&str]| keys.iter().find_map(|k| ann.get(*k).map(String::as_str));
    let kind = get(&[
        "io.kubernetes.cri.container-type",
        "io.kubernetes.cri-o.ContainerType",
    ]);
    let ns = get(&[
        "io.kubernetes.cri.sandbox-namespace",
        "io.kubernetes.pod.namespace",
    ]);
    let name = get(&["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]);
    if kind.is_none() && ns.is_none() && name.is_none() {
        return None;
    }
    let mut who = format!("pod {}/{}", ns.unwrap_or("?"), name.unwrap_or("?"));
    if kind == Some("sandbox") {
        who.push_str(" (sandbox)");
    } else if let Some(c) = get(&[
        "io.kubernetes.cri.container-name",
        "io.kubernetes.container.name",
    ]) {
        who.push_str(&format!(" (container {c})"));
    }
    Some(who)
}

/// Where a host-namespace finding sorts: network, pid, ipc, uts first (a `hostNetwork` pod's
/// refusal names `network`), every other finding after them in its own order.
fn rank(p: &Proposal) -> usize {
    let last = HOST_NAMESPACE_KINDS.len();
    if p.pointer != "/linux/namespaces" {
        return last;
    }
    HOST_NAMESPACE_KINDS
        .iter()
        .position(|k| p.message.starts_with(&format!("{k} namespace omitted")))
        .unwrap_or(last)
}

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    let list = spec
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = vec![];
    let mut next = list.len();
    let pod = pod_of(ctx.annotations);
    for kind in &profile.namespaces.required {
        let found = list
            .iter()
            .position(|n| n.get("type").and_then(Value::as_str) == Some(kind.as_str()));
        match found {
            // left out: the host's, asked for (a pod's hostNetwork, Docker's --pid host): refused
            // unless an exception authorized it, never replaced by a new one behind its back
            None if HOST_NAMESPACE_KINDS.contains(&kind.as_str()) => {
                let who = pod.as_deref().unwrap_or("the spec");
                let why = match &pod {
                    Some(_) => pod_field(kind).to_owned(),
                    None => format!(
                        "a namespace left out of an OCI spec is the runtime's own: how Docker and podman ask for --{kind} host"
                    ),
                };
                let p = if ctx.granted.host_namespaces.contains(kind) {
                    Proposal::note(
                        "/linux/namespaces",
                        format!(
                            "{kind} namespace omitted: {who} runs in the host's ({why}), authorized by a host-namespaces exception of profile {}",
                            profile.name
                        ),
                    )
                } else {
                    Proposal::refuse(
                        "/linux/namespaces",
                        format!(
                            "{kind} namespace omitted: {who} asks for the host's ({why}); profile {} authorizes no host {kind} namespace for it",
                            profile.name
                        ),
                    )
                };
                out.push(p.tagged(cis_of(kind)));
            }
            None => {
                out.push(
                    Proposal::fix(
                        format!("/linux/namespaces/{next}"),
                        format!("{kind} namespace missing: the container would share the host's"),
                        vec![Edit::push("/linux/namespaces", json!({"type": kind}))],
                    )
                    .tagged(cis_of(kind)),
                );
                next += 1;
            }
            Some(i) => {
                let Some(path) = list[i]
                    .get("path")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
                else {
                    continue;
                };
                let pointer = format!("/linux/namespaces/{i}/path");
                let host_kind = HOST_NAMESPACE_KINDS.contains(&kind.as_str());
                if joins_host(path, kind, ctx.host)
                    && host_kind
                    && ctx.granted.host_namespaces.contains(kind)
                {
                    // a container of an authorized host-namespace pod joining its sandbox's
                    let who = pod.as_deref().unwrap_or("the spec");
                    out.push(
                        Proposal::note(
                            pointer,
                            format!(
                                "{kind} namespace {path} is the host's: {who} runs in it, authorized by a host-namespaces exception of profile {}",
                                profile.name
                            ),
                        )
                        .tagged(cis_of(kind)),
                    );
                } else if joins_host(path, kind, ctx.host) {
                    out.push(
                        Proposal::refuse(pointer, format!("{kind} namespace {path} is the host's"))
                            .tagged(cis_of(kind)),
                    );
                } else if profile.namespaces.private.contains(kind) {
                    out.push(
                        Proposal::refuse(
                            pointer,
                            format!(
                                "{kind} namespace joins {path}; profile {} requires a new one",
                                profile.name
                            ),
                        )
                        .tagged(cis_of(kind)),
                    );
                }
            }
        }
    }
    out.sort_by_key(rank);
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::policy::rules::{Granted, TestHost};

    #[test]
    fn table() {
        let p = profile("restricted");
        let all = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}, {"type": "cgroup"}]);
        // complete: nothing to do
        assert!(run(evaluate, &json!({"linux": {"namespaces": all}}), &p).is_empty());
        // docker on cgroup v1 gives no cgroup namespace; a bare spec gives none at all
        let fixed_spec = fixed(
            evaluate,
            &json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}}),
            &p,
        );
        assert_eq!(
            fixed_spec["linux"]["namespaces"].as_array().unwrap().len(),
            6
        );
        // a bare spec: mount and cgroup added; network, pid, ipc, uts left out are the host's,
        // asked for: refused, network first
        let r = run(evaluate, &json!({}), &p);
        let refused: Vec<_> = r.iter().filter(|p| !p.fixable).collect();
        assert_eq!(refused.len(), 4, "{r:?}");
        assert!(
            refused[0]
                .message
                .starts_with("network namespace omitted: the spec asks for the host's"),
            "{}",
            refused[0].message
        );
        assert_eq!(refused[0].pointer, "/linux/namespaces");
        assert_eq!(refused[0].cis, Some(&["5.10"][..]));
        let added: Vec<_> = r.iter().filter(|p| p.fixable).map(|p| &p.pointer).collect();
        assert_eq!(added, ["/linux/namespaces/0", "/linux/namespaces/1"]);
        // joining a pod's network namespace is fine; the host's is refused
        let mut pod = all.clone();
        pod[4]["path"] = json!("/proc/4242/ns/net");
        assert!(run(evaluate, &json!({"linux": {"namespaces": pod}}), &p).is_empty());
        let mut host = all.clone();
        host[0]["path"] = json!("/proc/1/ns/pid");
        let r = run(evaluate, &json!({"linux": {"namespaces": host}}), &p);
        assert_eq!(r.len(), 1);
        assert!(!r[0].fixable);
        assert_eq!(r[0].pointer, "/linux/namespaces/0/path");
        assert_eq!(r[0].message, "pid namespace /proc/1/ns/pid is the host's");
        // ci-runner: even a pod's network namespace is refused
        let r = run(
            evaluate,
            &json!({"linux": {"namespaces": pod}}),
            &profile("ci-runner"),
        );
        assert_eq!(r.len(), 1);
        assert!(
            r[0].message.contains("requires a new one"),
            "{}",
            r[0].message
        );
    }

    /// A pod's spec (containerd's CRI annotations) leaving namespaces out asks for the host's:
    /// refused naming the namespace and the pod, or noted where an exception granted it.
    #[test]
    fn a_pod_leaving_a_namespace_out_asks_for_the_hosts() {
        let p = profile("restricted");
        let spec =
            json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "mount"}]}});
        let ann = kube_system_pod("cni", "agent");
        let eval = |granted: &Granted| eval_in_pod(&spec, &p, &ann, granted);
        let r = eval(&Granted::default());
        assert_eq!(
            r[0].message,
            "network namespace omitted: pod kube-system/cni (container agent) asks for the host's (hostNetwork); profile restricted authorizes no host network namespace for it"
        );
        assert!(!r[0].fixable && !r[0].noted);
        assert!(r[1]
            .message
            .starts_with("uts namespace omitted: pod kube-system/cni"));
        // granted: noted, nothing added, nothing refused (cgroup is still added)
        let granted = Granted {
            host_namespaces: vec!["network".into(), "uts".into()],
            ..Default::default()
        };
        let r = eval(&granted);
        assert!(r.iter().all(|p| p.fixable), "{r:?}");
        assert_eq!(r.iter().filter(|p| p.noted).count(), 2, "{r:?}");
        assert!(r[0].message.contains("runs in the host's (hostNetwork)"));
        assert_eq!(r.iter().filter(|p| !p.edits.is_empty()).count(), 1);
    }

    /// The CRI annotations of container `container` in pod `kube-system/<pod>`.
    fn kube_system_pod(pod: &str, container: &str) -> std::collections::BTreeMap<String, String> {
        [
            ("io.kubernetes.cri.container-type", "container"),
            ("io.kubernetes.cri.sandbox-namespace", "kube-system"),
            ("io.kubernetes.cri.sandbox-name", pod),
            ("io.kubernetes.cri.container-name", container),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The rule on `spec` for a pod container with annotations `ann` and what `granted` grants.
    fn eval_in_pod(
        spec: &serde_json::Value,
        p: &Profile,
        ann: &std::collections::BTreeMap<String, String>,
        granted: &Granted,
    ) -> Vec<Proposal> {
        let ctx = RuleCtx {
            id: "t",
            annotations: ann,
            granted,
            host: &TestHost,
            userns: None,
            sources: Sources::none(),
            tripwires: None,
        };
        evaluate(spec, p, &ctx)
    }

    /// The containers of a host-namespace pod join the sandbox's namespaces by path, which are
    /// the host's: refused, unless the exception that authorized the sandbox grants the kind.
    #[test]
    fn a_pod_container_joining_the_hosts_namespace_by_path() {
        let p = profile("restricted");
        let spec = json!({"linux": {"namespaces": [{"type": "pid", "path": "/proc/1/ns/pid"},
            {"type": "ipc"}, {"type": "uts", "path": "/proc/1/ns/uts"}, {"type": "mount"},
            {"type": "network", "path": "/proc/4242/ns/net"}, {"type": "cgroup"}]}});
        assert_eq!(host_joined_kinds(&spec, &TestHost), ["pid", "uts"]);
        assert!(omitted_host_kinds(&spec).is_empty());
        let ann = kube_system_pod("agent", "main");
        let eval = |granted: &Granted| eval_in_pod(&spec, &p, &ann, granted);
        let r = eval(&Granted::default());
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r.iter().all(|p| !p.fixable && !p.noted), "{r:?}");
        assert_eq!(r[0].message, "pid namespace /proc/1/ns/pid is the host's");
        // only pid granted: uts is still refused
        let granted = Granted {
            host_namespaces: vec!["pid".into()],
            ..Default::default()
        };
        let r = eval(&granted);
        assert!(r[0].noted && r[0].fixable, "{r:?}");
        assert_eq!(
            r[0].message,
            "pid namespace /proc/1/ns/pid is the host's: pod kube-system/agent (container main) runs in it, authorized by a host-namespaces exception of profile restricted"
        );
        assert!(!r[1].fixable && !r[1].noted, "{r:?}");
        assert_eq!(r[1].message, "uts namespace /proc/1/ns/uts is the host's");
    }
}
