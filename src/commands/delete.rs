//! `delete [--force] <id>`: remove a stopped (or, with --force, any) container.

use anyhow::Result;

use crate::cli::GlobalOpts;
use crate::delegate;
use crate::state_dir::Root;

pub fn run(global: &GlobalOpts, args: &liboci_cli::Delete) -> Result<i32> {
    let root = Root::new(&global.root);
    let dir = match root.existing(&args.container_id) {
        Ok(d) => d,
        Err(e) => {
            // runc: `delete --force` of a container that is already gone succeeds, so a second
            // shim's cleanup does not fail.
            if args.force && matches!(e, crate::state_dir::StateError::NotFound(_)) {
                return Ok(0);
            }
            return Err(e.into());
        }
    };
    let mut container = delegate::load(&dir, &args.container_id)?;
    delegate::delete(&mut container, args.force)?;
    Ok(0)
}
