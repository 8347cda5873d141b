//! The only caller of youki's libcontainer (and of libcgroups, its cgroup layer).
//!
//! Everything above this module speaks in paths, ids and JSON; everything below is libcontainer.
//! Errors carry the operation, the container id and libcontainer's whole error chain.

use std::path::{Path, PathBuf};

use libcgroups::common::{AnyCgroupManager, CgroupManager, ControllerOpt};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container as Lc, ContainerStatus};
use libcontainer::oci_spec::runtime::LinuxResources;
use libcontainer::syscall::syscall::SyscallType;

use crate::runtime::executor::RuncExecutor;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

#[derive(Debug, thiserror::Error)]
#[error("{op} container {id:?}: {msg}")]
pub struct DelegateError {
    pub op: &'static str,
    pub id: String,
    pub msg: String,
    /// the container's status when the operation was refused because of it
    pub status: Option<Status>,
}

/// A container as the commands hold it: hardrun's handle on libcontainer's, which never leaves
/// this module. What a command may read of it is below; what it may do with it are this
/// module's functions ([`start`], [`kill`], [`delete`] …).
pub struct Container(Lc);

/// A container's status, named as runc names it (`state`, `list`, `events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<ContainerStatus> for Status {
    fn from(s: ContainerStatus) -> Status {
        match s {
            ContainerStatus::Creating => Status::Creating,
            ContainerStatus::Created => Status::Created,
            ContainerStatus::Running => Status::Running,
            ContainerStatus::Stopped => Status::Stopped,
            ContainerStatus::Paused => Status::Paused,
        }
    }
}

impl Container {
    pub fn id(&self) -> &str {
        self.0.id()
    }

    /// The init process, when the container has one.
    pub fn pid(&self) -> Option<Pid> {
        self.0.pid()
    }

    /// The status as of the last load or refresh.
    pub fn status(&self) -> Status {
        self.0.status().into()
    }

    /// Reads the status again from /proc.
    pub fn refresh_status(&mut self) -> Result<(), DelegateError> {
        let id = self.0.id().to_owned();
        self.0.refresh_status().map_err(|e| fail("refresh", &id, e))
    }

    /// The container's cgroup path (relative to each hierarchy's root), from libcontainer's
    /// saved config; `None` where that cannot be read.
    pub fn cgroup_path(&self) -> Option<PathBuf> {
        self.0.spec().ok().map(|s| s.cgroup_path)
    }

    /// The container's state directory (`<root>/<id>`).
    pub fn dir(&self) -> &Path {
        &self.0.root
    }

    /// The bundle libcontainer runs from (the hardened copy in the state directory, once
    /// create has finished).
    pub fn bundle(&self) -> &Path {
        self.0.bundle()
    }

    pub fn created(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.created()
    }

    /// The user who created it (runc's `owner`).
    pub fn creator(&self) -> Option<std::ffi::OsString> {
        self.0.creator()
    }

    /// The spec's annotations, as libcontainer stored them.
    pub fn annotations(&self) -> std::collections::HashMap<String, String> {
        self.0.state.annotations.clone().unwrap_or_default()
    }
}

/// Renders an error and all its sources as `a: b: c`, skipping repeats (thiserror's
/// `transparent` variants repeat their source's message).
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![];
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !s.is_empty() && !parts.last().is_some_and(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Drops libcontainer's wrapper phrases that only say "something failed" from an error chain,
/// so the line a user reads starts with what failed:
/// `failed to create container: exec process failed with error error in executing process :
/// executable "x" not found` becomes `executable "x" not found`.
pub fn tidy(msg: &str) -> String {
    const WRAPPERS: [&str; 4] = [
        "failed to create container: ",
        "exec process failed with error ",
        "error in executing process : ",
        "error in executing process: ",
    ];
    let mut rest = msg;
    loop {
        match WRAPPERS.iter().find_map(|w| rest.strip_prefix(w)) {
            Some(r) if !r.is_empty() => rest = r,
            _ => return rest.to_owned(),
        }
    }
}

fn fail(op: &'static str, id: &str, err: libcontainer::error::LibcontainerError) -> DelegateError {
    use libcontainer::error::LibcontainerError as E;
    let (msg, status) = match &err {
        E::IncorrectStatus(s) => (
            format!("not possible while it is {}", s.to_string().to_lowercase()),
            Some((*s).into()),
        ),
        E::InvalidInput(m) => (m.clone(), None),
        E::Other(m) => (m.clone(), None),
        _ => (tidy(&chain(&err)), None),
    };
    let msg = msg.replace("youki", "hardrun");
    DelegateError {
        op,
        id: id.to_owned(),
        msg,
        status,
    }
}

fn other(op: &'static str, id: &str, msg: impl std::fmt::Display) -> DelegateError {
    DelegateError {
        op,
        id: id.to_owned(),
        msg: msg.to_string(),
        status: None,
    }
}

/// A request to create a container, as runc's `create` and `run` take it: the one type the
/// commands fill from their flags and [`create`] hands to libcontainer.
pub struct CreateRequest<'a> {
    pub id: &'a str,
    /// the caller's bundle, as given
    pub bundle: &'a Path,
    /// where the init process's pid goes: written by the command once the container exists,
    /// not by libcontainer, which only warns when it cannot write it (containerd's shim depends
    /// on the file, so failing to write it fails create)
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: i32,
    pub no_pivot: bool,
    /// false for a foreground `run`: the init process stays our child
    pub detach: bool,
}

impl CreateRequest<'_> {
    /// The command the request is recorded under: `run -d` is a create.
    pub fn command(&self) -> &'static str {
        if self.detach {
            "create"
        } else {
            "run"
        }
    }
}

/// What libcontainer's main process runs while its children start and once the init is in its
/// namespaces (§35).
pub use libcontainer::process::args::{NamespacesCallback, StartingCallback};

/// Where a staged container is created from: the state root, the staged bundle holding the spec
/// to run, the caller's bundle as resolved (what hooks are told, `bundle` on their stdin, and run
/// from), and the cgroup driver.
pub struct Staged<'a> {
    pub root: &'a Path,
    pub bundle: &'a Path,
    pub hook_bundle: &'a Path,
    pub systemd: bool,
    /// the spec's seccomp filter compiled ahead ([`crate::runtime::seccomp_cache`])
    pub seccomp: Option<libcontainer::seccomp::CompiledSeccomp>,
    /// run by this process once the init is in its namespaces (libcontainer §35)
    pub on_namespaces: Option<NamespacesCallback>,
    /// run by this process while libcontainer's children start (libcontainer §35)
    pub while_starting: Option<StartingCallback>,
    /// the spec `bundle`'s `config.json` holds, as written there: libcontainer takes it parsed
    /// instead of reading the file back (libcontainer §40)
    pub spec: Option<&'a serde_json::Value>,
}

/// The builder create and exec both start from: the container's id (validated), its state root,
/// and the process's pid file, console socket and preserved fds, run by runc's executor.
fn builder(
    op: &'static str,
    id: &str,
    root: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
    preserve_fds: i32,
) -> Result<ContainerBuilder, DelegateError> {
    pin_host_tables();
    ContainerBuilder::new(id.to_owned(), SyscallType::default())
        .with_root_path(root)
        .and_then(|b| b.with_pid_file(pid_file))
        .map(|b| {
            b.with_console_socket(console_socket)
                .with_preserved_fds(preserve_fds)
                .with_executor(RuncExecutor)
        })
        .and_then(|b| b.validate_id())
        .map_err(|e| fail(op, id, e))
}

/// Reads what libcontainer's processes would each read again from this host's procfs, once, in
/// this process before it forks them: the cgroup v1 mount points (libcgroups §8: the
/// intermediate's cgroup manager and cpuset, the init's cgroup mounts, and a foreground `run`'s
/// delete read mountinfo otherwise) and pathrs' procfs handle, which the forked processes
/// inherit with the cache it sits in (each built its own: `fsopen` and `fsmount` of a procfs).
/// The handle is close-on-exec, and the init closes it with every other descriptor before the
/// payload runs (libcontainer §3). A failure only means each process reads for itself again.
fn pin_host_tables() {
    if cgroup_v2() {
        let _ = pathrs::procfs::ProcfsHandle::new();
    } else if let Err(e) = libcgroups::v1::util::pin_mount_points() {
        tracing::debug!("cgroup v1 mount points not pinned: {e}");
    }
}

/// Why [`create`] failed.
#[derive(Debug)]
pub struct CreateFailure {
    pub error: DelegateError,
    /// one of the [`Staged`] callbacks failed: its own error is the one to report
    pub in_callback: bool,
}

impl From<DelegateError> for CreateFailure {
    fn from(error: DelegateError) -> Self {
        CreateFailure {
            error,
            in_callback: false,
        }
    }
}

/// Creates the container: namespaces, cgroup, rootfs, and an init process waiting for `start`.
pub fn create(req: &CreateRequest, at: &Staged) -> Result<Container, CreateFailure> {
    let id = req.id;
    // the pid file is the command's to write (see `CreateRequest::pid_file`)
    builder(
        "create",
        id,
        at.root,
        None,
        req.console_socket,
        req.preserve_fds,
    )?
    .as_init(at.bundle)
    // a spec libcontainer cannot take is read from the file, which reports why
    .with_spec(at.spec.and_then(|v| {
        <libcontainer::oci_spec::runtime::Spec as serde::Deserialize>::deserialize(v).ok()
    }))
    .with_hook_bundle(Some(at.hook_bundle))
    .with_compiled_seccomp(at.seccomp.clone())
    .with_on_namespaces(at.on_namespaces.clone())
    .with_while_starting(at.while_starting.clone())
    .with_systemd(at.systemd)
    .with_detach(req.detach)
    .with_no_pivot(req.no_pivot)
    .build()
    .map(Container)
    .map_err(|e| CreateFailure {
        in_callback: e.is_callback_failure(),
        error: fail("create", id, e),
    })
}

/// Loads a container from its directory and refreshes its status from /proc.
pub fn load(container_dir: &Path, id: &str) -> Result<Container, DelegateError> {
    Lc::load(container_dir.to_path_buf())
        .map(Container)
        .map_err(|e| fail("load", id, e))
}

/// Points libcontainer's `bundle` at the hardened bundle in the state directory, so `exec`
/// builds on the spec that actually runs.
pub fn set_bundle(container: &mut Container, bundle: PathBuf) -> Result<(), DelegateError> {
    let container = &mut container.0;
    container.state.bundle = bundle;
    container
        .save()
        .map_err(|e| fail("save", &container.state.id.clone(), e))
}

pub fn start(container: &mut Container) -> Result<(), DelegateError> {
    let container = &mut container.0;
    let id = container.id().to_owned();
    if !container.can_start() {
        return Err(DelegateError {
            op: "start",
            id,
            msg: format!(
                "cannot start a container that is {}",
                container.status().to_string().to_lowercase()
            ),
            status: Some(container.status().into()),
        });
    }
    container.start().map_err(|e| fail("start", &id, e))
}

pub fn kill(container: &mut Container, signal: Signal, all: bool) -> Result<(), DelegateError> {
    let container = &mut container.0;
    let id = container.id().to_owned();
    container
        .kill(signal, all)
        .map_err(|e| fail("kill", &id, e))
}

/// Deletes the container. Returns the warnings of a delete that went through all the same: one
/// line per failing poststop hook (the runtime spec makes those warnings, runc logs them).
pub fn delete(container: &mut Container, force: bool) -> Result<Vec<String>, DelegateError> {
    let container = &mut container.0;
    let id = container.id().to_owned();
    // runc deletes a created (never started) container without --force: its init is killed.
    let force = force || container.status() == ContainerStatus::Created;
    // what the container made below its own cgroup goes first, with every process of the tree
    // (runc's delete): libcgroups' remove fails on a cgroup that has children. Only where the
    // delete goes ahead: a running container without --force is refused below, untouched.
    if force || container.status() == ContainerStatus::Stopped {
        clear_sub_cgroups(container)?;
    }
    container
        .delete_with_warnings(force)
        .map_err(|e| fail("delete", &id, e))
}

/// Kills every process of the container's cgroup tree and removes the cgroups below its own
/// (`cgroup_tree`), when it has any. A systemd-managed cgroup is systemd's to take down.
fn clear_sub_cgroups(container: &Lc) -> Result<(), DelegateError> {
    if container.systemd() {
        return Ok(());
    }
    let id = container.id();
    // no config yet (a create interrupted before libcontainer wrote it): no cgroup either
    let Ok(config) = container.spec() else {
        return Ok(());
    };
    crate::runtime::cgroup_tree::clear_below(&config.cgroup_path)
        .map_err(|msg| other("delete", id, msg))
}

pub fn pause(container: &mut Container) -> Result<(), DelegateError> {
    let container = &mut container.0;
    let id = container.id().to_owned();
    container.pause().map_err(|e| fail("pause", &id, e))
}

pub fn resume(container: &mut Container) -> Result<(), DelegateError> {
    let container = &mut container.0;
    let id = container.id().to_owned();
    container.resume().map_err(|e| fail("resume", &id, e))
}

fn cgroup(op: &'static str, container: &Lc) -> Result<AnyCgroupManager, DelegateError> {
    let id = container.id();
    let path = container.spec().map_err(|e| fail(op, id, e))?.cgroup_path;
    libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path: path,
        systemd_cgroup: container.systemd(),
        container_name: id.to_owned(),
    })
    .map_err(|e| other(op, id, chain(&e)))
}

/// The OOM state of a container's memory cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OomState {
    /// how many times the cgroup hit OOM: `oom_kill` of v1's `memory.oom_control` (the kernel
    /// does not count v1 OOMs that killed nothing), `oom` of v2's `memory.events`
    pub count: u64,
    /// v1's `under_oom`: the cgroup is out of memory now (with the OOM killer disabled it stays
    /// so, and nothing is counted)
    pub under: bool,
}

impl OomState {
    /// Whether the cgroup hit OOM between `before` and `self`.
    pub fn is_new_oom_since(&self, before: &OomState) -> bool {
        self.count > before.count || (self.under && !before.under)
    }
}

/// The container's OOM state; `None` when the memory controller does not say (not mounted, old
/// kernel, systemd-managed path).
pub fn oom_state(container: &Container) -> Option<OomState> {
    let container = &container.0;
    let path = container.spec().ok()?.cgroup_path;
    let rel = path.strip_prefix("/").unwrap_or(&path);
    let root = Path::new("/sys/fs/cgroup");
    let field = |text: &str, key: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .and_then(|n| n.trim().parse().ok())
    };
    if let Ok(text) =
        std::fs::read_to_string(root.join("memory").join(rel).join("memory.oom_control"))
    {
        return Some(OomState {
            count: field(&text, "oom_kill")?,
            under: field(&text, "under_oom") == Some(1),
        });
    }
    let text = std::fs::read_to_string(root.join(rel).join("memory.events")).ok()?;
    Some(OomState {
        count: field(&text, "oom").or_else(|| field(&text, "oom_kill"))?,
        under: false,
    })
}

/// The pids in the container's cgroup.
pub fn pids(container: &Container) -> Result<Vec<Pid>, DelegateError> {
    let container = &container.0;
    cgroup("ps", container)?
        .get_all_pids()
        .map_err(|e| other("ps", container.id(), chain(&e)))
}

/// The statistics of the container's cgroup, as runc's `types.Stats` JSON.
pub fn stats(container: &Container) -> Result<serde_json::Value, DelegateError> {
    let container = &container.0;
    cgroup("events", container)?
        .stats()
        .map(|s| crate::runtime::cgroup_stats::runc_stats(&s))
        .map_err(|e| other("events", container.id(), chain(&e)))
}

pub fn update(container: &Container, resources: &LinuxResources) -> Result<(), DelegateError> {
    let container = &container.0;
    let id = container.id();
    if !matches!(
        container.status(),
        ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused
    ) {
        return Err(DelegateError {
            op: "update",
            id: id.to_owned(),
            msg: format!(
                "not possible while it is {}",
                container.status().to_string().to_lowercase()
            ),
            status: Some(container.status().into()),
        });
    }
    // cgroup v2 replaces the container's eBPF device program on every apply, built from the
    // rules it is given plus the defaults: an update that names no devices must hand over the
    // container's own rules, or a device its spec allows (a GPU) would be cut off
    let with_devices;
    let resources = match resources.devices() {
        Some(_) => resources,
        None => {
            with_devices = {
                let mut r = resources.clone();
                r.set_devices(stored_devices(container));
                r
            };
            &with_devices
        }
    };
    cgroup("update", container)?
        .apply(&ControllerOpt {
            resources,
            // libcgroups writes `memory.oom_control` on every apply that names memory: hand it
            // the container's own setting, or an update would turn the OOM killer back on
            // (runc's update keeps it; it only ever writes the 1)
            disable_oom_killer: stored_disable_oom_killer(container),
            oom_score_adj: None,
            freezer_state: None,
        })
        .map_err(|e| other("update", id, chain(&e)))?;
    no_swap("update", container, resources)
}

/// libcgroups 0.7 on cgroup v2 writes `memory.swap.max` as memory+swap − memory, but skips the
/// write when that is 0: a container whose memory+swap equals its memory limit (no swap: what
/// the resources rule sets) kept the parent's `max`, unlimited swap (seen on a v2 host: a
/// restricted container at 512m/512m showed `memory.swap.max` `max`). Writes the 0 after
/// libcgroups, like runc, where the container's cgroup has the file (swap accounting on) and
/// `unified` does not say otherwise. Nothing on cgroup v1 (memsw is written there) or under
/// systemd.
pub fn no_swap_v2(
    op: &'static str,
    container: &Container,
    resources: &LinuxResources,
) -> Result<(), DelegateError> {
    no_swap(op, &container.0, resources)
}

fn no_swap(
    op: &'static str,
    container: &Lc,
    resources: &LinuxResources,
) -> Result<(), DelegateError> {
    let Some(memory) = resources.memory() else {
        return Ok(());
    };
    let no_swap = matches!((memory.limit(), memory.swap()), (Some(l), Some(s)) if l > 0 && l == s);
    let named = resources
        .unified()
        .as_ref()
        .is_some_and(|u| u.contains_key("memory.swap.max"));
    if !no_swap || named || container.systemd() || !cgroup_v2() {
        return Ok(());
    }
    let id = container.id();
    let path = container.spec().map_err(|e| fail(op, id, e))?.cgroup_path;
    let rel = path.strip_prefix("/").unwrap_or(&path);
    let file = Path::new("/sys/fs/cgroup")
        .join(rel)
        .join("memory.swap.max");
    if !file.exists() {
        return Ok(());
    }
    std::fs::write(&file, "0")
        .map_err(|e| other(op, id, format!("cannot write 0 to {}: {e}", file.display())))
}

/// `linux.resources` of the spec the container runs (its hardened bundle); none when it cannot
/// be read (`what` names the setting the caller wanted, for the warning).
fn stored_resources(container: &Lc, what: &str) -> Option<LinuxResources> {
    let spec = libcontainer::oci_spec::runtime::Spec::load(container.bundle().join("config.json"))
        .map_err(|e| tracing::warn!(id = container.id(), error = %e, "cannot read the container's {what}"))
        .ok()?;
    spec.linux().as_ref()?.resources().clone()
}

/// The device rules of the spec the container runs (`linux.resources.devices` of its hardened
/// bundle); none when it cannot be read, which leaves libcgroups' default-deny set.
fn stored_devices(
    container: &Lc,
) -> Option<Vec<libcontainer::oci_spec::runtime::LinuxDeviceCgroup>> {
    stored_resources(container, "device rules")?
        .devices()
        .clone()
}

/// `linux.resources.memory.disableOOMKiller` of the spec the container runs; false when unset
/// or unreadable.
fn stored_disable_oom_killer(container: &Lc) -> bool {
    stored_resources(container, "disableOOMKiller")
        .and_then(|r| r.memory().as_ref()?.disable_oom_killer())
        .unwrap_or(false)
}

/// A request to start a process in a running container, as runc's `exec` takes it once the
/// process is one JSON file.
pub struct ExecRequest<'a> {
    pub id: &'a str,
    pub root: &'a Path,
    /// the process JSON file (already through the policy seam)
    pub process: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: i32,
    pub detach: bool,
    pub ignore_paused: bool,
    pub sub_cgroup: Option<String>,
    /// the process's seccomp filter where it is not the container's (`linux.seccomp` JSON)
    pub seccomp: Option<serde_json::Value>,
    /// the container's stored spec, as exec read it: libcontainer builds on it instead of
    /// reading the file again (HARDRUN-PATCHES.md §31)
    pub spec: &'a serde_json::Value,
}

/// Starts a process inside a running container and returns its pid (our child unless detached).
pub fn exec(req: ExecRequest) -> Result<Pid, DelegateError> {
    let id = req.id;
    let spec: libcontainer::oci_spec::runtime::Spec = serde::Deserialize::deserialize(req.spec)
        .map_err(|e| {
            fail(
                "exec in",
                id,
                libcontainer::error::LibcontainerError::InvalidInput(format!(
                    "the container's spec: {e}"
                )),
            )
        })?;
    let seccomp = match req.seccomp {
        Some(v) => Some(
            serde_json::from_value::<libcontainer::oci_spec::runtime::LinuxSeccomp>(v).map_err(
                |e| {
                    fail(
                        "exec in",
                        id,
                        libcontainer::error::LibcontainerError::InvalidInput(format!(
                            "linux.seccomp: {e}"
                        )),
                    )
                },
            )?,
        ),
        None => None,
    };
    // the filter the process gets (its own, or the container's, see libcontainer's §1 and §30),
    // compiled once per distinct filter; the init compiles it itself when this guess is wrong
    let filter = seccomp
        .clone()
        .or_else(|| spec.linux().as_ref().and_then(|l| l.seccomp().clone()));
    let compiled = filter.and_then(|f| crate::runtime::seccomp_cache::compiled(f, req.root));
    builder(
        "exec in",
        id,
        req.root,
        req.pid_file,
        req.console_socket,
        req.preserve_fds,
    )?
    .as_tenant()
    .with_compiled_seccomp(compiled)
    .with_detach(req.detach)
    .with_process(Some(req.process))
    .with_ignore_paused(req.ignore_paused)
    .with_sub_cgroup(req.sub_cgroup)
    .with_seccomp(seccomp)
    .with_init_spec(Some(spec))
    .build()
    .map_err(|e| fail("exec in", id, e))
}

/// Removes a cgroup that a failed create may have left (by path, as libcontainer names it).
pub fn remove_cgroup(id: &str, cgroup_path: &Path) {
    if let Ok(m) = libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path: cgroup_path.to_path_buf(),
        systemd_cgroup: false,
        container_name: id.to_owned(),
    }) {
        if let Err(e) = m.remove() {
            tracing::debug!(id, error = %chain(&e), "no cgroup to remove");
        }
    }
}

/// Whether the host's cgroups are v2 only: the one setup `linux.resources.unified` applies to
/// (libcgroups' v1 manager ignores it without a word; runc refuses it).
pub fn cgroup_v2() -> bool {
    matches!(
        libcgroups::common::get_cgroup_setup(),
        Ok(libcgroups::common::CgroupSetup::Unified)
    )
}

/// The OCI runtime-spec version libcontainer implements.
pub fn oci_version() -> &'static str {
    libcontainer::oci_spec::runtime::VERSION
}

/// A parsed `LinuxResources` from JSON, with the field that failed named.
pub fn parse_resources(
    raw: &serde_json::Value,
) -> Result<LinuxResources, crate::bundle::FieldError> {
    crate::bundle::typed(raw)
}

/// Whether libcontainer can read `process` as a process JSON (`exec`): `field <path>: <why>`
/// when it cannot.
pub fn check_process(process: &serde_json::Value) -> Result<(), crate::bundle::FieldError> {
    serde_path_to_error::deserialize::<_, libcontainer::oci_spec::runtime::Process>(process)
        .map(|_| ())
        .map_err(|e| crate::bundle::FieldError {
            field: e.path().to_string(),
            msg: e.inner().to_string(),
        })
}

/// Why libcontainer would refuse `spec`'s user namespace at create (a new one without uid or gid
/// mappings: "invalid spec for new user namespace container: …"), so that `check` decides as
/// `create` does; `None` when it would take it (or the spec does not parse here: create names
/// that itself). Reads nothing but the spec and the paths of newuidmap/newgidmap.
pub fn user_namespace_refusal(spec: &serde_json::Value) -> Option<String> {
    let typed: libcontainer::oci_spec::runtime::Spec = serde_json::from_value(spec.clone()).ok()?;
    libcontainer::user_ns::UserNamespaceConfig::new(&typed)
        .err()
        .map(|e| {
            format!(
                "invalid spec for new user namespace container: {}",
                tidy(&chain(&e))
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libcontainer names the errno of a failed spec mount whichever wrapper carries it
    /// (HARDRUN-PATCHES.md §10; the crate's own tests cannot run outside its workspace).
    #[test]
    fn mount_failure_reason_names_the_errno() {
        use libcontainer::rootfs::mount_failure_reason as reason;
        #[derive(Debug, thiserror::Error)]
        enum Wrap {
            #[error("syscall")]
            Nix(#[source] nix::Error),
            #[error("syscall")]
            Io(#[source] std::io::Error),
            #[error(transparent)]
            Text(Box<dyn std::error::Error + Send + Sync>),
            #[error("unknown mount option: {0}")]
            Plain(String),
        }
        assert_eq!(
            reason(&Wrap::Nix(nix::errno::Errno::ENODEV)),
            "no such device (ENODEV)"
        );
        assert_eq!(
            reason(&Wrap::Io(std::io::Error::from_raw_os_error(libc::ENOENT))),
            "no such file or directory (ENOENT)"
        );
        assert_eq!(
            reason(&Wrap::Text(
                "openat(…): Not a directory (os error 20)".into()
            )),
            "not a directory (ENOTDIR)"
        );
        assert_eq!(
            reason(&Wrap::Plain("bogus".into())),
            "unknown mount option: bogus"
        );
    }

    #[test]
    fn tidy_drops_wrapper_phrases_only() {
        for (input, want) in [
            (
                "failed to create container: exec process failed with error error in executing process : executable \"x\" not found",
                "executable \"x\" not found",
            ),
            ("failed to create container: ", "failed to create container: "),
            (
                "io error: at /sys/fs/cgroup/cpu/hardrun/d1: could not delete",
                "io error: at /sys/fs/cgroup/cpu/hardrun/d1: could not delete",
            ),
        ] {
            assert_eq!(tidy(input), want);
        }
    }
}
