//! `hooks`: OCI hooks run on the host, as the runtime's user (root), with the container's state
//! on stdin; only hooks whose `path` is in the profile's `hooks.allow` may run. The others are
//! removed from their phase (`prestart`, `createRuntime`, `createContainer`, `startContainer`,
//! `poststart`, `poststop`); a phase left without hooks stays as an empty array.
//!
//! Allow entries are exact absolute paths, compared as strings: a path spelled differently
//! (`/usr/bin/../bin/x`) does not match and is removed.
//!
//! Docker: dockerd adds a `prestart` hook `/proc/<dockerd pid>/exe libnetwork-setkey …` to every
//! container it networks (`--network none` included). Its path changes with every dockerd
//! restart, so no allow entry can name it; `hooks.docker_network = true` keeps exactly that hook
//! when `/proc/<pid>/exe` is a running `dockerd` (asked of the host when the rule runs) and its
//! `args[0]` is `libnetwork-setkey` (dockerd re-executes itself and dispatches on argv[0]). Without it, under `enforce`, the hook is removed and
//! Docker's network setup (interfaces, and the loopback of `--network none`) does not happen.

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "OCI hooks (run on the host as root) only from the profile's allowlist",
    severity: Severity::High,
    process: false,
    evaluate: Some(evaluate),
};

pub const PHASES: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// dockerd's network hook: `/proc/<pid>/exe` of a running dockerd, called `libnetwork-setkey`.
fn is_docker_network_hook(h: &Value, ctx: &RuleCtx) -> bool {
    let Some(pid) = h
        .get("path")
        .and_then(Value::as_str)
        .and_then(|p| p.strip_prefix("/proc/"))
        .and_then(|p| p.strip_suffix("/exe"))
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    let setkey = h.pointer("/args/0").and_then(Value::as_str) == Some("libnetwork-setkey");
    setkey
        && ctx
            .host
            .process_exe(pid)
            .is_some_and(|exe| exe.file_name().is_some_and(|n| n == "dockerd"))
}

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    let mut out = vec![];
    for phase in PHASES {
        let ptr = format!("/hooks/{phase}");
        let Some(hooks) = spec.pointer(&ptr).and_then(Value::as_array) else {
            continue;
        };
        let (kept, removed): (Vec<&Value>, Vec<&Value>) = hooks.iter().partition(|h| {
            h.get("path")
                .and_then(Value::as_str)
                .is_some_and(|p| profile.hooks.allow.iter().any(|a| a == p))
                || (profile.hooks.docker_network && is_docker_network_hook(h, ctx))
        });
        if removed.is_empty() {
            continue;
        }
        let names: Vec<&str> = removed
            .iter()
            .map(|h| h.get("path").and_then(Value::as_str).unwrap_or("(no path)"))
            .collect();
        let kept: Vec<Value> = kept.into_iter().cloned().collect();
        out.push(Proposal::fix(
            ptr.clone(),
            format!(
                "{phase} hook{} removed (not in the profile's hooks.allow): {}",
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            ),
            vec![Edit::set(ptr, kept)],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::privileged::tests::docker_default;
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    fn hook(path: &str) -> Value {
        json!({"path": path, "args": [path, "x"], "timeout": 5})
    }

    #[test]
    fn table() {
        let p = profile("restricted");
        assert!(run(evaluate, &json!({"root": {"path": "r"}}), &p).is_empty());
        assert!(run(evaluate, &json!({"hooks": {"prestart": []}}), &p).is_empty());

        // docker's libnetwork hook: removed, the phase stays as []
        let r = run(evaluate, &docker_default(), &p);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].pointer, "/hooks/prestart");
        assert_eq!(
            r[0].message,
            "prestart hook removed (not in the profile's hooks.allow): /proc/4242/exe"
        );
        assert_eq!(
            fixed(evaluate, &docker_default(), &p)["hooks"],
            json!({"prestart": []})
        );

        // allowed hooks stay, in order; every phase is looked at
        let mut allowing = profile("restricted");
        allowing.hooks.allow = vec!["/usr/bin/nvidia-container-runtime-hook".into()];
        let s = json!({"hooks": {
            "prestart": [hook("/usr/bin/nvidia-container-runtime-hook"), hook("/tmp/evil")],
            "createRuntime": [hook("/usr/libexec/oci/hooks.d/a"), hook("/usr/bin/../bin/nvidia-container-runtime-hook")],
            "createContainer": [hook("/usr/bin/nvidia-container-runtime-hook")],
            "startContainer": [{"args": ["no-path"]}],
            "poststart": [hook("/opt/p")],
            "poststop": [hook("/opt/q")],
            "x-unknown": [hook("/opt/r")]
        }});
        let r = run(evaluate, &s, &allowing);
        let got: Vec<(&str, &str)> = r
            .iter()
            .map(|p| (p.pointer.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/hooks/prestart", "prestart hook removed (not in the profile's hooks.allow): /tmp/evil"),
                ("/hooks/createRuntime", "createRuntime hooks removed (not in the profile's hooks.allow): /usr/libexec/oci/hooks.d/a, /usr/bin/../bin/nvidia-container-runtime-hook"),
                ("/hooks/startContainer", "startContainer hook removed (not in the profile's hooks.allow): (no path)"),
                ("/hooks/poststart", "poststart hook removed (not in the profile's hooks.allow): /opt/p"),
                ("/hooks/poststop", "poststop hook removed (not in the profile's hooks.allow): /opt/q"),
            ]
        );
        let out = fixed(evaluate, &s, &allowing);
        assert_eq!(
            out["hooks"],
            json!({
                "prestart": [hook("/usr/bin/nvidia-container-runtime-hook")],
                "createRuntime": [],
                "createContainer": [hook("/usr/bin/nvidia-container-runtime-hook")],
                "startContainer": [],
                "poststart": [],
                "poststop": [],
                "x-unknown": [hook("/opt/r")]
            })
        );
        // the same proposals under every profile's action
        assert_eq!(
            run(evaluate, &docker_default(), &profile("baseline")),
            run(evaluate, &docker_default(), &p)
        );
    }

    struct DockerHost(Option<&'static str>);

    impl crate::policy::rules::Host for DockerHost {
        fn host_ns(&self, kind: &str) -> Option<u64> {
            crate::policy::rules::TestHost.host_ns(kind)
        }
        fn ns_at(&self, path: &str) -> Option<u64> {
            crate::policy::rules::TestHost.ns_at(path)
        }
        fn hard_rlimit(&self, r: &str) -> Option<u64> {
            crate::policy::rules::TestHost.hard_rlimit(r)
        }
        fn seccomp_arch(&self) -> &'static str {
            "SCMP_ARCH_X86_64"
        }
        fn process_exe(&self, pid: u32) -> Option<std::path::PathBuf> {
            (pid == 4242)
                .then(|| self.0.map(std::path::PathBuf::from))
                .flatten()
        }
    }

    #[test]
    fn docker_network_hook_is_kept_only_for_a_running_dockerd() {
        let mut p = profile("restricted");
        p.hooks.docker_network = true;
        let ann = std::collections::BTreeMap::new();
        let granted = crate::policy::rules::Granted::default();
        let eval = |host: &DockerHost, spec: &Value, p: &Profile| {
            let ctx = RuleCtx {
                id: "t",
                annotations: &ann,
                granted: &granted,
                host,
                userns: None,
                sources: crate::bundle::Sources::none(),
                tripwires: None,
            };
            evaluate(spec, p, &ctx)
        };
        let spec = docker_default();
        assert!(eval(&DockerHost(Some("/usr/sbin/dockerd")), &spec, &p).is_empty());
        // pid 4242 is something else, or gone: removed
        assert_eq!(eval(&DockerHost(Some("/usr/bin/bash")), &spec, &p).len(), 1);
        assert_eq!(eval(&DockerHost(None), &spec, &p).len(), 1);
        // the right binary with other arguments: removed
        let mut other = spec.clone();
        other["hooks"]["prestart"][0]["args"][0] = json!("something-else");
        assert_eq!(
            eval(&DockerHost(Some("/usr/sbin/dockerd")), &other, &p).len(),
            1
        );
        // the option off: removed even for dockerd
        p.hooks.docker_network = false;
        assert_eq!(
            eval(&DockerHost(Some("/usr/sbin/dockerd")), &spec, &p).len(),
            1
        );
    }
}
