//! The runtime's default locations, which the CIS score of a spec "as it will run" needs as much
//! as `create` does.

use std::path::Path;

/// `--root`'s default: the state directory of every container.
pub const DEFAULT_ROOT: &str = "/run/hardrun";

/// The cgroups path hardrun gives a container whose spec names none: `/hardrun/<id>` under the
/// default root, `/hardrun/<id>@<hash>` under any other, `<hash>` the first 12 hex digits of the
/// SHA-256 of the canonical root path. An id cannot contain `@`, so neither form can name the
/// other's cgroup. `root` is the canonical path (`Root::path`); every command that derives the
/// path goes through here.
pub fn default_cgroups_path(root: &Path, id: &str) -> String {
    if root == Path::new(DEFAULT_ROOT) {
        return format!("/hardrun/{id}");
    }
    use sha2::Digest;
    use std::os::unix::ffi::OsStrExt;
    let digest = sha2::Sha256::digest(root.as_os_str().as_bytes());
    let hash = super::hex::hex(&digest[..6]);
    format!("/hardrun/{id}@{hash}")
}

/// The unix socket where `hardrun monitor`, watching the state root `root`, takes the seccomp
/// notify descriptors of containers whose tripwires are armed (a dot name: never a container).
pub fn tripwire_socket(root: &Path) -> std::path::PathBuf {
    root.join(".tripwires.sock")
}
