//! Waiting for a foreground process (`run` without `--detach`, `exec` without `--detach`).
//!
//! youki 0.7 blocks signals only after `start`, so a container that exits before that loses its
//! SIGCHLD and `run` hangs forever. Blocking signals earlier is not an option either: the signal
//! mask survives `execve`, and libcontainer does not reset it, so the container would start with
//! every signal blocked. hardrun instead installs handlers *before* the container is created; a
//! handler only writes the signal number to a self-pipe. The wait loop checks `waitpid(WNOHANG)`
//! first and sleeps in `poll` on the pipe, so an exit that happens at any moment either is seen by
//! `waitpid` or leaves a byte in the pipe. Caught handlers reset to the default on `execve`, so
//! the container's process starts with default dispositions.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Why a foreground process could not be waited for.
#[derive(Debug, thiserror::Error)]
pub enum ForegroundError {
    #[error("cannot create the signal pipe: {0}")]
    Pipe(Errno),
    #[error("cannot install a handler for {0}: {1}")]
    Handler(Signal, Errno),
    #[error("process {0} is not a child of hardrun: cannot wait for it")]
    NotAChild(Pid),
    #[error("waitpid {0}: {1}")]
    Wait(Pid, Errno),
    #[error("poll on the signal pipe: {0}")]
    Poll(Errno),
    #[error("read from the signal pipe: {0}")]
    Read(Errno),
}

static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// Signals forwarded to the container's process (runc forwards what it receives).
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGTERM,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe; errno is saved and restored around it so the
        // interrupted code does not see a changed errno. A full pipe just drops the byte: the wait
        // loop checks waitpid on every wake-up anyway.
        unsafe {
            let saved = *libc::__errno_location();
            libc::write(fd, &byte as *const u8 as *const libc::c_void, 1);
            *libc::__errno_location() = saved;
        }
    }
}

pub struct Foreground {
    read: OwnedFd,
    _write: OwnedFd,
}

impl Foreground {
    /// Installs the handlers. Call before the container (or exec process) is created.
    pub fn install() -> Result<Self, ForegroundError> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(ForegroundError::Pipe)?;
        PIPE_WRITE.store(write.as_raw_fd(), Ordering::SeqCst);
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for &sig in FORWARDED.iter().chain(std::iter::once(&Signal::SIGCHLD)) {
            // SAFETY: the handler only calls write(2) on a pipe (async-signal-safe) and touches an
            // atomic; it is installed process-wide before any thread is started by hardrun.
            unsafe { signal::sigaction(sig, &action) }
                .map_err(|e| ForegroundError::Handler(sig, e))?;
        }
        Ok(Foreground {
            read,
            _write: write,
        })
    }

    /// Waits for `pid` to end, forwarding signals to it; returns its exit code (128+n when it was
    /// killed by signal n).
    pub fn wait(&self, pid: Pid) -> Result<i32, ForegroundError> {
        self.wait_with(pid, None)
    }

    /// [`Foreground::wait`] for a process on a terminal hardrun relays: SIGWINCH resizes the
    /// terminal (the kernel then tells the process) instead of being forwarded, as under runc.
    pub fn wait_with(
        &self,
        pid: Pid,
        console: Option<&crate::runtime::console::Relay>,
    ) -> Result<i32, ForegroundError> {
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(Errno::ECHILD) => return Err(ForegroundError::NotAChild(pid)),
                Err(e) => return Err(ForegroundError::Wait(pid, e)),
            }
            let mut fds = [PollFd::new(self.read_fd(), PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(ForegroundError::Poll(e)),
            }
            let mut buf = [0u8; 64];
            loop {
                match nix::unistd::read(self.read.as_raw_fd(), &mut buf) {
                    Ok(0) | Err(Errno::EAGAIN) => break,
                    Ok(n) => {
                        for &b in &buf[..n] {
                            let Ok(sig) = Signal::try_from(b as i32) else {
                                continue;
                            };
                            if sig == Signal::SIGCHLD {
                                continue;
                            }
                            if let (Signal::SIGWINCH, Some(c)) = (sig, console) {
                                c.resize();
                                continue;
                            }
                            tracing::debug!(%sig, %pid, "forwarding signal");
                            match signal::kill(pid, sig) {
                                Ok(()) | Err(Errno::ESRCH) => {}
                                Err(e) => tracing::warn!(%sig, %pid, "cannot forward signal: {e}"),
                            }
                        }
                    }
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(ForegroundError::Read(e)),
                }
            }
        }
    }

    fn read_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.read.as_fd()
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        // the handlers stay installed; make them write nowhere before the pipe's fd is reused
        PIPE_WRITE.store(-1, Ordering::SeqCst);
    }
}
