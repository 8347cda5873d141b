//! JSON pointer helpers over a raw spec (no allocation on the common path).

use serde_json::Value;

/// `spec.pointer(ptr)` without its allocations (serde_json unescapes every token into a new
/// String): tokens are looked up in place; only a token with `~` is unescaped.
pub fn at<'a>(spec: &'a Value, ptr: &str) -> Option<&'a Value> {
    if ptr.is_empty() {
        return Some(spec);
    }
    let rest = ptr.strip_prefix('/')?;
    let mut v = spec;
    for token in rest.split('/') {
        v = match v {
            Value::Object(m) => {
                if token.contains('~') {
                    m.get(&token.replace("~1", "/").replace("~0", "~"))?
                } else {
                    m.get(token)?
                }
            }
            Value::Array(a) => {
                if token.len() > 1 && token.starts_with('0') {
                    return None;
                }
                a.get(token.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(v)
}

/// Reads an array of strings at `ptr` (missing or wrong type: empty).
pub fn strings(spec: &Value, ptr: &str) -> Vec<String> {
    at(spec, ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod at_tests {
    use super::at;
    use serde_json::json;

    #[test]
    fn at_agrees_with_serde_json_pointer() {
        let v = json!({"a": {"b/c": [10, {"d~e": true}], "": 1}, "x": [[1, 2]]});
        for p in [
            "",
            "/a",
            "/a/b~1c",
            "/a/b~1c/0",
            "/a/b~1c/1/d~0e",
            "/a/",
            "/x/0/1",
            "/x/01",
            "/x/-",
            "/x/0/2",
            "/nope",
            "a",
            "/a/b~1c/1/d~0e/deeper",
            "/x/18446744073709551616",
        ] {
            assert_eq!(at(&v, p), v.pointer(p), "{p:?}");
        }
    }
}
