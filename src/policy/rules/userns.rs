//! `userns` (CIS 5.31): the container runs in a user namespace whose ids map to a host range of
//! its own, so root inside is an unprivileged id outside. A spec without a user namespace gets
//! one, mapped to the range the runtime allocated for this container (`RuleCtx::userns`, see
//! `crate::runtime::userns`). Without an allocated range the edits use the pool's first range as a
//! placeholder: they can be recorded (audit) but never applied, since a range shared by several
//! containers would let them reach each other's files, so under enforce the container is refused.
//! A spec that brings its own user namespace keeps it, unless it maps an id onto host root.
//!
//! `net.ipv4.ping_group_range` names gids of the container's user namespace, and the kernel
//! refuses (EINVAL) a range with a gid the namespace does not map: Docker's default spec sets
//! `0 2147483647`, which no namespace of 65536 ids can take. Where the container gets (or has) a
//! user namespace, the range is clamped to the gids it maps, recorded as a finding of this rule.

use serde_json::{json, Value};

use super::{Host, Proposal, Rule, RuleCtx};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "the container runs in a user namespace mapped to a host id range of its own, never to host root",
    severity: Severity::Medium,
    process: false,
    evaluate: Some(evaluate),
};

/// Whether the rule would need a host id range for `spec`: it has no user namespace (and joins
/// no container's that has one, see [`pod_user_namespace`]), or a new one without id mappings.
pub fn needs_range(spec: &Value, host: &dyn Host) -> bool {
    let Some((_, ns)) = user_namespace(spec) else {
        return matches!(pod_user_namespace(spec, host), Ok(None));
    };
    let joins = ns
        .get("path")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    let has_mappings = mapped(spec, "uid") && mapped(spec, "gid");
    !(joins || has_mappings)
}

/// The host namespace granted to the container (a `host-namespaces` exception) that rules out a
/// user namespace of its own: the kernel lets a user namespace mount `proc` only for a pid
/// namespace it owns, and `mqueue` only for an ipc namespace it owns (runc fails the same way;
/// Kubernetes refuses `hostPID`/`hostIPC` with `hostUsers: false`).
pub fn shares_host(granted: &super::Granted) -> Option<&'static str> {
    ["pid", "ipc"]
        .into_iter()
        .find(|k| granted.host_namespaces.iter().any(|g| g == k))
}

fn mapped(spec: &Value, kind: &str) -> bool {
    spec.pointer(&format!("/linux/{kind}Mappings"))
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn user_namespace(spec: &Value) -> Option<(usize, &Value)> {
    spec.pointer("/linux/namespaces")
        .and_then(Value::as_array)?
        .iter()
        .enumerate()
        .find(|(_, n)| n.get("type").and_then(Value::as_str) == Some("user"))
}

/// The user namespace of the containers whose namespaces `spec` joins (`/proc/<pid>/ns/<kind>`
/// paths: a Kubernetes pod's sandbox, Docker's `--network container:`, a podman pod's infra
/// container), when they run in one: `/proc/<pid>/ns/user`. A container that joins another's
/// namespaces must join its user namespace too: from a user namespace of its own it could not
/// enter namespaces owned by another (EPERM), and a pod shares one host id range, as with
/// Kubernetes' user namespaces. `Err` when the joined containers are in different user
/// namespaces; `None` when none of them is in one.
pub fn pod_user_namespace(spec: &Value, host: &dyn Host) -> Result<Option<String>, String> {
    let host_userns = host.host_ns("user");
    let mut found: Option<(String, u64)> = None;
    for ns in spec
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(path) = ns.get("path").and_then(Value::as_str) else {
            continue;
        };
        let Some(pid) = path
            .strip_prefix("/proc/")
            .and_then(|r| r.split_once("/ns/"))
            .and_then(|(pid, kind)| {
                (!kind.contains('/') && pid.bytes().all(|b| b.is_ascii_digit())).then_some(pid)
            })
            .filter(|pid| !pid.is_empty())
        else {
            continue;
        };
        let user = format!("/proc/{pid}/ns/user");
        let Some(ino) = host.ns_at(&user).filter(|i| Some(*i) != host_userns) else {
            continue;
        };
        match &found {
            None => found = Some((user, ino)),
            Some((first, other)) if *other != ino => {
                return Err(format!(
                    "joins namespaces of containers in different user namespaces ({first}, {user})"
                ))
            }
            Some(_) => {}
        }
    }
    Ok(found.map(|(p, _)| p))
}

/// The two spellings of the key (the runtime turns dots into slashes).
const PING_KEYS: [&str; 2] = ["net.ipv4.ping_group_range", "net/ipv4/ping_group_range"];

/// `net.ipv4.ping_group_range` clamped to the gids `maps` (container gid, count) map: the part
/// of the range inside the mapped block it overlaps most, or `1 0` (nobody, the kernel's
/// default) when it overlaps none. `None` when the value is already mapped (or not two numbers,
/// which the kernel refuses anyway). `fixable` as the rule's other proposal for this container.
fn clamp_ping_range(spec: &Value, maps: &[(u64, u64)], fixable: bool) -> Option<Proposal> {
    let sysctl = spec.pointer("/linux/sysctl").and_then(Value::as_object)?;
    let (key, value) = PING_KEYS
        .iter()
        .find_map(|k| sysctl.get(*k).map(|v| (*k, v)))?;
    let text = value.as_str()?;
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(lo)), Some(Ok(hi)), None) = (it.next(), it.next(), it.next()) else {
        return None;
    };
    if lo > hi {
        return None; // empty: nobody may ping, nothing to map
    }
    let inside = |(c, n): (u64, u64)| n > 0 && c <= lo && hi < c.saturating_add(n);
    if maps.iter().any(|m| inside(*m)) {
        return None;
    }
    let overlap = |(c, n): (u64, u64)| {
        let (a, b) = (lo.max(c), hi.min(c.saturating_add(n).saturating_sub(1)));
        (n > 0 && a <= b).then_some((a, b))
    };
    let best = maps
        .iter()
        .filter_map(|m| overlap(*m))
        .max_by_key(|(a, b)| b - a);
    let (after, why) = match best {
        Some((a, b)) => (format!("{a} {b}"), format!("gids {a}-{b} of the range")),
        None => ("1 0".to_owned(), "none of the range".to_owned()),
    };
    let ptr = format!("/linux/sysctl/{}", crate::policy::edit::escape(key));
    Some(Proposal {
        pointer: ptr.clone(),
        message: format!(
            "sysctl {key}={text:?} clamped to {after:?}: the container's user namespace maps {why} (the kernel refuses unmapped gids)"
        ),
        edits: vec![Edit::set(ptr, after)],
        fixable,
        cis: None,
        noted: false,
    })
}

/// `ping_group_range` of a container that joins the user namespace at `path` (a pod's): held
/// to that namespace's gid map, read from the host (a container of the pod sets its network
/// namespace's sysctls from inside the pod's user namespace).
fn clamp_joined(spec: &Value, path: &str, host: &dyn Host, fixable: bool) -> Option<Proposal> {
    clamp_ping_range(spec, &host.gid_map(path)?, fixable)
}

/// The spec's own gid mappings: (container gid, count).
fn gid_maps(spec: &Value) -> Vec<(u64, u64)> {
    spec.pointer("/linux/gidMappings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| {
            let get = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
            (get("containerID"), get("size"))
        })
        .collect()
}

fn mapping(start: u32, size: u32) -> Value {
    json!([{"containerID": 0, "hostID": start, "size": size}])
}

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    if spec.get("linux").is_some_and(|l| !l.is_object()) {
        return vec![];
    }
    let (start, size, fixable) = match ctx.userns {
        Some((start, size)) => (start, size, true),
        None => {
            let (start, size) = profile.userns.range(0);
            (start, size, false)
        }
    };
    let unallocated = if fixable {
        String::new()
    } else {
        "; no host id range was allocated for it".to_owned()
    };
    let set_mappings = || {
        vec![
            Edit::set("/linux/uidMappings", mapping(start, size)),
            Edit::set("/linux/gidMappings", mapping(start, size)),
        ]
    };
    if user_namespace(spec).is_none() {
        if let Some(kind) = shares_host(ctx.granted) {
            return vec![Proposal::note(
                "/linux/namespaces",
                format!(
                    "user namespace not added: the container runs in the host's {kind} namespace (a host-namespaces exception), which a user namespace of its own could not mount /proc or /dev/mqueue for"
                ),
            )];
        }
    }
    let Some((i, ns)) = user_namespace(spec) else {
        let next = spec
            .pointer("/linux/namespaces")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        match pod_user_namespace(spec, ctx.host) {
            Ok(Some(path)) => {
                // the joined namespace brings its own id maps; mappings left in the spec (which
                // named no user namespace, so nothing used them) would contradict them
                let mut edits = vec![Edit::push(
                    "/linux/namespaces",
                    json!({"type": "user", "path": path}),
                )];
                for kind in ["uid", "gid"] {
                    let ptr = format!("/linux/{kind}Mappings");
                    if spec.pointer(&ptr).is_some() {
                        edits.push(Edit::remove(ptr));
                    }
                }
                let mut out = vec![Proposal::fix(
                    format!("/linux/namespaces/{next}"),
                    format!(
                        "user namespace missing: container root would be host root; joins {path}, the user namespace of the containers whose namespaces it joins"
                    ),
                    edits,
                )];
                out.extend(clamp_joined(spec, &path, ctx.host, true));
                return out;
            }
            Err(msg) => {
                return vec![Proposal::refuse(
                    format!("/linux/namespaces/{next}"),
                    format!("user namespace missing: container root would be host root; it {msg}"),
                )]
            }
            Ok(None) => {}
        }
        let next = spec
            .pointer("/linux/namespaces")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let mut edits = vec![Edit::push("/linux/namespaces", json!({"type": "user"}))];
        edits.extend(set_mappings());
        let mut out = vec![Proposal {
            pointer: format!("/linux/namespaces/{next}"),
            message: format!(
                "user namespace missing: container root would be host root; mapped to host ids {start}-{}{unallocated}",
                u64::from(start) + u64::from(size) - 1
            ),
            edits,
            fixable,
            cis: None,
            noted: false,
        }];
        out.extend(clamp_ping_range(spec, &[(0, u64::from(size))], fixable));
        return out;
    };
    // the spec's own user namespace: nothing it maps may land on host root
    for kind in ["uid", "gid"] {
        let ptr = format!("/linux/{kind}Mappings");
        let maps = spec
            .pointer(&ptr)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (j, m) in maps.iter().enumerate() {
            let host = m.get("hostID").and_then(Value::as_u64);
            let cont = m.get("containerID").and_then(Value::as_u64).unwrap_or(0);
            let n = m.get("size").and_then(Value::as_u64).unwrap_or(0);
            if host == Some(0) && n > 0 {
                let what = if cont == 0 {
                    "root".to_owned()
                } else {
                    format!("{kind} {cont}")
                };
                return vec![Proposal::refuse(
                    format!("{ptr}/{j}"),
                    format!("user namespace maps {what} to host root"),
                )];
            }
        }
    }
    let joins = ns
        .get("path")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    if joins {
        let path = ns["path"].as_str().unwrap_or_default();
        let host = ctx.host.host_ns("user");
        let names_pid1 = path.trim_end_matches('/').starts_with("/proc/1/ns/");
        if names_pid1 || (host.is_some() && host == ctx.host.ns_at(path)) {
            return vec![Proposal::refuse(
                format!("/linux/namespaces/{i}/path"),
                format!("user namespace {path} is the host's"),
            )];
        }
        return clamp_joined(spec, path, ctx.host, true)
            .into_iter()
            .collect();
    }
    if mapped(spec, "uid") && mapped(spec, "gid") {
        return clamp_ping_range(spec, &gid_maps(spec), true)
            .into_iter()
            .collect();
    }
    let mut out = vec![Proposal {
        pointer: "/linux/uidMappings".into(),
        message: format!(
            "user namespace without id mappings; mapped to host ids {start}-{}{unallocated}",
            u64::from(start) + u64::from(size) - 1
        ),
        edits: set_mappings(),
        fixable,
        cis: None,
        noted: false,
    }];
    out.extend(clamp_ping_range(spec, &[(0, u64::from(size))], fixable));
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Granted;
    use super::*;
    use crate::policy::edit::apply;

    const RANGE: Option<(u32, u32)> = Some((165536, 65536));

    fn with(spec: &Value, userns: Option<(u32, u32)>) -> Vec<Proposal> {
        run_with(
            evaluate,
            spec,
            &profile("restricted"),
            &Granted::default(),
            userns,
        )
    }

    fn fix(spec: &Value) -> Value {
        let mut out = spec.clone();
        for p in with(spec, RANGE) {
            assert!(p.fixable, "{}", p.message);
            for e in &p.edits {
                apply(&mut out, e).unwrap();
            }
        }
        assert!(with(&out, RANGE).is_empty(), "not idempotent");
        out
    }

    #[test]
    fn table() {
        let want_map = json!([{"containerID": 0, "hostID": 165536, "size": 65536}]);
        // no user namespace: added, mapped to the allocated range
        let spec = json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}});
        let out = fix(&spec);
        assert_eq!(out["linux"]["namespaces"][2], json!({"type": "user"}));
        assert_eq!(out["linux"]["uidMappings"], want_map);
        assert_eq!(out["linux"]["gidMappings"], want_map);
        let p = &with(&spec, RANGE)[0];
        assert_eq!(p.pointer, "/linux/namespaces/2");
        assert_eq!(
            p.message,
            "user namespace missing: container root would be host root; mapped to host ids 165536-231071"
        );
        // no linux section at all
        let out = fix(&json!({"process": {"args": ["sh"]}}));
        assert_eq!(out["linux"]["namespaces"], json!([{"type": "user"}]));
        assert_eq!(out["linux"]["uidMappings"], want_map);

        // a user namespace without mappings gets them
        let spec = json!({"linux": {"namespaces": [{"type": "user"}]}});
        let out = fix(&spec);
        assert_eq!(out["linux"]["namespaces"], json!([{"type": "user"}]));
        assert_eq!(out["linux"]["gidMappings"], want_map);

        // the caller's own mapping is kept
        let own = json!({"linux": {"namespaces": [{"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]}});
        assert!(with(&own, RANGE).is_empty());
        assert!(with(&own, None).is_empty());
        // joining a container's user namespace is kept, the host's is refused
        let join = json!({"linux": {"namespaces": [{"type": "user", "path": "/proc/42/ns/user"}]}});
        assert!(with(&join, RANGE).is_empty());
        let host = json!({"linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}]}});
        let r = with(&host, RANGE);
        assert!(!r[0].fixable);
        assert_eq!(r[0].message, "user namespace /proc/1/ns/user is the host's");

        // the runtime allocates a range exactly when the rule would use one
        let h = &crate::policy::rules::TestHost;
        assert!(needs_range(&spec, h));
        assert!(needs_range(&json!({}), h));
        assert!(!needs_range(&own, h));
        assert!(!needs_range(&join, h));
    }

    #[test]
    fn a_container_joining_a_pods_namespaces_joins_its_user_namespace() {
        let h = &crate::policy::rules::TestHost;
        // a CRI container: the sandbox's (pid 42, in a user namespace) ipc, uts and network
        let spec = json!({"linux": {"namespaces": [
            {"type": "pid"},
            {"type": "ipc", "path": "/proc/42/ns/ipc"},
            {"type": "uts", "path": "/proc/42/ns/uts"},
            {"type": "network", "path": "/proc/42/ns/net"},
            {"type": "mount"}]}});
        assert_eq!(
            pod_user_namespace(&spec, h),
            Ok(Some("/proc/42/ns/user".into()))
        );
        assert!(!needs_range(&spec, h));
        let r = with(&spec, None);
        assert_eq!(r.len(), 1);
        assert!(r[0].fixable, "no range needed: {}", r[0].message);
        assert_eq!(r[0].pointer, "/linux/namespaces/5");
        assert_eq!(
            r[0].message,
            "user namespace missing: container root would be host root; joins /proc/42/ns/user, the user namespace of the containers whose namespaces it joins"
        );
        let out = fix(&spec);
        assert_eq!(
            out["linux"]["namespaces"][5],
            json!({"type": "user", "path": "/proc/42/ns/user"})
        );
        assert!(out["linux"].get("uidMappings").is_none());

        // mappings left in a spec that names no user namespace (the fuzzer's find: root onto
        // host root) go with the join; kept, the hardened spec is refused on a second look
        let mut stale = spec.clone();
        stale["linux"]["uidMappings"] =
            json!([{"containerID": 0, "hostID": 0, "size": 4294967295u64}]);
        stale["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
        let out = fix(&stale);
        assert!(out["linux"].get("uidMappings").is_none(), "{out}");
        assert!(out["linux"].get("gidMappings").is_none(), "{out}");

        // the joined process is in the host's user namespace (pid 7 of the test host): a range
        // of its own, as before
        let host_side =
            json!({"linux": {"namespaces": [{"type": "ipc", "path": "/proc/7/ns/ipc"}]}});
        assert_eq!(pod_user_namespace(&host_side, h), Ok(None));
        assert!(needs_range(&host_side, h));
        assert_eq!(
            fix(&host_side)["linux"]["uidMappings"][0]["hostID"],
            json!(165536)
        );
        // pinned namespaces (not of a process) say nothing about a user namespace
        let pinned = json!({"linux": {"namespaces": [{"type": "network", "path": "/run/netns/cni-1"},
            {"type": "ipc", "path": "/proc/self/ns/ipc"}, {"type": "uts", "path": "/proc/42/ns/uts/x"}]}});
        assert_eq!(pod_user_namespace(&pinned, h), Ok(None));

        // containers in two different user namespaces: refused, never guessed
        struct TwoPods;
        impl Host for TwoPods {
            fn host_ns(&self, kind: &str) -> Option<u64> {
                crate::policy::rules::TestHost.host_ns(kind)
            }
            fn ns_at(&self, path: &str) -> Option<u64> {
                Some(if path.starts_with("/proc/42/") {
                    5000
                } else {
                    6000
                })
            }
            fn hard_rlimit(&self, _: &str) -> Option<u64> {
                None
            }
            fn seccomp_arch(&self) -> &'static str {
                "SCMP_ARCH_X86_64"
            }
        }
        let two = json!({"linux": {"namespaces": [{"type": "ipc", "path": "/proc/42/ns/ipc"},
            {"type": "network", "path": "/proc/43/ns/net"}]}});
        assert_eq!(
            pod_user_namespace(&two, &TwoPods),
            Err("joins namespaces of containers in different user namespaces (/proc/42/ns/user, /proc/43/ns/user)".into())
        );
        assert!(!needs_range(&two, &TwoPods));
    }

    #[test]
    fn ping_group_range_is_clamped_to_the_mapped_gids() {
        let docker = |ns: Value| {
            let mut s = json!({"linux": {"sysctl": {
                "net.ipv4.ping_group_range": "0 2147483647",
                "net.ipv4.ip_unprivileged_port_start": "0"}}});
            s["linux"]["namespaces"] = ns;
            s
        };
        // Docker's default spec under restricted: user namespace added, range clamped with it
        let spec = docker(json!([{"type": "network"}]));
        let r = with(&spec, RANGE);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[1].pointer, "/linux/sysctl/net.ipv4.ping_group_range");
        assert_eq!(
            r[1].message,
            "sysctl net.ipv4.ping_group_range=\"0 2147483647\" clamped to \"0 65535\": the container's user namespace maps gids 0-65535 of the range (the kernel refuses unmapped gids)"
        );
        assert!(r[1].fixable);
        let out = fix(&spec);
        assert_eq!(
            out["linux"]["sysctl"],
            json!({"net.ipv4.ping_group_range": "0 65535", "net.ipv4.ip_unprivileged_port_start": "0"})
        );
        // without a range: recorded with the placeholder, never fixable (like the namespace)
        let r = with(&spec, None);
        assert!(r.iter().all(|p| !p.fixable) && r.len() == 2);

        // a pod neighbour: joins another container's pid namespace, so its user namespace, and
        // sets its own network namespace's sysctls from inside it: held to that gid map
        let pod = docker(json!([{"type": "pid", "path": "/proc/42/ns/pid"}, {"type": "network"}]));
        let r = with(&pod, RANGE);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[1].pointer, "/linux/sysctl/net.ipv4.ping_group_range");
        let joined =
            docker(json!([{"type": "user", "path": "/proc/42/ns/user"}, {"type": "network"}]));
        let r = with(&joined, RANGE);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(
            r[0].message.contains("clamped to \"0 65535\""),
            "{}",
            r[0].message
        );

        // (namespaces, value, clamped to); None: left alone
        let own = |maps: Value| {
            json!({"namespaces": [{"type": "user"}],
                "uidMappings": [{"containerID": 0, "hostID": 300000, "size": 65536}],
                "gidMappings": maps})
        };
        let cases: Vec<(Value, &str, Option<&str>)> = vec![
            // already inside the mapped range
            (json!({"namespaces": [{"type": "pid"}]}), "0 65535", None),
            (json!({"namespaces": [{"type": "pid"}]}), "100 200", None),
            // the other spelling of the key
            (
                json!({"namespaces": [{"type": "pid"}]}),
                "1 70000",
                Some("1 65535"),
            ),
            // empty ranges and nonsense are the kernel's business
            (json!({"namespaces": [{"type": "pid"}]}), "1 0", None),
            (json!({"namespaces": [{"type": "pid"}]}), "x y", None),
            (json!({"namespaces": [{"type": "pid"}]}), "0 1 2", None),
            // the spec's own mapping: the block the range overlaps most
            (
                own(json!([{"containerID": 0, "hostID": 300000, "size": 10},
                        {"containerID": 1000, "hostID": 400000, "size": 5000}])),
                "0 2147483647",
                Some("1000 5999"),
            ),
            (
                own(json!([{"containerID": 0, "hostID": 300000, "size": 65536}])),
                "0 65535",
                None,
            ),
            // no overlap at all: nobody may ping
            (
                own(json!([{"containerID": 0, "hostID": 300000, "size": 10}])),
                "100 200",
                Some("1 0"),
            ),
            // joining another container's user namespace: held to its map, read from the host
            (
                json!({"namespaces": [{"type": "user", "path": "/proc/42/ns/user"}]}),
                "0 2147483647",
                Some("0 65535"),
            ),
        ];
        for (i, (linux, value, want)) in cases.into_iter().enumerate() {
            let key = if i == 2 {
                "net/ipv4/ping_group_range"
            } else {
                "net.ipv4.ping_group_range"
            };
            let mut spec = json!({"linux": linux});
            spec["linux"]["sysctl"] = json!({key: value});
            let out = fix(&spec);
            let got = out["linux"]["sysctl"][key].as_str().unwrap();
            assert_eq!(got, want.unwrap_or(value), "case {i}: {value}");
        }
    }

    #[test]
    fn mapping_onto_host_root_is_refused() {
        let spec = json!({"linux": {"namespaces": [{"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 0, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}});
        let r = with(&spec, RANGE);
        assert_eq!(r.len(), 1);
        assert!(!r[0].fixable);
        assert!(r[0].edits.is_empty());
        assert_eq!(r[0].pointer, "/linux/uidMappings/0");
        assert_eq!(r[0].message, "user namespace maps root to host root");
        let spec = json!({"linux": {"namespaces": [{"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 1000}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 1000}, {"containerID": 1000, "hostID": 0, "size": 1}]}});
        let r = with(&spec, None);
        assert_eq!(r[0].pointer, "/linux/gidMappings/1");
        assert_eq!(r[0].message, "user namespace maps gid 1000 to host root");
    }

    #[test]
    fn without_a_range_the_placeholder_is_never_fixable() {
        let spec = json!({"linux": {"namespaces": [{"type": "pid"}]}});
        let r = with(&spec, None);
        assert_eq!(r.len(), 1);
        // the edits show what enforce would do (recorded under audit) ...
        assert!(
            !r[0].fixable,
            "a shared placeholder range must never be applied"
        );
        let mut out = spec.clone();
        for e in &r[0].edits {
            apply(&mut out, e).unwrap();
        }
        // ... with the pool's first range
        assert_eq!(
            out["linux"]["uidMappings"],
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}])
        );
        assert!(r[0]
            .message
            .ends_with("; no host id range was allocated for it"));
    }

    #[test]
    fn engine_refuses_enforce_without_a_range_and_records_audit() {
        use crate::policy::{evaluate, Action, Mode, Run};
        let mut p = profile("restricted");
        p.rules.insert(
            "userns".into(),
            crate::profile::RuleSetting::Action(Action::Enforce),
        );
        let spec = json!({"linux": {"namespaces": [{"type": "pid"}]}});
        let ann = std::collections::BTreeMap::new();
        let granted = Granted::default();
        let run = |mode, userns| Run {
            profile: &p,
            mode,
            id: "c",
            annotations: &ann,
            granted: &granted,
            host: &crate::policy::rules::TestHost,
            only: Some(&["userns"]),
            userns,
            sources: crate::bundle::Sources::none(),
            tripwires: None,
        };
        let err = evaluate(&spec, &run(Mode::Enforce, None), vec![]).unwrap_err();
        assert_eq!(err.rule, "userns");
        let out = evaluate(&spec, &run(Mode::Enforce, RANGE), vec![]).unwrap();
        assert_eq!(out.value["linux"]["uidMappings"][0]["hostID"], 165536);
        assert_eq!(out.findings[0].action, Action::Enforce);
        let out = evaluate(&spec, &run(Mode::Audit, None), vec![]).unwrap();
        assert_eq!(out.value, spec);
        assert_eq!(out.findings[0].action, Action::Audit);
        assert_eq!(out.findings[0].after, json!({"type": "user"}));
    }
}
