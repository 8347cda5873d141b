//! What a profile's `[egress]` gives a container: the nftables table `inet hardrun_egress` that
//! `create` loads into the container's network namespace before its process starts, and the
//! reading of its counters that `hardrun monitor` turns into `egress-denied` events. Pure: the
//! runtime loads the text (`runtime::nft`), the monitor reads the counters back.
//!
//! The output chain, in this order (the first match decides):
//! 1. the cloud metadata addresses, unless `metadata = "allow"`: dropped, counted;
//! 2. each `deny` entry: dropped, counted (a deny wins over any allow);
//! 3. under `default = "deny"`: replies of connections made to the container
//!    (`ct state established,related`) and loopback accepted, then each `allow` entry accepted,
//!    then everything else dropped and counted.
//!
//! Every drop rule has a named counter whose comment says which entry it is
//! (`deny[0]: 10.0.0.0/8:443/tcp`): that is what the monitor reports.

use std::net::IpAddr;

use serde_json::Value;

use crate::profile::config::Mode;
use crate::profile::egress::{EgressCfg, Entry, Proto, Verdict, METADATA};
use crate::profile::Profile;

/// The table's name (family `inet`).
pub const TABLE: &str = "hardrun_egress";

/// What `create` loads into a container's network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// the profile whose `[egress]` it is
    pub profile: String,
    /// the table ([`table`]); its nftables script is [`Plan::script`]
    pub table: Table,
    /// a pod's container (not its sandbox): a table already in the namespace (the sandbox's)
    /// is kept; one table per network namespace
    pub keep_existing: bool,
}

impl Plan {
    /// The refusal when the table cannot be loaded: the container never starts less protected.
    pub fn refusal(&self, id: &str, why: &str) -> String {
        format!("container {id:?}: cannot load the egress table inet {TABLE} ([egress] of profile {}) into its network namespace: {why}; refused: a container never starts less protected", self.profile)
    }

    /// The nftables script of the table ([`Table::script`]): made only where nftables loads it
    /// (the netlink fast path needs no text, see `runtime::container_net`).
    pub fn script(&self) -> String {
        self.table.script()
    }

    /// [`Self::script`] for a namespace that does not hold the table yet (a container's new
    /// network namespace): `create table` instead of the `table` + `delete table` that make the
    /// replacing script idempotent. The whole transaction fails when the table is there after
    /// all, and nothing is loaded then. Deleting a table in the transaction makes the kernel
    /// defer its teardown, and `nft` waits for that when it closes its netlink socket: 17.5 ms
    /// instead of 4.8 ms for a load into a fresh namespace (issue 20, bench/REPORT.md).
    pub fn create_script(&self) -> String {
        let script = self.script();
        let replace = format!("table inet {TABLE}\ndelete table inet {TABLE}\n");
        match script.strip_prefix(&replace) {
            Some(rest) => format!("create table inet {TABLE}\n{rest}"),
            None => script,
        }
    }

    /// The notice for a container in the host's network namespace (only a `host-namespaces`
    /// exception lets one through restricted and baseline): nothing is loaded there.
    pub fn host_shared(&self, id: &str) -> String {
        format!("container {id:?} shares the host's network namespace: [egress] of profile {} is not enforced for it (hardrun never changes the host's ruleset)", self.profile)
    }
}

/// The plan for a container of `profile` whose spec is `spec`; `None` when the profile has no
/// `[egress]` or in a dry run (`--mode audit`: the caller's spec runs unchanged).
pub fn plan(profile: &Profile, mode: Mode, spec: &Value) -> Option<Plan> {
    if mode == Mode::Audit {
        return None;
    }
    let table = table(profile.egress.as_ref()?);
    let annotation = |k: &str| {
        spec.pointer(&format!("/annotations/{k}"))
            .and_then(Value::as_str)
    };
    let keep_existing = annotation("io.kubernetes.cri.container-type") == Some("container")
        || annotation("io.kubernetes.cri-o.ContainerType") == Some("container");
    Some(Plan {
        profile: profile.name.clone(),
        table,
        keep_existing,
    })
}

/// The table of a profile's `[egress]`, described once: [`Table::script`] is the nftables text
/// (what `nft -f` and the audit record see), and the runtime may load the same description
/// without libnftables (`runtime::nft_batch`, the fast path into a new namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// named counters: (name, comment)
    pub counters: Vec<(String, String)>,
    /// the output chain's rules, in order
    pub rules: Vec<Rule>,
}

/// One rule of the output chain: a match, an optional named counter, a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub matches: Match,
    /// `counter name "<name>"` before the verdict
    pub counter: Option<String>,
    /// accept (true) or drop (false)
    pub accept: bool,
}

/// What a [`Rule`] matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// every packet
    All,
    /// `ct state established,related`
    EstablishedRelated,
    /// `oif "lo"`
    OifLo,
    /// one `allow`/`deny` entry: `ip daddr A/P [tcp|udp dport …]`
    Dest(Entry),
}

/// The nftables script for `cfg` (entries that do not parse are left out: the profile was
/// validated at load, see `EgressCfg::validate`).
pub fn ruleset(cfg: &EgressCfg) -> String {
    table(cfg).script()
}

/// The table for `cfg` (entries that do not parse are left out, as in [`ruleset`]).
pub fn table(cfg: &EgressCfg) -> Table {
    let mut counters: Vec<(String, String)> = vec![];
    let mut rules: Vec<Rule> = vec![];
    let counted = |m: Match, name: &str| Rule {
        matches: m,
        counter: Some(name.to_owned()),
        accept: false,
    };
    if cfg.metadata == Verdict::Deny {
        for (i, m) in METADATA.iter().enumerate() {
            if let Ok(e) = Entry::parse(m) {
                let name = format!("metadata_{i}");
                counters.push((name.clone(), format!("metadata: {e}")));
                rules.push(counted(Match::Dest(e), &name));
            }
        }
    }
    for (i, s) in cfg.deny.iter().enumerate() {
        if let Ok(e) = Entry::parse(s) {
            let name = format!("deny_{i}");
            counters.push((name.clone(), format!("deny[{i}]: {e}")));
            rules.push(counted(Match::Dest(e), &name));
        }
    }
    if cfg.default == Verdict::Deny {
        let accept = |m: Match| Rule {
            matches: m,
            counter: None,
            accept: true,
        };
        rules.push(accept(Match::EstablishedRelated));
        rules.push(accept(Match::OifLo));
        for s in &cfg.allow {
            if let Ok(e) = Entry::parse(s) {
                rules.push(accept(Match::Dest(e)));
            }
        }
        rules.push(counted(Match::All, "default_deny"));
        counters.push((
            "default_deny".into(),
            "default: a destination no allow entry names".into(),
        ));
    }
    // nft keeps at most 128 bytes of a comment; entries are short, but never fail on one
    for (_, comment) in &mut counters {
        if let Some((cut, _)) = comment.char_indices().nth(120) {
            comment.truncate(cut);
        }
    }
    Table { counters, rules }
}

impl Table {
    /// The nftables script: replaces a table of the same name atomically (one `nft -f`
    /// transaction), so loading it twice leaves one table.
    pub fn script(&self) -> String {
        let mut out =
            format!("table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n");
        for (name, comment) in &self.counters {
            out.push_str(&format!("\tcounter {name} {{ comment \"{comment}\"; }}\n"));
        }
        out.push_str(
            "\tchain output {\n\t\ttype filter hook output priority filter; policy accept;\n",
        );
        for r in &self.rules {
            let m = match &r.matches {
                Match::All => String::new(),
                Match::EstablishedRelated => "ct state established,related ".into(),
                Match::OifLo => "oif \"lo\" ".into(),
                Match::Dest(e) => format!("{} ", matches(e)),
            };
            let counter = match &r.counter {
                Some(name) => format!("counter name \"{name}\" "),
                None => String::new(),
            };
            let verdict = if r.accept { "accept" } else { "drop" };
            out.push_str(&format!("\t\t{m}{counter}{verdict}\n"));
        }
        out.push_str("\t}\n}\n");
        out
    }
}

/// The nft match of one entry.
fn matches(e: &Entry) -> String {
    let fam = match e.addr {
        IpAddr::V4(_) => "ip",
        IpAddr::V6(_) => "ip6",
    };
    let mut m = format!("{fam} daddr {}/{}", e.addr, e.prefix);
    if let Some((a, b)) = e.ports {
        let ports = if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        };
        let p = match e.proto {
            Proto::Tcp => format!(" tcp dport {ports}"),
            Proto::Udp => format!(" udp dport {ports}"),
            Proto::Both => format!(" meta l4proto {{ tcp, udp }} th dport {ports}"),
        };
        m.push_str(&p);
    }
    m
}

/// One drop counter of the table as `nft -j list counters table inet hardrun_egress` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// `deny_0`
    pub name: String,
    /// the profile entry: `deny[0]`, `metadata`, `default`
    pub rule: String,
    /// the destination set: `10.0.0.0/8:443/tcp`
    pub destination: String,
    pub packets: u64,
}

/// The counters of `nft -j list counters table inet hardrun_egress` (other tables' are skipped).
pub fn parse_counters(json: &str) -> Result<Vec<Counter>, String> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("nft printed no JSON ruleset: {e}"))?;
    let items = v
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or("nft printed no \"nftables\" array")?;
    Ok(items
        .iter()
        .filter_map(|i| i.get("counter"))
        .filter(|c| c["table"] == TABLE && c["family"] == "inet")
        .filter_map(|c| {
            let comment = c["comment"].as_str().unwrap_or_default();
            let (rule, destination) = comment.split_once(": ").unwrap_or((comment, ""));
            Some(Counter {
                name: c["name"].as_str()?.to_owned(),
                rule: rule.to_owned(),
                destination: destination.to_owned(),
                packets: c["packets"].as_u64()?,
            })
        })
        .collect())
}

/// Whether `nft -j list ruleset` output holds a drop rule of table `inet hardrun_egress` for
/// daddr `addr` (e.g. `169.254.169.254`): what the tests and `check` read back.
pub fn drops_daddr(json: &str, addr: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(json) else {
        return false;
    };
    let Some(items) = v.get("nftables").and_then(Value::as_array) else {
        return false;
    };
    items
        .iter()
        .filter_map(|i| i.get("rule"))
        .filter(|r| r["table"] == TABLE && r["family"] == "inet")
        .any(|r| {
            let expr = r["expr"].as_array().cloned().unwrap_or_default();
            let dropped = expr.iter().any(|e| e.get("drop").is_some());
            let names = expr.iter().any(|e| {
                let right = &e["match"]["right"];
                right == addr
                    || right["prefix"]["addr"] == addr
                    || right
                        .as_str()
                        .is_some_and(|s| s.split('/').next() == Some(addr))
            });
            dropped && names
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> EgressCfg {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_create_script_is_the_replacing_one_with_create_table_first() {
        let plan = Plan {
            profile: "p".into(),
            table: table(&cfg("")),
            keep_existing: false,
        };
        let create = plan.create_script();
        let lines: Vec<&str> = create.lines().collect();
        assert_eq!(lines[0], "create table inet hardrun_egress");
        assert!(!create.contains("delete table"), "{create}");
        let script = plan.script();
        let replace_body: Vec<&str> = script.lines().skip(2).collect();
        assert_eq!(lines[1..], replace_body[..]);
    }

    #[test]
    fn the_metadata_addresses_are_dropped_first_unless_allowed() {
        let r = ruleset(&cfg(""));
        let lines: Vec<&str> = r.lines().map(str::trim).collect();
        assert_eq!(lines[0], "table inet hardrun_egress");
        assert_eq!(lines[1], "delete table inet hardrun_egress");
        let rules: Vec<&&str> = lines
            .iter()
            .skip_while(|l| !l.starts_with("type filter hook output"))
            .skip(1)
            .take_while(|l| **l != "}")
            .collect();
        assert_eq!(
            rules,
            [
                &"ip daddr 169.254.169.254/32 counter name \"metadata_0\" drop",
                &"ip6 daddr fd00:ec2::254/128 counter name \"metadata_1\" drop"
            ]
        );
        assert!(r.contains("counter metadata_0 { comment \"metadata: 169.254.169.254/32\"; }"));
        // default allow: nothing else is dropped
        assert!(!r.contains("default_deny"));
        let open = ruleset(&cfg("metadata = \"allow\""));
        assert!(!open.contains("169.254.169.254"), "{open}");
    }

    #[test]
    fn deny_wins_then_allow_then_default() {
        let r = ruleset(&cfg(
            "default = \"deny\"\nallow = [\"10.0.0.0/8:443/tcp\", \"[fd00::/8]:53\"]\ndeny = [\"10.9.0.0/16\", \"0.0.0.0/0:25/tcp\"]",
        ));
        let pos = |s: &str| r.find(s).unwrap_or_else(|| panic!("no {s:?} in {r}"));
        let order = [
            "ip daddr 169.254.169.254/32 counter name \"metadata_0\" drop",
            "ip daddr 10.9.0.0/16 counter name \"deny_0\" drop",
            "ip daddr 0.0.0.0/0 tcp dport 25 counter name \"deny_1\" drop",
            "ct state established,related accept",
            "oif \"lo\" accept",
            "ip daddr 10.0.0.0/8 tcp dport 443 accept",
            "ip6 daddr fd00::/8 meta l4proto { tcp, udp } th dport 53 accept",
            "counter name \"default_deny\" drop",
        ];
        for w in order.windows(2) {
            assert!(pos(w[0]) < pos(w[1]), "{} before {}", w[0], w[1]);
        }
        assert!(r.contains("comment \"deny[1]: 0.0.0.0/0:25/tcp\""), "{r}");
        let ports = ruleset(&cfg("deny = [\"10.0.0.0/8:1000-2000/udp\"]"));
        assert!(ports.contains("ip daddr 10.0.0.0/8 udp dport 1000-2000 counter"));
    }

    #[test]
    fn plans_only_outside_dry_runs_and_pods_keep_the_sandboxs_table() {
        let p = Profile::parse("name = \"p\"\n[egress]\ndefault = \"deny\"\n", "p.toml").unwrap();
        let spec = serde_json::json!({});
        let plan = plan(&p, Mode::Enforce, &spec).unwrap();
        assert!(!plan.keep_existing);
        assert!(plan.script().contains("default_deny"));
        assert!(super::plan(&p, Mode::Audit, &spec).is_none());
        let none = Profile::parse("name = \"q\"\n", "q.toml").unwrap();
        assert!(super::plan(&none, Mode::Enforce, &spec).is_none());
        let pod =
            serde_json::json!({"annotations": {"io.kubernetes.cri.container-type": "container"}});
        assert!(super::plan(&p, Mode::Enforce, &pod).unwrap().keep_existing);
        let sandbox =
            serde_json::json!({"annotations": {"io.kubernetes.cri.container-type": "sandbox"}});
        assert!(
            !super::plan(&p, Mode::Enforce, &sandbox)
                .unwrap()
                .keep_existing
        );
        let e = Profile::parse(
            "name = \"r\"\n[egress]\nallow = [\"10.0.0.1/8\"]\n",
            "/etc/hardrun/profiles/r.toml",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("/etc/hardrun/profiles/r.toml: egress.allow[0]: \"10.0.0.1/8\" is not a destination"), "{e}");
    }

    #[test]
    fn counters_name_their_entry() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"counter": {"family": "inet", "name": "metadata_0", "table": "hardrun_egress", "handle": 2, "comment": "metadata: 169.254.169.254/32", "packets": 0, "bytes": 0}},
            {"counter": {"family": "inet", "name": "deny_0", "table": "hardrun_egress", "handle": 3, "comment": "deny[0]: 10.9.0.0/16:443/tcp", "packets": 4, "bytes": 240}},
            {"counter": {"family": "inet", "name": "x", "table": "other", "packets": 9}}]}"#;
        let c = parse_counters(json).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[1],
            Counter {
                name: "deny_0".into(),
                rule: "deny[0]".into(),
                destination: "10.9.0.0/16:443/tcp".into(),
                packets: 4
            }
        );
        assert!(parse_counters("no").is_err());
    }

    #[test]
    fn drops_daddr_reads_a_real_rule_shape() {
        // `nft -j list ruleset` of `ip daddr 169.254.169.254/32 counter name "metadata_0" drop`
        // (nft prints a /32 as the bare address)
        let json = r#"{"nftables": [{"rule": {"family": "inet", "table": "hardrun_egress", "chain": "output", "handle": 5, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "169.254.169.254"}}, {"counter": "metadata_0"}, {"drop": null}]}}]}"#;
        assert!(drops_daddr(json, "169.254.169.254"));
        assert!(!drops_daddr(json, "10.0.0.1"));
        assert!(!drops_daddr(
            &json.replace("drop", "accept"),
            "169.254.169.254"
        ));
        assert!(!drops_daddr(
            &json.replace("hardrun_egress", "x"),
            "169.254.169.254"
        ));
    }
}
