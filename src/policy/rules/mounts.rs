//! `mounts` (CIS 5.6, 5.20, 5.32): what the caller bind-mounts from the host.
//!
//! Sources are judged **after resolution**: before the engine runs, the bundle loader
//! (`bundle::sources`) resolves every bind source to the host object it names — joined to the
//! bundle directory when relative (as runc does, whatever the caller's working directory), every
//! symlink followed, `..` applied on the real directories — and records the object's kind
//! (directory, file, socket, device, fifo, missing). The rule reads that through
//! [`RuleCtx::sources`] and judges the real path and the kind; messages show the source as
//! written and, where it differs, the real path (`bind mount of etc (/bundle/etc) on /x`). The
//! spec handed to libcontainer carries the real path, so what is mounted is what was judged.
//! A source nothing resolved (the library called without the stage) is judged as written,
//! after lexical normalization.
//!
//! For each bind mount (type `bind`, or a `bind`/`rbind` option):
//! - a **runtime socket** (file name, as written or real, in the profile's `mounts.sockets`, or
//!   that name plus a suffix such as `containerd.sock.ttrpc`) is refused: a read-only socket is
//!   still the runtime's full API. So is **any other unix socket** (by kind, whatever its name),
//!   unless its real path is in the profile's `mounts.allow_sockets` (no built-in profile lists
//!   one). So is (while `mounts.sockets` is not empty) a **socket directory**: `/run`,
//!   `/var/run` and `/run/<name>`, `/var/run/<name>` for each socket `<name>.sock`
//!   (`/run/containerd` holds containerd.sock), and a recursive bind (`rbind`) of an ancestor of
//!   one (`/`, `/var`), which carries the `/run` mount and its sockets along.
//! - a **sensitive host path** (the profile's `mounts.sensitive`) that is not read-only gets
//!   `ro` (and loses `rw`). The real path is compared (an unresolved source: lexically, and one
//!   with a `..` component is refused). An entry matches the path and everything below it,
//!   except:
//!   - `/` matches only a bind of the root itself, not every path;
//!   - `/run` and `/var/run` match only the directory itself (refused above anyway): below them
//!     live containerd's, CRI-O's and podman's per-container state (`/run/containerd/io.containerd.*`,
//!     `/run/containers/storage/…`: the `/etc/hosts`, `resolv.conf`, `hostname` and `/dev/shm`
//!     that the clients bind into every container);
//!   - `/dev` matches the directory itself and the device nodes below it, but not `/dev/shm`,
//!     `/dev/pts`, `/dev/mqueue` and what is below them (Docker's `--ipc host` binds
//!     `/dev/shm`), nor a device of the default set or the profile's `devices.allow` (see the
//!     `devices` rule; rootless podman binds `--device` nodes).
//! - a **device node** (by kind) outside `/dev` is treated like one below it: made read-only.
//! - every bind mount gets `nosuid` and `nodev` (and loses `suid`, `dev`) — except that an
//!   allowed device node (above) does not get `nodev`, which would make it unusable. A device
//!   node that is not allowed becomes unusable, which is the point (CIS 5.18).
//! - a **recursive** bind (`rbind`) of a directory carries the source's submounts along, each
//!   with its own flags: `ro`, `nosuid`, `nodev` on the top mount do not reach them. Where they
//!   are in effect (given, or added above), `rro`, `rnosuid`, `rnodev` are added (and `rrw`,
//!   `rsuid`, `rdev` go): libcontainer 0.7 applies those with `mount_setattr(AT_RECURSIVE)`
//!   (Linux 5.12) to the whole cloned tree before it is attached. A file, socket or device node
//!   has no submounts and gets none.
//!
//! libcontainer applies the plain options in order (the last of `ro`/`rw` wins), then the
//! recursive ones to the whole tree, the top mount included: `rro` alone is read-only, `ro` with
//! `rrw` is writable. Where the rule puts `ro` (`nosuid`, `nodev`) in effect, `rw` and `rrw`
//! (`suid` and `rsuid`, `dev` and `rdev`) go.
//!
//! For every mount: `shared`/`rshared` propagation is replaced by `rprivate` (Docker's default);
//! `linux.rootfsPropagation` `shared`/`rshared` becomes `private`, which libcontainer applies
//! recursively (libcontainer 0.7 accepts only `shared`, `private`, `slave`, `unbindable` there).
//! The standard `proc`, `tmpfs`, `devpts`, `sysfs`, `mqueue` and `cgroup` mounts are not binds and
//! only the propagation check concerns them.
//!
//! Limits: between the resolution and libcontainer's `open_tree` of the path there is a window
//! (milliseconds) in which a host user who can write to a directory on the path can swap the
//! object (rename a symlink in); the object then mounted was not the one judged. The content of a
//! bound directory is not judged: a socket *inside* a bound directory stays reachable (only the
//! runtime socket directories above are refused for that reason).

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx, strings};
use crate::bundle::sources::{is_bind, Kind};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "no sensitive host path or runtime socket is bind-mounted writable; no shared propagation; bind mounts are nosuid,nodev",
    severity: Severity::High,
    process: false,
    evaluate: Some(evaluate),
};

const PROPAGATION: &[&str] = &[
    "private",
    "rprivate",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
];

/// Lexical normalization of an absolute path: `//` and `.` collapse, a trailing `/` goes; `..`
/// is kept (see [`has_dotdot`]).
pub(crate) fn normalize(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if p.starts_with('/') {
        format!("/{}", parts.join("/"))
    } else {
        parts.join("/")
    }
}

/// Whether `on` is in effect: libcontainer applies options in order, so the last of `on` and
/// `off` wins.
fn effective(options: &[String], on: &str, off: &str) -> bool {
    options
        .iter()
        .rev()
        .find(|o| *o == on || *o == off)
        .is_some_and(|o| o == on)
}

/// Puts `on` in effect: every `off` goes, `on` is added when absent.
fn set_flag(options: &mut Vec<String>, on: &str, off: &str) {
    options.retain(|o| o != off);
    if !options.iter().any(|o| o == on) {
        options.push(on.into());
    }
}

/// Whether flag `on` (`ro`, `nosuid`, `nodev`) ends up on the bind's top mount. libcontainer
/// applies the plain options first, then the recursive ones to the whole tree (a plain `bind`
/// is a tree of one): `r<on>` sets the flag, `r<off>` clears it (the kernel clears, then sets).
fn in_effect(options: &[String], on: &str, off: &str) -> bool {
    let has = |o: String| options.contains(&o);
    if has(format!("r{on}")) {
        return true;
    }
    if has(format!("r{off}")) {
        return false;
    }
    effective(options, on, off)
}

/// Puts `on` in effect on the top mount: `off` and `r<off>` go, `on` is added when absent.
fn enforce(options: &mut Vec<String>, on: &str, off: &str) {
    let roff = format!("r{off}");
    options.retain(|o| *o != roff);
    set_flag(options, on, off);
}

fn has_dotdot(p: &str) -> bool {
    p.split('/').any(|c| c == "..")
}

/// `path` equals `dir` or lies below it (both normalized and absolute).
fn under(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// The directories that hold runtime sockets (see the module doc).
fn socket_dirs(profile: &Profile) -> Vec<String> {
    if profile.mounts.sockets.is_empty() {
        return vec![];
    }
    let mut dirs = vec!["/run".to_owned(), "/var/run".to_owned()];
    for s in &profile.mounts.sockets {
        if let Some(stem) = s.strip_suffix(".sock").filter(|s| !s.is_empty()) {
            dirs.push(format!("/run/{stem}"));
            dirs.push(format!("/var/run/{stem}"));
        }
    }
    dirs
}

fn is_socket(path: &str, profile: &Profile) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    profile.mounts.sockets.iter().any(|s| {
        !s.is_empty()
            && (name == s.as_str()
                || name
                    .strip_prefix(s.as_str())
                    .is_some_and(|r| r.starts_with('.')))
    })
}

/// Whether a sensitive entry covers `path` (both normalized).
fn sensitive(path: &str, entry: &str, profile: &Profile) -> bool {
    match entry {
        "/" => path == "/",
        "/run" | "/var/run" => path == entry,
        "/dev" => {
            under(path, "/dev")
                && !["/dev/shm", "/dev/pts", "/dev/mqueue"]
                    .iter()
                    .any(|d| under(path, d))
                && !super::devices::allowed_path(path, profile)
        }
        _ => under(path, entry),
    }
}

/// Whether `path` (real, absolute) is one of the allowed sockets of the profile.
fn allowed_socket(path: &str, profile: &Profile) -> bool {
    profile
        .mounts
        .allow_sockets
        .iter()
        .any(|a| normalize(a) == path)
}

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    let mut out = vec![];
    let mounts = spec
        .get("mounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let dirs = socket_dirs(profile);
    for (i, m) in mounts.iter().enumerate() {
        let options = strings(m, "/options");
        let has = |o: &str| options.iter().any(|x| x == o);
        let dest = m.get("destination").and_then(Value::as_str).unwrap_or("?");
        let is_bind = is_bind(m);
        let source = m.get("source").and_then(Value::as_str).unwrap_or("");
        let mut reasons: Vec<String> = vec![];
        let mut new = options.clone();
        // the source as the stage before the engine found it on the host; `None` where nothing
        // resolved it (then it is judged as written, lexically)
        let resolved = ctx.sources.get(source);
        let shown = match resolved {
            Some(r) if r.real != source => format!("{source} ({})", r.real),
            _ => source.to_owned(),
        };

        if is_bind && !source.is_empty() {
            let src = match resolved {
                Some(r) => r.real.clone(),
                None => normalize(source),
            };
            let kind = resolved.map(|r| r.kind);
            let what = format!("bind mount of {shown} on {dest}");
            if resolved.is_none() && has_dotdot(source) {
                out.push(Proposal::refuse(
                    format!("/mounts/{i}/source"),
                    format!(
                        "{what}: a source with '..' cannot be judged without following symlinks"
                    ),
                ));
                continue;
            }
            if is_socket(&src, profile) || is_socket(&normalize(source), profile) {
                out.push(Proposal::refuse(
                    format!("/mounts/{i}/source"),
                    format!("{what}: a runtime socket is the runtime's full api, even read-only"),
                ));
                continue;
            }
            if kind == Some(Kind::Socket) && !allowed_socket(&src, profile) {
                out.push(Proposal::refuse(
                    format!("/mounts/{i}/source"),
                    format!(
                        "{what}: {src} is a unix socket: the host service behind it answers the container, even read-only"
                    ),
                ));
                continue;
            }
            if dirs.contains(&src) {
                out.push(Proposal::refuse(
                    format!("/mounts/{i}/source"),
                    format!("{what}: {src} holds runtime sockets, which stay usable read-only"),
                ));
                continue;
            }
            if has("rbind") && src.starts_with('/') {
                if let Some(d) = dirs.iter().find(|d| *d != &src && under(d, &src)) {
                    out.push(Proposal::refuse(
                        format!("/mounts/{i}/source"),
                        format!(
                            "{what}: a recursive bind of {src} carries the runtime sockets of {d}"
                        ),
                    ));
                    continue;
                }
            }
            // a device the `devices` rule allows keeps `dev` (nodev would make it unusable)
            let device_ok = src.starts_with("/dev/") && super::devices::allowed_path(&src, profile);
            let hit = src.starts_with('/')
                && profile
                    .mounts
                    .sensitive
                    .iter()
                    .any(|e| sensitive(&src, &normalize(e), profile));
            // a device node is a device wherever it lies (a node made in the bundle is /dev/sda)
            let device = kind.is_some_and(Kind::is_device) && !device_ok;
            if (hit || device) && !in_effect(&options, "ro", "rw") {
                enforce(&mut new, "ro", "rw");
                reasons.push(if hit {
                    format!("{src} is a sensitive host path: made read-only")
                } else {
                    format!("{src} is a device node: made read-only")
                });
            }
            let mut added = vec![];
            for (flag, opposite) in [("nosuid", "suid"), ("nodev", "dev")] {
                if flag == "nodev" && device_ok {
                    continue;
                }
                if !in_effect(&options, flag, opposite) {
                    enforce(&mut new, flag, opposite);
                    added.push(flag);
                }
            }
            // a recursive bind carries the source's submounts along, each with its own flags:
            // what holds for the top mount is made to hold for all of them (mount_setattr with
            // AT_RECURSIVE, which libcontainer applies for the `r…` options)
            if has("rbind") && kind.is_none_or(Kind::may_have_submounts) {
                for (flag, opposite, rflag, ropposite) in [
                    ("ro", "rw", "rro", "rrw"),
                    ("nosuid", "suid", "rnosuid", "rsuid"),
                    ("nodev", "dev", "rnodev", "rdev"),
                ] {
                    if in_effect(&new, flag, opposite) && !new.iter().any(|o| o == rflag) {
                        set_flag(&mut new, rflag, ropposite);
                        added.push(rflag);
                    }
                }
            }
            if !added.is_empty() {
                reasons.push(format!("{} added", added.join(",")));
            }
        }

        let shared: Vec<&String> = options
            .iter()
            .filter(|o| *o == "shared" || *o == "rshared")
            .collect();
        if !shared.is_empty() {
            new.retain(|o| o != "shared" && o != "rshared");
            let names: Vec<&str> = shared.iter().map(|s| s.as_str()).collect();
            match new.iter().find(|o| PROPAGATION.contains(&o.as_str())) {
                Some(other) => reasons.push(format!(
                    "{} propagation removed ({other} stays)",
                    names.join(",")
                )),
                None => {
                    new.push("rprivate".into());
                    reasons.push(format!(
                        "{} propagation replaced by rprivate",
                        names.join(",")
                    ));
                }
            }
        }

        if !reasons.is_empty() {
            let what = if is_bind {
                format!("bind mount of {shown} on {dest}")
            } else {
                format!("mount on {dest}")
            };
            let ptr = format!("/mounts/{i}/options");
            out.push(Proposal::fix(
                ptr.clone(),
                format!("{what}: {}", reasons.join("; ")),
                vec![Edit::set(ptr, new)],
            ));
        }
    }

    let ptr = "/linux/rootfsPropagation";
    if let Some(p @ ("shared" | "rshared")) = spec.pointer(ptr).and_then(Value::as_str) {
        out.push(Proposal::fix(
            ptr,
            format!("rootfs propagation {p} replaced by private (applied recursively)"),
            vec![Edit::set(ptr, "private")],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::privileged::tests::docker_default;
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    fn bind(source: &str, dest: &str, options: &[&str]) -> Value {
        json!({"destination": dest, "type": "bind", "source": source, "options": options})
    }

    fn spec(mounts: Vec<Value>) -> Value {
        json!({"root": {"path": "rootfs"}, "mounts": mounts})
    }

    /// The one mount's options after the fix, and the proposal's message.
    fn one(m: Value, p: &Profile) -> (Value, String) {
        one_in(m, p, Sources::none())
    }

    /// [`one`], with the sources resolved as given.
    fn one_in(m: Value, p: &Profile, sources: &Sources) -> (Value, String) {
        let s = spec(vec![m]);
        let r = run_sources(evaluate, &s, p, sources);
        assert_eq!(r.len(), 1, "{s}: {r:?}");
        assert_eq!(r[0].pointer, "/mounts/0/options");
        let out = fixed_sources(evaluate, &s, p, sources);
        (out["mounts"][0]["options"].clone(), r[0].message.clone())
    }

    fn refused(m: Value, p: &Profile) -> String {
        refused_in(m, p, Sources::none())
    }

    fn refused_in(m: Value, p: &Profile, sources: &Sources) -> String {
        let r = run_sources(evaluate, &spec(vec![m]), p, sources);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(!r[0].fixable);
        assert_eq!(r[0].pointer, "/mounts/0/source");
        r[0].message.clone()
    }

    #[test]
    fn client_mounts() {
        let p = profile("restricted");
        // docker: the standard mounts are left alone; its own binds (files) gain nosuid,nodev
        let c = "/var/lib/docker/containers/0123abcd";
        let files = ["resolv.conf", "hostname", "hosts"]
            .iter()
            .fold(Sources::default(), |s, f| {
                let path = format!("{c}/{f}");
                s.with(&path, &path, Kind::File)
            });
        let r = run_sources(evaluate, &docker_default(), &p, &files);
        let pointers: Vec<&str> = r.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/mounts/7/options",
                "/mounts/8/options",
                "/mounts/9/options"
            ]
        );
        assert_eq!(
            r[0].message,
            "bind mount of /var/lib/docker/containers/0123abcd/resolv.conf on /etc/resolv.conf: nosuid,nodev added"
        );
        let out = fixed_sources(evaluate, &docker_default(), &p, &files);
        assert_eq!(
            out["mounts"][9]["options"],
            json!(["rbind", "rprivate", "nosuid", "nodev"])
        );
        assert_eq!(
            out["mounts"].as_array().unwrap()[..7],
            docker_default()["mounts"].as_array().unwrap()[..7]
        );

        // containerd's CRI and podman bind their per-container state from under /run: fine
        let cri = "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/9f8e";
        let podman = "/var/run/containers/storage/overlay-containers/77aa/userdata";
        let cri_hosts = "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/9f8e/hosts";
        let token = "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~projected/kube-api-access-x";
        let sources = Sources::default()
            .with(
                &format!("{cri}/shm"),
                &format!("{cri}/shm"),
                Kind::Directory,
            )
            .with(cri_hosts, cri_hosts, Kind::File)
            .with(token, token, Kind::Directory)
            .with(
                &format!("{podman}/resolv.conf"),
                "/run/containers/storage/overlay-containers/77aa/userdata/resolv.conf",
                Kind::File,
            )
            .with("/dev/shm", "/dev/shm", Kind::Directory);
        let mounts = vec![
            bind(
                &format!("{cri}/shm"),
                "/dev/shm",
                &["rbind", "rprivate", "rw", "nosuid", "nodev"],
            ),
            bind(
                cri_hosts,
                "/etc/hosts",
                &["rbind", "rprivate", "rw", "nosuid", "nodev"],
            ),
            bind(
                token,
                "/var/run/secrets/kubernetes.io/serviceaccount",
                &["rbind", "rprivate", "ro", "nosuid", "nodev"],
            ),
            bind(
                &format!("{podman}/resolv.conf"),
                "/etc/resolv.conf",
                &["bind", "rprivate", "nosuid", "nodev"],
            ),
            json!({"destination": "/run/.containerenv", "type": "bind", "source": format!("{podman}/.containerenv"), "options": ["bind", "private", "nosuid", "nodev"]}),
            // docker --ipc host binds the host's /dev/shm
            bind(
                "/dev/shm",
                "/dev/shm",
                &["rbind", "rprivate", "nosuid", "nodev", "noexec"],
            ),
        ];
        // only the recursive binds of directories change: their submounts get the top
        // mount's flags (the old expectation, no finding at all, left those submounts writable)
        for name in ["restricted", "baseline", "permissive"] {
            let r = run_sources(evaluate, &spec(mounts.clone()), &profile(name), &sources);
            let got: Vec<(&str, &str)> = r
                .iter()
                .map(|p| (p.pointer.as_str(), p.message.rsplit(": ").next().unwrap()))
                .collect();
            assert_eq!(
                got,
                [
                    ("/mounts/0/options", "rnosuid,rnodev added"),
                    ("/mounts/2/options", "rro,rnosuid,rnodev added"),
                    ("/mounts/5/options", "rnosuid,rnodev added"),
                ],
                "{name}"
            );
        }
        let out = fixed_sources(evaluate, &spec(mounts.clone()), &p, &sources);
        assert_eq!(
            out["mounts"][2]["options"],
            json!(["rbind", "rprivate", "ro", "nosuid", "nodev", "rro", "rnosuid", "rnodev"])
        );
        // a podman source named through /var/run is shown with its real path
        let r = run_sources(
            evaluate,
            &spec(vec![bind(
                &format!("{podman}/resolv.conf"),
                "/etc/resolv.conf",
                &["bind"],
            )]),
            &p,
            &sources,
        );
        assert_eq!(
            r[0].message,
            format!("bind mount of {podman}/resolv.conf (/run/containers/storage/overlay-containers/77aa/userdata/resolv.conf) on /etc/resolv.conf: nosuid,nodev added")
        );
    }

    #[test]
    fn sensitive_paths_become_read_only() {
        let p = profile("restricted");
        // judged as written (nothing resolved them: `hardrun` always resolves, see below)
        let r = ["rro", "rnosuid", "rnodev"];
        let cases = [
            (bind("/etc", "/host/etc", &["rbind", "rw"]), json!(["rbind", "ro", "nosuid", "nodev", r[0], r[1], r[2]]),
             "bind mount of /etc on /host/etc: /etc is a sensitive host path: made read-only; nosuid,nodev,rro,rnosuid,rnodev added"),
            // normalized, and below the entry
            (bind("//usr/./share/zoneinfo/", "/z", &["rbind", "nosuid", "nodev"]), json!(["rbind", "nosuid", "nodev", "ro", r[0], r[1], r[2]]),
             "bind mount of //usr/./share/zoneinfo/ on /z: /usr/share/zoneinfo is a sensitive host path: made read-only; rro,rnosuid,rnodev added"),
            (json!({"destination": "/lib/modules", "type": "none", "source": "/lib/modules", "options": ["bind", "suid", "dev"]}), json!(["bind", "ro", "nosuid", "nodev"]),
             "bind mount of /lib/modules on /lib/modules: /lib/modules is a sensitive host path: made read-only; nosuid,nodev added"),
            (bind("/sys/fs/cgroup", "/sys/fs/cgroup", &["rbind", "nosuid", "nodev"]), json!(["rbind", "nosuid", "nodev", "ro", r[0], r[1], r[2]]),
             "bind mount of /sys/fs/cgroup on /sys/fs/cgroup: /sys/fs/cgroup is a sensitive host path: made read-only; rro,rnosuid,rnodev added"),
            // "/" matches a bind of the root itself (non-recursive: it carries no /run)
            (bind("/", "/host", &["bind", "nosuid", "nodev"]), json!(["bind", "nosuid", "nodev", "ro"]),
             "bind mount of / on /host: / is a sensitive host path: made read-only"),
            // /dev itself, and a device node that is not allowed (nodev makes it unusable)
            (bind("/dev", "/dev", &["rbind"]), json!(["rbind", "ro", "nosuid", "nodev", r[0], r[1], r[2]]),
             "bind mount of /dev on /dev: /dev is a sensitive host path: made read-only; nosuid,nodev,rro,rnosuid,rnodev added"),
            (bind("/dev/sda", "/dev/sda", &["bind", "nosuid"]), json!(["bind", "nosuid", "ro", "nodev"]),
             "bind mount of /dev/sda on /dev/sda: /dev/sda is a sensitive host path: made read-only; nodev added"),
            // `rrw` clears read-only on the whole tree, the top mount included (it is applied
            // after `ro`): it goes, and the bind is read-only again
            (bind("/etc", "/e", &["rbind", "ro", "rrw", "nosuid", "nodev", "rnosuid", "rnodev"]), json!(["rbind", "ro", "nosuid", "nodev", "rnosuid", "rnodev", "rro"]),
             "bind mount of /etc on /e: /etc is a sensitive host path: made read-only; rro added"),
            (bind("/etc/ssl", "/e", &["bind", "ro", "rrw", "rsuid", "nodev"]), json!(["bind", "ro", "nodev", "nosuid"]),
             "bind mount of /etc/ssl on /e: /etc/ssl is a sensitive host path: made read-only; nosuid added"),
            // `rro` alone is read-only, top mount included: nothing to add
            (bind("/etc", "/e", &["rbind", "rro", "rnosuid", "dev"]), json!(["rbind", "rro", "rnosuid", "nodev", "rnodev"]),
             "bind mount of /etc on /e: nodev,rnodev added"),
        ];
        for (m, want, msg) in cases {
            let (got, message) = one(m, &p);
            assert_eq!(got, want);
            assert_eq!(message, msg);
        }
        // read-only already, or not sensitive: only the flags
        for m in [
            bind("/etc/localtime", "/etc/localtime", &["bind", "ro"]),
            bind("/etcetera", "/e", &["bind"]),
            bind("/srv/data", "/data", &["bind", "rw"]),
            bind("/usr2", "/u", &["bind"]),
            bind("relative/dir", "/r", &["bind"]),
        ] {
            let (_, message) = one(m, &p);
            assert!(message.ends_with(": nosuid,nodev added"), "{message}");
        }
        // the last of ro/rw, nosuid/suid, nodev/dev wins (libcontainer applies them in order)
        let (got, msg) = one(
            bind(
                "/etc/ssl",
                "/etc/ssl",
                &["ro", "nosuid", "nodev", "rw", "suid"],
            ),
            &p,
        );
        assert_eq!(got, json!(["ro", "nosuid", "nodev"]));
        assert_eq!(
            msg,
            "bind mount of /etc/ssl on /etc/ssl: /etc/ssl is a sensitive host path: made read-only; nosuid added"
        );
        // allowed devices keep dev; the default set and the profile's
        let (got, msg) = one(bind("/dev/null", "/dev/null", &["bind"]), &p);
        assert_eq!(
            (got, msg.as_str()),
            (
                json!(["bind", "nosuid"]),
                "bind mount of /dev/null on /dev/null: nosuid added"
            )
        );
        let (got, _) = one(bind("/dev/fuse", "/dev/fuse", &["bind"]), &p);
        assert_eq!(got, json!(["bind", "ro", "nosuid", "nodev"]));
        let mut fuse = profile("restricted");
        fuse.devices.allow = vec!["/dev/fuse".into()];
        let (got, _) = one(bind("/dev/fuse", "/dev/fuse", &["bind"]), &fuse);
        assert_eq!(got, json!(["bind", "nosuid"]));
        // a profile with no sensitive paths only adds the flags
        let mut open = profile("restricted");
        open.mounts.sensitive.clear();
        let (got, _) = one(bind("/etc", "/etc2", &["rbind"]), &open);
        assert_eq!(
            got,
            json!(["rbind", "nosuid", "nodev", "rnosuid", "rnodev"])
        );
    }

    /// Sources as the stage before the engine resolves them: the real path and the kind of
    /// object decide, not the name written in the spec.
    #[test]
    fn resolved_sources_are_judged_by_what_they_are() {
        let p = profile("restricted");
        let b = "/srv/bundle";
        let sources = Sources::default()
            // relative sources, resolved against the bundle
            .with("etc", &format!("{b}/etc"), Kind::Directory)
            .with(
                "hostfiles/hosts",
                &format!("{b}/hostfiles/hosts"),
                Kind::File,
            )
            .with("../shared", "/srv/shared", Kind::Directory)
            // symlinks, followed
            .with("zone", "/usr/share/zoneinfo", Kind::Directory)
            .with("/srv/innocent", "/etc", Kind::Directory)
            .with("/srv/etc-looking", "/srv/data", Kind::Directory)
            .with("certs", "/etc/ssl/certs/ca.pem", Kind::File)
            .with("/var/run/app/data", "/run/app/data", Kind::Directory)
            // a device node wherever it lies
            .with("disk", &format!("{b}/disk"), Kind::BlockDevice)
            .with("/srv/null", "/dev/null", Kind::CharDevice)
            .with("/srv/fifo", "/srv/fifo", Kind::Fifo)
            // missing: create fails on it; the rule judges the path it would have
            .with("nope", &format!("{b}/nope"), Kind::Missing);
        let sens = |src: &str| format!("{src} is a sensitive host path: made read-only");
        let cases: Vec<(Value, Value, String)> = vec![
            (bind("etc", "/etc2", &["rbind", "rw"]), json!(["rbind", "rw", "nosuid", "nodev", "rnosuid", "rnodev"]),
             format!("bind mount of etc ({b}/etc) on /etc2: nosuid,nodev,rnosuid,rnodev added")),
            // a file: no submounts, so no recursive flags
            (bind("hostfiles/hosts", "/etc/hosts", &["rbind", "rprivate"]), json!(["rbind", "rprivate", "nosuid", "nodev"]),
             format!("bind mount of hostfiles/hosts ({b}/hostfiles/hosts) on /etc/hosts: nosuid,nodev added")),
            (bind("../shared", "/s", &["bind", "nosuid", "nodev"]), Value::Null, String::new()),
            (bind("zone", "/z", &["rbind"]), json!(["rbind", "ro", "nosuid", "nodev", "rro", "rnosuid", "rnodev"]),
             format!("bind mount of zone (/usr/share/zoneinfo) on /z: {}; nosuid,nodev,rro,rnosuid,rnodev added", sens("/usr/share/zoneinfo"))),
            (bind("/srv/innocent", "/i", &["bind", "nosuid", "nodev"]), json!(["bind", "nosuid", "nodev", "ro"]),
             format!("bind mount of /srv/innocent (/etc) on /i: {}", sens("/etc"))),
            // the name is not what counts
            (bind("/srv/etc-looking", "/etc", &["bind", "nosuid", "nodev"]), Value::Null, String::new()),
            (bind("certs", "/ca.pem", &["bind", "nosuid", "nodev"]), json!(["bind", "nosuid", "nodev", "ro"]),
             format!("bind mount of certs (/etc/ssl/certs/ca.pem) on /ca.pem: {}", sens("/etc/ssl/certs/ca.pem"))),
            // below /run: the clients' per-container state, as before
            (bind("/var/run/app/data", "/d", &["bind", "nosuid", "nodev"]), Value::Null, String::new()),
            (bind("disk", "/dev/disk", &["bind"]), json!(["bind", "ro", "nosuid", "nodev"]),
             format!("bind mount of disk ({b}/disk) on /dev/disk: {b}/disk is a device node: made read-only; nosuid,nodev added")),
            // an allowed device is judged by its real path
            (bind("/srv/null", "/dev/null", &["bind"]), json!(["bind", "nosuid"]),
             "bind mount of /srv/null (/dev/null) on /dev/null: nosuid added".into()),
            (bind("/srv/fifo", "/fifo", &["rbind"]), json!(["rbind", "nosuid", "nodev"]),
             "bind mount of /srv/fifo on /fifo: nosuid,nodev added".into()),
            (bind("nope", "/nope", &["rbind"]), json!(["rbind", "nosuid", "nodev", "rnosuid", "rnodev"]),
             format!("bind mount of nope ({b}/nope) on /nope: nosuid,nodev,rnosuid,rnodev added")),
        ];
        for (m, want, msg) in cases {
            if want.is_null() {
                assert!(
                    run_sources(evaluate, &spec(vec![m.clone()]), &p, &sources).is_empty(),
                    "{m}"
                );
                continue;
            }
            let (got, message) = one_in(m, &p, &sources);
            assert_eq!((got, message), (want, msg));
        }
    }

    #[test]
    fn sockets_are_refused() {
        let p = profile("restricted");
        for (source, opts, why) in [
            (
                "/var/run/docker.sock",
                &["rbind", "ro"][..],
                "a runtime socket is the runtime's full api, even read-only",
            ),
            (
                "/run/containerd/containerd.sock.ttrpc",
                &["bind"][..],
                "a runtime socket is the runtime's full api, even read-only",
            ),
            (
                "/run/user/1000/podman/podman.sock",
                &["rbind"][..],
                "a runtime socket is the runtime's full api, even read-only",
            ),
            (
                "/run/",
                &["rbind", "ro"][..],
                "/run holds runtime sockets, which stay usable read-only",
            ),
            (
                "/var/run",
                &["bind"][..],
                "/var/run holds runtime sockets, which stay usable read-only",
            ),
            (
                "/run/containerd",
                &["rbind", "ro"][..],
                "/run/containerd holds runtime sockets, which stay usable read-only",
            ),
            (
                "/",
                &["rbind", "ro"][..],
                "a recursive bind of / carries the runtime sockets of /run",
            ),
            (
                "/var",
                &["rbind", "ro"][..],
                "a recursive bind of /var carries the runtime sockets of /var/run",
            ),
            (
                "/srv/../var/run/docker.sock",
                &["rbind"][..],
                "a source with '..' cannot be judged without following symlinks",
            ),
        ] {
            let msg = refused(bind(source, "/x", opts), &p);
            assert_eq!(msg, format!("bind mount of {source} on /x: {why}"));
            // the refusal is the same in every profile; the action is the engine's
            assert_eq!(
                refused(bind(source, "/x", opts), &profile("permissive")),
                msg
            );
        }
        // a socket-like name that is not one, and a file under a runtime's directory
        assert!(run(
            evaluate,
            &spec(vec![bind(
                "/srv/docker.socket",
                "/x",
                &["bind", "nosuid", "nodev"]
            )]),
            &p
        )
        .is_empty());
        assert!(run(
            evaluate,
            &spec(vec![bind(
                "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/1/hostname",
                "/etc/hostname",
                &["bind", "nosuid", "nodev"]
            )]),
            &p
        )
        .is_empty());
        // with no sockets listed, /run is an ordinary sensitive path
        let mut nosock = profile("restricted");
        nosock.mounts.sockets.clear();
        let (got, _) = one(bind("/run", "/run", &["rbind", "nosuid", "nodev"]), &nosock);
        assert_eq!(
            got,
            json!(["rbind", "nosuid", "nodev", "ro", "rro", "rnosuid", "rnodev"])
        );
    }

    #[test]
    fn resolved_sockets_are_refused_by_kind_and_real_path() {
        let sources = Sources::default()
            // a symlink to the docker socket, named like nothing
            .with("/srv/control", "/run/docker.sock", Kind::Socket)
            .with("ctl", "/run/docker.sock", Kind::Socket)
            // any unix socket
            .with("/srv/app/api.sock", "/srv/app/api.sock", Kind::Socket)
            .with("/srv/app/listen", "/srv/app/listen", Kind::Socket)
            // through symlinks into a socket directory, or an ancestor of one
            .with("/srv/rundir", "/run", Kind::Directory)
            .with("state", "/run/containerd", Kind::Directory)
            .with("/srv/var", "/var", Kind::Directory)
            // `..`, resolved, is no longer a reason to refuse
            .with("/srv/../srv/data", "/srv/data", Kind::Directory);
        let runtime = "a runtime socket is the runtime's full api, even read-only";
        let socket = |p: &str| {
            format!("{p} is a unix socket: the host service behind it answers the container, even read-only")
        };
        for name in ["restricted", "baseline", "ci-runner", "permissive"] {
            let p = profile(name);
            for (source, opts, shown, why) in [
                (
                    "/srv/control",
                    &["bind", "ro"][..],
                    "/srv/control (/run/docker.sock)",
                    runtime.to_owned(),
                ),
                (
                    "ctl",
                    &["bind"][..],
                    "ctl (/run/docker.sock)",
                    runtime.to_owned(),
                ),
                (
                    "/srv/app/api.sock",
                    &["rbind", "ro"][..],
                    "/srv/app/api.sock",
                    socket("/srv/app/api.sock"),
                ),
                (
                    "/srv/app/listen",
                    &["bind"][..],
                    "/srv/app/listen",
                    socket("/srv/app/listen"),
                ),
                (
                    "/srv/rundir",
                    &["bind", "ro"][..],
                    "/srv/rundir (/run)",
                    "/run holds runtime sockets, which stay usable read-only".into(),
                ),
                (
                    "state",
                    &["rbind"][..],
                    "state (/run/containerd)",
                    "/run/containerd holds runtime sockets, which stay usable read-only".into(),
                ),
                (
                    "/srv/var",
                    &["rbind", "ro"][..],
                    "/srv/var (/var)",
                    "a recursive bind of /var carries the runtime sockets of /var/run".into(),
                ),
            ] {
                let msg = refused_in(bind(source, "/x", opts), &p, &sources);
                assert_eq!(msg, format!("bind mount of {shown} on /x: {why}"), "{name}");
            }
            let (got, msg) = one_in(bind("/srv/../srv/data", "/d", &["bind"]), &p, &sources);
            assert_eq!(got, json!(["bind", "nosuid", "nodev"]));
            assert_eq!(
                msg,
                "bind mount of /srv/../srv/data (/srv/data) on /d: nosuid,nodev added"
            );
        }
        // a profile may allow one socket by its real path; runtime sockets stay refused
        let mut agent = profile("restricted");
        agent.mounts.allow_sockets = vec!["/srv/app/api.sock".into(), "/run/docker.sock".into()];
        let (got, _) = one_in(
            bind("/srv/app/api.sock", "/api.sock", &["bind"]),
            &agent,
            &sources,
        );
        assert_eq!(got, json!(["bind", "nosuid", "nodev"]));
        refused_in(bind("/srv/app/listen", "/x", &["bind"]), &agent, &sources);
        assert!(refused_in(bind("ctl", "/x", &["bind"]), &agent, &sources).ends_with(runtime));
    }

    #[test]
    fn propagation() {
        let p = profile("restricted");
        let (got, msg) = one(
            bind("/srv/a", "/a", &["bind", "rshared", "nosuid", "nodev"]),
            &p,
        );
        assert_eq!(got, json!(["bind", "nosuid", "nodev", "rprivate"]));
        assert_eq!(
            msg,
            "bind mount of /srv/a on /a: rshared propagation replaced by rprivate"
        );
        let (got, msg) = one(
            bind(
                "/srv/a",
                "/a",
                &[
                    "rbind", "shared", "rslave", "nosuid", "nodev", "rnosuid", "rnodev",
                ],
            ),
            &p,
        );
        assert_eq!(
            got,
            json!(["rbind", "rslave", "nosuid", "nodev", "rnosuid", "rnodev"])
        );
        assert_eq!(
            msg,
            "bind mount of /srv/a on /a: shared propagation removed (rslave stays)"
        );
        let (got, msg) = one(
            json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["shared", "nosuid"]}),
            &p,
        );
        assert_eq!(got, json!(["nosuid", "rprivate"]));
        assert_eq!(msg, "mount on /t: shared propagation replaced by rprivate");
        // rootfs propagation: libcontainer knows "private", not "rprivate"
        for (v, n) in [("rshared", 1), ("shared", 1), ("rslave", 0), ("private", 0)] {
            let s = json!({"linux": {"rootfsPropagation": v}});
            let r = run(evaluate, &s, &p);
            assert_eq!(r.len(), n, "{v}");
            if n == 1 {
                assert_eq!(r[0].pointer, "/linux/rootfsPropagation");
                assert_eq!(
                    r[0].message,
                    format!("rootfs propagation {v} replaced by private (applied recursively)")
                );
                assert_eq!(
                    fixed(evaluate, &s, &p)["linux"]["rootfsPropagation"],
                    "private"
                );
            }
        }
    }
}
