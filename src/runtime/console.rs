//! `run -t` and `exec -t` in the foreground without `--console-socket`: hardrun allocates the
//! terminal itself and relays it, as runc does.
//!
//! libcontainer makes a pseudo-terminal for a process only when it is given a console socket;
//! without one the process inherited hardrun's own stdio, so `tty` in the container said "not a
//! tty" (hardrun's terminal is not in the container's devpts) and a pipe on stdout stayed a pipe.
//! runc instead hands its own console socket to the container, receives the pty master, puts
//! the caller's terminal in raw mode, copies the caller's stdin to the master and the master to
//! the caller's stdout, and resizes the pty on SIGWINCH. hardrun does the same here: a unix
//! socket of its own in a private temporary directory ([`ConsoleSocket`]), the master received
//! over it, and a [`Relay`] for the process's lifetime.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

/// Why the terminal could not be taken from the container's process.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    // the cause is in the message, so it is not also the error's source (`{e:#}` would name it
    // twice)
    #[error("cannot create {}: {err}", dir.display())]
    Create { dir: PathBuf, err: std::io::Error },
    #[error("cannot listen on {}: {err}", path.display())]
    Listen { path: PathBuf, err: std::io::Error },
    #[error("cannot receive the terminal from the container's process on {}: {why}", path.display())]
    Receive { path: PathBuf, why: String },
}

/// A listening unix socket for libcontainer's `--console-socket`, in a directory of its own.
pub struct ConsoleSocket {
    dir: PathBuf,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn new() -> Result<Self, ConsoleError> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("hardrun-console-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|err| ConsoleError::Create {
                dir: dir.clone(),
                err,
            })?;
        let path = dir.join("tty.sock");
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(ConsoleError::Listen { path, err: e });
            }
        };
        Ok(ConsoleSocket {
            dir,
            path,
            listener,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master the container's process sent (libcontainer connected while it built the
    /// process, which sends the master before it runs anything of the container's).
    pub fn receive(&self) -> Result<OwnedFd, ConsoleError> {
        let fail = |e: &dyn std::fmt::Display| ConsoleError::Receive {
            path: self.path.clone(),
            why: e.to_string(),
        };
        let (stream, _) = self.listener.accept().map_err(|e| fail(&e))?;
        // the process either sends the master or exits (closing its end): wait for either
        let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::from(30_000u16)) {
            Ok(0) => return Err(fail(&"nothing came within 30s")),
            Ok(_) => {}
            Err(e) => return Err(fail(&e)),
        }
        let mut buf = [0u8; 256];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| fail(&e))?;
        for cmsg in msg.cmsgs().map_err(|e| fail(&e))? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just installed this descriptor for us (SCM_RIGHTS);
                    // nothing else owns it
                    return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        Err(fail(&"the message carried no descriptor"))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The caller's terminal: the first of stdin, stdout and stderr that is one.
fn host_terminal() -> Option<BorrowedFd<'static>> {
    [0, 1, 2].into_iter().find_map(|fd| {
        // SAFETY: 0, 1 and 2 stay open for the life of the process (hardrun never closes them)
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        nix::unistd::isatty(fd).unwrap_or(false).then_some(b)
    })
}

/// Copies the window size of the caller's terminal (if it has one) to `master`.
fn copy_size(master: RawFd) {
    let Some(host) = host_terminal() else { return };
    let mut ws: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`, TIOCSWINSZ reads one; both fds are open
    unsafe {
        if libc::ioctl(host.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master, libc::TIOCSWINSZ, &ws);
        }
    }
}

fn write_all(fd: RawFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        // SAFETY: `fd` is open for the duration of the call (held by the relay)
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        match nix::unistd::write(b, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// The relay between the caller's stdio and the pty master, with the caller's terminal in raw
/// mode (restored at the end).
pub struct Relay {
    master: Arc<OwnedFd>,
    done: Arc<AtomicBool>,
    output: Option<std::thread::JoinHandle<()>>,
    saved: Option<Termios>,
}

impl Relay {
    pub fn start(master: OwnedFd) -> Relay {
        let master = Arc::new(master);
        copy_size(master.as_raw_fd());
        // SAFETY: stdin stays open for the life of the process
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        let saved = if nix::unistd::isatty(0).unwrap_or(false) {
            termios::tcgetattr(stdin).ok().inspect(|t| {
                let mut raw = t.clone();
                termios::cfmakeraw(&mut raw);
                let _ = termios::tcsetattr(stdin, SetArg::TCSANOW, &raw);
            })
        } else {
            None
        };
        let m = Arc::clone(&master);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match nix::unistd::read(0, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if !write_all(m.as_raw_fd(), &buf[..n]) {
                            break;
                        }
                    }
                    Err(Errno::EINTR) => {}
                    Err(_) => break,
                }
            }
        });
        let done = Arc::new(AtomicBool::new(false));
        let (m, d) = (Arc::clone(&master), Arc::clone(&done));
        let output = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let mut fds = [PollFd::new(m.as_fd(), PollFlags::POLLIN)];
                match nix::poll::poll(&mut fds, PollTimeout::from(100u8)) {
                    Ok(0) => {
                        // nothing pending: once the process has ended, what it wrote is out
                        if d.load(Ordering::SeqCst) {
                            break;
                        }
                        continue;
                    }
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(_) => break,
                }
                match nix::unistd::read(m.as_raw_fd(), &mut buf) {
                    // EIO: no process holds the terminal any more
                    Ok(0) | Err(Errno::EIO) => break,
                    Ok(n) => {
                        if !write_all(1, &buf[..n]) {
                            break;
                        }
                    }
                    Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                    Err(_) => break,
                }
            }
        });
        Relay {
            master,
            done,
            output: Some(output),
            saved,
        }
    }

    /// The caller's terminal changed size (SIGWINCH): so does the container's.
    pub fn resize(&self) {
        copy_size(self.master.as_raw_fd());
    }

    /// After the process ended: relays what it left on the terminal, restores the caller's.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.output.take() {
            let _ = t.join();
        }
        self.restore();
    }

    fn restore(&mut self) {
        if let Some(t) = self.saved.take() {
            // SAFETY: stdin stays open for the life of the process
            let stdin = unsafe { BorrowedFd::borrow_raw(0) };
            let _ = termios::tcsetattr(stdin, SetArg::TCSANOW, &t);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.restore();
    }
}
