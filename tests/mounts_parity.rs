//! Mounts under `permissive` as runc makes them (issue 13, item 7, the cases runc's own
//! integration suite found): a read-only `/dev` is read-only once its device nodes are made; a
//! tmpfs without `mode=` takes the mode of the directory it covers; a bind whose destination
//! goes through a dangling symlink lands where the symlink points, inside the rootfs; and
//! `--no-pivot` leaves no full procfs in the container's mount namespace from which a user
//! namespace could mount a fresh one. Each test reads what a user would check: the container's
//! mountinfo from the host, `stat` inside, the files on the host.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

/// A bundle `name` whose rootfs is a private copy of the busybox rootfs (the tests change it),
/// running `args` under the world's default profile (`permissive`), with `edit` applied.
fn own_bundle(w: &World, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
    let b = w.bundle_with(name, args, |s| {
        s["root"]["path"] = json!("rootfs");
        edit(s)
    });
    rootfs_copy(&b.join("rootfs"), &[]);
    b
}

fn run(w: &World, b: &Path, id: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", "--bundle", b.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(id);
    let out = w.hr(&args);
    w.assert_nothing_left(id);
    out
}

/// The per-mount options of the mount of process `pid` at `point` (the last one, the one on top).
fn mount_options(pid: i64, point: &str) -> Vec<String> {
    let info = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    info.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[4] == point).then(|| f[5].split(',').map(str::to_owned).collect())
        })
        .next_back()
        .unwrap_or_else(|| panic!("nothing mounted at {point}:\n{info}"))
}

#[test]
fn a_read_only_dev_is_read_only_with_its_devices_in_it() {
    let w = World::new("mp-rodev");
    let b = w.bundle_with("b", &["sleep", "1000"], |s| {
        let dev = s["mounts"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|m| m["destination"] == "/dev")
            .unwrap();
        dev["options"].as_array_mut().unwrap().push(json!("ro"));
    });
    let pid_file = w.dir.join("rodev.pid");
    let out = w.hr(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        "rodev",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid: i64 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let dev = mount_options(pid, "/dev");
    assert!(
        dev.contains(&"ro".into()),
        "/dev is {dev:?}, runc mounts it ro"
    );
    assert!(dev.contains(&"nosuid".into()), "/dev lost nosuid: {dev:?}");
    // its submounts keep their own flags, as under runc
    for sub in ["/dev/shm", "/dev/pts", "/dev/mqueue"] {
        let o = mount_options(pid, sub);
        assert!(
            o.contains(&"rw".into()),
            "{sub} is {o:?}, runc leaves it rw"
        );
    }
    // the device nodes were made before it became read-only
    let null = fs::metadata(format!("/proc/{pid}/root/dev/null")).unwrap();
    assert_eq!(
        null.rdev(),
        libc::makedev(1, 3),
        "/dev/null is not the null device"
    );
    assert!(fs::File::create(format!("/proc/{pid}/root/dev/hardrun-x")).is_err());
    let out = w.hr(&["delete", "--force", "rodev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.assert_nothing_left("rodev");

    // the same `/dev` without `ro` stays writable
    let b = w.bundle("rw", &["sh", "-c", "touch /dev/x && echo written"]);
    let out = run(&w, &b, "rwdev", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "written\n");
}

#[test]
fn a_tmpfs_without_mode_takes_the_mode_of_the_directory_it_covers() {
    let w = World::new("mp-tmpfsmode");
    let tmpfs = |dest: &str, opts: &[&str]| json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts});
    let b = own_bundle(
        &w,
        "b",
        &[
            "stat",
            "-c",
            "%n %a",
            "/m0710",
            "/m1777",
            "/m0700ro",
            "/given",
            "/absent/dir",
        ],
        |s| {
            s["mounts"].as_array_mut().unwrap().extend([
                tmpfs("/m0710", &["rw", "nodev", "nosuid"]),
                tmpfs("/m1777", &["nosuid"]),
                tmpfs("/m0700ro", &["ro", "nosuid"]),
                // an explicit mode= wins over the directory's (runc >= 1.2; 1.1.5 chmods the
                // tmpfs to the directory's mode even then)
                tmpfs("/given", &["mode=1500"]),
                // nothing to inherit from: tmpfs's own default
                tmpfs("/absent/dir", &[]),
            ]);
        },
    );
    let root = b.join("rootfs");
    for (dir, mode) in [
        ("m0710", 0o710),
        ("m1777", 0o1777),
        ("m0700ro", 0o700),
        ("given", 0o710),
    ] {
        fs::create_dir(root.join(dir)).unwrap();
        fs::set_permissions(root.join(dir), fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = run(&w, &b, "tmode", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "/m0710 710\n/m1777 1777\n/m0700ro 700\n/given 1500\n/absent/dir 1777\n"
    );
    // the directories themselves are left as they were
    let mode = |d: &str| fs::metadata(root.join(d)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("given"), 0o710);
    assert_eq!(mode("m0700ro"), 0o700);
}

#[test]
fn a_bind_through_a_dangling_symlink_lands_where_it_points_inside_the_rootfs() {
    let w = World::new("mp-dangling");
    let src = w.dir.join("hosts-src");
    fs::write(&src, "the bundle's hosts\n").unwrap();
    let src_dir = w.dir.join("dir-src");
    fs::create_dir(&src_dir).unwrap();
    fs::write(src_dir.join("marker"), "a directory\n").unwrap();
    let bind = |src: &Path, dest: &str| json!({"destination": dest, "type": "bind", "source": src, "options": ["bind"]});
    let b = own_bundle(
        &w,
        "b",
        &[
            "sh",
            "-c",
            "cat /srv/foo/bar/baz/hosts /srv/hosts /srv/dir/marker /escape/hosts",
        ],
        |s| {
            s["mounts"].as_array_mut().unwrap().extend([
                // a dangling symlink in the middle of the path ...
                bind(&src, "/etc/hosts"),
                // ... at its end, a file and a directory ...
                bind(&src, "/etc/trailing"),
                bind(&src_dir, "/etc/trailing-dir"),
                // ... and one that climbs out: it stays in the rootfs, as in a chroot
                bind(&src, "/etc/climb"),
            ]);
        },
    );
    let root = b.join("rootfs");
    let _ = fs::remove_file(root.join("etc/hosts"));
    symlink("/srv/foo/bar", root.join("jump")).unwrap();
    symlink("/jump/baz/hosts", root.join("etc/hosts")).unwrap();
    symlink("/srv/hosts", root.join("etc/trailing")).unwrap();
    symlink("../srv/dir", root.join("etc/trailing-dir")).unwrap();
    symlink("../../../../../../../escape/hosts", root.join("etc/climb")).unwrap();
    let _ = fs::remove_dir_all(root.join("srv"));
    let out = run(&w, &b, "dangle", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "the bundle's hosts\nthe bundle's hosts\na directory\nthe bundle's hosts\n"
    );
    // the mount points were made inside the rootfs, where the symlinks point
    for (p, dir) in [
        ("srv/foo/bar/baz/hosts", false),
        ("srv/hosts", false),
        ("srv/dir", true),
        ("escape/hosts", false),
    ] {
        let md = fs::symlink_metadata(root.join(p))
            .unwrap_or_else(|e| panic!("{p} was not made in the rootfs: {e}"));
        assert_eq!(md.is_dir(), dir, "{p}");
    }
    assert!(
        !Path::new("/escape").exists(),
        "a mount point was made on the host"
    );

    // under restricted (a user namespace: the mount points are made from the host side) the
    // same bundle runs the same way and never reaches outside the rootfs either
    let _ = fs::remove_dir_all(root.join("escape"));
    let _ = fs::remove_dir_all(root.join("srv"));
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "dangle-r",
    ]);
    w.assert_nothing_left("dangle-r");
    assert!(
        !Path::new("/escape").exists(),
        "restricted: {}",
        stderr(&out)
    );
    assert!(out.status.success(), "restricted: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "the bundle's hosts\nthe bundle's hosts\na directory\nthe bundle's hosts\n"
    );
    assert!(root.join("escape/hosts").is_file());
}

/// A procfs mounted on the host outside the container's rootfs, unmounted when the test ends.
struct HostProc(PathBuf);

impl Drop for HostProc {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn no_pivot_leaves_no_full_procfs_for_a_user_namespace_to_mount_from() {
    let w = World::new("mp-nopivot");
    // a second full procfs on the host, besides /proc: runc hides every one, not only /proc
    let hostproc = w.dir.join("hostproc");
    fs::create_dir(&hostproc).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "proc", "proc"])
        .arg(&hostproc)
        .status()
        .unwrap();
    assert!(st.success());
    let _guard = HostProc(hostproc.clone());
    // runc's no_pivot.bats: a new user and mount namespace inside the container
    let b = w.bundle_with(
        "b",
        &[
            "unshare",
            "-mrpf",
            "sh",
            "-c",
            "mount -t proc none /proc && echo mounted && ls /proc/1/root/",
        ],
        |s| {
            for set in ["bounding", "permitted", "effective"] {
                s["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("CAP_SETFCAP"));
            }
        },
    );
    let out = run(&w, &b, "np1", &["--no-pivot"]);
    assert!(
        !stdout(&out).contains("mounted"),
        "a fresh procfs was mounted: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("mount: permission denied"),
        "{}",
        stderr(&out)
    );
    assert!(!out.status.success());
    // the host keeps both of its procfs mounts: the unmount stayed in the container
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let point = hostproc.to_str().unwrap();
    assert!(
        host.lines()
            .any(|l| l.split(' ').nth(4) == Some(point) && l.contains(" - proc ")),
        "{point} was unmounted on the host"
    );
    assert!(host.lines().any(|l| l.split(' ').nth(4) == Some("/proc")));

    // and an ordinary container still runs with --no-pivot, its own /proc in place
    let b = w.bundle("plain", &["sh", "-c", "head -1 /proc/self/status"]);
    let out = run(&w, &b, "np2", &["--no-pivot"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Name:\thead\n");
}
