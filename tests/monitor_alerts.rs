//! The monitor's sinks, as an operator wires them: a real `prometheus-alertmanager` on loopback
//! read back through its v2 API, a syslog socket, the JSON-lines file, a webhook that fails
//! before it accepts, a queue that overflows (counted in the metrics), and the alert rules
//! checked by `promtool check rules`.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use common::monitor::{is, refuse, sample, Monitor};
use common::*;
use serde_json::{json, Value};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    // Go's servers answer an HTTP/1.0 request in HTTP/1.0 (and so never chunked)
    (head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200")).then(|| body.to_owned())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

/// A real Alertmanager on a loopback port, stopped (by its pid) when dropped.
struct Alertmanager {
    child: Child,
    web: String,
}

impl Alertmanager {
    fn start(w: &World) -> Alertmanager {
        let cfg = w.dir.join("alertmanager.yml");
        std::fs::write(
            &cfg,
            "route:\n  receiver: 'null'\n  group_by: ['alertname', 'container']\nreceivers:\n  - name: 'null'\n",
        )
        .unwrap();
        let web = format!("127.0.0.1:{}", free_port());
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.path={}",
                w.dir.join("am-data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            // no gossip port: one instance, nothing bound but the web address
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager is missing: apt-get install prometheus-alertmanager");
        let am = Alertmanager { child, web };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(&am.web, "/-/ready").is_none() {
            assert!(Instant::now() < deadline, "alertmanager did not get ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }

    fn alerts(&self) -> Vec<Value> {
        http_get(&self.web, "/api/v2/alerts")
            .and_then(|b| serde_json::from_str::<Value>(&b).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    fn find(&self, kind: &str, container: &str) -> Option<Value> {
        self.alerts()
            .into_iter()
            .find(|a| a["labels"]["kind"] == kind && a["labels"]["container"] == container)
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn alertmanager_gets_critical_alerts_at_once_and_the_rest_when_their_window_closes() {
    let w = World::new("alerts-am");
    let am = Alertmanager::start(&w);
    let window = Duration::from_secs(8 * u64::from(time_scale()));
    let url = format!("http://{}", am.web);
    let windows = format!("high={0}s,medium={0}s,low={0}s", window.as_secs());
    let m = Monitor::start(
        &w,
        &w.dir.join("monitor-state.json"),
        &["--alertmanager", &url, "--alert-window", &windows],
    );
    assert!(
        m.startup
            .contains(&format!("sinks: stdout, alertmanager {url}")),
        "{}",
        m.startup
    );

    // a medium event: it opens the medium window
    refuse(&w, "bad1");
    m.next("refusal of bad1", |v| is(v, "refusal", "bad1"));
    let refused = Instant::now();

    // a critical one: an escalation attempt caught by a tripwire
    let b = w.bundle("tw", &["sleep", "1000"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "tw1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.hr(&["exec", "tw1", "unshare", "-U", "true"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    m.next("escalation attempt", |v| {
        is(v, "escalation-attempt", "tw1") && v["details"]["syscall"] == "unshare"
    });
    let deadline = Instant::now() + Duration::from_secs(5 * u64::from(time_scale()));
    let critical = loop {
        if let Some(a) = am.find("escalation-attempt", "tw1") {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no critical alert in alertmanager: {:#?}",
            am.alerts()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        critical["labels"],
        json!({
            "alertname": "HardrunEscalationAttempt",
            "severity": "critical",
            "container": "tw1",
            "profile": "restricted",
            "kind": "escalation-attempt",
            "node": hostname(),
        }),
        "{critical:#}"
    );
    assert_eq!(critical["status"]["state"], "active", "{critical:#}");
    let summary = critical["annotations"]["summary"].as_str().unwrap();
    assert!(summary.contains("tried unshare"), "{summary}");

    // the refusal waits for its window: absent while it is open ...
    while refused.elapsed() + Duration::from_millis(1500) < window {
        assert!(
            am.find("refusal", "bad1").is_none(),
            "the medium alert came {:?} after its event, before its {window:?} window closed",
            refused.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // ... and there once it closed
    let deadline = refused + window + Duration::from_secs(15);
    let medium = loop {
        if let Some(a) = am.find("refusal", "bad1") {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no medium alert {:?} after its event: {:#?}",
            refused.elapsed(),
            am.alerts()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(medium["labels"]["severity"], "medium", "{medium:#}");
    assert_eq!(medium["labels"]["alertname"], "HardrunRefusal");
    assert_eq!(medium["labels"]["profile"], "restricted");
    assert_eq!(medium["annotations"]["count"], "1");
    assert!(medium["annotations"]["summary"]
        .as_str()
        .unwrap()
        .contains("rule privileged"));

    let text = m.scrape();
    assert_eq!(
        sample(&text, "hardrun_events_dropped_total{sink=\"alertmanager\"}"),
        Some(0.0),
        "{text}"
    );
    let out = w.hr(&["delete", "--force", "tw1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Stopped with SIGTERM (as systemd stops it), the monitor sends what waits in open windows
/// before it exits: an hour-long medium window loses nothing.
#[test]
fn a_stopped_monitor_sends_its_open_windows_first() {
    let w = World::new("alerts-stop");
    let am = Alertmanager::start(&w);
    let url = format!("http://{}", am.web);
    let m = Monitor::start(
        &w,
        &w.dir.join("monitor-state.json"),
        &["--alertmanager", &url, "--alert-window", "medium=1h"],
    );
    refuse(&w, "held1");
    m.next("refusal of held1", |v| is(v, "refusal", "held1"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        am.find("refusal", "held1").is_none(),
        "sent before its window closed"
    );
    m.terminate();
    let a = am
        .find("refusal", "held1")
        .unwrap_or_else(|| panic!("the open window was lost: {:#?}", am.alerts()));
    assert_eq!(a["labels"]["severity"], "medium", "{a:#}");
}

#[test]
fn syslog_gets_rfc5424_and_the_events_file_one_json_line_per_event() {
    let w = World::new("alerts-syslog");
    let sock = w.dir.join("log.sock");
    let file = w.dir.join("events.jsonl");
    // the file from config.toml's [monitor], syslog from flags
    let mut cfg = std::fs::read_to_string(w.dir.join("config.toml")).unwrap();
    cfg.push_str(&format!(
        "\n[monitor]\nevents_file = \"{}\"\nsyslog_facility = \"daemon\"\n",
        file.display()
    ));
    std::fs::write(w.dir.join("config.toml"), cfg).unwrap();

    // no socket yet: the monitor starts anyway and says so
    let m = Monitor::start(
        &w,
        &w.dir.join("monitor-state.json"),
        &[
            "--syslog",
            "--syslog-socket",
            sock.to_str().unwrap(),
            "--syslog-facility",
            "local3",
        ],
    );
    assert!(
        m.startup.contains("syslog: cannot connect to") && m.startup.contains("log.sock"),
        "{}",
        m.startup
    );
    refuse(&w, "early");
    m.next("refusal of early", |v| is(v, "refusal", "early"));
    let text = m.scrape();
    // the refusal, and the audit head it advanced when the monitor sent that already (its
    // `audit-head` goes to syslog right after the refusal, see monitor::response::HeadWatch)
    let dropped = sample(&text, "hardrun_events_dropped_total{sink=\"syslog\"}");
    assert!(
        dropped.is_some_and(|n| n == 1.0 || n == 2.0),
        "{dropped:?}\n{text}"
    );

    // the socket appears (syslogd started): the next event reaches it
    let rx = UnixDatagram::bind(&sock).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    refuse(&w, "s1");
    let ev = m.next("refusal of s1", |v| is(v, "refusal", "s1"));
    let mut buf = vec![0u8; 65536];
    let msg = loop {
        let n = rx.recv(&mut buf).expect("no syslog message");
        let msg = String::from_utf8(buf[..n].to_vec()).unwrap();
        // the audit log's head goes to syslog too (tests/audit_head.rs)
        if !msg.contains(" audit-head [") {
            break msg;
        }
    };
    // <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
    let mut f = msg.splitn(7, ' ');
    // local3 (19) * 8 + warning (4): a medium event
    assert_eq!(f.next(), Some("<156>1"), "{msg}");
    let ts = f.next().unwrap();
    assert_eq!(ts, ev["time"], "{msg}");
    assert!(ts.ends_with('Z') && ts.len() == "2026-12-05T09:15:18.891358Z".len());
    assert_eq!(f.next(), Some(hostname().as_str()), "{msg}");
    assert_eq!(f.next(), Some("hardrun"), "{msg}");
    assert_eq!(f.next(), Some(m.pid().to_string().as_str()), "{msg}");
    assert_eq!(f.next(), Some("refusal"), "{msg}");
    let rest = f.next().unwrap();
    let (sd, text) = rest.split_once("] ").unwrap();
    assert_eq!(
        sd,
        "[hardrun@32473 container=\"s1\" profile=\"restricted\" kind=\"refusal\" severity=\"medium\"",
        "{msg}"
    );
    assert_eq!(
        text.strip_prefix('\u{feff}'),
        ev["message"].as_str(),
        "{msg}"
    );

    // every event in the file, one JSON object per line, 0600
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let ids: Vec<&str> = lines
        .iter()
        .filter(|v| v["kind"] == "refusal")
        .map(|v| v["container"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["early", "s1"], "{lines:#?}");
    assert_eq!(
        lines.iter().rfind(|v| v["kind"] != "audit-head").unwrap(),
        &ev
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// A webhook receiver: answers 503 to the first `fail` requests, then 200; sends each request's
/// (status given, body) on.
fn webhook_server(fail: usize) -> (String, Receiver<(u16, Value)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for (n, conn) in l.incoming().enumerate() {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut req = vec![];
            let mut buf = [0u8; 4096];
            let body = loop {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break None,
                    Ok(k) => req.extend_from_slice(&buf[..k]),
                }
                let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&req[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    assert!(head.starts_with("post /hook http/1.1"), "{head}");
                    break Some(req[end + 4..end + 4 + len].to_vec());
                }
            };
            let status = if n < fail { 503 } else { 200 };
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let body = body
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            if tx.send((status, body)).is_err() {
                break;
            }
        }
    });
    (url, rx)
}

#[test]
fn the_webhook_retries_until_delivered_and_counts_what_overflows_its_queue() {
    let w = World::new("alerts-hook");
    let (url, got) = webhook_server(2);
    let m = Monitor::start(&w, &w.dir.join("monitor-state.json"), &["--webhook", &url]);
    refuse(&w, "h1");
    let ev = m.next("refusal of h1", |v| is(v, "refusal", "h1"));
    let mut tries = vec![];
    loop {
        let (status, body) = got
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the webhook got no more requests after {tries:?}"));
        assert_eq!(body, ev, "each try carries the event");
        tries.push(status);
        if status == 200 {
            break;
        }
    }
    assert_eq!(tries, [503, 503, 200]);
    let text = m.scrape();
    assert_eq!(
        sample(&text, "hardrun_events_dropped_total{sink=\"webhook\"}"),
        Some(0.0),
        "{text}"
    );
    drop(m);

    // a receiver that always fails keeps the sender busy retrying one event: with a queue of
    // one, the others are dropped and counted, and the monitor goes on
    let (url, got) = webhook_server(usize::MAX);
    let m = Monitor::start(
        &w,
        &w.dir.join("monitor-state.json"),
        &["--webhook", &url, "--sink-queue", "1"],
    );
    for i in 0..5 {
        refuse(&w, &format!("q{i}"));
    }
    m.next("refusal of q4", |v| is(v, "refusal", "q4"));
    let text = m.scrape();
    let dropped = sample(&text, "hardrun_events_dropped_total{sink=\"webhook\"}")
        .unwrap_or_else(|| panic!("no webhook drop counter:\n{text}"));
    assert!(dropped >= 3.0, "{dropped}\n{text}");
    assert!(got.recv_timeout(Duration::from_secs(5)).is_ok());
}

#[test]
fn sink_settings_are_checked_before_the_monitor_starts() {
    let w = World::new("alerts-bad");
    for (args, want) in [
        (
            &["--alertmanager", "http://127.0.0.1:99999"][..],
            "--alertmanager: \"http://127.0.0.1:99999\": bad port \"99999\"",
        ),
        (
            &["--webhook", "127.0.0.1:80"],
            "--webhook: \"127.0.0.1:80\" is not an http:// or https:// URL",
        ),
        (
            &["--alert-window", "low=soon"],
            "--alert-window: \"soon\" is not a duration",
        ),
        (
            &["--syslog-facility", "nope"],
            "--syslog-facility: unknown syslog facility \"nope\"",
        ),
    ] {
        let mut a = vec!["monitor", "--state"];
        let state = w.dir.join("s.json");
        a.push(state.to_str().unwrap());
        a.extend_from_slice(args);
        let out = w.hr(&a);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // the same in config.toml names the file and the key
    let cfg = w.dir.join("config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[monitor]\nwebhook = \"hooks.example/x\"\n");
    std::fs::write(&cfg, text).unwrap();
    let out = w.hr(&["config", "show"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}: monitor.webhook: ", cfg.display()))
            && err.contains("\"hooks.example/x\" is not an http:// or https:// URL"),
        "{err}"
    );
}

#[test]
fn config_show_lists_the_monitor_section_with_its_origins() {
    let w = World::new("alerts-show");
    let cfg = w.dir.join("config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "\n[monitor]\nalertmanager = \"http://127.0.0.1:9093\"\nalert_window = \"low=12h\"\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let out = w.hr(&["config", "show"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let show = stdout(&out);
    for (line, from) in [
        (
            "monitor.alertmanager = \"http://127.0.0.1:9093\"",
            cfg.display().to_string(),
        ),
        (
            "monitor.alert_window = \"high=1h,medium=4h,low=12h\"",
            cfg.display().to_string(),
        ),
        ("monitor.syslog = false", "built-in default".into()),
        (
            "monitor.syslog_facility = \"authpriv\"",
            "built-in default".into(),
        ),
    ] {
        let l = show
            .lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("no {line} in\n{show}"));
        assert!(l.ends_with(&format!("# {from}")), "{l}");
    }
}

/// The alert rules shipped for Prometheus pass `promtool check rules`.
#[test]
fn the_alert_rules_pass_promtool() {
    let rules =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus/hardrun-rules.yml");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool is missing: apt-get install prometheus");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

/// The Alertmanager route of docs/monitoring.md passes `amtool check-config`.
#[test]
fn the_documented_alertmanager_route_passes_amtool() {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/monitoring.md"),
    )
    .unwrap();
    let start = doc.find("```yaml\nglobal:\n").expect("the route example") + "```yaml\n".len();
    let len = doc[start..].find("```").unwrap();
    let w = World::new("alerts-route");
    let cfg = w.dir.join("route.yml");
    std::fs::write(&cfg, &doc[start..start + len]).unwrap();
    let out = Command::new("amtool")
        .args(["check-config"])
        .arg(&cfg)
        .output()
        .expect("amtool is missing: apt-get install prometheus-alertmanager");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
