//! `nft` inside a container's network namespace: the one helper `isolate` (its table
//! `inet hardrun_isolate`) and `create` (the profile's `[egress]` table `inet hardrun_egress`,
//! see `policy::egress`) load their rulesets with, and the monitor reads counters with. The
//! child enters the namespace (`setns`) before it execs `nft`; hardrun itself never changes
//! namespace. The host's own ruleset is never touched: callers check [`shares_host_netns`].

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Opens a network namespace file; its nsfs identity (device, inode).
pub fn open_netns(path: &str) -> Result<(OwnedFd, (u64, u64)), String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let md = f
        .metadata()
        .map_err(|e| format!("cannot stat {path}: {e}"))?;
    Ok((f.into(), (md.dev(), md.ino())))
}

/// Whether the namespace is hardrun's own or pid 1's: the host's, whose ruleset hardrun never
/// touches.
pub fn shares_host_netns(ident: &(u64, u64)) -> bool {
    ["/proc/self/ns/net", "/proc/1/ns/net"]
        .iter()
        .any(|p| std::fs::metadata(p).is_ok_and(|m| (m.dev(), m.ino()) == *ident))
}

/// Debian's `nft`, where a runtime's restricted PATH may not reach it.
pub fn nft_binary() -> Result<PathBuf, String> {
    for p in ["/usr/sbin/nft", "/sbin/nft", "/usr/local/sbin/nft"] {
        if Path::new(p).is_file() {
            return Ok(PathBuf::from(p));
        }
    }
    Err(
        "nft not found in /usr/sbin, /sbin or /usr/local/sbin (Debian: apt-get install nftables)"
            .into(),
    )
}

/// Runs `nft -f -` with `script` inside the network namespace `ns`.
pub fn nft_in(ns: BorrowedFd<'_>, script: &str) -> Result<(), String> {
    nft_run(ns, &["-f", "-"], Some(script)).map(drop)
}

/// Runs `nft <args>` inside the network namespace `ns` (`script` on its stdin, if any); its
/// stdout. The error names the binary, the arguments, the exit status and nft's first line.
pub fn nft_run(ns: BorrowedFd<'_>, args: &[&str], script: Option<&str>) -> Result<String, String> {
    let nft = nft_binary()?;
    let raw = ns.as_raw_fd();
    let mut cmd = Command::new(&nft);
    cmd.args(args)
        .stdin(if script.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and only calls setns(2), which is
    // async-signal-safe; `raw` is a descriptor the parent keeps open (borrowed for this call)
    // and fork duplicates.
    unsafe {
        cmd.pre_exec(move || {
            let fd = BorrowedFd::borrow_raw(raw);
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", nft.display()))?;
    if let (Some(mut stdin), Some(script)) = (child.stdin.take(), script) {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| format!("cannot write to {}: {e}", nft.display()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", nft.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        Err(format!(
            "{} {} failed ({}): {}",
            nft.display(),
            args.join(" "),
            out.status,
            first.trim()
        ))
    }
}

/// What [`load_table`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// the script was loaded into the namespace with this nsfs identity
    Loaded { netns_dev: u64, netns_ino: u64 },
    /// `keep_existing` and the table was there already (a pod's sandbox loaded it)
    Kept,
    /// the process shares the host's network namespace: nothing was loaded
    HostShared,
}

/// Loads a table into the network namespace of process `pid`: `create` (a script that fails
/// when the table is there, see `policy::egress::Plan::create_script`) first, the fast load into
/// a namespace that has none; when that fails, with `keep_existing` a namespace that has the
/// table already keeps it (one table per namespace: a pod's containers share the sandbox's),
/// and otherwise `replace` (which replaces a table of the same name in one transaction) is
/// loaded. An error is `replace`'s. Never in the host's namespace.
pub fn load_table(
    pid: i32,
    table: &str,
    create: &str,
    replace: &str,
    keep_existing: bool,
) -> Result<Loaded, String> {
    let (ns, ident) = open_netns(&format!("/proc/{pid}/ns/net"))?;
    if shares_host_netns(&ident) {
        return Ok(Loaded::HostShared);
    }
    let loaded = Loaded::Loaded {
        netns_dev: ident.0,
        netns_ino: ident.1,
    };
    if nft_in(ns.as_fd(), create).is_ok() {
        return Ok(loaded);
    }
    if keep_existing && nft_run(ns.as_fd(), &["list", "table", "inet", table], None).is_ok() {
        return Ok(Loaded::Kept);
    }
    nft_in(ns.as_fd(), replace)?;
    Ok(loaded)
}

/// A network namespace's nsfs identity (device, inode) and what nft printed there.
pub type NsOutput = ((u64, u64), String);

/// `nft -j list counters table inet <table>` in the network namespace of process `pid`, with
/// the namespace's identity; `Ok(None)` when the process is in the host's namespace.
pub fn counters(pid: i32, table: &str) -> Result<Option<NsOutput>, String> {
    let (ns, ident) = open_netns(&format!("/proc/{pid}/ns/net"))?;
    if shares_host_netns(&ident) {
        return Ok(None);
    }
    let out = nft_run(
        ns.as_fd(),
        &["-j", "list", "counters", "table", "inet", table],
        None,
    )?;
    Ok(Some((ident, out)))
}

/// Loads a container's `[egress]` table (see `policy::egress`) into the network namespace of
/// its init `pid`, before its process starts. Err: the container's refusal, one line. Ok(Some):
/// a notice for the caller (a container in the host's namespace is not filtered).
pub fn apply_egress(
    pid: i32,
    plan: &crate::policy::egress::Plan,
    id: &str,
) -> Result<Option<String>, String> {
    match load_table(
        pid,
        crate::policy::egress::TABLE,
        &plan.create_script(),
        &plan.script,
        plan.keep_existing,
    ) {
        Ok(Loaded::HostShared) => Ok(Some(plan.host_shared(id))),
        Ok(_) => Ok(None),
        Err(e) => Err(plan.refusal(id, &e)),
    }
}
