//! One file per subcommand. Each takes the global options and its own arguments and returns the
//! process exit code; errors are lower-case and name the container, file or value that failed.

pub mod audit;
pub mod check;
pub mod config;
pub mod create;
pub mod delete;
pub mod events;
pub mod evidence;
pub mod exec;
pub mod features;
pub mod forensics;
pub mod incident;
pub mod isolate;
pub mod kill;
pub mod lifecycle;
pub mod list;
pub mod monitor;
pub mod pause;
pub mod profile;
pub mod profile_doc;
pub mod ps;
pub mod run;
pub mod scan;
pub mod setup;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use crate::cli::GlobalOpts;
use crate::runtime::delegate::{self, Container};
use crate::runtime::state_dir::Root;

/// The policy configuration (`--config`/`HARDRUN_CONFIG`, else /etc/hardrun/config.toml).
pub fn policy_config(global: &GlobalOpts) -> Result<crate::profile::config::Config> {
    use std::sync::Mutex;
    // loaded once per process and configuration path: a foreground `run` needs it in create
    // and again in the delete at its end (0.5 ms each, the built-in profiles parsed; issue 20)
    static LOADED: Mutex<Option<(Option<std::path::PathBuf>, crate::profile::config::Config)>> =
        Mutex::new(None);
    let key = global.config.clone();
    if let Some((k, c)) = LOADED.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if *k == key {
            return Ok(c.clone());
        }
    }
    let mut config = crate::profile::config::Config::load(global.config.as_deref())?;
    // `hardrun-ci` & co. (symlinks): the program name picks the default profile
    if let Some(argv0) = std::env::args_os().next() {
        let _ = config.apply_program_name(&argv0);
    }
    // a custom seccomp profile is read when its profile is selected (`policy::select`), not
    // every profile's on every command
    *LOADED.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, config.clone()));
    Ok(config)
}

/// The engine's context for a container. Whether containerd's CRI vouches for the spec's
/// Kubernetes identity is told by the (canonical) bundle and state root paths.
pub fn policy_context<'a>(
    global: &'a GlobalOpts,
    config: &'a crate::profile::config::Config,
    id: &'a str,
    bundle: &'a std::path::Path,
) -> crate::policy::Context<'a> {
    let root = Root::new(&global.root);
    crate::policy::Context {
        id,
        bundle,
        config,
        profile: global.profile.as_deref(),
        mode: global.mode.as_deref().and_then(|m| m.parse().ok()),
        host: &crate::base::RealHost,
        userns: None,
        sources: crate::bundle::Sources::none(),
        tripwires: None,
        caller: crate::policy::exceptions::Caller::from_paths(bundle, &root.path, id),
        held: None,
        state_root: Some(&global.root),
    }
}

/// Runs a policy decision and records it (audit log + tracing) whichever way it goes.
pub fn decide(
    config: &crate::profile::config::Config,
    command: &str,
    id: &str,
    bundle: &std::path::Path,
    workload: Option<&crate::audit::Workload>,
    result: Result<crate::policy::Outcome, crate::policy::PolicyDenied>,
) -> Result<crate::policy::Outcome> {
    let outcome = judge(config, command, id, bundle, workload, result)?;
    let decided = crate::base::clock::since_start();
    record_allowed(config, command, id, bundle, workload, &outcome, decided)?;
    Ok(outcome)
}

/// A policy decision, of which only a denial is recorded now; an `allowed` is recorded by
/// [`record_allowed`] once the command has passed every stage that can still refuse it, and a
/// failure in between is recorded as `failed` with its reason (see [`lifecycle::recorded`]).
pub fn judge(
    config: &crate::profile::config::Config,
    command: &str,
    id: &str,
    bundle: &std::path::Path,
    workload: Option<&crate::audit::Workload>,
    result: Result<crate::policy::Outcome, crate::policy::PolicyDenied>,
) -> Result<crate::policy::Outcome> {
    use crate::audit::{record, Decision};
    match result {
        Ok(o) => {
            crate::audit::trace_findings(id, &o.findings);
            lifecycle::allowed_decided(command, bundle, &o);
            Ok(o)
        }
        Err(d) => {
            record(
                crate::audit::Sink::of(config).as_ref(),
                command,
                id,
                bundle,
                workload,
                Decision::Denied(&d),
            )?;
            Err(d.into())
        }
    }
}

/// Records the `allowed` decision [`judge`] made (and traced) in the audit log. A decision that
/// cannot be recorded is not carried out.
/// `decided`: when the decision was made, after the runtime's start.
pub fn record_allowed(
    config: &crate::profile::config::Config,
    command: &str,
    id: &str,
    bundle: &std::path::Path,
    workload: Option<&crate::audit::Workload>,
    outcome: &crate::policy::Outcome,
    decided: Option<std::time::Duration>,
) -> Result<()> {
    let written = crate::audit::append_decision(
        crate::audit::Sink::of(config).as_ref(),
        command,
        id,
        bundle,
        workload,
        crate::audit::Decision::Allowed(outcome),
        decided,
    );
    if written.is_err() {
        lifecycle::allowed_unrecorded();
    }
    Ok(written?)
}

/// Holds `exec` or `update` of a running container to the policy fixed at its create (the
/// profile content, mode and grants in its `hardrun.json`, see `policy::binding`): the caller's
/// `--profile`/`--mode` (or their environment variables) may only tighten it, and a
/// configuration's or program name's defaults do not apply at all. What was not applied, and
/// what was rewritten, is one line each on stderr; the decision is recorded like any other.
///
/// `spec` is the container's stored spec (`bundle::load_staged`, read once by the caller). Only
/// a refusal is recorded here: the caller records the allowed decision
/// ([`RunningDecision::record_allowed`]) once its own checks have passed.
pub fn decide_running(
    global: &GlobalOpts,
    dir: &std::path::Path,
    id: &str,
    command: &'static str,
    harden: crate::policy::HardenFn,
    input: &serde_json::Value,
    spec: &serde_json::Value,
) -> Result<RunningDecision> {
    let config = policy_config(global)?;
    let label = format!("{command} {id:?}");
    let stored = stored_policy(global, dir, id, &config, spec, &label)?;
    if let Err(e) = crate::policy::rules::seccomp::preload(&stored.profile.seccomp.profile) {
        tracing::warn!("profile {} (stored with {label}): {e}", stored.profile.name);
    }
    let (ask_profile, ask_mode) = caller_asks(global, &config)?;
    let bundle_dir = dir.join("bundle");
    let mut ctx = policy_context(global, &config, id, &bundle_dir);
    ctx.held = Some(crate::policy::binding::Held {
        profile: &stored.profile,
        mode: stored.mode,
        granted: &stored.granted,
        ask_profile,
        ask_mode,
    });
    // the workload the container's stored spec names (the caller's claims at create)
    let workload = crate::audit::Workload::from_spec(spec);
    let outcome = judge(
        &config,
        command,
        id,
        &bundle_dir,
        workload.as_ref(),
        harden(input, spec, &ctx),
    )?;
    for line in stored.note.iter().chain(&outcome.notices) {
        notice(global, line);
    }
    drop(ctx);
    Ok(RunningDecision {
        outcome,
        config,
        bundle: bundle_dir,
        command,
        id: id.to_owned(),
        workload,
    })
}

/// An allowed `exec` or `update`, not yet recorded: the command records it once everything that
/// can still refuse it (the process's validity, host limits, the pid file's directory, the
/// resources' form) has passed; a failure before that is recorded as `failed`.
pub struct RunningDecision {
    pub outcome: crate::policy::Outcome,
    config: crate::profile::config::Config,
    bundle: std::path::PathBuf,
    command: &'static str,
    id: String,
    workload: Option<crate::audit::Workload>,
}

impl RunningDecision {
    pub fn record_allowed(&self) -> Result<()> {
        record_allowed(
            &self.config,
            self.command,
            &self.id,
            &self.bundle,
            self.workload.as_ref(),
            &self.outcome,
            crate::base::clock::since_start(),
        )
    }
}

/// The policy a running container is held to, from its `hardrun.json`. A record that cannot be
/// read or does not hold together refuses the exec/update (fail closed); one from before
/// policies were stored falls back to its recorded profile (see `policy::binding::Stored::legacy`).
fn stored_policy(
    global: &GlobalOpts,
    dir: &std::path::Path,
    id: &str,
    config: &crate::profile::config::Config,
    spec: &serde_json::Value,
    label: &str,
) -> Result<crate::policy::binding::Stored> {
    use crate::policy::binding::Stored;
    use crate::profile::{config::Config, Catalog};
    let file = dir.join("hardrun.json");
    let record: Option<crate::runtime::state_dir::Record> = match std::fs::read(&file) {
        Ok(b) => Some(
            serde_json::from_slice(&b)
                .map_err(|e| anyhow::anyhow!("{}: invalid record: {e}", file.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => anyhow::bail!("cannot read {}: {e}", file.display()),
    };
    if let Some(bound) = record.as_ref().and_then(|r| r.policy.as_ref()) {
        return Stored::from_bound(bound, &file.display().to_string())
            .map_err(|e| anyhow::anyhow!(e));
    }
    // a record from before: the system's configuration, never a --config/HARDRUN_CONFIG of the
    // caller's, may name the profile without its sha256
    let system = if global.config.is_none() {
        None
    } else {
        Config::load(None).ok()
    };
    let system_catalog = system
        .as_ref()
        .map(|c| &c.catalog)
        .unwrap_or(&config.catalog);
    let builtin = Catalog::builtin();
    let mut fallback = vec![&builtin];
    if global.config.is_none() || system.is_some() {
        fallback.insert(0, system_catalog);
    }
    let caller = match (&record, dir.parent()) {
        (Some(r), Some(root)) => crate::policy::exceptions::Caller::from_paths(&r.bundle, root, id),
        _ => Default::default(),
    };
    Stored::legacy(
        record.as_ref().and_then(|r| r.profile.as_deref()),
        record.as_ref().and_then(|r| r.profile_sha256.as_deref()),
        &[&config.catalog, system_catalog, &builtin],
        &fallback,
        spec,
        caller,
        label,
    )
    .map_err(|e| anyhow::anyhow!(e))
}

/// What the caller of exec/update asks for, and where it came from: `--profile`/`--mode` or
/// their environment variables (explicit), else the configuration's defaults (which a program
/// name like `hardrun-ci` may have picked).
type Asks<'c> = (
    Option<crate::policy::binding::Asked<&'c crate::profile::Profile>>,
    Option<crate::policy::binding::Asked<crate::profile::config::Mode>>,
);

fn caller_asks<'c>(
    global: &GlobalOpts,
    config: &'c crate::profile::config::Config,
) -> Result<Asks<'c>> {
    use crate::policy::binding::Asked;
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // which of flag and variable set a value (for the message only)
    let source = |flag: &str, var: &str, value: &str| {
        let by_flag = args
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        if !by_flag && std::env::var(var).ok().as_deref() == Some(value) {
            var.to_owned()
        } else {
            flag.to_owned()
        }
    };
    let profile = match global.profile.as_deref() {
        Some(name) => Asked {
            value: config.catalog.get(name)?,
            from: source("--profile", "HARDRUN_PROFILE", name),
            explicit: true,
        },
        None => {
            let program = args
                .first()
                .map(|a| std::ffi::OsStr::new(a.as_str()))
                .filter(|a| {
                    crate::profile::config::profile_for_program(a)
                        == Some(config.default_profile.as_str())
                })
                .and_then(|a| std::path::Path::new(a).file_name())
                .map(|n| n.to_string_lossy().into_owned());
            Asked {
                value: config.profile(None)?,
                from: match program {
                    Some(p) => format!("the program name {p}"),
                    None => format!("default_profile in {}", config.path.display()),
                },
                explicit: false,
            }
        }
    };
    let mode = match global.mode.as_deref() {
        Some(m) => Asked {
            value: m.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            from: source("--mode", "HARDRUN_MODE", m),
            explicit: true,
        },
        None => Asked {
            value: config.mode,
            from: format!("mode in {}", config.path.display()),
            explicit: false,
        },
    };
    Ok((Some(profile), Some(mode)))
}

/// One line on the caller's stderr, as runc reports a fatal error: in the log (where containerd
/// and podman read it) and, when the log is a file, on stderr too. stdout stays clean.
pub(crate) fn notice(global: &GlobalOpts, line: &str) {
    tracing::warn!(target: "hardrun::policy", "{line}");
    if global
        .log
        .as_ref()
        .is_some_and(|p| !p.as_os_str().is_empty())
    {
        eprintln!("{line}");
    }
}

/// Loads an existing container by id from the state root.
pub fn load(global: &GlobalOpts, id: &str) -> Result<(PathBuf, Container)> {
    let root = Root::new(&global.root);
    let dir = root.existing(id)?;
    let container = delegate::load(&dir, id)?;
    Ok((dir, container))
}

/// Writes command output to stdout. A closed pipe (`hardrun list | head -1`) is not an error.
/// runc's warning for capabilities it does not know, word for word (a Go slice: `[A B]`).
pub fn warn_ignored_caps(names: &[String]) {
    if !names.is_empty() {
        tracing::warn!(
            "ignoring unknown or unavailable capabilities: [{}]",
            names.join(" ")
        );
    }
}

pub fn out(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow::anyhow!("cannot write to stdout: {e}")),
    }
}
