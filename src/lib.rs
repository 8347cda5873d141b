//! hardrun: an OCI container runtime that hardens every container it starts.
//!
//! The pipeline and the layers are in `docs/architecture.md`: `cli` → `commands` → `bundle` →
//! `policy` (rules, gate) → `audit` → `runtime` (state directory, youki's libcontainer).

pub mod audit;
pub mod base;
pub mod bundle;
pub mod cli;
pub mod commands;
pub mod compliance;
pub mod incident;
pub mod monitor;
pub mod observability;
pub mod policy;
pub mod profile;
pub mod report;
pub mod runtime;
pub mod scan;

/// `hardrun --version`, in runc's shape.
pub fn version_text() -> String {
    format!(
        "hardrun version {}\ncommit: {}\nspec: {}\nlibcontainer: 0.7\nlibseccomp: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("HARDRUN_COMMIT"),
        runtime::delegate::oci_version(),
        commands::features::libseccomp_version(),
    )
}
