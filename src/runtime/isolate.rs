//! Isolation of a running container (`hardrun isolate` / `release`): every process frozen (the
//! same cgroup freezer `pause` uses: v1 `freezer.state` FROZEN, v2 `cgroup.freeze`), its network
//! cut by an nftables table inside the container's own network namespace, and a marker in its
//! state directory that makes `exec`, `update` and `resume` refuse it.
//!
//! ```text
//! <root>/<id>/isolated.json    since, reason, whether isolate froze it, the network namespace
//!                              (its nsfs device and inode) whose ruleset got the table
//! ```
//!
//! The table is `inet hardrun_isolate`: input, output and forward base chains with policy drop
//! (loopback stays). A drop in any base chain is final, whatever the container's own rules
//! accept. A container that shares the host's network namespace is frozen only: the host's
//! ruleset is never touched, and the marker says so.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::delegate::{self, Container, Status};
use crate::runtime::nft::{nft_in, open_netns, shares_host_netns};
use crate::runtime::state_dir::write_atomic;

/// The nftables table isolate adds in the container's network namespace.
pub const TABLE: &str = "hardrun_isolate";
/// The marker file in the container's state directory.
pub const MARKER: &str = "isolated.json";

#[derive(Debug, thiserror::Error)]
pub enum IsolateError {
    #[error(
        "isolate container {id:?}: it is already isolated (since {since}); `hardrun release {id}` lifts it"
    )]
    Already { id: String, since: String },
    #[error("release container {0:?}: it is not isolated")]
    NotIsolated(String),
    #[error("isolate container {id:?}: it is {status}, not running; only a running or paused container can be isolated")]
    NotRunning { id: String, status: Status },
    #[error("isolate container {0:?}: it has no init process")]
    NoPid(String),
    #[error(transparent)]
    Delegate(#[from] delegate::DelegateError),
    #[error("isolate container {id:?}: cannot cut its network: {msg}; the container stays frozen (paused): kill it, or `hardrun resume {id}` to thaw it")]
    NetworkCut { id: String, msg: String },
    #[error("release container {id:?}: cannot remove table inet {TABLE} from its network namespace: {msg}; the container stays isolated")]
    NetworkRestore { id: String, msg: String },
    #[error("{path}: {msg}")]
    Marker { path: PathBuf, msg: String },
}

/// What the container's network got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Network {
    /// the table is in the network namespace with this nsfs identity
    Cut { netns_dev: u64, netns_ino: u64 },
    /// the container shares the host's network namespace: nothing was changed there
    HostShared,
}

/// The isolation of a container, as recorded in its state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Isolation {
    /// RFC 3339, UTC
    pub since: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// whether isolate froze it (false: it was paused already; release leaves it paused)
    pub froze: bool,
    pub network: Network,
}

impl Isolation {
    /// One line for messages and the incident's timeline.
    pub fn describe(&self) -> String {
        let net = match self.network {
            Network::Cut { .. } => format!("network cut (nftables table inet {TABLE} in its network namespace)"),
            Network::HostShared => "network NOT cut: the container shares the host's network namespace, whose ruleset hardrun does not touch".to_owned(),
        };
        let frozen = if self.froze {
            "every process frozen"
        } else {
            "already paused, kept frozen"
        };
        format!("{frozen}; {net}; exec, update and resume refused")
    }
}

/// The ruleset isolate loads: a table of its own that drops everything but loopback, in every
/// direction. Priority -300 (raw): before any table of the container's, though a drop anywhere
/// is final anyway.
pub fn ruleset() -> String {
    format!(
        "table inet {TABLE} {{\n\
         \tchain input {{ type filter hook input priority -300; policy drop; iif \"lo\" accept; }}\n\
         \tchain output {{ type filter hook output priority -300; policy drop; oif \"lo\" accept; }}\n\
         \tchain forward {{ type filter hook forward priority -300; policy drop; }}\n\
         }}\n"
    )
}

/// The script release (and delete) run: removes the table.
pub fn unruleset() -> String {
    format!("delete table inet {TABLE}\n")
}

/// The container's isolation, if it has one. A marker that cannot be read is an isolation all
/// the same (fail closed): the error names the file.
pub fn read(container_dir: &Path) -> Result<Option<Isolation>, IsolateError> {
    let path = container_dir.join(MARKER);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(IsolateError::Marker {
                path,
                msg: e.to_string(),
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| IsolateError::Marker {
            path,
            msg: format!("invalid isolation record: {e}"),
        })
}

/// Why `command` (`exec`, `update`, `resume`) of an isolated container is refused: one line;
/// `None` when the container is not isolated.
pub fn refusal(container_dir: &Path, id: &str, command: &str) -> Option<String> {
    let since = match read(container_dir) {
        Ok(None) => return None,
        Ok(Some(i)) => {
            let reason = i
                .reason
                .as_deref()
                .map(|r| format!(", reason: {r}"))
                .unwrap_or_default();
            format!("since {}{reason}", i.since)
        }
        Err(e) => format!("its isolation record is unreadable: {e}"),
    };
    Some(format!(
        "{command} container {id:?}: refused: the container is isolated ({since}); `hardrun release {id}` lifts it"
    ))
}

/// Isolates a running (or paused) container: freeze, cut the network, write the marker.
pub fn isolate(container: &mut Container, reason: Option<&str>) -> Result<Isolation, IsolateError> {
    let id = container.id().to_owned();
    let dir = container.dir().to_path_buf();
    if let Some(i) = read(&dir)? {
        return Err(IsolateError::Already { id, since: i.since });
    }
    container.refresh_status()?;
    let status = container.status();
    if !matches!(status, Status::Running | Status::Paused) {
        return Err(IsolateError::NotRunning { id, status });
    }
    let pid = container
        .pid()
        .ok_or_else(|| IsolateError::NoPid(id.clone()))?;
    // the namespace is held open before the freeze: it cannot go away under us
    let netns =
        open_netns(&format!("/proc/{pid}/ns/net")).map_err(|msg| IsolateError::NetworkCut {
            id: id.clone(),
            msg,
        })?;
    let froze = status == Status::Running;
    if froze {
        delegate::pause(container)?;
    }
    let network = if shares_host_netns(&netns.1) {
        Network::HostShared
    } else {
        nft_in(netns.0.as_fd(), &ruleset()).map_err(|msg| IsolateError::NetworkCut {
            id: id.clone(),
            msg,
        })?;
        Network::Cut {
            netns_dev: netns.1 .0,
            netns_ino: netns.1 .1,
        }
    };
    let isolation = Isolation {
        since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        reason: reason.map(str::to_owned),
        froze,
        network,
    };
    let path = dir.join(MARKER);
    let bytes = serde_json::to_vec_pretty(&isolation).unwrap_or_default();
    if let Err(e) = write_atomic(&path, &bytes) {
        // nothing half-done: the table goes, the thaw follows
        if matches!(isolation.network, Network::Cut { .. }) {
            let _ = nft_in(netns.0.as_fd(), &unruleset());
        }
        if froze {
            let _ = delegate::resume(container);
        }
        return Err(IsolateError::Marker {
            path,
            msg: e.to_string(),
        });
    }
    Ok(isolation)
}

/// Lifts a container's isolation: the table goes, the processes are thawed (when isolate froze
/// them and the container is still paused), the marker is removed. Works on a container that was
/// killed while isolated too (then there is nothing to thaw).
pub fn release(container: &mut Container) -> Result<Isolation, IsolateError> {
    let id = container.id().to_owned();
    let dir = container.dir().to_path_buf();
    let isolation = read(&dir)?.ok_or_else(|| IsolateError::NotIsolated(id.clone()))?;
    container.refresh_status()?;
    if let Network::Cut { .. } = isolation.network {
        if let Some(ns) = hold_netns(container, &isolation) {
            match nft_in(ns.as_fd(), &unruleset()) {
                Ok(()) => {}
                // gone already (removed by hand): what release wanted
                Err(msg) if msg.contains("No such file or directory") => {
                    tracing::warn!(id, "table inet {TABLE} was already gone: {msg}");
                }
                Err(msg) => return Err(IsolateError::NetworkRestore { id, msg }),
            }
        }
    }
    if isolation.froze && container.status() == Status::Paused {
        delegate::resume(container)?;
    }
    let path = dir.join(MARKER);
    std::fs::remove_file(&path).map_err(|e| IsolateError::Marker {
        path,
        msg: format!("cannot remove: {e}"),
    })?;
    Ok(isolation)
}

/// The network namespace of an isolated container, held open across its delete so the table can
/// be removed after (see [`finish_delete`]).
pub struct DeleteHold(OwnedFd);

/// Before a delete: the isolated container's network namespace, where its table is (its init's,
/// else the path its spec names, e.g. a namespace made with `ip netns add`), checked against the
/// identity recorded at isolate. `None`: not isolated, host-shared, or the namespace is gone
/// (with the table in it).
pub fn hold_for_delete(container: &Container) -> Option<DeleteHold> {
    let isolation = read(container.dir()).ok()??;
    hold_netns(container, &isolation).map(DeleteHold)
}

/// After the delete went through: removes the table from the namespace held by
/// [`hold_for_delete`] (a namespace that outlives the container keeps no isolate rules).
pub fn finish_delete(id: &str, hold: DeleteHold) {
    if let Err(msg) = nft_in(hold.0.as_fd(), &unruleset()) {
        tracing::warn!(id, "delete: cannot remove table inet {TABLE}: {msg}");
    }
}

fn hold_netns(container: &Container, isolation: &Isolation) -> Option<OwnedFd> {
    let Network::Cut {
        netns_dev,
        netns_ino,
    } = isolation.network
    else {
        return None;
    };
    let mut candidates = vec![];
    if let Some(pid) = container.pid() {
        candidates.push(format!("/proc/{pid}/ns/net"));
    }
    if let Some(p) = spec_netns_path(&container.dir().join("bundle/config.json")) {
        candidates.push(p);
    }
    candidates.into_iter().find_map(|p| {
        let (fd, ident) = open_netns(&p).ok()?;
        (ident == (netns_dev, netns_ino)).then_some(fd)
    })
}

/// The `path` of the spec's network namespace, when it names one.
fn spec_netns_path(config: &Path) -> Option<String> {
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(config).ok()?).ok()?;
    spec.pointer("/linux/namespaces")?
        .as_array()?
        .iter()
        .find(|n| n["type"] == "network")?["path"]
        .as_str()
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table drops every direction but loopback, in a table of its own (so release removes
    /// exactly what isolate added).
    #[test]
    fn ruleset_drops_everything_but_loopback_in_its_own_table() {
        let r = ruleset();
        assert!(r.starts_with("table inet hardrun_isolate {"));
        for (hook, lo) in [
            ("input", Some("iif \"lo\" accept")),
            ("output", Some("oif \"lo\" accept")),
            ("forward", None),
        ] {
            let line = r
                .lines()
                .find(|l| l.contains(&format!("chain {hook} ")))
                .unwrap_or_else(|| panic!("no {hook} chain in {r}"));
            assert!(line.contains(&format!("hook {hook} ")), "{line}");
            assert!(line.contains("policy drop;"), "{line}");
            match lo {
                Some(lo) => assert!(line.contains(lo), "{line}"),
                None => assert!(!line.contains("accept"), "{line}"),
            }
        }
        assert_eq!(unruleset(), "delete table inet hardrun_isolate\n");
    }

    #[test]
    fn marker_round_trips_and_refusal_names_release() {
        let d = tempfile::tempdir().unwrap();
        assert!(read(d.path()).unwrap().is_none());
        assert_eq!(refusal(d.path(), "c1", "exec"), None);
        let i = Isolation {
            since: "2026-12-05T10:00:00.000Z".into(),
            reason: Some("miner".into()),
            froze: true,
            network: Network::Cut {
                netns_dev: 4,
                netns_ino: 4026532000,
            },
        };
        std::fs::write(d.path().join(MARKER), serde_json::to_vec(&i).unwrap()).unwrap();
        assert_eq!(read(d.path()).unwrap(), Some(i));
        assert_eq!(
            refusal(d.path(), "c1", "exec").unwrap(),
            "exec container \"c1\": refused: the container is isolated (since \
             2026-12-05T10:00:00.000Z, reason: miner); `hardrun release c1` lifts it"
        );
        // an unreadable marker refuses all the same
        std::fs::write(d.path().join(MARKER), b"{").unwrap();
        assert!(refusal(d.path(), "c1", "update")
            .unwrap()
            .contains("isolation record is unreadable"));
    }

    #[test]
    fn spec_netns_path_only_when_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("config.json");
        for (spec, want) in [
            (
                r#"{"linux":{"namespaces":[{"type":"pid"},{"type":"network"}]}}"#,
                None,
            ),
            (
                r#"{"linux":{"namespaces":[{"type":"network","path":"/run/netns/x"}]}}"#,
                Some("/run/netns/x"),
            ),
            (
                r#"{"linux":{"namespaces":[{"type":"network","path":""}]}}"#,
                None,
            ),
            (r#"{}"#, None),
        ] {
            std::fs::write(&f, spec).unwrap();
            assert_eq!(spec_netns_path(&f).as_deref(), want, "{spec}");
        }
    }
}
