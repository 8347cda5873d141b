//! `hardrun audit verify [FILE…]`: checks the hash chain of audit logs. Prints one line per file;
//! exit 1 when a chain is broken (naming the first broken record) or a file cannot be read.

use anyhow::{anyhow, bail, Result};

use crate::audit::verify;
use crate::cli::{AuditCmd, GlobalOpts};

pub fn run(global: &GlobalOpts, cmd: &AuditCmd) -> Result<i32> {
    let AuditCmd::Verify { files } = cmd;
    let files = if files.is_empty() {
        let config = super::policy_config(global)?;
        match config.audit_log {
            Some(f) => vec![f],
            None => bail!(
                "{}: audit_log is off: name the files to verify",
                config.path.display()
            ),
        }
    } else {
        files.clone()
    };
    let mut report = String::new();
    let mut broken = vec![];
    for f in &files {
        let text = std::fs::read(f).map_err(|e| anyhow!("cannot read {}: {e}", f.display()))?;
        match verify(&text) {
            Ok(n) => report.push_str(&format!("{}: {n} records, chain intact\n", f.display())),
            Err((record, why)) => {
                report.push_str(&format!("{}: record {record}: {why}\n", f.display()));
                broken.push(format!("{} (record {record})", f.display()));
            }
        }
    }
    super::out(report.as_bytes())?;
    if !broken.is_empty() {
        bail!("audit chain broken: {}", broken.join(", "));
    }
    Ok(0)
}
