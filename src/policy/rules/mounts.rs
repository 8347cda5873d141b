//! `mounts` (CIS 5.6, 5.20, 5.32): what the caller bind-mounts from the host.
//!
//! For each bind mount (type `bind`, or a `bind`/`rbind` option):
//! - a **runtime socket** (file name in the profile's `mounts.sockets`, or that name plus a
//!   suffix such as `containerd.sock.ttrpc`) is refused: a read-only socket is still the
//!   runtime's full API. So is (while `mounts.sockets` is not empty) a **socket directory**: `/run`, `/var/run` and `/run/<name>`,
//!   `/var/run/<name>` for each socket `<name>.sock` (`/run/containerd` holds containerd.sock),
//!   and a recursive bind (`rbind`) of an ancestor of one (`/`, `/var`), which carries the
//!   `/run` mount and its sockets along.
//! - a **sensitive host path** (the profile's `mounts.sensitive`) that is not read-only gets
//!   `ro` (and loses `rw`). Paths are compared after lexical normalization (`//`, `.`, a
//!   trailing `/`), without following symlinks; a source with a `..` component cannot be judged
//!   that way and is refused. An entry matches the path and everything below it, except:
//!   - `/` matches only a bind of the root itself, not every path;
//!   - `/run` and `/var/run` match only the directory itself (refused above anyway): below them
//!     live containerd's, CRI-O's and podman's per-container state (`/run/containerd/io.containerd.*`,
//!     `/run/containers/storage/…`: the `/etc/hosts`, `resolv.conf`, `hostname` and `/dev/shm`
//!     that the clients bind into every container);
//!   - `/dev` matches the directory itself and the device nodes below it, but not `/dev/shm`,
//!     `/dev/pts`, `/dev/mqueue` and what is below them (Docker's `--ipc host` binds
//!     `/dev/shm`), nor a device of the default set or the profile's `devices.allow` (see the
//!     `devices` rule; rootless podman binds `--device` nodes).
//! - every bind mount gets `nosuid` and `nodev` (and loses `suid`, `dev`) — except that an
//!   allowed device node (above) does not get `nodev`, which would make it unusable. A device
//!   node that is not allowed becomes unusable, which is the point (CIS 5.18).
//!
//! For every mount: `shared`/`rshared` propagation is replaced by `rprivate` (Docker's default);
//! `linux.rootfsPropagation` `shared`/`rshared` becomes `private`, which libcontainer applies
//! recursively (libcontainer 0.7 accepts only `shared`, `private`, `slave`, `unbindable` there).
//! The standard `proc`, `tmpfs`, `devpts`, `sysfs`, `mqueue` and `cgroup` mounts are not binds and
//! only the propagation check concerns them.
//!
//! Limits: `ro` on a recursive bind makes only the top mount read-only (`rro` would need
//! `mount_setattr`, Linux 5.12); a relative source (relative to the bundle) and a symlink that
//! leads into a sensitive path are not detected.

use serde_json::Value;

use super::{strings, Proposal, RuleCtx};
use crate::policy::edit::Edit;
use crate::profile::Profile;

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

pub fn evaluate(spec: &Value, profile: &Profile, _ctx: &RuleCtx) -> Vec<Proposal> {
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
        let is_bind =
            m.get("type").and_then(Value::as_str) == Some("bind") || has("bind") || has("rbind");
        let source = m.get("source").and_then(Value::as_str).unwrap_or("");
        let mut reasons: Vec<String> = vec![];
        let mut new = options.clone();

        if is_bind && !source.is_empty() {
            let src = normalize(source);
            let what = format!("bind mount of {source} on {dest}");
            if has_dotdot(source) {
                out.push(Proposal::refuse(
                    format!("/mounts/{i}/source"),
                    format!(
                        "{what}: a source with '..' cannot be judged without following symlinks"
                    ),
                ));
                continue;
            }
            if is_socket(&src, profile) {
                out.push(Proposal::refuse(
                    format!("/mounts/{i}/source"),
                    format!("{what}: a runtime socket is the runtime's full api, even read-only"),
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
            let hit = src.starts_with('/')
                && profile
                    .mounts
                    .sensitive
                    .iter()
                    .any(|e| sensitive(&src, &normalize(e), profile));
            if hit && !effective(&options, "ro", "rw") {
                set_flag(&mut new, "ro", "rw");
                reasons.push(format!("{src} is a sensitive host path: made read-only"));
            }
            let device_ok = src.starts_with("/dev/") && super::devices::allowed_path(&src, profile);
            let mut added = vec![];
            for (flag, opposite) in [("nosuid", "suid"), ("nodev", "dev")] {
                if flag == "nodev" && device_ok {
                    continue;
                }
                if !effective(&options, flag, opposite) {
                    set_flag(&mut new, flag, opposite);
                    added.push(flag);
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
                format!("bind mount of {source} on {dest}")
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
        let s = spec(vec![m]);
        let r = run(evaluate, &s, p);
        assert_eq!(r.len(), 1, "{s}: {r:?}");
        assert_eq!(r[0].pointer, "/mounts/0/options");
        let out = fixed(evaluate, &s, p);
        (out["mounts"][0]["options"].clone(), r[0].message.clone())
    }

    fn refused(m: Value, p: &Profile) -> String {
        let r = run(evaluate, &spec(vec![m]), p);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(!r[0].fixable);
        assert_eq!(r[0].pointer, "/mounts/0/source");
        r[0].message.clone()
    }

    #[test]
    fn client_mounts() {
        let p = profile("restricted");
        // docker: the standard mounts are left alone; its own binds gain nosuid,nodev
        let r = run(evaluate, &docker_default(), &p);
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
        let out = fixed(evaluate, &docker_default(), &p);
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
        let s = spec(vec![
            bind(
                &format!("{cri}/shm"),
                "/dev/shm",
                &["rbind", "rprivate", "rw", "nosuid", "nodev"],
            ),
            bind(
                "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/9f8e/hosts",
                "/etc/hosts",
                &["rbind", "rprivate", "rw", "nosuid", "nodev"],
            ),
            bind(
                "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~projected/kube-api-access-x",
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
        ]);
        for name in ["restricted", "baseline", "permissive"] {
            assert!(run(evaluate, &s, &profile(name)).is_empty(), "{name}");
        }
    }

    #[test]
    fn sensitive_paths_become_read_only() {
        let p = profile("restricted");
        let cases = [
            (bind("/etc", "/host/etc", &["rbind", "rw"]), json!(["rbind", "ro", "nosuid", "nodev"]),
             "bind mount of /etc on /host/etc: /etc is a sensitive host path: made read-only; nosuid,nodev added"),
            // normalized, and below the entry
            (bind("//usr/./share/zoneinfo/", "/z", &["rbind", "nosuid", "nodev"]), json!(["rbind", "nosuid", "nodev", "ro"]),
             "bind mount of //usr/./share/zoneinfo/ on /z: /usr/share/zoneinfo is a sensitive host path: made read-only"),
            (json!({"destination": "/lib/modules", "type": "none", "source": "/lib/modules", "options": ["bind", "suid", "dev"]}), json!(["bind", "ro", "nosuid", "nodev"]),
             "bind mount of /lib/modules on /lib/modules: /lib/modules is a sensitive host path: made read-only; nosuid,nodev added"),
            (bind("/sys/fs/cgroup", "/sys/fs/cgroup", &["rbind", "nosuid", "nodev"]), json!(["rbind", "nosuid", "nodev", "ro"]),
             "bind mount of /sys/fs/cgroup on /sys/fs/cgroup: /sys/fs/cgroup is a sensitive host path: made read-only"),
            // "/" matches a bind of the root itself (non-recursive: it carries no /run)
            (bind("/", "/host", &["bind", "nosuid", "nodev"]), json!(["bind", "nosuid", "nodev", "ro"]),
             "bind mount of / on /host: / is a sensitive host path: made read-only"),
            // /dev itself, and a device node that is not allowed (nodev makes it unusable)
            (bind("/dev", "/dev", &["rbind"]), json!(["rbind", "ro", "nosuid", "nodev"]),
             "bind mount of /dev on /dev: /dev is a sensitive host path: made read-only; nosuid,nodev added"),
            (bind("/dev/sda", "/dev/sda", &["bind", "nosuid"]), json!(["bind", "nosuid", "ro", "nodev"]),
             "bind mount of /dev/sda on /dev/sda: /dev/sda is a sensitive host path: made read-only; nodev added"),
        ];
        for (m, want, msg) in cases {
            let (got, message) = one(m, &p);
            assert_eq!(got, want);
            assert_eq!(message, msg);
        }
        // read-only already, or not sensitive: only the flags
        for m in [
            bind("/etc/localtime", "/etc/localtime", &["rbind", "ro"]),
            bind("/etcetera", "/e", &["rbind"]),
            bind("/srv/data", "/data", &["rbind", "rw"]),
            bind("/usr2", "/u", &["rbind"]),
            bind("relative/dir", "/r", &["rbind"]),
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
        assert_eq!(got, json!(["rbind", "nosuid", "nodev"]));
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
        assert_eq!(got, json!(["rbind", "nosuid", "nodev", "ro"]));
    }

    #[test]
    fn propagation() {
        let p = profile("restricted");
        let (got, msg) = one(
            bind("/srv/a", "/a", &["rbind", "rshared", "nosuid", "nodev"]),
            &p,
        );
        assert_eq!(got, json!(["rbind", "nosuid", "nodev", "rprivate"]));
        assert_eq!(
            msg,
            "bind mount of /srv/a on /a: rshared propagation replaced by rprivate"
        );
        let (got, msg) = one(
            bind(
                "/srv/a",
                "/a",
                &["rbind", "shared", "rslave", "nosuid", "nodev"],
            ),
            &p,
        );
        assert_eq!(got, json!(["rbind", "rslave", "nosuid", "nodev"]));
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
