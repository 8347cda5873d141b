//! `create`: load the bundle, pass the spec through the hardening seam, stage the spec that will
//! run, and hand it to libcontainer. On any failure nothing is left behind: no state directory,
//! no staging directory, no cgroup, no pid file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::cli::GlobalOpts;
use crate::runtime::delegate::{self, Container, CreateRequest};
use crate::runtime::state_dir::{self, Record, Root};
use crate::{bundle, policy};

pub fn run(global: &GlobalOpts, args: &liboci_cli::Create) -> Result<i32> {
    create_container(
        global,
        &CreateRequest {
            id: &args.container_id,
            bundle: &args.bundle,
            pid_file: args.pid_file.as_deref(),
            console_socket: args.console_socket.as_deref(),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            detach: true,
        },
    )?;
    Ok(0)
}

/// Checks that `--systemd-cgroup` can be honoured here; it is never silently ignored.
pub fn check_systemd(global: &GlobalOpts) -> Result<()> {
    if !global.systemd_cgroup {
        return Ok(());
    }
    if !Path::new("/run/systemd/system").is_dir() {
        bail!("--systemd-cgroup: systemd not running on this host (no /run/systemd/system); use the cgroupfs driver (drop --systemd-cgroup, or SystemdCgroup = false in containerd)");
    }
    if !cfg!(feature = "systemd") {
        bail!("--systemd-cgroup: this hardrun was built without the systemd cgroup driver (cargo feature \"systemd\")");
    }
    Ok(())
}

/// The cgroup path used when the spec names none: an absolute path under `/hardrun`, instead of
/// libcontainer's `:youki:<id>`, which on cgroup v1 lands at the top of every hierarchy. One per
/// state root, so the same id under two `--root`s never shares a cgroup (a `delete --force` kills
/// everything in the container's cgroup); see [`crate::base::paths::default_cgroups_path`].
pub use crate::base::paths::default_cgroups_path;

pub fn create_container(global: &GlobalOpts, a: &CreateRequest) -> Result<Container> {
    state_dir::validate_id(a.id)?;
    check_systemd(global)?;
    let root = Root::for_create(&global.root)?;
    root.check_id_fits(a.id)?;
    let staging = root.stage(a.id)?;
    let loaded = bundle::load(a.bundle)?;
    loaded.require_sources()?;
    super::warn_ignored_caps(&loaded.ignored_caps);

    let config = super::policy_config(global)?;
    // a monitor listening on the state root's tripwire socket: the profile's tripwires are armed
    let tripwires = crate::base::paths::tripwire_socket(&root.path);
    let monitor = crate::runtime::tripwire::listening(&tripwires);
    let mut ctx = super::policy_context(global, &config, a.id, &loaded.dir);
    ctx.tripwires = monitor.then_some(tripwires.as_path());
    // the rules judge bind mount sources as the host objects they name
    ctx.sources = &loaded.sources;
    let container_dir = root.container_dir(a.id);
    // `userns` enforced: a host id range of the container's own, held by its state directory
    // (and the staging directory until that exists); released on any failure below (drop)
    // the profile is selected once: for the lease and for the rules
    let selected = policy::select(&loaded.raw, &ctx);
    let pool = selected
        .as_ref()
        .ok()
        .and_then(|s| s.userns_pool(&loaded.raw, ctx.host));
    let lease = match pool {
        Some(pool) => Some(crate::runtime::userns::Lease::allocate(
            &pool,
            &container_dir,
            &[&staging.dir],
        )?),
        None => None,
    };
    ctx.userns = lease.as_ref().map(|l| l.range);
    let command = a.command();
    let decision = match selected {
        Ok(s) => policy::harden_selected(s, &loaded.raw, &ctx),
        Err(denied) => Err(denied),
    };
    // recorded as allowed only once every stage that can refuse before libcontainer has passed
    // (below); a failure in between is recorded as `failed`, with its reason (see lifecycle)
    // the Kubernetes workload the caller names (CRI annotations), recorded as its claims
    let workload = crate::audit::Workload::from_spec(&loaded.raw);
    let mut outcome = super::judge(
        &config,
        command,
        a.id,
        &loaded.dir,
        workload.as_ref(),
        decision,
    )?;
    for line in config.catalog.broken_warnings(&outcome.profile) {
        super::notice(global, &line);
    }
    // the limits the profile set or lowered, for whoever reads the runtime's stderr (the shim's
    // log), not only the audit log: printed once the container exists
    let limit_notices =
        policy::rules::resources::notices(&outcome.findings, &outcome.value, &outcome.profile);
    // exec and update are judged against this, never against the flags of their own caller
    let bound = policy::binding::Bound::new(&outcome, config.catalog.get(&outcome.profile)?);
    // `[egress]`: the nftables table loaded into the container's network namespace below
    let egress = policy::egress::plan(
        config.catalog.get(&outcome.profile)?,
        outcome.mode,
        &outcome.value,
    );
    let mut spec = std::mem::take(&mut outcome.value);
    // whatever the mode: libcontainer mounts the objects that were judged, not paths relative
    // to the caller's working directory
    bundle::sources::rewrite(&mut spec, &loaded.sources);
    let cgroups_path = normalize_for_runtime(
        &mut spec,
        &default_cgroups_path(&root.path, a.id),
        &loaded.rootfs,
    )?;
    if let Some(process) = spec.get("process") {
        check_arg_list("process", process, stack_limit_of(process))?;
    }
    preflight(&spec, &HostLimits::read())?;
    check_unified(
        spec.pointer("/linux/resources/unified"),
        delegate::cgroup_v2(),
    )?;
    // a process put into a frozen cgroup stops before it reports back: the create would hang
    if !global.systemd_cgroup && !cgroups_path.contains(':') {
        if let Some(why) = crate::runtime::cgroup_tree::frozen(Path::new(&cgroups_path)) {
            bail!("container's cgroup unexpectedly frozen: {why}");
        }
    }
    // a user namespace: libcontainer builds the rootfs as the mapped root, which can neither
    // write a root-owned image nor pass directories closed to others. Mount points are made from
    // the host side, and what it cannot reach is bound where it can, in this process's private
    // mount namespace (see userns_mounts); the caller's directories are never changed.
    let runtime_spec = match crate::runtime::userns_mounts::mapped_root(&spec) {
        Some((uid, gid)) => {
            crate::runtime::userns_mounts::check_rootfs_searchable(&loaded.rootfs, uid, gid)
                .map_err(anyhow::Error::msg)?;
            crate::runtime::userns_mounts::create_mountpoints(&loaded.rootfs, &spec)
                .map_err(anyhow::Error::msg)?;
            let mut runtime = crate::runtime::userns_mounts::reach(&spec, &loaded.rootfs, uid, gid)
                .map_err(anyhow::Error::msg)?;
            // sysfs cannot be mounted in a network namespace another user namespace owns
            if crate::runtime::userns_mounts::sysfs_needs_bind(&spec) {
                let r = runtime.get_or_insert_with(|| spec.clone());
                crate::runtime::userns_mounts::bind_sysfs(r);
            }
            runtime
        }
        None => None,
    };

    // libcontainer reads the spec from the staged bundle: the one with the bindings while it
    // creates, the real one (what exec and `check` read) from then on
    staging.write_spec(runtime_spec.as_ref().unwrap_or(&spec))?;
    staging.write_original(&loaded.original)?;
    // built in the caller's mount namespace: what is on the rootfs path before (see host_mounts)
    let host_mounts = (!new_mount_namespace(&spec))
        .then(|| crate::runtime::host_mounts::mounts_at(&loaded.rootfs));
    let unmount_left = || {
        if let Some(n) = host_mounts {
            crate::runtime::host_mounts::unmount_above(&loaded.rootfs, n);
        }
    };
    staging.write_record(&Record {
        bundle: loaded.dir.clone(),
        rootfs: loaded.rootfs.clone(),
        hardrun_version: env!("CARGO_PKG_VERSION").to_owned(),
        findings: outcome
            .findings
            .iter()
            .map(|f| serde_json::to_value(f).unwrap_or_default())
            .collect(),
        profile: Some(outcome.profile.clone()),
        profile_sha256: Some(outcome.profile_sha256.clone()),
        policy: Some(bound),
        host_rootfs_mounts: host_mounts,
    })?;
    super::record_allowed(
        &config,
        command,
        a.id,
        &loaded.dir,
        workload.as_ref(),
        &outcome,
    )?;
    crate::runtime::fault::point("after-state-dir");

    let pid_file_existed = a.pid_file.is_some_and(|p| p.exists());
    let cgroup_existed = cgroup_exists(&cgroups_path);
    // the pid file is written below, once the container exists (see CreateRequest::pid_file)
    let created = delegate::create(
        a,
        &delegate::Staged {
            root: &root.path,
            bundle: &staging.bundle(),
            hook_bundle: &loaded.dir,
            systemd: global.systemd_cgroup,
        },
    );
    let mut container = match created {
        Ok(c) => c,
        Err(e) => {
            // libcontainer cleans up after failures in the container process, but not after the
            // ones before it (a bad console socket, an invalid spec): make sure nothing is left.
            if container_dir.exists() {
                let _ = std::fs::remove_dir_all(&container_dir);
            }
            if !cgroup_existed {
                delegate::remove_cgroup(a.id, Path::new(&cgroups_path));
            }
            if let (Some(p), false) = (a.pid_file, pid_file_existed) {
                let _ = std::fs::remove_file(p);
            }
            unmount_left();
            return Err(e.into());
        }
    };
    crate::runtime::fault::point("after-namespaces");
    let finished = (|| -> Result<()> {
        if runtime_spec.is_some() {
            staging.write_spec(&spec)?;
        }
        if let Some(r) = spec.pointer("/linux/resources") {
            let resources = delegate::parse_resources(r)
                .map_err(|e| anyhow::anyhow!("linux.resources: {e}"))?;
            delegate::no_swap_v2("create", &container, &resources)?;
        }
        if crate::runtime::loopback::new_network_namespace(&spec) {
            if let Some(pid) = container.pid() {
                crate::runtime::loopback::bring_up(pid.as_raw())
                    .map_err(|e| anyhow::anyhow!("container {:?}: {e}", a.id))?;
            }
        }
        // before the process starts; a table that cannot be loaded refuses the container
        if let (Some(plan), Some(pid)) = (&egress, container.pid()) {
            if let Some(line) = crate::runtime::nft::apply_egress(pid.as_raw(), plan, a.id)
                .map_err(anyhow::Error::msg)?
            {
                super::notice(global, &line);
            }
        }
        let bundle = staging.finish(&container_dir)?;
        delegate::set_bundle(&mut container, bundle)?;
        match a.pid_file {
            Some(p) => write_pid_file(p, &container),
            None => Ok(()),
        }
    })();
    if let Err(e) = finished {
        // the container exists by now: take it down again, with its cgroup and directory
        let _ = delegate::delete(&mut container, true);
        if container_dir.exists() {
            let _ = std::fs::remove_dir_all(&container_dir);
        }
        if !cgroup_existed {
            delegate::remove_cgroup(a.id, Path::new(&cgroups_path));
        }
        unmount_left();
        return Err(e);
    }
    crate::runtime::fault::point("before-start");
    if let Some(l) = lease {
        l.keep();
    }
    for line in &limit_notices {
        super::notice(global, line);
    }
    Ok(container)
}

/// Whether the spec gives the container a mount namespace (a new one or one it joins); without
/// one it is built in the caller's.
fn new_mount_namespace(spec: &serde_json::Value) -> bool {
    spec.pointer("/linux/namespaces")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|ns| ns.iter().any(|n| n["type"] == "mount"))
}

/// What the runtime process may hand a container without CAP_SYS_RESOURCE.
pub struct HostLimits {
    /// CAP_SYS_RESOURCE in hardrun's effective set
    pub sys_resource: bool,
    /// hardrun's own /proc/self/oom_score_adj
    pub oom_score_adj: Option<i64>,
    /// whether the kernel lets this process set oom_score_adj to a value below its own (it may
    /// go back down to the lowest a privileged process gave it, which /proc does not show)
    pub may_lower_oom_score_adj: fn(i64) -> bool,
    /// hardrun's hard limit of an rlimit (`RLIMIT_NOFILE` …), None when unknown
    pub hard_limit: fn(&str) -> Option<u64>,
}

impl HostLimits {
    pub fn read() -> HostLimits {
        HostLimits {
            sys_resource: caps::has_cap(
                None,
                caps::CapSet::Effective,
                caps::Capability::CAP_SYS_RESOURCE,
            )
            .unwrap_or(false),
            oom_score_adj: std::fs::read_to_string("/proc/self/oom_score_adj")
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            may_lower_oom_score_adj: try_oom_score_adj,
            hard_limit: hard_limit_of,
        }
    }
}

/// Tries `want` on hardrun's own oom_score_adj and puts the old value back (raising is always
/// allowed). Only EACCES/EPERM say no; anything else is left for libcontainer to report.
fn try_oom_score_adj(want: i64) -> bool {
    let path = "/proc/self/oom_score_adj";
    let Ok(own) = std::fs::read_to_string(path) else {
        return true;
    };
    match std::fs::write(path, want.to_string()) {
        Ok(()) => {
            let _ = std::fs::write(path, own.trim());
            true
        }
        Err(e) => !matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)),
    }
}

fn hard_limit_of(name: &str) -> Option<u64> {
    use nix::sys::resource::{getrlimit, Resource};
    let r = match name {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        _ => return None,
    };
    getrlimit(r).ok().map(|(_, hard)| hard)
}

/// Settings the kernel will refuse to the container's process because hardrun lacks
/// CAP_SYS_RESOURCE (hosts whose bounding set drops it): named here, in one line, instead of
/// libcontainer's "io error" or "intermediate process error EPERM" after the cgroup exists.
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
pub fn stack_limit_of(process: &serde_json::Value) -> u64 {
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
pub fn check_arg_list(field: &str, process: &serde_json::Value, stack: u64) -> Result<()> {
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
                bail!("argument list too long: {field}.{key}[{i}]{name} is {len} bytes, above the kernel's limit of {MAX_ARG_STRLEN} bytes for one argument or variable");
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
        bail!(
            "argument list too long: {field}.args and {field}.env take {total} bytes ({} argument{}, {} variable{}), above the kernel's limit of {limit} bytes for execve (a quarter of the stack limit {})",
            args.len(),
            if args.len() == 1 { "" } else { "s" },
            env.len(),
            if env.len() == 1 { "" } else { "s" },
            match stack {
                u64::MAX => "unlimited".to_owned(),
                s => s.to_string(),
            }
        );
    }
    Ok(())
}

pub fn preflight(spec: &serde_json::Value, host: &HostLimits) -> Result<()> {
    if host.sys_resource {
        return Ok(());
    }
    if let (Some(want), Some(own)) = (
        spec.pointer("/process/oomScoreAdj")
            .and_then(|v| v.as_i64()),
        host.oom_score_adj,
    ) {
        if want < own && !(host.may_lower_oom_score_adj)(want) {
            bail!("process.oomScoreAdj {want} is below the runtime's own {own}: lowering it needs CAP_SYS_RESOURCE, which this host does not give the runtime (under containerd's CRI set restrict_oom_score_adj = true)");
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
            bail!("process.rlimits[{i}]: {kind} hard limit {hard} is above the runtime's own hard limit {limit}: raising it needs CAP_SYS_RESOURCE, which this host does not give the runtime");
        }
    }
    Ok(())
}

/// `linux.resources.unified` as the host can apply it, whatever the policy's mode: every key a
/// cgroup file name (libcgroups joins it to the container's cgroup directory and writes there),
/// and only on cgroup v2 (runc refuses unified on v1, "cannot use unified on cgroup v1";
/// libcgroups' v1 manager would drop it without a word). An empty map is nothing to apply.
pub fn check_unified(unified: Option<&serde_json::Value>, cgroup_v2: bool) -> Result<()> {
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
        bail!("linux.resources.unified: key {k:?} is not a cgroup file name (<controller>.<file>)");
    }
    if !cgroup_v2 {
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        bail!(
            "linux.resources.unified ({}): cgroup v2 keys cannot be applied on this host's cgroup v1 hierarchy (runc refuses them too); use the linux.resources memory, cpu and pids fields",
            keys.join(", ")
        );
    }
    Ok(())
}

/// Writes the init process's pid like runc: to a temporary file beside `path`, renamed over it,
/// so a reader never sees a partial pid.
fn write_pid_file(path: &Path, container: &Container) -> Result<()> {
    let Some(pid) = container.pid() else {
        bail!(
            "cannot write pid file {}: the container has no init process",
            path.display()
        )
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        std::fs::write(&tmp, pid.as_raw().to_string())?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("cannot write pid file {}: {e}", path.display())
    })
}

/// What the runtime itself needs of the spec, after the policy has had its say: an absolute,
/// resolved rootfs (the staged bundle is elsewhere) and a cgroup path (`default_cgroup` when the
/// spec names none). Returns the cgroup path.
fn normalize_for_runtime(
    spec: &mut serde_json::Value,
    default_cgroup: &str,
    rootfs: &Path,
) -> Result<String> {
    let Some(obj) = spec.as_object_mut() else {
        bail!("the hardened spec is not a JSON object")
    };
    // libcontainer 0.7 reads SCMP_CMP_MASKED_EQ with value and valueTwo swapped: Docker's clone
    // rule would let every namespace flag through. Whatever the policy's action, hand it the
    // condition in its own dialect (see policy::rules::seccomp).
    if let Some(seccomp) = obj
        .get_mut("linux")
        .and_then(|l| l.get_mut("seccomp"))
        .filter(|s| s.is_object())
    {
        let n = crate::policy::rules::seccomp::libcontainer_compat(seccomp);
        if n > 0 {
            tracing::debug!(
                conditions = n,
                "seccomp masked comparisons rewritten for libcontainer"
            );
        }
    }
    // libcontainer 0.7 orders seccomp by whether `noNewPrivileges` is present, not by its value:
    // with `false` it loads the filter after dropping capabilities, which fails (EACCES) for a
    // process without CAP_SYS_ADMIN. false is the OCI default: leave the field out.
    if let Some(p) = obj.get_mut("process").and_then(|p| p.as_object_mut()) {
        if p.get("noNewPrivileges") == Some(&serde_json::Value::Bool(false)) {
            p.remove("noNewPrivileges");
        }
    }
    let root = obj.entry("root").or_insert_with(|| serde_json::json!({}));
    root["path"] = serde_json::Value::String(rootfs.to_string_lossy().into_owned());
    let linux = obj.entry("linux").or_insert_with(|| serde_json::json!({}));
    let Some(linux) = linux.as_object_mut() else {
        bail!("field linux: expected an object")
    };
    device_default_deny(linux)?;
    let path = match linux.get("cgroupsPath").and_then(|v| v.as_str()) {
        Some(p) if !p.is_empty() => p.to_owned(),
        _ => {
            linux.insert("cgroupsPath".into(), default_cgroup.into());
            default_cgroup.to_owned()
        }
    };
    Ok(path)
}

/// The device cgroup is default-deny for every container, whatever the profile, as with runc:
/// libcontainer applies cgroup settings only when `linux.resources` exists, and on cgroup v1 it
/// only appends the spec's rules to an allow-all parent. So `linux.resources` is always present
/// (on cgroup v2 libcgroups then loads its eBPF device program: default-deny plus the default
/// devices) and its `devices` list always starts with a deny-all rule. The spec's own rules
/// follow unchanged, so a spec that allows a device (or every device: `privileged`, where the
/// profile lets it run) keeps what it asked for.
fn device_default_deny(linux: &mut serde_json::Map<String, serde_json::Value>) -> Result<()> {
    let resources = linux
        .entry("resources")
        .or_insert_with(|| serde_json::json!({}));
    let Some(resources) = resources.as_object_mut() else {
        bail!("field linux.resources: expected an object")
    };
    let devices = resources
        .entry("devices")
        .or_insert_with(|| serde_json::json!([]));
    let Some(devices) = devices.as_array_mut() else {
        bail!("field linux.resources.devices: expected an array")
    };
    let deny_all = |r: &serde_json::Value| {
        r.get("allow") == Some(&serde_json::Value::Bool(false))
            && r.get("type").is_none_or(|t| t == "a")
            && r.get("major").is_none_or(|m| m.is_null() || m == -1)
            && r.get("minor").is_none_or(|m| m.is_null() || m == -1)
            && r.get("access")
                .and_then(|a| a.as_str())
                .is_some_and(|a| a.contains('r') && a.contains('w') && a.contains('m'))
    };
    if !devices.first().is_some_and(deny_all) {
        devices.insert(0, serde_json::json!({"allow": false, "access": "rwm"}));
    }
    Ok(())
}

/// Whether a cgroup directory already exists for `path` (then a failed create must not remove it).
pub(crate) fn cgroup_exists(path: &str) -> bool {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() || path.contains(':') {
        return true; // a systemd slice, or the root: never ours to remove
    }
    ["memory", "pids", "cpu", "devices", "freezer", ""]
        .iter()
        .any(|c| PathBuf::from("/sys/fs/cgroup").join(c).join(rel).is_dir())
}

#[cfg(test)]
mod tests {

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
    use super::*;

    #[test]
    fn runtime_normalization_sets_rootfs_and_default_cgroup() {
        let mut spec = serde_json::json!({"root": {"path": "rootfs", "readonly": true}});
        let p = normalize_for_runtime(&mut spec, "/hardrun/c1", Path::new("/b/rootfs")).unwrap();
        assert_eq!(p, "/hardrun/c1");
        assert_eq!(spec["root"]["path"], "/b/rootfs");
        assert_eq!(spec["root"]["readonly"], true);
        assert_eq!(spec["linux"]["cgroupsPath"], "/hardrun/c1");

        // runc's device cgroup: deny-all first, whatever the spec (and profile) left
        assert_eq!(
            spec["linux"]["resources"]["devices"],
            serde_json::json!([{"allow": false, "access": "rwm"}])
        );
        for (devices, want) in [
            // already default-deny: unchanged
            (
                serde_json::json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]),
                serde_json::json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]),
            ),
            (
                serde_json::json!([{"allow": false, "type": "a", "major": -1, "minor": -1, "access": "rwm"}]),
                serde_json::json!([{"allow": false, "type": "a", "major": -1, "minor": -1, "access": "rwm"}]),
            ),
            // an allow rule alone would be appended to an allow-all parent on v1
            (
                serde_json::json!([{"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}]),
                serde_json::json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}]),
            ),
            // a deny of one device is not a deny-all
            (
                serde_json::json!([{"allow": false, "type": "b", "major": 8, "minor": 0, "access": "rwm"}]),
                serde_json::json!([{"allow": false, "access": "rwm"}, {"allow": false, "type": "b", "major": 8, "minor": 0, "access": "rwm"}]),
            ),
            // privileged keeps every device: deny-all, then allow-all
            (
                serde_json::json!([{"allow": true, "access": "rwm"}]),
                serde_json::json!([{"allow": false, "access": "rwm"}, {"allow": true, "access": "rwm"}]),
            ),
        ] {
            let mut spec = serde_json::json!({"linux": {"resources": {"devices": devices}}});
            normalize_for_runtime(&mut spec, "c1", Path::new("/r")).unwrap();
            assert_eq!(spec["linux"]["resources"]["devices"], want);
        }
        let mut bad = serde_json::json!({"linux": {"resources": {"devices": {}}}});
        let e = normalize_for_runtime(&mut bad, "c1", Path::new("/r")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field linux.resources.devices: expected an array"
        );

        let mut spec =
            serde_json::json!({"root": {"path": "r"}, "linux": {"cgroupsPath": "/docker/abc"}});
        assert_eq!(
            normalize_for_runtime(&mut spec, "/hardrun/c1", Path::new("/r")).unwrap(),
            "/docker/abc"
        );
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

    #[test]
    fn default_cgroup_path_is_one_per_state_root() {
        let default = Path::new(crate::cli::DEFAULT_ROOT);
        assert_eq!(default_cgroups_path(default, "c1"), "/hardrun/c1");
        let a = default_cgroups_path(Path::new("/tmp/a"), "c1");
        let b = default_cgroups_path(Path::new("/tmp/b"), "c1");
        for p in [&a, &b] {
            let (id, hash) = p
                .strip_prefix("/hardrun/")
                .unwrap()
                .split_once('@')
                .unwrap();
            assert_eq!(id, "c1");
            assert_eq!(hash.len(), 12);
            assert!(hash.bytes().all(|c| c.is_ascii_hexdigit()), "{p}");
        }
        assert_ne!(a, b);
        // stable: the same root always gives the same path (delete finds what create made)
        assert_eq!(a, default_cgroups_path(Path::new("/tmp/a"), "c1"));
        assert_ne!(a, default_cgroups_path(Path::new("/tmp/a"), "c2"));
        // an id cannot contain '@': no id under the default root names another root's cgroup
        assert!(crate::runtime::state_dir::validate_id("c1@0123456789ab").is_err());
    }
}
