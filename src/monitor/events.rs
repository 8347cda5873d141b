//! Security events: what the monitor reports, one JSON line each, and the policy events read
//! from audit records.

use serde::Serialize;
use serde_json::{json, Value};

/// How urgent an event is (the defaults: drift critical; a refused loosening high;
/// refusals, OOM kills and a reached pids limit medium; exceptions, exec and memory near its
/// limit low).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The kinds of event, each with its default severity.
pub const KINDS: &[(&str, Severity)] = &[
    (REFUSAL, Severity::Medium),
    (EXCEPTION_USED, Severity::Low),
    (EXEC, Severity::Low),
    (LOOSENING_REFUSED, Severity::High),
    (OOM_KILL, Severity::Medium),
    (PIDS_LIMIT, Severity::Medium),
    (MEMORY_NEAR_LIMIT, Severity::Low),
    (DRIFT, Severity::Critical),
    (ESCALATION_ATTEMPT, Severity::Critical),
    (TRIPWIRE, Severity::High),
    (LIMIT_CHANGED, Severity::Low),
    (ISOLATED, Severity::High),
    (ISOLATION_FAILED, Severity::Critical),
    (AUDIT_HEAD, Severity::Low),
];

/// the policy refused a container (create/run) or a request into one (exec/update)
pub const REFUSAL: &str = "refusal";
/// a profile exception granted something
pub const EXCEPTION_USED: &str = "exception-used";
/// a process was executed into a container
pub const EXEC: &str = "exec";
/// an exec/update asked for a looser profile or mode than the container's; not applied
pub const LOOSENING_REFUSED: &str = "loosening-refused";
/// the kernel's OOM killer killed a process of the container
pub const OOM_KILL: &str = "oom-kill";
/// a fork was refused: the container's pids limit was reached
pub const PIDS_LIMIT: &str = "pids-limit";
/// the container's memory use reached 90% of its limit
pub const MEMORY_NEAR_LIMIT: &str = "memory-near-limit";
/// a process of a running container no longer holds its profile (`check --running --live`)
pub const DRIFT: &str = "drift";
/// a process tried a tripwire syscall that escalates privilege (mount, unshare, setns, ...):
/// refused, reported (see `monitor::tripwires`)
pub const ESCALATION_ATTEMPT: &str = "escalation-attempt";
/// a process tried any other tripwire syscall: refused, reported
pub const TRIPWIRE: &str = "tripwire";
/// the `resources` rule changed a cgroup limit of the container (a limit above the profile's
/// ceiling lowered, an unset one defaulted): what the cluster asked for is not what runs
pub const LIMIT_CHANGED: &str = "limit-changed";

/// The cgroup limit a `resources` finding changed, as its path under `linux.resources` with
/// dots (`memory.limit`, `memory.swap`, `cpu.quota`, `pids`, `unified.memory.max`, ...); `None`
/// for findings that change no cgroup limit (rlimits, OOM score) or only record.
pub fn changed_limit(f: &Value) -> Option<String> {
    if f["code"] != "resources" || f["action"] != "enforce" {
        return None;
    }
    let rest = f["pointer"].as_str()?.strip_prefix("/linux/resources/")?;
    Some(rest.replace("~1", "/").replace("~0", "~").replace('/', "."))
}
/// the monitor isolated a container by itself (its profile's `[response] isolate_on`), see
/// `monitor::response`
pub const ISOLATED: &str = "isolated";
/// the monitor's automatic isolation of a container failed
pub const ISOLATION_FAILED: &str = "isolation-failed";
/// the audit log's head (last sequence number and hash) advanced: its copy outside the node
pub const AUDIT_HEAD: &str = "audit-head";

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// The severity of `kind` for a container of `profile`: the profile's `[monitor.severity]`
/// entry, else the default ([`KINDS`]).
pub fn severity_in(kind: &str, profile: Option<&crate::profile::Profile>) -> Severity {
    profile
        .and_then(|p| p.monitor.severity.get(kind))
        .and_then(|s| Severity::parse(s))
        .unwrap_or_else(|| severity_of(kind))
}

pub fn severity_of(kind: &str) -> Severity {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(Severity::Medium, |(_, s)| *s)
}

/// One security event, as printed (one JSON line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub time: String,
    pub kind: &'static str,
    pub severity: Severity,
    pub container: String,
    /// the container's profile ("" where not known)
    pub profile: String,
    pub message: String,
    pub details: Value,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Event {
    pub fn new(
        kind: &'static str,
        container: &str,
        profile: &str,
        message: String,
        details: Value,
    ) -> Event {
        Event {
            time: now(),
            kind,
            severity: severity_of(kind),
            container: container.to_owned(),
            profile: profile.to_owned(),
            message,
            details,
        }
    }
}

/// The policy events of one audit record (none for a lifecycle step or a rotation link).
pub fn of_record(r: &Value) -> Vec<Event> {
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
    let (id, command, profile) = (s("id"), s("command"), s("profile"));
    let base = |kind, message: String, mut details: Value| {
        details["command"] = json!(command);
        details["record_time"] = json!(s("time"));
        details["mode"] = json!(s("mode"));
        Event::new(kind, id, profile, message, details)
    };
    let mut out = vec![];
    match s("decision") {
        "denied" => out.push(base(
            REFUSAL,
            format!(
                "{command}: policy refused container {id:?}: rule {}: {}",
                s("rule"),
                s("reason")
            ),
            json!({"rule": s("rule"), "reason": s("reason"), "bundle": s("bundle")}),
        )),
        "allowed" => {
            if let Some(used) = r.get("exceptions_used").and_then(Value::as_array) {
                if !used.is_empty() {
                    let names: Vec<&str> = used.iter().filter_map(Value::as_str).collect();
                    out.push(base(
                        EXCEPTION_USED,
                        format!(
                            "{command} {id:?}: profile exception {} granted",
                            names.join(", ")
                        ),
                        json!({"exceptions": names}),
                    ));
                }
            }
            if command == "create" || command == "run" || command == "update" {
                for f in findings(r) {
                    if let Some(resource) = changed_limit(f) {
                        out.push(base(
                            LIMIT_CHANGED,
                            format!(
                                "{command} {id:?}: {}",
                                f["message"].as_str().unwrap_or_default()
                            ),
                            json!({"resource": resource, "pointer": f["pointer"],
                                   "asked": f["before"], "set": f["after"]}),
                        ));
                    }
                }
            }
            if command == "exec" {
                out.push(base(
                    EXEC,
                    format!("exec into container {id:?}"),
                    json!({"bundle": s("bundle")}),
                ));
            }
            if command == "exec" || command == "update" {
                for f in findings(r) {
                    // binding's refusal of a looser profile or mode: rule `exception`, no pointer
                    if f["code"] == "exception" && f["pointer"] == "" {
                        out.push(base(
                            LOOSENING_REFUSED,
                            f["message"].as_str().unwrap_or_default().to_owned(),
                            json!({"asked": f["before"], "held_to": f["after"]}),
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    out
}

/// The findings of an audit record.
pub fn findings(r: &Value) -> impl Iterator<Item = &Value> {
    r.get("findings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profiles_kinds_are_the_monitors_and_override_the_defaults() {
        let names: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, crate::profile::MONITOR_EVENT_KINDS);
        let p: crate::profile::Profile = toml::from_str(
            "name = \"p\"\n[monitor.severity]\nrefusal = \"high\"\ndrift = \"low\"\n",
        )
        .unwrap();
        for (kind, profile, want) in [
            (REFUSAL, Some(&p), Severity::High),
            (DRIFT, Some(&p), Severity::Low),
            (EXEC, Some(&p), Severity::Low),
            (TRIPWIRE, Some(&p), Severity::High),
            (REFUSAL, None, Severity::Medium),
            (ESCALATION_ATTEMPT, None, Severity::Critical),
        ] {
            assert_eq!(severity_in(kind, profile), want, "{kind}");
        }
    }

    #[test]
    fn records_give_policy_events() {
        let denied = json!({"time": "t", "id": "c1", "command": "create", "profile": "restricted",
            "mode": "enforce", "decision": "denied", "rule": "privileged", "reason": "why",
            "findings": [], "prev": ""});
        let ev = of_record(&denied);
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].kind, ev[0].severity), (REFUSAL, Severity::Medium));
        assert_eq!(ev[0].container, "c1");
        assert_eq!(ev[0].details["rule"], "privileged");

        let exec = json!({"id": "c2", "command": "exec", "profile": "restricted",
            "decision": "allowed", "exceptions_used": ["restricted#0"], "findings": [
                {"code": "exception", "pointer": "", "message": "not applied", "before": {"profile": "permissive"}, "after": {}},
                {"code": "exception", "pointer": "/annotations/x", "message": "claim"},
                {"code": "user", "pointer": "/user", "message": "moved"}]});
        let kinds: Vec<_> = of_record(&exec)
            .iter()
            .map(|e| (e.kind, e.severity))
            .collect();
        assert_eq!(
            kinds,
            [
                (EXCEPTION_USED, Severity::Low),
                (EXEC, Severity::Low),
                (LOOSENING_REFUSED, Severity::High)
            ]
        );
        // a create whose limits the resources rule lowered and defaulted: one event per cgroup
        // limit changed; rlimits, audit-only findings and other rules give none
        let create = json!({"id": "c3", "command": "create", "profile": "restricted",
            "decision": "allowed", "findings": [
                {"code": "resources", "action": "enforce", "pointer": "/linux/resources/memory/limit",
                 "message": "memory limit 16 GiB above the profile's ceiling 8 GiB; clamped",
                 "before": 17179869184u64, "after": 8589934592u64},
                {"code": "resources", "action": "enforce", "pointer": "/linux/resources/pids/limit",
                 "message": "pids limit unset; set to 1024", "before": null, "after": {"limit": 1024}},
                {"code": "resources", "action": "enforce", "pointer": "/process/rlimits/0/hard",
                 "message": "rlimit clamped"},
                {"code": "resources", "action": "audit", "pointer": "/linux/resources/cpu",
                 "message": "cpu unset"},
                {"code": "user", "action": "enforce", "pointer": "/process/user/uid"}]});
        let ev = of_record(&create);
        let got: Vec<_> = ev
            .iter()
            .map(|e| (e.kind, e.severity, e.details["resource"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (LIMIT_CHANGED, Severity::Low, "memory.limit"),
                (LIMIT_CHANGED, Severity::Low, "pids.limit")
            ]
        );
        assert_eq!(ev[0].details["asked"], 17179869184u64);
        assert_eq!(ev[0].details["set"], 8589934592u64);
        assert!(ev[0].message.contains("clamped"), "{}", ev[0].message);

        let step = json!({"id": "c1", "command": "start", "decision": "done", "findings": []});
        assert!(of_record(&step).is_empty());
        assert!(of_record(&json!({"rotated_from": "a.1", "prev": ""})).is_empty());
    }
}
