//! `ps [--format table|json] <id> [ps options]`: the container's processes.

use std::process::Command;

use anyhow::{anyhow, bail, Result};

use crate::cli::GlobalOpts;
use crate::runtime::delegate;

pub fn run(global: &GlobalOpts, args: &liboci_cli::Ps) -> Result<i32> {
    let (_, container) = super::load(global, &args.container_id)?;
    let pids: Vec<i32> = delegate::pids(&container)?
        .iter()
        .map(|p| p.as_raw())
        .collect();
    match args.format.as_str() {
        "json" => {
            let mut s = serde_json::to_string(&pids)?;
            s.push('\n');
            super::out(s.as_bytes())?;
        }
        "table" => {
            let opts = if args.ps_options.is_empty() {
                vec!["-ef".to_owned()]
            } else {
                args.ps_options.clone()
            };
            let output = Command::new("ps")
                .args(&opts)
                .output()
                .map_err(|e| anyhow!("cannot run ps {}: {e}", opts.join(" ")))?;
            if !output.status.success() {
                bail!(
                    "ps {} failed: {}",
                    opts.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            super::out(filter_table(&String::from_utf8_lossy(&output.stdout), &pids)?.as_bytes())?;
        }
        other => bail!("invalid format {other:?}: use table or json"),
    }
    Ok(0)
}

/// Keeps the header and the lines whose PID column is one of `pids`.
pub fn filter_table(ps: &str, pids: &[i32]) -> Result<String> {
    let mut lines = ps.lines();
    let header = lines.next().ok_or_else(|| anyhow!("ps printed nothing"))?;
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow!("ps output has no PID column: {header:?}"))?;
    let mut out = format!("{header}\n");
    for line in lines {
        if let Some(pid) = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&pid) {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_by_pid_column() {
        let ps = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:00 ? 00:00:00 sleep 9\n";
        let t = super::filter_table(ps, &[42]).unwrap();
        assert_eq!(
            t,
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 9\n"
        );
        assert!(super::filter_table("A B\n", &[1]).is_err());
    }
}
