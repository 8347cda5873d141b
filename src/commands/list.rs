//! `list [--format table|json] [-q]`: the containers in the state root, as runc prints them.

use std::fmt::Write as _;

use anyhow::{bail, Result};

use super::state::{runc_state, RuncState};
use crate::cli::GlobalOpts;
use crate::runtime::delegate;
use crate::runtime::state_dir::Root;

pub fn run(global: &GlobalOpts, args: &liboci_cli::List) -> Result<i32> {
    let root = Root::new(&global.root);
    let mut states = vec![];
    for id in root.list()? {
        let dir = root.container_dir(&id);
        match delegate::load(&dir, &id) {
            Ok(c) => states.push((runc_state(&dir, &c), c.creator())),
            Err(e) => tracing::warn!("skipping container {id:?}: {e}"),
        }
    }
    if args.quiet {
        let mut s = String::new();
        for (st, _) in &states {
            let _ = writeln!(s, "{}", st.id);
        }
        return super::out(s.as_bytes()).map(|_| 0);
    }
    match args.format.as_str() {
        "json" => {
            let list: Vec<&RuncState> = states.iter().map(|(s, _)| s).collect();
            let mut s = serde_json::to_string(&list)?;
            if list.is_empty() {
                s = "null".into(); // runc prints a nil slice
            }
            s.push('\n');
            super::out(s.as_bytes())?;
        }
        "table" => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for (st, owner) in &states {
                rows.push(vec![
                    st.id.clone(),
                    st.pid.to_string(),
                    st.status.clone(),
                    st.bundle.display().to_string(),
                    st.created.clone(),
                    owner
                        .as_ref()
                        .map(|o| o.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "root".into()),
                ]);
            }
            super::out(tabwrite(&rows).as_bytes())?;
        }
        other => bail!("invalid format {other:?}: use table or json"),
    }
    Ok(0)
}

/// Go's `tabwriter.NewWriter(w, 12, 1, 3, ' ', 0)` as runc uses it: every column but the last is
/// padded to max(cell width + 3, 12).
pub fn tabwrite(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max((c.chars().count() + 3).max(12));
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                out.push_str(c);
            } else {
                let _ = write!(out, "{c:<w$}", w = widths[i]);
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn tabwriter_matches_runc_layout() {
        let rows = vec![
            vec!["ID".to_owned(), "PID".to_owned(), "OWNER".to_owned()],
            vec![
                "a-long-container-id".to_owned(),
                "4242".to_owned(),
                "root".to_owned(),
            ],
        ];
        let t = super::tabwrite(&rows);
        assert_eq!(
            t,
            "ID                    PID         OWNER\na-long-container-id   4242        root\n"
        );
    }
}
