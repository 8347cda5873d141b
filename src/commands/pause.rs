//! `pause` and `resume`: freeze and thaw every process of the container.

use anyhow::Result;

use crate::cli::GlobalOpts;
use crate::runtime::delegate;

pub fn pause(global: &GlobalOpts, args: &liboci_cli::Pause) -> Result<i32> {
    let (_, mut container) = super::load(global, &args.container_id)?;
    delegate::pause(&mut container)?;
    Ok(0)
}

pub fn resume(global: &GlobalOpts, args: &liboci_cli::Resume) -> Result<i32> {
    let (dir, mut container) = super::load(global, &args.container_id)?;
    // an isolated container is thawed by `hardrun release`, which also restores its network
    if let Some(line) = crate::runtime::isolate::refusal(&dir, &args.container_id, "resume") {
        anyhow::bail!(line);
    }
    delegate::resume(&mut container)?;
    Ok(0)
}
