//! syslog: each event as one RFC 5424 message on a unix datagram socket (`/dev/log`).
//!
//! `<PRI>1 TIMESTAMP HOSTNAME hardrun PID KIND [hardrun@32473 container=".." profile=".."
//! severity=".." kind=".."] BOM MESSAGE`. PRI is facility × 8 + the syslog severity: critical →
//! crit (2), high → err (3), medium → warning (4), low → notice (5). 32473 is the private
//! enterprise number RFC 5612 reserves for documentation and examples; hardrun has none of its
//! own.
//!
//! The socket is non-blocking: a syslog daemon that does not keep up (or is absent) costs a
//! dropped event, counted as `sink="syslog"`, never a stalled monitor.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use crate::monitor::events::{Event, Severity};

/// The structured-data ID: `hardrun@` and RFC 5612's documentation enterprise number.
pub const SD_ID: &str = "hardrun@32473";

pub fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
    }
}

/// A header field: printable US-ASCII without spaces, at most `max` characters; `-` if empty.
fn header_field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if f.is_empty() {
        "-".into()
    } else {
        f
    }
}

/// A PARAM-VALUE: `"`, `\` and `]` escaped with a backslash (RFC 5424 section 6.3.3).
fn param_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One RFC 5424 message for `ev`.
pub fn format(ev: &Event, facility: u8, hostname: &str, pid: u32) -> String {
    let pri = u16::from(facility) * 8 + u16::from(syslog_severity(ev.severity));
    format!(
        "<{pri}>1 {} {} hardrun {pid} {} [{SD_ID} container=\"{}\" profile=\"{}\" kind=\"{}\" severity=\"{}\"] \u{feff}{}",
        header_field(&ev.time, 64),
        header_field(hostname, 255),
        header_field(ev.kind, 32),
        param_value(&ev.container),
        param_value(&ev.profile),
        param_value(ev.kind),
        ev.severity.as_str(),
        ev.message.replace(['\n', '\r'], " "),
    )
}

pub struct Syslog {
    path: PathBuf,
    facility: u8,
    hostname: String,
    sock: Option<UnixDatagram>,
    /// whether the last attempt failed (warn once per outage, not per event)
    failing: bool,
}

impl Syslog {
    pub fn new(path: PathBuf, facility: u8, hostname: String) -> Syslog {
        let mut s = Syslog {
            path,
            facility,
            hostname,
            sock: None,
            failing: false,
        };
        if let Err(e) = s.connect() {
            tracing::warn!(
                "monitor: syslog: {e}; events go to the other sinks until it is there (counted as dropped for syslog)"
            );
            s.failing = true;
        }
        s
    }

    fn connect(&mut self) -> Result<(), String> {
        let sock = UnixDatagram::unbound()
            .and_then(|s| s.connect(&self.path).map(|_| s))
            .and_then(|s| s.set_nonblocking(true).map(|_| s))
            .map_err(|e| format!("cannot connect to {}: {e}", self.path.display()))?;
        self.sock = Some(sock);
        Ok(())
    }

    /// Sends one event; `Err` when it was dropped.
    pub fn send(&mut self, ev: &Event) -> Result<(), String> {
        let msg = format(ev, self.facility, &self.hostname, std::process::id());
        if self.sock.is_none() {
            self.connect()?;
        }
        let sent = self
            .sock
            .as_ref()
            .map(|s| s.send(msg.as_bytes()))
            .unwrap_or_else(|| Err(std::io::ErrorKind::NotConnected.into()));
        match sent {
            Ok(_) => {
                if self.failing {
                    tracing::info!("monitor: syslog: {} works again", self.path.display());
                    self.failing = false;
                }
                Ok(())
            }
            Err(e) => {
                // the daemon may have restarted: connect again next time
                self.sock = None;
                let e = format!("cannot send to {}: {e}", self.path.display());
                if !self.failing {
                    tracing::warn!("monitor: syslog: {e}");
                    self.failing = true;
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(kind: &'static str, container: &str, message: &str) -> Event {
        let mut e = Event::new(kind, container, "restricted", message.into(), json!({}));
        e.time = "2026-12-05T09:15:18.891358Z".into();
        e
    }

    #[test]
    fn rfc5424_messages() {
        let cases = [
            // (event, facility, hostname, want)
            (
                ev("drift", "c1", "c1 pid 7 (sh): seccomp off"),
                10,
                "node1",
                "<82>1 2026-12-05T09:15:18.891358Z node1 hardrun 42 drift [hardrun@32473 container=\"c1\" profile=\"restricted\" kind=\"drift\" severity=\"critical\"] \u{feff}c1 pid 7 (sh): seccomp off",
            ),
            (
                ev("tripwire", "c2", "m"),
                3,
                "node1",
                "<27>1 2026-12-05T09:15:18.891358Z node1 hardrun 42 tripwire [hardrun@32473 container=\"c2\" profile=\"restricted\" kind=\"tripwire\" severity=\"high\"] \u{feff}m",
            ),
            (
                ev("refusal", "a\"b]c\\d", "line1\nline2"),
                16,
                "",
                "<132>1 2026-12-05T09:15:18.891358Z - hardrun 42 refusal [hardrun@32473 container=\"a\\\"b\\]c\\\\d\" profile=\"restricted\" kind=\"refusal\" severity=\"medium\"] \u{feff}line1 line2",
            ),
            (
                ev("exec", "c3", "x"),
                10,
                "my host",
                "<85>1 2026-12-05T09:15:18.891358Z myhost hardrun 42 exec [hardrun@32473 container=\"c3\" profile=\"restricted\" kind=\"exec\" severity=\"low\"] \u{feff}x",
            ),
        ];
        for (e, facility, host, want) in cases {
            assert_eq!(format(&e, facility, host, 42), want);
        }
        // the longest kind fits MSGID's 32 characters
        assert!(crate::monitor::events::KINDS
            .iter()
            .all(|(k, _)| k.len() <= 32));
    }
}
