//! Where the monitor's security events go besides stdout: Alertmanager, a webhook, syslog and a
//! JSON-lines file (`[monitor]` in config.toml, flags of `hardrun monitor`; see
//! `docs/monitoring.md`).
//!
//! The event loop and the tripwire listener never wait for a network: each network sink
//! (Alertmanager, webhook) is a thread of its own behind a bounded channel, and an event that
//! finds the channel full is dropped and counted (`hardrun_events_dropped_total{sink=...}`), as is
//! one whose retries ran out. syslog (a non-blocking datagram) and the file are written in place.

pub mod batch;
pub mod http;
pub mod syslog;
pub mod tls;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::events::Event;
use super::metrics::labels;
use crate::profile::config::{HttpUrl, MonitorConfig};

pub type Dropped = Family<Vec<(String, String)>, Counter>;

/// How a network sink retries: attempts in all, the first wait, the longest wait (the wait
/// doubles after each failed attempt).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

/// 6 attempts over about 15 s: 0.5 s, 1 s, 2 s, 4 s, 8 s between them.
pub const BACKOFF: Backoff = Backoff {
    attempts: 6,
    first: Duration::from_millis(500),
    max: Duration::from_secs(30),
};

impl Backoff {
    /// The wait after failed attempt `n` (0-based).
    pub fn wait(&self, n: u32) -> Duration {
        self.first
            .checked_mul(1u32.checked_shl(n).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// POSTs `body` until a 2xx, at most `b.attempts` times. A 4xx other than 408 and 429 is not
/// retried (the same body would be refused again).
pub fn deliver(sink: &str, ep: &http::Endpoint, body: &[u8], b: Backoff) -> Result<(), String> {
    let url = &ep.url;
    let mut last = String::new();
    for n in 0..b.attempts {
        if n > 0 {
            std::thread::sleep(b.wait(n - 1));
        }
        match http::post_json(ep, body, http::TIMEOUT) {
            Ok(s) if (200..300).contains(&s) => return Ok(()),
            Ok(s) if (400..500).contains(&s) && s != 408 && s != 429 => {
                return Err(format!("{}: refused with HTTP {s}", url.authority()))
            }
            Ok(s) => last = format!("{}: HTTP {s}", url.authority()),
            Err(e) => last = e,
        }
        tracing::debug!("monitor: {sink}: attempt {} failed: {last}", n + 1);
    }
    Err(format!("{last} (gave up after {} attempts)", b.attempts))
}

/// The JSON-lines file: one event per line, appended; created 0600.
pub struct EventsFile {
    path: PathBuf,
    file: File,
}

impl EventsFile {
    pub fn open(path: &Path) -> Result<EventsFile, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok(EventsFile {
            path: path.to_owned(),
            file,
        })
    }

    pub fn send(&mut self, ev: &Event) -> Result<(), String> {
        let mut line = serde_json::to_vec(ev).unwrap_or_default();
        line.push(b'\n');
        // one write of the whole line: O_APPEND keeps lines whole between writers
        self.file
            .write_all(&line)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

/// A network sink's end of its channel.
struct Net {
    name: &'static str,
    tx: SyncSender<Event>,
    /// the sink's thread: it sends what it holds once `tx` is dropped, then ends
    thread: std::thread::JoinHandle<()>,
}

/// All the configured sinks.
pub struct Sinks {
    file: Option<EventsFile>,
    syslog: Option<syslog::Syslog>,
    net: Vec<Net>,
    dropped: Dropped,
}

/// This node's name (the `node` label).
pub fn node_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

impl Sinks {
    /// No sink but stdout.
    pub fn none(dropped: Dropped) -> Sinks {
        Sinks {
            file: None,
            syslog: None,
            net: vec![],
            dropped,
        }
    }

    /// Opens the file, connects syslog (a missing socket is a warning), starts the network
    /// sinks' threads. Each configured sink's dropped counter starts at 0.
    pub fn start(c: &MonitorConfig, dropped: Dropped, node: &str) -> Result<Sinks, String> {
        let mut s = Sinks::none(dropped);
        let count = |name: &str| {
            let _ = s.dropped.get_or_create(&labels(&[("sink", name)]));
        };
        if c.events_file.is_some() {
            count("file");
        }
        if c.syslog {
            count("syslog");
        }
        if c.alertmanager.is_some() {
            count("alertmanager");
        }
        if c.webhook.is_some() {
            count("webhook");
        }
        if let Some(p) = &c.events_file {
            s.file = Some(EventsFile::open(p)?);
        }
        if c.syslog {
            s.syslog = Some(syslog::Syslog::new(
                c.syslog_socket.clone(),
                c.syslog_facility,
                node.to_owned(),
            ));
        }
        // one TLS configuration for both https sinks, built (and its files read) at start
        let https = [&c.alertmanager, &c.webhook]
            .into_iter()
            .flatten()
            .any(|u| HttpUrl::parse(u).is_ok_and(|u| u.tls));
        let tls = if https {
            Some(tls::client_config(c)?)
        } else {
            None
        };
        let endpoint = |url: HttpUrl| http::Endpoint {
            tls: tls.clone().filter(|_| url.tls),
            url,
        };
        if let Some(u) = &c.alertmanager {
            let base = HttpUrl::parse(u)?;
            let url = HttpUrl {
                path: format!("{}/api/v2/alerts", base.path.trim_end_matches('/')),
                ..base
            };
            warn_if_remote("alertmanager", &url);
            s.net.push(alertmanager(
                endpoint(url),
                c.windows,
                c.queue,
                node.to_owned(),
                s.dropped.clone(),
            ));
        }
        if let Some(u) = &c.webhook {
            let url = HttpUrl::parse(u)?;
            warn_if_remote("webhook", &url);
            s.net
                .push(webhook(endpoint(url), c.queue, s.dropped.clone()));
        }
        Ok(s)
    }

    fn drop_one(&self, sink: &str, n: u64) {
        self.dropped
            .get_or_create(&labels(&[("sink", sink)]))
            .inc_by(n);
    }

    /// Closes the network sinks and waits for their threads: what the Alertmanager sink holds
    /// in open windows is sent now, the webhook's queue is delivered (each with its retries).
    /// For a monitor that stops: killed, it would lose them.
    pub fn close(&mut self) {
        for Net { name, tx, thread } in self.net.drain(..) {
            drop(tx);
            if thread.join().is_err() {
                tracing::error!("monitor: {name}: the sink's thread panicked");
            }
        }
    }

    /// Hands an event to every sink; never waits for a network.
    pub fn send(&mut self, ev: &Event) {
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.send(ev) {
                tracing::warn!("monitor: events file: {e}");
                self.drop_one("file", 1);
            }
        }
        if let Some(s) = self.syslog.as_mut() {
            if s.send(ev).is_err() {
                self.drop_one("syslog", 1);
            }
        }
        for n in &self.net {
            // the audit head is a record to keep, not an alert to page anyone with
            if n.name == "alertmanager" && ev.kind == super::events::AUDIT_HEAD {
                continue;
            }
            match n.tx.try_send(ev.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    tracing::warn!("monitor: {}: queue full, event dropped", n.name);
                    self.drop_one(n.name, 1);
                }
                Err(TrySendError::Disconnected(_)) => {
                    tracing::warn!("monitor: {}: sender gone, event dropped", n.name);
                    self.drop_one(n.name, 1);
                }
            }
        }
    }
}

fn warn_if_remote(sink: &str, url: &HttpUrl) {
    if url.tls {
        return;
    }
    let host = url.host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if !loopback {
        tracing::warn!(
            "monitor: {sink}: {} is not a loopback address: events (container names, processes) cross the network in plain http",
            url.host
        );
    }
}

/// The Alertmanager sink's thread: critical events are POSTed at once, the others per window
/// ([`batch::Batcher`]).
fn alertmanager(
    url: http::Endpoint,
    windows: crate::profile::config::AlertWindows,
    queue: usize,
    node: String,
    dropped: Dropped,
) -> Net {
    let (tx, rx) = sync_channel::<Event>(queue);
    let thread = std::thread::Builder::new()
        .name("sink-alertmanager".into())
        .spawn(move || {
            let mut b = batch::Batcher::new(windows);
            let post = |evs: Vec<Event>| {
                let body = serde_json::to_vec(&batch::alerts(&evs, &node)).unwrap_or_default();
                match deliver("alertmanager", &url, &body, BACKOFF) {
                    Ok(()) => tracing::debug!("monitor: alertmanager: {} events sent", evs.len()),
                    Err(e) => {
                        tracing::warn!("monitor: alertmanager: {} events dropped: {e}", evs.len());
                        dropped
                            .get_or_create(&labels(&[("sink", "alertmanager")]))
                            .inc_by(evs.len() as u64);
                    }
                }
            };
            loop {
                let wait = b.next_due().map_or(Duration::from_secs(3600), |d| {
                    d.saturating_duration_since(Instant::now())
                });
                match rx.recv_timeout(wait) {
                    Ok(ev) => {
                        if let Some(now) = b.push(ev, Instant::now()) {
                            post(now);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        // the monitor is ending: what is batched goes now
                        for evs in b.due(Instant::now() + Duration::from_secs(366 * 86400)) {
                            post(evs);
                        }
                        return;
                    }
                }
                for evs in b.due(Instant::now()) {
                    post(evs);
                }
            }
        })
        .expect("cannot start the alertmanager sink's thread");
    Net {
        name: "alertmanager",
        tx,
        thread,
    }
}

/// The webhook's thread: each event POSTed as its JSON object, retried ([`BACKOFF`]).
fn webhook(url: http::Endpoint, queue: usize, dropped: Dropped) -> Net {
    let (tx, rx) = sync_channel::<Event>(queue);
    let thread = std::thread::Builder::new()
        .name("sink-webhook".into())
        .spawn(move || {
            for ev in rx {
                let body = serde_json::to_vec(&ev).unwrap_or_default();
                if let Err(e) = deliver("webhook", &url, &body, BACKOFF) {
                    tracing::warn!("monitor: webhook: event dropped: {e}");
                    dropped.get_or_create(&labels(&[("sink", "webhook")])).inc();
                }
            }
        })
        .expect("cannot start the webhook sink's thread");
    Net {
        name: "webhook",
        tx,
        thread,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff {
            attempts: 10,
            first: Duration::from_millis(500),
            max: Duration::from_secs(5),
        };
        let waits: Vec<u128> = (0..6).map(|n| b.wait(n).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(b.wait(40), Duration::from_secs(5));
        assert_eq!(
            (0..BACKOFF.attempts - 1)
                .map(|n| BACKOFF.wait(n))
                .sum::<Duration>(),
            Duration::from_millis(15_500)
        );
    }

    #[test]
    fn the_events_file_is_0600_and_one_line_per_event() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hardrun-evfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("events.jsonl");
        let mut f = EventsFile::open(&p).unwrap();
        for c in ["a", "b"] {
            let ev = Event::new(
                crate::monitor::events::DRIFT,
                c,
                "restricted",
                "two\nlines".into(),
                serde_json::json!({}),
            );
            f.send(&ev).unwrap();
        }
        drop(f);
        let mut f = EventsFile::open(&p).unwrap();
        f.send(&Event::new(
            "exec",
            "c",
            "",
            "m".into(),
            serde_json::json!({}),
        ))
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["container"], "b");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
