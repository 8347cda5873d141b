//! `egress-denied` events: the drop counters of the `[egress]` table (`inet hardrun_egress`, see
//! `policy::egress`) in each running container's network namespace, read every scan. A counter
//! that grew is an event naming the container, the profile entry (`metadata`, `deny[0]`,
//! `default`), the destination set and the packets dropped since the last reading.
//!
//! Containers that share a network namespace (a pod's) share its table: it is read once, and
//! its drops are reported for the first of them (the others are listed in the details). A
//! namespace seen when the monitor starts keeps what it counted before (as with cgroups); one
//! seen later is new and counted from zero. A counter that went down (the table was loaded
//! again) counts from zero again.

use std::collections::BTreeMap;

use crate::policy::egress::{parse_counters, Counter, TABLE};

/// A network namespace's nsfs identity (device, inode).
pub type NetNs = (u64, u64);

/// The last reading of each namespace's counters: counter name -> packets.
pub type Readings = BTreeMap<NetNs, BTreeMap<String, u64>>;

/// One namespace's counters and its containers ((id, profile), the first names its events).
type Namespace = (Vec<Counter>, Vec<(String, String)>);

/// Drops since the last reading of one counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// the container the event names
    pub container: String,
    pub profile: String,
    /// every container of the namespace
    pub containers: Vec<String>,
    pub netns: NetNs,
    pub counter: Counter,
    pub delta: u64,
}

/// What one read of a namespace found.
enum Read {
    Counters(NetNs, Vec<Counter>),
    /// no table there, or the host's namespace: not read again for this container
    NoTable,
    /// the process went away, or nft failed: tried again next time
    Failed,
}

fn read(pid: i32) -> Read {
    match crate::runtime::nft::counters(pid, TABLE) {
        Ok(Some((ns, json))) => match parse_counters(&json) {
            Ok(c) => Read::Counters(ns, c),
            Err(e) => {
                tracing::debug!("monitor: egress counters of pid {pid}: {e}");
                Read::Failed
            }
        },
        Ok(None) => Read::NoTable,
        Err(e) if e.contains("No such file or directory") && !e.starts_with("cannot open") => {
            Read::NoTable
        }
        Err(e) => {
            tracing::debug!("monitor: egress counters of pid {pid}: {e}");
            Read::Failed
        }
    }
}

/// What the monitor keeps between scans.
#[derive(Debug, Default)]
pub struct State {
    /// the last reading of each namespace's counters
    pub last: Readings,
    /// (container, namespace) pairs found without a table (a profile without `[egress]`, the
    /// host's namespace): a table is only ever loaded at create, so they are not read again
    pub no_table: std::collections::BTreeSet<(String, NetNs)>,
}

/// Reads every namespace of `running` ((id, profile, pid)) once; returns what grew since the
/// last reading, and keeps the new readings (namespaces no longer seen are forgotten).
/// `baseline`: only record (the monitor's start).
pub fn tick(state: &mut State, running: &[(String, String, i32)], baseline: bool) -> Vec<Denied> {
    // one reading per namespace: the first container of each names it
    let mut by_ns: BTreeMap<NetNs, Namespace> = BTreeMap::new();
    let mut no_table = std::collections::BTreeSet::new();
    // every namespace still there: a reading that failed this time is kept for the next
    let mut seen = std::collections::BTreeSet::new();
    for (id, profile, pid) in running {
        let ident = std::fs::metadata(format!("/proc/{pid}/ns/net"))
            .ok()
            .map(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.dev(), m.ino())
            });
        let Some(ident) = ident else { continue };
        seen.insert(ident);
        // a container whose namespace was read already (its pod's) is added to it
        if let Some(e) = by_ns.get_mut(&ident) {
            e.1.push((id.clone(), profile.clone()));
            continue;
        }
        let key = (id.clone(), ident);
        if state.no_table.contains(&key) {
            no_table.insert(key);
            continue;
        }
        match read(*pid) {
            Read::Counters(ns, counters) => {
                by_ns.insert(ns, (counters, vec![(id.clone(), profile.clone())]));
            }
            Read::NoTable => {
                no_table.insert(key);
            }
            Read::Failed => {}
        }
    }
    state.no_table = no_table;
    let last = &mut state.last;
    let mut out = vec![];
    for (ns, (counters, members)) in &by_ns {
        let grown = grew(last.get(ns), counters);
        last.insert(
            *ns,
            counters
                .iter()
                .map(|c| (c.name.clone(), c.packets))
                .collect(),
        );
        if baseline {
            continue;
        }
        for (counter, delta) in grown {
            let (container, profile) = members[0].clone();
            out.push(Denied {
                container,
                profile,
                containers: members.iter().map(|m| m.0.clone()).collect(),
                netns: *ns,
                counter,
                delta,
            });
        }
    }
    last.retain(|ns, _| seen.contains(ns));
    out
}

/// The counters that grew since `before` (none: a namespace seen for the first time, counted
/// from zero), with how much. A counter that went down was loaded again: counted from zero.
pub fn grew(before: Option<&BTreeMap<String, u64>>, counters: &[Counter]) -> Vec<(Counter, u64)> {
    counters
        .iter()
        .filter_map(|c| {
            let prev = before.and_then(|b| b.get(&c.name)).copied().unwrap_or(0);
            let delta = if c.packets >= prev {
                c.packets - prev
            } else {
                c.packets
            };
            (delta > 0).then(|| (c.clone(), delta))
        })
        .collect()
}

/// The event's message.
pub fn message(d: &Denied) -> String {
    format!(
        "{}: egress to {} refused ({}): {} packet{} dropped",
        d.container,
        if d.counter.destination.is_empty() {
            "a refused destination"
        } else {
            &d.counter.destination
        },
        d.counter.rule,
        d.delta,
        if d.delta == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_destination_rule_and_packets() {
        let d = Denied {
            container: "c1".into(),
            profile: "restricted".into(),
            containers: vec!["c1".into()],
            netns: (4, 4026532000),
            counter: Counter {
                name: "metadata_0".into(),
                rule: "metadata".into(),
                destination: "169.254.169.254/32".into(),
                packets: 3,
            },
            delta: 1,
        };
        assert_eq!(
            message(&d),
            "c1: egress to 169.254.169.254/32 refused (metadata): 1 packet dropped"
        );
    }

    #[test]
    fn counters_that_grew_and_reloaded_tables() {
        let c = |name: &str, packets| Counter {
            name: name.into(),
            rule: name.into(),
            destination: String::new(),
            packets,
        };
        let now = [c("metadata_0", 0), c("deny_0", 5), c("default_deny", 2)];
        // first seen: from zero
        let g: Vec<(String, u64)> = grew(None, &now)
            .into_iter()
            .map(|(c, d)| (c.name, d))
            .collect();
        assert_eq!(g, [("deny_0".into(), 5), ("default_deny".into(), 2)]);
        let before: BTreeMap<String, u64> =
            [("deny_0".to_owned(), 3), ("default_deny".to_owned(), 7)].into();
        let g: Vec<(String, u64)> = grew(Some(&before), &now)
            .into_iter()
            .map(|(c, d)| (c.name, d))
            .collect();
        // deny_0 grew by 2; default_deny went down (reloaded): its 2 are new
        assert_eq!(g, [("deny_0".into(), 2), ("default_deny".into(), 2)]);
        let same: BTreeMap<String, u64> = now.iter().map(|c| (c.name.clone(), c.packets)).collect();
        assert!(grew(Some(&same), &now).is_empty());
    }

    #[test]
    fn processes_without_a_table_give_nothing() {
        // this test process is in the host's namespace: never read, nothing reported
        let mut state = State::default();
        let me = std::process::id() as i32;
        assert!(tick(&mut state, &[("c".into(), "p".into(), me)], false).is_empty());
        assert!(state.last.is_empty());
        // and it is not read again
        assert_eq!(state.no_table.len(), 1);
    }
}
