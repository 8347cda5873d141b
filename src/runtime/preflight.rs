//! preflight: what the host's kernel would refuse the container's process, named before anything
//! is made. A spec the policy allowed can still ask for what this host cannot give: a process
//! whose arguments `execve` refuses (`E2BIG`), an `oomScoreAdj` or rlimit above what the runtime
//! may hand out without CAP_SYS_RESOURCE ([`crate::base::HostLimits`], behind the `Host` trait so
//! it is testable without root), cgroup v2 keys on a v1 host, a frozen cgroup. Each is refused
//! here in one line, instead of libcontainer's "io error" or "intermediate process error EPERM"
//! after the cgroup exists, or a create that hangs.

use std::path::Path;

use serde_json::Value;

use crate::base::HostLimits;

/// What the host would refuse, in one line naming the field.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("argument list too long: {field}.{key}[{index}]{name} is {len} bytes, above the kernel's limit of {MAX_ARG_STRLEN} bytes for one argument or variable")]
    ArgTooLong {
        field: String,
        key: &'static str,
        index: usize,
        /// ` (NAME)` for a variable, empty for an argument
        name: String,
        len: u64,
    },
    #[error("argument list too long: {field}.args and {field}.env take {total} bytes ({args} argument{}, {env} variable{}), above the kernel's limit of {limit} bytes for execve (a quarter of the stack limit {})",
        plural(*args), plural(*env), match *stack { u64::MAX => "unlimited".to_owned(), s => s.to_string() })]
    ArgListTooLong {
        field: String,
        total: u64,
        args: usize,
        env: usize,
        limit: u64,
        stack: u64,
    },
    #[error("process.oomScoreAdj {want} is below the runtime's own {own}: lowering it needs CAP_SYS_RESOURCE, which this host does not give the runtime (under containerd's CRI set restrict_oom_score_adj = true)")]
    OomScoreAdj { want: i64, own: i64 },
    #[error("process.rlimits[{index}]: {kind} hard limit {hard} is above the runtime's own hard limit {limit}: raising it needs CAP_SYS_RESOURCE, which this host does not give the runtime")]
    Rlimit {
        index: usize,
        kind: String,
        hard: u64,
        limit: u64,
    },
    #[error("linux.resources.unified: key {0:?} is not a cgroup file name (<controller>.<file>)")]
    UnifiedKey(String),
    #[error("linux.resources.unified ({0}): cgroup v2 keys cannot be applied on this host's cgroup v1 hierarchy (runc refuses them too); use the linux.resources memory, cpu and pids fields")]
    UnifiedOnV1(String),
    #[error("container's cgroup unexpectedly frozen: {0}")]
    Frozen(String),
    #[error("linux.cgroupsPath {0:?}: the systemd cgroup driver (--systemd-cgroup) wants the form slice:prefix:name (e.g. system.slice:hardrun:ID), as runc does")]
    SystemdPath(String),
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Everything create checks of the converted spec against this host: the process's arguments,
/// its limits, `linux.resources.unified`, and (cgroupfs driver) that the cgroup is not frozen.
pub fn create(
    spec: &Value,
    cgroups_path: &str,
    host: &HostLimits,
    cgroup_v2: bool,
    systemd: bool,
) -> Result<(), PreflightError> {
    if let Some(process) = spec.get("process") {
        check_arg_list("process", process, stack_limit_of(process))?;
    }
    preflight(spec, host)?;
    check_unified(spec.pointer("/linux/resources/unified"), cgroup_v2)?;
    if systemd {
        check_systemd_path(cgroups_path)?;
    }
    // a process put into a frozen cgroup stops before it reports back: the create would hang
    if !systemd && !cgroups_path.contains(':') {
        if let Some(why) = crate::runtime::cgroup_tree::frozen(Path::new(cgroups_path)) {
            return Err(PreflightError::Frozen(why));
        }
    }
    Ok(())
}

/// The systemd driver's `cgroupsPath`: `slice:prefix:name` (an empty slice is system.slice), where
/// prefix and name make the scope `<prefix>-<name>.scope`, exactly as runc takes it; libcgroups
/// would refuse most else later and less clearly.
pub fn check_systemd_path(path: &str) -> Result<(), PreflightError> {
    let parts: Vec<&str> = path.split(':').collect();
    let ok = match parts.as_slice() {
        [slice, prefix, name] => {
            (slice.is_empty() || (slice.ends_with(".slice") && !slice.contains('/')))
                && !prefix.is_empty()
                && !name.is_empty()
        }
        _ => false,
    };
    let ok = ok && !parts.iter().skip(1).any(|p| p.contains('/'));
    if ok {
        Ok(())
    } else {
        Err(PreflightError::SystemdPath(path.to_owned()))
    }
}

/// The kernel's limits on what `execve` copies (fs/exec.c): one string, NUL included, at most
/// `MAX_ARG_STRLEN` (32 pages); all strings plus their pointers at most a quarter of the stack
/// limit, no more than 3/4 of `_STK_LIM` (8 MiB) and no less than `ARG_MAX` (32 pages).
const MAX_ARG_STRLEN: u64 = 32 * 4096;
const ARG_MAX_MIN: u64 = 32 * 4096;
const STK_LIM: u64 = 8 << 20;

/// The limit on the total that `execve` copies, for a process whose `RLIMIT_STACK` soft limit is
/// `stack` (`u64::MAX`: unlimited).
pub fn arg_list_limit(stack: u64) -> u64 {
    (STK_LIM / 4 * 3).min(stack / 4).max(ARG_MAX_MIN)
}

/// The soft `RLIMIT_STACK` the process will have: the spec's, else the runtime's own (inherited).
pub fn stack_limit_of(process: &Value) -> u64 {
    let spec = process
        .get("rlimits")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .find(|r| r.get("type").and_then(|t| t.as_str()) == Some("RLIMIT_STACK"))
        .and_then(|r| r.get("soft").and_then(|v| v.as_u64()));
    spec.unwrap_or_else(|| {
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK)
            .map(|(soft, _)| soft)
            .unwrap_or(STK_LIM)
    })
}

/// Refuses a process whose arguments and environment the kernel's `execve` would refuse with
/// `E2BIG`, before anything is made: otherwise the container's process dies at its exec, after
/// the container was created, with nothing on the caller's stderr. `field` names the process
/// (`process` in a spec). Sizes only: values (an environment's secrets) are never printed.
pub fn check_arg_list(field: &str, process: &Value, stack: u64) -> Result<(), PreflightError> {
    let strings = |key: &str| -> Vec<&str> {
        process
            .get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect()
    };
    let (args, env) = (strings("args"), strings("env"));
    for (key, list) in [("args", &args), ("env", &env)] {
        for (i, s) in list.iter().enumerate() {
            let len = s.len() as u64 + 1;
            if len > MAX_ARG_STRLEN {
                let name = match key {
                    "env" => format!(" ({})", s.split('=').next().unwrap_or_default()),
                    _ => String::new(),
                };
                return Err(PreflightError::ArgTooLong {
                    field: field.to_owned(),
                    key,
                    index: i,
                    name,
                    len,
                });
            }
        }
    }
    let pointers = (args.len().max(1) + env.len()) as u64 * 8;
    // the program's path is copied too (args[0] here; the resolved path may be a little longer)
    let strings: u64 = args
        .iter()
        .chain(env.iter())
        .map(|s| s.len() as u64 + 1)
        .sum::<u64>()
        + args.first().map_or(1, |a| a.len() as u64 + 1);
    let total = strings + pointers;
    let limit = arg_list_limit(stack);
    if total > limit {
        return Err(PreflightError::ArgListTooLong {
            field: field.to_owned(),
            total,
            args: args.len(),
            env: env.len(),
            limit,
            stack,
        });
    }
    Ok(())
}

/// Settings the kernel will refuse to the container's process because hardrun lacks
/// CAP_SYS_RESOURCE (hosts whose bounding set drops it): named here, in one line, instead of
/// libcontainer's "io error" or "intermediate process error EPERM" after the cgroup exists.
pub fn preflight(spec: &Value, host: &HostLimits) -> Result<(), PreflightError> {
    if host.sys_resource {
        return Ok(());
    }
    if let (Some(want), Some(own)) = (
        spec.pointer("/process/oomScoreAdj")
            .and_then(|v| v.as_i64()),
        host.oom_score_adj,
    ) {
        if want < own && !(host.may_lower_oom_score_adj)(want) {
            return Err(PreflightError::OomScoreAdj { want, own });
        }
    }
    for (i, r) in spec
        .pointer("/process/rlimits")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let (Some(kind), Some(hard)) = (
            r.get("type").and_then(|v| v.as_str()),
            r.get("hard").and_then(|v| v.as_u64()),
        ) else {
            continue;
        };
        if let Some(limit) = (host.hard_limit)(kind).filter(|l| hard > *l) {
            return Err(PreflightError::Rlimit {
                index: i,
                kind: kind.to_owned(),
                hard,
                limit,
            });
        }
    }
    Ok(())
}

/// `linux.resources.unified` as the host can apply it, whatever the policy's mode: every key a
/// cgroup file name (libcgroups joins it to the container's cgroup directory and writes there),
/// and only on cgroup v2 (runc refuses unified on v1, "cannot use unified on cgroup v1";
/// libcgroups' v1 manager would drop it without a word). An empty map is nothing to apply.
pub fn check_unified(unified: Option<&Value>, cgroup_v2: bool) -> Result<(), PreflightError> {
    let Some(map) = unified
        .and_then(|u| u.as_object())
        .filter(|m| !m.is_empty())
    else {
        return Ok(());
    };
    if let Some(k) = map
        .keys()
        .find(|k| !crate::policy::rules::resources::cgroup_file_name(k))
    {
        return Err(PreflightError::UnifiedKey(k.clone()));
    }
    if !cgroup_v2 {
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        return Err(PreflightError::UnifiedOnV1(keys.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_paths_are_slice_prefix_name() {
        for ok in [
            "system.slice:hardrun:c1",
            "kubepods-besteffort.slice:cri-containerd:abc",
            ":hardrun:c1",
        ] {
            assert!(check_systemd_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/hardrun/c1",
            "/docker/abc",
            "system.slice:hardrun",
            "hardrun:c1",
            "a:b:c:d",
            "system.slice::c1",
            "system.slice:hardrun:",
            "system:hardrun:c1",
            "system.slice:hard/run:c1",
            "",
        ] {
            let e = check_systemd_path(bad).unwrap_err().to_string();
            assert!(
                e.contains("slice:prefix:name") && !e.contains('\n'),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn arg_list_sizes_are_the_kernels() {
        assert_eq!(arg_list_limit(8 << 20), 2 << 20);
        assert_eq!(arg_list_limit(u64::MAX), 6 << 20);
        assert_eq!(arg_list_limit(64 << 10), 128 << 10);
        let env = |n: usize, len: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("V{i:02}={}", "s".repeat(len)))
                .collect()
        };
        // 20 variables of 100 kB fit in a quarter of 8 MiB; 30 do not
        let p = serde_json::json!({"args": ["sh"], "env": env(20, 100_000)});
        assert!(check_arg_list("process", &p, 8 << 20).is_ok());
        let p = serde_json::json!({"args": ["sh"], "env": env(30, 100_000)});
        let e = check_arg_list("process", &p, 8 << 20)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "argument list too long: process.args and process.env take 3000404 bytes (1 argument, 30 variables), above the kernel's limit of 2097152 bytes for execve (a quarter of the stack limit 8388608)");
        assert!(!e.contains("sss"), "no value is printed");
        assert!(check_arg_list("process", &p, u64::MAX).is_ok());
        let p = serde_json::json!({"args": ["sh"], "env": ["A=1", format!("TOKEN={}", "s".repeat(200_000))]});
        let e = check_arg_list("process", &p, 8 << 20)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "argument list too long: process.env[1] (TOKEN) is 200007 bytes, above the kernel's limit of 131072 bytes for one argument or variable");
        let p = serde_json::json!({"args": ["sh", "-c", "x".repeat(131_071)]});
        assert!(check_arg_list("process", &p, 8 << 20).is_ok());
        let p = serde_json::json!({"args": ["sh", "-c", "x".repeat(131_072)]});
        let e = check_arg_list("process", &p, 8 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("argument list too long: process.args[2] is 131073 bytes"),
            "{e}"
        );
        let p = serde_json::json!({"args": ["sh"], "rlimits": [{"type": "RLIMIT_STACK", "soft": 1234, "hard": 5678}]});
        assert_eq!(stack_limit_of(&p), 1234);
    }

    #[test]
    fn preflight_names_what_the_kernel_would_refuse() {
        fn limits(name: &str) -> Option<u64> {
            (name == "RLIMIT_NOFILE").then_some(1024)
        }
        // the kernel lets it go back down to -10 (the lowest a privileged process set), no lower
        fn lower(want: i64) -> bool {
            want >= -10
        }
        let host = HostLimits {
            sys_resource: false,
            oom_score_adj: Some(0),
            may_lower_oom_score_adj: lower,
            hard_limit: limits,
        };
        let back_down = serde_json::json!({"process": {"oomScoreAdj": -10}});
        assert!(preflight(&back_down, &host).is_ok());
        let ok = serde_json::json!({"process": {"oomScoreAdj": 1000,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]}});
        assert!(preflight(&ok, &host).is_ok());
        let low = serde_json::json!({"process": {"oomScoreAdj": -998}});
        let e = preflight(&low, &host).unwrap_err().to_string();
        assert!(
            e.starts_with("process.oomScoreAdj -998 is below the runtime's own 0"),
            "{e}"
        );
        let high = serde_json::json!({"process": {"rlimits": [
            {"type": "RLIMIT_CORE", "hard": 1, "soft": 1},
            {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}]}});
        let e = preflight(&high, &host).unwrap_err().to_string();
        assert!(e.starts_with("process.rlimits[1]: RLIMIT_NOFILE hard limit 4096 is above the runtime's own hard limit 1024"), "{e}");
        // with CAP_SYS_RESOURCE the kernel allows both
        let privileged = HostLimits {
            sys_resource: true,
            ..host
        };
        assert!(preflight(&low, &privileged).is_ok() && preflight(&high, &privileged).is_ok());
    }
    #[test]
    fn unified_is_applied_only_on_cgroup_v2_and_only_to_cgroup_files() {
        use serde_json::json;
        let ok = json!({"memory.high": "1g", "hugetlb.2MB.max": "0"});
        assert!(check_unified(Some(&ok), true).is_ok());
        assert!(check_unified(None, false).is_ok());
        assert!(check_unified(Some(&json!({})), false).is_ok());
        let e = check_unified(Some(&ok), false).unwrap_err().to_string();
        assert_eq!(e, "linux.resources.unified (hugetlb.2MB.max, memory.high): cgroup v2 keys cannot be applied on this host's cgroup v1 hierarchy (runc refuses them too); use the linux.resources memory, cpu and pids fields");
        for bad in [
            "../../cgroup.procs",
            "memory.max/../x",
            "/etc/passwd",
            "max",
            ".max",
            "memory.",
        ] {
            let e = check_unified(Some(&json!({bad: "1"})), true)
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                format!("linux.resources.unified: key {bad:?} is not a cgroup file name (<controller>.<file>)")
            );
        }
    }
}
