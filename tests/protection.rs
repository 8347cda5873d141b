//! The runtime binary cannot be overwritten through a hardrun process that a container can see
//! (the CVE-2019-5736 class): the attacker's moves are replayed — hold `/proc/<pid>/exe` of a
//! runtime process with `O_PATH`, wait until the runtime exits, reopen the held file for writing.

mod common;

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::*;
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

/// A private copy of the binary, so that a failure of the protection cannot damage the binary
/// the other tests use.
fn binary_copy(w: &World) -> PathBuf {
    let dir = w.dir.join("bin");
    fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("hardrun");
    fs::copy(bin(), &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

fn open_owned(path: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
    open(path, flags | OFlag::O_CLOEXEC, Mode::empty()).map(|raw| {
        // SAFETY: `open` just returned this descriptor and nothing else owns it.
        unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) }
    })
}

fn hold_exe(pid: u32) -> OwnedFd {
    let path = format!("/proc/{pid}/exe");
    open_owned(&path, OFlag::O_PATH).unwrap_or_else(|e| panic!("open {path}: {e}"))
}

/// What the attacker tries once the runtime is gone: open the held binary for writing (no
/// O_TRUNC: the control case must not damage the copy either).
fn reopen_for_write(fd: &OwnedFd) -> Result<OwnedFd, Errno> {
    open_owned(
        &format!("/proc/self/fd/{}", fd.as_raw_fd()),
        OFlag::O_WRONLY,
    )
}

fn wait_exit(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "runtime process did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_for(path: &Path, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fs::read_to_string(path).unwrap_or_default().contains(want) {
        assert!(
            Instant::now() < deadline,
            "{want:?} never appeared in {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn command(w: &World, exe: &Path, args: &[&str], out: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(exe);
    c.arg("--root")
        .arg(&w.root)
        .arg("--log")
        .arg(w.log_path())
        .arg("--log-format=json");
    c.args(args);
    c.stdin(std::process::Stdio::null());
    w.env(&mut c);
    c.stdout(fs::File::create(out).unwrap());
    c.stderr(fs::File::create(out.with_extension("err")).unwrap());
    c
}

/// The detached read-only binding (Linux 5.12 and later).
#[test]
fn run_and_exec_processes_cannot_be_used_to_overwrite_the_binary() {
    overwrite_attempts(false);
}

/// The private mount namespace, which kernels without `mount_setattr` get (forced here with the
/// debug build's `HARDRUN_PROTECT_NAMESPACE=1`).
#[test]
fn run_and_exec_processes_cannot_be_used_to_overwrite_the_binary_via_a_private_namespace() {
    overwrite_attempts(true);
}

fn overwrite_attempts(namespace: bool) {
    let w = World::new(if namespace { "protect-ns" } else { "protect" });
    let exe = binary_copy(&w);
    let command = |w: &World, exe: &Path, args: &[&str], out: &Path| {
        let mut c = command(w, exe, args, out);
        if namespace {
            c.env(hardrun::runtime::protect::NAMESPACE_ENV, "1");
        } else {
            c.env_remove(hardrun::runtime::protect::NAMESPACE_ENV);
        }
        c
    };
    let original = fs::read(&exe).unwrap();
    let b = w.bundle("b", &["sh", "-c", "echo ready; exec sleep 1000"]);

    // foreground run: the process that created the container
    let out = w.dir.join("run.out");
    let mut run = command(
        &w,
        &exe,
        &["run", "--bundle", b.to_str().unwrap(), "p1"],
        &out,
    )
    .spawn()
    .unwrap();
    wait_for(&out, "ready");
    let held_run = hold_exe(run.id());
    // protected from a read-only binding (detached, or in a private mount namespace and then
    // back in the caller's): in the caller's mount namespace, where a container without a mount
    // namespace of its own must run
    assert_eq!(
        fs::read_link(format!("/proc/{}/ns/mnt", run.id())).unwrap(),
        fs::read_link("/proc/self/ns/mnt").unwrap(),
        "the runtime process is back in the caller's mount namespace"
    );

    // exec: the runtime process that joins the container's namespaces (visible inside it)
    let eout = w.dir.join("exec.out");
    let mut exec = command(
        &w,
        &exe,
        &["exec", "p1", "sh", "-c", "echo in; sleep 2"],
        &eout,
    )
    .spawn()
    .unwrap();
    wait_for(&eout, "in");
    let held_exec = hold_exe(exec.id());
    wait_exit(&mut exec);

    let o = w.hr(&["kill", "p1", "KILL"]);
    assert!(o.status.success(), "{}", stderr(&o));
    wait_exit(&mut run);

    for (what, fd) in [("run", &held_run), ("exec", &held_exec)] {
        assert_eq!(
            reopen_for_write(fd).err(),
            Some(Errno::EROFS),
            "{what}: the binary seen through /proc/<pid>/exe must be on a read-only mount"
        );
    }
    assert_eq!(fs::read(&exe).unwrap(), original);

    // the read-only binding never was in the host's mount table
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(exe.to_str().unwrap()),
        "a mount of the binary leaked to the host"
    );
    // and the host can still replace the binary (an upgrade must work)
    assert!(fs::OpenOptions::new().write(true).open(&exe).is_ok());
}

#[test]
fn control_an_unprotected_process_exposes_the_binary() {
    // the same moves against a command that no container can see (`events` is not protected):
    // the reopen succeeds, which shows that the test above can fail
    let w = World::new("protect-ctl");
    let exe = binary_copy(&w);
    let b = w.bundle("b", &["sleep", "1000"]);
    assert!(w
        .hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "c1"])
        .status
        .success());
    let out = w.dir.join("events.out");
    let mut events = command(&w, &exe, &["events", "--interval", "1s", "c1"], &out)
        .spawn()
        .unwrap();
    wait_for(&out, "\"type\"");
    let held = hold_exe(events.id());
    events.kill().unwrap();
    wait_exit(&mut events);
    assert!(
        reopen_for_write(&held).is_ok(),
        "an unprotected process's binary is writable"
    );
    assert!(w.hr(&["delete", "--force", "c1"]).status.success());
}

#[test]
fn a_binary_already_on_a_read_only_mount_is_run_as_it_is() {
    // nothing to do then: no re-exec, no private mount namespace
    let w = World::new("protect-ro");
    let exe = binary_copy(&w);
    let ro = w.dir.join("ro");
    fs::create_dir_all(&ro).unwrap();
    let sh = |cmd: String| {
        assert!(
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .status()
                .unwrap()
                .success(),
            "{cmd}"
        )
    };
    sh(format!(
        "mount --bind {} {} && mount -o remount,bind,ro {}",
        exe.parent().unwrap().display(),
        ro.display(),
        ro.display()
    ));
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Umount(ro.clone());
    let b = w.bundle("b", &["sh", "-c", "echo ready; exec sleep 1000"]);
    let out = w.dir.join("run.out");
    let mut run = command(
        &w,
        &ro.join("hardrun"),
        &["run", "--bundle", b.to_str().unwrap(), "r1"],
        &out,
    )
    .spawn()
    .unwrap();
    wait_for(&out, "ready");
    let own_ns = fs::read_link("/proc/self/ns/mnt").unwrap();
    let run_ns = fs::read_link(format!("/proc/{}/ns/mnt", run.id())).unwrap();
    assert_eq!(own_ns, run_ns, "no private mount namespace was needed");
    let held = hold_exe(run.id());
    assert!(w.hr(&["kill", "r1", "KILL"]).status.success());
    wait_exit(&mut run);
    assert_eq!(reopen_for_write(&held).err(), Some(Errno::EROFS));
}
