//! `hardrun profile show NAME --format markdown|json`: a profile as the policy document an audit
//! asks for — every rule of the registry with the profile's action, its CIS controls, severity,
//! what it does, its effective parameters (defaults included) and the comments the profile's
//! author wrote beside them (TOML `#` comments and `comment = "…"` keys).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::policy::code::RULES;
use crate::profile::{Profile, RuleSetting};

/// The profile table that parameterizes a rule, if any.
fn section_of(code: &str) -> Option<&'static str> {
    Some(match code {
        "user" => "user",
        "userns" => "userns",
        "namespaces" => "namespaces",
        "tmpfs" => "tmpfs",
        "mounts" => "mounts",
        "devices" => "devices",
        "capabilities" => "capabilities",
        "seccomp" => "seccomp",
        "resources" => "resources",
        "sysctls" => "sysctls",
        "hooks" => "hooks",
        "secrets" => "secrets",
        "rego" => "rego",
        "cis-score" => "compliance",
        "exception" => "exceptions",
        _ => return None,
    })
}

/// `#` comments of a profile's TOML, keyed by (table, key): `("", "")` is the file's opening
/// comment, `(table, "")` the comment above a table header, `(table, key)` above a key (`rules`
/// keys are rule codes). A comment block attaches to the next header or key.
pub fn comments(toml: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut table = String::new();
    let mut pending: Vec<String> = vec![];
    let mut seen_content = false;
    for line in toml.lines() {
        let t = line.trim();
        if let Some(c) = t.strip_prefix('#') {
            pending.push(c.trim().to_owned());
            continue;
        }
        if t.is_empty() {
            // the file's opening block ends at its first blank line
            if !seen_content && !pending.is_empty() {
                out.entry((String::new(), String::new()))
                    .or_default()
                    .append(&mut pending);
            }
            continue;
        }
        seen_content = true;
        if t.starts_with('[') {
            table = t
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            if !pending.is_empty() {
                out.entry((table.clone(), String::new()))
                    .or_default()
                    .append(&mut pending);
            }
            continue;
        }
        let key = t
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"')
            .to_owned();
        let is_key = !key.is_empty()
            && t.contains('=')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if is_key && !pending.is_empty() {
            out.entry((table.clone(), key))
                .or_default()
                .append(&mut pending);
        }
    }
    out
}

fn rule_comment(p: &Profile, code: &str) -> Option<String> {
    match p.rules.get(code) {
        Some(RuleSetting::Detailed(d)) => d.comment.clone(),
        _ => None,
    }
}

/// The effective parameters of a table (defaults included), without its `comment`.
fn parameters(all: &Value, section: &str) -> Map<String, Value> {
    let mut m = all
        .get(section)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    m.remove("comment");
    m
}

/// The document as JSON: what `--format markdown` renders.
pub fn json(p: &Profile, toml: &str) -> Value {
    let all = serde_json::to_value(p).unwrap_or_default();
    let notes = comments(toml);
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let section = section_of(r.code);
            let mut comments: Vec<String> = notes
                .get(&("rules".to_owned(), r.code.to_owned()))
                .cloned()
                .unwrap_or_default();
            comments.extend(rule_comment(p, r.code));
            if let Some(s) = section {
                comments.extend(
                    notes
                        .get(&(s.to_owned(), String::new()))
                        .cloned()
                        .unwrap_or_default(),
                );
                if let Some(c) = all[s].get("comment").and_then(Value::as_str) {
                    comments.push(c.to_owned());
                }
            }
            let parameters = match section {
                Some("exceptions") => all["exceptions"].clone(),
                Some(s) => {
                    let params = parameters(&all, s);
                    let with_notes: Map<String, Value> = params
                        .into_iter()
                        .map(|(k, v)| {
                            let note = notes
                                .get(&(s.to_owned(), k.clone()))
                                .map(|n| n.join(" "))
                                .unwrap_or_default();
                            (k, json!({"value": v, "comment": note}))
                        })
                        .collect();
                    Value::Object(with_notes)
                }
                None => Value::Null,
            };
            json!({
                "code": r.code,
                "action": p.action(r.code),
                "cis": r.cis,
                "severity": r.severity,
                "description": r.description,
                "comments": comments,
                "table": section,
                "parameters": parameters,
            })
        })
        .collect();
    json!({
        "name": p.name,
        "description": p.description,
        "source": p.source,
        "sha256": p.sha256,
        "comments": notes.get(&(String::new(), String::new())).cloned().unwrap_or_default(),
        "gate": {
            "min_score": p.compliance.min_score,
            "level": p.compliance.level,
            "action": p.action("cis-score"),
        },
        "rules": rules,
        "response": {
            "isolate_on": p.response.isolate_on,
            "automatic_isolation": p.response.describe(),
            "comments": notes.get(&("response".to_owned(), String::new())).cloned().unwrap_or_default(),
        },
        "egress": egress_json(p),
        "hardrun_version": env!("CARGO_PKG_VERSION"),
    })
}

/// `[egress]` (not a rule: a table loaded at create, see `docs/egress.md`); null without one.
fn egress_json(p: &Profile) -> Value {
    use crate::profile::egress::{Verdict, METADATA};
    let Some(e) = &p.egress else {
        return Value::Null;
    };
    json!({
        "table": format!("inet {}", crate::policy::egress::TABLE),
        "default": e.default,
        "metadata": e.metadata,
        "metadata_addresses": if e.metadata == Verdict::Deny { METADATA } else { &[] },
        "deny": e.deny,
        "allow": e.allow,
        "comment": e.comment,
    })
}

/// A markdown table cell: one line, `|` escaped.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

/// The human policy document.
pub fn markdown(p: &Profile, toml: &str) -> String {
    let doc = json(p, toml);
    let mut out = format!("# Hardening policy `{}`\n\n", p.name);
    if !p.description.is_empty() {
        out.push_str(&format!("> {}\n\n", p.description));
    }
    for c in doc["comments"].as_array().into_iter().flatten() {
        out.push_str(&format!("{}\n", value_text(c)));
    }
    out.push_str(&format!(
        "\n| | |\n|---|---|\n| Source | `{}` |\n| SHA-256 | `{}` |\n| CIS gate | Level {} score ≥ {} % (rule `cis-score`: {}) |\n| Automatic isolation | {} (`[response] isolate_on`, acted on by `hardrun monitor`) |\n| Rendered by | hardrun {} |\n\n",
        p.source,
        p.sha256,
        p.compliance.level,
        p.compliance.min_score,
        p.action("cis-score"),
        p.response.describe(),
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str("Actions: **enforce** — the spec is rewritten to comply and the change recorded; **audit** — the deviation is recorded, nothing changed; **deny** — the container is refused. Every decision is recorded in the audit log with the rule code, CIS control, JSON pointer, value before and after.\n\n");
    out.push_str(
        "## Summary\n\n| Rule | Action | CIS | Severity | What it does |\n|---|---|---|---|---|\n",
    );
    let rules = doc["rules"].as_array().cloned().unwrap_or_default();
    for r in &rules {
        out.push_str(&format!(
            "| [`{}`](#{}) | {} | {} | {} | {} |\n",
            value_text(&r["code"]),
            value_text(&r["code"]),
            value_text(&r["action"]),
            cis_list(&r["cis"]),
            value_text(&r["severity"]),
            cell(&value_text(&r["description"]))
        ));
    }
    out.push_str("\n## Rules\n");
    for r in &rules {
        out.push_str(&format!(
            "\n### {}\n\n**Action: {}** · CIS {} · severity {}\n\n{}.\n",
            value_text(&r["code"]),
            value_text(&r["action"]),
            cis_list(&r["cis"]),
            value_text(&r["severity"]),
            value_text(&r["description"])
        ));
        let comments: Vec<String> = r["comments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(value_text)
            .collect();
        if !comments.is_empty() {
            out.push_str(&format!("\nProfile notes: {}\n", comments.join(" ")));
        }
        match (&r["table"], &r["parameters"]) {
            (Value::String(t), Value::Array(entries)) if t == "exceptions" => {
                if entries.is_empty() {
                    out.push_str("\nNo per-container exception is authorized.\n");
                } else {
                    out.push_str("\n| # | Kind | Values | Namespaces | Images | Comment |\n|---|---|---|---|---|---|\n");
                    for (i, e) in entries.iter().enumerate() {
                        out.push_str(&format!(
                            "| {i} | {} | {} | {} | {} | {} |\n",
                            value_text(&e["kind"]),
                            cell(&list(&e["values"])),
                            cell(&list(&e["namespaces"])),
                            cell(&list(&e["images"])),
                            cell(&value_text(&e["comment"]))
                        ));
                    }
                }
            }
            (Value::String(t), Value::Object(params)) if !params.is_empty() => {
                out.push_str(&format!(
                    "\nParameters (`[{t}]`):\n\n| Parameter | Value | Note |\n|---|---|---|\n"
                ));
                for (k, v) in params {
                    out.push_str(&format!(
                        "| `{k}` | {} | {} |\n",
                        cell(&format!("`{}`", v["value"])),
                        cell(&value_text(&v["comment"]))
                    ));
                }
            }
            _ => {}
        }
    }
    out.push_str("\n## Egress\n\n");
    let e = &doc["egress"];
    if e.is_null() {
        out.push_str(
            "No `[egress]`: no table is loaded; the containers' egress is not filtered.\n",
        );
    } else {
        out.push_str(&format!(
            "nftables table `{}` in each container's network namespace, loaded before its process starts; every refused packet is counted and reported by `hardrun monitor` (`egress-denied`).\n\n| | |\n|---|---|\n| Cloud metadata addresses | {} |\n| Refused (`deny`) | {} |\n| Default | {} |\n| Allowed (`allow`) | {} |\n",
            value_text(&e["table"]),
            match list(&e["metadata_addresses"]) {
                l if l.is_empty() => "allowed".to_owned(),
                l => format!("refused: {l}"),
            },
            cell(&or_none(list(&e["deny"]))),
            value_text(&e["default"]),
            cell(&or_none(list(&e["allow"]))),
        ));
        if let Some(c) = e["comment"].as_str() {
            out.push_str(&format!("\nProfile notes: {c}\n"));
        }
    }
    out
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "—".to_owned()
    } else {
        s
    }
}

fn cis_list(v: &Value) -> String {
    let l = list(v);
    if l.is_empty() {
        "—".to_owned()
    } else {
        l
    }
}

fn list(v: &Value) -> String {
    v.as_array()
        .map(|a| a.iter().map(value_text).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Catalog, BUILTIN};

    #[test]
    fn comments_attach_to_the_next_key_or_table() {
        let c = comments("# opening\n# two\n\nname = \"x\"\n[rules]\n# why user\nuser = \"enforce\"\n\n# the table\n[resources]\n# half a gig\nmemory = \"512m\"\npids = [\n  1,\n]\n");
        let get = |t: &str, k: &str| c.get(&(t.to_owned(), k.to_owned())).cloned();
        assert_eq!(get("", ""), Some(vec!["opening".into(), "two".into()]));
        assert_eq!(get("rules", "user"), Some(vec!["why user".into()]));
        assert_eq!(get("resources", ""), Some(vec!["the table".into()]));
        assert_eq!(get("resources", "memory"), Some(vec!["half a gig".into()]));
        assert_eq!(get("resources", "pids"), None);
    }

    #[test]
    fn every_builtin_renders_every_rule_with_its_action() {
        let cat = Catalog::builtin();
        for (name, toml) in BUILTIN {
            let p = cat.get(name).unwrap();
            let doc = json(p, toml);
            let rules = doc["rules"].as_array().unwrap();
            assert_eq!(rules.len(), RULES.len());
            for (r, info) in rules.iter().zip(RULES) {
                assert_eq!(r["code"], info.code);
                assert_eq!(
                    r["action"],
                    json!(p.action(info.code)),
                    "{name} {}",
                    info.code
                );
            }
            let md = markdown(p, toml);
            assert!(md.starts_with(&format!("# Hardening policy `{name}`\n")));
            for info in RULES {
                assert!(
                    md.contains(&format!("\n### {}\n", info.code)),
                    "{name} {}",
                    info.code
                );
            }
        }
        // restricted: the uid, its comment and the gate
        let p = cat.get("restricted").unwrap();
        let toml = BUILTIN.iter().find(|(n, _)| *n == "restricted").unwrap().1;
        let doc = json(p, toml);
        let user = doc["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["code"] == "user")
            .unwrap();
        assert_eq!(user["parameters"]["uid"]["value"], 65534);
        assert_eq!(
            doc["gate"],
            json!({"min_score": 85.0, "level": 1, "action": "deny"})
        );
        let md = markdown(p, toml);
        assert!(
            md.contains("| CIS gate | Level 1 score ≥ 85 % (rule `cis-score`: deny) |"),
            "{md}"
        );
        assert!(md.contains("| `uid` | `65534` |"), "{md}");
        // automatic isolation: off in every built-in, said so in the document
        for (name, toml) in BUILTIN {
            let p = cat.get(name).unwrap();
            assert_eq!(json(p, toml)["response"]["automatic_isolation"], "off");
            assert!(
                markdown(p, toml).contains("| Automatic isolation | off (`[response] isolate_on`"),
                "{name}"
            );
        }
        let p = crate::profile::Profile::parse(
            "name = \"auto\"\n# contain first, ask later\n[response]\nisolate_on = \"critical\"\n",
            "auto.toml",
        )
        .unwrap();
        let doc = json(&p, &p.text);
        assert_eq!(doc["response"]["isolate_on"], "critical");
        assert_eq!(
            doc["response"]["comments"],
            json!(["contain first, ask later"])
        );
        assert!(markdown(&p, &p.text).contains(
            "| Automatic isolation | on any monitor event of severity critical or above (`[response] isolate_on`"
        ));
        // [egress]: the metadata refusal (restricted's document)
        let restricted = cat.get("restricted").unwrap();
        let rtoml = BUILTIN.iter().find(|(n, _)| *n == "restricted").unwrap().1;
        assert_eq!(json(restricted, rtoml)["egress"]["metadata"], "deny");
        assert!(
            md.contains(
                "| Cloud metadata addresses | refused: 169.254.169.254/32, fd00:ec2::254/128 |"
            ),
            "{md}"
        );
        let p = cat.get("permissive").unwrap();
        let toml = BUILTIN.iter().find(|(n, _)| *n == "permissive").unwrap().1;
        assert!(json(p, toml)["egress"].is_null());
        assert!(markdown(p, toml).contains("No `[egress]`: no table is loaded"));
    }
}
