//! Severity-timed batching for Alertmanager, and the alerts a batch becomes.
//!
//! Critical events are sent at once. An event of another severity opens that severity's window
//! (high 1 h, medium 4 h, low 24 h by default) if none is open; every event of that severity
//! until the window closes joins it; when it closes, the batch is sent as one POST. So an event
//! waits at most its window, and a quiet node sends nothing. A zero window sends at once.
//!
//! A batch becomes one **digest alert per (kind, container, profile, severity)**: the labels
//! Alertmanager groups and routes by stay the same however many events there were, and the
//! annotations carry the count, the first and last time, and the last messages.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::monitor::events::{Event, Severity};
use crate::profile::config::AlertWindows;

/// How many messages a digest alert quotes (the newest).
pub const QUOTED: usize = 5;

pub fn window_of(w: &AlertWindows, s: Severity) -> Duration {
    match s {
        Severity::Critical => Duration::ZERO,
        Severity::High => w.high,
        Severity::Medium => w.medium,
        Severity::Low => w.low,
    }
}

/// The open windows: for each severity, when it closes and what it holds.
#[derive(Debug)]
pub struct Batcher {
    windows: AlertWindows,
    open: BTreeMap<Severity, (Instant, Vec<Event>)>,
}

impl Batcher {
    pub fn new(windows: AlertWindows) -> Batcher {
        Batcher {
            windows,
            open: BTreeMap::new(),
        }
    }

    /// Takes an event at `now`: `Some(batch)` when it goes at once (critical, or a zero window).
    pub fn push(&mut self, ev: Event, now: Instant) -> Option<Vec<Event>> {
        let w = window_of(&self.windows, ev.severity);
        if w.is_zero() {
            return Some(vec![ev]);
        }
        self.open
            .entry(ev.severity)
            .or_insert_with(|| (now + w, vec![]))
            .1
            .push(ev);
        None
    }

    /// The batches whose window has closed at `now` (highest severity first).
    pub fn due(&mut self, now: Instant) -> Vec<Vec<Event>> {
        let closed: Vec<Severity> = self
            .open
            .iter()
            .rev()
            .filter(|(_, (until, _))| *until <= now)
            .map(|(s, _)| *s)
            .collect();
        closed
            .into_iter()
            .filter_map(|s| self.open.remove(&s).map(|(_, evs)| evs))
            .collect()
    }

    /// When the next window closes.
    pub fn next_due(&self) -> Option<Instant> {
        self.open.values().map(|(until, _)| *until).min()
    }

    /// Events waiting in open windows.
    pub fn pending(&self) -> usize {
        self.open.values().map(|(_, evs)| evs.len()).sum()
    }
}

/// `HardrunEscalationAttempt` for `escalation-attempt`.
pub fn alertname(kind: &str) -> String {
    let mut s = String::from("Hardrun");
    for word in kind.split(['-', '_']).filter(|w| !w.is_empty()) {
        let mut c = word.chars();
        if let Some(f) = c.next() {
            s.extend(f.to_uppercase());
            s.push_str(c.as_str());
        }
    }
    s
}

/// What a digest alert stands for: (kind, container, profile, severity).
type Group<'a> = (&'a str, &'a str, &'a str, Severity);

/// The Alertmanager v2 alerts of one batch (`POST /api/v2/alerts` takes the array): one per
/// (kind, container, profile, severity), in the batch's order of first appearance.
pub fn alerts(batch: &[Event], node: &str) -> Vec<Value> {
    let mut groups: Vec<(Group, Vec<&Event>)> = vec![];
    for ev in batch {
        let key = (
            ev.kind,
            ev.container.as_str(),
            ev.profile.as_str(),
            ev.severity,
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, evs)) => evs.push(ev),
            None => groups.push((key, vec![ev])),
        }
    }
    groups
        .into_iter()
        .map(|((kind, container, profile, severity), evs)| {
            let (first, last) = (evs[0], evs[evs.len() - 1]);
            let quoted: Vec<&str> = evs
                .iter()
                .rev()
                .take(QUOTED)
                .rev()
                .map(|e| e.message.as_str())
                .collect();
            let summary = if evs.len() == 1 {
                last.message.clone()
            } else {
                format!(
                    "{} {kind} events in container {container} (last: {})",
                    evs.len(),
                    last.message
                )
            };
            json!({
                "labels": {
                    "alertname": alertname(kind),
                    "severity": severity.as_str(),
                    "container": container,
                    "profile": profile,
                    "kind": kind,
                    "node": node,
                },
                "annotations": {
                    "summary": summary,
                    "description": quoted.join("\n"),
                    "count": evs.len().to_string(),
                    "first": first.time,
                    "last": last.time,
                },
                "startsAt": first.time,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::events;

    fn ev(kind: &'static str, container: &str, msg: &str) -> Event {
        Event::new(kind, container, "restricted", msg.into(), json!({}))
    }

    #[test]
    fn windows_open_on_the_first_event_and_close_after_their_length() {
        let w = AlertWindows {
            high: Duration::from_secs(10),
            medium: Duration::from_secs(20),
            low: Duration::ZERO,
        };
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut b = Batcher::new(w);
        // (at, event, sent at once)
        let cases: &[(u64, &'static str, bool)] = &[
            (0, events::DRIFT, true),              // critical
            (1, events::TRIPWIRE, false),          // high: opens 1..11
            (2, events::REFUSAL, false),           // medium: opens 2..22
            (3, events::EXEC, true),               // low: zero window
            (5, events::TRIPWIRE, false),          // joins high
            (9, events::ESCALATION_ATTEMPT, true), // critical
        ];
        for (at, kind, now) in cases {
            let got = b.push(ev(kind, "c1", kind), t0 + s(*at));
            assert_eq!(got.is_some(), *now, "{kind} at {at}");
            if let Some(batch) = got {
                assert_eq!(batch.len(), 1);
            }
        }
        assert_eq!(b.pending(), 3);
        assert_eq!(b.next_due(), Some(t0 + s(11)));
        assert!(b.due(t0 + s(10)).is_empty());
        let due = b.due(t0 + s(11));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].len(), 2);
        assert!(due[0].iter().all(|e| e.kind == events::TRIPWIRE));
        // a high event after the window closed opens a new one
        assert!(b
            .push(ev(events::TRIPWIRE, "c1", "x"), t0 + s(12))
            .is_none());
        assert_eq!(b.next_due(), Some(t0 + s(22)));
        let due = b.due(t0 + s(30));
        assert_eq!(due.len(), 2, "both closed, high first");
        assert_eq!(due[0][0].kind, events::TRIPWIRE);
        assert_eq!(due[1][0].kind, events::REFUSAL);
        assert_eq!(b.pending(), 0);
        assert_eq!(b.next_due(), None);
    }

    #[test]
    fn a_batch_is_one_digest_alert_per_kind_and_container() {
        let batch = vec![
            ev(events::REFUSAL, "a", "r1"),
            ev(events::REFUSAL, "b", "r2"),
            ev(events::REFUSAL, "a", "r3"),
            ev(events::OOM_KILL, "a", "o1"),
        ];
        let a = alerts(&batch, "node1");
        assert_eq!(a.len(), 3);
        assert_eq!(
            a[0]["labels"],
            json!({"alertname": "HardrunRefusal", "severity": "medium", "container": "a",
                   "profile": "restricted", "kind": "refusal", "node": "node1"})
        );
        assert_eq!(a[0]["annotations"]["count"], "2");
        assert_eq!(a[0]["annotations"]["description"], "r1\nr3");
        assert!(a[0]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("2 refusal events in container a (last: r3)"));
        assert_eq!(a[0]["startsAt"], batch[0].time);
        assert_eq!(a[1]["labels"]["container"], "b");
        assert_eq!(a[1]["annotations"]["summary"], "r2");
        assert_eq!(a[2]["labels"]["alertname"], "HardrunOomKill");
        assert!(a[0].get("endsAt").is_none());
        // many events: the newest few are quoted
        let many: Vec<Event> = (0..8)
            .map(|i| ev(events::EXEC, "c", &format!("m{i}")))
            .collect();
        let a = alerts(&many, "n");
        assert_eq!(a[0]["annotations"]["description"], "m3\nm4\nm5\nm6\nm7");
    }

    #[test]
    fn alertnames() {
        for (kind, want) in [
            ("escalation-attempt", "HardrunEscalationAttempt"),
            ("drift", "HardrunDrift"),
            ("memory-near-limit", "HardrunMemoryNearLimit"),
        ] {
            assert_eq!(alertname(kind), want);
        }
    }
}
