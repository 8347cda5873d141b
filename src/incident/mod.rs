//! Incidents and what responds to them: the incident store (one JSON file per incident, a
//! timeline of stages from the first event to the close), and — beside it — evidence bundles and
//! forensics retention. This layer sits beside the monitor, above the runtime: the commands
//! (`isolate`, `release`, `incident`), the monitor and evidence collection append stages here.

pub mod evidence;
pub mod forensics;
pub mod isolation;
pub mod store;

pub use store::{append, Incident, Stage, StoreError};
