//! Follows the audit log (`<log>`, rotated to `<log>.1` …) record by record, across rotation.
//!
//! The position is a [`Cursor`]: the file (device and inode: rotation renames files, it does not
//! change them), the offset after the last whole line read, and the sha256 of that line (the
//! `prev` the next record links to). Saved after every batch, it lets a restarted monitor go on
//! exactly where it stopped: in the same file if it still exists under any name, else after the
//! line with that hash. Every line read is also checked against the hash chain (`prev`).

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audit;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub dev: u64,
    pub ino: u64,
    /// the offset after the last whole line read
    pub offset: u64,
    /// sha256 (hex) of the last line read; "" before the first
    pub hash: String,
}

pub struct Follower {
    log: PathBuf,
    pub cursor: Cursor,
    /// false once a record did not link to the one before it
    pub chain_intact: bool,
    /// where a broken link was seen: (file, why)
    pub chain_break: Option<String>,
}

fn id_of(p: &Path) -> Option<(u64, u64, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.dev(), m.ino(), m.len()))
}

/// The whole lines of `path` from `offset`: (lines, offset after the last whole line).
fn lines_from(path: &Path, offset: u64) -> std::io::Result<(Vec<Vec<u8>>, u64)> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![];
    f.read_to_end(&mut buf)?;
    let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
        return Ok((vec![], offset));
    };
    let lines = buf[..end]
        .split(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    Ok((lines, offset + end as u64 + 1))
}

impl Follower {
    /// Follows `log` from `saved`; without one, from the end of the log as it is now (a first
    /// start reports what happens from now on, not the log's history).
    pub fn new(log: &Path, saved: Option<Cursor>) -> Follower {
        let cursor = saved.unwrap_or_else(|| match id_of(log) {
            Some((dev, ino, _)) => {
                let (hash, offset) = std::fs::File::open(log)
                    .and_then(|mut f| {
                        let last = audit::last_line(&mut f)?;
                        let len = f.metadata()?.len();
                        Ok((
                            if last.is_empty() {
                                String::new()
                            } else {
                                audit::line_hash(&last)
                            },
                            len,
                        ))
                    })
                    .unwrap_or_default();
                Cursor {
                    dev,
                    ino,
                    offset,
                    hash,
                }
            }
            None => Cursor::default(),
        });
        Follower {
            log: log.to_path_buf(),
            cursor,
            chain_intact: true,
            chain_break: None,
        }
    }

    /// The records appended since the last call, oldest first (rotation link records included).
    pub fn poll(&mut self) -> std::io::Result<Vec<Vec<u8>>> {
        // oldest first; a file seen twice (the log and `.1` during a rotation) is read once
        let mut files: Vec<(PathBuf, u64, u64)> = vec![];
        for p in audit::chain_files(&self.log) {
            if let Some((dev, ino, _)) = id_of(&p) {
                if !files.iter().any(|(_, d, i)| (*d, *i) == (dev, ino)) {
                    files.push((p, dev, ino));
                }
            }
        }
        let at = files
            .iter()
            .position(|(_, d, i)| (*d, *i) == (self.cursor.dev, self.cursor.ino));
        let mut out = vec![];
        let (start, skip_to_hash) = match at {
            Some(i) => (i, None),
            // nothing read yet, and the log did not exist then: everything is new
            None if self.cursor.ino == 0 => (0, None),
            // the file is gone (rotated past `keep`, restored from a copy): go on after the
            // record with the saved hash, wherever it is now
            None => (0, Some(self.cursor.hash.clone())),
        };
        let mut found = skip_to_hash.is_none();
        for (n, (path, dev, ino)) in files.iter().enumerate().skip(start) {
            let from = if n == start && at.is_some() {
                self.cursor.offset
            } else {
                0
            };
            let (lines, end) = lines_from(path, from)?;
            for line in lines {
                let hash = audit::line_hash(&line);
                if !found {
                    if Some(&hash) == skip_to_hash.as_ref() {
                        found = true;
                    }
                    self.cursor.hash = hash;
                    continue;
                }
                self.check_link(path, &line);
                self.cursor.hash = hash;
                out.push(line);
            }
            self.cursor.dev = *dev;
            self.cursor.ino = *ino;
            self.cursor.offset = end;
        }
        if !found {
            // the saved record is nowhere: read everything rather than lose anything
            tracing::warn!(
                "audit log {}: the monitor's last record is not in it any more; reading it from the start",
                self.log.display()
            );
            self.cursor = Cursor::default();
            return self.poll();
        }
        Ok(out)
    }

    fn check_link(&mut self, path: &Path, line: &[u8]) {
        let prev = serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("prev").and_then(|p| p.as_str()).map(str::to_owned));
        // the first record seen after a start from nothing cannot be checked against anything
        // but "" (a new chain) — a log whose older files are gone starts with a rotation link
        let ok = match &prev {
            Some(p) => {
                p == &self.cursor.hash || (self.cursor.hash.is_empty() && self.cursor.offset == 0)
            }
            None => false,
        };
        if !ok && self.chain_intact {
            self.chain_intact = false;
            self.chain_break = Some(format!(
                "{}: a record does not link to the one before it",
                path.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn rec(prev: &str, n: u32) -> Vec<u8> {
        format!("{{\"n\":{n},\"prev\":\"{prev}\"}}").into_bytes()
    }

    fn append(log: &Path, prev: &mut String, n: u32) {
        let line = rec(prev, n);
        *prev = audit::line_hash(&line);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        f.write_all(&line).unwrap();
        f.write_all(b"\n").unwrap();
    }

    fn ns(lines: &[Vec<u8>]) -> Vec<u64> {
        lines
            .iter()
            .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok()?["n"].as_u64())
            .collect()
    }

    #[test]
    fn follows_across_rotation_and_resumes_from_a_saved_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let mut prev = String::new();
        append(&log, &mut prev, 1);
        let mut f = Follower::new(&log, None);
        assert!(
            f.poll().unwrap().is_empty(),
            "a first start begins at the end"
        );
        append(&log, &mut prev, 2);
        append(&log, &mut prev, 3);
        assert_eq!(ns(&f.poll().unwrap()), [2, 3]);
        // a record, then a rotation as audit does it (hard link to .1, a new file renamed in)
        append(&log, &mut prev, 4);
        std::fs::hard_link(&log, audit::rotated_name(&log, 1)).unwrap();
        let tmp = dir.path().join("new");
        let mut p2 = prev.clone();
        append(&tmp, &mut p2, 5);
        std::fs::rename(&tmp, &log).unwrap();
        assert_eq!(ns(&f.poll().unwrap()), [4, 5]);
        assert!(f.chain_intact);
        // a restart with the saved cursor repeats nothing and loses nothing
        let saved = f.cursor.clone();
        append(&log, &mut p2, 6);
        let mut g = Follower::new(&log, Some(saved.clone()));
        assert_eq!(ns(&g.poll().unwrap()), [6]);
        // the file is gone: the hash finds the place
        let mut lost = saved;
        lost.ino = 1;
        let mut h = Follower::new(&log, Some(lost));
        assert_eq!(ns(&h.poll().unwrap()), [6]);
        // a partial line waits for its newline
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(b"{\"n\":7").unwrap();
        assert!(g.poll().unwrap().is_empty());
        // a record that does not link breaks the chain
        file.write_all(b",\"prev\":\"x\"}\n").unwrap();
        assert_eq!(ns(&g.poll().unwrap()), [7]);
        assert!(!g.chain_intact);
    }
}
