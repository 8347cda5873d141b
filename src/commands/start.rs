//! `start`: run the user process of a created container.

use anyhow::Result;

use crate::cli::GlobalOpts;
use crate::runtime::delegate;

pub fn run(global: &GlobalOpts, args: &liboci_cli::Start) -> Result<i32> {
    let (_, mut container) = super::load(global, &args.container_id)?;
    delegate::start(&mut container)?;
    Ok(0)
}
