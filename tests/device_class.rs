//! Accelerator pods: a Kubernetes device plugin (NVIDIA's among them) hands its devices to the
//! runtime as `linux.devices` entries plus one device cgroup rule each. A profile's device class
//! keeps such devices only for a pod that a `device-class` exception authorizes (by its
//! Kubernetes namespace, vouched for by containerd's CRI path), only with the class's major
//! numbers (a driver's dynamic major read from `/proc/devices`), and the rest of the hardening
//! stays. No GPU here: the class under test is the kernel's `cpu/cpuid` driver (reading
//! `/dev/cpu/N/cpuid` at offset 0 returns CPUID leaf 0, harmless), through a node the test makes
//! at `/dev/hrtest-cpuid0` (`c 203:0`, mode 0666, as NVIDIA's nodes are), removed at the end.
//! Everything is checked from the kernel's side: what the container's process can read, its uid,
//! and the container's device cgroup.

mod common;

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

const NODE: &str = "/dev/hrtest-cpuid0";

/// The cpuid driver's character major on this host (`modprobe cpuid` if it is not loaded).
fn cpuid_major() -> i64 {
    let find = || {
        fs::read_to_string("/proc/devices")
            .unwrap()
            .lines()
            .take_while(|l| !l.starts_with("Block"))
            .find_map(|l| {
                let (n, name) = l.trim().split_once(' ')?;
                (name == "cpu/cpuid").then(|| n.parse().unwrap())
            })
    };
    if let Some(n) = find() {
        return n;
    }
    let _ = Command::new("modprobe").arg("cpuid").status();
    find().expect("the cpuid driver (cpu/cpuid in /proc/devices): modprobe cpuid")
}

/// The host node the class names, made for the test and removed when dropped.
struct Node;

impl Node {
    fn make(major: i64) -> Node {
        let _ = fs::remove_file(NODE);
        let ok = Command::new("mknod")
            .args(["-m", "0666", NODE, "c", &major.to_string(), "0"])
            .status()
            .unwrap();
        assert!(ok.success(), "mknod {NODE}");
        assert!(fs::metadata(NODE).unwrap().file_type().is_char_device());
        Node
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = fs::remove_file(NODE);
    }
}

/// `restricted` as `accel`, with a class `cpuid` (the driver's major by name) and an exception
/// for it in Kubernetes namespace `ml`.
fn accel_profile(w: &World) {
    let dir = w.dir.join("profiles");
    fs::create_dir_all(&dir).unwrap();
    let restricted =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/restricted.toml"))
            .unwrap();
    let text = restricted.replace("name = \"restricted\"", "name = \"accel\"")
        + "\n[[devices.classes]]\nname = \"cpuid\"\npaths = [\"/dev/hrtest-cpuid[0-9]*\"]\nmajors = [\"cpu/cpuid\"]\n\
           \n[[exceptions]]\nkind = \"device-class\"\nvalues = [\"cpuid\"]\nnamespaces = [\"ml\"]\ncomment = \"training jobs\"\n";
    fs::write(dir.join("accel.toml"), text).unwrap();
}

/// A pod's container spec as containerd's CRI writes it from a device plugin's answer: the node
/// (`major:minor`) and its cgroup rule.
fn pod(namespace: &str, major: i64, minor: i64) -> impl FnOnce(&mut Value) {
    let namespace = namespace.to_owned();
    move |s: &mut Value| {
        s["linux"]["devices"] = json!([{"path": NODE, "type": "c", "major": major, "minor": minor,
                                        "fileMode": 438, "uid": 0, "gid": 0}]);
        s["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": major, "minor": minor, "access": "rw"}
        ]);
        s["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": "trainer",
            "io.kubernetes.cri.sandbox-id": "0123456789abcdef",
            "io.kubernetes.cri.sandbox-name": "job",
            "io.kubernetes.cri.sandbox-namespace": namespace,
            "io.kubernetes.cri.image-name": "docker.io/library/busybox:latest"
        });
    }
}

/// What the container's process reports: its uid, and how many bytes of the node it read.
const PROBE: &str = "id -u; if [ -e /dev/hrtest-cpuid0 ]; then dd if=/dev/hrtest-cpuid0 bs=16 count=1 2>/dev/null | wc -c; else echo absent; fi";

/// Runs `id` in a pod of `namespace` under profile `accel`, as `run -d`, and returns (the
/// container's stdout, the device cgroup's list, the create record).
fn run_pod(
    w: &World,
    id: &str,
    namespace: &str,
    major: i64,
    minor: i64,
) -> (String, String, Value) {
    let (b, root) = w.cri_bundle(
        id,
        &["sh", "-c", &format!("{PROBE}; sleep 1000")],
        pod(namespace, major, minor),
    );
    let log = w.dir.join(format!("{id}.out"));
    let out = Command::new(bin())
        .arg("--root")
        .arg(&root)
        .args(["--profile", "accel", "run", "-d", "--bundle"])
        .arg(&b)
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(&log).unwrap())
        .stderr(fs::File::create(w.dir.join(format!("{id}.err"))).unwrap())
        .envs([("HARDRUN_CONFIG", w.dir.join("config.toml"))])
        .status()
        .unwrap();
    // (files, not pipes: the detached container inherits the caller's stdio)
    let err = fs::read_to_string(w.dir.join(format!("{id}.err"))).unwrap_or_default();
    assert!(out.success(), "{id}: {err}");
    let st = w.hr_in(&root, &["state", id]);
    let pid = serde_json::from_slice::<Value>(&st.stdout).unwrap()["pid"]
        .as_i64()
        .unwrap();
    // the device cgroup of the container's init, read from the host
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let list = if cgroup_v2() {
        String::new()
    } else {
        let path = cg
            .lines()
            .find_map(|l| l.split_once(":devices:").map(|(_, p)| p.to_owned()))
            .unwrap();
        fs::read_to_string(format!("/sys/fs/cgroup/devices{path}/devices.list")).unwrap()
    };
    let mut text = String::new();
    for _ in 0..100 {
        text = fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let record = w
        .audit()
        .into_iter()
        .rfind(|r| r["id"] == id && (r["command"] == "run" || r["command"] == "create"))
        .unwrap_or_else(|| panic!("{id}: no run record"));
    // a process exec'd into the container gets what its init got: the same answer to the probe,
    // and (read from the host) the same device cgroup and a non-root host uid
    let ex = w.hr_in(&root, &["exec", id, "sh", "-c", PROBE]);
    assert!(ex.status.success(), "{id}: exec: {}", stderr(&ex));
    assert_eq!(
        stdout(&ex),
        text,
        "{id}: the exec'd probe saw another device set than init"
    );
    let pidfile = w.dir.join(format!("{id}.exec.pid"));
    let ex = w.hr_in(
        &root,
        &[
            "exec",
            "-d",
            "--pid-file",
            pidfile.to_str().unwrap(),
            id,
            "sleep",
            "1000",
        ],
    );
    assert!(ex.status.success(), "{id}: exec -d: {}", stderr(&ex));
    let epid: i64 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let devices_of = |p: i64| {
        fs::read_to_string(format!("/proc/{p}/cgroup"))
            .unwrap()
            .lines()
            .find(|l| l.contains(":devices:") || l.starts_with("0::"))
            .map(str::to_owned)
            .unwrap()
    };
    assert_eq!(
        devices_of(epid),
        devices_of(pid),
        "{id}: the exec'd process is not in the container's device cgroup"
    );
    let status = fs::read_to_string(format!("/proc/{epid}/status")).unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert_ne!(
        uid, "0",
        "{id}: the exec'd process runs as host root: {status}"
    );
    let o = w.hr_in(&root, &["delete", "--force", id]);
    assert!(o.status.success(), "{}", stderr(&o));
    (text, list, record)
}

fn devices_findings(record: &Value) -> Vec<String> {
    record["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "devices")
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_device_class_reaches_only_an_authorized_pod_and_only_with_its_own_numbers() {
    let major = cpuid_major();
    let _node = Node::make(major);
    let w = World::new("devclass");
    accel_profile(&w);

    // namespace ml, authorized: the uid-65534 process reads CPUID through the node, the device
    // cgroup allows exactly that node, and the record names the class and the exception used
    let (out, list, record) = run_pod(&w, "dc-granted", "ml", major, 0);
    assert_eq!(out, "65534\n16\n", "granted pod: {out:?}");
    if !cgroup_v2() {
        assert!(
            list.lines().any(|l| l == format!("c {major}:0 rw")),
            "granted pod's devices.list: {list}"
        );
    }
    assert_eq!(record["exceptions_used"], json!(["accel#0"]), "{record}");
    let found = devices_findings(&record);
    assert!(
        found.iter().any(|m| m.contains(&format!(
            "device class cpuid kept ({NODE}), authorized by a device-class exception of profile accel"
        ))),
        "{found:?}"
    );

    // namespace default, not authorized: the pod runs hardened without the device (the node is
    // not in its /dev, the cgroup does not allow it), and the record says what to ask for
    let (out, list, record) = run_pod(&w, "dc-denied", "default", major, 0);
    assert_eq!(out, "65534\nabsent\n", "denied pod: {out:?}");
    if !cgroup_v2() {
        assert!(
            !list.contains(&format!("c {major}:0")),
            "denied pod's devices.list: {list}"
        );
    }
    let used = &record["exceptions_used"];
    assert!(used.is_null() || *used == json!([]), "{record}");
    let found = devices_findings(&record);
    assert!(
        found
            .iter()
            .any(|m| m
                .contains("device class cpuid needs a device-class exception of profile accel")),
        "{found:?}"
    );

    // namespace ml, but the node the spec names under the class's path is /dev/mem (c 1:1): not a
    // device of the class, removed with its cgroup rule, whatever the exception says
    let (out, list, record) = run_pod(&w, "dc-mem", "ml", 1, 1);
    assert_eq!(
        out, "65534\nabsent\n",
        "/dev/mem under a class name: {out:?}"
    );
    if !cgroup_v2() {
        assert!(!list.contains("c 1:1"), "devices.list: {list}");
    }
    let found = devices_findings(&record);
    assert!(
        found.iter().any(|m| m.contains(&format!(
            "{NODE} (c 1:1), which is not a character device of class cpuid (majors {major})"
        ))),
        "{found:?}"
    );
}
