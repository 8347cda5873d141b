//! `sysctls`: only the sysctls of the profile's `sysctls.allow` (by default Kubernetes' "safe"
//! set: namespaced, isolated from the host and from other containers) may be set; every other
//! key of `linux.sysctl` is removed. Keys are compared with `/` read as `.` (the runtime writes
//! `/proc/sys/` + the key with dots turned into slashes, so both spellings name the same file);
//! an allow entry ending in `*` matches every key with that prefix.

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx};
use crate::policy::edit::{escape, Edit};
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "only namespaced sysctls that Kubernetes considers safe",
    severity: Severity::Medium,
    process: false,
    evaluate: Some(evaluate),
};

fn allowed(key: &str, profile: &Profile) -> bool {
    let key = key.replace('/', ".");
    profile.sysctls.allow.iter().any(|a| {
        let a = a.replace('/', ".");
        match a.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => key == a,
        }
    })
}

pub fn evaluate(spec: &Value, profile: &Profile, _ctx: &RuleCtx) -> Vec<Proposal> {
    let Some(map) = spec.pointer("/linux/sysctl").and_then(Value::as_object) else {
        return vec![];
    };
    map.iter()
        .filter(|(k, _)| !allowed(k, profile))
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let ptr = format!("/linux/sysctl/{}", escape(k));
            Proposal::fix(
                ptr.clone(),
                format!("sysctl {k}={value} removed: not in the profile's sysctls.allow"),
                vec![Edit::remove(ptr)],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn table() {
        let p = profile("restricted");
        // Kubernetes' safe set stays, in either spelling
        let safe = json!({"linux": {"sysctl": {
            "net.ipv4.ip_local_port_range": "1024 65000",
            "kernel.shm_rmid_forced": "1",
            "net/ipv4/ip_unprivileged_port_start": "0"
        }}});
        assert!(run(evaluate, &safe, &p).is_empty());
        assert!(run(evaluate, &json!({"linux": {}}), &p).is_empty());
        assert!(run(evaluate, &json!({}), &p).is_empty());

        let s = json!({"linux": {"sysctl": {
            "net.ipv4.ip_forward": "1",
            "kernel.shm_rmid_forced": "1",
            "kernel.msgmax": 65536,
            "net/../../sysrq-trigger": "b"
        }}});
        let r = run(evaluate, &s, &p);
        let got: Vec<(&str, &str)> = r
            .iter()
            .map(|p| (p.pointer.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "/linux/sysctl/kernel.msgmax",
                    "sysctl kernel.msgmax=65536 removed: not in the profile's sysctls.allow"
                ),
                (
                    "/linux/sysctl/net.ipv4.ip_forward",
                    "sysctl net.ipv4.ip_forward=1 removed: not in the profile's sysctls.allow"
                ),
                (
                    "/linux/sysctl/net~1..~1..~1sysrq-trigger",
                    "sysctl net/../../sysrq-trigger=b removed: not in the profile's sysctls.allow"
                ),
            ]
        );
        assert_eq!(
            fixed(evaluate, &s, &p)["linux"]["sysctl"],
            json!({"kernel.shm_rmid_forced": "1"})
        );
        // the same proposals whatever the profile's action; a wider allowlist keeps more
        assert_eq!(run(evaluate, &s, &profile("permissive")), r);
        let mut wide = profile("baseline");
        wide.sysctls.allow = vec!["kernel.msg*".into(), "net.ipv4.ip_forward".into()];
        let out = fixed(evaluate, &s, &wide);
        assert_eq!(
            out["linux"]["sysctl"],
            json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": 65536})
        );
    }
}
