//! `namespaces` (CIS 5.10, 5.16, 5.17, 5.21; each finding carries only its own namespace's
//! control, see [`cis_of`]): the required namespaces are present (a namespace
//! missing from `linux.namespaces` is the host's) and none of them is joined to the host's. A
//! missing one is added; joining the host's cannot be rewritten away without changing what the
//! workload is (host networking, host PID), so it is refused under enforce.

use serde_json::{json, Value};

use super::{Proposal, RuleCtx};
use crate::policy::edit::Edit;
use crate::profile::Profile;

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

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    let list = spec
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = vec![];
    let mut next = list.len();
    for kind in &profile.namespaces.required {
        let found = list
            .iter()
            .position(|n| n.get("type").and_then(Value::as_str) == Some(kind.as_str()));
        match found {
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
                let host = ctx.host.host_ns(proc_name(kind));
                let target = ctx.host.ns_at(path);
                // /proc/1/ns/* names the host's namespace whatever this process can stat
                let names_pid1 = path.trim_end_matches('/').starts_with("/proc/1/ns/");
                if names_pid1 || (host.is_some() && host == target) {
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
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

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
        let fixed_spec = fixed(evaluate, &json!({}), &p);
        assert_eq!(
            fixed_spec["linux"]["namespaces"].as_array().unwrap().len(),
            6
        );
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
}
