//! nftables inside a container's network namespace: the one helper `isolate` (its table
//! `inet hardrun_isolate`) and `create` (the profile's `[egress]` table `inet hardrun_egress`,
//! see `policy::egress`) load their rulesets with, and the monitor reads counters with. The
//! host's own ruleset is never touched: callers check [`shares_host_netns`]. (`create` sends the
//! egress table into a new namespace as a netlink batch of its own first, see
//! [`super::container_net`]; this module is its fallback.)
//!
//! How (issue 20): libnftables, the library the `nft` binary is a thin front end of, runs in
//! process. Forking and execing `nft -f -` cost about 4 ms of a 30 ms `hardrun run` (fork, exec,
//! dynamic linking, nft's own start-up), much of it not nftables' work; in process the load of
//! the egress table takes about 2.3 ms (the bench's `egress-nft` stage, median), of which
//! loading the library is about 0.7 ms and the command itself (parse, netlink) about 1 ms. `libnftables.so.1` is
//! `dlopen`ed once, lazily (no link-time dependency: a host with only a static `nft`, or none,
//! still runs hardrun). Each command runs on a short-lived thread that enters the namespace
//! (`setns`, which moves only that thread: hardrun's other threads never change namespace) and
//! only then creates the library's context, whose netlink socket is opened in the thread's
//! current namespace; output and errors are buffered, the context freed, the thread ends. All
//! use of the library is serialized behind one lock: its initialization is global state and the
//! monitor is multi-threaded. The `nft` command lines callers pass ([`nft_run`]) are turned into
//! the library's command text (`-f -`: the script itself; `-j`: its JSON output flag).
//!
//! Fallback: when the library cannot be loaded (not installed, an incompatible build), or an
//! argument has no library equivalent, the `nft` binary runs as before: forked, the child enters
//! the namespace before it execs `nft`.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Opens a network namespace file; its nsfs identity (device, inode).
pub fn open_netns(path: &str) -> Result<(OwnedFd, (u64, u64)), String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let md = f
        .metadata()
        .map_err(|e| format!("cannot stat {path}: {e}"))?;
    Ok((f.into(), (md.dev(), md.ino())))
}

/// Loads libnftables now (once per process), so that a later command finds it loaded (create
/// does this while libcontainer's children start).
pub fn preload() {
    let _ = Lib::get();
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
/// stdout. In process with libnftables where it loads (see the module's doc), otherwise the `nft`
/// binary. The error names the library or binary, the arguments and nft's first error line.
pub fn nft_run(ns: BorrowedFd<'_>, args: &[&str], script: Option<&str>) -> Result<String, String> {
    if let (Some(lib), Some(cmd)) = (Lib::get(), Cmd::from_args(args, script)) {
        return lib.run_in(ns, args, &cmd);
    }
    nft_exec(ns, args, script)
}

/// The name [`Lib`] is loaded by (Debian: package libnftables1, which `nftables` depends on).
const LIBNFTABLES: &str = "libnftables.so.1";

/// `NFT_CTX_OUTPUT_JSON` of `<nftables/libnftables.h>`: `nft -j`.
const NFT_CTX_OUTPUT_JSON: c_uint = 1 << 4;

/// What an `nft` command line is for libnftables: the command text and whether its output is
/// JSON.
#[derive(Debug, PartialEq, Eq)]
struct Cmd {
    text: CString,
    json: bool,
}

impl Cmd {
    /// `-j`/`--json` first, then either `-f -` with `script` (the script is the text) or plain
    /// words without `script` (`list table inet T`). None for anything else (another option, a
    /// file, a NUL byte): the binary runs that.
    fn from_args(args: &[&str], script: Option<&str>) -> Option<Cmd> {
        let (json, rest) = match args.split_first() {
            Some((&("-j" | "--json"), rest)) => (true, rest),
            _ => (false, args),
        };
        let text = match (rest, script) {
            (["-f", "-"], Some(script)) => script.to_string(),
            (words, None) if !words.is_empty() && words.iter().all(|w| !w.starts_with('-')) => {
                words.join(" ")
            }
            _ => return None,
        };
        Some(Cmd {
            text: CString::new(text).ok()?,
            json,
        })
    }
}

type CtxNew = unsafe extern "C" fn(c_uint) -> *mut c_void;
type CtxFree = unsafe extern "C" fn(*mut c_void);
type CtxInt = unsafe extern "C" fn(*mut c_void) -> c_int;
type CtxBuf = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type RunCmd = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;
type GetFlags = unsafe extern "C" fn(*mut c_void) -> c_uint;
type SetFlags = unsafe extern "C" fn(*mut c_void, c_uint);

/// libnftables' functions hardrun calls, from `dlopen`/`dlsym`; the library is never unloaded.
struct Lib {
    ctx_new: CtxNew,
    ctx_free: CtxFree,
    buffer_output: CtxInt,
    buffer_error: CtxInt,
    get_output_buffer: CtxBuf,
    get_error_buffer: CtxBuf,
    run_cmd_from_buffer: RunCmd,
    output_get_flags: GetFlags,
    output_set_flags: SetFlags,
}

/// Serializes every use of libnftables (global state, a multi-threaded monitor).
static LOCK: Mutex<()> = Mutex::new(());

impl Lib {
    /// The library, loaded on first use; None when it cannot be (the binary runs then).
    fn get() -> Option<&'static Lib> {
        static LIB: OnceLock<Option<Lib>> = OnceLock::new();
        LIB.get_or_init(Lib::load).as_ref()
    }

    fn load() -> Option<Lib> {
        let name = CString::new(LIBNFTABLES).ok()?;
        // SAFETY: `name` is a NUL-terminated string that outlives the call; loading the library
        // runs its initializers, which only set up its own state. The handle is never closed, so
        // the function pointers below stay valid for the life of the process.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return None;
        }
        let sym = |s: &CStr| {
            // SAFETY: `handle` is a live handle from dlopen above and `s` a NUL-terminated name.
            let p = unsafe { libc::dlsym(handle, s.as_ptr()) };
            (!p.is_null()).then_some(p)
        };
        // SAFETY (every transmute below): each pointer is the address dlsym returned for the
        // named function, and each type is that function's prototype in
        // <nftables/libnftables.h> (struct nft_ctx * as an opaque pointer, uint32_t and
        // unsigned int as c_uint); a function pointer and a data pointer have the same size.
        Some(Lib {
            // SAFETY: see above: struct nft_ctx *nft_ctx_new(uint32_t flags)
            ctx_new: unsafe { std::mem::transmute::<*mut c_void, CtxNew>(sym(c"nft_ctx_new")?) },
            // SAFETY: see above: void nft_ctx_free(struct nft_ctx *ctx)
            ctx_free: unsafe { std::mem::transmute::<*mut c_void, CtxFree>(sym(c"nft_ctx_free")?) },
            // SAFETY: see above: int nft_ctx_buffer_output(struct nft_ctx *ctx)
            buffer_output: unsafe {
                std::mem::transmute::<*mut c_void, CtxInt>(sym(c"nft_ctx_buffer_output")?)
            },
            // SAFETY: see above: int nft_ctx_buffer_error(struct nft_ctx *ctx)
            buffer_error: unsafe {
                std::mem::transmute::<*mut c_void, CtxInt>(sym(c"nft_ctx_buffer_error")?)
            },
            // SAFETY: see above: const char *nft_ctx_get_output_buffer(struct nft_ctx *ctx)
            get_output_buffer: unsafe {
                std::mem::transmute::<*mut c_void, CtxBuf>(sym(c"nft_ctx_get_output_buffer")?)
            },
            // SAFETY: see above: const char *nft_ctx_get_error_buffer(struct nft_ctx *ctx)
            get_error_buffer: unsafe {
                std::mem::transmute::<*mut c_void, CtxBuf>(sym(c"nft_ctx_get_error_buffer")?)
            },
            // SAFETY: see above: int nft_run_cmd_from_buffer(struct nft_ctx *nft, const char *buf)
            run_cmd_from_buffer: unsafe {
                std::mem::transmute::<*mut c_void, RunCmd>(sym(c"nft_run_cmd_from_buffer")?)
            },
            // SAFETY: see above: unsigned int nft_ctx_output_get_flags(struct nft_ctx *ctx)
            output_get_flags: unsafe {
                std::mem::transmute::<*mut c_void, GetFlags>(sym(c"nft_ctx_output_get_flags")?)
            },
            // SAFETY: see above: void nft_ctx_output_set_flags(struct nft_ctx *ctx, unsigned int)
            output_set_flags: unsafe {
                std::mem::transmute::<*mut c_void, SetFlags>(sym(c"nft_ctx_output_set_flags")?)
            },
        })
    }

    /// Runs `cmd` in the network namespace `ns` on a thread of its own (see the module's doc);
    /// `args` name it in errors.
    fn run_in(&self, ns: BorrowedFd<'_>, args: &[&str], cmd: &Cmd) -> Result<String, String> {
        let what = format!("{LIBNFTABLES} (nft {})", args.join(" "));
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("nft".into())
                .spawn_scoped(s, || {
                    let _serial = LOCK.lock().unwrap_or_else(|e| e.into_inner());
                    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(|e| format!("{what}: cannot enter the network namespace: {e}"))?;
                    self.run(cmd).map_err(|e| format!("{what} failed: {e}"))
                })
                .map_err(|e| format!("{what}: cannot start a thread: {e}"))?
                .join()
                .map_err(|_| format!("{what}: its thread panicked"))?
        })
    }

    /// Runs `cmd` with a fresh context in the calling thread's network namespace: its output, or
    /// the first line of its error.
    fn run(&self, cmd: &Cmd) -> Result<String, String> {
        // SAFETY: nft_ctx_new takes only flags (0: NFT_CTX_DEFAULT) and returns an owned context
        // or NULL; the caller holds LOCK, so no other thread is inside the library.
        let ctx = unsafe { (self.ctx_new)(0) };
        if ctx.is_null() {
            return Err("nft_ctx_new returned no context".into());
        }
        let res = self.run_ctx(ctx, cmd);
        // SAFETY: `ctx` came from nft_ctx_new above, is freed once here and not used after; the
        // buffers read from it were copied into owned strings by run_ctx.
        unsafe { (self.ctx_free)(ctx) };
        res
    }

    fn run_ctx(&self, ctx: *mut c_void, cmd: &Cmd) -> Result<String, String> {
        // SAFETY: `ctx` is a live context from nft_ctx_new (run frees it only after this returns);
        // these calls only switch its output and error to in-memory buffers.
        if unsafe { (self.buffer_output)(ctx) != 0 || (self.buffer_error)(ctx) != 0 } {
            return Err("cannot buffer its output".into());
        }
        if cmd.json {
            // SAFETY: `ctx` is live; the flags are a plain bit set of the context's.
            unsafe {
                let flags = (self.output_get_flags)(ctx);
                (self.output_set_flags)(ctx, flags | NFT_CTX_OUTPUT_JSON);
            }
        }
        // SAFETY: `ctx` is live and `cmd.text` a NUL-terminated string that outlives the call,
        // which reads it only.
        let rc = unsafe { (self.run_cmd_from_buffer)(ctx, cmd.text.as_ptr()) };
        let buffer = |get: CtxBuf| {
            // SAFETY: `ctx` is live and buffering (set above); the library returns a
            // NUL-terminated string it owns (or NULL), copied here before the context is freed.
            let p = unsafe { get(ctx) };
            if p.is_null() {
                String::new()
            } else {
                // SAFETY: `p` is non-NULL, NUL-terminated and valid until the context is freed.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
        if rc == 0 {
            return Ok(buffer(self.get_output_buffer));
        }
        let err = buffer(self.get_error_buffer);
        Err(match err.lines().map(str::trim).find(|l| !l.is_empty()) {
            Some(first) => first.to_string(),
            None => format!("status {rc}, no error message"),
        })
    }
}

/// [`nft_run`] with the `nft` binary: forked, the child enters `ns` and execs it. The error names
/// the binary, the arguments, the exit status and nft's first line.
fn nft_exec(ns: BorrowedFd<'_>, args: &[&str], script: Option<&str>) -> Result<String, String> {
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
    // a child that exits without reading its stdin makes the write fail (EPIPE): it is still
    // waited for, and its exit status is what the error names (the cause; no zombie is left)
    let written = match (child.stdin.take(), script) {
        (Some(mut stdin), Some(script)) => stdin.write_all(script.as_bytes()),
        _ => Ok(()),
    };
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", nft.display()))?;
    if out.status.success() {
        written.map_err(|e| format!("cannot write to {}: {e}", nft.display()))?;
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
    load_table_in(ns.as_fd(), &ident, table, create, replace, keep_existing)
}

/// [`load_table`] into the network namespace `ns` whose nsfs identity is `ident`.
pub fn load_table_in(
    ns: BorrowedFd<'_>,
    ident: &(u64, u64),
    table: &str,
    create: &str,
    replace: &str,
    keep_existing: bool,
) -> Result<Loaded, String> {
    if shares_host_netns(ident) {
        return Ok(Loaded::HostShared);
    }
    let loaded = Loaded::Loaded {
        netns_dev: ident.0,
        netns_ino: ident.1,
    };
    if nft_in(ns, create).is_ok() {
        return Ok(loaded);
    }
    if keep_existing && nft_run(ns, &["list", "table", "inet", table], None).is_ok() {
        return Ok(Loaded::Kept);
    }
    nft_in(ns, replace)?;
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

#[cfg(test)]
mod tests {
    use super::Cmd;

    fn cmd(text: &str, json: bool) -> Option<Cmd> {
        Some(Cmd {
            text: std::ffi::CString::new(text).unwrap(),
            json,
        })
    }

    #[test]
    fn a_script_on_stdin_is_the_command_text() {
        let script = "create table inet t\nadd chain inet t c\n";
        assert_eq!(
            Cmd::from_args(&["-f", "-"], Some(script)),
            cmd(script, false)
        );
    }

    #[test]
    fn words_are_joined_and_json_becomes_the_output_flag() {
        assert_eq!(
            Cmd::from_args(&["list", "table", "inet", "t"], None),
            cmd("list table inet t", false)
        );
        assert_eq!(
            Cmd::from_args(&["-j", "list", "counters", "table", "inet", "t"], None),
            cmd("list counters table inet t", true)
        );
    }

    #[test]
    fn what_the_library_cannot_take_is_left_to_the_binary() {
        // a file, another option, a script without -f -, no command, a NUL byte
        assert_eq!(Cmd::from_args(&["-f", "/etc/nftables.conf"], None), None);
        assert_eq!(Cmd::from_args(&["-f", "-"], None), None);
        assert_eq!(Cmd::from_args(&["-a", "list", "ruleset"], None), None);
        assert_eq!(Cmd::from_args(&["list", "ruleset"], Some("x")), None);
        assert_eq!(Cmd::from_args(&[], None), None);
        assert_eq!(Cmd::from_args(&["-j"], None), None);
        assert_eq!(Cmd::from_args(&["-f", "-"], Some("a\0b")), None);
    }
}
