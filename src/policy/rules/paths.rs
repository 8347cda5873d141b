//! `paths`: Docker's masked paths (`linux.maskedPaths`) and read-only paths
//! (`linux.readonlyPaths`) are all present; the caller's own entries stay.

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx, strings};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "Docker's masked and read-only /proc and /sys paths are in place",
    severity: Severity::Medium,
    process: false,
    evaluate: Some(evaluate),
};

pub const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

pub const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub fn evaluate(spec: &Value, _profile: &Profile, _ctx: &RuleCtx) -> Vec<Proposal> {
    if spec.get("root").is_none() {
        return vec![];
    }
    let mut out = vec![];
    for (key, want) in [("maskedPaths", MASKED), ("readonlyPaths", READONLY)] {
        let ptr = format!("/linux/{key}");
        let have = strings(spec, &ptr);
        let missing: Vec<&str> = want
            .iter()
            .copied()
            .filter(|p| !have.iter().any(|h| h == p))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let mut all = have.clone();
        all.extend(missing.iter().map(|s| s.to_string()));
        out.push(Proposal::fix(
            ptr.clone(),
            format!("{key} lacks {}", missing.join(", ")),
            vec![Edit::set(ptr, all)],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn table() {
        let p = profile("restricted");
        let out = fixed(evaluate, &json!({"root": {"path": "r"}}), &p);
        assert_eq!(
            out["linux"]["maskedPaths"].as_array().unwrap().len(),
            MASKED.len()
        );
        assert_eq!(
            out["linux"]["readonlyPaths"].as_array().unwrap().len(),
            READONLY.len()
        );
        // runc's spec default lacks /proc/interrupts and powercap; custom entries survive
        let spec = json!({"root": {"path": "r"}, "linux": {"maskedPaths": ["/proc/acpi", "/custom"], "readonlyPaths": READONLY}});
        let r = run(evaluate, &spec, &p);
        assert_eq!(r.len(), 1);
        assert!(r[0]
            .message
            .starts_with("maskedPaths lacks /proc/asound, /proc/interrupts"));
        let out = fixed(evaluate, &spec, &p);
        assert_eq!(out["linux"]["maskedPaths"][1], "/custom");
    }
}
