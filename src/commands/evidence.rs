//! `hardrun evidence <id> [-o DIR|FILE.tar] [--checkpoint] [--max-size SIZE]`: collects signed
//! evidence of a container (see `incident::evidence`); `hardrun evidence verify PATH
//! [--public-key FILE]`; `hardrun evidence public-key`.

use anyhow::{anyhow, Result};

use crate::cli::{EvidenceArgs, EvidenceCmd, GlobalOpts};
use crate::incident::evidence::{self, Output, Request};

pub fn run(global: &GlobalOpts, args: &EvidenceArgs) -> Result<i32> {
    match &args.command {
        Some(EvidenceCmd::Verify { path, public_key }) => verify(path, public_key.as_deref()),
        Some(EvidenceCmd::PublicKey) => {
            let config = super::policy_config(global)?;
            let key = evidence::load_or_create_key(&config.retention.evidence_key)?;
            super::out(
                format!("{}\n", evidence::public_key_text(&key.verifying_key())).as_bytes(),
            )?;
            Ok(0)
        }
        None => collect(global, args),
    }
}

fn collect(global: &GlobalOpts, args: &EvidenceArgs) -> Result<i32> {
    let config = super::policy_config(global)?;
    let id = args.container_id.as_deref().unwrap_or_default();
    let max_size = match &args.max_size {
        Some(s) => {
            crate::profile::config::parse_iec_size(s).map_err(|e| anyhow!("--max-size: {e}"))?
        }
        None => config.retention.evidence_max_size,
    };
    let output = match &args.output {
        Some(p) => Output::from_path(p),
        None => {
            let Some(f) = &config.retention.forensics_dir else {
                anyhow::bail!(
                    "{}: forensics_dir is off: name the output with -o DIR or -o FILE.tar",
                    config.path.display()
                );
            };
            let dir = crate::incident::forensics::default_evidence_dir(f, id);
            if let Some(parent) = dir.parent() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|e| anyhow!("cannot create {}: {e}", parent.display()))?;
            }
            Output::Dir(dir)
        }
    };
    let (dir, mut container) = super::load(global, id)?;
    let record = crate::runtime::state_dir::read_record(&dir);
    let result = evidence::collect(Request {
        container: &mut container,
        config: &config,
        output,
        checkpoint: args.checkpoint,
        max_size,
    });
    // the collection is a step in the container's audit trail
    let failed = result.as_ref().err().map(|e| e.to_string());
    let workload = crate::audit::Workload::of_container(&dir);
    let step = crate::audit::Step {
        command: "evidence",
        id,
        bundle: record
            .as_ref()
            .map(|r| r.bundle.as_path())
            .unwrap_or(std::path::Path::new("")),
        workload: workload.as_ref(),
        profile: record
            .as_ref()
            .and_then(|r| r.profile.as_deref())
            .unwrap_or(""),
        profile_sha256: record
            .as_ref()
            .and_then(|r| r.profile_sha256.as_deref())
            .unwrap_or(""),
        mode: "",
        failed: failed.as_deref(),
    };
    if let Err(e) = crate::audit::record_step(crate::audit::Sink::of(&config).as_ref(), &step) {
        tracing::error!("evidence {id:?}: not recorded: {e}");
    }
    let c = result?;
    // an open incident of the container (isolate opened it) gets the stage on its timeline
    let text = format!(
        "evidence at {} (signed by key {})",
        c.path.display(),
        c.key_id
    );
    if let Err(e) = crate::incident::store::append_if_open(
        &config.incidents_dir,
        id,
        crate::incident::store::Stage::EvidenceCollected,
        &text,
    ) {
        eprintln!("evidence {id:?}: note: incident not updated: {e}");
    }
    for e in &c.errors {
        eprintln!("evidence {id:?}: note: {e}");
    }
    if let Some(why) = &c.checkpoint_failed {
        eprintln!(
            "evidence {id:?}: checkpoint failed, the rest was collected (see checkpoint/dump.log): {why}"
        );
    }
    super::out(
        format!(
            "{}: {} files, {} processes, {} skipped, signed by key {}\n",
            c.path.display(),
            c.files,
            c.processes,
            c.skipped,
            c.key_id
        )
        .as_bytes(),
    )?;
    Ok(0)
}

fn verify(path: &std::path::Path, public_key: Option<&std::path::Path>) -> Result<i32> {
    let pinned = match public_key {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| anyhow!("cannot read the public key {}: {e}", f.display()))?;
            Some(
                evidence::parse_public_key(&text)
                    .map_err(|e| anyhow!("public key {}: {e}", f.display()))?,
            )
        }
        None => None,
    };
    let v = evidence::verify(path, pinned.as_ref())?;
    let mut text = String::new();
    for p in &v.problems {
        text.push_str(&format!("{p}\n"));
    }
    if v.problems.is_empty() {
        text.push_str(&format!(
            "{}: {} files and the signature verify (key {}{})\n",
            path.display(),
            v.files,
            v.key_id.as_deref().unwrap_or("?"),
            if v.pinned {
                ", pinned"
            } else {
                "; not pinned: pass --public-key to check whose it is"
            }
        ));
        super::out(text.as_bytes())?;
        return Ok(0);
    }
    super::out(text.as_bytes())?;
    Err(anyhow!(
        "evidence {} does not verify: {} problem{} (first: {})",
        path.display(),
        v.problems.len(),
        if v.problems.len() == 1 { "" } else { "s" },
        v.problems[0]
    ))
}
