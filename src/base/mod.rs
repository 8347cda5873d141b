//! The bottom layer: what every other layer may use and what imports nothing of theirs — JSON
//! pointer helpers over a raw spec, the [`Host`] trait (what rules may know about the host), the
//! known capability sets, the rule registry (codes, CIS controls, severities, actions) and the
//! runtime's default paths.
//!
//! Layers import downward only (see `docs/architecture.md`; `tests/architecture.rs` checks it):
//! commands → runtime glue → report → audit → policy → compliance → profile, bundle → base.

pub mod atomic_file;
pub mod caps;
pub mod clock;
pub mod hex;
pub mod host;
pub mod json;
pub mod keyfile;
pub mod paths;
pub mod rule;

#[cfg(test)]
pub use host::TestHost;
pub use host::{Host, HostLimits, Lsm, RealHost};
pub use json::{at, strings};
