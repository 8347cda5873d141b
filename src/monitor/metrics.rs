//! The monitor's Prometheus metrics (`prometheus-client`), served at `/metrics` and written by
//! `hardrun metrics --textfile DIR`, in Prometheus' text format 0.0.4 (what node_exporter's
//! textfile collector and `promtool check metrics` read).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// `start × factor^i` for i in 0..n, the buckets prometheus-client's `exponential_buckets`
/// gives, without its `powf`: the runtime binary would link libm for it, and the dynamic loader
/// pays for libm at every start (issue 20). A whole-number factor's powers are exact, so the
/// buckets are the same numbers (unit-tested).
pub(crate) fn exponential_buckets(start: f64, factor: u32, n: u16) -> impl Iterator<Item = f64> {
    (0..i32::from(n)).map(move |i| start * f64::from(factor).powi(i))
}

pub struct Metrics {
    registry: Registry,
    pub running: Family<Labels, Gauge>,
    pub events: Family<Labels, Counter>,
    pub findings: Family<Labels, Counter>,
    pub cis: Family<Labels, Gauge<f64, AtomicU64>>,
    pub chain_intact: Gauge,
    pub records: Counter,
    /// events a sink could not deliver, by sink (`stdout`, `alertmanager`, `webhook`, `syslog`,
    /// `file`): its queue was full, its retries ran out or the write failed
    pub dropped: Family<Labels, Counter>,
    /// a tripwire notification received -> its event written (seconds)
    pub tripwire_latency: Histogram,
    /// policy decisions in the audit log, by command, profile and decision
    pub decisions: Family<Labels, Counter>,
    /// cgroup limits the `resources` rule changed, by profile and resource
    pub limits_changed: Family<Labels, Counter>,
    /// a decision's `decision_ms` (runtime start -> decision recorded), in seconds
    pub decision_time: Histogram,
    /// incidents, time to detect and to respond, automatic isolations (see `response`)
    pub incidents: super::response::IncidentMetrics,
    /// packets the `[egress]` tables dropped, by profile and entry (`metadata`, `deny[0]`, ...)
    pub egress_packets: Family<Labels, Counter>,
    /// vulnerabilities by severity in the scan reports of the running containers' images, each
    /// image counted once (see [`Metrics::set_image_vulnerabilities`])
    pub image_vulns: Family<Labels, Gauge>,
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            running: Family::default(),
            events: Family::default(),
            findings: Family::default(),
            cis: Family::default(),
            chain_intact: Gauge::default(),
            records: Counter::default(),
            dropped: Family::default(),
            tripwire_latency: Histogram::new(exponential_buckets(0.0001, 4, 8)),
            decisions: Family::default(),
            limits_changed: Family::default(),
            decision_time: Histogram::new(exponential_buckets(0.001, 2, 12)),
            incidents: super::response::IncidentMetrics::new(),
            egress_packets: Family::default(),
            image_vulns: Family::default(),
        };
        registry.register(
            "hardrun_containers_running",
            "Containers running, by the profile they were created under",
            m.running.clone(),
        );
        registry.register(
            "hardrun_security_events",
            "Security events reported, by kind and severity",
            m.events.clone(),
        );
        registry.register(
            "hardrun_findings",
            "Policy findings in the audit records read, by rule, action and severity",
            m.findings.clone(),
        );
        registry.register(
            "hardrun_container_cis_score_ratio",
            "CIS Docker Benchmark score of each running container's spec (0 to 1), by level",
            m.cis.clone(),
        );
        registry.register(
            "hardrun_audit_chain_intact",
            "1 while every audit record read links to the one before it (hash chain), else 0",
            m.chain_intact.clone(),
        );
        registry.register(
            "hardrun_audit_records",
            "Audit log records read",
            m.records.clone(),
        );
        registry.register(
            "hardrun_events_dropped",
            "Security events a sink could not deliver (queue full, retries exhausted, write failed), by sink",
            m.dropped.clone(),
        );
        registry.register(
            "hardrun_tripwire_detection_seconds",
            "Time from a tripwire syscall's notification to its event being written",
            m.tripwire_latency.clone(),
        );
        registry.register(
            "hardrun_decisions",
            "Policy decisions read from the audit log (create, run, exec, update), by command, profile and decision (allowed, denied)",
            m.decisions.clone(),
        );
        registry.register(
            "hardrun_limits_changed",
            "cgroup limits the resources rule changed (lowered to the profile's ceiling or defaulted), by profile and resource",
            m.limits_changed.clone(),
        );
        registry.register(
            "hardrun_policy_decision_seconds",
            "Time from a runtime call's start to its recorded policy decision (config, spec and profile loaded, rules evaluated, the stages before libcontainer passed), from the audit records",
            m.decision_time.clone(),
        );
        m.incidents.register(&mut registry);
        registry.register(
            "hardrun_egress_denied_packets",
            "Packets the containers' egress tables dropped, by profile and profile entry (metadata, deny[N], default)",
            m.egress_packets.clone(),
        );
        registry.register(
            "hardrun_image_vulnerabilities",
            "Vulnerabilities by severity in the scan reports of the running containers' images (each image once), as the image-scan finding recorded them at create",
            m.image_vulns.clone(),
        );
        m.chain_intact.set(1);
        let _ = m.dropped.get_or_create(&labels(&[("sink", "stdout")]));
        m.set_image_vulnerabilities(std::iter::empty());
        Metrics { registry, ..m }
    }

    /// Counts one audit record: its decision, the limits it changed and its findings.
    pub fn count_record(&self, record: &serde_json::Value) {
        let s = |k: &str| record.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let (command, profile, decision) = (s("command"), s("profile"), s("decision"));
        if matches!(decision, "allowed" | "denied")
            && matches!(command, "create" | "run" | "exec" | "update")
        {
            self.decisions
                .get_or_create(&labels(&[
                    ("command", command),
                    ("profile", profile),
                    ("decision", decision),
                ]))
                .inc();
            if let Some(ms) = record.get("decision_ms").and_then(|v| v.as_f64()) {
                self.decision_time.observe(ms / 1000.0);
            }
        }
        if decision == "allowed" {
            for f in super::events::findings(record) {
                if let Some(resource) = super::events::changed_limit(f) {
                    self.limits_changed
                        .get_or_create(&labels(&[("profile", profile), ("resource", &resource)]))
                        .inc();
                }
            }
        }
        self.count_findings(record);
    }

    /// Counts the findings of one audit record.
    pub fn count_findings(&self, record: &serde_json::Value) {
        for f in super::events::findings(record) {
            let s = |k: &str| f.get(k).and_then(|v| v.as_str()).unwrap_or_default();
            self.findings
                .get_or_create(&labels(&[
                    ("rule", s("code")),
                    ("action", s("action")),
                    ("severity", s("severity")),
                ]))
                .inc();
        }
    }

    /// Sets `hardrun_image_vulnerabilities` from the findings of the running containers (each
    /// the `findings` of a container's record, as the create's audit record has them): the
    /// counts of the `image-scan` finding that names the report, summed over distinct images
    /// (the finding's `before`, the image as annotated; the last container's counts win where
    /// two containers of one image were created with different reports). Every severity is
    /// always present, 0 when no running container's image has a report.
    pub fn set_image_vulnerabilities<'a>(
        &self,
        running: impl IntoIterator<Item = &'a [serde_json::Value]>,
    ) {
        use crate::policy::rules::image_scan::counts_of;
        use crate::scan::Level;
        let mut by_image: std::collections::BTreeMap<
            String,
            std::collections::BTreeMap<Level, u64>,
        > = Default::default();
        for findings in running {
            for f in findings {
                if f.get("code").and_then(|v| v.as_str()) != Some("image-scan") {
                    continue;
                }
                let Some(c) = f
                    .get("message")
                    .and_then(|v| v.as_str())
                    .and_then(counts_of)
                else {
                    continue;
                };
                let image = f
                    .get("before")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                by_image.insert(image, c);
            }
        }
        self.image_vulns.clear();
        for l in Level::ALL {
            let n: u64 = by_image.values().filter_map(|c| c.get(&l)).sum();
            self.image_vulns
                .get_or_create(&labels(&[("severity", l.name())]))
                .set(n as i64);
        }
    }

    /// The metrics in Prometheus' text format 0.0.4.
    pub fn text(&self) -> String {
        let mut om = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut om, &self.registry);
        openmetrics_to_text(&om)
    }
}

/// Prometheus' text format from `prometheus-client`'s OpenMetrics: a counter's HELP and TYPE
/// name it with its `_total` suffix (as its samples do), no `# EOF`.
pub fn openmetrics_to_text(om: &str) -> String {
    let counters: Vec<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::new();
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let mut rewritten = None;
        for kw in ["# HELP ", "# TYPE "] {
            if let Some(rest) = line.strip_prefix(kw) {
                let name = rest.split(' ').next().unwrap_or_default();
                if counters.contains(&name) {
                    rewritten = Some(format!("{kw}{name}_total{}", &rest[name.len()..]));
                }
            }
        }
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Serves `GET /metrics` on `listener` (one request per connection), in a thread of its own.
pub fn serve(listener: TcpListener, metrics: Arc<std::sync::Mutex<Metrics>>) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut req = vec![];
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&req);
            let first = head.lines().next().unwrap_or_default();
            let mut parts = first.split(' ');
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let path = path.split('?').next().unwrap_or("");
            let (status, ctype, body) = if method == "GET" && path == "/metrics" {
                let text = metrics.lock().map(|m| m.text()).unwrap_or_default();
                ("200 OK", "text/plain; version=0.0.4; charset=utf-8", text)
            } else {
                (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    "not found: try /metrics\n".to_owned(),
                )
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_prometheus_clients_numbers() {
        for (start, factor, n) in [(0.0001, 4, 8), (0.001, 2, 12), (0.05, 4, 10)] {
            let ours: Vec<f64> = exponential_buckets(start, factor, n).collect();
            let theirs: Vec<f64> = prometheus_client::metrics::histogram::exponential_buckets(
                start,
                f64::from(factor),
                n,
            )
            .collect();
            assert_eq!(ours, theirs, "start {start}, factor {factor}");
        }
    }

    #[test]
    fn image_vulnerabilities_count_each_image_once() {
        let m = Metrics::new();
        let line = |sev: &str| {
            m.text()
                .lines()
                .find(|l| {
                    l.starts_with(&format!(
                        "hardrun_image_vulnerabilities{{severity=\"{sev}\"}}"
                    ))
                })
                .map(|l| l.rsplit(' ').next().unwrap().to_owned())
        };
        // before any container: every severity, 0
        assert_eq!(line("critical").as_deref(), Some("0"));
        let f = |image: &str, msg: &str| serde_json::json!({"code": "image-scan", "before": image, "message": msg});
        let a = vec![
            f("busybox:1.36", "image busybox:1.36: trivy report r of 2026-09-21: 1 critical, 2 high, 0 medium, 3 low, 0 unknown"),
            serde_json::json!({"code": "rootfs", "message": "1 critical, 1 high, 1 medium, 1 low, 1 unknown"}),
        ];
        // a second container of the same image, and one of another image
        let b = a.clone();
        let c = vec![f("alpine:3", "image alpine:3: grype report g of 2026-09-01: 0 critical, 1 high, 0 medium, 0 low, 4 unknown; 1 ignored by [[scan.ignore]]")];
        let d = vec![f("acme/app:1", "no scan report for image acme/app:1")];
        m.set_image_vulnerabilities([a.as_slice(), b.as_slice(), c.as_slice(), d.as_slice()]);
        for (sev, n) in [
            ("critical", "1"),
            ("high", "3"),
            ("medium", "0"),
            ("low", "3"),
            ("unknown", "4"),
        ] {
            assert_eq!(line(sev).as_deref(), Some(n), "{sev}");
        }
        // the containers stopped: back to 0
        m.set_image_vulnerabilities(std::iter::empty());
        assert_eq!(line("high").as_deref(), Some("0"));
    }

    #[test]
    fn counters_are_named_with_total_in_help_and_type() {
        let m = Metrics::new();
        m.events
            .get_or_create(&labels(&[("kind", "oom-kill"), ("severity", "medium")]))
            .inc();
        let t = m.text();
        assert!(
            t.contains("# TYPE hardrun_security_events_total counter\n"),
            "{t}"
        );
        assert!(
            t.contains("hardrun_security_events_total{kind=\"oom-kill\",severity=\"medium\"} 1\n")
        );
        assert!(t.contains("hardrun_audit_chain_intact 1\n"), "{t}");
        assert!(!t.contains("# EOF"));
    }
}
