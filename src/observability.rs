//! Logging, in runc's shapes.
//!
//! * `--log-format text` (default): logrus text lines, `time="…" level=error msg="…"`.
//! * `--log-format json`: one JSON object per line with `level`, `msg`, `time` (and structured
//!   fields as extra keys), which is what containerd and podman parse out of `--log FILE`.
//!
//! Without `--log`, lines go to stderr; stdout never carries a log line. By default only
//! warnings and errors are written, and on stderr only hardrun's own (libcontainer explains its
//! failures at length; the log file keeps those); `--debug` writes everything.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

enum Sink {
    Stderr,
    /// the log file and its identity (device, inode)
    File(File, (u64, u64)),
}

/// A file's identity: (device, inode).
fn identity(f: &File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    f.metadata().ok().map(|m| (m.dev(), m.ino()))
}

struct RuncLayer {
    sink: Mutex<Sink>,
    format: Format,
    max: Level,
    only_own: bool,
}

#[derive(Default)]
struct Fields {
    msg: String,
    extra: Vec<(String, serde_json::Value)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, serde_json::Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, serde_json::Value::String(format!("{value:?}")));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.msg = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.extra.push((field.name().to_owned(), value));
        }
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// Renders one log line (without the newline) in runc's text or JSON shape.
pub fn render(
    format: Format,
    level: &str,
    msg: &str,
    extra: &[(String, serde_json::Value)],
) -> String {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    match format {
        Format::Json => {
            // serde_json's map is ordered by key, like logrus: level, msg, time, then fields.
            let mut m = serde_json::Map::new();
            for (k, v) in extra {
                let key = if matches!(k.as_str(), "level" | "msg" | "time") {
                    format!("fields.{k}")
                } else {
                    k.clone()
                };
                m.insert(key, v.clone());
            }
            m.insert("level".into(), level.into());
            m.insert("msg".into(), msg.into());
            m.insert("time".into(), time.into());
            serde_json::Value::Object(m).to_string()
        }
        Format::Text => {
            let mut line = format!("time={time:?} level={level} msg={msg:?}");
            for (k, v) in extra {
                let v = match v {
                    serde_json::Value::String(s) => format!("{s:?}"),
                    other => other.to_string(),
                };
                let _ = write!(line, " {k}={v}");
            }
            line
        }
    }
}

/// libcgroups warns about every v1 controller this host does not mount, on every `create`
/// (perf_event, net_cls, net_prio, hugetlb here): facts about the host, not about the container,
/// that would bury real warnings in the caller's log. Shown with `--debug`.
fn is_noise(target: &str, msg: &str) -> bool {
    (target.starts_with("libcgroups")
        && msg.starts_with("cgroup ")
        && msg.ends_with(" not supported on this system"))
        // libseccomp 2.5.4 does not know the newest syscalls of a seccomp profile: they are
        // skipped (the kernel does not have them either, or they stay refused by default)
        || (target.starts_with("libcontainer") && msg.starts_with("failed to resolve syscall"))
}

impl<S: Subscriber> Layer<S> for RuncLayer {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        *meta.level() <= self.max && (!self.only_own || meta.target().starts_with("hardrun"))
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        if self.max < Level::DEBUG && is_noise(meta.target(), &fields.msg) {
            return;
        }
        // hardening findings go to the --log file (and the audit log); on a terminal's stderr,
        // where runc prints nothing, only with --debug
        if self.max < Level::DEBUG && self.only_own && meta.target() == "hardrun::finding" {
            return;
        }
        let mut line = render(
            self.format,
            level_name(meta.level()),
            &fields.msg,
            &fields.extra,
        );
        line.push('\n');
        let mut sink = match self.sink.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        // One write(2) per line on an O_APPEND file keeps lines from concurrent processes whole.
        let _ = match &mut *sink {
            Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
            // The container's processes, cloned from this one, log here until they close every
            // descriptor they were not given (the log file too); the number may then name another
            // file, which must never receive a log line.
            Sink::File(f, id) if identity(f) == Some(*id) => f.write_all(line.as_bytes()),
            Sink::File(..) => Ok(()),
        };
    }
}

/// Where errors must also be shown: runc prints a fatal error on stderr even when it logs to a
/// file, because that is what a person at a terminal reads.
#[derive(Debug, Clone, Copy)]
pub struct Logging {
    pub to_file: bool,
}

/// Installs the global subscriber. Fails (with the path) when the log file cannot be opened.
pub fn init(log: Option<&Path>, format: Format, debug: bool) -> Result<Logging, String> {
    let max = if debug { Level::DEBUG } else { Level::WARN };
    let (sink, only_own) = match log {
        Some(path) if !path.as_os_str().is_empty() => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
            let id =
                identity(&f).ok_or_else(|| format!("cannot stat log file {}", path.display()))?;
            (Sink::File(f, id), false)
        }
        _ => (Sink::Stderr, !debug),
    };
    let to_file = matches!(sink, Sink::File(..));
    let layer = RuncLayer {
        sink: Mutex::new(sink),
        format,
        max,
        only_own,
    };
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(Logging { to_file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_runc_shape() {
        let line = render(
            Format::Json,
            "error",
            "container \"x\" does not exist",
            &[("id".into(), "x".into())],
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        assert_eq!(v["id"], "x");
        let t = v["time"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{t}");
        // keys in logrus order
        let keys: Vec<_> = line.match_indices("\":").map(|(i, _)| &line[..i]).collect();
        assert!(line.find("\"level\"").unwrap() < line.find("\"msg\"").unwrap());
        assert!(line.find("\"msg\"").unwrap() < line.find("\"time\"").unwrap());
        assert!(!keys.is_empty());
    }

    #[test]
    fn json_field_named_like_a_key_does_not_clobber_it() {
        let line = render(
            Format::Json,
            "warning",
            "m",
            &[("msg".into(), "other".into())],
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["msg"], "m");
        assert_eq!(v["fields.msg"], "other");
    }

    #[test]
    fn text_line_has_logrus_shape() {
        let line = render(
            Format::Text,
            "error",
            "bad \"thing\"",
            &[("n".into(), 3.into())],
        );
        assert!(line.starts_with("time=\""), "{line}");
        assert!(
            line.contains(" level=error msg=\"bad \\\"thing\\\"\" n=3"),
            "{line}"
        );
    }
}
