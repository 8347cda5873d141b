//! The native nf_tables batch (`runtime::nft_batch`) on the real kernel, as root: for each
//! egress table, the batch loaded into one fresh network namespace and the create script loaded
//! with `nft -f -` into another must list the same (`nft -j list table`, handles aside, and
//! `nft list table`). A second load fails with EEXIST and changes nothing; a load without
//! CAP_NET_ADMIN fails with EPERM at once (the kernel answers only the batch-begin message).
//!
//! Each namespace is an `unshare -n sleep 60` child's, killed and reaped when dropped (also when
//! the test fails).

use std::io::{self, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hardrun::policy::egress::{table, Match, Rule, Table, TABLE};
use hardrun::profile::egress::{EgressCfg, Entry};
use hardrun::runtime::nft_batch::{create_batch, send, socket, Batch};
use nix::sched::{setns, CloneFlags};
use serde_json::Value;

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests load nftables tables into new network namespaces and must run as root"
    );
}

/// A new network namespace: an `unshare -n sleep 60` child's.
struct Netns {
    child: Child,
}

impl Netns {
    fn new() -> Netns {
        let child = Command::new("unshare")
            .args(["-n", "sleep", "60"])
            .spawn()
            .expect("unshare");
        let ns = Netns { child };
        // the child has its namespace once unshare has run (before it execs sleep)
        let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_link(ns.path()).ok().as_ref() == Some(&ours) {
            assert!(Instant::now() < deadline, "unshare -n made no namespace");
            std::thread::sleep(Duration::from_millis(1));
        }
        ns
    }

    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.child.id())
    }

    /// `nft <args>` inside the namespace, `stdin` on its stdin; its stdout, or its stderr.
    fn nft(&self, args: &[&str], stdin: &str) -> Result<String, String> {
        let mut child = Command::new("nsenter")
            .arg(format!("--net={}", self.path()))
            .arg("nft")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nsenter");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        match out.status.success() {
            true => Ok(text(out.stdout)),
            false => Err(text(out.stderr)),
        }
    }

    /// `nft -j list table inet hardrun_egress`.
    fn json(&self) -> Value {
        let out = self
            .nft(&["-j", "list", "table", "inet", TABLE], "")
            .unwrap_or_else(|e| panic!("nft -j list table: {e}"));
        serde_json::from_str(&out).unwrap()
    }

    /// `nft list table inet hardrun_egress`.
    fn text(&self) -> String {
        self.nft(&["list", "table", "inet", TABLE], "")
            .unwrap_or_else(|e| panic!("nft list table: {e}"))
    }

    /// Loads `batch` with [`send`] from a thread that entered the namespace; `drop_net_admin`:
    /// without CAP_NET_ADMIN in the thread's effective set.
    fn load(&self, batch: &Batch, drop_net_admin: bool) -> io::Result<()> {
        let (path, batch) = (self.path(), batch.clone());
        let t = std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            setns(&ns, CloneFlags::CLONE_NEWNET).expect("setns");
            if drop_net_admin {
                // capset(2) changes only the calling thread's sets
                caps::drop(
                    None,
                    caps::CapSet::Effective,
                    caps::Capability::CAP_NET_ADMIN,
                )
                .unwrap();
            }
            let sock = socket()?;
            send(std::os::fd::AsFd::as_fd(&sock), &batch)
        });
        t.join().unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `v` without any `"handle"` key (they number objects in the order the kernel made them).
fn no_handles(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("handle");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// `Plan::create_script` of `t`: `create table` instead of the replacing script's first two
/// lines (`table …` and `delete table …`).
fn create_script(t: &Table) -> String {
    let script = t.script();
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(
        lines[..2],
        [
            format!("table inet {TABLE}"),
            format!("delete table inet {TABLE}")
        ]
    );
    format!("create table inet {TABLE}\n{}\n", lines[2..].join("\n"))
}

fn cfg(text: &str) -> Table {
    table(&toml::from_str::<EgressCfg>(text).unwrap_or_else(|e| panic!("{text}: {e}")))
}

/// Loads `t` natively into one new namespace and with nft into another; both listings must be
/// the same, and hold every counter and rule of `t`. The native namespace, for more checks.
fn same_listing(t: &Table, seq: u32) -> Netns {
    let (native, nft) = (Netns::new(), Netns::new());
    let batch = create_batch(t, TABLE, seq).expect("a batch");
    native.load(&batch, false).expect("the native load");
    let script = create_script(t);
    nft.nft(&["-f", "-"], &script)
        .unwrap_or_else(|e| panic!("nft -f of\n{script}\nfailed: {e}"));
    let (ours, theirs) = (no_handles(native.json()), no_handles(nft.json()));
    assert_eq!(
        ours,
        theirs,
        "native:\n{}\nnft:\n{}",
        native.text(),
        nft.text()
    );
    assert_eq!(native.text(), nft.text());
    let items = ours["nftables"].as_array().unwrap();
    let count = |k: &str| items.iter().filter(|i| i.get(k).is_some()).count();
    assert_eq!(count("table"), 1);
    assert_eq!(count("chain"), 1);
    assert_eq!(count("counter"), t.counters.len());
    assert_eq!(count("rule"), t.rules.len());
    native
}

const CONFIGS: &[&str] = &[
    // default allow, metadata deny, empty lists
    "",
    // nothing at all: an empty chain
    "metadata = \"allow\"",
    "default = \"deny\"",
    "default = \"deny\"\nmetadata = \"allow\"",
    "default = \"deny\"\nmetadata = \"deny\"\n\
     deny = [\"10.0.0.0/8:443/tcp\", \"172.16.0.0/12\", \"10.1.2.0/23:1000-2000/udp\"]\n\
     allow = [\"192.168.1.0/24:53/udp\", \"[fd00::/8]:80/tcp\", \"0.0.0.0/0\", \"[2001:db8::/60]\", \"1.2.3.4/32:5-5/tcp\"]",
    "deny = [\"[::/0]:22/tcp\", \"[2001:db8::1/128]:1-65535/udp\", \"fe80::/10\", \"10.0.0.0/31\", \
     \"0.0.0.0/0:25/tcp\", \"203.0.113.7/32\", \"100.64.0.0/10:1024-65535/tcp\", \"[::/0]\"]",
    "default = \"deny\"\nmetadata = \"allow\"\n\
     allow = [\"[::/0]:443/tcp\", \"8.8.8.8/32:53/udp\", \"[fd12:3456:789a::/48]\", \"192.0.2.0/25:8000-8080/tcp\"]",
];

#[test]
fn native_batches_list_as_nft_loads_them() {
    require_root();
    for (i, text) in CONFIGS.iter().enumerate() {
        let t = cfg(text);
        // one batch's sequence numbers wrap around
        let seq = if i == 4 {
            u32::MAX - 2
        } else {
            i as u32 * 1000
        };
        same_listing(&t, seq);
    }
}

#[test]
fn comments_with_unicode_and_long_ones_list_as_nft_loads_them() {
    require_root();
    let mut t = cfg("default = \"deny\"\ndeny = [\"10.0.0.0/8\"]");
    let long = "a long comment ".repeat(9)[..128].to_owned();
    let unicode = "deny[0]: café → ünïcödé ✓ 10.0.0.0/8".to_owned();
    let long_unicode = "é".repeat(64); // 128 bytes, nft's limit
    assert_eq!((long.len(), long_unicode.len()), (128, 128));
    t.counters[0].1 = unicode;
    t.counters[1].1 = long;
    t.counters.push(("spare".into(), long_unicode));
    same_listing(&t, 7);
}

#[test]
fn a_large_table_loads_in_one_batch() {
    require_root();
    let deny: Vec<String> = (0..400)
        .map(|i| format!("\"10.{}.{}.0/24:{}/tcp\"", i / 256, i % 256, 1000 + i))
        .collect();
    let t = cfg(&format!("default = \"deny\"\ndeny = [{}]", deny.join(", ")));
    let batch = create_batch(&t, TABLE, 1).unwrap();
    assert!(batch.bytes.len() > 200 << 10, "{} bytes", batch.bytes.len());
    assert!(batch.acked > 800);
    same_listing(&t, 1);
}

#[test]
fn a_second_load_fails_with_eexist_and_changes_nothing() {
    require_root();
    let first = cfg("default = \"deny\"\nallow = [\"10.0.0.0/8:443/tcp\"]");
    let ns = same_listing(&first, 1);
    let before = ns.json();
    for other in [first.clone(), cfg(CONFIGS[4]), cfg("metadata = \"allow\"")] {
        let batch = create_batch(&other, TABLE, 100).unwrap();
        let err = ns.load(&batch, false).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST), "{err}");
        assert_eq!(ns.json(), before, "handles included");
    }
}

#[test]
fn without_cap_net_admin_the_load_fails_with_eperm_at_once() {
    require_root();
    let ns = Netns::new();
    let batch = create_batch(&cfg(CONFIGS[4]), TABLE, 1).unwrap();
    let start = Instant::now();
    let err = ns.load(&batch, true).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(ns.nft(&["list", "tables"], "").unwrap(), "");
}

#[test]
fn ports_of_both_protocols_have_no_native_batch() {
    for text in [
        "default = \"deny\"\nallow = [\"10.0.0.0/8:443\"]",
        "deny = [\"[fd00::/8]:53\"]",
        "deny = [\"0.0.0.0/0:1000-2000\"]",
    ] {
        let t = cfg(text);
        assert!(t
            .rules
            .iter()
            .any(|r| matches!(&r.matches, Match::Dest(Entry { ports: Some(_), .. }))));
        assert!(create_batch(&t, TABLE, 1).is_none(), "{text}");
    }
    // the same entries with a protocol have one
    let t =
        cfg("default = \"deny\"\nallow = [\"10.0.0.0/8:443/tcp\"]\ndeny = [\"[fd00::/8]:53/udp\"]");
    assert!(create_batch(&t, TABLE, 1).is_some());
    let all = Rule {
        matches: Match::All,
        counter: None,
        accept: true,
    };
    let t = Table {
        counters: vec![],
        rules: vec![all],
    };
    assert!(create_batch(&t, TABLE, 1).is_some());
}
