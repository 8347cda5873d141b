//! `restricted` (the default profile) puts every container in a user namespace of its own: a host
//! id range leased from the pool, read here from the host (`/proc/<pid>/uid_map`, the `Uid:` line
//! of `/proc/<pid>/status`). With it on, what real clients hand the runtime must still run:
//! runc's and Docker's default specs (Docker's `net.ipv4.ping_group_range` clamped to the mapped
//! gids), an image without `/var` or `/run`, a rootfs and bind sources below directories the
//! mapped root cannot search (dockerd's, containerd's and podman's), `exec`, and a pod whose
//! containers join the sandbox's namespaces. Nothing may leak into the host's mount table.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::*;
use hardrun::policy::rules::DOCKER_CAPS;
use serde_json::json;

/// A world whose containers run under `restricted` with a user namespace pool of their own.
struct Restricted {
    w: World,
    alloc: PathBuf,
}

impl Restricted {
    fn new(name: &str) -> Self {
        let w = World::new(name);
        let alloc = w.dir.join("userns");
        Restricted { w, alloc }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.w.hr_cmd(&[]);
        c.env("HARDRUN_USERNS_DIR", &self.alloc);
        c.args(["--profile", "restricted"]);
        c.args(args);
        c
    }

    fn hr(&self, args: &[&str]) -> Output {
        output_via_files(self.cmd(args), &self.w.dir, Duration::from_secs(60))
    }

    /// `run -d`: the container's output goes to `<id>.out`.
    fn run_detached(&self, bundle: &Path, id: &str) -> i64 {
        let mut c = self.cmd(&["run", "-d", "--bundle", bundle.to_str().unwrap(), id]);
        c.stdout(fs::File::create(self.w.dir.join(format!("{id}.out"))).unwrap());
        let err = self.w.dir.join(format!("{id}.err"));
        c.stderr(fs::File::create(&err).unwrap());
        let st = c.status().unwrap();
        assert!(
            st.success(),
            "run -d {id}: {}",
            fs::read_to_string(&err).unwrap_or_default()
        );
        self.w.wait_status(id, "running");
        self.w.state(id)["pid"].as_i64().unwrap()
    }

    /// What a detached container printed, once it printed `lines` lines.
    fn output(&self, id: &str, lines: usize) -> String {
        let path = self.w.dir.join(format!("{id}.out"));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() >= lines {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id} never printed {lines} lines: {text:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn slots(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.alloc)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("slot-"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn delete(&self, id: &str) {
        let out = self.hr(&["delete", "--force", id]);
        assert!(out.status.success(), "delete {id}: {}", stderr(&out));
        self.w.assert_nothing_left(id);
    }
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The leased range of process `pid`, from the host: its uid_map must be one line
/// `0 <start> 65536` from the pool (never the identity map), its gid_map the same, and the
/// process must run as host uid/gid `start + 65534` (restricted's uid 65534). Returns `start`.
fn leased_range(pid: i64) -> u32 {
    let uid_map = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let gid_map = fs::read_to_string(format!("/proc/{pid}/gid_map")).unwrap();
    let f: Vec<&str> = uid_map.split_whitespace().collect();
    assert_eq!(f.len(), 3, "pid {pid}: uid_map {uid_map:?}");
    assert_ne!(
        words(&uid_map),
        "0 0 4294967295",
        "pid {pid}: the identity map"
    );
    assert_eq!(
        (f[0], f[2]),
        ("0", "65536"),
        "pid {pid}: uid_map {uid_map:?}"
    );
    let start: u32 = f[1].parse().unwrap();
    assert!(
        (100_000..100_000 + 64 * 65536).contains(&start) && (start - 100_000) % 65536 == 0,
        "pid {pid}: {start} is not a range of the pool"
    );
    assert_eq!(words(&gid_map), words(&uid_map), "pid {pid}: gid_map");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let host = start + 65534;
    for key in ["Uid:", "Gid:"] {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        assert_eq!(
            words(line),
            format!("{key} {host} {host} {host} {host}"),
            "pid {pid}"
        );
    }
    start
}

/// The user namespace of `pid` as the host sees it (`user:[inode]`).
fn userns_of(pid: i64) -> String {
    fs::read_link(format!("/proc/{pid}/ns/user"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Nothing of the bindings hardrun made for a user namespace reaches the host: no mount on its
/// tmpfs directory or below `dir` in the host's table, and the directory is empty here.
fn assert_no_host_mounts(dir: &Path) {
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.to_string_lossy();
    for l in mounts.lines() {
        assert!(
            !l.contains(dir.as_ref()) && !l.contains(hardrun::runtime::userns_mounts::MOUNT_DIR),
            "a mount leaked into the host's mount table: {l}"
        );
    }
    if let Ok(d) = fs::read_dir(hardrun::runtime::userns_mounts::MOUNT_DIR) {
        assert_eq!(
            d.count(),
            0,
            "{} is not empty in the host's view",
            hardrun::runtime::userns_mounts::MOUNT_DIR
        );
    }
}

/// What dockerd hands a runtime for `docker run --network none`: root, Docker's capabilities,
/// a writable root, Docker's mounts (its `cgroup` mount, `/dev/shm`, `/dev/mqueue`) with the
/// container's `hosts`, `resolv.conf` and `hostname` bound from `files`, Docker's sysctls
/// (`net.ipv4.ping_group_range: "0 2147483647"`), no user namespace.
fn docker_shaped(w: &World, name: &str, args: &[&str], root: &Path, files: &Path) -> PathBuf {
    fs::create_dir_all(files).unwrap();
    for (f, text) in [
        ("hosts", "127.0.0.1 localhost\n"),
        ("resolv.conf", "nameserver 127.0.0.53\n"),
        ("hostname", "docker-shaped\n"),
    ] {
        fs::write(files.join(f), text).unwrap();
        fs::set_permissions(files.join(f), fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (root, files) = (root.to_owned(), files.to_owned());
    w.bundle_with(name, args, move |s| {
        s["root"] = json!({"path": root, "readonly": false});
        s["process"]["capabilities"] = json!({
            "bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS
        });
        s["process"]["noNewPrivileges"] = json!(false);
        s["hostname"] = json!("docker-shaped");
        s["mounts"] = json!([
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
            {"destination": "/etc/resolv.conf", "type": "bind", "source": files.join("resolv.conf"), "options": ["rbind", "rprivate"]},
            {"destination": "/etc/hostname", "type": "bind", "source": files.join("hostname"), "options": ["rbind", "rprivate"]},
            {"destination": "/etc/hosts", "type": "bind", "source": files.join("hosts"), "options": ["rbind", "rprivate"]}
        ]);
        s["linux"]["namespaces"] = json!([
            {"type": "mount"}, {"type": "network"}, {"type": "uts"}, {"type": "pid"}, {"type": "ipc"}
        ]);
        s["linux"]["sysctl"] = json!({
            "net.ipv4.ip_unprivileged_port_start": "0",
            "net.ipv4.ping_group_range": "0 2147483647"
        });
        s["linux"].as_object_mut().unwrap().remove("resources");
    })
}

/// runc's default spec under restricted: the container runs in a user namespace of its own,
/// mapped to a leased range, as the kernel shows it from the host, and two containers get two
/// ranges; `delete` gives them back.
#[test]
fn runc_spec_runs_in_a_leased_range_one_per_container_released_on_delete() {
    let r = Restricted::new("und-runc");
    let b = r.w.bundle(
        "b",
        &["sh", "-c", "id -u; cat /proc/self/uid_map; exec sleep 60"],
    );
    let p1 = r.run_detached(&b, "r1");
    let p2 = r.run_detached(&b, "r2");
    let (s1, s2) = (leased_range(p1), leased_range(p2));
    assert_ne!(s1, s2, "two containers share a range");
    assert_ne!(userns_of(p1), userns_of(p2));
    // and inside: uid 65534, the same map
    let out = r.output("r1", 2);
    let lines: Vec<String> = out.lines().map(words).collect();
    assert_eq!(lines, ["65534".to_owned(), format!("0 {s1} 65536")]);
    for id in ["r1", "r2"] {
        r.w.assert_live(id);
    }
    assert_eq!(r.slots().len(), 2, "{:?}", r.slots());
    r.delete("r1");
    assert_eq!(r.slots().len(), 1, "{:?}", r.slots());
    r.delete("r2");
    assert!(r.slots().is_empty(), "{:?}", r.slots());
}

/// Docker's default spec under restricted: it starts (its `ping_group_range` clamped to the
/// gids the namespace maps, recorded as a `userns` finding), the process may open an ICMP
/// datagram socket (unprivileged ping) as gid 65534, Docker's bind mounts are readable, and
/// `/dev/shm`, `/dev/mqueue`, the tmpfs mounts and the cgroup mount work.
#[test]
fn dockers_default_spec_runs_with_ping_group_range_clamped() {
    let r = Restricted::new("und-docker");
    let root = r.w.dir.join("docker-rootfs");
    rootfs_copy(&root, &[]);
    fs::copy(probe_binary(), root.join("probe")).unwrap();
    let script = "id -u; cat /proc/sys/net/ipv4/ping_group_range; /probe syscall 41 2 2 1; \
                  cat /etc/hosts /etc/resolv.conf /etc/hostname; \
                  echo s > /dev/shm/s && cat /dev/shm/s; echo t > /tmp/t && cat /tmp/t; \
                  grep -c ' - mqueue ' /proc/self/mountinfo; cat /sys/fs/cgroup/pids/pids.max; \
                  exec sleep 60";
    let b = docker_shaped(
        &r.w,
        "b",
        &["sh", "-c", script],
        &root,
        &r.w.dir.join("containers/c1"),
    );
    let pid = r.run_detached(&b, "d1");
    let start = leased_range(pid);
    let out = r.output("d1", 10);
    let lines: Vec<String> = out.lines().map(words).collect();
    assert_eq!(lines[0], "65534", "{out}");
    assert_eq!(lines[1], "0 65535", "{out}");
    assert!(lines[2].starts_with("ok "), "ICMP datagram socket: {out}");
    assert_eq!(
        lines[3..],
        [
            "127.0.0.1 localhost",
            "nameserver 127.0.0.53",
            "docker-shaped",
            "s",
            "t",
            "1",
            "1024"
        ],
        "{out}"
    );
    // the clamp is a finding of the userns rule, with before and after
    let audit = r.w.audit();
    let f = audit.last().unwrap()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["pointer"] == "/linux/sysctl/net.ipv4.ping_group_range")
        .cloned()
        .expect("a ping_group_range finding");
    assert_eq!(f["code"], "userns");
    assert_eq!(f["action"], "enforce");
    assert_eq!(f["before"], "0 2147483647");
    assert_eq!(f["after"], "0 65535");
    r.w.assert_live("d1");
    // exec enters the same user namespace
    let out = r.hr(&["exec", "d1", "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().map(words).collect::<Vec<_>>(),
        ["65534".to_owned(), format!("0 {start} 65536")]
    );
    r.delete("d1");
    assert!(r.slots().is_empty());
}

/// An image without `/tmp`, `/var` or `/run`: the profile's tmpfs mount points are made from the
/// host side (the mapped root could not create them in a root-owned image), as empty
/// directories owned by root, and nothing else of the image changes.
#[test]
fn a_rootfs_without_var_and_run_works() {
    let r = Restricted::new("und-novar");
    let root = r.w.dir.join("bare-rootfs");
    rootfs_copy(&root, &["var", "run", "tmp"]);
    let before: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let b = r.w.bundle_with(
        "b",
        &[
            "sh",
            "-c",
            "for d in /tmp /var/tmp /run; do echo x > $d/f && grep -c \" $d .* - tmpfs \" /proc/self/mountinfo; done; exec sleep 60",
        ],
        |s| s["root"]["path"] = json!(root),
    );
    let pid = r.run_detached(&b, "n1");
    leased_range(pid);
    assert_eq!(
        r.output("n1", 3).lines().collect::<Vec<_>>(),
        ["1", "1", "1"]
    );
    r.w.assert_live("n1");
    r.delete("n1");
    // the image got the empty mount points, nothing more
    let mut after: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    after.retain(|n| !before.contains(n));
    after.sort();
    assert_eq!(after, ["run", "tmp", "var"]);
    for d in ["run", "tmp", "var", "var/tmp"] {
        let md = fs::symlink_metadata(root.join(d)).unwrap();
        assert!(md.is_dir(), "{d}");
        assert_eq!((md.uid(), md.mode() & 0o7777), (0, 0o755), "{d}");
        let n = fs::read_dir(root.join(d)).unwrap().count();
        assert_eq!(n, usize::from(d == "var"), "{d} is not empty");
    }
}

/// A rootfs below a 0700 directory and bind sources below 0710 ones (where dockerd, containerd
/// and podman keep them): the container runs, reads its bind mounts, and the bindings hardrun
/// made to reach them never show in the host's mount table, during the container's life or
/// after; the caller's directories keep their modes.
#[test]
fn a_rootfs_and_bind_sources_below_closed_directories_work() {
    let r = Restricted::new("und-closed");
    let private = r.w.dir.join("private");
    let root = private.join("overlay2/abc/merged");
    rootfs_copy(&root, &[]);
    let files = r.w.dir.join("data/containers/c1");
    let script =
        "cat /etc/hosts /etc/hostname; ls /run/hardrun-userns-mnt 2>&1 | head -1; exec sleep 60";
    let b = docker_shaped(&r.w, "b", &["sh", "-c", script], &root, &files);
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(r.w.dir.join("data"), fs::Permissions::from_mode(0o710)).unwrap();
    fs::set_permissions(
        r.w.dir.join("data/containers"),
        fs::Permissions::from_mode(0o710),
    )
    .unwrap();
    let pid = r.run_detached(&b, "c1");
    leased_range(pid);
    let out = r.output("c1", 3);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..2],
        ["127.0.0.1 localhost", "docker-shaped"],
        "{out}"
    );
    // the container does not see hardrun's tmpfs either (it is left behind at pivot_root)
    assert!(lines[2].contains("No such file or directory"), "{out}");
    let inside = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(
        !inside.contains(hardrun::runtime::userns_mounts::MOUNT_DIR),
        "{inside}"
    );
    assert_no_host_mounts(&r.w.dir);
    r.w.assert_live("c1");
    // exec works the same
    let out = r.hr(&["exec", "c1", "cat", "/etc/hostname"]);
    assert_eq!(stdout(&out), "docker-shaped\n", "{}", stderr(&out));
    r.delete("c1");
    assert_no_host_mounts(&r.w.dir);
    assert_eq!(
        fs::metadata(&private).unwrap().mode() & 0o7777,
        0o700,
        "the caller's directory was changed"
    );
    assert!(r.slots().is_empty());

    // the rootfs's own directory is the container's /: closed, it is refused with its name
    let closed = r.w.dir.join("closed-rootfs");
    rootfs_copy(&closed, &[]);
    fs::set_permissions(&closed, fs::Permissions::from_mode(0o700)).unwrap();
    let b =
        r.w.bundle_with("b2", &["true"], |s| s["root"]["path"] = json!(closed));
    let out = r.hr(&["create", "--bundle", b.to_str().unwrap(), "c2"]);
    assert!(!out.status.success());
    let err = r.w.last_log_error().unwrap_or_default();
    assert!(
        err.starts_with(&format!("rootfs {} (mode 0700", closed.display())),
        "{err}"
    );
    r.w.assert_nothing_left("c2");
    assert!(r.slots().is_empty());
}

/// A pod, as containerd's CRI builds it: the sandbox gets its own range; a container that joins
/// the sandbox's ipc and uts namespaces joins its user namespace (it could not enter them from
/// a namespace of its own) and leases nothing; exec into it runs in that namespace.
#[test]
fn a_pod_container_joins_the_sandboxs_user_namespace() {
    let r = Restricted::new("und-pod");
    let sb = r.w.bundle("sb", &["sleep", "60"]);
    let spid = r.run_detached(&sb, "sandbox");
    let start = leased_range(spid);
    let app = r.w.bundle_with(
        "app",
        &["sh", "-c", "id -u; hostname; exec sleep 60"],
        |s| {
            let ns = s["linux"]["namespaces"].as_array_mut().unwrap();
            for n in ns.iter_mut() {
                if n["type"] == "ipc" || n["type"] == "uts" {
                    let kind = n["type"].as_str().unwrap().to_owned();
                    n["path"] = json!(format!("/proc/{spid}/ns/{kind}"));
                }
            }
            s.as_object_mut().unwrap().remove("hostname");
        },
    );
    let apid = r.run_detached(&app, "app");
    assert_eq!(leased_range(apid), start);
    assert_eq!(userns_of(apid), userns_of(spid));
    for kind in ["ipc", "uts"] {
        assert_eq!(
            fs::read_link(format!("/proc/{apid}/ns/{kind}")).unwrap(),
            fs::read_link(format!("/proc/{spid}/ns/{kind}")).unwrap(),
            "{kind}"
        );
    }
    assert_eq!(
        r.output("app", 2).lines().collect::<Vec<_>>(),
        ["65534", "hardrun-test"]
    );
    assert_eq!(r.slots().len(), 1, "{:?}", r.slots());
    r.w.assert_live("app");
    let out = r.hr(&["exec", "app", "cat", "/proc/self/uid_map"]);
    assert_eq!(
        words(&stdout(&out)),
        format!("0 {start} 65536"),
        "{}",
        stderr(&out)
    );
    r.delete("app");
    r.delete("sandbox");
    assert!(r.slots().is_empty());

    // a sandbox that is created, not started (its init not yet exec'd): its namespace files
    // cannot be opened from inside its user namespace, so they are opened before it is entered
    let out = r.hr(&["create", "--bundle", sb.to_str().unwrap(), "sandbox2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spid = r.w.state("sandbox2")["pid"].as_i64().unwrap();
    let app =
        r.w.bundle_with("app2", &["sh", "-c", "echo $$; exec sleep 60"], |s| {
            let ns = s["linux"]["namespaces"].as_array_mut().unwrap();
            for n in ns.iter_mut() {
                if n["type"] == "pid" || n["type"] == "ipc" {
                    let kind = n["type"].as_str().unwrap().to_owned();
                    n["path"] = json!(format!("/proc/{spid}/ns/{kind}"));
                }
            }
        });
    let apid = r.run_detached(&app, "app2");
    assert_eq!(userns_of(apid), userns_of(spid));
    assert_eq!(
        fs::read_link(format!("/proc/{apid}/ns/pid")).unwrap(),
        fs::read_link(format!("/proc/{spid}/ns/pid")).unwrap()
    );
    // in the sandbox's pid namespace, where the sandbox's init is 1
    assert_ne!(r.output("app2", 1).trim(), "1");
    r.delete("app2");
    r.delete("sandbox2");
    assert!(r.slots().is_empty());
}

/// A network namespace pinned on a file, as a CNI plugin pins a Kubernetes pod's under
/// /run/netns (owned by the host's user namespace); unmounted when dropped.
struct PinnedNetns(PathBuf);

impl PinnedNetns {
    fn new(path: PathBuf) -> Self {
        fs::write(&path, "").unwrap();
        let out = std::process::Command::new("unshare")
            .arg(format!("--net={}", path.display()))
            .arg("true")
            .output()
            .unwrap();
        assert!(out.status.success(), "unshare --net: {}", stderr(&out));
        PinnedNetns(path)
    }

    fn ino(&self) -> u64 {
        fs::metadata(&self.0).unwrap().ino()
    }
}

impl Drop for PinnedNetns {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A Kubernetes pod with CNI networking, as containerd's CRI builds it: the sandbox joins a
/// network namespace the CNI pinned (owned by the host's user namespace) and gets a user
/// namespace of its own; its containers join the sandbox's namespaces. The network namespace is
/// entered before the user namespace (from inside it, setns needs CAP_SYS_ADMIN over the host's
/// user namespace), and /sys, which cannot be mounted there, is the host's, read-only.
#[test]
fn a_pod_in_a_pinned_network_namespace_runs_with_its_own_range() {
    let r = Restricted::new("und-cni");
    let netns = PinnedNetns::new(r.w.dir.join("cni-netns"));
    let probe = "awk '$5 == \"/sys\" { print $6 }' /proc/self/mountinfo; touch /sys/x 2>&1 | grep -c Read-only; exec sleep 60";
    let sb = r.w.bundle_with("sb", &["sh", "-c", probe], |s| {
        for n in s["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                n["path"] = json!(netns.0);
            }
        }
    });
    let spid = r.run_detached(&sb, "sandbox");
    let start = leased_range(spid);
    let net = |pid: i64| fs::metadata(format!("/proc/{pid}/ns/net")).unwrap().ino();
    assert_eq!(net(spid), netns.ino());
    let out = r.output("sandbox", 2);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ro,"), "{out}");
    assert_eq!(lines[1], "1", "{out}");
    r.w.assert_live("sandbox");

    let app =
        r.w.bundle_with("app", &["sh", "-c", "id -u; exec sleep 60"], |s| {
            for n in s["linux"]["namespaces"].as_array_mut().unwrap() {
                let kind = n["type"].as_str().unwrap().to_owned();
                let file = match kind.as_str() {
                    "network" => "net",
                    "ipc" | "uts" => kind.as_str(),
                    _ => continue,
                };
                n["path"] = json!(format!("/proc/{spid}/ns/{file}"));
            }
            s.as_object_mut().unwrap().remove("hostname");
        });
    let apid = r.run_detached(&app, "app");
    assert_eq!(leased_range(apid), start);
    assert_eq!(userns_of(apid), userns_of(spid));
    assert_eq!(net(apid), netns.ino());
    assert_eq!(r.output("app", 1).trim(), "65534");
    r.w.assert_live("app");
    let out = r.hr(&["exec", "app", "cat", "/proc/self/uid_map"]);
    assert_eq!(
        words(&stdout(&out)),
        format!("0 {start} 65536"),
        "{}",
        stderr(&out)
    );
    r.delete("app");
    r.delete("sandbox");
    assert!(r.slots().is_empty());
    assert_no_host_mounts(&r.w.root);
}
