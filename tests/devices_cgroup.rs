//! The device cgroup, on whichever cgroup version the host runs: a container may create device
//! nodes (`CAP_MKNOD`, as Docker's default keeps), but may open only the devices its spec allows.
//! On cgroup v1 that is the `devices` controller; on cgroup v2 it is an eBPF program attached to
//! the container's cgroup, which hardrun's libcontainer must load (issue 17: without it, a
//! `baseline` container read the host's disk through a node it made itself).
//!
//! Each test makes a node of a real host block device inside the container (in `/dev`, a tmpfs
//! without `nodev`, so only the device cgroup stands in the way) and tries to read it, after
//! checking that the host itself can read that device.

mod common;

use std::fs;
use std::io::Read;
use std::path::Path;

use common::*;
use serde_json::json;

use hardrun::policy::rules::DOCKER_CAPS;

/// A block device that this host itself may open, as `major:minor`: the first of
/// `/sys/dev/block` (real disks before loop and ram devices) that opens through a node made in
/// `dir`. What the container is then refused is the device cgroup's doing, not a missing device
/// or the host's own restrictions (this sandbox, for one, may not open its own disk). Only the
/// open matters: a device may well be empty.
fn host_block_device(dir: &Path) -> (u32, u32) {
    let mut all = vec![];
    for e in fs::read_dir("/sys/dev/block").expect("/sys/dev/block") {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some((ma, mi)) = name.split_once(':') {
            if let (Ok(ma), Ok(mi)) = (ma.parse::<u32>(), mi.parse::<u32>()) {
                all.push((ma == 7 || ma == 1, ma, mi));
            }
        }
    }
    all.sort();
    let node = dir.join("host-node");
    let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
    for (_, ma, mi) in all {
        let _ = fs::remove_file(&node);
        // SAFETY: mknod with a valid NUL-terminated path; the kernel keeps no reference to it.
        let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(ma, mi)) };
        assert_eq!(
            r,
            0,
            "mknod on the host: {}",
            std::io::Error::last_os_error()
        );
        let opened = fs::File::open(&node).and_then(|mut f| f.read(&mut [0u8; 512]));
        fs::remove_file(&node).unwrap();
        if opened.is_ok() {
            return (ma, mi);
        }
    }
    panic!("this host may open none of the block devices in /sys/dev/block");
}

/// What dockerd hands a runtime (root, Docker's 14 capabilities, CAP_MKNOD among them, a
/// writable root), running `script`; its device rules are Docker's unless `devices` says.
fn docker_spec(w: &World, name: &str, script: &str, devices: Option<serde_json::Value>) -> String {
    let b = w.bundle_with(name, &["sh", "-c", script], |s| {
        s["process"]["capabilities"] = json!({
            "bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS
        });
        s["process"]["noNewPrivileges"] = json!(false);
        match devices {
            Some(d) => s["linux"]["resources"] = json!({ "devices": d }),
            None => {
                s["linux"].as_object_mut().unwrap().remove("resources");
            }
        }
    });
    b.to_str().unwrap().to_owned()
}

const READ_DISK: &str = r#"
mknod /dev/hostdisk b MAJ MIN && echo mknod=ok || echo mknod=denied
if head -c 512 /dev/hostdisk > /dev/null 2>/dev/null; then echo read=ok; else echo read=denied; fi
mknod /dev/null2 c 1 3 && echo x > /dev/null2 && echo null=ok || echo null=denied
"#;

fn run_read_disk(w: &World, profile: &str, id: &str, devices: Option<serde_json::Value>) -> String {
    let dev = host_block_device(&w.dir);
    let script = READ_DISK
        .replace("MAJ", &dev.0.to_string())
        .replace("MIN", &dev.1.to_string());
    let b = docker_spec(w, &format!("b-{id}"), &script, devices);
    let out = w.hr(&["--profile", profile, "run", "--bundle", &b, id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

/// `baseline` keeps CAP_MKNOD (as Docker does): a node of the host's disk can be made, never
/// read; a node of an allowed device works. Fails on a cgroup v2 host without the eBPF program.
#[test]
fn baseline_container_cannot_read_a_host_disk_through_its_own_node() {
    let w = World::new("dev-baseline");
    let out = run_read_disk(
        &w,
        "baseline",
        "dv1",
        Some(json!([{"allow": false, "access": "rwm"}])),
    );
    assert!(out.contains("mknod=ok"), "{out}");
    assert!(
        out.contains("read=denied"),
        "the container read the host's disk:\n{out}"
    );
    assert!(out.contains("null=ok"), "{out}");
}

/// Under `permissive` (audit only: nothing rewritten) the device cgroup is still default-deny,
/// as with runc, even when the caller's spec has no device rules at all (libcontainer applies
/// no cgroup settings without `linux.resources`, and on cgroup v1 appends rules to an allow-all
/// parent) or only an allow rule.
#[test]
fn device_access_is_default_deny_under_every_profile() {
    let w = World::new("dev-permissive");
    let out = run_read_disk(&w, "permissive", "dv2", None);
    assert!(
        out.contains("read=denied"),
        "no device rules: the container read the host's disk:\n{out}"
    );
    assert!(out.contains("null=ok"), "{out}");
    let out = run_read_disk(
        &w,
        "permissive",
        "dv3",
        Some(json!([{"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}])),
    );
    assert!(
        out.contains("read=denied"),
        "an allow rule only: the container read the host's disk:\n{out}"
    );
}

/// An `update` that names no devices keeps the container's device rules: on cgroup v2 every
/// apply replaces the eBPF program, which must still deny the disk and allow the spec's devices.
#[test]
fn update_keeps_the_device_rules() {
    let w = World::new("dev-update");
    let dev = host_block_device(&w.dir);
    let b = docker_spec(
        &w,
        "b-dv4",
        "sleep 30",
        Some(json!([{"allow": false, "access": "rwm"}])),
    );
    let out = w.hr(&["--profile", "baseline", "run", "-d", "--bundle", &b, "dv4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.hr(&["update", "--pids-limit", "500", "dv4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = READ_DISK
        .replace("MAJ", &dev.0.to_string())
        .replace("MIN", &dev.1.to_string());
    let out = w.hr(&["exec", "dv4", "sh", "-c", &script]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("read=denied"), "after update:\n{text}");
    assert!(text.contains("null=ok"), "after update:\n{text}");
    let _ = w.hr(&["delete", "--force", "dv4"]);
    w.assert_nothing_left("dv4");
}
