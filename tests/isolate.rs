//! `hardrun isolate` / `release` and the incident store, on real containers (as root).
//!
//! The network tests build their own network: the container joins a network namespace the test
//! makes (`ip netns add`), tied by a veth pair to a second namespace the test owns (the peer).
//! Nothing leaves this machine: both ends are private namespaces with 10.77.N.0/30 addresses.
//! Connections are made from threads that entered a namespace (`setns` is per thread for
//! network namespaces), so what is checked is what the kernel lets through.

mod common;

use std::net::{SocketAddr, SocketAddrV4, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

use common::netns::{joins, Net};
use common::{stderr, stdout, World};
use serde_json::Value;

/// A world whose incidents go to its own directory.
fn world(name: &str) -> World {
    let w = World::new(name);
    let cfg = w.dir.join("config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "incidents_dir = \"{}\"\n",
        w.dir.join("incidents").display()
    ));
    std::fs::write(&cfg, text).unwrap();
    w
}

/// A container in `net`'s container namespace serving TCP on port 7000 (busybox `nc -ll`).
fn serving_container(w: &World, net: &Net, id: &str) {
    let b = w.bundle_with(
        id,
        &["sh", "-c", "nc -ll -p 7000 -e true"],
        joins(Net::path(&net.cns)),
    );
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), id]);
    assert!(out.status.success(), "run {id}: {}", stderr(&out));
    // the listener is up (a connection from the peer gets through): the network works before
    let to = SocketAddr::V4(SocketAddrV4::new(net.c_ip, 7000));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !Net::connects(&net.pns, to) {
        assert!(
            Instant::now() < deadline,
            "container {id} never listened on {to}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sleeper(w: &World, id: &str) {
    let b = w.bundle(id, &["sleep", "1000"]);
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), id]);
    assert!(out.status.success(), "run {id}: {}", stderr(&out));
}

fn ok(w: &World, args: &[&str]) -> String {
    let out = w.hr(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// `args` fails; its stderr (the one-line error).
fn refused(w: &World, args: &[&str]) -> String {
    let out = w.hr(args);
    assert!(
        !out.status.success(),
        "{args:?} succeeded: {}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert_eq!(
        err.trim().lines().count(),
        1,
        "{args:?}: not one line: {err}"
    );
    err
}

/// The "done when": isolate freezes (the kernel's freezer), cuts the network both ways
/// (a connect from inside the container's namespace fails, its listening socket is unreachable
/// from the peer) and refuses exec and update; release restores all of them.
#[test]
fn isolate_freezes_cuts_network_refuses_exec_and_release_restores() {
    let w = world("iso-net");
    let net = Net::new("iso", 77);
    let id = "iso-net";
    serving_container(&w, &net, id);
    let peer_listener = Net::within(&net.pns, {
        let p = net.p_ip;
        move || TcpListener::bind(SocketAddrV4::new(p, 7001)).unwrap()
    });
    let to_peer = SocketAddr::V4(SocketAddrV4::new(net.p_ip, 7001));
    let to_container = SocketAddr::V4(SocketAddrV4::new(net.c_ip, 7000));
    assert!(
        Net::connects(&net.cns, to_peer),
        "no connection out before isolate"
    );
    assert!(!w.cgroup_frozen(id));

    let said = ok(&w, &["isolate", "--reason", "crypto miner", id]);
    assert!(
        said.contains("isolated") && said.contains("network cut"),
        "{said}"
    );
    assert!(w.cgroup_frozen(id), "isolate did not freeze the cgroup");
    assert_eq!(w.state(id)["status"], "paused");
    let tables = Net::tables(&net.cns);
    assert!(tables.contains("table inet hardrun_isolate"), "{tables}");
    assert!(
        !Net::connects(&net.cns, to_peer),
        "a connection from the isolated container's namespace got out"
    );
    assert!(
        !Net::connects(&net.pns, to_container),
        "the isolated container's listening socket is reachable from its peer"
    );
    // the peer's own network is untouched
    assert!(!Net::tables(&net.pns).contains("hardrun_isolate"));

    let err = refused(&w, &["exec", id, "true"]);
    assert!(
        err.contains("refused: the container is isolated") && err.contains("crypto miner"),
        "{err}"
    );
    assert!(err.contains(&format!("hardrun release {id}")), "{err}");
    let err = refused(&w, &["exec", "--ignore-paused", id, "true"]);
    assert!(err.contains("isolated"), "{err}");
    let err = refused(&w, &["update", "--memory", "64m", id]);
    assert!(
        err.contains("update container") && err.contains("isolated"),
        "{err}"
    );
    let err = refused(&w, &["resume", id]);
    assert!(err.contains("isolated"), "{err}");
    assert!(w.cgroup_frozen(id), "a refused resume thawed it");

    let said = ok(&w, &["release", id]);
    assert!(said.contains("released"), "{said}");
    assert!(!w.cgroup_frozen(id), "release did not thaw the cgroup");
    assert_eq!(w.state(id)["status"], "running");
    assert!(!Net::tables(&net.cns).contains("hardrun_isolate"));
    assert!(
        Net::connects(&net.cns, to_peer),
        "no connection out after release"
    );
    assert!(
        Net::connects(&net.pns, to_container),
        "the container's listener is unreachable after release"
    );
    ok(&w, &["exec", id, "true"]);
    ok(&w, &["update", "--memory", "64m", id]);
    drop(peer_listener);

    // the refused exec and update are on record as failed attempts, naming the isolation
    let attempts: Vec<String> = w
        .audit()
        .iter()
        .filter(|r| r["id"] == id && (r["command"] == "exec" || r["command"] == "update"))
        .filter(|r| r["decision"] == "failed")
        .map(|r| r["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|r| r.contains("the container is isolated")),
        "{attempts:?}"
    );

    // both are audit records
    let steps: Vec<(String, String)> = w
        .audit()
        .iter()
        .filter(|r| r["id"] == id && (r["command"] == "isolate" || r["command"] == "release"))
        .map(|r| {
            (
                r["command"].as_str().unwrap().to_owned(),
                r["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("isolate".into(), "done".into()),
            ("release".into(), "done".into())
        ]
    );
}

/// Isolating twice, releasing a container that is not isolated and isolating a stopped one are
/// refused with one clear line each, and change nothing.
#[test]
fn isolate_twice_release_unisolated_and_stopped_are_refused() {
    let w = world("iso-errors");
    sleeper(&w, "iso-e1");
    let err = refused(&w, &["release", "iso-e1"]);
    assert!(
        err.contains("release container \"iso-e1\": it is not isolated"),
        "{err}"
    );
    ok(&w, &["isolate", "iso-e1"]);
    let err = refused(&w, &["isolate", "iso-e1"]);
    assert!(err.contains("already isolated"), "{err}");
    assert!(w.cgroup_frozen("iso-e1"));
    ok(&w, &["release", "iso-e1"]);
    assert!(!w.cgroup_frozen("iso-e1"));

    let b = w.bundle("iso-e2", &["true"]);
    ok(
        &w,
        &["run", "-d", "--bundle", b.to_str().unwrap(), "iso-e2"],
    );
    w.wait_status("iso-e2", "stopped");
    let err = refused(&w, &["isolate", "iso-e2"]);
    assert!(err.contains("it is stopped, not running"), "{err}");
    assert!(!w.root.join("iso-e2/isolated.json").exists());
    let err = refused(&w, &["isolate", "no-such"]);
    assert!(err.contains("does not exist"), "{err}");
}

/// kill and delete still work on an isolated container, and leave no table in a network
/// namespace that outlives it, no frozen cgroup and no state behind.
#[test]
fn kill_and_delete_of_isolated_containers_leave_nothing() {
    let w = world("iso-delete");
    let (n1, n2) = (Net::new("iso", 77), Net::new("iso", 77));
    // kill, then delete
    serving_container(&w, &n1, "iso-d1");
    ok(&w, &["isolate", "iso-d1"]);
    assert!(Net::tables(&n1.cns).contains("hardrun_isolate"));
    ok(&w, &["kill", "iso-d1", "KILL"]);
    w.wait_status("iso-d1", "stopped");
    ok(&w, &["delete", "iso-d1"]);
    w.assert_nothing_left("iso-d1");
    assert!(!Net::tables(&n1.cns).contains("hardrun_isolate"));
    // delete --force of a running isolated one
    serving_container(&w, &n2, "iso-d2");
    ok(&w, &["isolate", "iso-d2"]);
    ok(&w, &["delete", "--force", "iso-d2"]);
    w.assert_nothing_left("iso-d2");
    assert!(!Net::tables(&n2.cns).contains("hardrun_isolate"));
    // the namespace works again: nothing of the isolation is left in it
    let p = n2.p_ip;
    let _l = Net::within(&n2.pns, move || {
        TcpListener::bind(SocketAddrV4::new(p, 7002)).unwrap()
    });
    assert!(Net::connects(
        &n2.cns,
        SocketAddr::V4(SocketAddrV4::new(p, 7002))
    ));
}

/// A container in the host's network namespace is frozen, but the host's ruleset is left alone,
/// and the message says so.
#[test]
fn host_network_container_is_frozen_and_host_ruleset_untouched() {
    let w = world("iso-hostnet");
    let id = "iso-host";
    let b = w.bundle_with(id, &["sleep", "1000"], |s: &mut Value| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network");
    });
    ok(&w, &["run", "-d", "--bundle", b.to_str().unwrap(), id]);
    let said = ok(&w, &["isolate", id]);
    assert!(said.contains("network NOT cut"), "{said}");
    assert!(said.contains("host's network namespace"), "{said}");
    assert!(w.cgroup_frozen(id));
    let host = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    assert!(
        !stdout(&host).contains("hardrun_isolate"),
        "{}",
        stdout(&host)
    );
    ok(&w, &["release", id]);
    assert!(!w.cgroup_frozen(id));
}

/// isolate opens an incident, release appends to it, close ends it: list/show/close as an
/// operator reads them.
#[test]
fn incident_list_show_close_round_trip() {
    let w = world("iso-incident");
    let id = "iso-inc";
    sleeper(&w, id);
    let out = ok(&w, &["incident", "list"]);
    assert_eq!(out.trim(), "no incidents");
    ok(&w, &["isolate", "--reason", "tripwire: ptrace", id]);
    ok(&w, &["release", id]);
    let list: Value =
        serde_json::from_str(&ok(&w, &["incident", "list", "--format", "json"])).unwrap();
    let incidents = list["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{list}");
    let inc = &incidents[0];
    assert_eq!(inc["containerId"], id);
    assert_eq!(inc["reason"], "tripwire: ptrace");
    assert_eq!(inc["profile"], "permissive");
    assert_eq!(inc["status"], "open");
    let stages: Vec<&str> = inc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["detected", "isolated", "released"]);
    assert_eq!(inc["timeToRespondSeconds"], 0.0);
    assert_eq!(inc["timeToDetectSeconds"], Value::Null);
    assert_eq!(list["summary"]["total"], 1);
    assert_eq!(list["summary"]["open"], 1);
    let inc_id = inc["id"].as_str().unwrap();

    let show = ok(&w, &["incident", "show", inc_id]);
    for want in [
        &format!("incident {inc_id}") as &str,
        "container: iso-inc",
        "reason: tripwire: ptrace",
        "status: open",
        "isolated",
        "released",
    ] {
        assert!(show.contains(want), "{want:?} not in {show}");
    }
    ok(
        &w,
        &[
            "incident",
            "close",
            inc_id,
            "--note",
            "a debugger, not an attack",
        ],
    );
    let shown: Value =
        serde_json::from_str(&ok(&w, &["incident", "show", "--format", "json", inc_id])).unwrap();
    assert_eq!(shown["status"], "closed");
    let last = shown["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["stage"], "closed");
    assert_eq!(last["text"], "a debugger, not an attack");
    let err = refused(&w, &["incident", "close", inc_id, "--note", "again"]);
    assert!(err.contains("already closed"), "{err}");
    let err = refused(&w, &["incident", "show", "20990101-000000-00000000"]);
    assert!(err.contains("does not exist"), "{err}");

    // a second isolation after the close opens a new incident
    ok(&w, &["isolate", id]);
    let list: Value =
        serde_json::from_str(&ok(&w, &["incident", "list", "--format", "json"])).unwrap();
    assert_eq!(list["summary"]["total"], 2);
    assert_eq!(list["summary"]["closed"], 1);
    // the files on disk are what was listed: one JSON file per incident, nothing else
    let mut names: Vec<String> = std::fs::read_dir(w.dir.join("incidents"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lock")
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".json")), "{names:?}");
}
