//! One file per subcommand. Each takes the global options and its own arguments and returns the
//! process exit code; errors are lower-case and name the container, file or value that failed.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use libcontainer::container::Container;

use crate::cli::GlobalOpts;
use crate::delegate;
use crate::state_dir::Root;

/// Loads an existing container by id from the state root.
pub fn load(global: &GlobalOpts, id: &str) -> Result<(PathBuf, Container)> {
    let root = Root::new(&global.root);
    let dir = root.existing(id)?;
    let container = delegate::load(&dir, id)?;
    Ok((dir, container))
}

/// Writes command output to stdout. A closed pipe (`hardrun list | head -1`) is not an error.
pub fn out(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow::anyhow!("cannot write to stdout: {e}")),
    }
}
