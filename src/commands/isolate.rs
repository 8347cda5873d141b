//! `isolate <id> [--reason TEXT]` and `release <id>`: contain a container without destroying
//! it, and let it go again. The runtime side (freeze, nftables, the marker that refuses exec and
//! update) is `runtime::isolate`; each is recorded in the container's incident
//! (`incident::store`) and, as a lifecycle step, in the audit log (`lifecycle::recorded`).

use anyhow::{anyhow, Result};

use crate::cli::{GlobalOpts, IsolateArgs, ReleaseArgs};
use crate::incident::store::{self, Stage, Subject};
use crate::runtime::isolate;

pub fn isolate(global: &GlobalOpts, args: &IsolateArgs) -> Result<i32> {
    let id = &args.container_id;
    if args.reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err(anyhow!("isolate container {id:?}: --reason is empty"));
    }
    // the configuration first: a bad one stops the isolate before anything changed
    let config = crate::profile::config::Config::load(global.config.as_deref())?;
    let (dir, mut container) = super::load(global, id)?;
    let profile = crate::runtime::state_dir::read_record(&dir).and_then(|r| r.profile);
    let subject = Subject {
        container_id: id,
        profile: profile.as_deref(),
        reason: args.reason.as_deref(),
    };
    // the same code the monitor's automatic isolation runs (`incident::isolation`)
    let (isolation, incident) =
        crate::incident::isolation::isolate(&config.incidents_dir, &mut container, &subject, None)?;
    let text = isolation.describe();
    super::out(
        format!(
            "container {id:?} isolated: {text}; incident {}\n",
            incident.id
        )
        .as_bytes(),
    )?;
    Ok(0)
}

pub fn release(global: &GlobalOpts, args: &ReleaseArgs) -> Result<i32> {
    let id = &args.container_id;
    let config = crate::profile::config::Config::load(global.config.as_deref())?;
    let (_, mut container) = super::load(global, id)?;
    let isolation = isolate::release(&mut container)?;
    let mut done = vec![];
    if isolation.froze {
        done.push("thawed");
    }
    if matches!(isolation.network, isolate::Network::Cut { .. }) {
        done.push("network restored");
    }
    done.push("exec and update allowed again");
    let text = done.join(", ");
    let incident = store::append_if_open(&config.incidents_dir, id, Stage::Released, &text)
        .map_err(|e| {
            anyhow!("container {id:?} is released ({text}), but its incident was not updated: {e}")
        })?;
    let tail = match incident {
        Some(i) => format!(
            "; incident {} (still open: `hardrun incident close {} --note TEXT`)",
            i.id, i.id
        ),
        None => "; no open incident".to_owned(),
    };
    super::out(format!("container {id:?} released: {text}{tail}\n").as_bytes())?;
    Ok(0)
}
