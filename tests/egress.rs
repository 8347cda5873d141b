//! A profile's `[egress]` on real containers (as root): the nftables table `inet hardrun_egress`
//! that create loads into the container's network namespace before its process starts, what it
//! lets through and drops, and the monitor's `egress-denied` events from its counters.
//!
//! The network is the test's own: the container joins a network namespace the test makes
//! (`ip netns add`), tied by a veth pair to a second namespace the test owns (the peer), where
//! busybox `nc` listens. Both ends have private 10.200.N.0/30 addresses; no packet leaves this
//! machine, and none is ever sent to the metadata address: its drop rule is checked by reading
//! the ruleset back (`nsenter --net=/proc/PID/ns/net nft -j list ruleset`).

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::monitor::{is, Monitor};
use common::netns::{joins, Net};
use common::{stderr, stdout, World};
use serde_json::{json, Value};

/// A profile `name` in the world's config dir: the built-in `base` (restricted, permissive, ...)
/// renamed, with its `[egress]` (if any) replaced by `egress`.
fn profile(w: &World, base: &str, name: &str, egress: &str) {
    let dir = w.dir.join("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("profiles/{base}.toml")),
    )
    .unwrap();
    let mut text = text.replace(&format!("name = \"{base}\""), &format!("name = \"{name}\""));
    if let Some(start) = text.find("\n[egress]\n") {
        let end = text[start + 1..]
            .find("\n[")
            .map_or(text.len(), |i| start + 1 + i);
        text.replace_range(start..end, "\n");
    }
    text.push_str(&format!("\n[egress]\n{egress}\n"));
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

fn ok(w: &World, args: &[&str]) -> String {
    let out = w.hr(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out) + &stderr(&out)
}

fn pid(w: &World, id: &str) -> i64 {
    w.state(id)["pid"].as_i64().unwrap()
}

/// `nft -j list ruleset` inside the network namespace of process `pid`.
fn ruleset(pid: i64) -> Value {
    let out = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["nft", "-j", "list", "ruleset"])
        .output()
        .unwrap();
    assert!(out.status.success(), "nft list ruleset: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs bundle `b` detached as `id` under the built-in `restricted`; the ruleset of its network
/// namespace.
fn restricted_ruleset(w: &World, b: &Path, id: &str) -> Value {
    w.run_detached("restricted", b, id);
    ruleset(pid(w, id))
}

/// The rules of table `inet hardrun_egress` in a ruleset.
fn egress_rules(rs: &Value) -> Vec<Value> {
    rs["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i.get("rule"))
        .filter(|r| r["table"] == "hardrun_egress" && r["family"] == "inet")
        .cloned()
        .collect()
}

/// Whether table `inet hardrun_egress` has a rule that drops packets to `addr` (a bare address
/// as nft prints a /32 or /128), counted.
fn drops(rs: &Value, addr: &str) -> bool {
    egress_rules(rs).iter().any(|r| {
        let e = r["expr"].as_array().unwrap();
        e.iter().any(|x| x["match"]["right"] == addr)
            && e.iter().any(|x| x.get("counter").is_some())
            && e.iter().any(|x| x.get("drop").is_some())
    })
}

/// `nc` from inside the container to the peer's `port`: whether the connection was made.
fn connects(w: &World, id: &str, to: Ipv4Addr, port: u16) -> bool {
    let out = w.hr(&[
        "exec",
        id,
        "nc",
        "-w",
        "2",
        &to.to_string(),
        &port.to_string(),
        "-e",
        "true",
    ]);
    eprintln!(
        "nc {to}:{port}: {:?} {}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out.status.success()
}

/// The egress: a container in `restricted` (a copy with allow and deny entries and
/// default deny) reaches the allowed port, not the others; the metadata addresses are dropped
/// (read back, never tried); each refused attempt is an `egress-denied` event and a metric;
/// isolate/release leave the egress table in place.
#[test]
fn egress_allows_drops_reports_and_keeps_the_metadata_rule() {
    let w = World::new("egress");
    profile(
        &w,
        "restricted",
        "egress-test",
        "default = \"deny\"\nallow = [\"10.200.0.0/16:7001/tcp\"]\ndeny = [\"10.200.0.0/16:7003/tcp\"]\n",
    );
    let mut net = Net::new("eg", 200);
    for port in [7001, 7002, 7003] {
        net.listen(port);
    }
    let state = w.dir.join("monitor/state.json");
    let m = Monitor::start(&w, &state, &[]);
    let id = "egress-c1";
    let b = w.bundle_with(id, &["sleep", "1000"], joins(Net::path(&net.cns)));
    ok(
        &w,
        &[
            "--profile",
            "egress-test",
            "run",
            "-d",
            "--bundle",
            b.to_str().unwrap(),
            id,
        ],
    );
    let p = pid(&w, id);

    // the ruleset read back from the container's namespace: the metadata drops are there
    let rs = ruleset(p);
    assert!(drops(&rs, "169.254.169.254"), "{rs:#}");
    assert!(drops(&rs, "fd00:ec2::254"), "{rs:#}");
    // and they come first, before anything is accepted
    let first = &egress_rules(&rs)[0];
    assert!(first.to_string().contains("169.254.169.254"), "{first}");

    assert!(
        connects(&w, id, net.p_ip, 7001),
        "the allowed port is unreachable"
    );
    assert!(
        !connects(&w, id, net.p_ip, 7002),
        "a port no allow entry names was reached"
    );
    let refused_at = Instant::now();
    let ev = m.next("egress-denied (default)", |v| {
        is(v, "egress-denied", id) && v["details"]["rule"] == "default"
    });
    // within a few seconds of the attempt (the monitor reads the counters every 200 ms here)
    assert!(
        refused_at.elapsed() < Duration::from_secs(5),
        "egress-denied came {:?} after the attempt",
        refused_at.elapsed()
    );
    assert_eq!(ev["severity"], "high", "{ev}");
    assert_eq!(ev["profile"], "egress-test", "{ev}");
    assert!(ev["details"]["packets"].as_u64().unwrap() >= 1, "{ev}");
    assert!(
        ev["message"]
            .as_str()
            .unwrap()
            .contains("refused (default)"),
        "{ev}"
    );

    assert!(
        !connects(&w, id, net.p_ip, 7003),
        "a port a deny entry names was reached"
    );
    let ev = m.next("egress-denied (deny[0])", |v| {
        is(v, "egress-denied", id) && v["details"]["rule"] == "deny[0]"
    });
    assert_eq!(
        ev["details"]["destination"], "10.200.0.0/16:7003/tcp",
        "{ev}"
    );

    let metrics = m.scrape();
    assert!(
        metrics.contains(
            "hardrun_egress_denied_packets_total{profile=\"egress-test\",rule=\"default\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("hardrun_security_events_total{kind=\"egress-denied\",severity=\"high\"}"),
        "{metrics}"
    );

    // isolate adds its own table, release removes only that one
    ok(&w, &["isolate", "--reason", "egress test", id]);
    let tables: Vec<String> = ruleset(p)["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["table"]["name"].as_str().map(str::to_owned))
        .collect();
    assert!(
        tables.contains(&"hardrun_isolate".into()) && tables.contains(&"hardrun_egress".into()),
        "{tables:?}"
    );
    ok(&w, &["release", id]);
    let rs = ruleset(p);
    assert!(
        drops(&rs, "169.254.169.254"),
        "release removed the egress table: {rs:#}"
    );
    assert!(!rs.to_string().contains("hardrun_isolate"), "{rs:#}");
    assert!(
        connects(&w, id, net.p_ip, 7001),
        "no connection after release"
    );

    ok(&w, &["delete", "--force", id]);
    w.assert_nothing_left(id);
}

/// A container with a network namespace of its own under the built-in `restricted`: its table
/// refuses the metadata addresses and allows everything else; the host's ruleset never gets it.
#[test]
fn restricted_gets_the_metadata_drop_in_its_own_namespace_and_the_host_none() {
    let w = World::new("egress-own");
    let id = "egress-own";
    let b = w.bundle(id, &["sleep", "1000"]);
    let rs = restricted_ruleset(&w, &b, id);
    assert!(drops(&rs, "169.254.169.254"), "{rs:#}");
    assert!(drops(&rs, "fd00:ec2::254"), "{rs:#}");
    // default allow: the metadata drops are the only rules
    assert_eq!(egress_rules(&rs).len(), 2, "{rs:#}");
    let host = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    assert!(
        !stdout(&host).contains("hardrun_egress"),
        "{}",
        stdout(&host)
    );
    ok(&w, &["delete", "--force", id]);
    w.assert_nothing_left(id);
}

/// A container in the host's network namespace cannot be filtered without changing the host's
/// ruleset, which hardrun never does: it runs (only an exception lets one through restricted
/// and baseline), unfiltered, and create says so on stderr.
#[test]
fn a_host_network_container_runs_unfiltered_and_says_so() {
    let w = World::new("egress-host");
    profile(&w, "permissive", "egress-host", "default = \"deny\"\n");
    let id = "egress-host";
    let b = w.bundle_with(id, &["sleep", "1000"], |s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network");
    });
    let said = ok(
        &w,
        &[
            "--profile",
            "egress-host",
            "run",
            "-d",
            "--bundle",
            b.to_str().unwrap(),
            id,
        ],
    );
    assert!(
        said.contains(
            "shares the host's network namespace: [egress] of profile egress-host is not enforced"
        ),
        "{said}"
    );
    let host = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    assert!(
        !stdout(&host).contains("hardrun_egress"),
        "{}",
        stdout(&host)
    );
    ok(&w, &["delete", "--force", id]);
}

/// The file `libnftables.so.1` resolves to (the loader's cache, symlinks followed), which
/// hardrun loads in process (`runtime::nft`); None where it is not installed.
fn libnftables() -> Option<PathBuf> {
    let out = Command::new("ldconfig").arg("-p").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("libnftables.so.1 "))
        .filter_map(|l| l.split_once("=> ").map(|(_, p)| PathBuf::from(p.trim())))
        .chain(
            ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"]
                .iter()
                .map(|d| Path::new(d).join("libnftables.so.1")),
        )
        .find_map(|p| std::fs::canonicalize(p).ok())
}

/// `create` of a restricted container inside a private mount namespace where an empty file hides
/// libnftables and the `nft` binary is replaced by `false`; `native` false turns the netlink
/// fast path off (`HARDRUN_NFT_NATIVE=0`, debug builds), so that only nftables can load it.
fn create_without_nftables(w: &World, id: &str, native: bool) -> (Option<i32>, String) {
    let b = w.bundle(id, &["sleep", "1000"]);
    let nft = ["/usr/sbin/nft", "/sbin/nft"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("nft is missing: apt-get install nftables");
    let hr = w.hr_cmd(&[
        "--profile",
        "restricted",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        id,
    ]);
    let hide_lib = match libnftables() {
        Some(lib) => format!("mount --bind /dev/null {} && ", lib.display()),
        None => String::new(),
    };
    let inner = format!("{hide_lib}mount --bind /bin/false {nft} && exec \"$@\"");
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", &inner, "sh"]);
    c.arg(hr.get_program());
    c.args(hr.get_args());
    for (k, v) in hr.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if !native {
        c.env("HARDRUN_NFT_NATIVE", "0");
    }
    // stderr into a file, not a pipe: a container created after all keeps its stdio open
    let err_path = w.dir.join(format!("{id}.stderr"));
    let err_file = std::fs::File::create(&err_path).unwrap();
    let status = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .status()
        .unwrap();
    (status.code(), std::fs::read_to_string(&err_path).unwrap())
}

/// If the table cannot be loaded, the container is refused with one line and nothing is left:
/// it never starts less protected. (The fast path off, and nftables broken as above: the `nft`
/// binary's failure is the refusal.)
#[test]
fn a_table_that_cannot_be_loaded_refuses_the_container() {
    let w = World::new("egress-nft");
    let id = "egress-nft";
    let nft = ["/usr/sbin/nft", "/sbin/nft"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("nft is missing: apt-get install nftables");
    let (code, err) = create_without_nftables(&w, id, false);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "cannot load the egress table inet hardrun_egress ([egress] of profile restricted)"
        ) && err.contains("refused"),
        "{err}"
    );
    // the fallback ran: the binary's failure, not the library's
    assert!(err.contains(&format!("{nft} -f - failed")), "{err}");
    w.assert_nothing_left(id);
}

/// The table goes in as one netlink transaction of hardrun's own (`runtime::nft_batch`): with
/// libnftables hidden and `nft` broken, the container is created all the same, and its
/// namespace holds the same drops `nft` would have loaded (read back with the host's `nft`).
#[test]
fn the_table_loads_without_nftables() {
    let w = World::new("egress-native");
    let id = "egress-native";
    let (code, err) = create_without_nftables(&w, id, true);
    assert_eq!(code, Some(0), "{err}");
    let rs = ruleset(pid(&w, id));
    assert!(drops(&rs, "169.254.169.254"), "{rs:#}");
    assert!(drops(&rs, "fd00:ec2::254"), "{rs:#}");
    ok(&w, &["delete", "--force", id]);
    w.assert_nothing_left(id);
}

/// A bad entry fails the containers of that profile with one line naming the file and field.
#[test]
fn a_bad_entry_names_file_and_field() {
    let w = World::new("egress-bad");
    profile(
        &w,
        "restricted",
        "egress-bad",
        "allow = [\"10.0.0.1/8:443\"]\n",
    );
    let id = "egress-bad";
    let b = w.bundle(id, &["true"]);
    let out = w.hr(&[
        "--profile",
        "egress-bad",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        id,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "egress-bad.toml: egress.allow[0]: \"10.0.0.1/8:443\" is not a destination (host bits set"
        ),
        "{err}"
    );
    w.assert_nothing_left(id);
}

/// A pod under restricted, as containerd's CRI runs it: the sandbox joins the pod's network
/// namespace (the test's, standing in for CNI's) and its create loads the table; a container of
/// the pod joins the sandbox's namespaces (and so its user namespace) and keeps the table (one
/// table per namespace, its counters go on).
#[test]
fn a_pods_containers_keep_the_sandboxs_table() {
    let w = World::new("egress-pod");
    profile(
        &w,
        "restricted",
        "egress-pod",
        "deny = [\"10.200.0.0/16:7003/tcp\"]\n",
    );
    let mut net = Net::new("eg", 200);
    net.listen(7003);
    let cri = |kind: &'static str, netns: PathBuf| {
        move |s: &mut Value| {
            joins(netns)(s);
            s["annotations"] = json!({
                "io.kubernetes.cri.container-type": kind,
                "io.kubernetes.cri.sandbox-id": "0123456789abcdef",
                "io.kubernetes.cri.sandbox-name": "web",
                "io.kubernetes.cri.sandbox-namespace": "default",
            });
        }
    };
    let (b, root) = w.cri_bundle(
        "egress-sandbox",
        &["sleep", "1000"],
        cri("sandbox", Net::path(&net.cns)),
    );
    let out = w.hr_in(
        &root,
        &[
            "--profile",
            "egress-pod",
            "run",
            "-d",
            "--bundle",
            b.to_str().unwrap(),
            "egress-sandbox",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let st = w.hr_in(&root, &["state", "egress-sandbox"]);
    let sandbox_pid = serde_json::from_slice::<Value>(&st.stdout).unwrap()["pid"]
        .as_i64()
        .unwrap();
    // a refused attempt from the pod's namespace: counted
    let out = w.hr_in(
        &root,
        &[
            "exec",
            "egress-sandbox",
            "nc",
            "-w",
            "1",
            &net.p_ip.to_string(),
            "7003",
            "-e",
            "true",
        ],
    );
    assert!(!out.status.success(), "the denied port was reached");
    let counted = |pid: i64| -> u64 {
        let out = Command::new("nsenter")
            .arg(format!("--net=/proc/{pid}/ns/net"))
            .args([
                "nft",
                "-j",
                "list",
                "counter",
                "inet",
                "hardrun_egress",
                "deny_0",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|i| i["counter"]["packets"].as_u64())
            .unwrap()
    };
    let before = counted(sandbox_pid);
    assert!(before >= 1, "the drop was not counted");

    let (b, root) = w.cri_bundle(
        "egress-app",
        &["sleep", "1000"],
        cri(
            "container",
            PathBuf::from(format!("/proc/{sandbox_pid}/ns/net")),
        ),
    );
    let out = w.hr_in(
        &root,
        &[
            "--profile",
            "egress-pod",
            "run",
            "-d",
            "--bundle",
            b.to_str().unwrap(),
            "egress-app",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // kept, not loaded again: the counter went on
    assert_eq!(counted(sandbox_pid), before);
    let st = w.hr_in(&root, &["state", "egress-app"]);
    let app_pid = serde_json::from_slice::<Value>(&st.stdout).unwrap()["pid"]
        .as_i64()
        .unwrap();
    let ns = |pid: i64| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(
        ns(app_pid),
        ns(sandbox_pid),
        "the app is not in the pod's namespace"
    );
    // and it holds the app container too
    let out = w.hr_in(
        &root,
        &[
            "exec",
            "egress-app",
            "nc",
            "-w",
            "1",
            &net.p_ip.to_string(),
            "7003",
            "-e",
            "true",
        ],
    );
    assert!(
        !out.status.success(),
        "the denied port was reached from the app"
    );
    assert!(
        counted(sandbox_pid) > before,
        "the app's attempt was not counted"
    );
    let tables = Net::tables(&net.cns);
    assert_eq!(tables.matches("hardrun_egress").count(), 1, "{tables}");
    for id in ["egress-app", "egress-sandbox"] {
        let o = w.hr_in(&root, &["delete", "--force", id]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

/// A container that joins a network namespace someone else made (not a pod's container) gets
/// the profile's table, not one planted there before it: a table `inet hardrun_egress` with an
/// early rule that accepts the metadata address is replaced whole. (create tries `create table`
/// first, the fast load into a fresh namespace; that fails here, and the replacing script runs.)
#[test]
fn a_table_planted_in_a_joined_namespace_is_replaced() {
    let w = World::new("egress-planted");
    let net = Net::new("ep", 201);
    let planted = "table inet hardrun_egress {\n\tchain output {\n\t\ttype filter hook output priority -300; policy accept;\n\t\tip daddr 169.254.169.254 accept\n\t}\n}\n";
    let mut nft = Command::new("ip")
        .args(["netns", "exec", &net.cns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    nft.stdin
        .take()
        .unwrap()
        .write_all(planted.as_bytes())
        .unwrap();
    assert!(nft.wait().unwrap().success(), "planting the table failed");
    assert!(Net::tables(&net.cns).contains("hardrun_egress"));

    let id = "egress-planted";
    let b = w.bundle_with(id, &["sleep", "1000"], joins(Net::path(&net.cns)));
    let rs = restricted_ruleset(&w, &b, id);
    let rules = egress_rules(&rs);
    assert!(drops(&rs, "169.254.169.254"), "{rs:#}");
    assert!(drops(&rs, "fd00:ec2::254"), "{rs:#}");
    assert_eq!(rules.len(), 2, "the planted rule survived: {rs:#}");
    assert!(
        rules.iter().all(|r| !r.to_string().contains("accept")),
        "{rs:#}"
    );
    ok(&w, &["delete", "--force", id]);
    w.assert_nothing_left(id);
}
