//! `spec [--bundle DIR] [--rootless]`: write a default `config.json` (tab-indented, like runc).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{anyhow, bail, Result};
use libcontainer::oci_spec::runtime::Spec;
use serde::Serialize;

use crate::cli::GlobalOpts;

/// runc's default spec (oci-spec's `Spec::default`), with hardrun's name as the hostname where
/// oci-spec puts youki's.
pub fn default_spec(rootless: bool) -> Result<Spec> {
    let mut spec = if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        Spec::rootless(uid, gid)
    } else {
        Spec::default()
    };
    spec.set_hostname(Some("hardrun".to_owned()));
    Ok(spec)
}

pub fn to_runc_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    value.serialize(&mut ser)?;
    Ok(buf)
}

pub fn run(_global: &GlobalOpts, args: &liboci_cli::Spec) -> Result<i32> {
    let dir = args.bundle.clone().unwrap_or_else(|| ".".into());
    let path = dir.join("config.json");
    let bytes = to_runc_json(&default_spec(args.rootless)?)?;
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("file {} exists: remove it first", path.display())
        }
        Err(e) => bail!("cannot create {}: {e}", path.display()),
    };
    f.write_all(&bytes)
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(0)
}
