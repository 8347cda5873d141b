//! The network sinks over https, as an operator runs Alertmanager behind TLS: a real
//! `prometheus-alertmanager` serving only TLS with a certificate of a test CA and demanding a
//! client certificate (`--web.config.file`), the monitor given that CA and a client certificate in
//! `[monitor]`. Alerts arrive (read back over https with curl); a monitor that does not trust the
//! server's CA, or presents no client certificate, delivers nothing and counts the drops; bad TLS
//! files stop the monitor at start with one line naming the key and the file, and never print a
//! key.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::monitor::{is, refuse, sample, Monitor};
use common::*;
use serde_json::Value;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is missing: apt-get install openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>-ca.pem`), and certificates it signed: the server's for 127.0.0.1 and a client's.
fn pki(dir: &Path, name: &str) {
    let ca = format!("{name}-ca");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
        ],
    );
    for (who, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        let base = format!("{name}-{who}");
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN=hardrun-test-{who}"),
                "-keyout",
                &format!("{base}.key"),
                "-out",
                &format!("{base}.csr"),
            ],
        );
        std::fs::write(dir.join(format!("{base}.ext")), ext).unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{base}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{base}.ext"),
                "-out",
                &format!("{base}.pem"),
            ],
        );
    }
}

/// Alertmanager serving only https (its certificate from CA `good`), requiring a client
/// certificate signed by the same CA; stopped by its pid when dropped.
struct TlsAlertmanager {
    child: Child,
    web: String,
    dir: PathBuf,
}

impl TlsAlertmanager {
    fn start(w: &World) -> TlsAlertmanager {
        let dir = w.dir.clone();
        let cfg = dir.join("alertmanager.yml");
        std::fs::write(
            &cfg,
            "route:\n  receiver: 'null'\n  group_by: ['alertname', 'container']\nreceivers:\n  - name: 'null'\n",
        )
        .unwrap();
        let web_cfg = dir.join("web.yml");
        std::fs::write(
            &web_cfg,
            format!(
                "tls_server_config:\n  cert_file: {0}/good-server.pem\n  key_file: {0}/good-server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {0}/good-ca.pem\n",
                dir.display()
            ),
        )
        .unwrap();
        let web = format!("127.0.0.1:{}", free_port());
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--web.config.file={}", web_cfg.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address={web}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager is missing: apt-get install prometheus-alertmanager");
        let am = TlsAlertmanager { child, web, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while am.get("/-/ready").is_none() {
            assert!(Instant::now() < deadline, "alertmanager did not get ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }

    /// GET over https with curl, as a client of CA `good`; `None` unless 200.
    fn get(&self, path: &str) -> Option<String> {
        let d = &self.dir;
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "5", "--cacert"])
            .arg(d.join("good-ca.pem"))
            .arg("--cert")
            .arg(d.join("good-client.pem"))
            .arg("--key")
            .arg(d.join("good-client.key"))
            .arg(format!("https://{}{path}", self.web))
            .output()
            .expect("curl is missing: apt-get install curl");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn find(&self, kind: &str, container: &str) -> Option<Value> {
        let alerts: Value = serde_json::from_str(&self.get("/api/v2/alerts")?).ok()?;
        alerts
            .as_array()?
            .iter()
            .find(|a| a["labels"]["kind"] == kind && a["labels"]["container"] == container)
            .cloned()
    }
}

impl Drop for TlsAlertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends `[monitor]` TLS settings to the world's config.toml (files in the world's dir).
fn tls_config(w: &World, ca: &str, client: Option<&str>) {
    let cfg = w.dir.join("config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    // a config.toml holds one [monitor] table: drop what an earlier call added
    if let Some(i) = text.find("\n[monitor]\n") {
        text.truncate(i);
    }
    text.push_str(&format!(
        "\n[monitor]\ntls_ca_file = \"{}\"\n",
        w.dir.join(ca).display()
    ));
    if let Some(c) = client {
        text.push_str(&format!(
            "tls_cert_file = \"{0}/{c}.pem\"\ntls_key_file = \"{0}/{c}.key\"\n",
            w.dir.display()
        ));
    }
    std::fs::write(&cfg, text).unwrap();
}

#[test]
fn alerts_reach_an_alertmanager_behind_mutual_tls_and_nothing_reaches_an_untrusted_one() {
    let w = World::new("alerts-tls");
    pki(&w.dir, "good");
    pki(&w.dir, "other");
    let am = TlsAlertmanager::start(&w);
    let url = format!("https://{}", am.web);
    let args = [
        "--alertmanager",
        &url,
        "--alert-window",
        "high=0s,medium=0s,low=0s",
    ];

    // the CA that signed the server, and a client certificate of the CA the server asks for
    tls_config(&w, "good-ca.pem", Some("good-client"));
    let m = Monitor::start(&w, &w.dir.join("state-good.json"), &args);
    assert!(
        m.startup.contains(&format!("alertmanager {url}")),
        "{}",
        m.startup
    );
    refuse(&w, "tls1");
    m.next("refusal of tls1", |v| is(v, "refusal", "tls1"));
    let deadline = Instant::now() + Duration::from_secs(20 * u64::from(time_scale()));
    let alert = loop {
        if let Some(a) = am.find("refusal", "tls1") {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no alert in the TLS alertmanager"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alert["labels"]["alertname"], "HardrunRefusal", "{alert:#}");
    assert_eq!(
        sample(
            &m.scrape(),
            "hardrun_events_dropped_total{sink=\"alertmanager\"}"
        ),
        Some(0.0)
    );
    m.terminate();

    // a server whose certificate chains to a CA the monitor was not given; and the right CA
    // but no client certificate: each event is retried, then dropped and counted
    for (what, ca, client, id) in [
        (
            "untrusted server",
            "other-ca.pem",
            Some("good-client"),
            "tls2",
        ),
        ("no client certificate", "good-ca.pem", None, "tls3"),
        (
            "client certificate of another CA",
            "good-ca.pem",
            Some("other-client"),
            "tls4",
        ),
    ] {
        tls_config(&w, ca, client);
        let m = Monitor::start(&w, &w.dir.join(format!("state-{id}.json")), &args);
        refuse(&w, id);
        m.next(&format!("refusal of {id}"), |v| is(v, "refusal", id));
        let deadline = Instant::now() + Duration::from_secs(40 * u64::from(time_scale()));
        loop {
            let text = m.scrape();
            let dropped = sample(&text, "hardrun_events_dropped_total{sink=\"alertmanager\"}");
            if dropped == Some(1.0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the event was not dropped and counted: {dropped:?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        assert!(
            am.find("refusal", id).is_none(),
            "{what}: the alert reached alertmanager"
        );
    }
}

#[test]
fn bad_tls_files_stop_the_monitor_at_start_naming_key_and_file() {
    let w = World::new("alerts-tls-bad");
    pki(&w.dir, "good");
    let secret = "c2VjcmV0LWtleS1tYXRlcmlhbA";
    std::fs::write(w.dir.join("garbage.key"), format!("{secret}\n")).unwrap();
    std::fs::write(w.dir.join("empty.pem"), "").unwrap();
    let d = w.dir.display().to_string();
    for (ca, cert, key, want) in [
        (
            format!("{d}/missing.pem"),
            None,
            None,
            format!("monitor.tls_ca_file {d}/missing.pem: "),
        ),
        (
            format!("{d}/empty.pem"),
            None,
            None,
            format!("monitor.tls_ca_file {d}/empty.pem: no PEM certificate in it"),
        ),
        (
            format!("{d}/good-ca.pem"),
            Some(format!("{d}/good-client.pem")),
            Some(format!("{d}/garbage.key")),
            format!("monitor.tls_key_file {d}/garbage.key: no private key read"),
        ),
        (
            format!("{d}/good-ca.pem"),
            Some(format!("{d}/good-server.pem")),
            Some(format!("{d}/good-client.key")),
            format!("monitor.tls_cert_file {d}/good-server.pem and monitor.tls_key_file {d}/good-client.key: "),
        ),
    ] {
        let cfg = w.dir.join("config.toml");
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        if let Some(i) = text.find("\n[monitor]\n") {
            text.truncate(i);
        }
        text.push_str(&format!("\n[monitor]\ntls_ca_file = \"{ca}\"\n"));
        if let (Some(c), Some(k)) = (&cert, &key) {
            text.push_str(&format!("tls_cert_file = \"{c}\"\ntls_key_file = \"{k}\"\n"));
        }
        std::fs::write(&cfg, text).unwrap();
        let state = w.dir.join("s.json");
        let out = w.hr(&[
            "monitor",
            "--state",
            state.to_str().unwrap(),
            "--alertmanager",
            "https://127.0.0.1:9",
        ]);
        assert_eq!(out.status.code(), Some(1), "{want}");
        let err = stderr(&out);
        assert!(err.contains(&want), "want {want:?} in: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!err.contains(secret), "a key's contents were printed: {err}");
    }
    // only https sinks read the TLS files: a missing CA file does not stop a plain-http monitor
    let cfg = w.dir.join("config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    if let Some(i) = text.find("\n[monitor]\n") {
        text.truncate(i);
    }
    text.push_str(&format!("\n[monitor]\ntls_ca_file = \"{d}/missing.pem\"\n"));
    std::fs::write(&cfg, text).unwrap();
    let state = w.dir.join("s2.json");
    let m = Monitor::start(&w, &state, &["--alertmanager", "http://127.0.0.1:9"]);
    m.terminate();
}
