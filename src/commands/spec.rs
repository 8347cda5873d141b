//! `spec [--bundle DIR] [--rootless]`: write runc's default `config.json`, byte for byte what
//! Debian's runc 1.1.5 writes (tab-indented, no trailing newline). It is not hardened: hardening
//! is applied at create, under the profile the container is created with, so `spec` only has to
//! give clients and runc's test suite the template they expect (`terminal: true`, hostname
//! `runc`, a deny-all device rule, runc's namespaces).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{anyhow, bail, Result};

use crate::cli::GlobalOpts;

/// `runc spec`'s output, as runc 1.1.5 writes it.
const RUNC_DEFAULT: &str = include_str!("spec/runc-1.1.5.json");
/// `runc spec --rootless`'s output, with `{uid}` and `{gid}` where runc writes the caller's euid
/// and egid as the id mappings' host ids.
const RUNC_ROOTLESS: &str = include_str!("spec/runc-1.1.5-rootless.json.in");

/// runc's default spec text; `--rootless`: runc's rootless variant for the caller's euid/egid
/// (user namespace mapping it to root, no network or cgroup namespace, `/sys` bound, no
/// `resources`).
pub fn default_spec_text(rootless: bool, uid: u32, gid: u32) -> String {
    if rootless {
        RUNC_ROOTLESS
            .replace("{uid}", &uid.to_string())
            .replace("{gid}", &gid.to_string())
    } else {
        RUNC_DEFAULT.to_owned()
    }
}

pub fn run(_global: &GlobalOpts, args: &liboci_cli::Spec) -> Result<i32> {
    let dir = args.bundle.clone().unwrap_or_else(|| ".".into());
    let path = dir.join("config.json");
    let text = default_spec_text(
        args.rootless,
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
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
    f.write_all(text.as_bytes())
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_default_is_runcs_and_a_valid_spec() {
        let text = default_spec_text(false, 1000, 1000);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["process"]["terminal"], true);
        assert_eq!(v["hostname"], "runc");
        assert_eq!(
            v["linux"]["resources"]["devices"],
            serde_json::json!([{"allow": false, "access": "rwm"}])
        );
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount"]);
        crate::bundle::parse(std::path::Path::new("config.json"), text.as_bytes())
            .expect("oci-spec reads it");
        assert!(!text.ends_with('\n'), "no trailing newline, as runc");
    }

    #[test]
    fn rootless_maps_the_callers_ids() {
        let text = default_spec_text(true, 1234, 5678);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["linux"]["uidMappings"][0]["hostID"], 1234);
        assert_eq!(v["linux"]["gidMappings"][0]["hostID"], 5678);
        assert!(v["linux"]["resources"].is_null());
        assert!(v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"type": "user"})));
        crate::bundle::parse(std::path::Path::new("config.json"), text.as_bytes())
            .expect("oci-spec reads it");
    }
}
