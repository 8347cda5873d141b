//! `userns` (CIS 5.31): the container runs in a user namespace whose ids map to a host range of
//! its own, so root inside is an unprivileged id outside. A spec without a user namespace gets
//! one, mapped to the range the runtime allocated for this container (`RuleCtx::userns`, see
//! `crate::userns`). Without an allocated range the edits use the pool's first range as a
//! placeholder: they can be recorded (audit) but never applied, since a range shared by several
//! containers would let them reach each other's files, so under enforce the container is refused.
//! A spec that brings its own user namespace keeps it, unless it maps an id onto host root.

use serde_json::{json, Value};

use super::{Proposal, RuleCtx};
use crate::policy::edit::Edit;
use crate::profile::Profile;

/// Whether the rule would need a host id range for `spec`: it has no user namespace, or a new one
/// without id mappings.
pub fn needs_range(spec: &Value) -> bool {
    let Some((_, ns)) = user_namespace(spec) else {
        return true;
    };
    let joins = ns
        .get("path")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    let has_mappings = mapped(spec, "uid") && mapped(spec, "gid");
    !(joins || has_mappings)
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
    let Some((i, ns)) = user_namespace(spec) else {
        let next = spec
            .pointer("/linux/namespaces")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let mut edits = vec![Edit::push("/linux/namespaces", json!({"type": "user"}))];
        edits.extend(set_mappings());
        return vec![Proposal {
            pointer: format!("/linux/namespaces/{next}"),
            message: format!(
                "user namespace missing: container root would be host root; mapped to host ids {start}-{}{unallocated}",
                u64::from(start) + u64::from(size) - 1
            ),
            edits,
            fixable,
        }];
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
        return vec![];
    }
    if mapped(spec, "uid") && mapped(spec, "gid") {
        return vec![];
    }
    vec![Proposal {
        pointer: "/linux/uidMappings".into(),
        message: format!(
            "user namespace without id mappings; mapped to host ids {start}-{}{unallocated}",
            u64::from(start) + u64::from(size) - 1
        ),
        edits: set_mappings(),
        fixable,
    }]
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
        assert!(needs_range(&spec));
        assert!(needs_range(&json!({})));
        assert!(!needs_range(&own));
        assert!(!needs_range(&join));
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
