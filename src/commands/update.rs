//! `update`: change the cgroup resources of a container, from `--resources FILE|-` (a
//! `LinuxResources` JSON, what dockerd sends) or runc's per-field flags. The new values go through
//! the hardening seam, are applied by libcgroups and are merged into the stored spec, so the
//! record shows the limits in force.

use std::io::Read;

use anyhow::{anyhow, Result};
use serde_json::{json, Map, Value};

use crate::cli::{GlobalOpts, Update};
use crate::policy;
use crate::runtime::delegate;
use crate::runtime::state_dir::write_atomic;

pub fn run(global: &GlobalOpts, args: &Update) -> Result<i32> {
    let (dir, container) = super::load(global, &args.container_id)?;
    // an isolated container's limits stay as they are (`hardrun release` lifts it)
    if let Some(line) = crate::runtime::isolate::refusal(&dir, &args.container_id, "update") {
        // no policy decision is made: the attempt is recorded as a failed step
        super::lifecycle::refused_before_deciding();
        return Err(anyhow!(line));
    }
    let raw = match &args.resources {
        Some(path) => {
            let (name, bytes) = if path.as_os_str() == "-" {
                let mut b = Vec::new();
                std::io::stdin()
                    .take(crate::bundle::MAX_CONFIG_BYTES)
                    .read_to_end(&mut b)?;
                ("standard input".to_owned(), b)
            } else {
                (
                    path.display().to_string(),
                    std::fs::read(path)
                        .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?,
                )
            };
            let v: Value =
                serde_json::from_slice(&bytes).map_err(|e| anyhow!("{name}: invalid JSON: {e}"))?;
            if !v.is_object() {
                return Err(anyhow!("{name}: expected a JSON object of linux resources"));
            }
            v
        }
        None => from_flags(args),
    };
    let (config, stored) = crate::bundle::load_staged(&dir)?;
    let decision = super::decide_running(
        global,
        &dir,
        &args.container_id,
        "update",
        policy::harden_update,
        &raw,
        &stored,
    )?;
    let outcome = &decision.outcome;
    crate::runtime::preflight::check_unified(outcome.value.get("unified"), delegate::cgroup_v2())
        .map_err(|e| anyhow!("update container {:?}: {e}", args.container_id))?;
    let resources = delegate::parse_resources(&outcome.value)
        .map_err(|e| anyhow!("update container {:?}: resources: {e}", args.container_id))?;
    // the stored spec with the new resources, before anything is recorded or written
    let merged =
        merged(&stored, &outcome.value).map_err(|e| anyhow!("{}: {e}", config.display()))?;
    // everything that can refuse the update before libcontainer has passed
    decision.record_allowed()?;
    // all or nothing: the new spec is written first (a full state root fails here, with the
    // cgroup untouched), then the cgroup; a cgroup that refuses puts the old spec back and the
    // old limits again. A failure from here on is recorded as `failed` after the `allowed`.
    let staged = Staged::write(&config, &merged)?;
    if let Err(e) = delegate::update(&container, &resources) {
        staged.roll_back();
        restore_limits(&container, &stored, &outcome.value, &args.container_id);
        return Err(e.into());
    }
    staged.commit();
    Ok(0)
}

/// The new stored spec, written in place, with the old one kept (a hard link: it needs no room
/// on a full state root) until the cgroup has taken the new limits.
struct Staged {
    config: std::path::PathBuf,
    previous: std::path::PathBuf,
}

impl Staged {
    fn write(config: &std::path::Path, spec: &Value) -> Result<Staged> {
        let name = config
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config.json");
        let previous = config.with_file_name(format!(".{name}.update-{}", std::process::id()));
        // a link left by an update killed in between names a pid that is gone: replace it
        let _ = std::fs::remove_file(&previous);
        std::fs::hard_link(config, &previous).map_err(|e| {
            anyhow!(
                "cannot keep {} as {}: {e}",
                config.display(),
                previous.display()
            )
        })?;
        let bytes = serde_json::to_vec_pretty(spec)?;
        if let Err(e) = write_atomic(config, &bytes) {
            let _ = std::fs::remove_file(&previous);
            return Err(e.into());
        }
        Ok(Staged {
            config: config.to_path_buf(),
            previous,
        })
    }

    /// The cgroup took the new limits: the old spec goes.
    fn commit(self) {
        if let Err(e) = std::fs::remove_file(&self.previous) {
            tracing::warn!("cannot remove {}: {e}", self.previous.display());
        }
    }

    /// The cgroup refused them: the old spec comes back (a rename, no room needed).
    fn roll_back(self) {
        if let Err(e) = std::fs::rename(&self.previous, &self.config) {
            tracing::error!(
                "cannot put {} back as {}: {e}",
                self.previous.display(),
                self.config.display()
            );
        }
    }
}

/// After the cgroup refused an update part-way (libcgroups writes one controller after another),
/// the limits in force before it are written again, best effort: the stored resources, and for
/// a limit the update set that the stored spec leaves unset, "no limit" (-1).
fn restore_limits(container: &delegate::Container, stored: &Value, applied: &Value, id: &str) {
    let mut old = stored
        .pointer("/linux/resources")
        .cloned()
        .unwrap_or_else(|| json!({}));
    for (ctl, key) in [
        ("memory", "limit"),
        ("memory", "swap"),
        ("memory", "reservation"),
        ("cpu", "quota"),
        ("pids", "limit"),
    ] {
        if applied.pointer(&format!("/{ctl}/{key}")).is_some()
            && old.pointer(&format!("/{ctl}/{key}")).is_none()
        {
            if let Some(o) = old.as_object_mut() {
                let c = o.entry(ctl).or_insert_with(|| json!({}));
                if let Some(c) = c.as_object_mut() {
                    c.insert(key.to_owned(), json!(-1));
                }
            }
        }
    }
    let restored = delegate::parse_resources(&old)
        .map_err(|e| anyhow!("resources: {e}"))
        .and_then(|r| delegate::update(container, &r).map_err(Into::into));
    if let Err(e) = restored {
        tracing::error!("update container {id:?}: cannot restore the limits in force: {e:#}");
    }
}

/// The resources runc's flags describe, in `LinuxResources` JSON.
pub fn from_flags(a: &Update) -> Value {
    let mut r = Map::new();
    let mut put = |ctl: &str, key: &str, v: Option<Value>| {
        if let Some(v) = v {
            r.entry(ctl).or_insert_with(|| json!({}))[key] = v;
        }
    };
    put("memory", "limit", a.memory.map(Value::from));
    put(
        "memory",
        "reservation",
        a.memory_reservation.map(Value::from),
    );
    put("memory", "swap", a.memory_swap.map(Value::from));
    put("memory", "kernel", a.kernel_memory.map(Value::from));
    put("memory", "kernelTCP", a.kernel_memory_tcp.map(Value::from));
    put("cpu", "shares", a.cpu_share.map(Value::from));
    put("cpu", "quota", a.cpu_quota.map(Value::from));
    put("cpu", "period", a.cpu_period.map(Value::from));
    put("cpu", "realtimeRuntime", a.cpu_rt_runtime.map(Value::from));
    put("cpu", "realtimePeriod", a.cpu_rt_period.map(Value::from));
    put("cpu", "cpus", a.cpuset_cpus.clone().map(Value::from));
    put("cpu", "mems", a.cpuset_mems.clone().map(Value::from));
    put("blockIO", "weight", a.blkio_weight.map(Value::from));
    put("pids", "limit", a.pids_limit.map(Value::from));
    Value::Object(r)
}

/// The stored spec with the applied resources merged in (per controller, field by field).
fn merged(stored: &Value, applied: &Value) -> Result<Value, String> {
    let mut spec = stored.clone();
    let linux = spec
        .as_object_mut()
        .ok_or("not an object")?
        .entry("linux")
        .or_insert_with(|| json!({}));
    let res = linux
        .as_object_mut()
        .ok_or("field linux: not an object")?
        .entry("resources")
        .or_insert_with(|| json!({}));
    if let (Some(res), Some(applied)) = (res.as_object_mut(), applied.as_object()) {
        for (ctl, fields) in applied {
            match (
                res.get_mut(ctl).and_then(|v| v.as_object_mut()),
                fields.as_object(),
            ) {
                (Some(have), Some(new)) => {
                    for (k, v) in new {
                        have.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    res.insert(ctl.clone(), fields.clone());
                }
            }
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_become_linux_resources() {
        let cli = crate::cli::Cli::try_parse_from([
            "hardrun",
            "update",
            "--memory",
            "64m",
            "--pids-limit",
            "100",
            "--cpu-share",
            "512",
            "c1",
        ])
        .unwrap();
        let Some(crate::cli::Command::Update(u)) = cli.command else {
            panic!()
        };
        let v = from_flags(&u);
        assert_eq!(
            v,
            json!({"memory": {"limit": 67108864}, "pids": {"limit": 100}, "cpu": {"shares": 512}})
        );
        assert!(delegate::parse_resources(&v).is_ok());
    }

    fn parse(args: &[&str]) -> Result<Value, String> {
        let mut argv = vec!["hardrun", "update"];
        argv.extend_from_slice(args);
        argv.push("c1");
        let cli = crate::cli::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let Some(crate::cli::Command::Update(u)) = cli.command else {
            panic!()
        };
        assert_eq!(u.container_id, "c1");
        Ok(from_flags(&u))
    }

    #[test]
    fn minus_one_is_accepted_in_both_forms_where_runc_accepts_it() {
        // (flag, where it lands): every flag runc parses as a signed number or a size
        for (flag, ctl, key) in [
            ("--memory", "memory", "limit"),
            ("--memory-reservation", "memory", "reservation"),
            ("--memory-swap", "memory", "swap"),
            ("--kernel-memory", "memory", "kernel"),
            ("--kernel-memory-tcp", "memory", "kernelTCP"),
            ("--cpu-quota", "cpu", "quota"),
            ("--cpu-rt-runtime", "cpu", "realtimeRuntime"),
            ("--pids-limit", "pids", "limit"),
        ] {
            let joined = format!("{flag}=-1");
            for args in [vec![flag, "-1"], vec![joined.as_str()]] {
                let v = parse(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
                assert_eq!(v, json!({ctl: {key: -1}}), "{args:?}");
            }
        }
        // with other flags around it, and the id still last
        assert_eq!(
            parse(&["--memory", "-1", "--memory-swap", "-1", "--pids-limit", "5"]).unwrap(),
            json!({"memory": {"limit": -1, "swap": -1}, "pids": {"limit": 5}})
        );
        // unsigned in runc too: -1 is an error, as is a flag where a value should be
        for args in [
            &["--cpu-period", "-1"][..],
            &["--cpu-share=-1"],
            &["--blkio-weight", "-1"],
            &["--memory", "--pids-limit", "5"],
            &["--memory", "-2x"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
