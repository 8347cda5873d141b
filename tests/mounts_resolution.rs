//! Bind mount sources are judged as the host objects they name (issue 12, items 3–5): relative
//! sources resolve against the bundle whatever the caller's working directory, symlinks are
//! followed before a source is judged, unix sockets are refused by what they are (not by name),
//! and a read-only recursive bind is read-only in every submount. Every test calls hardrun from
//! a working directory that is not the bundle (`/` first), and reads what was mounted from the
//! host: the container's `/proc/<pid>/mountinfo`, the files a write would have reached.

mod common;

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

/// A bundle directory `name` in the world with `mounts` appended to the default spec.
fn bundle(w: &World, name: &str, args: &[&str], mounts: Vec<Value>) -> PathBuf {
    w.bundle_with(name, args, |s| {
        s["mounts"].as_array_mut().unwrap().extend(mounts);
    })
}

fn bind(source: impl AsRef<str>, dest: &str, options: &[&str]) -> Value {
    json!({"destination": dest, "type": "bind", "source": source.as_ref(), "options": options})
}

/// The mounts of a process at `dest` and below it, as (mount point, per-mount options), read
/// from the host.
fn mounts_under(pid: i64, dest: &str) -> Vec<(String, Vec<String>)> {
    let info = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    info.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let point = f[4];
            (point == dest || point.starts_with(&format!("{dest}/"))).then(|| {
                (
                    point.to_owned(),
                    f[5].split(',').map(str::to_owned).collect(),
                )
            })
        })
        .collect()
}

/// A host file that a failing test's container may have written: removed when the test ends.
struct Remove(&'static str);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.0);
    }
}

/// A tmpfs mounted on `dir` for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Tmpfs {
        fs::create_dir_all(dir).unwrap();
        let st = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=1m",
                "hardrun-test",
                dir.to_str().unwrap(),
            ])
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_relative_source_is_the_bundles_not_the_callers() {
    let w = World::new("mr-relative");
    let b = bundle(
        &w,
        "b",
        &[
            "sh",
            "-c",
            "cat /mnt/etc/marker; test -e /mnt/etc/os-release && echo host-etc; test -e /mnt/usr/bin && echo host-usr; true",
        ],
        vec![
            bind("etc", "/mnt/etc", &["rbind", "rw"]),
            bind("./usr/", "/mnt/usr", &["rbind", "rw"]),
        ],
    );
    fs::create_dir_all(b.join("etc")).unwrap();
    fs::write(b.join("etc/marker"), "the bundle's etc\n").unwrap();
    fs::create_dir_all(b.join("usr")).unwrap();
    for (cwd, profile, id) in [
        ("/", "baseline", "rel1"),
        ("/usr", "restricted", "rel2"),
        (w.dir.to_str().unwrap(), "permissive", "rel3"),
    ] {
        let out = w.hr_from(
            Path::new(cwd),
            &[
                "--profile",
                profile,
                "run",
                "--bundle",
                b.to_str().unwrap(),
                id,
            ],
        );
        assert!(
            out.status.success(),
            "{profile} from {cwd}: {}",
            stderr(&out)
        );
        assert_eq!(
            stdout(&out),
            "the bundle's etc\n",
            "{profile} from {cwd}: the host's directories were mounted"
        );
        w.assert_nothing_left(id);
    }
    // the record keeps the source as written; the spec that ran names the real path
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "allowed");
    let f = last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "mounts" && f["message"].as_str().unwrap().contains(" on /mnt/etc"))
        .cloned()
        .unwrap_or_default();
    let real = fs::canonicalize(b.join("etc")).unwrap();
    assert_eq!(
        f["message"],
        format!(
            "bind mount of etc ({}) on /mnt/etc: nosuid,nodev,rnosuid,rnodev added",
            real.display()
        ),
        "{last}"
    );
}

#[test]
fn a_symlink_in_the_bundle_is_judged_by_its_target() {
    let w = World::new("mr-symlink");
    let _cleanup = Remove("/usr/share/zoneinfo/hardrun-mr-pwned");
    let id = "sym1";
    let b = bundle(
        &w,
        "b",
        &[
            "sh",
            "-c",
            "touch /mnt/host/hardrun-mr-pwned 2>/dev/null && echo written; true",
        ],
        vec![bind("hostusr", "/mnt/host", &["rbind", "rw"])],
    );
    // a link to a sensitive host path: made read-only, whatever its name
    std::os::unix::fs::symlink("/usr/share/zoneinfo", b.join("hostusr")).unwrap();
    let pid_file = w.dir.join("sym1.pid");
    let out = w.hr_from(
        Path::new("/"),
        &[
            "--profile",
            "baseline",
            "create",
            "--bundle",
            b.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            id,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pid: i64 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let m = mounts_under(pid, "/mnt/host");
    assert!(!m.is_empty(), "nothing mounted on /mnt/host");
    for (point, opts) in &m {
        for flag in ["ro", "nosuid", "nodev"] {
            assert!(opts.contains(&flag.to_owned()), "{point}: {opts:?}");
        }
    }
    let out = w.hr(&["start", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.wait_status(id, "stopped");
    assert!(!Path::new("/usr/share/zoneinfo/hardrun-mr-pwned").exists());
    let out = w.hr(&["delete", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let f = w
        .audit()
        .iter()
        // the create's record; start and delete are recorded after it
        .filter_map(|r| r.get("findings").and_then(Value::as_array))
        .flatten()
        .find(|f| f["pointer"] == "/mounts/7/options")
        .cloned()
        .unwrap();
    assert_eq!(f["before"], json!(["rbind", "rw"]));
    assert_eq!(
        f["message"],
        "bind mount of hostusr (/usr/share/zoneinfo) on /mnt/host: /usr/share/zoneinfo is a sensitive host path: made read-only; nosuid,nodev,rro,rnosuid,rnodev added"
    );
}

/// Asserts that `create` from `/` refuses the bundle with one line naming the mount, and leaves
/// nothing behind.
fn refused(w: &World, profile: &str, b: &Path, id: &str, wants: &[&str]) {
    let out = w.hr_from(
        Path::new("/"),
        &[
            "--profile",
            profile,
            "create",
            "--bundle",
            b.to_str().unwrap(),
            id,
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{profile}: {err}");
    assert_eq!(err.lines().count(), 1, "{profile}: {err}");
    assert!(
        err.contains("rule mounts: bind mount of "),
        "{profile}: {err}"
    );
    for want in wants {
        assert!(err.contains(want), "{profile}: {err} lacks {want}");
    }
    w.assert_nothing_left(id);
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "denied", "{profile}");
    assert_eq!(last["rule"], "mounts", "{profile}");
}

#[test]
fn a_unix_socket_is_refused_whatever_its_name_or_path() {
    let w = World::new("mr-socket");
    let dir = w.dir.join("sockets");
    fs::create_dir_all(&dir).unwrap();
    // a listening socket, as a real service's would be
    let api = dir.join("api.sock");
    let _api = UnixListener::bind(&api).unwrap();
    let docker = dir.join("docker.sock");
    let _docker = UnixListener::bind(&docker).unwrap();
    // one named like nothing at all, reached through a symlink in the bundle
    let b = bundle(
        &w,
        "b-link",
        &["true"],
        vec![bind("control", "/run/control", &["bind", "ro"])],
    );
    std::os::unix::fs::symlink(&docker, b.join("control")).unwrap();
    let docker_real = fs::canonicalize(&docker).unwrap();
    let api_real = fs::canonicalize(&api).unwrap();
    for (n, profile) in ["restricted", "baseline", "ci-runner"].iter().enumerate() {
        refused(
            &w,
            profile,
            &b,
            &format!("link{n}"),
            &[
                &format!(
                    "bind mount of control ({}) on /run/control",
                    docker_real.display()
                ),
                "a runtime socket is the runtime's full api, even read-only",
            ],
        );
    }
    // an absolute symlink elsewhere on the host, and a socket with an unremarkable name
    let link = w.dir.join("innocent");
    std::os::unix::fs::symlink(&api, &link).unwrap();
    for (name, source, shown) in [
        (
            "b-abs",
            link.clone(),
            format!("{} ({})", link.display(), api_real.display()),
        ),
        ("b-api", api.clone(), api.display().to_string()),
    ] {
        let b = bundle(
            &w,
            name,
            &["true"],
            vec![bind(
                source.to_str().unwrap(),
                "/api.sock",
                &["rbind", "rw"],
            )],
        );
        for (n, profile) in ["restricted", "baseline", "ci-runner"].iter().enumerate() {
            refused(
                &w,
                profile,
                &b,
                &format!("{name}{n}"),
                &[
                    &format!("bind mount of {shown} on /api.sock"),
                    "is a unix socket",
                ],
            );
        }
    }
}

#[test]
fn read_only_recursive_binds_are_read_only_in_every_submount() {
    let w = World::new("mr-rro");
    let _cleanup = Remove("/dev/shm/hardrun-mr-pwned");
    // a directory with a tmpfs submount, bound `rbind,ro` by the spec
    let top = w.dir.join("data");
    fs::create_dir_all(&top).unwrap();
    let _sub = Tmpfs::mount(&top.join("sub"));
    let b = bundle(
        &w,
        "b",
        &[
            "sh",
            "-c",
            "touch /data/top-pwned /data/sub/sub-pwned /host-dev/shm/hardrun-mr-pwned 2>/dev/null; true",
        ],
        vec![
            bind(top.to_str().unwrap(), "/data", &["rbind", "ro"]),
            // made read-only by the rule (sensitive host paths): recursively too
            bind("/sys/fs/cgroup", "/host-cgroup", &["rbind", "rw"]),
            bind("/dev", "/host-dev", &["rbind"]),
            // `rrw` is applied after `ro` and clears it again: it must not get a sensitive
            // path through writable
            bind("/usr/share/zoneinfo", "/zone", &["bind", "ro", "rrw"]),
        ],
    );
    let id = "rro1";
    let pid_file = w.dir.join("rro1.pid");
    let out = w.hr_from(
        Path::new("/"),
        &[
            "--profile",
            "baseline",
            "create",
            "--bundle",
            b.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            id,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pid: i64 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for (dest, subs) in [
        ("/data", &["/data/sub"][..]),
        (
            "/host-cgroup",
            &["/host-cgroup/pids", "/host-cgroup/memory"][..],
        ),
        ("/host-dev", &["/host-dev/shm", "/host-dev/pts"][..]),
        ("/zone", &[][..]),
    ] {
        let m = mounts_under(pid, dest);
        for want in std::iter::once(&dest).chain(subs) {
            assert!(
                m.iter().any(|(p, _)| p == want),
                "{want} is not mounted: {m:?}"
            );
        }
        for (point, opts) in &m {
            for flag in ["ro", "nosuid", "nodev"] {
                assert!(opts.contains(&flag.to_owned()), "{point}: {opts:?}");
            }
        }
    }
    let out = w.hr(&["start", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.wait_status(id, "stopped");
    // the writes would have reached the host's directories
    assert!(!top.join("top-pwned").exists());
    assert!(!top.join("sub/sub-pwned").exists());
    assert!(!Path::new("/dev/shm/hardrun-mr-pwned").exists());
    let out = w.hr(&["delete", id]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn client_shaped_relative_sources_work_from_any_directory() {
    let w = World::new("mr-client");
    // runc's spec with the binds Docker and podman add, relative to the bundle as in their
    // bundles (`hostfiles/hosts`)
    let b = bundle(
        &w,
        "b",
        &["sh", "-c", "cat /etc/hosts /etc/hostname; ls /dev/shm"],
        vec![
            bind(
                "hostfiles/resolv.conf",
                "/etc/resolv.conf",
                &["rbind", "rprivate"],
            ),
            bind(
                "hostfiles/hostname",
                "/etc/hostname",
                &["rbind", "rprivate"],
            ),
            bind("hostfiles/hosts", "/etc/hosts", &["rbind", "rprivate"]),
            bind(
                "shm",
                "/dev/shm",
                &["rbind", "rprivate", "nosuid", "noexec", "nodev"],
            ),
        ],
    );
    fs::create_dir_all(b.join("hostfiles")).unwrap();
    fs::write(
        b.join("hostfiles/hosts"),
        "127.0.0.1 localhost bundle-hosts\n",
    )
    .unwrap();
    fs::write(b.join("hostfiles/hostname"), "bundle-host\n").unwrap();
    fs::write(b.join("hostfiles/resolv.conf"), "nameserver 127.0.0.53\n").unwrap();
    fs::create_dir_all(b.join("shm")).unwrap();
    fs::write(b.join("shm/in-shm"), "").unwrap();
    let mut n = 0;
    for cwd in ["/", "/tmp", w.dir.to_str().unwrap(), b.to_str().unwrap()] {
        for profile in ["restricted", "baseline", "permissive"] {
            n += 1;
            let id = format!("cl{n}");
            let out = w.hr_from(
                Path::new(cwd),
                &[
                    "--profile",
                    profile,
                    "run",
                    "--bundle",
                    b.to_str().unwrap(),
                    &id,
                ],
            );
            assert!(
                out.status.success(),
                "{profile} from {cwd}: {}",
                stderr(&out)
            );
            assert_eq!(
                stdout(&out),
                "127.0.0.1 localhost bundle-hosts\nbundle-host\nin-shm\n",
                "{profile} from {cwd}"
            );
            w.assert_nothing_left(&id);
        }
    }
}

#[test]
fn a_missing_source_fails_like_runc_and_creates_nothing() {
    let w = World::new("mr-missing");
    let b = bundle(
        &w,
        "b",
        &["true"],
        vec![bind("hostfiles/nope", "/etc/nope", &["rbind", "rprivate"])],
    );
    for (n, profile) in ["restricted", "permissive"].iter().enumerate() {
        let id = format!("miss{n}");
        let out = w.hr_from(
            Path::new("/"),
            &[
                "--profile",
                profile,
                "run",
                "--bundle",
                b.to_str().unwrap(),
                &id,
            ],
        );
        let err = stderr(&out);
        assert!(!out.status.success(), "{profile}");
        assert_eq!(err.lines().count(), 1, "{profile}: {err}");
        let real = fs::canonicalize(&b).unwrap().join("hostfiles/nope");
        for want in [
            "mounts[7]",
            "hostfiles/nope",
            &real.display().to_string(),
            "/etc/nope",
            "does not exist",
        ] {
            assert!(err.contains(want), "{profile}: {err} lacks {want}");
        }
        w.assert_nothing_left(&id);
        assert!(
            !b.join("hostfiles").exists(),
            "{profile}: the source was created"
        );
    }
}
