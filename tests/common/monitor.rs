//! A running `hardrun monitor` for the monitor tests: its events (one JSON line each on stdout)
//! as they come, its metrics address, and what it logged before it was ready.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{bin, stderr, time_scale, World};

pub struct Monitor {
    child: Child,
    events: Receiver<Value>,
    pub addr: String,
    /// stderr up to the line with the metrics address
    pub startup: String,
}

impl Monitor {
    /// `hardrun --root <world's> monitor --metrics-address 127.0.0.1:0 --interval 200ms --state
    /// <state> <extra…>`, returned once it printed its metrics address (the audit position is
    /// then fixed and saved).
    pub fn start(w: &World, state: &Path, extra: &[&str]) -> Monitor {
        let mut c = Command::new(bin());
        c.arg("--root").arg(&w.root).args([
            "monitor",
            "--metrics-address",
            "127.0.0.1:0",
            "--interval",
            "200ms",
            "--state",
        ]);
        c.arg(state).args(extra);
        w.env(&mut c);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("monitor printed a non-JSON line ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut addr = None;
        let mut startup = String::new();
        for _ in 0..20 {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                break;
            }
            startup.push_str(&line);
            if let Some(rest) = line
                .trim()
                .strip_prefix("hardrun monitor: metrics at http://")
            {
                addr = Some(rest.trim_end_matches("/metrics").to_owned());
                break;
            }
        }
        let addr = addr.unwrap_or_else(|| panic!("monitor did not start: {startup}"));
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
        });
        Monitor {
            child,
            events,
            addr,
            startup,
        }
    }

    /// Events until one matches `want`; panics after 20 s (times `HARDRUN_TEST_TIME_SCALE`)
    /// without it. Returns all read, the match last.
    pub fn until(&self, what: &str, want: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20 * u64::from(time_scale()));
        let mut got = vec![];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    let done = want(&v);
                    got.push(v);
                    if done {
                        return got;
                    }
                }
                Err(_) => panic!("no {what} event; got: {got:#?}"),
            }
        }
    }

    /// The first event from now that matches `want` (see [`Monitor::until`]).
    pub fn next(&self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        self.until(what, want).pop().unwrap()
    }

    /// `/metrics`, checked to be Prometheus text format 0.0.4 served with 200.
    pub fn scrape(&self) -> String {
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        body.to_owned()
    }

    /// The monitor's pid (what its syslog messages carry as PROCID).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(self) {}

    /// SIGTERM, as systemd stops it: the monitor saves its position and exits 0.
    pub fn terminate(mut self) {
        // SAFETY: kill(2) of our own child, which has not been waited for yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10 * u64::from(time_scale()));
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert_eq!(st.code(), Some(0), "monitor after SIGTERM: {st:?}");
                return;
            }
            assert!(Instant::now() < deadline, "the monitor ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether event `v` is of `kind` about `container`.
pub fn is(v: &Value, kind: &str, container: &str) -> bool {
    v["kind"] == kind && v["container"] == container
}

/// A spec with the signature of `docker run --privileged` (the `privileged` rule refuses it).
pub fn privileged(w: &World, name: &str) -> std::path::PathBuf {
    w.bundle_with(name, &["true"], |s| {
        s["process"]["capabilities"]["bounding"] =
            json!(["CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO"]);
        s["linux"]["maskedPaths"] = json!([]);
        s["linux"]["readonlyPaths"] = json!([]);
    })
}

/// `create` of [`privileged`] under `restricted`: refused (exit 1), a medium `refusal` event.
pub fn refuse(w: &World, id: &str) {
    let b = privileged(w, id);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        id,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// `promtool check metrics` of a scrape: the exposition is valid and follows the naming rules.
pub fn promtool_check(text: &str) {
    let mut p = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is missing: apt-get install prometheus");
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The sample of `name{labels}` in a scrape.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}
