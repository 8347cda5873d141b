//! `hardrun monitor` (the node agent, see `crate::monitor`) and `hardrun metrics --textfile DIR`
//! (the same metric families once, for node_exporter's textfile collector).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Result};

use crate::cli::{GlobalOpts, MetricsArgs, MonitorArgs};
use crate::monitor::{self, metrics::labels, Monitor, Options};

pub fn run(global: &GlobalOpts, args: &MonitorArgs) -> Result<i32> {
    let config = super::policy_config(global)?;
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
    Ok(0)
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
                m.count_findings(&r);
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
