//! `run`: create and start a container; in the foreground, forward signals, wait for it, delete
//! it and exit with its exit code (128+n when killed by signal n).

use anyhow::{anyhow, bail, Result};

use super::create::{create_container, create_with_terminal};
use crate::cli::GlobalOpts;
use crate::runtime::delegate::{self, CreateRequest};
use crate::runtime::foreground::Foreground;

pub fn run(global: &GlobalOpts, args: &liboci_cli::Run) -> Result<i32> {
    if !args.detach && args.console_socket.is_some() {
        // runc's rule: the caller's socket is for a detached terminal only
        bail!("cannot use console socket if hardrun will not detach or allocate tty");
    }
    let create = CreateRequest {
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
        crate::runtime::timing::stage("start");
        return Ok(0);
    }

    // Handlers go in before the container exists, so its exit can never be missed.
    let fg = Foreground::install().map_err(|e| anyhow!(e))?;
    // a terminal in the foreground: hardrun takes the pty and relays it (see console), when the
    // spec create loaded asks for one
    let (mut container, own_console) = create_with_terminal(global, &create, true)?;
    start_or_clean(global, &mut container)?;
    crate::runtime::timing::stage("start");
    let pid = container.pid().ok_or_else(|| {
        anyhow!(
            "container {:?} has no init pid after start",
            args.container_id
        )
    })?;
    let relay = match &own_console {
        Some(c) => match c.receive() {
            Ok(master) => Some(crate::runtime::console::Relay::start(master)),
            Err(e) => {
                let _ = super::delete::delete_container(global, &mut container, true);
                bail!("run {:?}: {e}", args.container_id);
            }
        },
        None => None,
    };
    // the record the delete at the end needs, read while the container runs (issue 20: 0.3 ms
    // after its exit otherwise); nothing but create writes it
    let record = (!args.keep)
        .then(|| crate::runtime::state_dir::read_record(container.dir()))
        .flatten();
    let code = fg.wait_with(pid, relay.as_ref()).map_err(|e| anyhow!(e));
    if let Some(r) = relay {
        r.finish();
    }
    let code = code?;
    crate::runtime::timing::stage("wait");
    if !args.keep {
        container.refresh_status().ok();
        super::delete::delete_with_record(global, &mut container, true, record)?;
        crate::runtime::timing::stage("delete");
    }
    Ok(code)
}

fn start_or_clean(global: &GlobalOpts, container: &mut delegate::Container) -> Result<()> {
    if let Err(e) = delegate::start(container) {
        let _ = super::delete::delete_container(global, container, true);
        return Err(e.into());
    }
    Ok(())
}
