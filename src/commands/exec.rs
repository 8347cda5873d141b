//! `exec`: start a process inside a running container.
//!
//! Both forms (`--process FILE` and command-line arguments) become one process JSON, which goes
//! through the hardening seam before libcontainer sees it. The arguments form starts from the
//! container's (hardened) `process`, as runc does, and applies the flags on top.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

use crate::cli::{Exec, GlobalOpts};
use crate::runtime::delegate;
use crate::runtime::foreground::Foreground;
use crate::{bundle, policy};

pub fn run(global: &GlobalOpts, args: &Exec) -> Result<i32> {
    // The process joins every namespace of the container, its user namespace first, and gets its
    // seccomp filter (the patched libcontainer, third_party/libcontainer/HARDRUN-PATCHES.md).
    let (dir, container) = super::load(global, &args.container_id)?;
    // an isolated container takes no new process (`hardrun release` lifts it)
    if let Some(line) = crate::runtime::isolate::refusal(&dir, &args.container_id, "exec") {
        // no policy decision is made: the attempt is recorded as a failed step
        super::lifecycle::refused_before_deciding();
        bail!(line);
    }
    // the container's stored spec, read once: the process's defaults and the policy's input
    let (stored_path, stored) = bundle::load_staged(&dir)?;
    let mut process = match &args.process {
        Some(path) => {
            let (raw, _, ignored) = bundle::load_process(path)?;
            super::warn_ignored_caps(&ignored);
            raw
        }
        None => {
            if args.command.is_empty() {
                bail!(
                    "exec {:?}: no command given (pass arguments or --process FILE)",
                    args.container_id
                );
            }
            process_from_args(&stored_path, &stored, args)?
        }
    };
    // `--cap NAME`: an unknown name is ignored with runc's warning
    if args.process.is_none() && !args.cap.is_empty() {
        let ignored = bundle::drop_unknown_capabilities(&mut process);
        super::warn_ignored_caps(&ignored);
    }
    let decision = super::decide_running(
        global,
        &dir,
        &args.container_id,
        "exec",
        policy::harden_exec,
        &process,
        &stored,
    )?;
    let outcome = &decision.outcome;
    // libcontainer validates what it reads; a process it cannot parse is named here first.
    if let Err(e) = delegate::check_process(&outcome.value) {
        bail!("exec {:?}: invalid process: {e}", args.container_id);
    }
    // specconv, as at create: libcontainer gets the process in its dialect
    let mut process = outcome.value.clone();
    crate::runtime::specconv::process(&mut process);
    // preflight, as at create: what the kernel would refuse at the process's execve, or at
    // setrlimit before it, is named here, not left to a bare exit status or an `EPERM`
    use crate::base::Host as _;
    use crate::runtime::preflight;
    preflight::check_arg_list("process", &process, preflight::stack_limit_of(&process))?;
    preflight::preflight(
        &json!({ "process": &process }),
        &crate::base::RealHost.limits(),
    )
    .map_err(|e| anyhow!("exec {:?}: {e}", args.container_id))?;
    // libcontainer only warns when it cannot write the pid file; runc fails the exec
    if let Some(pid_file) = &args.pid_file {
        check_pid_file_dir(pid_file)?;
    }
    if !args.detach && args.console_socket.is_some() {
        // runc's rule: the caller's socket is for a detached terminal only
        bail!("cannot use console socket if hardrun will not detach or allocate tty");
    }
    // everything that can refuse the exec before libcontainer has passed
    decision.record_allowed()?;
    // what older versions (or execs killed mid-way) left in the state directory
    sweep_leftovers(&dir);
    let process_file = ProcessFile::write(&process)?;

    let fg = if args.detach {
        None
    } else {
        Some(Foreground::install().map_err(|e| anyhow!(e))?)
    };
    // a terminal in the foreground without a socket to hand it to: hardrun takes the pty and
    // relays it (see console)
    let own_console = if !args.detach
        && args.console_socket.is_none()
        && process.get("terminal") == Some(&Value::Bool(true))
    {
        Some(crate::runtime::console::ConsoleSocket::new().map_err(|e| anyhow!(e))?)
    } else {
        None
    };
    let console_socket = match &own_console {
        Some(c) => Some(c.path()),
        None => args.console_socket.as_deref(),
    };
    let pid = delegate::exec(delegate::ExecRequest {
        id: &args.container_id,
        root: container.dir().parent().unwrap_or(Path::new(&global.root)),
        process: &process_file.path,
        pid_file: args.pid_file.as_deref(),
        console_socket,
        preserve_fds: args.preserve_fds,
        detach: args.detach,
        ignore_paused: args.ignore_paused,
        sub_cgroup: args.cgroup.clone(),
        seccomp: exec_seccomp(&stored),
        spec: &stored,
    })?;
    drop(process_file);
    if let Some(pid_file) = &args.pid_file {
        // read back only a regular file: a FIFO (a caller waiting for the pid) would block
        let regular = std::fs::metadata(pid_file).is_ok_and(|m| m.is_file());
        let written = if regular {
            std::fs::read_to_string(pid_file).ok()
        } else {
            std::fs::metadata(pid_file)
                .ok()
                .map(|_| pid.as_raw().to_string())
        };
        if written.as_deref().map(str::trim) != Some(pid.as_raw().to_string().as_str()) {
            // as runc: the process does not outlive a failed exec
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            bail!(
                "exec {:?}: cannot write pid file {}",
                args.container_id,
                pid_file.display()
            );
        }
    }
    let relay = match &own_console {
        Some(c) => match c.receive() {
            Ok(master) => Some(crate::runtime::console::Relay::start(master)),
            Err(e) => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                bail!("exec {:?}: {e}", args.container_id);
            }
        },
        None => None,
    };
    match fg {
        None => Ok(0),
        Some(fg) => {
            let code = fg.wait_with(pid, relay.as_ref()).map_err(|e| anyhow!(e));
            if let Some(r) = relay {
                r.finish();
            }
            code
        }
    }
}

/// The directory a pid file goes to must exist (runc fails the exec there, having written
/// nothing); checked before the process starts.
fn check_pid_file_dir(pid_file: &Path) -> Result<()> {
    let parent = match pid_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!(
            "cannot write pid file {}: {} is not a directory",
            pid_file.display(),
            parent.display()
        ),
        Err(e) => bail!(
            "cannot write pid file {}: {}: {e}",
            pid_file.display(),
            parent.display()
        ),
    }
}

/// The exec'd process's filter where it is not the container's: a container whose tripwires were
/// armed while a monitor listened gets them disarmed (the same syscalls refused with the same
/// errnos) when no monitor listens now, since its filter could not start without a listener.
fn exec_seccomp(stored: &Value) -> Option<Value> {
    let seccomp = stored.pointer("/linux/seccomp")?;
    crate::policy::rules::seccomp::TripwireMeta::of(seccomp)?;
    let socket = seccomp.get("listenerPath")?.as_str()?;
    if crate::runtime::tripwire::listening(Path::new(socket)) {
        return None;
    }
    tracing::debug!(
        "no monitor listens on {socket}: the exec'd process's tripwires are plain refusals"
    );
    crate::policy::rules::seccomp::disarm_tripwires(seccomp)
}

/// runc's exec without `--process`: the container's process with the flags applied.
fn process_from_args(config: &Path, spec: &Value, args: &Exec) -> Result<Value> {
    let mut p = spec.get("process").cloned().unwrap_or_else(|| json!({}));
    let Some(obj) = p.as_object_mut() else {
        bail!("{}: field process: expected an object", config.display())
    };
    obj.insert("args".into(), json!(args.command));
    obj.insert("terminal".into(), json!(args.tty));
    obj.remove("consoleSize");
    if !args.env.is_empty() {
        let mut env: Vec<String> = obj
            .get("env")
            .and_then(|e| e.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for (k, v) in &args.env {
            let prefix = format!("{k}=");
            env.retain(|e| !e.starts_with(&prefix));
            env.push(format!("{k}={v}"));
        }
        obj.insert("env".into(), json!(env));
    }
    if let Some(cwd) = &args.cwd {
        obj.insert("cwd".into(), json!(cwd));
    }
    if let Some((uid, gid)) = args.user {
        let user = obj.entry("user").or_insert_with(|| json!({}));
        user["uid"] = json!(uid);
        user["gid"] = json!(gid.unwrap_or(0));
    }
    if !args.additional_gids.is_empty() {
        let user = obj
            .entry("user")
            .or_insert_with(|| json!({"uid": 0, "gid": 0}));
        user["additionalGids"] = json!(args.additional_gids);
    }
    if args.no_new_privs {
        obj.insert("noNewPrivileges".into(), json!(true));
    }
    if let Some(label) = &args.process_label {
        obj.insert("selinuxLabel".into(), json!(label));
    }
    if let Some(profile) = &args.apparmor {
        obj.insert("apparmorProfile".into(), json!(profile));
    }
    if !args.cap.is_empty() {
        let caps = obj.entry("capabilities").or_insert_with(|| json!({}));
        let has_inheritable = caps.get("inheritable").is_some();
        for cap in &args.cap {
            let name = normalize_cap(cap);
            let mut sets = vec!["bounding", "effective", "permitted"];
            if has_inheritable {
                sets.push("ambient");
            }
            for set in sets {
                let list = caps
                    .as_object_mut()
                    .unwrap()
                    .entry(set)
                    .or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    if !a.iter().any(|v| v == &json!(name)) {
                        a.push(json!(name));
                    }
                }
            }
        }
    }
    Ok(p)
}

fn normalize_cap(cap: &str) -> String {
    let up = cap.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The process JSON handed to libcontainer: an anonymous file in memory (memfd), read through
/// `/proc/self/fd/N`. Nothing of it is ever on disk, so an exec killed at any point leaves no
/// file behind (issue 18: `exec-*.json` and `.exec-*.json.tmp*` piled up in the state
/// directory).
struct ProcessFile {
    _fd: std::os::fd::OwnedFd,
    path: PathBuf,
}

impl ProcessFile {
    fn write(process: &Value) -> Result<Self> {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let fd = nix::sys::memfd::memfd_create(
            c"hardrun-exec-process",
            nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
        )
        .map_err(|e| anyhow!("cannot make the process file in memory (memfd_create): {e}"))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(&serde_json::to_vec(process)?)
            .map_err(|e| anyhow!("cannot write the process file in memory: {e}"))?;
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        Ok(ProcessFile {
            _fd: file.into(),
            path,
        })
    }
}

/// How old a `tenant-tty-*.sock` link must be to be a leftover: an exec holds it only for the
/// moment it connects to the caller's console socket.
const TTY_LINK_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes from a container's state directory what an exec of an earlier hardrun version, or
/// one killed half-way, left there: `exec-<pid>-*.json` and `.exec-<pid>-*.json.tmp*` of a
/// process that is gone, `tenant-notify-*.sock` no process listens on, `tenant-tty-*.sock`
/// links older than [`TTY_LINK_AGE`]. Nothing of an exec still running is touched.
fn sweep_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut listening: Option<Option<std::collections::HashSet<String>>> = None;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let stale = if let Some(rest) = name
            .strip_prefix("exec-")
            .or_else(|| name.strip_prefix(".exec-"))
        {
            // the writer's pid comes first: exec-<pid>-<nanos>.json
            rest.split('-')
                .next()
                .and_then(|p| p.parse::<i32>().ok())
                .is_some_and(|pid| pid > 0 && !Path::new(&format!("/proc/{pid}")).exists())
        } else if name.starts_with("tenant-notify-") && name.ends_with(".sock") {
            // unknown when /proc/net/unix cannot be read: then nothing is removed
            let live = listening.get_or_insert_with(bound_socket_names);
            live.as_ref().is_some_and(|l| !l.contains(&name))
        } else if name.starts_with("tenant-tty-") && name.ends_with(".sock") {
            std::fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > TTY_LINK_AGE)
        } else {
            false
        };
        if stale {
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::debug!(path = %path.display(), "removed an exec's leftover"),
                Err(e) => tracing::debug!(path = %path.display(), "cannot remove: {e}"),
            }
        }
    }
}

/// The file names of the unix sockets bound in this network namespace (`/proc/net/unix`; a
/// `tenant-notify` socket was bound by its bare name, from the state directory): one listed
/// there still has its listener. None when the table cannot be read.
fn bound_socket_names() -> Option<std::collections::HashSet<String>> {
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    Some(
        table
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(7))
            .filter_map(|p| Path::new(p).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect(),
    )
}
