//! hardrun: an OCI container runtime that hardens every container it starts.
//!
//! The pipeline (see `DESIGN.md`): `cli` → `commands` → `bundle::load` → `policy` (the hardening
//! seam) → `state_dir` (staged, hardened spec) → `delegate` (youki's libcontainer).

pub mod audit;
pub mod base;
pub mod bundle;
pub mod caller_fds;
pub mod cgroup_tree;
pub mod cli;
pub mod commands;
pub mod compliance;
pub mod console;
pub mod delegate;
pub mod executor;
pub mod fault;
pub mod foreground;
pub mod host_mounts;
pub mod live;
pub mod loopback;
pub mod monitor;
pub mod observability;
pub mod policy;
pub mod profile;
pub mod protect;
pub mod report;
pub mod state_dir;
pub mod userns;
pub mod userns_mounts;

/// `hardrun --version`, in runc's shape.
pub fn version_text() -> String {
    format!(
        "hardrun version {}\ncommit: {}\nspec: {}\nlibcontainer: 0.7\nlibseccomp: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("HARDRUN_COMMIT"),
        delegate::oci_version(),
        commands::features::libseccomp_version(),
    )
}
