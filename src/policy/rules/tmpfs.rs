//! `tmpfs` (CIS 5.13, with a read-only root): each of the profile's scratch directories is a
//! tmpfs with `nosuid,nodev,noexec`, the profile's mode and a size. A directory the spec already
//! mounts something on is left alone, except that a tmpfs there gets the missing options.

use serde_json::{json, Value};

use super::{Proposal, Rule, RuleCtx};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "writable scratch directories are nosuid,nodev,noexec tmpfs mounts of bounded size",
    severity: Severity::Low,
    process: false,
    evaluate: Some(evaluate),
};

fn norm(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/"
    } else {
        t
    }
}

pub fn evaluate(spec: &Value, profile: &Profile, _ctx: &RuleCtx) -> Vec<Proposal> {
    if spec.get("root").is_none() {
        return vec![];
    }
    let cfg = &profile.tmpfs;
    let mounts = spec
        .get("mounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = vec![];
    let mut next = mounts.len();
    for dir in &cfg.paths {
        let existing = mounts.iter().rposition(|m| {
            m.get("destination").and_then(Value::as_str).map(norm) == Some(norm(dir))
        });
        match existing {
            None => {
                let mut options = cfg.options.clone();
                options.push(format!("mode={}", cfg.mode));
                options.push(format!("size={}", cfg.size));
                out.push(Proposal::fix(
                    format!("/mounts/{next}"),
                    format!("{dir} gets a {} tmpfs ({})", cfg.size, cfg.options.join(",")),
                    vec![Edit::push("/mounts", json!({"destination": dir, "type": "tmpfs", "source": "tmpfs", "options": options}))],
                ));
                next += 1;
            }
            Some(i) => {
                let m = &mounts[i];
                if m.get("type").and_then(Value::as_str) != Some("tmpfs") {
                    continue;
                }
                let have = super::strings(m, "/options");
                let missing: Vec<&String> =
                    cfg.options.iter().filter(|o| !have.contains(o)).collect();
                if missing.is_empty() {
                    continue;
                }
                let mut options = have.clone();
                // an explicit opposite (exec, suid, dev) goes away with the fix
                options.retain(|o| !missing.iter().any(|m| format!("no{o}") == **m));
                options.extend(missing.iter().map(|m| m.to_string()));
                let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                out.push(Proposal::fix(
                    format!("/mounts/{i}/options"),
                    format!("tmpfs on {dir} lacks {}", names.join(",")),
                    vec![Edit::set(format!("/mounts/{i}/options"), options)],
                ));
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
        let spec = json!({"root": {"path": "r"}, "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]});
        let out = fixed(evaluate, &spec, &p);
        let m = out["mounts"].as_array().unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[1],
            json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "mode=1777", "size=64m"]})
        );
        assert_eq!(m[3]["destination"], "/run");

        // the caller's tmpfs on /tmp keeps its size, gains the missing flags, loses `exec`
        let spec = json!({"root": {"path": "r"}, "mounts": [
            {"destination": "/tmp/", "type": "tmpfs", "source": "tmpfs", "options": ["exec", "size=1g", "nosuid"]},
            {"destination": "/run", "type": "bind", "source": "/srv/run", "options": ["rbind"]},
        ]});
        let out = fixed(evaluate, &spec, &p);
        assert_eq!(
            out["mounts"][0]["options"],
            json!(["size=1g", "nosuid", "nodev", "noexec"])
        );
        assert_eq!(
            out["mounts"][1]["options"],
            json!(["rbind"]),
            "a bind on /run is the mounts rule's business"
        );
        assert_eq!(
            out["mounts"].as_array().unwrap().len(),
            3,
            "only /var/tmp added"
        );
    }
}
