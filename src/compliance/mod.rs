//! The CIS Docker Benchmark (v1.6.0) controls a runtime can decide from an OCI spec, and the score
//! of a spec against them. One registry ([`CONTROLS`]); controls that a spec cannot decide are
//! listed too, as not applicable to a runtime, so none silently disappears.

use serde::Serialize;
use serde_json::Value;

use crate::base::caps::DOCKER_CAPS;
use crate::base::{at, strings, Host, Lsm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    /// cannot be decided from a spec, or not on this host
    NotApplicable,
}

/// How a control is decided from a spec: the verdict and, for a failure, why.
pub type Decide = fn(&Value, &dyn Host) -> (Verdict, String);

pub struct Control {
    pub id: &'static str,
    pub title: &'static str,
    pub level: u8,
    /// None: not applicable to a runtime (decided elsewhere)
    pub decide: Option<Decide>,
}

impl Control {
    /// The hardrun rules that make a spec (or an exec'd process) pass this control: derived from
    /// the rule registry's CIS tags ([`crate::base::rule::RuleInfo`]), never kept by hand.
    pub fn rules(&self) -> Vec<&'static str> {
        crate::base::rule::rules_for(self.id)
    }

    /// This control's verdict on one spec (or exec'd process).
    fn result(&self, verdict: Verdict, reason: String) -> ControlResult {
        ControlResult {
            id: self.id,
            title: self.title,
            level: self.level,
            verdict,
            reason,
            rules: self.rules(),
        }
    }
}

fn ok(pass: bool, fail_reason: impl Into<String>) -> (Verdict, String) {
    if pass {
        (Verdict::Pass, String::new())
    } else {
        (Verdict::Fail, fail_reason.into())
    }
}

fn ns_private(spec: &Value, kind: &str, host: &dyn Host) -> (Verdict, String) {
    let empty = vec![];
    let list = at(spec, "/linux/namespaces")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let Some(ns) = list.iter().find(|n| n["type"] == kind) else {
        return (
            Verdict::Fail,
            format!("no {kind} namespace: the host's is shared"),
        );
    };
    match ns
        .get("path")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    {
        None => (Verdict::Pass, String::new()),
        Some(path) => {
            let proc_kind = match kind {
                "network" => "net",
                "mount" => "mnt",
                k => k,
            };
            let host_ns = host.host_ns(proc_kind);
            let is_host = path.starts_with("/proc/1/ns/")
                || (host_ns.is_some() && host_ns == host.ns_at(path));
            ok(!is_host, format!("{kind} namespace {path} is the host's"))
        }
    }
}

fn bind_mounts(spec: &Value) -> Vec<&Value> {
    spec.get("mounts")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter(|m| {
                    m["type"] == "bind"
                        || m["options"]
                            .as_array()
                            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
                })
                .collect()
        })
        .unwrap_or_default()
}

const SENSITIVE: &[&str] = &[
    "/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr",
];

pub const CONTROLS: &[Control] = &[
    Control {
        id: "4.1",
        title: "a non-root user for the container",
        level: 1,
        decide: Some(|s, _| {
            let uid = at(s, "/process/user/uid")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            ok(uid != 0, "the process runs as uid 0")
        }),
    },
    Control {
        id: "5.2",
        title: "AppArmor profile enabled",
        level: 1,
        decide: Some(|s, host| {
            if !host.lsm_enabled(Lsm::AppArmor) {
                return (
                    Verdict::NotApplicable,
                    "AppArmor is not enabled on this host".into(),
                );
            }
            let p = at(s, "/process/apparmorProfile")
                .and_then(Value::as_str)
                .unwrap_or("");
            ok(!p.is_empty() && p != "unconfined", "no AppArmor profile")
        }),
    },
    Control {
        id: "5.3",
        title: "SELinux security options set",
        level: 2,
        decide: Some(|s, host| {
            if !host.lsm_enabled(Lsm::SELinux) {
                return (
                    Verdict::NotApplicable,
                    "SELinux is not enabled on this host".into(),
                );
            }
            ok(
                at(s, "/process/selinuxLabel")
                    .and_then(Value::as_str)
                    .is_some_and(|l| !l.is_empty()),
                "no SELinux label",
            )
        }),
    },
    Control {
        id: "5.4",
        title: "Linux kernel capabilities restricted",
        level: 1,
        decide: Some(|s, _| {
            let extra: Vec<String> = strings(s, "/process/capabilities/bounding")
                .into_iter()
                .filter(|c| !DOCKER_CAPS.contains(&c.as_str()))
                .collect();
            ok(
                extra.is_empty(),
                format!("capabilities beyond the default set: {}", extra.join(", ")),
            )
        }),
    },
    Control {
        id: "5.5",
        title: "no privileged container",
        level: 1,
        decide: Some(|s, _| {
            let caps = strings(s, "/process/capabilities/bounding");
            let all = caps.len() >= 38
                || ["CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO"]
                    .iter()
                    .all(|c| caps.iter().any(|x| x == c));
            ok(
                !all,
                format!(
                    "privileged: {} capabilities including CAP_SYS_ADMIN",
                    caps.len()
                ),
            )
        }),
    },
    Control {
        id: "5.6",
        title: "no sensitive host system directories mounted",
        level: 1,
        decide: Some(|s, _| {
            let bad: Vec<String> = bind_mounts(s)
                .iter()
                .filter(|m| {
                    let src = m["source"].as_str().unwrap_or("");
                    let ro = strings(m, "/options").iter().any(|o| o == "ro");
                    !ro && SENSITIVE
                        .iter()
                        .any(|p| src == *p || (*p != "/" && src.starts_with(&format!("{p}/"))))
                })
                .map(|m| m["source"].as_str().unwrap_or("").to_owned())
                .collect();
            ok(
                bad.is_empty(),
                format!("writable bind of {}", bad.join(", ")),
            )
        }),
    },
    Control {
        id: "5.7",
        title: "sshd not run within containers",
        level: 1,
        decide: None,
    },
    Control {
        id: "5.8",
        title: "privileged ports not mapped",
        level: 1,
        decide: None,
    },
    Control {
        id: "5.9",
        title: "only needed ports open",
        level: 1,
        decide: None,
    },
    Control {
        id: "5.10",
        title: "host network namespace not shared",
        level: 1,
        decide: Some(|s, h| ns_private(s, "network", h)),
    },
    Control {
        id: "5.11",
        title: "memory usage limited",
        level: 1,
        decide: Some(|s, _| {
            ok(
                at(s, "/linux/resources/memory/limit")
                    .and_then(Value::as_i64)
                    .is_some_and(|l| l > 0),
                "no memory limit",
            )
        }),
    },
    Control {
        id: "5.12",
        title: "CPU priority set",
        level: 1,
        decide: Some(|s, _| {
            let shares = at(s, "/linux/resources/cpu/shares")
                .and_then(Value::as_u64)
                .is_some_and(|v| v > 0);
            let quota = at(s, "/linux/resources/cpu/quota")
                .and_then(Value::as_i64)
                .is_some_and(|v| v > 0);
            ok(shares || quota, "no CPU shares or quota")
        }),
    },
    Control {
        id: "5.13",
        title: "root filesystem mounted read-only",
        level: 1,
        decide: Some(|s, _| {
            ok(
                at(s, "/root/readonly").and_then(Value::as_bool) == Some(true),
                "the root filesystem is writable",
            )
        }),
    },
    Control {
        id: "5.14",
        title: "incoming traffic bound to a host interface",
        level: 1,
        decide: None,
    },
    Control {
        id: "5.15",
        title: "on-failure restart policy",
        level: 1,
        decide: None,
    },
    Control {
        id: "5.16",
        title: "host PID namespace not shared",
        level: 1,
        decide: Some(|s, h| ns_private(s, "pid", h)),
    },
    Control {
        id: "5.17",
        title: "host IPC namespace not shared",
        level: 1,
        decide: Some(|s, h| ns_private(s, "ipc", h)),
    },
    Control {
        id: "5.18",
        title: "host devices not directly exposed",
        level: 1,
        decide: Some(|s, _| {
            let defaults = [
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty",
                "/dev/console",
                "/dev/ptmx",
            ];
            let extra: Vec<String> = at(s, "/linux/devices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| d["path"].as_str())
                .filter(|p| !defaults.contains(p))
                .map(str::to_owned)
                .collect();
            let all = at(s, "/linux/resources/devices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|r| {
                    r["allow"] == true
                        && r.get("major").is_none()
                        && r["access"]
                            .as_str()
                            .is_some_and(|a| a.contains('r') || a.contains('w'))
                });
            ok(
                extra.is_empty() && !all,
                if all {
                    "every device is allowed".to_string()
                } else {
                    format!("host devices: {}", extra.join(", "))
                },
            )
        }),
    },
    Control {
        id: "5.19",
        title: "default ulimits overridden only when needed",
        level: 1,
        decide: Some(|s, _| {
            let unlimited: Vec<String> = at(s, "/process/rlimits")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|r| r["hard"].as_u64() == Some(u64::MAX))
                .filter_map(|r| r["type"].as_str().map(str::to_owned))
                .collect();
            ok(
                unlimited.is_empty(),
                format!("unlimited: {}", unlimited.join(", ")),
            )
        }),
    },
    Control {
        id: "5.20",
        title: "mount propagation not shared",
        level: 1,
        decide: Some(|s, _| {
            let shared_mount = s
                .get("mounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|m| {
                    strings(m, "/options")
                        .iter()
                        .any(|o| o == "shared" || o == "rshared")
                });
            let rootfs = matches!(
                at(s, "/linux/rootfsPropagation").and_then(Value::as_str),
                Some("shared" | "rshared")
            );
            ok(!shared_mount && !rootfs, "shared mount propagation")
        }),
    },
    Control {
        id: "5.21",
        title: "host UTS namespace not shared",
        level: 1,
        decide: Some(|s, h| ns_private(s, "uts", h)),
    },
    Control {
        id: "5.22",
        title: "default seccomp profile not disabled",
        level: 1,
        decide: Some(|s, _| {
            let action = at(s, "/linux/seccomp/defaultAction").and_then(Value::as_str);
            ok(
                action.is_some_and(|a| a != "SCMP_ACT_ALLOW" && a != "SCMP_ACT_LOG"),
                "no seccomp filter",
            )
        }),
    },
    Control {
        id: "5.23",
        title: "exec not run with --privileged",
        level: 2,
        decide: None,
    },
    Control {
        id: "5.24",
        title: "exec not run as root",
        level: 2,
        decide: None,
    },
    Control {
        id: "5.25",
        title: "cgroup usage confirmed",
        level: 1,
        decide: Some(|s, _| {
            ok(
                at(s, "/linux/cgroupsPath")
                    .and_then(Value::as_str)
                    .is_some_and(|p| !p.is_empty()),
                "no cgroupsPath: the runtime picks one",
            )
        }),
    },
    Control {
        id: "5.26",
        title: "no acquiring of additional privileges",
        level: 1,
        decide: Some(|s, _| {
            ok(
                at(s, "/process/noNewPrivileges").and_then(Value::as_bool) == Some(true),
                "noNewPrivileges is not set",
            )
        }),
    },
    Control {
        id: "5.27",
        title: "container health checked at runtime",
        level: 1,
        decide: None,
    },
    Control {
        id: "5.28",
        title: "images pinned to a version",
        level: 1,
        decide: None,
    },
    Control {
        id: "5.29",
        title: "PIDs cgroup limit used",
        level: 1,
        decide: Some(|s, _| {
            ok(
                at(s, "/linux/resources/pids/limit")
                    .and_then(Value::as_i64)
                    .is_some_and(|l| l > 0),
                "no pids limit",
            )
        }),
    },
    Control {
        id: "5.30",
        title: "default bridge not used",
        level: 2,
        decide: None,
    },
    Control {
        id: "5.31",
        title: "host user namespace not shared",
        level: 1,
        decide: Some(|s, h| {
            let user = at(s, "/linux/namespaces")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|n| n["type"] == "user");
            // joining another container's user namespace (a pod's) is not sharing the host's
            if user
                .and_then(|n| n.get("path"))
                .and_then(Value::as_str)
                .is_some_and(|p| !p.is_empty())
            {
                return ns_private(s, "user", h);
            }
            let mapped = at(s, "/linux/uidMappings")
                .and_then(Value::as_array)
                .is_some_and(|m| !m.is_empty());
            ok(
                user.is_some() && mapped,
                "no user namespace with ID mappings",
            )
        }),
    },
    Control {
        id: "5.32",
        title: "Docker socket not mounted",
        level: 1,
        decide: Some(|s, _| {
            let sock = s
                .get("mounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| m["source"].as_str())
                .find(|src| src.ends_with("docker.sock"))
                .map(str::to_owned);
            ok(
                sock.is_none(),
                format!("{} is mounted", sock.unwrap_or_default()),
            )
        }),
    },
];

#[derive(Debug, Clone, Serialize)]
pub struct ControlResult {
    pub id: &'static str,
    pub title: &'static str,
    pub level: u8,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub rules: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub passed: usize,
    pub applicable: usize,
    /// passed / applicable, in percent (100 when nothing applies)
    pub percent: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub level1: Score,
    pub level2: Score,
    pub controls: Vec<ControlResult>,
}

/// The controls decided on `exec`, not from the container's spec.
pub const EXEC_CONTROLS: &[&str] = &["5.23", "5.24"];

/// The controls decided on `exec` (5.23, 5.24), for the exec'd `process` in a container whose
/// spec is `container`; every other control was decided at create and is not applicable here.
pub fn score_exec(process: &Value, container: &Value) -> Report {
    let caps_of = |v: &Value| -> Vec<String> {
        [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ]
        .iter()
        .flat_map(|set| strings(v, &format!("/capabilities/{set}")))
        .collect()
    };
    let allowed = strings(container, "/process/capabilities/bounding");
    let mut extra: Vec<String> = caps_of(process)
        .into_iter()
        .filter(|c| !allowed.contains(c) || c == "CAP_SYS_ADMIN")
        .collect();
    extra.sort();
    extra.dedup();
    let uid = at(process, "/user/uid")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let results: Vec<ControlResult> = CONTROLS
        .iter()
        .map(|c| {
            let (verdict, reason) = match c.id {
                "5.23" => ok(
                    extra.is_empty(),
                    format!(
                        "the exec'd process has capabilities beyond the container's: {}",
                        extra.join(", ")
                    ),
                ),
                "5.24" => ok(uid != 0, "the exec'd process runs as uid 0"),
                _ => (Verdict::NotApplicable, "decided at create".to_owned()),
            };
            c.result(verdict, reason)
        })
        .collect();
    tally(results)
}

/// How the reason of a failing control the gate does not count begins (the `cis-score` rule
/// sets it on the controls that fail only because of a granted exception).
pub const EXCEPTED: &str = "excepted: ";

/// What the audit record keeps of a score: both levels, the gate and the failing controls.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Summary {
    pub level1: f64,
    pub level2: f64,
    /// the profile's gate: `min_score` at `level`
    pub min_score: f64,
    pub level: u8,
    /// ids of the controls that fail (any level)
    pub failing: Vec<String>,
    /// ids of the controls the gate did not count: they fail only because of what an authorized
    /// exception granted (their reason begins `excepted: `, see the `cis-score` rule)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excepted: Vec<String>,
}

impl Summary {
    pub fn of(r: &Report, gate: &crate::profile::ComplianceCfg) -> Summary {
        Summary {
            level1: r.level1.percent,
            level2: r.level2.percent,
            min_score: gate.min_score,
            level: gate.level,
            failing: r
                .controls
                .iter()
                .filter(|c| c.verdict == Verdict::Fail)
                .map(|c| c.id.to_owned())
                .collect(),
            excepted: r
                .controls
                .iter()
                .filter(|c| c.verdict == Verdict::NotApplicable && c.reason.starts_with(EXCEPTED))
                .map(|c| c.id.to_owned())
                .collect(),
        }
    }
}

/// Scores `spec`: every control decided; Level 1 over the Level 1 controls, Level 2 over all.
pub fn score(spec: &Value, host: &dyn Host) -> Report {
    let controls: Vec<ControlResult> = CONTROLS
        .iter()
        .map(|c| {
            let (verdict, reason) = match c.decide {
                Some(f) => f(spec, host),
                None if EXEC_CONTROLS.contains(&c.id) => (
                    Verdict::NotApplicable,
                    "decided on exec (see the exec records in the audit log)".to_owned(),
                ),
                None => (
                    Verdict::NotApplicable,
                    "not decided from a spec (not applicable to a runtime)".to_owned(),
                ),
            };
            c.result(verdict, reason)
        })
        .collect();
    tally(controls)
}

/// Level 1 over the Level 1 controls, Level 2 over all; not applicable ones left out.
/// The level 1 and level 2 scores of decided controls (also after the gate re-judged some).
pub fn tally(controls: Vec<ControlResult>) -> Report {
    let tally = |max_level: u8| {
        let applicable: Vec<&ControlResult> = controls
            .iter()
            .filter(|c| c.level <= max_level && c.verdict != Verdict::NotApplicable)
            .collect();
        let passed = applicable
            .iter()
            .filter(|c| c.verdict == Verdict::Pass)
            .count();
        let percent = if applicable.is_empty() {
            100.0
        } else {
            100.0 * passed as f64 / applicable.len() as f64
        };
        Score {
            passed,
            applicable: applicable.len(),
            percent: (percent * 10.0).round() / 10.0,
        }
    };
    Report {
        level1: tally(1),
        level2: tally(2),
        controls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::TestHost;
    use serde_json::json;

    /// 5.2 and 5.3 are judged by the host's LSMs, as the `Host` says: without root, and
    /// whatever this machine runs.
    #[test]
    fn lsm_controls_follow_the_hosts_lsms() {
        struct Confined(Lsm);
        impl Host for Confined {
            fn host_ns(&self, kind: &str) -> Option<u64> {
                TestHost.host_ns(kind)
            }
            fn ns_at(&self, path: &str) -> Option<u64> {
                TestHost.ns_at(path)
            }
            fn hard_rlimit(&self, resource: &str) -> Option<u64> {
                TestHost.hard_rlimit(resource)
            }
            fn seccomp_arch(&self) -> &'static str {
                TestHost.seccomp_arch()
            }
            fn lsm_enabled(&self, lsm: Lsm) -> bool {
                lsm == self.0
            }
        }
        let verdict = |spec: &Value, host: &dyn Host, id: &str| {
            let c = CONTROLS.iter().find(|c| c.id == id).unwrap();
            (c.decide.unwrap())(spec, host).0
        };
        let bare = json!({"process": {}});
        let labelled = json!({"process": {"apparmorProfile": "docker-default", "selinuxLabel": "system_u:system_r:container_t:s0"}});
        for id in ["5.2", "5.3"] {
            assert_eq!(
                verdict(&bare, &TestHost, id),
                Verdict::NotApplicable,
                "{id}"
            );
        }
        let apparmor = Confined(Lsm::AppArmor);
        assert_eq!(verdict(&bare, &apparmor, "5.2"), Verdict::Fail);
        assert_eq!(verdict(&labelled, &apparmor, "5.2"), Verdict::Pass);
        assert_eq!(verdict(&labelled, &apparmor, "5.3"), Verdict::NotApplicable);
        let selinux = Confined(Lsm::SELinux);
        assert_eq!(verdict(&bare, &selinux, "5.3"), Verdict::Fail);
        assert_eq!(verdict(&labelled, &selinux, "5.3"), Verdict::Pass);
        assert_eq!(verdict(&labelled, &selinux, "5.2"), Verdict::NotApplicable);
    }

    #[test]
    fn exec_controls() {
        let container = json!({"process": {"capabilities": {"bounding": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]}}});
        for (process, want) in [
            (
                json!({"user": {"uid": 1000}, "capabilities": {"bounding": ["CAP_CHOWN"]}}),
                vec![],
            ),
            (json!({"user": {"uid": 0}}), vec!["5.24"]),
            (
                json!({"user": {"uid": 5}, "capabilities": {"effective": ["CAP_SYS_PTRACE"]}}),
                vec!["5.23"],
            ),
            (
                json!({"user": {"uid": 0}, "capabilities": {"bounding": ["CAP_SYS_ADMIN"]}}),
                vec!["5.23", "5.24"],
            ),
        ] {
            let r = score_exec(&process, &container);
            let fails: Vec<&str> = r
                .controls
                .iter()
                .filter(|c| c.verdict == Verdict::Fail)
                .map(|c| c.id)
                .collect();
            assert_eq!(fails, want, "{process}");
            assert_eq!(r.level2.applicable, 2);
            assert_eq!(r.level1.applicable, 0);
        }
        let r = score(&json!({}), &crate::base::TestHost);
        let c = r.controls.iter().find(|c| c.id == "5.24").unwrap();
        assert_eq!(c.verdict, Verdict::NotApplicable);
        assert!(c.reason.starts_with("decided on exec"));
    }

    /// The two maps are one: every CIS tag of a rule names a control of the catalogue that a spec
    /// (or an exec'd process) can decide, and what each control says satisfies it is exactly the
    /// rules that carry its tag.
    #[test]
    fn cis_maps_are_derived_and_consistent() {
        use crate::base::rule::RULES;
        let on_exec = score_exec(&json!({}), &json!({}));
        let decided_on_exec = |id: &str| {
            on_exec
                .controls
                .iter()
                .any(|c| c.id == id && c.verdict != Verdict::NotApplicable)
        };
        for r in RULES {
            for id in r.cis {
                let c = CONTROLS.iter().find(|c| c.id == *id);
                assert!(
                    c.is_some_and(|c| c.decide.is_some()),
                    "rule {} claims CIS {id}, which the catalogue cannot decide on a spec",
                    r.code
                );
            }
            for id in r.cis_exec {
                assert!(
                    decided_on_exec(id),
                    "rule {} claims CIS {id} on exec, which score_exec does not decide",
                    r.code
                );
            }
        }
        for (id, want) in [
            ("4.1", vec!["user"]),
            ("5.4", vec!["capabilities"]),
            ("5.5", vec!["privileged"]),
            ("5.10", vec!["namespaces"]),
            ("5.13", vec!["rootfs"]),
            ("5.23", vec!["capabilities"]),
            ("5.24", vec!["user"]),
            ("5.25", vec![]),
            ("5.29", vec!["resources"]),
            ("5.31", vec!["userns"]),
            ("5.32", vec!["mounts"]),
        ] {
            let c = CONTROLS.iter().find(|c| c.id == id).unwrap();
            assert_eq!(c.rules(), want, "{id}");
        }
        // exec controls are tagged on exec only; a spec's controls never by an exec-only tag
        for c in CONTROLS
            .iter()
            .filter(|c| c.level == 2 && ["5.23", "5.24"].contains(&c.id))
        {
            for code in c.rules() {
                let r = crate::base::rule::info(code).unwrap();
                assert!(
                    r.cis_exec.contains(&c.id) && !r.cis.contains(&c.id),
                    "{code}"
                );
            }
        }
        let score = score(&json!({}), &TestHost);
        for c in &score.controls {
            let control = CONTROLS.iter().find(|x| x.id == c.id).unwrap();
            assert_eq!(c.rules, control.rules(), "{}", c.id);
        }
    }

    fn verdicts(r: &Report) -> Vec<(&str, Verdict)> {
        r.controls
            .iter()
            .filter(|c| c.verdict != Verdict::NotApplicable)
            .map(|c| (c.id, c.verdict))
            .collect()
    }

    #[test]
    fn runc_default_docker_privileged_and_hardened() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/containerd-spec.json"))
                .unwrap();
        let r = score(&fixture, &TestHost);
        let fails: Vec<&str> = verdicts(&r)
            .into_iter()
            .filter(|(_, v)| *v == Verdict::Fail)
            .map(|(id, _)| id)
            .collect();
        // containerd's default: root, writable, no limits but CPU shares, no seccomp in this
        // abridged fixture, no no-new-privileges, no user namespace, no pids limit
        assert_eq!(
            fails,
            ["4.1", "5.11", "5.13", "5.22", "5.26", "5.29", "5.31"],
            "{r:#?}"
        );
        assert!(r.level1.percent < 85.0);

        let privileged = json!({
            "process": {"user": {"uid": 0}, "capabilities": {"bounding": (0..41).map(|i| format!("CAP_{i}")).chain(["CAP_SYS_ADMIN".into()]).collect::<Vec<_>>()}},
            "root": {"path": "r"},
            "mounts": [{"destination": "/var/run/docker.sock", "type": "bind", "source": "/var/run/docker.sock", "options": ["rbind", "rshared"]},
                       {"destination": "/host", "type": "bind", "source": "/etc", "options": ["rbind"]}],
            "linux": {"resources": {"devices": [{"allow": true, "access": "rwm"}]}, "namespaces": [{"type": "mount"}]}
        });
        let r = score(&privileged, &TestHost);
        for id in [
            "4.1", "5.4", "5.5", "5.6", "5.10", "5.16", "5.18", "5.20", "5.32",
        ] {
            assert!(verdicts(&r).contains(&(id, Verdict::Fail)), "{id}: {r:#?}");
        }
        assert!(r.level1.percent < 20.0, "{}", r.level1.percent);

        // not-applicable controls are listed, never dropped
        assert!(r
            .controls
            .iter()
            .any(|c| c.id == "5.8" && c.verdict == Verdict::NotApplicable));
        assert_eq!(r.controls.len(), CONTROLS.len());
    }
}
