//! A network the test owns, for the isolate and egress tests: two network namespaces made with
//! `ip netns add`, tied by a veth pair — the container's (`cns`, 10.`octet`.N.1) and the peer's
//! (`pns`, 10.`octet`.N.2), /30 each, no default route (checked), so no packet leaves this
//! machine. A container joins `cns` by path ([`joins`]). Everything (namespaces, veths, `nc`
//! listeners) is removed when dropped, also when the test fails.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{stderr, stdout};

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {}", stderr(&out));
}

pub struct Net {
    pub cns: String,
    pub pns: String,
    pub c_ip: Ipv4Addr,
    pub p_ip: Ipv4Addr,
    listeners: Vec<Child>,
}

impl Net {
    /// Namespaces `hr-<name>-c…` and `hr-<name>-p…` on 10.`octet`.N.0/30 (N counts the
    /// networks of this test binary).
    pub fn new(name: &str, octet: u8) -> Net {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let net = Net {
            cns: format!("hr-{name}-c{tag}"),
            pns: format!("hr-{name}-p{tag}"),
            c_ip: Ipv4Addr::new(10, octet, n as u8, 1),
            p_ip: Ipv4Addr::new(10, octet, n as u8, 2),
            listeners: vec![],
        };
        let initial = &name[..1];
        let (va, vb) = (format!("hr{initial}{tag}a"), format!("hr{initial}{tag}b"));
        // the Drop below removes whatever of this was made if a step fails
        ip(&["netns", "add", &net.cns]);
        ip(&["netns", "add", &net.pns]);
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb]);
        ip(&["link", "set", &va, "netns", &net.cns]);
        ip(&["link", "set", &vb, "netns", &net.pns]);
        for (ns, dev, addr) in [(&net.cns, &va, net.c_ip), (&net.pns, &vb, net.p_ip)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        net.check_private();
        net
    }

    /// The container's namespace routes nothing but its /30 (no default route): no packet of
    /// these tests can leave the machine.
    fn check_private(&self) {
        let out = Command::new("ip")
            .args(["-n", &self.cns, "route", "show"])
            .output()
            .unwrap();
        let routes = stdout(&out);
        assert!(!routes.contains("default"), "{routes}");
    }

    pub fn path(ns: &str) -> PathBuf {
        PathBuf::from("/run/netns").join(ns)
    }

    /// `f` on a thread inside the network namespace `ns`.
    pub fn within<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = Net::path(ns);
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).unwrap();
            nix::sched::setns(fd.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }

    /// Whether a TCP connection from namespace `ns` to `to` is established within a second.
    pub fn connects(ns: &str, to: SocketAddr) -> bool {
        Net::within(ns, move || {
            TcpStream::connect_timeout(&to, Duration::from_secs(1)).is_ok()
        })
    }

    /// The tables of the namespace's ruleset, as `nft list tables` run inside it prints them.
    pub fn tables(ns: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "list", "tables"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nft list tables in {ns}: {}",
            stderr(&out)
        );
        stdout(&out)
    }

    /// busybox `nc` serving TCP `port` in the peer namespace (each connection runs `true`).
    pub fn listen(&mut self, port: u16) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.pns, "busybox", "nc", "-ll", "-p"])
            .arg(port.to_string())
            .args(["-e", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.listeners.push(child);
        // listening: `ss` in the peer shows the socket
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.pns, "ss", "-Hltn"])
                .output()
                .unwrap();
            if stdout(&out).contains(&format!(":{port} ")) {
                return;
            }
            assert!(Instant::now() < deadline, "nc never listened on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in &mut self.listeners {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.cns, &self.pns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// A spec edit: the container joins the network namespace at `netns`.
pub fn joins(netns: PathBuf) -> impl FnOnce(&mut Value) {
    move |s: &mut Value| {
        for n in s["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "network" {
                *n = json!({"type": "network", "path": netns});
            }
        }
    }
}
