//! `check --format xccdf`: an XCCDF 1.2 document (NIST IR 7275r4) that OpenSCAP reads — one
//! Benchmark with a Rule per CIS Docker Benchmark control hardrun scores, and one TestResult
//! per input (bundle, spec or running container) with a rule-result per control (`pass`,
//! `fail`, `notapplicable`) and the Level 1 and Level 2 scores. `oscap xccdf validate` accepts
//! it and `oscap xccdf generate report` renders it (tests/xccdf.rs runs both).
//!
//! What the rule-results judge is the spec as hardrun would run it (the `hardened` report of
//! `check`); each TestResult also carries the scores of the spec as given (`…-as-given` score
//! systems).

use super::Checked;
use crate::compliance::{ControlResult, Verdict};

/// The reverse-DNS part of every XCCDF id (`xccdf_<rdns>_<type>_<name>`).
const NS: &str = "dev.hardrun";

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // characters XML 1.0 cannot carry at all
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// An id's name part: what XCCDF ids allow (letters, digits, `.`, `-`, `_`), the rest as `-`.
fn id_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn rule_id(control: &str) -> String {
    format!("xccdf_{NS}_rule_cis-docker-{}", id_part(control))
}

/// How a control is checked: by hardrun, on the OCI spec (no OVAL or SCE content to run).
fn check_ref(control: &str) -> String {
    format!(
        "<xccdf:check system=\"{CHECK_SYSTEM}\"><xccdf:check-content-ref href=\"hardrun\" \
         name=\"cis-{}\"/></xccdf:check>",
        esc(control)
    )
}

const CHECK_SYSTEM: &str = "urn:dev.hardrun:check:oci-runtime-spec";

/// Level 1 controls are `high`, Level 2 `medium`.
fn severity(level: u8) -> &'static str {
    if level == 1 {
        "high"
    } else {
        "medium"
    }
}

fn result_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::NotApplicable => "notapplicable",
    }
}

fn rule(c: &ControlResult) -> String {
    let hardrun_rules = if c.rules.is_empty() {
        "none (checked on the spec only)".to_owned()
    } else {
        c.rules.join(", ")
    };
    format!(
        "  <xccdf:Rule id=\"{id}\" selected=\"true\" severity=\"{sev}\">\n    \
         <xccdf:title>CIS Docker Benchmark v1.6.0 {cid}: {title}</xccdf:title>\n    \
         <xccdf:description>Level {level}. Decided by hardrun from the container's OCI spec; \
         hardrun rules that enforce it: {rules}.</xccdf:description>\n    \
         <xccdf:reference href=\"https://www.cisecurity.org/benchmark/docker\">CIS Docker Benchmark v1.6.0 {cid}</xccdf:reference>\n    \
         {check}\n  \
         </xccdf:Rule>\n",
        check = check_ref(c.id),
        id = rule_id(c.id),
        sev = severity(c.level),
        cid = esc(c.id),
        title = esc(c.title),
        level = c.level,
        rules = esc(&hardrun_rules),
    )
}

fn test_result(n: usize, c: &Checked, time: &str) -> String {
    let mut o = format!(
        "  <xccdf:TestResult id=\"xccdf_{NS}_testresult_{n}-{name}\" start-time=\"{time}\" \
         end-time=\"{time}\" test-system=\"cpe:/a:hardrun:hardrun:{ver}\" version=\"{ver}\">\n    \
         <xccdf:title>hardrun check: {title} (profile {profile}, {decision}; gate Level {gl} \
         at least {gm} %: {gate})</xccdf:title>\n    \
         <xccdf:target>{title}</xccdf:target>\n",
        name = id_part(&c.name),
        ver = env!("CARGO_PKG_VERSION"),
        title = esc(&c.name),
        profile = esc(c.decision["profile"].as_str().unwrap_or("-")),
        decision = esc(c.decision["decision"].as_str().unwrap_or("-")),
        gl = c.gate.level,
        gm = c.gate.min_score,
        gate = if c.gate.passed { "passed" } else { "failed" },
    );
    for r in &c.hardened.controls {
        o.push_str(&format!(
            "    <xccdf:rule-result idref=\"{}\" severity=\"{}\" time=\"{time}\">\n      \
             <xccdf:result>{}</xccdf:result>\n",
            rule_id(r.id),
            severity(r.level),
            result_word(r.verdict)
        ));
        if !r.reason.is_empty() {
            o.push_str(&format!(
                "      <xccdf:message severity=\"info\">{}</xccdf:message>\n",
                esc(&r.reason)
            ));
        }
        o.push_str(&format!(
            "      {}\n    </xccdf:rule-result>\n",
            check_ref(r.id)
        ));
    }
    // as hardrun runs it (what the rule-results say), then as given
    for (system, score) in [
        ("urn:dev.hardrun:scoring:cis-level1", &c.hardened.level1),
        ("urn:dev.hardrun:scoring:cis-level2", &c.hardened.level2),
        (
            "urn:dev.hardrun:scoring:cis-level1-as-given",
            &c.given.level1,
        ),
        (
            "urn:dev.hardrun:scoring:cis-level2-as-given",
            &c.given.level2,
        ),
    ] {
        o.push_str(&format!(
            "    <xccdf:score system=\"{system}\" maximum=\"100\">{:.2}</xccdf:score>\n",
            score.percent
        ));
    }
    o.push_str("  </xccdf:TestResult>\n");
    o
}

/// The XCCDF 1.2 document of `check`'s results.
pub fn check(results: &[Checked]) -> String {
    let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    o.push_str(&format!(
        "<xccdf:Benchmark xmlns:xccdf=\"http://checklists.nist.gov/xccdf/1.2\" \
         id=\"xccdf_{NS}_benchmark_cis-docker-runtime\" resolved=\"1\" xml:lang=\"en\">\n  \
         <xccdf:status date=\"{date}\">accepted</xccdf:status>\n  \
         <xccdf:title>CIS Docker Benchmark v1.6.0, runtime controls, as scored by hardrun</xccdf:title>\n  \
         <xccdf:description>The container runtime controls (sections 4.1 and 5) of the CIS Docker \
         Benchmark v1.6.0 that hardrun decides from an OCI runtime spec. Level 1 controls have \
         severity high, Level 2 medium.</xccdf:description>\n  \
         <xccdf:platform idref=\"cpe:/o:linux:linux_kernel\"/>\n  \
         <xccdf:version>{ver}</xccdf:version>\n  \
         <xccdf:metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:creator>hardrun {ver}</dc:creator>\
         <dc:publisher>hardrun</dc:publisher><dc:source>https://www.cisecurity.org/benchmark/docker</dc:source></xccdf:metadata>\n",
        date = &time[..10],
        ver = env!("CARGO_PKG_VERSION"),
    ));
    if let Some(first) = results.first() {
        for c in &first.hardened.controls {
            o.push_str(&rule(c));
        }
    }
    for (n, c) in results.iter().enumerate() {
        o.push_str(&test_result(n + 1, c, &time));
    }
    o.push_str("</xccdf:Benchmark>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_text_are_what_xml_and_xccdf_allow() {
        assert_eq!(id_part("container c1/x y"), "container-c1-x-y");
        assert_eq!(rule_id("5.10"), "xccdf_dev.hardrun_rule_cis-docker-5.10");
        assert_eq!(
            esc("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{fffd}"
        );
    }
}
