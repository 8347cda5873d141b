//! `run`: create and start a container; in the foreground, forward signals, wait for it, delete
//! it and exit with its exit code (128+n when killed by signal n).

use anyhow::{anyhow, Result};

use super::create::{create_container, CreateArgs};
use crate::cli::GlobalOpts;
use crate::delegate;
use crate::foreground::Foreground;

pub fn run(global: &GlobalOpts, args: &liboci_cli::Run) -> Result<i32> {
    let create = CreateArgs {
        id: &args.container_id,
        bundle: &args.bundle,
        pid_file: args.pid_file.as_deref(),
        console_socket: args.console_socket.as_deref(),
        preserve_fds: args.preserve_fds,
        no_pivot: args.no_pivot,
        detach: args.detach,
    };
    if args.detach {
        let mut container = create_container(global, &create)?;
        start_or_clean(global, &mut container)?;
        return Ok(0);
    }

    // Handlers go in before the container exists, so its exit can never be missed.
    let fg = Foreground::install().map_err(|e| anyhow!(e))?;
    let mut container = create_container(global, &create)?;
    start_or_clean(global, &mut container)?;
    let pid = container.pid().ok_or_else(|| {
        anyhow!(
            "container {:?} has no init pid after start",
            args.container_id
        )
    })?;
    let code = fg.wait(pid).map_err(|e| anyhow!(e))?;
    if !args.keep {
        container.refresh_status().ok();
        super::delete::delete_container(global, &mut container, true)?;
    }
    Ok(code)
}

fn start_or_clean(
    global: &GlobalOpts,
    container: &mut libcontainer::container::Container,
) -> Result<()> {
    if let Err(e) = delegate::start(container) {
        let _ = super::delete::delete_container(global, container, true);
        return Err(e.into());
    }
    Ok(())
}
