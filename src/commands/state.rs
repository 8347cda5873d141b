//! `state`: the container's state as runc prints it (indented JSON, runc's field order).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::cli::GlobalOpts;
use crate::runtime::delegate::{Container, Status};
use crate::runtime::state_dir;

/// runc's `containerState`.
#[derive(Debug, Serialize)]
pub struct RuncState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    pub owner: String,
}

/// Builds runc's view of a container: the caller's bundle (from hardrun's record), not the
/// hardened copy libcontainer runs from.
pub fn runc_state(dir: &Path, c: &Container) -> RuncState {
    let record = state_dir::read_record(dir);
    let (bundle, rootfs) = match record {
        Some(r) => (r.bundle, r.rootfs),
        None => (c.bundle().to_path_buf(), c.bundle().join("rootfs")),
    };
    let stopped = c.status() == Status::Stopped;
    RuncState {
        oci_version: crate::runtime::delegate::oci_version().to_owned(),
        id: c.id().to_owned(),
        pid: if stopped {
            0
        } else {
            c.pid().map(|p| p.as_raw()).unwrap_or(0)
        },
        status: c.status().name().to_owned(),
        bundle,
        rootfs,
        created: c
            .created()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_default(),
        annotations: c.annotations(),
        owner: String::new(),
    }
}

pub fn run(global: &GlobalOpts, args: &liboci_cli::State) -> Result<i32> {
    let (dir, container) = super::load(global, &args.container_id)?;
    let mut text = serde_json::to_string_pretty(&runc_state(&dir, &container))?;
    text.push('\n');
    super::out(text.as_bytes())?;
    Ok(0)
}
