use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use pathrs::flags::OpenFlags;
use pathrs::procfs::{ProcfsBase, ProcfsHandle};
use procfs::ProcError;
use procfs::process::MountInfo;

use super::ControllerType;
use super::controller_type::CONTROLLERS;

#[derive(thiserror::Error, Debug)]
pub enum V1MountPointError {
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("failed to get mountinfo: {0}")]
    MountInfo(ProcError),
    #[error("could not find mountpoint for {subsystem}")]
    NotFound { subsystem: ControllerType },
    #[error(transparent)]
    Pathrs(#[from] pathrs::error::Error),
}

/// List all cgroup v1 subsystem mount points on the system. This can include unsupported
/// subsystems, comounted controllers and named hierarchies.
// hardrun: the same list as `cgroup_mount_points` (pinned where `pin_mount_points` was called)
pub fn list_subsystem_mount_points() -> Result<Vec<PathBuf>, V1MountPointError> {
    cgroup_mount_points()
}

/// List the mount points of all currently supported cgroup subsystems.
pub fn list_supported_mount_points() -> Result<HashMap<ControllerType, PathBuf>, V1MountPointError>
{
    let mut mount_paths = HashMap::with_capacity(CONTROLLERS.len());

    for controller in CONTROLLERS {
        if let Ok(mount_point) = get_subsystem_mount_point(controller) {
            mount_paths.insert(controller.to_owned(), mount_point);
        }
    }

    Ok(mount_paths)
}

pub fn get_subsystem_mount_point(subsystem: &ControllerType) -> Result<PathBuf, V1MountPointError> {
    find_subsystem_mount_point(&cgroup_mount_points()?, subsystem)
}

/// hardrun: the mount points of every `cgroup` (v1) mount in this process's mountinfo, read
/// once; [`find_subsystem_mount_point`] picks a subsystem's from them. Upstream read mountinfo
/// again for every subsystem (twelve reads per cgroup manager, issue 20). Where
/// [`pin_mount_points`] was called, the list it read.
pub fn cgroup_mount_points() -> Result<Vec<PathBuf>, V1MountPointError> {
    match PINNED.get() {
        Some(points) => Ok(points.clone()),
        None => read_mount_points(),
    }
}

/// hardrun: the list [`pin_mount_points`] read.
static PINNED: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();

/// hardrun: reads the cgroup v1 mount points once and keeps them for the rest of this process
/// and for the processes it forks afterwards: libcontainer's intermediate process (its cgroup
/// manager, cpuset), its init (the container's cgroup mounts) and a foreground `run`'s delete
/// read mountinfo again each otherwise (issue 20). The procfs handle it opens is pathrs'
/// cached one, which the forked processes inherit too. For a process that creates, runs or
/// deletes one container; a long-running one must not pin what the host may remount.
pub fn pin_mount_points() -> Result<(), V1MountPointError> {
    if PINNED.get().is_none() {
        let _ = PINNED.set(read_mount_points()?);
    }
    Ok(())
}

fn read_mount_points() -> Result<Vec<PathBuf>, V1MountPointError> {
    let reader = BufReader::new(ProcfsHandle::new()?.open(
        ProcfsBase::ProcSelf,
        "mountinfo",
        OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC,
    )?);
    let mut points = vec![];
    for line in reader.lines() {
        let line = line.map_err(V1MountPointError::Io)?;
        let m = MountInfo::from_line(&line).map_err(V1MountPointError::MountInfo)?;
        if m.fs_type == "cgroup" {
            points.push(m.mount_point);
        }
    }
    Ok(points)
}

/// The first of `points` (cgroup v1 mount points in mountinfo order) that is `subsystem`'s.
pub fn find_subsystem_mount_point(
    points: &[PathBuf],
    subsystem: &ControllerType,
) -> Result<PathBuf, V1MountPointError> {
    let subsystem_name = subsystem.to_string();
    points
        .iter()
        .find(|mount_point| {
            // Some systems mount net_prio and net_cls in the same directory
            // other systems mount them in their own directories. This
            // should handle both cases.
            match subsystem_name.as_str() {
                "net_cls" => ["net_cls,net_prio", "net_prio,net_cls", "net_cls"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "net_prio" => ["net_cls,net_prio", "net_prio,net_cls", "net_prio"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "cpu" => ["cpu,cpuacct", "cpu"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "cpuacct" => ["cpu,cpuacct", "cpuacct"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                _ => mount_point.ends_with(&subsystem_name),
            }
        })
        .cloned()
        .ok_or(V1MountPointError::NotFound {
            subsystem: *subsystem,
        })
}
