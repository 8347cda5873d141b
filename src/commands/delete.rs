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
                crate::userns::release_owner(&root.container_dir(&args.container_id));
                return Ok(0);
            }
            return Err(e.into());
        }
    };
    let mut container = delegate::load(&dir, &args.container_id)?;
    delete_container(&mut container, args.force)?;
    Ok(0)
}

/// Deletes a container and releases what hardrun allocated for it on the host (its user
/// namespace range). `delete` and the end of a foreground `run` both go through here.
pub fn delete_container(
    container: &mut libcontainer::container::Container,
    force: bool,
) -> Result<(), delegate::DelegateError> {
    delegate::delete(container, force)?;
    crate::userns::release_owner(&container.root);
    Ok(())
}
