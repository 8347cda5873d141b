//! Namespaces provide isolation of resources for processes at a kernel level.
//! The namespaces are: Mount (filesystem),
//! Process (processes in a namespace have two PIDs, one for the global PID,
//! which is used by the main system and the second one is for the child within the process tree),
//! Interprocess Communication (Control or communication between processes),
//! Network (which network devices can be seen by the processes in the namespace), User (User configs),
//! UTS (hostname and domain information, processes will think they're running on servers with different names),
//! Cgroup (Resource limits, execution priority etc.)

use std::collections;

use nix::sched::CloneFlags;
use nix::sys::stat;
use nix::{fcntl, unistd};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::syscall::Syscall;
use crate::syscall::syscall::create_syscall;

// CLONE_NEWTIME is not yet defined in nix's CloneFlags.
pub(crate) const CLONE_NEWTIME_FLAG: CloneFlags = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);

type Result<T> = std::result::Result<T, NamespaceError>;

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error(transparent)]
    Nix(#[from] nix::Error),
    #[error(transparent)]
    IO(#[from] std::io::Error),
    #[error(transparent)]
    Syscall(#[from] crate::syscall::SyscallError),
    #[error("Namespace type not supported: {0}")]
    NotSupported(String),
}

static ORDERED_NAMESPACES: &[CloneFlags] = &[
    CloneFlags::CLONE_NEWUSER,
    CloneFlags::CLONE_NEWPID,
    CloneFlags::CLONE_NEWUTS,
    CloneFlags::CLONE_NEWIPC,
    CloneFlags::CLONE_NEWNET,
    CloneFlags::CLONE_NEWCGROUP,
    CloneFlags::CLONE_NEWNS,
    CLONE_NEWTIME_FLAG,
];

/// Holds information about namespaces
pub struct Namespaces {
    command: Box<dyn Syscall>,
    namespace_map: collections::HashMap<CloneFlags, LinuxNamespace>,
}

fn get_clone_flag(namespace_type: LinuxNamespaceType) -> Result<CloneFlags> {
    let flag = match namespace_type {
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Time => CLONE_NEWTIME_FLAG,
    };

    Ok(flag)
}

/// hardrun: the namespace files of the spec, opened by the first process that reads the spec's
/// namespaces (the runtime itself, as host root), before any namespace is entered: (path, fd).
/// The intermediate and init processes are forked copies, so they inherit the descriptors and
/// this list. Opening `/proc/<pid>/ns/*` is a ptrace access check against `<pid>`: from inside a
/// user namespace it fails (EACCES) for a process that is not dumpable or was not exec'd in that
/// namespace (a created, not yet started container's init), which a container joining that
/// container's user namespace and then its pid or ipc namespace ran into. runc's nsexec opens
/// every namespace file before its first setns, for the same reason. The descriptors are
/// close-on-exec, and the init closes them with every other one before the payload runs.
static OPENED: std::sync::Mutex<Vec<(std::path::PathBuf, std::os::fd::RawFd)>> =
    std::sync::Mutex::new(Vec::new());

/// hardrun: opens `path` into [`OPENED`] unless it is there; an error is left for the setns.
fn preopen(path: &std::path::Path) {
    let Ok(mut opened) = OPENED.lock() else {
        return;
    };
    if opened.iter().any(|(p, _)| p == path) {
        return;
    }
    if let Ok(fd) = fcntl::open(path, fcntl::OFlag::O_CLOEXEC, stat::Mode::empty()) {
        opened.push((path.to_path_buf(), fd));
    }
}

/// hardrun: whether this thread is already in the namespace at `path` (uts, ipc, network,
/// cgroup and mount namespaces; the others are never joined twice).
fn already_in(typ: LinuxNamespaceType, path: &std::path::Path) -> bool {
    let name = match typ {
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Mount => "mnt",
        _ => return false,
    };
    let target = match preopened(path) {
        // a descriptor OPENED holds for the life of the process
        Some(fd) => stat::fstat(fd),
        None => stat::stat(path),
    };
    let own = stat::stat(format!("/proc/thread-self/ns/{name}").as_str());
    matches!((target, own), (Ok(t), Ok(o)) if t.st_dev == o.st_dev && t.st_ino == o.st_ino)
}

/// hardrun: the descriptor [`preopen`] opened for `path`, if any.
fn preopened(path: &std::path::Path) -> Option<std::os::fd::RawFd> {
    OPENED
        .lock()
        .ok()?
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, fd)| *fd)
}

impl TryFrom<Option<&Vec<LinuxNamespace>>> for Namespaces {
    type Error = NamespaceError;

    fn try_from(namespaces: Option<&Vec<LinuxNamespace>>) -> Result<Self> {
        // hardrun: every namespace file opened now, before any is entered (see OPENED)
        for ns in namespaces.into_iter().flatten() {
            if let Some(path) = ns.path() {
                preopen(path);
            }
        }
        let command: Box<dyn Syscall> = create_syscall();
        let namespace_map: collections::HashMap<CloneFlags, LinuxNamespace> = namespaces
            .unwrap_or(&vec![])
            .iter()
            .map(|ns| match get_clone_flag(ns.typ()) {
                Ok(flag) => Ok((flag, ns.clone())),
                Err(err) => Err(err),
            })
            .collect::<Result<Vec<(CloneFlags, LinuxNamespace)>>>()?
            .into_iter()
            .collect();

        Ok(Namespaces {
            command,
            namespace_map,
        })
    }
}

impl Namespaces {
    pub fn apply_namespaces<F: Fn(CloneFlags) -> bool>(&self, filter: F) -> Result<()> {
        let to_enter: Vec<(&CloneFlags, &LinuxNamespace)> = ORDERED_NAMESPACES
            .iter()
            .filter(|c| filter(**c))
            .filter_map(|c| self.namespace_map.get_key_value(c))
            .collect();

        for (_, ns) in to_enter {
            self.unshare_or_setns(ns)?;
        }
        Ok(())
    }

    pub fn unshare_or_setns(&self, namespace: &LinuxNamespace) -> Result<()> {
        tracing::debug!("unshare or setns: {:?}", namespace);
        match namespace.path() {
            // hardrun: already a member (joined early, see `join_before_user_namespace`):
            // entering again from inside a user namespace could only fail
            Some(path) if already_in(namespace.typ(), path) => {
                tracing::debug!(?namespace, "already in the namespace");
            }
            // hardrun: the descriptor opened before any namespace was entered; kept open (a
            // forked process may need it too)
            Some(path) if preopened(path).is_some() => {
                let fd = preopened(path).unwrap_or(-1);
                self.command
                    .set_ns(fd, get_clone_flag(namespace.typ())?)
                    .map_err(|err| {
                        tracing::error!(?err, ?namespace, "failed to set namespace");
                        err
                    })?;
            }
            Some(path) => {
                let fd = fcntl::open(path, fcntl::OFlag::empty(), stat::Mode::empty())
                    .inspect_err(|err| {
                        tracing::error!(?err, ?namespace, "failed to open namespace file");
                    })?;
                self.command
                    .set_ns(fd, get_clone_flag(namespace.typ())?)
                    .map_err(|err| {
                        tracing::error!(?err, ?namespace, "failed to set namespace");
                        err
                    })?;
                unistd::close(fd).inspect_err(|err| {
                    tracing::error!(?err, ?namespace, "failed to close namespace file");
                })?;
            }
            None => {
                self.command
                    .unshare(get_clone_flag(namespace.typ())?)
                    .map_err(|err| {
                        tracing::error!(?err, ?namespace, "failed to unshare namespace");
                        err
                    })?;
            }
        }

        Ok(())
    }

    /// hardrun: enters the uts, ipc and network namespaces the spec joins by path, while this
    /// process is still in the runtime's user namespace (as root), before the user namespace is
    /// created or joined. From inside a user namespace, `setns` needs CAP_SYS_ADMIN in the user
    /// namespace that owns the target: a namespace the host's user namespace owns (a Kubernetes
    /// pod's network namespace, pinned by the CNI under /run/netns) could not be entered at all.
    /// runc's nsexec joins every namespace it is given before it creates the user namespace. The
    /// init process later skips them (`already_in`).
    pub fn join_before_user_namespace(&self) -> Result<()> {
        for flag in [
            CloneFlags::CLONE_NEWUTS,
            CloneFlags::CLONE_NEWIPC,
            CloneFlags::CLONE_NEWNET,
        ] {
            if let Some(ns) = self.namespace_map.get(&flag) {
                if ns.path().is_some() {
                    self.unshare_or_setns(ns)?;
                }
            }
        }
        Ok(())
    }

    pub fn get(&self, k: LinuxNamespaceType) -> Result<Option<&LinuxNamespace>> {
        Ok(self.namespace_map.get(&get_clone_flag(k)?))
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType};
    use serial_test::serial;

    use super::*;
    use crate::syscall::test::TestHelperSyscall;

    fn gen_sample_linux_namespaces() -> Vec<LinuxNamespace> {
        vec![
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Mount)
                .path("/dev/null")
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path("/dev/null")
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Pid)
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::User)
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Ipc)
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Time)
                .build()
                .unwrap(),
        ]
    }

    #[test]
    #[serial]
    fn test_apply_namespaces() {
        let sample_linux_namespaces = gen_sample_linux_namespaces();
        let namespaces = Namespaces::try_from(Some(&sample_linux_namespaces))
            .expect("create namespace struct should be good");
        let test_command: &TestHelperSyscall = namespaces.command.as_any().downcast_ref().unwrap();
        assert!(
            namespaces
                .apply_namespaces(|ns_type| { ns_type != CloneFlags::CLONE_NEWIPC })
                .is_ok()
        );

        let mut setns_args: Vec<_> = test_command
            .get_setns_args()
            .into_iter()
            .map(|(_fd, cf)| cf)
            .collect();
        setns_args.sort();
        let mut expect = vec![CloneFlags::CLONE_NEWNS, CloneFlags::CLONE_NEWNET];
        expect.sort();
        assert_eq!(setns_args, expect);

        let mut unshare_args = test_command.get_unshare_args();
        unshare_args.sort();
        let mut expect = vec![
            CLONE_NEWTIME_FLAG,
            CloneFlags::CLONE_NEWUSER,
            CloneFlags::CLONE_NEWPID,
        ];
        expect.sort();
        assert_eq!(unshare_args, expect)
    }
}
