//! `create`: the pipeline every container goes through, in one function that reads top to bottom
//! ([`create_container`]): load → select once → lease ids → harden → gate → specconv → preflight
//! → stage → audit record → delegate. On any failure nothing is left behind: no state directory,
//! no staging directory, no cgroup, no pid file.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use anyhow::{bail, Result};

use crate::cli::GlobalOpts;
use crate::runtime::console::ConsoleSocket;
use crate::runtime::delegate::{self, Container, CreateRequest};
use crate::runtime::state_dir::{self, Record, Root};
use crate::runtime::{preflight, specconv};
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
    systemd_usable(
        Path::new("/run/systemd/system").is_dir(),
        crate::runtime::delegate::cgroup_v2(),
        cfg!(feature = "systemd"),
    )
}

/// `create` and `run` as a non-root user (a rootless container): refused, in one line, before
/// anything is made. On a host without cgroup delegation to that user (this project's test host:
/// cgroup v1, no systemd) no profile's memory, CPU and pids limits can be set, and every profile
/// but `permissive` sets them; hardrun does not run a container without the limits its profile
/// asks for, nor one its policy cannot record (the audit log and the id pool are root's).
/// docs/install.md, "Rootless", says what to do instead.
pub fn check_rootless(euid: u32) -> Result<()> {
    if euid == 0 {
        return Ok(());
    }
    bail!("rootless containers are not supported: hardrun runs as uid {euid}, and without root it can neither set the profile's cgroup limits (no cgroup delegation) nor record its decisions; run it as root (containerd, dockerd and podman as root do), see docs/install.md \"Rootless\"")
}

/// Whether the systemd driver can be used: systemd runs, the host is cgroup v2 only (libcgroups'
/// systemd manager is v2 only: on a v1 host it would silently drive cgroupfs instead), and this
/// build has the driver.
fn systemd_usable(running: bool, cgroup_v2: bool, built: bool) -> Result<()> {
    if !running {
        bail!("--systemd-cgroup: systemd not running on this host (no /run/systemd/system); use the cgroupfs driver (drop --systemd-cgroup, or SystemdCgroup = false in containerd)");
    }
    if !cgroup_v2 {
        bail!("--systemd-cgroup: hardrun's systemd cgroup driver needs a cgroup v2 only host (this one mounts cgroup v1 hierarchies); use the cgroupfs driver (drop --systemd-cgroup, or SystemdCgroup = false in containerd)");
    }
    if !built {
        bail!("--systemd-cgroup: this hardrun was built without the systemd cgroup driver (cargo feature \"systemd\")");
    }
    Ok(())
}

/// The cgroup path used when the spec names none: an absolute path under `/hardrun`, instead of
/// libcontainer's `:youki:<id>`, which on cgroup v1 lands at the top of every hierarchy. One per
/// state root, so the same id under two `--root`s never shares a cgroup (a `delete --force` kills
/// everything in the container's cgroup); see [`crate::base::paths::default_cgroups_path`].
pub use crate::base::paths::default_cgroups_path;

/// The cgroup path under the systemd driver when the spec names none: runc's form,
/// `system.slice:hardrun:<id>`, which systemd makes the scope `system.slice/hardrun-<id>.scope`
/// (runc's default is `runc-<id>.scope`).
pub fn systemd_cgroups_path(id: &str) -> String {
    format!("system.slice:hardrun:{id}")
}

/// What the create does from this (libcontainer's main) process while libcontainer's children
/// work (libcontainer HARDRUN-PATCHES §35): while the intermediate sets up the cgroups and starts
/// the init, the audit log's `allowed` record (and libnftables loaded, where the egress table may
/// need it: see `runtime::container_net`); once the init is in its
/// namespaces, while it prepares its rootfs, `lo` up in a new network namespace and the
/// profile's egress table. All are done before the container's process can run: the init reports
/// ready only after the callbacks returned, and a failure fails libcontainer's create, which
/// kills the init.
struct InNamespaces(Rc<NamespaceWork>);

/// The `allowed` decision, recorded by [`NamespaceWork::early`].
struct AllowedRecord {
    /// when the decision was made (the record's `decision_ms`)
    decided: Option<std::time::Duration>,
    config: crate::profile::config::Config,
    command: &'static str,
    id: String,
    bundle: std::path::PathBuf,
    workload: Option<crate::audit::Workload>,
    outcome: policy::Outcome,
}

struct NamespaceWork {
    /// taken when written (the callback runs once)
    record: RefCell<Option<AllowedRecord>>,
    loopback: bool,
    egress: Option<policy::egress::Plan>,
    id: String,
    /// the error the create reports (libcontainer gets its text)
    failure: RefCell<Option<anyhow::Error>>,
    /// the egress table's notice (a shared host network namespace), printed once created
    notice: RefCell<Option<String>>,
}

impl NamespaceWork {
    /// Keeps a callback's error for the create to report; libcontainer gets its text.
    fn failed(&self, e: anyhow::Error) -> String {
        let msg = e.to_string();
        *self.failure.borrow_mut() = Some(e);
        msg
    }

    /// While libcontainer's intermediate process sets up the cgroups and starts the init (this
    /// process waits for them otherwise): the audit record, and libnftables loaded for the
    /// egress table.
    fn early(&self) -> Result<()> {
        crate::runtime::timing::stage("libcontainer-start");
        if let Some(r) = self.record.borrow_mut().take() {
            super::record_allowed(
                &r.config,
                r.command,
                &r.id,
                &r.bundle,
                r.workload.as_ref(),
                &r.outcome,
                r.decided,
            )?;
        }
        crate::runtime::timing::stage("audit-write");
        if self
            .egress
            .as_ref()
            .is_some_and(crate::runtime::container_net::may_need_nftables)
        {
            crate::runtime::nft::preload();
        }
        crate::runtime::timing::stage("nft-preload");
        Ok(())
    }

    fn run(&self, pid: i32) -> Result<Option<String>> {
        crate::runtime::timing::stage("libcontainer-namespaces");
        let notice = if self.loopback || self.egress.is_some() {
            crate::runtime::container_net::prepare(
                pid,
                self.loopback,
                self.egress.as_ref(),
                &self.id,
            )
            .map_err(anyhow::Error::msg)?
        } else {
            None
        };
        crate::runtime::timing::stage("egress-nft");
        Ok(notice)
    }
}

impl InNamespaces {
    fn new(
        record: AllowedRecord,
        loopback: bool,
        egress: Option<policy::egress::Plan>,
        id: &str,
    ) -> Self {
        InNamespaces(Rc::new(NamespaceWork {
            record: RefCell::new(Some(record)),
            loopback,
            egress,
            id: id.to_owned(),
            failure: RefCell::new(None),
            notice: RefCell::new(None),
        }))
    }

    /// libcontainer's callback once the init is in its namespaces.
    fn callback(&self) -> delegate::NamespacesCallback {
        let work = self.0.clone();
        Rc::new(move |pid: nix::unistd::Pid| {
            let notice = work.run(pid.as_raw()).map_err(|e| work.failed(e))?;
            *work.notice.borrow_mut() = notice;
            Ok(())
        })
    }

    /// libcontainer's callback while its children start.
    fn while_starting(&self) -> delegate::StartingCallback {
        let work = self.0.clone();
        Rc::new(move || work.early().map_err(|e| work.failed(e)))
    }

    /// The error a callback kept.
    fn failure(&self) -> Option<anyhow::Error> {
        self.0.failure.borrow_mut().take()
    }

    fn notice(&self) -> Option<String> {
        self.0.notice.borrow_mut().take()
    }
}

/// The create pipeline, top to bottom: load → select the profile (once) → lease host ids →
/// harden (the rules) → gate (CIS, scored once, the last rule) → specconv → preflight → stage →
/// audit record → delegate. Every stage before `delegate` can refuse; a refusal leaves nothing
/// behind (the staging directory and the lease go with their guards).
pub fn create_container(global: &GlobalOpts, a: &CreateRequest) -> Result<Container> {
    create_with_terminal(global, a, false).map(|(c, _)| c)
}

/// [`create_container`] for a foreground `run` (`own_terminal`): when the loaded spec asks for a
/// terminal (`process.terminal`; no rule of any profile changes it), hardrun takes the pty on a
/// console socket of its own and returns it, to relay. The spec is read once, here.
pub fn create_with_terminal(
    global: &GlobalOpts,
    a: &CreateRequest,
    own_terminal: bool,
) -> Result<(Container, Option<ConsoleSocket>)> {
    state_dir::validate_id(a.id)?;
    check_systemd(global)?;
    let root = Root::for_create(&global.root)?;
    root.check_id_fits(a.id)?;
    let staging = root.stage(a.id)?;
    let container_dir = root.container_dir(a.id);
    crate::runtime::timing::stage("state-root");

    // 1. load: the caller's config.json, read once (size-capped, validated), its bind mount
    //    sources resolved to the host objects they name (the rules judge those)
    let loaded = bundle::load(a.bundle)?;
    loaded.require_sources()?;
    super::warn_ignored_caps(&loaded.ignored_caps);
    crate::runtime::timing::stage("bundle-load");
    let console = match own_terminal && wants_terminal(&loaded.raw) {
        true => Some(ConsoleSocket::new().map_err(anyhow::Error::msg)?),
        false => None,
    };
    let a = &CreateRequest {
        console_socket: console.as_ref().map(|c| c.path()).or(a.console_socket),
        ..*a
    };
    let config = super::policy_config(global)?;
    // a monitor listening on the state root's tripwire socket: the profile's tripwires are armed
    let tripwires = crate::base::paths::tripwire_socket(&root.path);
    let monitor = crate::runtime::tripwire::listening(&tripwires);
    let mut ctx = super::policy_context(global, &config, a.id, &loaded.dir);
    ctx.tripwires = monitor.then_some(tripwires.as_path());
    ctx.sources = &loaded.sources;
    crate::runtime::timing::stage("config-load");

    // 2. select the profile, once: for the lease and for the rules
    let selected = policy::select(&loaded.raw, &ctx);
    crate::runtime::timing::stage("profile-select");

    // 3. lease ids: `userns` enforced gives the container a host id range of its own, held by
    //    its state directory (and the staging directory until that exists); released on any
    //    failure below (drop)
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
    crate::runtime::timing::stage("userns-lease");

    // 4. harden and 5. gate: the rules in registry order, the CIS gate (`cis-score`) last. A
    //    refusal is recorded here; an allowed decision only once every stage that can still
    //    refuse before libcontainer has passed (7), and a failure in between as `failed`
    let command = a.command();
    let decision = match selected {
        Ok(s) => policy::harden_selected(s, &loaded.raw, &ctx),
        Err(denied) => Err(denied),
    };
    crate::runtime::timing::stage("rules-gate");
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
    crate::runtime::timing::stage("judge");
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
    crate::runtime::timing::stage("binding-egress-plan");

    // 6. specconv: whatever the mode, libcontainer mounts the objects that were judged (not
    //    paths relative to the caller's working directory) and gets the spec in its dialect
    bundle::sources::rewrite(&mut spec, &loaded.sources);
    let default_cgroup = if global.systemd_cgroup {
        systemd_cgroups_path(a.id)
    } else {
        default_cgroups_path(&root.path, a.id)
    };
    let cgroups_path = specconv::convert(&mut spec, &default_cgroup, &loaded.rootfs)?;
    crate::runtime::timing::stage("specconv");

    // 7. preflight: what this host's kernel would refuse, named before anything is made
    preflight::create(
        &spec,
        &cgroups_path,
        &ctx.host.limits(),
        delegate::cgroup_v2(),
        global.systemd_cgroup,
    )?;
    crate::runtime::timing::stage("preflight");
    let runtime_spec = mapped_root_spec(&spec, &loaded.rootfs)?;
    crate::runtime::timing::stage("userns-mounts");

    // 8. stage: libcontainer reads the spec from the staged bundle: the one with the bindings
    //    while it creates, the real one (what exec and `check` read) from then on
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
    // the arguments the `secrets` rule found a credential in: masked in the stored copies of
    // the spec once libcontainer has created the container (below)
    let secret_args: Vec<usize> = outcome
        .findings
        .iter()
        .filter(|f| f.code == crate::policy::code::codes::secrets)
        .filter_map(|f| f.pointer.strip_prefix("/process/args/")?.parse().ok())
        .collect();
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
    crate::runtime::timing::stage("staging-writes");

    // 9. audit record: allowed, now that nothing before libcontainer can refuse. Written by
    //    this process while libcontainer's children start (below), before the init can report
    //    ready: no container process runs without it, and a record that cannot be written
    //    refuses the container as before
    let record = AllowedRecord {
        decided: crate::base::clock::since_start(),
        config,
        command,
        id: a.id.to_owned(),
        bundle: loaded.dir.clone(),
        workload,
        outcome,
    };
    crate::runtime::fault::point("after-state-dir");

    // the filter compiled once per distinct filter (kept in the state root), not in every init
    let seccomp = crate::runtime::seccomp_cache::compiled_for(
        runtime_spec.as_ref().unwrap_or(&spec),
        &root.path,
    );
    crate::runtime::timing::stage("seccomp-compiled");

    // the audit record, the loopback and the egress table: done by this process while
    // libcontainer's children work (libcontainer §35), before the container's process can run;
    // a failure refuses the container (libcontainer kills the init, the cleanup below runs)
    let in_namespaces = InNamespaces::new(
        record,
        crate::runtime::loopback::new_network_namespace(&spec),
        egress,
        a.id,
    );

    // 10. delegate: libcontainer creates the container from the staged bundle
    let pid_file_existed = a.pid_file.is_some_and(|p| p.exists());
    let cgroup_existed = crate::runtime::cgroup_tree::exists(&cgroups_path);
    // the pid file is written below, once the container exists (see CreateRequest::pid_file)
    let created = delegate::create(
        a,
        &delegate::Staged {
            root: &root.path,
            bundle: &staging.bundle(),
            hook_bundle: &loaded.dir,
            systemd: global.systemd_cgroup,
            seccomp,
            on_namespaces: Some(in_namespaces.callback()),
            while_starting: Some(in_namespaces.while_starting()),
            spec: Some(runtime_spec.as_ref().unwrap_or(&spec)),
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
            // the record's, the loopback's or the egress table's own error, when that is what
            // failed (not an init that failed first and took its namespaces with it)
            let own = e.in_callback.then(|| in_namespaces.failure()).flatten();
            return Err(own.unwrap_or_else(|| e.error.into()));
        }
    };
    if let Some(line) = in_namespaces.notice() {
        super::notice(global, &line);
    }
    crate::runtime::fault::point("after-namespaces");
    crate::runtime::timing::stage("libcontainer-create");
    let finished = (|| -> Result<()> {
        if runtime_spec.is_some() {
            staging.write_spec(&spec)?;
        }
        if let Some(r) = spec.pointer("/linux/resources") {
            let resources = delegate::parse_resources(r)
                .map_err(|e| anyhow::anyhow!("linux.resources: {e}"))?;
            delegate::no_swap_v2("create", &container, &resources)?;
        }
        crate::runtime::timing::stage("no-swap-check");
        staging.mask_args(&secret_args)?;
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
    crate::runtime::timing::stage("state-finish");
    if let Some(l) = lease {
        l.keep();
    }
    for line in &limit_notices {
        super::notice(global, line);
    }
    Ok((container, console))
}

/// Whether the spec asks for a terminal (`process.terminal`).
fn wants_terminal(spec: &serde_json::Value) -> bool {
    spec.pointer("/process/terminal")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// In a user namespace, libcontainer builds the rootfs as the mapped root, which can neither
/// write a root-owned image nor pass directories closed to others. Mount points are made from
/// the host side, and what it cannot reach is bound where it can, in this process's private
/// mount namespace (see userns_mounts); the caller's directories are never changed. Returns the
/// spec libcontainer creates from when it differs from `spec` (the bindings).
fn mapped_root_spec(spec: &serde_json::Value, rootfs: &Path) -> Result<Option<serde_json::Value>> {
    use crate::runtime::userns_mounts;
    let Some((uid, gid)) = userns_mounts::mapped_root(spec) else {
        return Ok(None);
    };
    userns_mounts::check_rootfs_searchable(rootfs, uid, gid)?;
    userns_mounts::create_mountpoints(rootfs, spec)?;
    let mut runtime = userns_mounts::reach(spec, rootfs, uid, gid)?;
    // sysfs cannot be mounted in a network namespace another user namespace owns
    if userns_mounts::sysfs_needs_bind(spec) {
        let r = runtime.get_or_insert_with(|| spec.clone());
        userns_mounts::bind_sysfs(r);
    }
    Ok(runtime)
}

/// Whether the spec gives the container a mount namespace (a new one or one it joins); without
/// one it is built in the caller's.
fn new_mount_namespace(spec: &serde_json::Value) -> bool {
    spec.pointer("/linux/namespaces")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|ns| ns.iter().any(|n| n["type"] == "mount"))
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

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn rootless_is_refused_in_one_line() {
        assert!(check_rootless(0).is_ok());
        let e = check_rootless(1000).unwrap_err().to_string();
        assert!(e.starts_with("rootless containers are not supported: hardrun runs as uid 1000"));
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn the_systemd_driver_is_refused_in_one_line_where_it_cannot_work() {
        assert!(systemd_usable(true, true, true).is_ok());
        for (args, want) in [
            ((false, true, true), "systemd not running on this host"),
            ((false, false, false), "systemd not running on this host"),
            ((true, false, true), "needs a cgroup v2 only host"),
            (
                (true, true, false),
                "built without the systemd cgroup driver",
            ),
        ] {
            let e = systemd_usable(args.0, args.1, args.2)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want) && !e.contains('\n'), "{args:?}: {e}");
            assert!(e.starts_with("--systemd-cgroup: "), "{e}");
        }
        assert_eq!(
            systemd_cgroups_path("c1"),
            "system.slice:hardrun:c1",
            "runc's form, hardrun's prefix"
        );
        assert!(crate::runtime::preflight::check_systemd_path(&systemd_cgroups_path("c1")).is_ok());
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
