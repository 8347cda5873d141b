//! The audit record of lifecycle steps: every command that changes a container (start, kill,
//! pause, resume, delete) is recorded once it ran, `done` or `failed`; create, run, exec and
//! update record their policy decision themselves (`allowed`/`denied`, see [`super::decide`]),
//! and here a `failed` record is written when the command failed after the policy allowed it:
//! after the `allowed` record (libcontainer failed), or instead of it (create failed in a stage
//! between the policy and libcontainer, see [`super::judge`]), so the log never shows a
//! container as allowed that never ran.

use std::sync::Mutex;

use anyhow::Result;

use crate::cli::{Command, GlobalOpts};

/// The `allowed` decision this process made (create, run, exec, update): the command it was
/// made under (`run -d` decides as `create`), the caller's bundle and (profile, its sha256,
/// mode). Create writes its `allowed` record only once every stage that can refuse before
/// libcontainer has passed; a failure before that is its only record.
struct Allowed {
    command: String,
    bundle: std::path::PathBuf,
    policy: (String, String, String),
    workload: Option<crate::audit::Workload>,
}
static ALLOWED: Mutex<Option<Allowed>> = Mutex::new(None);

/// Called by [`super::judge`] when the policy allows `command`: a failure from here on is
/// recorded as `failed` under it, whether or not the `allowed` record was written yet.
pub fn allowed_decided(command: &str, bundle: &std::path::Path, o: &crate::policy::Outcome) {
    if let Ok(mut a) = ALLOWED.lock() {
        *a = Some(Allowed {
            command: command.to_owned(),
            bundle: bundle.to_path_buf(),
            policy: (
                o.profile.clone(),
                o.profile_sha256.clone(),
                o.mode.to_string(),
            ),
            workload: crate::audit::Workload::from_spec(&o.value),
        });
    }
}

/// Called by [`super::record_allowed`] when the `allowed` record could not be written: the
/// command fails closed, and nothing more is recorded for it (the log cannot be written).
pub fn allowed_unrecorded() {
    if let Ok(mut a) = ALLOWED.lock() {
        *a = None;
    }
}

/// Set by exec and update when they refuse before any policy decision (an isolated container):
/// the refusal is then recorded here as a `failed` step, so the log shows the attempt.
static REFUSED_BEFORE_DECIDING: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Called by a deciding command (exec, update) that refuses before the policy runs.
pub fn refused_before_deciding() {
    REFUSED_BEFORE_DECIDING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The step a command is, and the container it changes; `None` for commands that change none.
fn step_of(command: &Command) -> Option<(&'static str, &str)> {
    Some(match command {
        Command::Start(a) => ("start", a.container_id.as_str()),
        Command::Kill(a) => ("kill", a.container_id.as_str()),
        Command::Pause(a) => ("pause", a.container_id.as_str()),
        Command::Resume(a) => ("resume", a.container_id.as_str()),
        Command::Delete(a) => ("delete", a.container_id.as_str()),
        Command::Create(a) => ("create", a.container_id.as_str()),
        Command::Run(a) => ("run", a.container_id.as_str()),
        Command::Exec(a) => ("exec", a.container_id.as_str()),
        Command::Update(a) => ("update", a.container_id.as_str()),
        Command::Isolate(a) => ("isolate", a.container_id.as_str()),
        Command::Release(a) => ("release", a.container_id.as_str()),
        _ => return None,
    })
}

/// Whether a command records its own policy decision (then only a failure after `allowed` is
/// recorded here).
fn decides(step: &str) -> bool {
    matches!(step, "create" | "run" | "exec" | "update")
}

/// Runs `f`, the command, and records the step it was in the audit log.
pub fn recorded(
    global: &GlobalOpts,
    command: &Command,
    f: impl FnOnce() -> Result<i32>,
) -> Result<i32> {
    let Some((step, id)) = step_of(command) else {
        return f();
    };
    let dir = global.root.join(id);
    let read = || {
        let record = crate::runtime::state_dir::read_record(&dir);
        let workload = record
            .as_ref()
            .and_then(|_| crate::audit::Workload::of_container(&dir));
        (record, workload)
    };
    // read before the step: delete removes the record. The deciding commands read nothing here
    // unless a failure is to be recorded: exec and update read the container's stored spec once
    // themselves, and create and run have no container before the step.
    let before = (!decides(step)).then(read);
    let result = f();
    let failed = match &result {
        Ok(_) => None,
        Err(e) => Some(format!("{e:#}")),
    };
    let allowed = ALLOWED.lock().ok().and_then(|mut a| a.take());
    let refused = REFUSED_BEFORE_DECIDING.load(std::sync::atomic::Ordering::Relaxed);
    if decides(step) && (failed.is_none() || (allowed.is_none() && !refused)) {
        // the decision is the record: allowed and done, or denied (or failed before deciding)
        return result;
    }
    let (record, mut workload) = match before {
        Some(b) => b,
        // exec and update leave the container's directory as it was
        None if matches!(step, "exec" | "update") => read(),
        None => (None, None),
    };
    if workload.is_none() {
        workload = allowed.as_ref().and_then(|a| a.workload.clone());
    }
    // the failure goes under the command its decision was made as; the caller's bundle from the
    // container's record, else from the decision (a create that failed has no record)
    let step = allowed
        .as_ref()
        .map_or(step.to_owned(), |a| a.command.clone());
    let bundle = record
        .as_ref()
        .map(|r| r.bundle.clone())
        .or_else(|| allowed.as_ref().map(|a| a.bundle.clone()))
        .unwrap_or_default();
    // the policy of the decision this process made, else the one fixed at create
    let (profile, sha, mode) = allowed.map(|a| a.policy).unwrap_or_else(|| {
        let r = record.as_ref();
        (
            r.and_then(|r| r.profile.clone()).unwrap_or_default(),
            r.and_then(|r| r.profile_sha256.clone()).unwrap_or_default(),
            r.and_then(|r| r.policy.as_ref())
                .map(|b| b.mode.to_string())
                .unwrap_or_default(),
        )
    });
    let entry = crate::audit::Step {
        command: &step,
        id,
        bundle: &bundle,
        workload: workload.as_ref(),
        profile: &profile,
        profile_sha256: &sha,
        mode: &mode,
        failed: failed.as_deref(),
    };
    // the step has happened (or failed) whatever the log says: a record that cannot be written
    // is an error in the log, not a second outcome for the caller
    match crate::profile::config::Config::load(global.config.as_deref()) {
        Ok(config) => {
            if let Err(e) =
                crate::audit::record_step(crate::audit::Sink::of(&config).as_ref(), &entry)
            {
                tracing::error!("{step} {id:?}: not recorded: {e}");
            }
        }
        Err(e) => tracing::error!("{step} {id:?}: not recorded: configuration: {e:#}"),
    }
    result
}
