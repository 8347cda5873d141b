//! One file per subcommand. Each takes the global options and its own arguments and returns the
//! process exit code; errors are lower-case and name the container, file or value that failed.

pub mod audit;
pub mod check;
pub mod config;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod profile;
pub mod profile_doc;
pub mod ps;
pub mod run;
pub mod setup;
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

/// The policy configuration (`--config`/`HARDRUN_CONFIG`, else /etc/hardrun/config.toml).
pub fn policy_config(global: &GlobalOpts) -> Result<crate::profile::config::Config> {
    let mut config = crate::profile::config::Config::load(global.config.as_deref())?;
    // `hardrun-ci` & co. (symlinks): the program name picks the default profile
    if let Some(argv0) = std::env::args_os().next() {
        let _ = config.apply_program_name(&argv0);
    }
    // custom seccomp profiles are read here, so the rules stay pure; one that cannot be read
    // refuses the containers of its profile (the rule names it), not the others
    for p in config.catalog.profiles.values() {
        if let Err(e) = crate::policy::rules::seccomp::preload(&p.seccomp.profile) {
            tracing::warn!("profile {}: {e}", p.name);
        }
    }
    Ok(config)
}

/// The engine's context for a container.
pub fn policy_context<'a>(
    global: &'a GlobalOpts,
    config: &'a crate::profile::config::Config,
    id: &'a str,
    bundle: &'a std::path::Path,
) -> crate::policy::Context<'a> {
    crate::policy::Context {
        id,
        bundle,
        config,
        profile: global.profile.as_deref(),
        mode: global.mode.as_deref().and_then(|m| m.parse().ok()),
        host: &crate::policy::host::RealHost,
        userns: None,
        sources: crate::bundle::Sources::none(),
    }
}

/// Runs a policy decision and records it (audit log + tracing) whichever way it goes.
pub fn decide(
    config: &crate::profile::config::Config,
    command: &str,
    id: &str,
    bundle: &std::path::Path,
    result: Result<crate::policy::Outcome, crate::policy::PolicyDenied>,
) -> Result<crate::policy::Outcome> {
    use crate::audit::{record, Decision};
    let log = config.audit_log.as_deref();
    match result {
        Ok(o) => {
            record(
                log,
                &config.audit_rotation,
                command,
                id,
                bundle,
                Decision::Allowed(&o),
            )?;
            Ok(o)
        }
        Err(d) => {
            record(
                log,
                &config.audit_rotation,
                command,
                id,
                bundle,
                Decision::Denied(&d),
            )?;
            Err(d.into())
        }
    }
}

/// Holds `exec` or `update` of a running container to the policy it was created under: the
/// container's hardened spec (its annotations pick the grants) and its recorded profile, unless
/// `--profile` names another. The decision is recorded like any other.
pub fn decide_running(
    global: &GlobalOpts,
    dir: &std::path::Path,
    id: &str,
    command: &str,
    harden: crate::policy::HardenFn,
    input: &serde_json::Value,
) -> Result<crate::policy::Outcome> {
    let config = policy_config(global)?;
    let path = dir.join("bundle").join("config.json");
    let bytes =
        std::fs::read(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let spec: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: invalid JSON: {e}", path.display()))?;
    let created_under = crate::state_dir::read_record(dir).and_then(|r| r.profile);
    let bundle_dir = dir.join("bundle");
    let mut ctx = policy_context(global, &config, id, &bundle_dir);
    if ctx.profile.is_none() {
        ctx.profile = created_under.as_deref();
    }
    decide(
        &config,
        command,
        id,
        &bundle_dir,
        harden(input, &spec, &ctx),
    )
}

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
