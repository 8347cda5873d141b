//! What the monitor does by itself about what it sees (issue 16, "Respond"):
//!
//! - **automatic isolation**: an event whose container's *bound* profile (the one stored with the
//!   container at create, `policy::binding`) asks for it in `[response] isolate_on` isolates the
//!   container with the same code as `hardrun isolate` (`incident::isolation`, in process). The
//!   container's incident gets `first-event` (when it happened: the audit record's time, the
//!   tripwire's notification) and `detected` (when the monitor reported it) from the event, then
//!   `isolated`; an `isolated` event goes to the sinks. A failure is an `isolation-failed` event
//!   (critical), never the monitor's end; that container is not tried again for [`RETRY`].
//! - **incident metrics**: open incidents, and time to detect and time to respond of each
//!   incident in `incidents_dir` (whoever recorded it), as histograms ([`IncidentMetrics`]);
//! - **the audit head off the node**: the audit log's head (last sequence number and hash, and
//!   its MAC) as an `audit-head` event when it advanced, at most once per `--interval`
//!   ([`HeadWatch`]), so the syslog or events-file copy can prove a truncation that the node's own
//!   head file no longer shows (see docs/audit-log.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde_json::json;

use super::events::{self, Event, Severity};
use super::metrics::labels;
use crate::incident::isolation;
use crate::incident::store::{self, Detection, Stage, Subject};
use crate::profile::config::Config;
use crate::profile::ResponseCfg;
use crate::runtime::isolate::{self as rt_isolate, IsolateError};
use crate::runtime::state_dir::{read_record, Root};

/// How long a container whose automatic isolation failed is left before the next try.
pub const RETRY: Duration = Duration::from_secs(30);

type Labels = Vec<(String, String)>;

/// The incident metric families (a clone shares the same series).
#[derive(Clone)]
pub struct IncidentMetrics {
    /// `hardrun_incidents_open`
    pub open: Gauge,
    /// `hardrun_incident_time_to_detect_seconds`: detected − first-event, once per incident
    pub time_to_detect: Histogram,
    /// `hardrun_incident_time_to_respond_seconds`: isolated − detected, once per incident
    pub time_to_respond: Histogram,
    /// `hardrun_auto_isolations_total{result="done"|"failed"}`
    pub isolations: Family<Labels, Counter>,
    /// `hardrun_audit_head_sequence`: the last audit head sent to the sinks (see [`HeadWatch`])
    pub audit_head: Gauge,
}

/// 0.05 s to about 3.6 h, by 4: a tripwire isolated within a second, an operator's response in
/// minutes or hours.
fn duration_buckets() -> impl Iterator<Item = f64> {
    super::metrics::exponential_buckets(0.05, 4, 10)
}

impl Default for IncidentMetrics {
    fn default() -> Self {
        IncidentMetrics::new()
    }
}

impl IncidentMetrics {
    pub fn new() -> IncidentMetrics {
        let m = IncidentMetrics {
            open: Gauge::default(),
            time_to_detect: Histogram::new(duration_buckets()),
            time_to_respond: Histogram::new(duration_buckets()),
            isolations: Family::default(),
            audit_head: Gauge::default(),
        };
        for result in ["done", "failed"] {
            let _ = m.isolations.get_or_create(&labels(&[("result", result)]));
        }
        m
    }

    pub fn register(&self, r: &mut Registry) {
        r.register(
            "hardrun_incidents_open",
            "Incidents in incidents_dir that are not closed",
            self.open.clone(),
        );
        r.register(
            "hardrun_incident_time_to_detect_seconds",
            "Time from an incident's first event to its detection (each incident once)",
            self.time_to_detect.clone(),
        );
        r.register(
            "hardrun_incident_time_to_respond_seconds",
            "Time from an incident's detection to its isolation (each incident once)",
            self.time_to_respond.clone(),
        );
        r.register(
            "hardrun_auto_isolations",
            "Isolations the monitor attempted by itself (a profile's [response] isolate_on), by result",
            self.isolations.clone(),
        );
        r.register(
            "hardrun_audit_head_sequence",
            "Sequence number of the last audit log head the monitor sent to its sinks (0: none yet)",
            self.audit_head.clone(),
        );
    }
}

/// The `[response]` settings a container is held to, and its profile's name: the profile
/// stored with it at create; a record from before stored policies, the profile of its name in
/// the current catalog. `None`: no record, or a stored policy that does not verify (logged).
pub fn bound_response(dir: &Path, config: &Config) -> Option<(String, ResponseCfg)> {
    let record = read_record(dir)?;
    if let Some(b) = &record.policy {
        let file = dir.join("hardrun.json").display().to_string();
        return match crate::policy::binding::Stored::from_bound(b, &file) {
            Ok(s) => Some((s.profile.name.clone(), s.profile.response)),
            Err(e) => {
                tracing::warn!("monitor: {e}");
                None
            }
        };
    }
    let name = record.profile?;
    let p = config.profile(Some(&name)).ok()?;
    Some((name, p.response.clone()))
}

/// When the event happened: its audit record's time, else `None` (then it happened when the
/// monitor saw it).
pub fn occurred(ev: &Event) -> Option<DateTime<Utc>> {
    parse_time(ev.details.get("record_time")?.as_str()?)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The monitor's memory of its responses.
pub struct Response {
    root: PathBuf,
    incidents_dir: PathBuf,
    /// containers whose automatic isolation failed, and when
    failed: BTreeMap<String, Instant>,
    /// incidents whose durations went into the histograms
    observed: BTreeSet<(String, Stage)>,
}

impl Response {
    pub fn new(root: &Path, incidents_dir: &Path) -> Response {
        Response {
            root: root.to_path_buf(),
            incidents_dir: incidents_dir.to_path_buf(),
            failed: BTreeMap::new(),
            observed: BTreeSet::new(),
        }
    }

    /// The monitor's answer to `ev` (its severity already the profile's): when the container's
    /// bound profile asks for it, the container is isolated and the `isolated` event returned;
    /// a failure returns an `isolation-failed` event. Nothing for any other event, a container
    /// isolated already, or one that failed less than [`RETRY`] ago.
    pub fn respond(
        &mut self,
        config: &Config,
        ev: &Event,
        occurred: Option<DateTime<Utc>>,
        m: &IncidentMetrics,
    ) -> Vec<Event> {
        if ev.container.is_empty() || crate::profile::RESPONSE_EVENT_KINDS.contains(&ev.kind) {
            return vec![];
        }
        let dir = Root::new(&self.root).container_dir(&ev.container);
        let Some((profile, response)) = bound_response(&dir, config) else {
            return vec![];
        };
        if !response.isolates(ev.kind, ev.severity.as_str()) {
            return vec![];
        }
        // isolated already (an unreadable marker counts: isolate would refuse it too)
        if !matches!(rt_isolate::read(&dir), Ok(None)) {
            return vec![];
        }
        if self
            .failed
            .get(&ev.container)
            .is_some_and(|t| t.elapsed() < RETRY)
        {
            return vec![];
        }
        let id = ev.container.as_str();
        let detected = parse_time(&ev.time).unwrap_or_else(Utc::now);
        let detection = Detection {
            first_event: occurred.unwrap_or(detected).min(detected),
            detected,
            text: format!(
                "hardrun monitor: {} event ({}): {}",
                ev.kind,
                ev.severity.as_str(),
                ev.message
            ),
        };
        let reason = format!(
            "automatic: {} event ({}), profile {profile} [response] isolate_on",
            ev.kind,
            ev.severity.as_str()
        );
        let subject = Subject {
            container_id: id,
            profile: Some(&profile),
            reason: Some(&reason),
        };
        let result = crate::runtime::delegate::load(&dir, id)
            .map_err(|e| isolation::Error::Isolate(IsolateError::from(e)))
            .and_then(|mut c| {
                isolation::isolate(&self.incidents_dir, &mut c, &subject, Some(&detection))
            });
        let failed = match &result {
            Ok(_) | Err(isolation::Error::Unrecorded { .. }) => None,
            Err(e) => Some(e.to_string()),
        };
        record_step(config, &dir, id, failed.as_deref());
        let trigger = json!({"kind": ev.kind, "severity": ev.severity, "time": ev.time,
                             "occurred": occurred.map(|t| t.to_rfc3339())});
        let out = match result {
            Ok((iso, incident)) => {
                self.failed.remove(id);
                let secs = |d: Option<chrono::Duration>| d.map(store::seconds);
                Event::new(
                    events::ISOLATED,
                    id,
                    &ev.profile,
                    format!(
                        "{id} isolated by the monitor on {} ({}): {}; incident {}",
                        ev.kind,
                        ev.severity.as_str(),
                        iso.describe(),
                        incident.id
                    ),
                    json!({"trigger": trigger, "incident": incident.id, "isolation": iso,
                           "time_to_detect_seconds": secs(incident.time_to_detect()),
                           "time_to_respond_seconds": secs(incident.time_to_respond())}),
                )
            }
            Err(isolation::Error::Unrecorded {
                isolation, source, ..
            }) => Event::new(
                events::ISOLATED,
                id,
                &ev.profile,
                format!(
                    "{id} isolated by the monitor on {} ({}): {}; its incident was not recorded: {source}",
                    ev.kind,
                    ev.severity.as_str(),
                    isolation.describe()
                ),
                json!({"trigger": trigger, "incident": null, "isolation": isolation,
                       "incident_error": source.to_string()}),
            ),
            Err(e) => {
                self.failed.insert(id.to_owned(), Instant::now());
                Event::new(
                    events::ISOLATION_FAILED,
                    id,
                    &ev.profile,
                    format!(
                        "{id}: automatic isolation on {} ({}) failed: {e}; isolate it by hand (`hardrun isolate {id}`) or kill it",
                        ev.kind,
                        ev.severity.as_str()
                    ),
                    json!({"trigger": trigger, "error": e.to_string()}),
                )
            }
        };
        m.isolations
            .get_or_create(&labels(&[(
                "result",
                if failed.is_some() { "failed" } else { "done" },
            )]))
            .inc();
        self.scan(m);
        vec![out]
    }

    /// Reads the incident store: the open count, and each incident's time to detect and to
    /// respond into the histograms, once each (a restarted monitor observes them all again).
    pub fn scan(&mut self, m: &IncidentMetrics) {
        let all = match store::list(&self.incidents_dir) {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!("monitor: incidents: {e}");
                return;
            }
        };
        m.open
            .set(i64::try_from(all.iter().filter(|i| i.is_open()).count()).unwrap_or(i64::MAX));
        for i in &all {
            for (stage, d, h) in [
                (Stage::Detected, i.time_to_detect(), &m.time_to_detect),
                (Stage::Isolated, i.time_to_respond(), &m.time_to_respond),
            ] {
                if let Some(d) = d {
                    if self.observed.insert((i.id.clone(), stage)) {
                        h.observe(store::seconds(d).max(0.0));
                    }
                }
            }
        }
    }

    /// Forgets failures of containers that are gone.
    pub fn retain(&mut self, ids: &[&str]) {
        self.failed.retain(|id, _| ids.contains(&id.as_str()));
    }
}

/// The isolate step in the audit log, as `hardrun isolate` records it (`done` or `failed`).
fn record_step(config: &Config, dir: &Path, id: &str, failed: Option<&str>) {
    let record = read_record(dir);
    let r = record.as_ref();
    let workload = crate::audit::Workload::of_container(dir);
    let bundle = r.map(|r| r.bundle.clone()).unwrap_or_default();
    let step = crate::audit::Step {
        command: "isolate",
        id,
        bundle: &bundle,
        workload: workload.as_ref(),
        profile: r.and_then(|r| r.profile.as_deref()).unwrap_or_default(),
        profile_sha256: r
            .and_then(|r| r.profile_sha256.as_deref())
            .unwrap_or_default(),
        mode: &r
            .and_then(|r| r.policy.as_ref())
            .map(|b| b.mode.to_string())
            .unwrap_or_default(),
        failed,
    };
    if let Err(e) = crate::audit::record_step(crate::audit::Sink::of(config).as_ref(), &step) {
        tracing::error!("monitor: isolate {id:?}: not recorded in the audit log: {e}");
    }
}

/// The audit head the monitor last sent, and when.
pub struct HeadWatch {
    log: PathBuf,
    last: Option<(u64, String)>,
    sent_at: Option<Instant>,
}

impl HeadWatch {
    pub fn new(log: &Path) -> HeadWatch {
        HeadWatch {
            log: log.to_path_buf(),
            last: None,
            sent_at: None,
        }
    }

    /// The head as an event when it differs from the last one sent, at most once per `every`.
    pub fn tick(&mut self, every: Duration) -> Option<Event> {
        if self.sent_at.is_some_and(|t| t.elapsed() < every) {
            return None;
        }
        let path = crate::audit::head_path(&self.log);
        let text = std::fs::read(&path).ok()?;
        let head = crate::audit::Head::parse(&text).ok()?;
        let now = (head.seq, head.hash.clone());
        if self.last.as_ref() == Some(&now) {
            return None;
        }
        self.last = Some(now);
        self.sent_at = Some(Instant::now());
        Some(head_event(&self.log, &path, &head, &text))
    }
}

/// The `audit-head` event: the head's fields, and its line as written (MAC included), which
/// `hardrun audit verify --head FILE` reads back.
pub fn head_event(log: &Path, path: &Path, head: &crate::audit::Head, text: &[u8]) -> Event {
    let line = String::from_utf8_lossy(text.strip_suffix(b"\n").unwrap_or(text)).into_owned();
    let mut ev = Event::new(
        events::AUDIT_HEAD,
        "",
        "",
        format!(
            "audit log {} ends at record {} (sha256 {}, key {}); head line: {line}",
            log.display(),
            head.seq,
            head.hash,
            head.kid
        ),
        json!({"log": log, "head_file": path, "seq": head.seq, "hash": head.hash,
               "kid": head.kid, "line": line}),
    );
    ev.severity = Severity::Low;
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_goes_out_when_it_advances_and_not_more_often_than_asked() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("audit.jsonl");
        let mut w = HeadWatch::new(&log);
        assert!(w.tick(Duration::ZERO).is_none(), "no head file yet");
        let head = |seq: u64| {
            format!(
                "{{\"seq\":{seq},\"hash\":\"{:064x}\",\"kid\":\"k1\",\"mac\":\"{:064x}\"}}\n",
                seq,
                seq + 1
            )
        };
        std::fs::write(crate::audit::head_path(&log), head(4)).unwrap();
        let ev = w.tick(Duration::ZERO).unwrap();
        assert_eq!(ev.kind, events::AUDIT_HEAD);
        assert_eq!(ev.details["seq"], 4);
        assert_eq!(ev.details["line"], head(4).trim_end());
        assert!(ev
            .message
            .ends_with(&format!("head line: {}", head(4).trim_end())));
        assert!(w.tick(Duration::ZERO).is_none(), "unchanged");
        std::fs::write(crate::audit::head_path(&log), head(5)).unwrap();
        assert!(w.tick(Duration::from_secs(3600)).is_none(), "rate-limited");
        assert_eq!(w.tick(Duration::ZERO).unwrap().details["seq"], 5);
    }

    #[test]
    fn incident_durations_are_observed_once_each() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("incidents");
        let s = Subject {
            container_id: "c",
            profile: None,
            reason: None,
        };
        let t0 = Utc::now() - chrono::Duration::seconds(10);
        store::record_detection(
            &dir,
            &s,
            &Detection {
                first_event: t0,
                detected: t0 + chrono::Duration::milliseconds(300),
                text: "x".into(),
            },
        )
        .unwrap();
        let m = IncidentMetrics::new();
        let mut r = Response::new(d.path(), &dir);
        r.scan(&m);
        r.scan(&m);
        assert_eq!(m.open.get(), 1);
        let mut reg = Registry::default();
        m.register(&mut reg);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
        assert!(
            text.contains("hardrun_incident_time_to_detect_seconds_count 1\n"),
            "{text}"
        );
        assert!(
            text.contains("hardrun_incident_time_to_respond_seconds_count 0\n"),
            "{text}"
        );
        store::record(&dir, &s, Stage::Isolated, "isolated").unwrap();
        r.scan(&m);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
        assert!(
            text.contains("hardrun_incident_time_to_respond_seconds_count 1\n"),
            "{text}"
        );
        store::close(&dir, &store::list(&dir).unwrap()[0].id, "done").unwrap();
        r.scan(&m);
        assert_eq!(m.open.get(), 0);
    }
}
