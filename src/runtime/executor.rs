//! How the container's process is started once libcontainer has set everything up: runc's rules.
//!
//! libcontainer's default executor insists on a `PATH` variable even when `args[0]` is an
//! absolute path, so `ctr run --rootfs DIR ID /bin/sh` (ctr sets no PATH) fails under it. runc
//! instead resolves `args[0]` like `exec.LookPath` after the container's environment is in place:
//! a name with a `/` is used as it is, a bare name is searched in the container's `PATH` (absent
//! PATH: not found). The resolved path is then `execve`d, so the container's process runs exactly
//! what was validated.
//!
//! The environment goes to `execve` in one piece, as runc hands it over: libcontainer's default
//! sets it with one `setenv` per variable, which is quadratic (100,000 variables took 16 s).
//! Like runc, a variable set twice keeps its last value, in the place of its first.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};

/// The environment libcontainer resolved for the process (the spec's, plus `HOME`), kept from
/// `setup_envs` for `exec` (the container's init is a single-threaded child by then).
static ENVS: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// The process's environment for `execve`: the spec's variables in their order, each once with
/// its last value (`envs`), then what libcontainer added (`HOME`), sorted.
pub fn environment(spec_env: &[String], envs: &HashMap<String, String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(envs.len());
    for e in spec_env {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        if let Some(v) = envs.get(key) {
            if seen.insert(key) {
                out.push(format!("{key}={v}"));
            }
        }
    }
    let mut added: Vec<(&String, &String)> = envs
        .iter()
        .filter(|(k, _)| !seen.contains(k.as_str()))
        .collect();
    added.sort();
    out.extend(added.into_iter().map(|(k, v)| format!("{k}={v}")));
    out
}

#[derive(Clone, Default)]
pub struct RuncExecutor;

/// Why `args[0]` cannot be run.
#[derive(Debug, PartialEq, Eq)]
pub enum LookupError {
    NoArgs,
    NotFound { name: String, path: Option<String> },
    NotExecutable(PathBuf),
    Io(PathBuf, String),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NoArgs => write!(f, "process.args is empty: nothing to run"),
            LookupError::NotFound { name, path: None } if name.contains('/') => {
                write!(f, "executable {name:?} does not exist in the container")
            }
            LookupError::NotFound { name, path: None } => {
                write!(
                    f,
                    "executable {name:?} not found: the process has no PATH variable"
                )
            }
            LookupError::NotFound {
                name,
                path: Some(p),
            } => {
                write!(
                    f,
                    "executable {name:?} not found in the container's PATH {p:?}"
                )
            }
            LookupError::NotExecutable(p) => {
                write!(f, "{} is not an executable file", p.display())
            }
            LookupError::Io(p, e) => write!(f, "cannot check {}: {e}", p.display()),
        }
    }
}

fn executable(p: &Path) -> Result<bool, LookupError> {
    match p.metadata() {
        Ok(m) => Ok(m.is_file() && m.permissions().mode() & 0o111 != 0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(LookupError::Io(p.to_owned(), e.to_string())),
    }
}

/// Resolves `name` the way runc (Go's `exec.LookPath`) does, against `path_var` (the container
/// process's `PATH`, if any), in the filesystem this process sees.
pub fn look_path(name: &str, path_var: Option<&str>) -> Result<PathBuf, LookupError> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return match p.metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LookupError::NotFound {
                name: name.to_owned(),
                path: None,
            }),
            Err(e) => Err(LookupError::Io(p, e.to_string())),
            Ok(_) if executable(&p)? => Ok(p),
            Ok(_) => Err(LookupError::NotExecutable(p)),
        };
    }
    if let Some(path_var) = path_var {
        for dir in path_var.split(':') {
            // an empty element means the current directory, as in Go and POSIX shells
            let dir = if dir.is_empty() { "." } else { dir };
            let candidate = Path::new(dir).join(name);
            if executable(&candidate)? {
                return Ok(candidate);
            }
        }
    }
    Err(LookupError::NotFound {
        name: name.to_owned(),
        path: path_var.map(str::to_owned),
    })
}

fn resolve(spec: &Spec) -> Result<(PathBuf, Vec<String>), LookupError> {
    let process = spec.process().as_ref().ok_or(LookupError::NoArgs)?;
    let args = process.args().clone().unwrap_or_default();
    let first = args.first().ok_or(LookupError::NoArgs)?;
    let path_var = process.env().as_ref().and_then(|env| {
        env.iter()
            .rev() // the last PATH wins, as in the process's environment
            .find_map(|e| e.strip_prefix("PATH="))
    });
    Ok((look_path(first, path_var)?, args))
}

impl Executor for RuncExecutor {
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        resolve(spec)
            .map(|_| ())
            .map_err(|e| ExecutorValidationError::ArgValidationError(e.to_string()))
    }

    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        *ENVS
            .lock()
            .map_err(|_| ExecutorSetEnvsError::Other("environment lock poisoned".into()))? =
            Some(envs);
        Ok(())
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let (path, args) = resolve(spec).map_err(|e| ExecutorError::Other(e.to_string()))?;
        let to_c = |s: &str| {
            CString::new(s).map_err(|_| ExecutorError::Other(format!("{s:?} contains a NUL byte")))
        };
        let prog = to_c(&path.to_string_lossy())?;
        let argv = args
            .iter()
            .map(|a| to_c(a))
            .collect::<Result<Vec<_>, _>>()?;
        let envs = ENVS
            .lock()
            .map(|mut g| g.take())
            .unwrap_or_default()
            .unwrap_or_default();
        let spec_env = spec
            .process()
            .as_ref()
            .and_then(|p| p.env().clone())
            .unwrap_or_default();
        let envp = environment(&spec_env, &envs)
            .iter()
            .map(|e| to_c(e))
            .collect::<Result<Vec<_>, _>>()?;
        reset_signals();
        writable_dev_null_stdio();
        let err = nix::unistd::execve(&prog, &argv, &envp).unwrap_err();
        // as runc's init: the reason on the process's own stderr (where the caller of `run`
        // looks) and exit status 1; libcontainer would exit 255 and say nothing there
        let msg = exec_failure(&path, err);
        let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
        std::process::exit(1)
    }
}

/// runc's words for a failed `execve` (Go's `exec %s: %v`, errno text in lower case):
/// `exec /run.sh: no such file or directory`.
pub fn exec_failure(path: &Path, err: nix::errno::Errno) -> String {
    let desc = err.desc();
    let mut chars = desc.chars();
    let text = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect::<String>(),
        None => desc.to_owned(),
    };
    format!("exec {}: {text}\n", path.display())
}

/// libcontainer (0.7) points stdio that was `/dev/null` outside at the container's `/dev/null`,
/// but opens it read-only: a container started with `>/dev/null` (hyperfine, scripts, daemons)
/// gets EBADF on its first write. Each such descriptor is replaced by the container's `/dev/null`
/// opened read-write, as runc leaves it.
fn writable_dev_null_stdio() {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use nix::sys::stat::{fstat, major, minor, SFlag};
    let is_dev_null = |fd: i32| {
        fstat(fd).is_ok_and(|st| {
            SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR
                && major(st.st_rdev) == 1
                && minor(st.st_rdev) == 3
        })
    };
    for fd in 0..3 {
        let Ok(flags) = fcntl(fd, FcntlArg::F_GETFL) else {
            continue;
        };
        let mode = OFlag::from_bits_truncate(flags) & OFlag::O_ACCMODE;
        if mode == OFlag::O_RDWR || !is_dev_null(fd) {
            continue;
        }
        if let Ok(null) =
            nix::fcntl::open("/dev/null", OFlag::O_RDWR, nix::sys::stat::Mode::empty())
        {
            if null != fd {
                let _ = nix::unistd::dup2(null, fd);
                let _ = nix::unistd::close(null);
            }
        }
    }
}

/// The kernel's `struct sigaction` for `rt_sigaction(2)` (x86-64 and aarch64 layout).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Gives the container's process what runc's Go runtime gives it: no blocked signal, and every
/// signal at its default disposition except SIGHUP and SIGINT, which stay ignored when the caller
/// ignored them (`nohup`). Caught signals reset on `execve` by themselves; ignored ones would be
/// inherited — among them glibc's internal signals 32 and 33, which `posix_spawn` leaves ignored
/// in the processes it starts and which glibc's `sigaction` refuses to touch, hence the raw
/// system call. Runs in the single-threaded container process just before `execve`.
fn reset_signals() {
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    for sig in 1..=64 {
        if matches!(
            sig,
            libc::SIGKILL | libc::SIGSTOP | libc::SIGHUP | libc::SIGINT
        ) {
            continue;
        }
        let mut old = KernelSigaction {
            handler: 0,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        // SAFETY: rt_sigaction with a null new action only writes the current action into `old`,
        // a properly sized and aligned kernel sigaction; the size argument is the kernel's
        // sigset size (8 bytes).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                std::ptr::null::<KernelSigaction>(),
                &mut old as *mut KernelSigaction,
                8usize,
            )
        };
        if rc != 0 || old.handler != libc::SIG_IGN {
            continue;
        }
        let dfl = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        // SAFETY: installs SIG_DFL (no handler code runs, so no restorer is needed) from a valid
        // kernel sigaction; the old action is not requested.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failures_in_runcs_words() {
        use nix::errno::Errno;
        assert_eq!(
            exec_failure(Path::new("/run.sh"), Errno::ENOENT),
            "exec /run.sh: no such file or directory\n"
        );
        assert_eq!(
            exec_failure(Path::new("/x"), Errno::EACCES),
            "exec /x: permission denied\n"
        );
        assert_eq!(
            exec_failure(Path::new("/x"), Errno::ENOEXEC),
            "exec /x: exec format error\n"
        );
    }

    #[test]
    fn lookup_follows_runc() {
        let dir = std::env::temp_dir().join(format!("hardrun-exec-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.join("data");
        std::fs::write(&data, "x").unwrap();
        let d = dir.to_str().unwrap();
        let exe_s = exe.to_str().unwrap();
        let data_s = data.to_str().unwrap();
        let two = format!("/nonexistent:{d}");

        let cases: Vec<(&str, Option<&str>, Result<PathBuf, LookupError>)> = vec![
            // absolute path: no PATH needed (ctr run --rootfs)
            (exe_s, None, Ok(exe.clone())),
            ("tool", Some(d), Ok(exe.clone())),
            ("tool", Some(&two), Ok(exe.clone())),
            (
                "tool",
                None,
                Err(LookupError::NotFound {
                    name: "tool".into(),
                    path: None,
                }),
            ),
            (
                "tool",
                Some("/nonexistent"),
                Err(LookupError::NotFound {
                    name: "tool".into(),
                    path: Some("/nonexistent".into()),
                }),
            ),
            (
                "/nonexistent/tool",
                Some(d),
                Err(LookupError::NotFound {
                    name: "/nonexistent/tool".into(),
                    path: None,
                }),
            ),
            (data_s, None, Err(LookupError::NotExecutable(data.clone()))),
            // a non-executable match in PATH is skipped
            (
                "data",
                Some(d),
                Err(LookupError::NotFound {
                    name: "data".into(),
                    path: Some(d.into()),
                }),
            ),
            (d, None, Err(LookupError::NotExecutable(dir.clone()))),
        ];
        for (name, path, want) in cases {
            assert_eq!(look_path(name, path), want, "look_path({name:?}, {path:?})");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn messages_name_the_executable() {
        let e = LookupError::NotFound {
            name: "nosuch".into(),
            path: Some("/bin".into()),
        };
        assert_eq!(
            e.to_string(),
            "executable \"nosuch\" not found in the container's PATH \"/bin\""
        );
        let e = LookupError::NotFound {
            name: "/x/y".into(),
            path: None,
        };
        assert_eq!(
            e.to_string(),
            "executable \"/x/y\" does not exist in the container"
        );
    }

    #[test]
    fn environment_keeps_spec_order_last_values_and_additions() {
        let spec: Vec<String> = ["PATH=/bin", "A=1", "B=2", "A=3", "EMPTY=", "NOVALUE"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // what libcontainer hands setup_envs: last wins, HOME added, a bare name dropped
        let envs: HashMap<String, String> = [
            ("PATH", "/bin"),
            ("A", "3"),
            ("B", "2"),
            ("EMPTY", ""),
            ("HOME", "/root"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            environment(&spec, &envs),
            ["PATH=/bin", "A=3", "B=2", "EMPTY=", "HOME=/root"]
        );
    }
}
