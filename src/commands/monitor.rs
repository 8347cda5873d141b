//! `hardrun monitor` (the node agent, see `crate::monitor`) and `hardrun metrics --textfile DIR`
//! (the same metric families once, for node_exporter's textfile collector).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Result};

use crate::cli::{GlobalOpts, MetricsArgs, MonitorArgs};
use crate::monitor::{self, metrics::labels, Monitor, Options};
use crate::profile::config::MonitorConfig;

pub fn run(global: &GlobalOpts, args: &MonitorArgs) -> Result<i32> {
    let mut config = super::policy_config(global)?;
    sink_flags(&mut config.monitor, args)?;
    let interval = args
        .interval
        .positive()
        .ok_or_else(|| anyhow!("--interval: must be more than zero"))?;
    // the listener first: a refused or busy address fails before anything runs
    let listener = match args.metrics_address {
        Some(addr) if !addr.ip().is_loopback() && !args.metrics_allow_remote => {
            return Err(anyhow!(
                "--metrics-address {addr}: not a loopback address; metrics carry container names and scores (pass --metrics-allow-remote to serve them there)"
            ))
        }
        Some(addr) => Some(
            std::net::TcpListener::bind(addr)
                .map_err(|e| anyhow!("--metrics-address {addr}: cannot listen there: {e}"))?,
        ),
        None => None,
    };
    let opts = Options {
        root: global.root.clone(),
        audit_log: config.audit_log.clone(),
        state: args.state.clone(),
        interval,
    };
    let log = opts
        .audit_log
        .as_ref()
        .map_or("off".to_owned(), |l| l.display().to_string());
    let mut m = Monitor::new(opts, config, std::io::stdout()).map_err(|e| anyhow!(e))?;
    // before the first line a supervisor may take as "started": a SIGTERM from then on is a
    // clean stop (run() sees it at its first tick), never the default death
    monitor::stop_on_signals().map_err(|e| anyhow!(e))?;
    eprintln!(
        "hardrun monitor: sinks: {}",
        sink_summary(&m.config_monitor())
    );
    let socket = m
        .listen_tripwires()
        .map_err(|e| anyhow!("tripwires: {e}"))?;
    eprintln!(
        "hardrun monitor: seccomp tripwires of containers created from now on at {}",
        socket.display()
    );
    if let Some(l) = listener {
        eprintln!(
            "hardrun monitor: metrics at http://{}/metrics",
            l.local_addr()?
        );
        monitor::metrics::serve(l, m.metrics.clone());
    }
    eprintln!(
        "hardrun monitor: watching state root {}, audit log {log}, state {}",
        global.root.display(),
        args.state.display()
    );
    m.run().map_err(|e| anyhow!(e))?;
    eprintln!("hardrun monitor: stopped, audit position saved");
    Ok(0)
}

/// The sinks in one line, for the start-up log.
fn sink_summary(c: &MonitorConfig) -> String {
    let mut s = vec!["stdout".to_owned()];
    if let Some(u) = &c.alertmanager {
        s.push(format!("alertmanager {u} (windows {})", c.windows));
    }
    if let Some(u) = &c.webhook {
        s.push(format!("webhook {u}"));
    }
    if c.syslog {
        s.push(format!(
            "syslog {} ({})",
            c.syslog_socket.display(),
            crate::profile::config::facility_name(c.syslog_facility)
        ));
    }
    if let Some(p) = &c.events_file {
        s.push(format!("file {}", p.display()));
    }
    s.join(", ")
}

/// The sink flags over `[monitor]` of config.toml (the flag wins), checked as the file is.
fn sink_flags(c: &mut MonitorConfig, a: &MonitorArgs) -> Result<()> {
    use crate::profile::config as cfg;
    if let Some(u) = &a.alertmanager {
        c.alertmanager = cfg::check_url(u).map_err(|e| anyhow!("--alertmanager: {e}"))?;
    }
    if let Some(u) = &a.webhook {
        c.webhook = cfg::check_url(u).map_err(|e| anyhow!("--webhook: {e}"))?;
    }
    c.syslog |= a.syslog;
    if let Some(p) = &a.syslog_socket {
        c.syslog_socket = p.clone();
    }
    if let Some(f) = &a.syslog_facility {
        c.syslog_facility =
            cfg::parse_facility(f).map_err(|e| anyhow!("--syslog-facility: {e}"))?;
    }
    if let Some(p) = &a.events_file {
        c.events_file = (!p.as_os_str().is_empty()).then(|| p.clone());
    }
    if let Some(w) = &a.alert_window {
        c.windows = cfg::parse_windows(w, c.windows).map_err(|e| anyhow!("--alert-window: {e}"))?;
    }
    if let Some(q) = a.sink_queue {
        c.queue = usize::try_from(q)
            .ok()
            .filter(|q| (1..=1_000_000).contains(q))
            .ok_or_else(|| anyhow!("--sink-queue {q}: must be 1 to 1000000"))?;
    }
    Ok(())
}

/// `hardrun metrics --textfile DIR`: the running containers and their scores now, and what the
/// whole audit log holds (findings, policy events, chain status), written to DIR/hardrun.prom.
pub fn metrics(global: &GlobalOpts, args: &MetricsArgs) -> Result<i32> {
    let config = super::policy_config(global)?;
    if !args.textfile.is_dir() {
        return Err(anyhow!(
            "--textfile {}: not a directory",
            args.textfile.display()
        ));
    }
    let m = monitor::metrics::Metrics::new();
    let seen = monitor::containers(&global.root);
    monitor::set_container_gauges(&m, &seen, &mut BTreeMap::new());
    monitor::response::Response::new(&global.root, &config.incidents_dir).scan(&m.incidents);
    if let Some(log) = &config.audit_log {
        let files = crate::audit::chain_files(log);
        let mut texts = vec![];
        for f in &files {
            texts.push(std::fs::read(f).map_err(|e| anyhow!("cannot read {}: {e}", f.display()))?);
        }
        let head = std::fs::read(crate::audit::head_path(log)).ok();
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let intact = crate::audit::verify_logs(
            &names,
            &texts,
            &crate::audit::key::Keyring::load(&config.audit_key),
            head.as_deref().map_or(
                crate::audit::HeadInput::Missing,
                crate::audit::HeadInput::Present,
            ),
        )
        .intact();
        m.chain_intact.set(i64::from(intact));
        for t in &texts {
            for line in t.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let Ok(r) = serde_json::from_slice::<serde_json::Value>(line) else {
                    continue;
                };
                if r.get("rotated_from").is_some() {
                    continue;
                }
                m.records.inc();
                m.count_record(&r);
                for ev in monitor::events::of_record(&r) {
                    m.events
                        .get_or_create(&labels(&[
                            ("kind", ev.kind),
                            ("severity", ev.severity.as_str()),
                        ]))
                        .inc();
                }
            }
        }
    }
    write_textfile(&args.textfile.join("hardrun.prom"), m.text().as_bytes())?;
    Ok(0)
}

/// Writes `path` by temp file + rename in its directory: the collector reads the old or the new
/// file, never a part (a temporary name ending in `.prom` would be read: it does not).
fn write_textfile(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut f = tempfile::Builder::new()
        .prefix(".hardrun.prom-")
        .tempfile_in(dir)
        .map_err(|e| anyhow!("cannot write in {}: {e}", dir.display()))?;
    f.write_all(bytes)
        .map_err(|e| anyhow!("cannot write {}: {e}", f.path().display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = f
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    f.persist(path)
        .map_err(|e| anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}
