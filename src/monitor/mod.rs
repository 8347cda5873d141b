//! `hardrun monitor`: a node agent that watches what the runtime decided and what its containers
//! do, and reports each security event as one JSON line on stdout (see `docs/monitoring.md`).
//! The runtime works without it: it only reads what hardrun writes (the audit log, the state
//! root) and what the kernel shows (cgroup files, `/proc`).
//!
//! - policy events from the audit log, followed across rotation; the position is saved after
//!   every batch ([`follow::Cursor`] in the state file), so a restart loses and repeats nothing;
//! - cgroup events of every container in the state root ([`cgroups`]);
//! - live drift: `check --running --live` on each running container every interval, each drift
//!   reported once;
//! - egress: drops of each running container's `[egress]` table, every interval ([`egress`]);
//! - Prometheus metrics ([`metrics`]);
//! - its own response ([`response`]): automatic isolation where a container's profile asks for
//!   it, incident metrics, the audit log's head as an event.

pub mod cgroups;
pub mod egress;
pub mod events;
pub mod follow;
pub mod metrics;
pub mod response;
pub mod sinks;
pub mod tripwires;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

pub use events::{Event, Severity};
use metrics::{labels, Metrics};

use crate::profile::config::Config;
use crate::runtime::state_dir::Root;

/// How often the audit log and the cgroups are read.
const TICK: Duration = Duration::from_millis(200);

/// Set by SIGTERM/SIGINT: [`Monitor::run`] stops at its next tick.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop_signal(_: nix::libc::c_int) {
    // only an atomic store: async-signal-safe
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// SIGTERM (systemd's stop, `kill`) and SIGINT (^C) ask [`Monitor::run`] to stop cleanly.
pub fn stop_on_signals() -> Result<(), String> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_stop_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe; it
        // replaces the default disposition of a signal this process does not otherwise use.
        unsafe { sigaction(sig, &act) }.map_err(|e| format!("cannot handle {sig}: {e}"))?;
    }
    Ok(())
}

pub struct Options {
    /// the state root (`--root`)
    pub root: PathBuf,
    /// the audit log (`None`: audit_log is off; no policy events)
    pub audit_log: Option<PathBuf>,
    /// the monitor's own state (the audit cursor)
    pub state: PathBuf,
    /// how often running containers get the live check
    pub interval: Duration,
}

/// What the monitor keeps across restarts.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    #[serde(default)]
    pub audit: Option<follow::Cursor>,
    /// the drifts already reported (see [`DriftKey`]), so a restart does not report them again
    #[serde(default)]
    pub drifts: Vec<DriftKey>,
}

/// A drift reported once: (container instance, rule, field, actual, expected). The instance is
/// `<id>@<inode of its state directory>`, so a container deleted and made again under the same
/// id while the monitor was down is a new one.
pub type DriftKey = (String, String, String, String, String);

/// `<id>@<inode of its state directory>` (see [`DriftKey`]).
fn instance(c: &Seen) -> String {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&c.dir).map(|m| m.ino()).unwrap_or(0);
    format!("{}@{ino}", c.id)
}

pub fn load_saved(path: &Path) -> Result<Saved, String> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| format!("{}: not a monitor state file: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Saved::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn save(path: &Path, saved: &Saved) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
    }
    let bytes = serde_json::to_vec(saved).unwrap_or_default();
    crate::runtime::state_dir::write_atomic(path, &bytes).map_err(|e| e.to_string())
}

/// A container as one scan sees it.
pub struct Seen {
    pub id: String,
    pub dir: PathBuf,
    pub status: String,
    pub profile: String,
    pub cgroup: Option<PathBuf>,
    /// the init process
    pub pid: Option<i32>,
}

/// Every container in the state root (those that cannot be loaded are skipped).
pub fn containers(root: &Path) -> Vec<Seen> {
    let root = Root::new(root);
    let mut out = vec![];
    for id in root.list().unwrap_or_default() {
        let dir = root.container_dir(&id);
        let Ok(c) = crate::runtime::delegate::load(&dir, &id) else {
            continue;
        };
        let profile = crate::runtime::state_dir::read_record(&dir)
            .and_then(|r| r.profile)
            .unwrap_or_default();
        out.push(Seen {
            status: c.status().to_string().to_lowercase(),
            cgroup: c.cgroup_path(),
            pid: c.pid().map(|p| p.as_raw()),
            id,
            dir,
            profile,
        });
    }
    out
}

/// The running containers with an init process: (id, profile, pid).
fn running(seen: &[Seen]) -> Vec<(String, String, i32)> {
    seen.iter()
        .filter(|c| c.status == "running")
        .filter_map(|c| Some((c.id.clone(), c.profile.clone(), c.pid?)))
        .collect()
}

/// The CIS score of a container's staged spec: (level 1, level 2), as ratios.
pub fn cis_score(dir: &Path) -> Option<(f64, f64)> {
    let (_, spec) = crate::bundle::load_staged(dir).ok()?;
    let r = crate::compliance::score(&spec, &crate::base::RealHost);
    Some((r.level1.percent / 100.0, r.level2.percent / 100.0))
}

/// Sets the gauges of the running containers: count by profile, CIS score of each.
pub fn set_container_gauges(m: &Metrics, seen: &[Seen], scores: &mut BTreeMap<String, (f64, f64)>) {
    m.running.clear();
    m.cis.clear();
    for c in seen.iter().filter(|c| c.status == "running") {
        m.running
            .get_or_create(&labels(&[("profile", &c.profile)]))
            .inc();
        let score = match scores.get(&c.id) {
            Some(s) => Some(*s),
            None => cis_score(&c.dir).inspect(|s| {
                scores.insert(c.id.clone(), *s);
            }),
        };
        if let Some((l1, l2)) = score {
            for (level, v) in [("1", l1), ("2", l2)] {
                m.cis
                    .get_or_create(&labels(&[
                        ("container", &c.id),
                        ("profile", &c.profile),
                        ("level", level),
                    ]))
                    .set(v);
            }
        }
    }
    scores.retain(|id, _| seen.iter().any(|c| &c.id == id));
    let records: Vec<Vec<serde_json::Value>> = seen
        .iter()
        .filter(|c| c.status == "running")
        .filter_map(|c| crate::runtime::state_dir::read_record(&c.dir))
        .map(|r| r.findings)
        .collect();
    m.set_image_vulnerabilities(records.iter().map(Vec::as_slice));
}

pub struct Monitor<W: Write> {
    opts: Options,
    config: Config,
    out: W,
    pub metrics: Arc<Mutex<Metrics>>,
    follower: Option<follow::Follower>,
    /// cgroup readings and whether memory was near its limit, per container
    cgroups: BTreeMap<String, (cgroups::Reading, bool)>,
    /// drifts already reported (kept in the state file)
    drifts: BTreeSet<DriftKey>,
    scores: BTreeMap<String, (f64, f64)>,
    /// tripwires reported by the listener's threads (see [`tripwires`])
    tripwires: Option<std::sync::mpsc::Receiver<tripwires::Tripwire>>,
    /// Alertmanager, webhook, syslog, file (`config.monitor`)
    sinks: sinks::Sinks,
    /// automatic isolation and incident metrics
    response: response::Response,
    /// the audit log's head, sent as an event when it advances
    head: Option<response::HeadWatch>,
    /// the egress drop counters of each network namespace, as last read
    egress: egress::State,
}

impl<W: Write> Monitor<W> {
    pub fn new(opts: Options, config: Config, out: W) -> Result<Monitor<W>, String> {
        let saved = load_saved(&opts.state)?;
        let follower = opts
            .audit_log
            .as_deref()
            .map(|log| follow::Follower::new(log, saved.audit));
        let metrics = Metrics::new();
        let sinks = sinks::Sinks::start(
            &config.monitor,
            metrics.dropped.clone(),
            &sinks::node_name(),
        )?;
        let response = response::Response::new(&opts.root, &config.incidents_dir);
        let head = opts.audit_log.as_deref().map(response::HeadWatch::new);
        let mut m = Monitor {
            response,
            head,
            opts,
            config,
            out,
            sinks,
            metrics: Arc::new(Mutex::new(metrics)),
            follower,
            cgroups: BTreeMap::new(),
            drifts: saved.drifts.into_iter().collect(),
            scores: BTreeMap::new(),
            tripwires: None,
            egress: egress::State::default(),
        };
        // the containers there now: what their cgroups counted before the monitor is theirs
        for c in containers(&m.opts.root) {
            if let Some(cg) = &c.cgroup {
                let r = cgroups::read(cg);
                m.cgroups.insert(c.id.clone(), (r, cgroups::near(&r)));
            }
        }
        // and what their egress tables dropped before
        egress::tick(&mut m.egress, &running(&containers(&m.opts.root)), true);
        m.save()?;
        Ok(m)
    }

    /// The sinks' settings (`[monitor]` with the flags over it).
    pub fn config_monitor(&self) -> crate::profile::config::MonitorConfig {
        self.config.monitor.clone()
    }

    fn save(&self) -> Result<(), String> {
        let saved = Saved {
            audit: self.follower.as_ref().map(|f| f.cursor.clone()),
            drifts: self.drifts.iter().cloned().collect(),
        };
        save(&self.opts.state, &saved)
    }

    /// Writes an event (one JSON line) and counts it; one that cannot be written is dropped and
    /// counted as such. Then the sinks get it. Its severity is the one its container's profile
    /// gives its kind (`[monitor.severity]`), else the default. Then the monitor's response
    /// ([`response`]): it happened at the audit record's time, where it has one.
    fn emit(&mut self, ev: Event) {
        let at = response::occurred(&ev);
        self.emit_at(ev, at);
    }

    /// [`Monitor::emit`] of an event that happened at `occurred` (`None`: when it was seen).
    fn emit_at(&mut self, ev: Event, occurred: Option<chrono::DateTime<chrono::Utc>>) {
        let ev = self.write(ev);
        self.answer(&ev, occurred);
    }

    /// The event with its profile's severity, to stdout and the sinks; returns it as written.
    fn write(&mut self, mut ev: Event) -> Event {
        if !ev.profile.is_empty() {
            ev.severity = events::severity_in(ev.kind, self.config.profile(Some(&ev.profile)).ok());
        }
        self.sinks.send(&ev);
        let mut line = serde_json::to_vec(&ev).unwrap_or_default();
        line.push(b'\n');
        let m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        match self.out.write_all(&line).and_then(|_| self.out.flush()) {
            Ok(()) => {
                m.events
                    .get_or_create(&labels(&[
                        ("kind", ev.kind),
                        ("severity", ev.severity.as_str()),
                    ]))
                    .inc();
            }
            Err(e) => {
                m.dropped
                    .get_or_create(&labels(&[("sink", "stdout")]))
                    .inc();
                tracing::warn!("monitor: event dropped: cannot write it to stdout: {e}");
            }
        }
        drop(m);
        ev
    }

    /// The monitor's response to an event written ([`response`]), and its events.
    fn answer(&mut self, ev: &Event, occurred: Option<chrono::DateTime<chrono::Utc>>) {
        // the isolation (a freeze, nft) runs without the lock the metrics endpoint waits on
        let incidents = self
            .metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .incidents
            .clone();
        let answers = self
            .response
            .respond(&self.config, ev, occurred, &incidents);
        for a in answers {
            self.emit_at(a, None);
        }
    }

    /// The audit log's head as an event to the sinks that keep a copy (events file, syslog,
    /// webhook; not stdout, not Alertmanager) and as `hardrun_audit_head_sequence`, when it
    /// advanced (at most once per `--interval`).
    pub fn head_tick(&mut self) {
        let every = self.opts.interval;
        if let Some(ev) = self.head.as_mut().and_then(|h| h.tick(every)) {
            self.sinks.send(&ev);
            let m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(seq) = ev.details["seq"].as_i64() {
                m.incidents.audit_head.set(seq);
            }
        }
    }

    /// New audit records: their events and findings; then the cursor is saved.
    pub fn audit_tick(&mut self) -> Result<(), String> {
        let Some(f) = self.follower.as_mut() else {
            return Ok(());
        };
        let lines = f.poll().map_err(|e| {
            format!(
                "cannot read the audit log {}: {e}",
                self.opts
                    .audit_log
                    .as_deref()
                    .unwrap_or(Path::new(""))
                    .display()
            )
        })?;
        let intact = f.chain_intact;
        if let (false, Some(why)) = (intact, f.chain_break.take()) {
            tracing::error!("monitor: audit chain broken: {why}");
        }
        if lines.is_empty() {
            return Ok(());
        }
        let mut evs = vec![];
        {
            let m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
            m.chain_intact.set(i64::from(intact));
            for line in &lines {
                let Ok(r) = serde_json::from_slice::<serde_json::Value>(line) else {
                    continue;
                };
                if r.get("rotated_from").is_some() {
                    continue;
                }
                m.records.inc();
                m.count_record(&r);
                evs.extend(events::of_record(&r));
            }
        }
        for ev in evs {
            self.emit(ev);
        }
        self.save()
    }

    /// cgroup events of every container; returns the containers seen.
    pub fn cgroup_tick(&mut self) -> Vec<Seen> {
        let seen = containers(&self.opts.root);
        let mut evs = vec![];
        for c in &seen {
            let Some(cg) = &c.cgroup else { continue };
            let now = cgroups::read(cg);
            // a container first seen now is new: its cgroup started from zero
            let (before, near) = self.cgroups.get(&c.id).copied().unwrap_or_default();
            for (kind, message) in cgroups::changes(&before, &now, near) {
                evs.push(Event::new(
                    kind,
                    &c.id,
                    &c.profile,
                    message,
                    json!({"cgroup": cg, "oom_kill": now.oom_kill, "pids_max_events": now.pids_max,
                           "memory_usage_bytes": now.memory_usage, "memory_limit_bytes": now.memory_limit}),
                ));
            }
            self.cgroups
                .insert(c.id.clone(), (now, cgroups::near(&now)));
        }
        self.cgroups
            .retain(|id, _| seen.iter().any(|c| &c.id == id));
        for ev in evs {
            self.emit(ev);
        }
        seen
    }

    /// The live check of each running container: each drift not reported before is a critical
    /// event.
    pub fn drift_tick(&mut self, seen: &[Seen]) {
        let mut evs = vec![];
        let before = self.drifts.len();
        let instances: Vec<String> = seen.iter().map(instance).collect();
        for (c, inst) in seen.iter().zip(&instances) {
            if c.status != "running" {
                continue;
            }
            let profile = (!c.profile.is_empty())
                .then(|| self.config.profile(Some(&c.profile)).ok())
                .flatten();
            let report = match crate::runtime::live::inspect(&c.dir, &c.id, profile) {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("monitor: container {}: live check: {e}", c.id);
                    continue;
                }
            };
            for p in &report.processes {
                for d in &p.drifts {
                    let key = (
                        inst.clone(),
                        d.kind.code().to_owned(),
                        d.field.clone(),
                        d.actual.clone(),
                        d.expected.clone(),
                    );
                    if !self.drifts.insert(key) {
                        continue;
                    }
                    evs.push(Event::new(
                        events::DRIFT,
                        &c.id,
                        &c.profile,
                        format!("{} pid {} ({}): {d}", c.id, p.pid, p.comm),
                        json!({"rule": d.kind.code(), "pid": p.pid, "tid": d.tid, "comm": p.comm,
                               "init": p.init, "field": d.field, "actual": d.actual,
                               "expected": d.expected, "pointer": d.pointer}),
                    ));
                }
            }
        }
        self.drifts.retain(|k| instances.contains(&k.0));
        let changed = !evs.is_empty() || self.drifts.len() != before;
        for ev in evs {
            self.emit(ev);
        }
        if changed {
            if let Err(e) = self.save() {
                tracing::error!("monitor: {e}");
            }
        }
    }

    /// The egress drop counters of each running container's network namespace: each counter
    /// that grew is an `egress-denied` event (see [`egress`]).
    pub fn egress_tick(&mut self, seen: &[Seen]) {
        let denied = egress::tick(&mut self.egress, &running(seen), false);
        for d in denied {
            {
                let m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
                m.egress_packets
                    .get_or_create(&labels(&[
                        ("profile", &d.profile),
                        ("rule", &d.counter.rule),
                    ]))
                    .inc_by(d.delta);
            }
            let ev = Event::new(
                events::EGRESS_DENIED,
                &d.container,
                &d.profile,
                egress::message(&d),
                json!({"rule": d.counter.rule, "destination": d.counter.destination,
                       "counter": d.counter.name, "packets": d.delta,
                       "packets_total": d.counter.packets, "containers": d.containers,
                       "netns_inode": d.netns.1}),
            );
            self.emit(ev);
        }
    }

    /// Listens for seccomp tripwires on the state root's socket (see [`tripwires`]); returns
    /// its path.
    pub fn listen_tripwires(&mut self) -> Result<PathBuf, String> {
        let socket = crate::base::paths::tripwire_socket(&self.opts.root);
        let (tx, rx) = std::sync::mpsc::channel();
        tripwires::listen(&socket, tx)?;
        self.tripwires = Some(rx);
        Ok(socket)
    }

    /// Reports one tripwire.
    pub fn tripwire(&mut self, t: tripwires::Tripwire) {
        let kind = if tripwires::ESCALATION.contains(&t.syscall.as_str()) {
            events::ESCALATION_ATTEMPT
        } else {
            events::TRIPWIRE
        };
        let errno = tripwires::errno_name(t.errno);
        let ev = Event::new(
            kind,
            &t.container,
            &t.profile,
            format!(
                "{} pid {} ({}) tried {}: refused with {errno}",
                t.container, t.pid, t.comm, t.syscall
            ),
            json!({"syscall": t.syscall, "nr": t.nr, "pid": t.pid, "comm": t.comm,
                   "exe": t.exe, "errno": errno,
                   "args": t.args.iter().map(|a| format!("{a:#x}")).collect::<Vec<_>>()}),
        );
        let ev = self.write(ev);
        let latency = t.received.elapsed();
        self.metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tripwire_latency
            .observe(latency.as_secs_f64());
        // it happened when the kernel notified the monitor
        let notified = chrono::Duration::from_std(latency)
            .ok()
            .map(|d| chrono::Utc::now() - d);
        self.answer(&ev, notified);
    }

    /// Waits up to `d` for tripwires, reporting each as it comes.
    fn wait_tripwires(&mut self, d: Duration) {
        let Some(rx) = self.tripwires.take() else {
            std::thread::sleep(d);
            return;
        };
        let until = Instant::now() + d;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(t) => self.tripwire(t),
                Err(_) => break,
            }
        }
        self.tripwires = Some(rx);
    }

    /// Runs until SIGTERM or SIGINT (see [`stop_on_signals`]), then returns once the batch in
    /// hand is written, the audit position saved and the sinks have sent what they held (the
    /// Alertmanager windows' batches included): a stopped monitor, started again, repeats and
    /// loses nothing. Killed outright (SIGKILL, a crash) between writing a batch's events
    /// and saving its position, it writes that batch again at the next start: at least once,
    /// never lost.
    pub fn run(&mut self) -> Result<(), String> {
        let mut last_scan: Option<Instant> = None;
        loop {
            if STOP.load(std::sync::atomic::Ordering::SeqCst) {
                let saved = self.save();
                self.sinks.close();
                return saved;
            }
            self.audit_tick()?;
            self.head_tick();
            let seen = self.cgroup_tick();
            if last_scan.is_none_or(|t| t.elapsed() >= self.opts.interval) {
                last_scan = Some(Instant::now());
                self.drift_tick(&seen);
                self.egress_tick(&seen);
                let m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
                set_container_gauges(&m, &seen, &mut self.scores);
                self.response.scan(&m.incidents);
                let ids: Vec<&str> = seen.iter().map(|c| c.id.as_str()).collect();
                self.response.retain(&ids);
            }
            self.wait_tripwires(TICK);
        }
    }
}
