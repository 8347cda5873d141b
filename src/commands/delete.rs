//! `delete [--force] <id>`: remove a stopped (or, with --force, any) container.
//!
//! `delete --force` also clears what a `create` killed half-way left (see `tests/faults.rs`): its
//! staging directory `<root>/.staging/<id>`, and a container directory that libcontainer made but
//! never wrote a state into. Neither is touched while the create that made them is still alive.
//! A container left "creating" (the create died inside libcontainer) may still have an orphaned
//! process of libcontainer's on its way into the cgroup: the delete waits for it. And a cgroup
//! whose killed processes have not left it yet (a busy host) is retried, not left behind.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use nix::sys::signal::Signal;

use crate::cli::GlobalOpts;
use crate::runtime::delegate::{self, Container};
use crate::runtime::state_dir::Root;

pub fn run(global: &GlobalOpts, args: &liboci_cli::Delete) -> Result<i32> {
    let root = Root::new(&global.root);
    let id = &args.container_id;
    let dir = match root.existing(id) {
        Ok(d) => d,
        Err(e) => {
            // runc: `delete --force` of a container that is already gone succeeds, so a second
            // shim's cleanup does not fail.
            if args.force && matches!(e, crate::runtime::state_dir::StateError::NotFound(_)) {
                let container_dir = root.container_dir(id);
                if !clear_interrupted_create(&root, id) {
                    return Ok(0); // a create of this id is running: it is not ours to undo
                }
                // libcontainer makes the directory before its state: a create killed in between
                // leaves an empty shell (no cgroup or process exists yet at that point)
                if container_dir.is_dir() && !container_dir.join("state.json").exists() {
                    if let Err(e) = std::fs::remove_dir_all(&container_dir) {
                        anyhow::bail!("cannot remove {}: {e}", container_dir.display());
                    }
                }
                crate::runtime::userns::release_owner(&container_dir);
                return Ok(0);
            }
            return Err(e.into());
        }
    };
    let mut container = match delegate::load(&dir, id) {
        Ok(c) => c,
        Err(e) if args.force && state_unreadable(&dir) => {
            tracing::debug!(error = %e, "state.json cut short: an interrupted create");
            clear_torn_state(&root, id, &dir)?;
            return Ok(0);
        }
        Err(e) => return Err(e.into()),
    };
    if !args.force {
        delete_container(global, &mut container, false)?;
        return Ok(0);
    }
    // libcontainer reads a "creating" state without a pid as stopped: look at the file itself
    let interrupted = was_creating(&dir);
    let mut result = if interrupted {
        // the create died inside libcontainer: its forked processes may be orphaned in (or on
        // their way into) the cgroup, which a stopped container's delete would not kill
        settle(&dir);
        kill_and_delete(global, &mut container)
    } else {
        delete_container(global, &mut container, true)
    };
    // libcontainer removes the cgroup right after its SIGKILL: on a busy host the processes
    // may not have left it yet (EBUSY). Kill what is in it again, give it time, try again.
    let mut attempt = 0;
    while let Err(e) = &result {
        attempt += 1;
        if attempt > RETRIES || !dir.join("state.json").exists() {
            break;
        }
        tracing::debug!(attempt, error = %e, "delete --force: trying again");
        std::thread::sleep(Duration::from_millis(50) * attempt);
        result = delegate::load(&dir, id).and_then(|mut c| kill_and_delete(global, &mut c));
    }
    result?;
    clear_interrupted_create(&root, id);
    Ok(0)
}

/// SIGKILLs every process in the container's cgroup, then deletes it.
fn kill_and_delete(
    global: &GlobalOpts,
    container: &mut Container,
) -> Result<(), delegate::DelegateError> {
    if let Err(e) = delegate::kill(container, Signal::SIGKILL, true) {
        tracing::debug!(error = %e, "nothing to kill");
    }
    // SIGKILLed processes leave the cgroup once they are reaped: give them a moment
    std::thread::sleep(Duration::from_millis(20));
    delete_container(global, container, true)
}

/// Whether `state.json` exists but is empty or not JSON: libcontainer writes it in place
/// (truncate, then write), so a create killed during a save leaves it cut short.
fn state_unreadable(container_dir: &Path) -> bool {
    std::fs::read(container_dir.join("state.json"))
        .is_ok_and(|b| serde_json::from_slice::<serde_json::Value>(&b).is_err())
}

/// `delete --force` of a container whose state was cut short: libcontainer cannot load it, so
/// the cgroup (from the spec hardrun staged or committed, else the default path) is killed and
/// removed here, then the directories. Nothing is touched while the create is still running.
fn clear_torn_state(root: &Root, id: &str, dir: &Path) -> Result<()> {
    let staging = root.path.join(".staging").join(id);
    if staging_owner_alive(&staging) {
        tracing::debug!(dir = %staging.display(), "a create of this id is running");
        return Ok(());
    }
    let cgroups_path = [staging.join("bundle"), dir.join("bundle")]
        .iter()
        .find_map(|b| {
            let spec: serde_json::Value =
                serde_json::from_slice(&std::fs::read(b.join("config.json")).ok()?).ok()?;
            spec.pointer("/linux/cgroupsPath")?
                .as_str()
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| super::create::default_cgroups_path(&root.path, id));
    // libcgroups' remove kills what is in the cgroup first; a busy host may need a retry. The
    // root or a systemd slice is never ours to remove.
    let rel = cgroups_path.trim_start_matches('/');
    if !rel.is_empty() && !cgroups_path.contains(':') {
        for attempt in 0..RETRIES {
            delegate::remove_cgroup(id, Path::new(&cgroups_path));
            if !crate::runtime::cgroup_tree::exists(&cgroups_path) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50) * (attempt + 1));
        }
    }
    std::fs::remove_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", dir.display()))?;
    clear_interrupted_create(root, id);
    crate::runtime::userns::release_owner(dir);
    Ok(())
}

/// Whether libcontainer's state says "creating": its create never finished.
fn was_creating(container_dir: &Path) -> bool {
    std::fs::read(container_dir.join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["status"] == "creating")
}

/// How often `delete --force` tries again (waiting 50 ms, 100 ms, … in between: 2.75 s in all).
const RETRIES: u32 = 10;

/// How long after libcontainer wrote a "creating" state its forked processes have surely joined
/// the container's cgroup (they do within milliseconds of the fork, which follows the state).
const SETTLE: Duration = Duration::from_millis(300);

/// A create killed inside libcontainer leaves a "creating" state and possibly libcontainer's
/// intermediate process, orphaned and still on its way into the cgroup: give it until
/// [`SETTLE`] after the state was written to get there, so the delete finds it.
fn settle(container_dir: &Path) {
    let age = std::fs::metadata(container_dir.join("state.json"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or(SETTLE);
    if age < SETTLE {
        std::thread::sleep(SETTLE - age);
    }
}

/// Removes `<root>/.staging/<id>` unless the create that owns it is still running. Returns false
/// when it is (then nothing of the container may be touched).
fn clear_interrupted_create(root: &Root, id: &str) -> bool {
    root.clear_stale_staging(id)
}

/// Whether the create that owns `<staging>` is running (the test `Root::stage` applies).
fn staging_owner_alive(staging: &Path) -> bool {
    crate::runtime::state_dir::staging_owner_alive(staging)
}

/// Deletes a container and releases what hardrun allocated for it on the host (its user
/// namespace range). `delete` and the end of a foreground `run` both go through here.
/// Deletes the container and reports what failed on the way without stopping it (a failing
/// poststop hook): a warning in the log and, when the log is a file, a line on stderr.
pub fn delete_container(
    global: &GlobalOpts,
    container: &mut Container,
    force: bool,
) -> Result<(), delegate::DelegateError> {
    let record = crate::runtime::state_dir::read_record(container.dir());
    delete_with_record(global, container, force, record)
}

/// [`delete_container`] with the container's record (`hardrun.json`) read already: a
/// foreground `run` reads it while the container runs (only `create` writes it).
pub fn delete_with_record(
    global: &GlobalOpts,
    container: &mut Container,
    force: bool,
    record: Option<crate::runtime::state_dir::Record>,
) -> Result<(), delegate::DelegateError> {
    let id = container.id().to_owned();
    // built in the caller's mount namespace: what libcontainer mounted there at the rootfs
    let left = record
        .as_ref()
        .and_then(|r| Some((r.rootfs.clone(), r.host_rootfs_mounts?)));
    // an isolated container's network namespace may outlive it (`ip netns add`): held across
    // the delete, its isolate table is removed once the delete went through
    let isolated = crate::runtime::isolate::hold_for_delete(container);
    crate::runtime::timing::stage("delete-record");
    // forensics: the specs and findings outlive the state directory (never fails the delete;
    // taken back when the delete itself fails)
    let kept = super::forensics::keep_on_delete(global, &id, container.dir(), record.as_ref());
    drop(record);
    crate::runtime::timing::stage("delete-forensics");
    let warnings = match delegate::delete(container, force) {
        Ok(w) => w,
        Err(e) => {
            if let Some(k) = kept {
                // the container stays: its evidence goes back where it was, the record goes
                if let Some(f) = k.parent() {
                    let _ = std::fs::rename(k.join("evidence"), f.join("evidence").join(&id));
                }
                let _ = std::fs::remove_dir_all(k);
            }
            return Err(e);
        }
    };
    crate::runtime::timing::stage("delete-libcontainer");
    if let Some(hold) = isolated {
        crate::runtime::isolate::finish_delete(&id, hold);
    }
    if let Some((rootfs, keep)) = left {
        crate::runtime::host_mounts::unmount_above(&rootfs, keep);
    }
    for warning in warnings {
        let line = format!("delete container {id:?}: {warning}");
        tracing::warn!("{line}");
        if global
            .log
            .as_ref()
            .is_some_and(|p| !p.as_os_str().is_empty())
        {
            eprintln!("{line}");
        }
    }
    crate::runtime::userns::release_owner(container.dir());
    Ok(())
}
