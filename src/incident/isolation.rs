//! Isolation with its incident: what `hardrun isolate` and the monitor's automatic isolation
//! (`monitor::response`) both run. The runtime isolates (`runtime::isolate`: freeze, nftables,
//! the marker); the container's incident gets `isolated` — after the monitor's `first-event` and
//! `detected`, at the event's times, when the monitor is the one that responds.

use std::path::Path;

use crate::incident::store::{self, Detection, Incident, Stage, Subject};
use crate::runtime::delegate::Container;
use crate::runtime::isolate::{self, IsolateError, Isolation};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Isolate(#[from] IsolateError),
    /// the container is isolated, but the incident store could not record it
    #[error("container {id:?} is isolated ({text}), but its incident was not recorded: {source}")]
    Unrecorded {
        id: String,
        text: String,
        isolation: Box<Isolation>,
        source: store::StoreError,
    },
}

/// Isolates `container` (profile and reason from `subject`) and records it in its incident,
/// after `detection` where one is given. The detection is recorded first: a failed isolation
/// leaves an open incident that says what was detected and when.
pub fn isolate(
    incidents_dir: &Path,
    container: &mut Container,
    subject: &Subject,
    detection: Option<&Detection>,
) -> Result<(Isolation, Incident), Error> {
    if let Some(d) = detection {
        if let Err(e) = store::record_detection(incidents_dir, subject, d) {
            // the response still goes ahead: containing the container matters more
            tracing::error!(
                "container {:?}: the detection was not recorded in its incident: {e}",
                subject.container_id
            );
        }
    }
    let isolation = isolate::isolate(container, subject.reason)?;
    let text = isolation.describe();
    match store::record(incidents_dir, subject, Stage::Isolated, &text) {
        Ok(i) => Ok((isolation, i)),
        Err(source) => Err(Error::Unrecorded {
            id: subject.container_id.to_owned(),
            text,
            isolation: Box::new(isolation),
            source,
        }),
    }
}
