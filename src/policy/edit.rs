//! Edits to the raw spec, addressed by JSON pointer (RFC 6901), recorded as RFC 6902 operations.
//!
//! Rules propose edits; only the engine applies them, so fields no rule knows about survive.
//! `set` creates missing parent objects; what was really applied is returned as plain
//! `add`/`replace`/`remove` operations, so the list of applied edits is a valid JSON Patch.

use serde::Serialize;
use serde_json::Value;

/// A proposed change.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// put `value` at `path`, creating missing parent objects
    Set(String, Value),
    /// remove whatever is at `path` (no-op when absent)
    Remove(String),
    /// append `value` to the array at `path` (created when absent)
    Push(String, Value),
}

impl Edit {
    pub fn set(path: impl Into<String>, value: impl Into<Value>) -> Self {
        Edit::Set(path.into(), value.into())
    }
    pub fn remove(path: impl Into<String>) -> Self {
        Edit::Remove(path.into())
    }
    pub fn push(path: impl Into<String>, value: impl Into<Value>) -> Self {
        Edit::Push(path.into(), value.into())
    }
    pub fn path(&self) -> &str {
        match self {
            Edit::Set(p, _) | Edit::Remove(p) | Edit::Push(p, _) => p,
        }
    }
}

/// An applied RFC 6902 operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchOp {
    pub op: &'static str,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EditError {
    #[error("invalid JSON pointer {0:?}")]
    BadPointer(String),
    #[error("cannot edit {path}: {parent} is not an object or array")]
    NotContainer { path: String, parent: String },
    #[error("cannot edit {0}: array index out of range")]
    Index(String),
}

/// Splits a JSON pointer into unescaped tokens.
pub fn tokens(ptr: &str) -> Result<Vec<String>, EditError> {
    if ptr.is_empty() {
        return Ok(vec![]);
    }
    let Some(rest) = ptr.strip_prefix('/') else {
        return Err(EditError::BadPointer(ptr.to_owned()));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// Escapes one token for use in a pointer.
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn join(tokens: &[String]) -> String {
    tokens.iter().map(|t| format!("/{}", escape(t))).collect()
}

/// Applies `edit` to `doc`; returns the RFC 6902 operations that were really performed.
pub fn apply(doc: &mut Value, edit: &Edit) -> Result<Vec<PatchOp>, EditError> {
    let mut ops = vec![];
    match edit {
        Edit::Set(path, value) => {
            let toks = tokens(path)?;
            let Some((last, parents)) = toks.split_last() else {
                ops.push(PatchOp {
                    op: "replace",
                    path: String::new(),
                    value: Some(value.clone()),
                });
                *doc = value.clone();
                return Ok(ops);
            };
            let parent = ensure_parents(doc, parents, &mut ops)?;
            put(parent, last, value.clone(), path, &mut ops)?;
        }
        Edit::Remove(path) => {
            let toks = tokens(path)?;
            let Some((last, parents)) = toks.split_last() else {
                return Err(EditError::BadPointer(path.clone()));
            };
            let Some(parent) = doc.pointer_mut(&join(parents)) else {
                return Ok(ops);
            };
            let removed = match parent {
                Value::Object(m) => m.remove(last).is_some(),
                Value::Array(a) => match last.parse::<usize>() {
                    Ok(i) if i < a.len() => {
                        a.remove(i);
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
            if removed {
                ops.push(PatchOp {
                    op: "remove",
                    path: path.clone(),
                    value: None,
                });
            }
        }
        Edit::Push(path, value) => {
            let toks = tokens(path)?;
            let Some((last, parents)) = toks.split_last() else {
                return Err(EditError::BadPointer(path.clone()));
            };
            let parent = ensure_parents(doc, parents, &mut ops)?;
            let parent_path = join(parents);
            let slot = match parent {
                Value::Object(m) => m.entry(last.clone()).or_insert(Value::Null),
                Value::Array(a) => {
                    let idx: usize = last.parse().map_err(|_| EditError::Index(path.clone()))?;
                    a.get_mut(idx).ok_or(EditError::Index(path.clone()))?
                }
                _ => {
                    return Err(EditError::NotContainer {
                        path: path.clone(),
                        parent: parent_path,
                    })
                }
            };
            match slot {
                Value::Array(a) => {
                    a.push(value.clone());
                    ops.push(PatchOp {
                        op: "add",
                        path: format!("{path}/-"),
                        value: Some(value.clone()),
                    });
                }
                Value::Null => {
                    *slot = Value::Array(vec![value.clone()]);
                    ops.push(PatchOp {
                        op: "add",
                        path: path.clone(),
                        value: Some(slot.clone()),
                    });
                }
                _ => {
                    return Err(EditError::NotContainer {
                        path: format!("{path}/-"),
                        parent: path.clone(),
                    })
                }
            }
        }
    }
    Ok(ops)
}

/// Walks to the object/array at `parents`, creating missing objects (recorded as `add`).
fn ensure_parents<'a>(
    doc: &'a mut Value,
    parents: &[String],
    ops: &mut Vec<PatchOp>,
) -> Result<&'a mut Value, EditError> {
    let mut cur = doc;
    for (i, tok) in parents.iter().enumerate() {
        let here = join(&parents[..=i]);
        cur = match cur {
            Value::Object(m) => {
                if !m.contains_key(tok) || m[tok].is_null() {
                    m.insert(tok.clone(), Value::Object(Default::default()));
                    ops.push(PatchOp {
                        op: "add",
                        path: here.clone(),
                        value: Some(Value::Object(Default::default())),
                    });
                }
                m.get_mut(tok).expect("just inserted")
            }
            Value::Array(a) => {
                let idx: usize = tok.parse().map_err(|_| EditError::Index(here.clone()))?;
                a.get_mut(idx).ok_or(EditError::Index(here.clone()))?
            }
            _ => {
                return Err(EditError::NotContainer {
                    path: here,
                    parent: join(&parents[..i]),
                })
            }
        };
    }
    Ok(cur)
}

fn put(
    parent: &mut Value,
    key: &str,
    value: Value,
    path: &str,
    ops: &mut Vec<PatchOp>,
) -> Result<(), EditError> {
    match parent {
        Value::Object(m) => {
            let op = if m.contains_key(key) {
                "replace"
            } else {
                "add"
            };
            if m.get(key) != Some(&value) {
                m.insert(key.to_owned(), value.clone());
                ops.push(PatchOp {
                    op,
                    path: path.to_owned(),
                    value: Some(value),
                });
            }
            Ok(())
        }
        Value::Array(a) => {
            let idx: usize = key.parse().map_err(|_| EditError::Index(path.to_owned()))?;
            let slot = a.get_mut(idx).ok_or(EditError::Index(path.to_owned()))?;
            if *slot != value {
                *slot = value.clone();
                ops.push(PatchOp {
                    op: "replace",
                    path: path.to_owned(),
                    value: Some(value),
                });
            }
            Ok(())
        }
        _ => Err(EditError::NotContainer {
            path: path.to_owned(),
            parent: path
                .rsplit_once('/')
                .map(|(p, _)| p)
                .unwrap_or("")
                .to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_creates_parents_and_records_valid_patch() {
        let mut doc = json!({"process": {"args": ["sh"]}, "x-unknown": 1});
        let ops = apply(&mut doc, &Edit::set("/linux/resources/pids/limit", 100)).unwrap();
        assert_eq!(doc["linux"]["resources"]["pids"]["limit"], 100);
        assert_eq!(doc["x-unknown"], 1);
        let paths: Vec<_> = ops.iter().map(|o| (o.op, o.path.as_str())).collect();
        assert_eq!(
            paths,
            [
                ("add", "/linux"),
                ("add", "/linux/resources"),
                ("add", "/linux/resources/pids"),
                ("add", "/linux/resources/pids/limit")
            ]
        );
        // setting the same value again does nothing
        assert!(
            apply(&mut doc, &Edit::set("/linux/resources/pids/limit", 100))
                .unwrap()
                .is_empty()
        );
        let ops = apply(&mut doc, &Edit::set("/linux/resources/pids/limit", 50)).unwrap();
        assert_eq!(ops[0].op, "replace");
    }

    #[test]
    fn remove_and_push() {
        let mut doc = json!({"a": {"b": [1, 2, 3]}, "k/x": {"~": 1}});
        assert_eq!(apply(&mut doc, &Edit::remove("/a/b/1")).unwrap().len(), 1);
        assert_eq!(doc["a"]["b"], json!([1, 3]));
        assert!(apply(&mut doc, &Edit::remove("/a/zz")).unwrap().is_empty());
        assert!(apply(&mut doc, &Edit::remove("/nope/zz"))
            .unwrap()
            .is_empty());
        apply(&mut doc, &Edit::remove("/k~1x/~0")).unwrap();
        assert_eq!(doc["k/x"], json!({}));
        apply(&mut doc, &Edit::push("/a/b", 9)).unwrap();
        apply(&mut doc, &Edit::push("/a/c", "new")).unwrap();
        assert_eq!(doc["a"], json!({"b": [1, 3, 9], "c": ["new"]}));
    }

    #[test]
    fn errors_name_the_pointer() {
        let mut doc = json!({"a": 1});
        assert_eq!(
            apply(&mut doc, &Edit::set("/a/b", 1))
                .unwrap_err()
                .to_string(),
            "cannot edit /a/b: /a is not an object or array"
        );
        assert!(matches!(
            apply(&mut doc, &Edit::set("a", 1)),
            Err(EditError::BadPointer(_))
        ));
    }
}
