//! What a container with a user namespace needs of the host before libcontainer builds it.
//!
//! libcontainer prepares the rootfs from inside the container's user namespace, as the mapped
//! root (host uid 100000, say). Two things a root runtime takes for granted then fail:
//!
//! 1. **Missing mount points.** A destination that the image lacks (`/run`, `/var/tmp` of the
//!    profile's tmpfs mounts, `/etc/hosts` …) is created in the image by the runtime. The mapped
//!    root cannot write a root-owned image (EACCES). [`create_mountpoints`] creates them from the
//!    host side first, as runc (as root, without a user namespace) would create them anyway:
//!    empty directories (mode 0755) and, for file binds, empty files (0644), owned by host root.
//!    Every path is resolved inside the rootfs (`pathrs`: openat2 `RESOLVE_IN_ROOT`), so a
//!    symlink in the image cannot point the creation outside it.
//! 2. **Untraversable paths.** The rootfs and the bind sources are reached by path, and every
//!    directory on the way must be searchable by the mapped root. Real clients keep them below
//!    directories that are not: dockerd's data root and its `overlay2`, `containers` (0710),
//!    containerd's task bundles (0700), podman's `overlay` (0700). [`reach`] does not change
//!    those directories: it binds each unreachable path at a reachable one, in a tmpfs mounted
//!    on [`MOUNT_DIR`] inside a mount namespace private to this hardrun process (a slave of the
//!    host's), and hands libcontainer a spec that names those. The container's init is cloned
//!    from this process and inherits the bindings; its own mount namespace drops them at
//!    `pivot_root`. They never appear in the host's mount table, and they vanish with this
//!    process, however it ends (`kill -9` included). In the host's view `MOUNT_DIR` is an empty
//!    directory.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use serde_json::Value;

use crate::bundle::sources::is_bind;

/// Where [`reach`] mounts its tmpfs, in its private mount namespace only.
pub const MOUNT_DIR: &str = "/run/hardrun-userns-mnt";

/// The host id that container id 0 maps to in a `/proc/<pid>/{uid,gid}_map` text.
fn root_in_map(text: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace().map(str::parse::<u64>);
        match (f.next(), f.next(), f.next()) {
            (Some(Ok(0)), Some(Ok(h)), Some(Ok(n))) if n > 0 => u32::try_from(h).ok(),
            _ => None,
        }
    })
}

/// The host uid and gid of the container's root, when the spec puts it in a user namespace that
/// maps root to anything but host root (then libcontainer works as that id, not as root): a new
/// one (from the spec's mappings), or the one of a process it joins (`/proc/<pid>/ns/user`: from
/// that process's maps, as the kernel shows them).
pub fn mapped_root(spec: &Value) -> Option<(u32, u32)> {
    let user = spec
        .pointer("/linux/namespaces")?
        .as_array()?
        .iter()
        .find(|n| n.get("type").and_then(Value::as_str) == Some("user"))?;
    if let Some(path) = user
        .get("path")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    {
        let pid = path
            .strip_prefix("/proc/")?
            .strip_suffix("/ns/user")
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))?;
        let read = |kind: &str| fs::read_to_string(format!("/proc/{pid}/{kind}_map")).ok();
        let (uid, gid) = (root_in_map(&read("uid")?)?, root_in_map(&read("gid")?)?);
        return (uid != 0).then_some((uid, gid));
    }
    let root_of = |kind: &str| -> Option<u32> {
        spec.pointer(&format!("/linux/{kind}Mappings"))?
            .as_array()?
            .iter()
            .find_map(|m| {
                let get = |k: &str| m.get(k).and_then(Value::as_u64);
                let (c, h, n) = (get("containerID")?, get("hostID")?, get("size")?);
                (c == 0 && n > 0).then(|| u32::try_from(h).ok()).flatten()
            })
    };
    let (uid, gid) = (root_of("uid")?, root_of("gid")?);
    (uid != 0).then_some((uid, gid))
}

/// Lexically normalized destination inside the container ("/a/../b" is "/b"); `None` for the
/// root itself.
fn normalized(dest: &str) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for c in Path::new(dest).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    (out != Path::new("/")).then_some(out)
}

/// What [`create_mountpoints`] would create, in order: (destination, is a directory). A
/// destination below an earlier mount's destination lands on that mount (a tmpfs the mapped
/// root owns, a bind of a host directory), not in the image, and is left to libcontainer.
pub fn mountpoints(spec: &Value) -> Vec<(PathBuf, bool)> {
    let mut out: Vec<(PathBuf, bool)> = vec![];
    let mut earlier: Vec<PathBuf> = vec![];
    for m in spec
        .get("mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(dest) = m
            .get("destination")
            .and_then(Value::as_str)
            .and_then(normalized)
        else {
            continue;
        };
        let covered = earlier.iter().any(|e| dest != *e && dest.starts_with(e));
        earlier.push(dest.clone());
        if covered || out.iter().any(|(d, _)| *d == dest) {
            continue;
        }
        let dir = !is_bind(m)
            || m.get("source")
                .and_then(Value::as_str)
                .is_none_or(|s| Path::new(s).is_dir());
        out.push((dest, dir));
    }
    out
}

/// Why the container's user namespace root cannot be given its rootfs and mounts.
#[derive(Debug, thiserror::Error)]
pub enum UsernsMountsError {
    #[error("rootfs {}: cannot open it: {}", .0.display(), .1)]
    OpenRootfs(PathBuf, String),
    #[error("rootfs {}: cannot resolve the mount point {}: {why}", rootfs.display(), given.display())]
    Resolve {
        rootfs: PathBuf,
        given: PathBuf,
        why: String,
    },
    #[error("rootfs {}: cannot create the mount point {} for the container's user namespace: {why}", rootfs.display(), dest.display())]
    Mountpoint {
        rootfs: PathBuf,
        dest: PathBuf,
        why: String,
    },
    #[error("rootfs {}: cannot stat it: {}", .0.display(), .1)]
    StatRootfs(PathBuf, std::io::Error),
    #[error("rootfs {} (mode {mode:04o}, owner {}:{}) is not searchable by the container's user namespace root (host uid {uid}): it becomes the container's /, so it needs o+x", rootfs.display(), owner.0, owner.1)]
    RootfsNotSearchable {
        rootfs: PathBuf,
        mode: u32,
        owner: (u32, u32),
        uid: u32,
    },
    #[error("cannot make {} reachable for the container's user namespace root (host uid {uid}): {step}", path.display())]
    Reach {
        path: PathBuf,
        uid: u32,
        step: ReachStep,
    },
}

/// The step of binding a path where the mapped root can reach it that failed.
#[derive(Debug, thiserror::Error)]
pub enum ReachStep {
    #[error("unshare the mount namespace: {0}")]
    Unshare(nix::Error),
    #[error("make / a slave mount: {0}")]
    Slave(nix::Error),
    #[error("{MOUNT_DIR} is not a directory owned by root: remove it")]
    BaseNotRoots,
    #[error("create {MOUNT_DIR}: {0}")]
    CreateBase(std::io::Error),
    #[error("stat {MOUNT_DIR}: {0}")]
    StatBase(std::io::Error),
    #[error("mount a tmpfs on {MOUNT_DIR}: {0}")]
    MountBase(nix::Error),
    #[error("create {}: {}", .0.display(), .1)]
    Create(PathBuf, std::io::Error),
    #[error("bind it at {}: {}", .0.display(), .1)]
    Bind(PathBuf, nix::Error),
}

/// Creates, from the host side and inside `rootfs`, the mount points of `spec` that the image
/// lacks (see the module doc). Returns the destinations it created.
pub fn create_mountpoints(rootfs: &Path, spec: &Value) -> Result<Vec<PathBuf>, UsernsMountsError> {
    let wanted = mountpoints(spec);
    if wanted.is_empty() {
        return Ok(vec![]);
    }
    let root = pathrs::Root::open(rootfs)
        .map_err(|e| UsernsMountsError::OpenRootfs(rootfs.to_path_buf(), e.to_string()))?;
    let mut created = vec![];
    for (given, dir) in wanted {
        // where the destination lands: its symlinks followed inside the rootfs as in a chroot,
        // dangling ones too (their targets are made), as libcontainer and runc resolve it
        let dest = match safe_path::scoped_resolve(rootfs, &given) {
            Ok(rel) => Path::new("/").join(rel),
            Err(e) => {
                return Err(UsernsMountsError::Resolve {
                    rootfs: rootfs.to_path_buf(),
                    given,
                    why: e.to_string(),
                })
            }
        };
        if root.resolve(&dest).is_ok() {
            continue;
        }
        let fail = |e: pathrs::error::Error| UsernsMountsError::Mountpoint {
            rootfs: rootfs.to_path_buf(),
            dest: dest.clone(),
            why: e.to_string(),
        };
        if dir {
            root.mkdir_all(&dest, &fs::Permissions::from_mode(0o755))
                .map_err(fail)?;
        } else {
            if let Some(parent) = dest.parent() {
                root.mkdir_all(parent, &fs::Permissions::from_mode(0o755))
                    .map_err(fail)?;
            }
            root.create_file(
                &dest,
                pathrs::flags::OpenFlags::O_CREAT
                    | pathrs::flags::OpenFlags::O_EXCL
                    | pathrs::flags::OpenFlags::O_NOFOLLOW
                    | pathrs::flags::OpenFlags::O_CLOEXEC,
                &fs::Permissions::from_mode(0o644),
            )
            .map_err(fail)?;
        }
        tracing::debug!(rootfs = %rootfs.display(), mountpoint = %dest.display(), "mount point created for the user namespace");
        created.push(dest);
    }
    Ok(created)
}

/// Whether host uid `uid` (gid `gid`, no supplementary groups) may search directory `md`.
fn searchable(md: &fs::Metadata, uid: u32, gid: u32) -> bool {
    let bit = if md.uid() == uid {
        0o100
    } else if md.gid() == gid {
        0o010
    } else {
        0o001
    };
    md.mode() & bit != 0
}

/// The rootfs's own directory must be searchable by the mapped root: it becomes the
/// container's `/`, and no binding changes its mode.
pub fn check_rootfs_searchable(rootfs: &Path, uid: u32, gid: u32) -> Result<(), UsernsMountsError> {
    let md =
        fs::metadata(rootfs).map_err(|e| UsernsMountsError::StatRootfs(rootfs.to_path_buf(), e))?;
    if !searchable(&md, uid, gid) {
        return Err(UsernsMountsError::RootfsNotSearchable {
            rootfs: rootfs.to_path_buf(),
            mode: md.mode() & 0o7777,
            owner: (md.uid(), md.gid()),
            uid,
        });
    }
    Ok(())
}

/// Whether the mapped root can reach `path`: every directory above it is searchable.
fn reachable(path: &Path, uid: u32, gid: u32) -> bool {
    match path.parent() {
        Some(parent) => crate::runtime::userns::check_traversable(parent, uid, gid).is_ok(),
        None => true,
    }
}

/// The paths of `spec` the mapped root cannot reach: ("root" or the mount's index, host path).
pub fn unreachable(
    spec: &Value,
    rootfs: &Path,
    uid: u32,
    gid: u32,
) -> Vec<(Option<usize>, PathBuf)> {
    let mut out = vec![];
    if !reachable(rootfs, uid, gid) {
        out.push((None, rootfs.to_path_buf()));
    }
    for (i, m) in spec
        .get("mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !is_bind(m) {
            continue;
        }
        let Some(src) = m.get("source").and_then(Value::as_str) else {
            continue;
        };
        let src = Path::new(src);
        if src.is_absolute() && src.exists() && !reachable(src, uid, gid) {
            out.push((Some(i), src.to_path_buf()));
        }
    }
    out
}

/// Moves this process into a mount namespace of its own, a slave of the one it was in: mounts
/// made here never reach the host, the host's still reach here (and the containers created
/// from here). Only the calling thread moves; libcontainer clones from it.
fn private_mount_namespace() -> Result<(), ReachStep> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(ReachStep::Unshare)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(ReachStep::Slave)
}

/// The tmpfs on [`MOUNT_DIR`], mounted in this process's private mount namespace.
fn mount_base() -> Result<PathBuf, ReachStep> {
    let base = PathBuf::from(MOUNT_DIR);
    match fs::symlink_metadata(&base) {
        Ok(md) if md.is_dir() && md.uid() == 0 => {}
        Ok(_) => return Err(ReachStep::BaseNotRoots),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(&base)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => Ok(()),
                    _ => Err(e),
                })
                .map_err(ReachStep::CreateBase)?;
        }
        Err(e) => return Err(ReachStep::StatBase(e)),
    }
    mount(
        Some("hardrun-userns"),
        &base,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0711,size=1m"),
    )
    .map_err(ReachStep::MountBase)?;
    Ok(base)
}

/// Binds every path of `spec` that the mapped root (`uid`, `gid`) cannot reach at one it can
/// (see the module doc). Returns the spec for libcontainer, naming the bindings, or `None` when
/// everything was reachable already (nothing was mounted). The caller's spec, and the one kept
/// in the state directory, keep the real paths.
pub fn reach(
    spec: &Value,
    rootfs: &Path,
    uid: u32,
    gid: u32,
) -> Result<Option<Value>, UsernsMountsError> {
    let todo = unreachable(spec, rootfs, uid, gid);
    if todo.is_empty() {
        return Ok(None);
    }
    let fail = |what: &Path, step: ReachStep| UsernsMountsError::Reach {
        path: what.to_path_buf(),
        uid,
        step,
    };
    private_mount_namespace().map_err(|e| fail(&todo[0].1, e))?;
    let base = mount_base().map_err(|e| fail(&todo[0].1, e))?;
    let mut out = spec.clone();
    for (index, src) in todo {
        let target = match index {
            None => base.join("rootfs"),
            Some(i) => base.join(format!("mount-{i}")),
        };
        let made = if src.is_dir() {
            fs::DirBuilder::new().mode(0o755).create(&target)
        } else {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&target)
                .map(drop)
        };
        made.map_err(|e| fail(&src, ReachStep::Create(target.clone(), e)))?;
        mount(
            Some(&src),
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| fail(&src, ReachStep::Bind(target.clone(), e)))?;
        let name = target.to_string_lossy().into_owned();
        match index {
            None => out["root"]["path"] = Value::String(name),
            Some(i) => out["mounts"][i]["source"] = Value::String(name),
        }
        tracing::debug!(path = %src.display(), at = %target.display(), "bound for the user namespace root");
    }
    Ok(Some(out))
}

/// `ioctl(NS_GET_USERNS)`: the user namespace that owns a namespace.
const NS_GET_USERNS: libc::c_ulong = 0xb701;

/// (device, inode) of the user namespace that owns the namespace file at `path`.
fn owner_userns(path: &str) -> Option<(u64, u64)> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let ns = fs::File::open(path).ok()?;
    // SAFETY: NS_GET_USERNS takes no argument and returns a new descriptor (or -1); `ns` is an
    // open namespace file for the duration of the call.
    let fd = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_USERNS) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the ioctl returned a new descriptor that nothing else owns.
    let owner = unsafe { OwnedFd::from_raw_fd(fd) };
    let md = fs::File::from(owner).metadata().ok()?;
    Some((md.dev(), md.ino()))
}

/// Whether the container's `sysfs` cannot be mounted: mounting sysfs needs CAP_SYS_ADMIN in
/// the user namespace that owns the network namespace, and the container's root has it only in
/// its own. With a user namespace, that fails for the host's network namespace (no `network`
/// entry) and for one joined by path that another user namespace owns (a Kubernetes pod's,
/// pinned by the CNI under /run/netns: the host's).
pub fn sysfs_needs_bind(spec: &Value) -> bool {
    let list: Vec<&Value> = spec
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let path_of = |kind: &str| {
        list.iter()
            .find(|n| n.get("type").and_then(Value::as_str) == Some(kind))
            .map(|n| {
                n.get("path")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
            })
    };
    let Some(user) = path_of("user") else {
        return false; // no user namespace: the runtime's root mounts it
    };
    let net = match path_of("network") {
        None => return true,        // the host's network namespace
        Some(None) => return false, // a new one, made inside the user namespace
        Some(Some(net)) => net,
    };
    let own = match user {
        None => return true, // a new user namespace owns nothing that exists yet
        Some(path) => fs::metadata(path).ok().map(|m| (m.dev(), m.ino())),
    };
    own.is_none() || owner_userns(net) != own
}

/// The spec's `sysfs` mounts as a recursive, read-only bind of the runtime's `/sys`, as runc
/// does where sysfs cannot be mounted (its rootless specs): what the container sees of `/sys`
/// is the host's, read-only; files owned by host root show as `nobody`. Returns whether
/// anything changed.
pub fn bind_sysfs(spec: &mut Value) -> bool {
    let mut changed = false;
    for m in spec
        .get_mut("mounts")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if m.get("type").and_then(Value::as_str) != Some("sysfs") {
            continue;
        }
        m["type"] = Value::String("bind".into());
        m["source"] = Value::String("/sys".into());
        m["options"] = serde_json::json!([
            "rbind", "ro", "nosuid", "nodev", "noexec", "rro", "rnosuid", "rnodev", "rnoexec"
        ]);
        changed = true;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mapped_root_only_for_a_new_namespace_that_maps_root_elsewhere() {
        let map = |h: u64| json!([{"containerID": 0, "hostID": h, "size": 65536}]);
        let spec = |ns: Value, u: Value, g: Value| json!({"linux": {"namespaces": ns, "uidMappings": u, "gidMappings": g}});
        let user = json!([{"type": "pid"}, {"type": "user"}]);
        assert_eq!(
            mapped_root(&spec(user.clone(), map(100000), map(200000))),
            Some((100000, 200000))
        );
        // root not mapped first: found wherever it is
        let u = json!([{"containerID": 1, "hostID": 5, "size": 10}, {"containerID": 0, "hostID": 7, "size": 1}]);
        assert_eq!(mapped_root(&spec(user.clone(), u, map(9))), Some((7, 9)));
        // identity (root is host root), joined, absent, unmapped: nothing to do
        assert_eq!(mapped_root(&spec(user.clone(), map(0), map(0))), None);
        // joining: the joined process's maps (pid 1's: the identity map, host root)
        let joined = json!([{"type": "user", "path": "/proc/1/ns/user"}]);
        assert_eq!(mapped_root(&spec(joined, map(100000), map(100000))), None);
        let pinned = json!([{"type": "user", "path": "/run/userns/x"}]);
        assert_eq!(mapped_root(&spec(pinned, map(100000), map(100000))), None);
        assert_eq!(
            root_in_map("         0     165536      65536\n"),
            Some(165536)
        );
        assert_eq!(root_in_map("1 5 10\n0 7 1\n"), Some(7));
        assert_eq!(root_in_map("1 5 10\n"), None);
        assert_eq!(
            mapped_root(&spec(json!([{"type": "pid"}]), map(100000), map(100000))),
            None
        );
        assert_eq!(mapped_root(&spec(user, json!([]), map(1))), None);
        assert_eq!(mapped_root(&json!({})), None);
    }

    #[test]
    fn sysfs_is_bound_where_the_network_namespace_is_not_the_containers() {
        let spec = |ns: Value| {
            json!({"linux": {"namespaces": ns}, "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "ro"]}]})
        };
        let me = |k: &str| format!("/proc/{}/ns/{k}", std::process::id());
        for (ns, want) in [
            // no user namespace: the runtime mounts sysfs
            (
                json!([{"type": "network", "path": "/proc/1/ns/net"}]),
                false,
            ),
            // a new user namespace and a new network namespace (made inside it)
            (json!([{"type": "user"}, {"type": "network"}]), false),
            // a new user namespace in the host's network namespace, or joining one by path
            (json!([{"type": "user"}]), true),
            (
                json!([{"type": "user"}, {"type": "network", "path": me("net")}]),
                true,
            ),
            // joining a user namespace and a network namespace it owns (this test's own)
            (
                json!([{"type": "user", "path": me("user")}, {"type": "network", "path": me("net")}]),
                false,
            ),
            // joining a user namespace whose network namespace another one owns
            (
                json!([{"type": "user", "path": "/nonexistent"}, {"type": "network", "path": me("net")}]),
                true,
            ),
        ] {
            assert_eq!(sysfs_needs_bind(&spec(ns.clone())), want, "{ns}");
        }
        let mut s = spec(json!([{"type": "user"}]));
        assert!(bind_sysfs(&mut s));
        assert_eq!(s["mounts"][1]["type"], "bind");
        assert_eq!(s["mounts"][1]["source"], "/sys");
        assert_eq!(s["mounts"][1]["options"][0], "rbind");
        assert_eq!(s["mounts"][0]["type"], "proc");
        assert!(!bind_sysfs(&mut s));
    }

    #[test]
    fn mountpoints_in_the_image_only() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("hosts");
        fs::write(&file, "").unwrap();
        let spec = json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"},
            {"destination": "/etc/hosts", "type": "bind", "source": file, "options": ["rbind"]},
            {"destination": "/data", "source": d.path(), "options": ["bind"]},
            {"destination": "/data/sub", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/var/tmp/", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/var/./x/../tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/run/x", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs"}
        ]});
        let got: Vec<(String, bool)> = mountpoints(&spec)
            .into_iter()
            .map(|(p, d)| (p.display().to_string(), d))
            .collect();
        let want: Vec<(String, bool)> = [
            ("/proc", true),
            ("/dev", true),
            ("/etc/hosts", false),
            ("/data", true),
            ("/var/tmp", true),
            // an earlier mount covers it only if it comes first
            ("/run/x", true),
            ("/run", true),
        ]
        .iter()
        .map(|(p, d)| (p.to_string(), *d))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn mountpoints_are_created_inside_the_rootfs_only() {
        let d = tempfile::tempdir().unwrap();
        let rootfs = d.path().join("rootfs");
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        let host_file = d.path().join("hostsfile");
        fs::write(&host_file, "").unwrap();
        let spec = json!({"mounts": [
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/var/tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/etc/hosts", "type": "bind", "source": host_file, "options": ["rbind"]},
            {"destination": "/etc", "type": "tmpfs", "source": "tmpfs"}
        ]});
        let created = create_mountpoints(&rootfs, &spec).unwrap();
        assert_eq!(
            created,
            [
                PathBuf::from("/tmp"),
                PathBuf::from("/var/tmp"),
                PathBuf::from("/etc/hosts")
            ]
        );
        for dir in ["tmp", "var", "var/tmp"] {
            let md = fs::metadata(rootfs.join(dir)).unwrap();
            assert!(md.is_dir(), "{dir}");
            assert_eq!(md.mode() & 0o777, 0o755, "{dir}");
        }
        let md = fs::symlink_metadata(rootfs.join("etc/hosts")).unwrap();
        assert!(md.is_file());
        assert_eq!(md.mode() & 0o777, 0o644);
        // a second time: nothing left to create
        assert!(create_mountpoints(&rootfs, &spec).unwrap().is_empty());

        // symlinks in the image are resolved inside it: `..` stops at its root
        let rootfs = d.path().join("rootfs2");
        let outside = d.path().join("outside");
        fs::create_dir_all(&rootfs).unwrap();
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink("../../../../..", rootfs.join("up")).unwrap();
        std::os::unix::fs::symlink("../outside", rootfs.join("var")).unwrap();
        let spec = json!({"mounts": [
            {"destination": "/up/run", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/var/tmp", "type": "tmpfs", "source": "tmpfs"}
        ]});
        // /up is the rootfs itself: /up/run is <rootfs>/run; /var names <rootfs>/outside, which
        // does not exist (a dangling symlink): made there, as runc makes it, never
        // <dir>/outside/tmp
        let created = create_mountpoints(&rootfs, &spec).unwrap();
        assert_eq!(
            created,
            [PathBuf::from("/run"), PathBuf::from("/outside/tmp")]
        );
        assert!(rootfs.join("run").is_dir());
        assert!(rootfs.join("outside/tmp").is_dir());
        assert!(
            fs::read_dir(&outside).unwrap().next().is_none(),
            "escaped the rootfs"
        );
    }

    #[test]
    fn unreachable_names_the_rootfs_and_sources_below_closed_directories() {
        let d = tempfile::tempdir().unwrap();
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let open = d.path().join("open");
        let closed = d.path().join("closed");
        for p in [&open, &closed] {
            fs::create_dir_all(p.join("rootfs")).unwrap();
            fs::write(p.join("hosts"), "").unwrap();
        }
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o710)).unwrap();
        let spec = |dir: &Path| {
            json!({"mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/etc/hosts", "type": "bind", "source": dir.join("hosts"), "options": ["rbind"]},
                {"destination": "/x", "source": dir, "options": ["bind"]}
            ]})
        };
        let (u, g) = (123_456, 123_456);
        assert!(unreachable(&spec(&open), &open.join("rootfs"), u, g).is_empty());
        assert_eq!(
            unreachable(&spec(&closed), &closed.join("rootfs"), u, g),
            [
                (None, closed.join("rootfs")),
                (Some(1), closed.join("hosts"))
            ]
        );
        // the group of a 0710 directory may search it
        let gid = fs::metadata(&closed).unwrap().gid();
        assert!(unreachable(&spec(&closed), &closed.join("rootfs"), u, gid).is_empty());

        // the rootfs itself must be searchable: no binding changes that
        assert!(check_rootfs_searchable(&open.join("rootfs"), u, g).is_ok());
        fs::set_permissions(open.join("rootfs"), fs::Permissions::from_mode(0o700)).unwrap();
        let e = check_rootfs_searchable(&open.join("rootfs"), u, g)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "rootfs {} (mode 0700",
                open.join("rootfs").display()
            )),
            "{e}"
        );
    }
}
