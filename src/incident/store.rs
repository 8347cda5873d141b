//! The incident store: one JSON file per incident in the configuration's `incidents_dir`
//! (default `/var/lib/hardrun/incidents`), written atomically (temp file + rename) under a lock
//! (`<dir>/.lock`), so the commands, the monitor and evidence collection can append to the same
//! incident without losing a stage.
//!
//! ```text
//! <incidents_dir>/<incident id>.json   {"id", "containerId", "profile", "reason", "timeline": [
//!                                        {"stage": "first-event"|"detected"|"isolated"|
//!                                         "evidence-collected"|"released"|"closed",
//!                                         "time": RFC 3339, "text": "…"}, …]}
//! ```
//!
//! A container has at most one open incident: [`append`] adds to it, or opens one. Time to
//! detect is `detected − first-event`; time to respond is `isolated − detected` (first of each).
//! A response stage (isolated, evidence-collected, released) in an incident that has no
//! `detected` yet adds `detected` at the same time first: nothing detected it earlier than the
//! operator who responded, and that is what the timeline then says.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::runtime::state_dir::write_atomic;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("incidents directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    File { path: PathBuf, msg: String },
    #[error("incident {id:?} does not exist in {dir}")]
    NotFound { id: String, dir: PathBuf },
    #[error("invalid incident id {0:?}: only letters, digits and - are allowed")]
    InvalidId(String),
    #[error("incident {id:?} is already closed (at {at})")]
    Closed { id: String, at: String },
    #[error("unknown incident stage {0:?} (first-event, detected, isolated, evidence-collected, released, closed)")]
    UnknownStage(String),
}

/// A stage of an incident's timeline, in the order they normally come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// the first event that belongs to it (the monitor's first sighting)
    FirstEvent,
    /// someone or something decided it is an incident
    Detected,
    Isolated,
    EvidenceCollected,
    Released,
    Closed,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::FirstEvent,
        Stage::Detected,
        Stage::Isolated,
        Stage::EvidenceCollected,
        Stage::Released,
        Stage::Closed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::FirstEvent => "first-event",
            Stage::Detected => "detected",
            Stage::Isolated => "isolated",
            Stage::EvidenceCollected => "evidence-collected",
            Stage::Released => "released",
            Stage::Closed => "closed",
        }
    }

    /// A stage that answers an incident (and so implies it was detected).
    fn is_response(self) -> bool {
        matches!(
            self,
            Stage::Isolated | Stage::EvidenceCollected | Stage::Released
        )
    }
}

impl std::str::FromStr for Stage {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Stage, StoreError> {
        Stage::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| StoreError::UnknownStage(s.to_owned()))
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One entry of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub stage: Stage,
    /// RFC 3339, UTC
    pub time: String,
    pub text: String,
}

impl Event {
    fn at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub id: String,
    pub container_id: String,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    pub timeline: Vec<Event>,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        !self.timeline.iter().any(|e| e.stage == Stage::Closed)
    }

    /// When the stage first happened.
    pub fn first(&self, stage: Stage) -> Option<DateTime<Utc>> {
        self.timeline
            .iter()
            .filter(|e| e.stage == stage)
            .find_map(Event::at)
    }

    /// When the incident was opened (its first entry).
    pub fn opened(&self) -> Option<DateTime<Utc>> {
        self.timeline.iter().find_map(Event::at)
    }

    /// `detected − first-event`; `None` without both.
    pub fn time_to_detect(&self) -> Option<chrono::Duration> {
        Some(self.first(Stage::Detected)? - self.first(Stage::FirstEvent)?)
    }

    /// `isolated − detected`; `None` without both.
    pub fn time_to_respond(&self) -> Option<chrono::Duration> {
        Some(self.first(Stage::Isolated)? - self.first(Stage::Detected)?)
    }

    /// Adds a stage at `now`; a response without a `detected` stage gets one first (see the
    /// module's documentation).
    fn push(&mut self, stage: Stage, text: &str, now: DateTime<Utc>) {
        let time = rfc3339(now);
        if stage.is_response() && self.first(Stage::Detected).is_none() {
            self.timeline.push(Event {
                stage: Stage::Detected,
                time: time.clone(),
                text: format!(
                    "no earlier detection recorded: detected at the first response ({stage})"
                ),
            });
        }
        self.timeline.push(Event {
            stage,
            time,
            text: text.to_owned(),
        });
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Who an incident is about, when one is opened: the container, the profile it runs under and
/// why (the operator's `--reason`, the monitor's event).
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    pub container_id: &'a str,
    pub profile: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// Adds `stage` to the container's open incident, or opens one with it. What the monitor and
/// evidence collection call.
pub fn append(
    dir: &Path,
    container_id: &str,
    stage: Stage,
    text: &str,
) -> Result<Incident, StoreError> {
    record(
        dir,
        &Subject {
            container_id,
            ..Default::default()
        },
        stage,
        text,
    )
}

/// [`append`] with the incident's profile and reason, filled in where the incident has none yet.
pub fn record(
    dir: &Path,
    subject: &Subject,
    stage: Stage,
    text: &str,
) -> Result<Incident, StoreError> {
    record_at(dir, subject, stage, text, Utc::now())
}

/// Adds `stage` to the container's open incident; `None` (nothing written) when it has none.
/// What `release` calls: releasing opens no incident.
pub fn append_if_open(
    dir: &Path,
    container_id: &str,
    stage: Stage,
    text: &str,
) -> Result<Option<Incident>, StoreError> {
    let _lock = lock(dir)?;
    let Some(mut incident) = list_unlocked(dir)?
        .into_iter()
        .rev()
        .find(|i| i.container_id == container_id && i.is_open())
    else {
        return Ok(None);
    };
    incident.push(stage, text, Utc::now());
    save(dir, &incident)?;
    Ok(Some(incident))
}

fn record_at(
    dir: &Path,
    subject: &Subject,
    stage: Stage,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Incident, StoreError> {
    let _lock = lock(dir)?;
    let mut incident = open_or_new(dir, subject, now)?;
    incident.push(stage, text, now);
    save(dir, &incident)?;
    Ok(incident)
}

/// What detected an incident, with its times: `first-event` (when it happened: the audit
/// record's time, the tripwire's notification) and `detected` (when the monitor reported it).
#[derive(Debug, Clone)]
pub struct Detection {
    pub first_event: DateTime<Utc>,
    pub detected: DateTime<Utc>,
    pub text: String,
}

/// Adds `first-event` and `detected` at the detection's times to the container's open incident
/// (each only where the incident has none yet), or opens one with them. What the monitor calls
/// before it responds, so time to detect and time to respond are measured from the event.
pub fn record_detection(
    dir: &Path,
    subject: &Subject,
    d: &Detection,
) -> Result<Incident, StoreError> {
    let _lock = lock(dir)?;
    let mut incident = open_or_new(dir, subject, d.first_event)?;
    for (stage, at) in [
        (Stage::FirstEvent, d.first_event),
        (Stage::Detected, d.detected),
    ] {
        if incident.first(stage).is_none() {
            incident.timeline.push(Event {
                stage,
                time: rfc3339(at),
                text: d.text.clone(),
            });
        }
    }
    save(dir, &incident)?;
    Ok(incident)
}

/// The container's open incident (profile and reason filled in where it has none), or a new one.
fn open_or_new(dir: &Path, subject: &Subject, now: DateTime<Utc>) -> Result<Incident, StoreError> {
    let mut incident = match list_unlocked(dir)?
        .into_iter()
        .rev()
        .find(|i| i.container_id == subject.container_id && i.is_open())
    {
        Some(i) => i,
        None => Incident {
            id: new_id(dir, subject.container_id, now),
            container_id: subject.container_id.to_owned(),
            profile: None,
            reason: None,
            timeline: vec![],
        },
    };
    if incident.profile.is_none() {
        incident.profile = subject.profile.map(str::to_owned);
    }
    if incident.reason.is_none() {
        incident.reason = subject.reason.map(str::to_owned);
    }
    Ok(incident)
}

/// Closes an incident with the operator's note.
pub fn close(dir: &Path, id: &str, note: &str) -> Result<Incident, StoreError> {
    let _lock = lock(dir)?;
    let mut incident = get(dir, id)?;
    if let Some(e) = incident.timeline.iter().find(|e| e.stage == Stage::Closed) {
        return Err(StoreError::Closed {
            id: id.to_owned(),
            at: e.time.clone(),
        });
    }
    incident.push(Stage::Closed, note, Utc::now());
    save(dir, &incident)?;
    Ok(incident)
}

/// One incident by id.
pub fn get(dir: &Path, id: &str) -> Result<Incident, StoreError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(StoreError::InvalidId(id.to_owned()));
    }
    let path = dir.join(format!("{id}.json"));
    match std::fs::read(&path) {
        Ok(b) => parse(&path, &b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound {
            id: id.to_owned(),
            dir: dir.to_path_buf(),
        }),
        Err(e) => Err(StoreError::File {
            path,
            msg: e.to_string(),
        }),
    }
}

/// Every incident, oldest first. A missing directory holds none.
pub fn list(dir: &Path) -> Result<Vec<Incident>, StoreError> {
    list_unlocked(dir)
}

fn list_unlocked(dir: &Path) -> Result<Vec<Incident>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => {
            return Err(StoreError::Dir {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut all = vec![];
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| StoreError::File {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        all.push(parse(&path, &bytes)?);
    }
    all.sort_by(|a, b| (a.opened(), &a.id).cmp(&(b.opened(), &b.id)));
    Ok(all)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Incident, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::File {
        path: path.to_path_buf(),
        msg: format!("not an incident: {e}"),
    })
}

fn save(dir: &Path, incident: &Incident) -> Result<(), StoreError> {
    let path = dir.join(format!("{}.json", incident.id));
    let mut bytes = serde_json::to_vec_pretty(incident).unwrap_or_default();
    bytes.push(b'\n');
    write_atomic(&path, &bytes).map_err(|e| StoreError::File {
        path,
        msg: e.to_string(),
    })
}

/// The store's lock, made with the directory (0700) when missing.
fn lock(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |source| StoreError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .map_err(err)?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| err(e.into()))
}

/// `<yyyymmdd>-<hhmmss>-<8 hex>`: sortable, short, a file name whatever the container id.
fn new_id(dir: &Path, container_id: &str, now: DateTime<Utc>) -> String {
    use sha2::{Digest, Sha256};
    let stamp = now.format("%Y%m%d-%H%M%S").to_string();
    for n in 0u32.. {
        let mut h = Sha256::new();
        h.update(container_id.as_bytes());
        h.update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
        h.update(std::process::id().to_le_bytes());
        h.update(n.to_le_bytes());
        let hex = crate::base::hex::hex(&h.finalize()[..4]);
        let id = format!("{stamp}-{hex}");
        if !dir.join(format!("{id}.json")).exists() {
            return id;
        }
    }
    unreachable!("u32 ran out of fresh incident ids")
}

/// Statistics of one duration over incidents, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// incidents that have the duration (both stages)
    pub count: usize,
    pub mean_seconds: Option<f64>,
    pub median_seconds: Option<f64>,
    pub max_seconds: Option<f64>,
}

impl Stats {
    fn of(mut v: Vec<f64>) -> Stats {
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        };
        Stats {
            count: n,
            mean_seconds: (n > 0).then(|| v.iter().sum::<f64>() / n as f64),
            median_seconds: median,
            max_seconds: v.last().copied(),
        }
    }
}

/// The summary `incident list --format json` gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub total: usize,
    pub open: usize,
    pub closed: usize,
    pub time_to_detect: Stats,
    pub time_to_respond: Stats,
}

pub fn seconds(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

pub fn summarize(incidents: &[Incident]) -> Summary {
    let open = incidents.iter().filter(|i| i.is_open()).count();
    Summary {
        total: incidents.len(),
        open,
        closed: incidents.len() - open,
        time_to_detect: Stats::of(
            incidents
                .iter()
                .filter_map(|i| i.time_to_detect().map(seconds))
                .collect(),
        ),
        time_to_respond: Stats::of(
            incidents
                .iter()
                .filter_map(|i| i.time_to_respond().map(seconds))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn ev(stage: Stage, time: &str) -> Event {
        Event {
            stage,
            time: time.into(),
            text: String::new(),
        }
    }

    fn incident(timeline: Vec<Event>) -> Incident {
        Incident {
            id: "x".into(),
            container_id: "c".into(),
            profile: None,
            reason: None,
            timeline,
        }
    }

    #[test]
    fn stage_names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(s.name().parse::<Stage>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
        assert!("resolved".parse::<Stage>().is_err());
    }

    /// time to detect and to respond, table cases: the first of each stage counts, a missing
    /// stage gives none.
    #[test]
    fn timeline_math() {
        use Stage::*;
        let cases: Vec<(Vec<Event>, Option<f64>, Option<f64>)> = vec![
            (vec![], None, None),
            (
                vec![
                    ev(FirstEvent, "2026-12-05T10:00:00Z"),
                    ev(Detected, "2026-12-05T10:00:30Z"),
                    ev(Isolated, "2026-12-05T10:02:00.500Z"),
                ],
                Some(30.0),
                Some(90.5),
            ),
            (
                vec![
                    ev(Detected, "2026-12-05T10:00:30Z"),
                    ev(Isolated, "2026-12-05T10:01:00Z"),
                    ev(Released, "2026-12-05T10:05:00Z"),
                    ev(Isolated, "2026-12-05T10:09:00Z"),
                ],
                None,
                Some(30.0),
            ),
            (
                vec![
                    ev(FirstEvent, "2026-12-05T10:00:00Z"),
                    ev(Detected, "2026-12-05T10:00:05Z"),
                ],
                Some(5.0),
                None,
            ),
        ];
        for (timeline, ttd, ttr) in cases {
            let i = incident(timeline.clone());
            assert_eq!(i.time_to_detect().map(seconds), ttd, "{timeline:?}");
            assert_eq!(i.time_to_respond().map(seconds), ttr, "{timeline:?}");
        }
    }

    #[test]
    fn summary_counts_and_medians() {
        use Stage::*;
        let a = incident(vec![
            ev(FirstEvent, "2026-12-05T10:00:00Z"),
            ev(Detected, "2026-12-05T10:00:10Z"),
            ev(Isolated, "2026-12-05T10:00:11Z"),
            ev(Closed, "2026-12-05T11:00:00Z"),
        ]);
        let b = incident(vec![
            ev(FirstEvent, "2026-12-05T10:00:00Z"),
            ev(Detected, "2026-12-05T10:00:30Z"),
            ev(Isolated, "2026-12-05T10:00:33Z"),
        ]);
        let c = incident(vec![ev(Detected, "2026-12-05T10:00:00Z")]);
        let s = summarize(&[a, b, c]);
        assert_eq!((s.total, s.open, s.closed), (3, 2, 1));
        assert_eq!(s.time_to_detect.count, 2);
        assert_eq!(s.time_to_detect.median_seconds, Some(20.0));
        assert_eq!(s.time_to_detect.max_seconds, Some(30.0));
        assert_eq!(s.time_to_respond.mean_seconds, Some(2.0));
        assert_eq!(summarize(&[]).time_to_respond.median_seconds, None);
    }

    /// the monitor's detection: first-event and detected at the event's times, once each; the
    /// isolation after it measures time to respond from the detection.
    #[test]
    fn detection_times_come_from_the_event() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("incidents");
        let s = Subject {
            container_id: "web",
            profile: Some("restricted"),
            reason: Some("escalation-attempt"),
        };
        let det = Detection {
            first_event: t("2026-12-05T10:00:00Z"),
            detected: t("2026-12-05T10:00:00.250Z"),
            text: "unshare".into(),
        };
        let a = record_detection(&dir, &s, &det).unwrap();
        assert_eq!(a.time_to_detect().map(seconds), Some(0.25));
        let later = Detection {
            first_event: t("2026-12-05T10:00:05Z"),
            detected: t("2026-12-05T10:00:06Z"),
            text: "again".into(),
        };
        let b = record_detection(&dir, &s, &later).unwrap();
        assert_eq!(b.id, a.id);
        assert_eq!(b.timeline.len(), 2, "{b:?}");
        let c = record_at(
            &dir,
            &s,
            Stage::Isolated,
            "isolated",
            t("2026-12-05T10:00:01Z"),
        )
        .unwrap();
        assert_eq!(c.time_to_respond().map(seconds), Some(0.75));
        assert_eq!(c.time_to_detect().map(seconds), Some(0.25));
    }

    /// isolate without a detection adds `detected` first; a second stage goes to the same open
    /// incident; after the close a new stage opens a new incident.
    #[test]
    fn append_opens_appends_and_reopens_after_close() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("incidents");
        let s = Subject {
            container_id: "web",
            profile: Some("restricted"),
            reason: Some("miner"),
        };
        let now = t("2026-12-05T10:00:00Z");
        let a = record_at(&dir, &s, Stage::Isolated, "isolated", now).unwrap();
        let stages: Vec<Stage> = a.timeline.iter().map(|e| e.stage).collect();
        assert_eq!(stages, [Stage::Detected, Stage::Isolated]);
        assert_eq!(a.time_to_respond().map(seconds), Some(0.0));
        assert_eq!(a.profile.as_deref(), Some("restricted"));
        let b = append(&dir, "web", Stage::Released, "released").unwrap();
        assert_eq!(b.id, a.id);
        assert_eq!(b.timeline.len(), 3);
        assert_eq!(b.reason.as_deref(), Some("miner"));
        // another container: its own incident
        let other = append(&dir, "db", Stage::FirstEvent, "tripwire").unwrap();
        assert_ne!(other.id, a.id);
        let closed = close(&dir, &a.id, "false positive").unwrap();
        assert!(!closed.is_open());
        assert!(matches!(
            close(&dir, &a.id, "again"),
            Err(StoreError::Closed { .. })
        ));
        let c = append(&dir, "web", Stage::Detected, "again").unwrap();
        assert_ne!(c.id, a.id);
        assert_eq!(list(&dir).unwrap().len(), 3);
        assert_eq!(get(&dir, &a.id).unwrap(), closed);
        assert!(matches!(get(&dir, "../x"), Err(StoreError::InvalidId(_))));
        assert!(matches!(
            get(&dir, "20990101-000000-00000000"),
            Err(StoreError::NotFound { .. })
        ));
        // no temporary files left beside the incidents
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".lock")
            .collect();
        assert!(
            names
                .iter()
                .all(|n| n.ends_with(".json") && !n.starts_with('.')),
            "{names:?}"
        );
    }
}
