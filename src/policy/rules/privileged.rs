//! `privileged` (CIS 5.5): refuses the signature of a privileged container (`docker run
//! --privileged`, a Kubernetes `privileged: true` pod), judged on the caller's spec — this rule
//! runs first, before any other rule rewrites what it looks at.
//!
//! The signature is a bounding set with (nearly) every capability — at least 38, or
//! `CAP_SYS_ADMIN`, `CAP_SYS_MODULE` and `CAP_SYS_RAWIO` together — and at least two of: no
//! `linux.seccomp`, no masked paths, no read-only paths, a device cgroup rule allowing every
//! device, `/sys` mounted writable. Capabilities alone are left to the `capabilities` rule
//! (`--cap-add ALL` with the rest of Docker's defaults is not privileged). There is no fix by
//! design: rewriting a privileged container into an unprivileged one silently changes what the
//! caller asked for, so the proposal refuses (the restricted and baseline profiles deny).

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx, strings};
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "a privileged container (all capabilities, no seccomp, unmasked paths, all devices) is refused",
    severity: Severity::Critical,
    process: false,
    evaluate: Some(evaluate),
};

/// A bounding set this large is "all capabilities" (Linux 5.9+ has 41).
const NEARLY_ALL: usize = 38;
const DANGEROUS: &[&str] = &["CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO"];

fn caps_signal(spec: &Value) -> Option<String> {
    let mut caps = strings(spec, "/process/capabilities/bounding");
    caps.sort();
    caps.dedup();
    if caps.len() >= NEARLY_ALL {
        let all = if caps.len() >= 41 { "all " } else { "" };
        return Some(format!("{all}{} capabilities", caps.len()));
    }
    if DANGEROUS.iter().all(|d| caps.iter().any(|c| c == d)) {
        return Some(DANGEROUS.join(", "));
    }
    None
}

fn empty_list(spec: &Value, ptr: &str) -> bool {
    spec.pointer(ptr)
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty())
}

fn all_devices(spec: &Value) -> bool {
    let Some(rules) = spec
        .pointer("/linux/resources/devices")
        .and_then(Value::as_array)
    else {
        return false;
    };
    rules.iter().any(|r| {
        let allow = r.get("allow").and_then(Value::as_bool) == Some(true);
        let typ = r
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or("a");
        let access = r
            .get("access")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .unwrap_or("rwm");
        allow && typ == "a" && access.contains('r') && access.contains('w')
    })
}

fn sys_writable(spec: &Value) -> bool {
    spec.get("mounts")
        .and_then(Value::as_array)
        .and_then(|mounts| {
            mounts.iter().rfind(|m| {
                m.get("destination")
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.trim_end_matches('/') == "/sys")
            })
        })
        .is_some_and(|m| !strings(m, "/options").iter().any(|o| o == "ro"))
}

pub fn evaluate(spec: &Value, _profile: &Profile, _ctx: &RuleCtx) -> Vec<Proposal> {
    if spec.get("process").is_none() || spec.get("root").is_none() {
        return vec![];
    }
    let Some(caps) = caps_signal(spec) else {
        return vec![];
    };
    let mut seen = vec![];
    if spec.pointer("/linux/seccomp").is_none_or(Value::is_null) {
        seen.push("no seccomp");
    }
    if empty_list(spec, "/linux/maskedPaths") {
        seen.push("no masked paths");
    }
    if empty_list(spec, "/linux/readonlyPaths") {
        seen.push("no read-only paths");
    }
    if all_devices(spec) {
        seen.push("all devices allowed");
    }
    if sys_writable(spec) {
        seen.push("/sys writable");
    }
    if seen.len() < 2 {
        return vec![];
    }
    vec![Proposal::refuse(
        "/process/capabilities/bounding",
        format!("privileged container: {caps}, {}", seen.join(", ")),
    )]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::testing::*;
    use super::super::ALL_CAPS;
    use super::*;
    use serde_json::json;

    /// The spec dockerd 20.10 hands its runtime for `docker run --network none busybox`
    /// (abridged: seccomp's syscall list, env).
    pub(crate) fn docker_default() -> Value {
        let caps = json!(DOCKER_CAPS);
        let c = "/var/lib/docker/containers/0123abcd";
        json!({
            "ociVersion": "1.0.2-dev",
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps}},
            "root": {"path": "/var/lib/docker/overlay2/0123abcd/merged"},
            "hostname": "0123abcd",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
                {"destination": "/etc/resolv.conf", "type": "bind", "source": format!("{c}/resolv.conf"), "options": ["rbind", "rprivate"]},
                {"destination": "/etc/hostname", "type": "bind", "source": format!("{c}/hostname"), "options": ["rbind", "rprivate"]},
                {"destination": "/etc/hosts", "type": "bind", "source": format!("{c}/hosts"), "options": ["rbind", "rprivate"]}
            ],
            "hooks": {"prestart": [{"path": "/proc/4242/exe", "args": ["libnetwork-setkey", "-exec-root=/var/run/docker", "0123abcd", "5c4d3e2f1a0b"]}]},
            "linux": {
                "resources": {"devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
                    {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
                ], "blkioWeightDevice": []},
                "cgroupsPath": "/docker/0123abcd",
                "namespaces": [{"type": "mount"}, {"type": "network"}, {"type": "uts"}, {"type": "pid"}, {"type": "ipc"}],
                "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                    "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]},
                "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
            }
        })
    }

    /// `docker run --privileged`: every capability, no seccomp, no masked or read-only paths,
    /// every device allowed (and the host's listed), /sys read-write.
    pub(crate) fn docker_privileged() -> Value {
        let mut s = docker_default();
        let caps = json!(ALL_CAPS);
        for set in ["bounding", "effective", "permitted", "inheritable"] {
            s["process"]["capabilities"][set] = caps.clone();
        }
        let linux = s["linux"].as_object_mut().unwrap();
        linux.remove("seccomp");
        linux.remove("maskedPaths");
        linux.remove("readonlyPaths");
        linux.insert(
            "devices".into(),
            json!([{"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "fileMode": 432, "uid": 0, "gid": 6}]),
        );
        s["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
        s["mounts"][3]["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
        s
    }

    #[test]
    fn docker_privileged_is_refused_in_every_profile() {
        for name in ["restricted", "baseline", "ci-runner", "permissive"] {
            let r = run(evaluate, &docker_privileged(), &profile(name));
            assert_eq!(r.len(), 1, "{name}");
            assert!(!r[0].fixable);
            assert_eq!(r[0].pointer, "/process/capabilities/bounding");
            assert_eq!(
                r[0].message,
                "privileged container: all 41 capabilities, no seccomp, no masked paths, no read-only paths, all devices allowed, /sys writable"
            );
        }
    }

    #[test]
    fn ordinary_containers_pass() {
        let p = profile("restricted");
        // docker's default spec
        assert!(run(evaluate, &docker_default(), &p).is_empty());
        // --cap-add ALL alone: the capabilities rule's business
        let mut s = docker_default();
        s["process"]["capabilities"]["bounding"] = json!(ALL_CAPS);
        assert!(run(evaluate, &s, &p).is_empty());
        // --cap-add ALL --security-opt seccomp=unconfined: one signal only
        s["linux"].as_object_mut().unwrap().remove("seccomp");
        assert!(run(evaluate, &s, &p).is_empty());
        // no seccomp, no paths, but docker's capabilities: not privileged
        let mut s = docker_default();
        let linux = s["linux"].as_object_mut().unwrap();
        linux.remove("seccomp");
        linux.remove("maskedPaths");
        assert!(run(evaluate, &s, &p).is_empty());
        // a process-only fragment (exec) is not judged
        assert!(run(
            evaluate,
            &json!({"process": {"capabilities": {"bounding": ALL_CAPS}}}),
            &p
        )
        .is_empty());
    }

    #[test]
    fn signatures() {
        let p = profile("baseline");
        // a Kubernetes privileged pod through containerd's CRI: empty path lists, seccomp
        // unconfined (null), every device allowed
        let mut s = docker_default();
        s["process"]["capabilities"]["bounding"] = json!(ALL_CAPS);
        s["linux"]["seccomp"] = Value::Null;
        s["linux"]["maskedPaths"] = json!([]);
        s["linux"]["readonlyPaths"] = json!([]);
        let r = run(evaluate, &s, &p);
        assert_eq!(
            r[0].message,
            "privileged container: all 41 capabilities, no seccomp, no masked paths, no read-only paths"
        );
        // the three dangerous capabilities without the rest, all devices, /sys writable
        let mut s = docker_default();
        s["process"]["capabilities"]["bounding"] = json!([
            "CAP_SYS_RAWIO",
            "CAP_SYS_ADMIN",
            "CAP_CHOWN",
            "CAP_SYS_MODULE"
        ]);
        s["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "a", "access": "rwm"}]);
        s["mounts"][3]["options"] = json!(["nosuid", "noexec", "nodev"]);
        let r = run(evaluate, &s, &p);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].message,
            "privileged container: CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_RAWIO, all devices allowed, /sys writable"
        );
        // 38 capabilities are nearly all; only mknod on every device is not "all devices"
        let mut s = docker_default();
        s["process"]["capabilities"]["bounding"] = json!(ALL_CAPS[..38]);
        s["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "m"}]);
        s["linux"]["maskedPaths"] = json!([]);
        assert!(run(evaluate, &s, &p).is_empty(), "one signal");
        s["linux"]["readonlyPaths"] = json!([]);
        assert_eq!(
            run(evaluate, &s, &p)[0].message,
            "privileged container: 38 capabilities, no masked paths, no read-only paths"
        );
    }
}
