//! `check`'s text report: per input, the scores as given and as hardrun runs it, each CIS
//! control's verdict side by side, the deviations hardrun makes and the gate; in colour on a
//! terminal. And `check --live`'s: one line per drift, then a summary per container.

use crate::compliance::{ControlResult, Verdict};

use super::{Checked, LiveInput};

/// The text of one input of `check`, ending with an empty line.
pub fn check(c: &Checked, color: bool) -> String {
    let (name, given, hardened, decision, gate_of) =
        (&c.name, &c.given, &c.hardened, &c.decision, c.gate);
    let paint = |s: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    let mut out = format!("{name}\n");
    out.push_str(&format!(
        "  score as given:      level 1 {:>5.1}% ({}/{})   level 2 {:>5.1}% ({}/{})\n",
        given.level1.percent,
        given.level1.passed,
        given.level1.applicable,
        given.level2.percent,
        given.level2.passed,
        given.level2.applicable
    ));
    out.push_str(&format!(
        "  score as hardrun runs it ({}): level 1 {:>5.1}% ({}/{})   level 2 {:>5.1}% ({}/{})\n",
        decision["profile"].as_str().unwrap_or("stored spec"),
        hardened.level1.percent,
        hardened.level1.passed,
        hardened.level1.applicable,
        hardened.level2.percent,
        hardened.level2.passed,
        hardened.level2.applicable
    ));
    out.push_str(&format!(
        "  {:<6} {:<3} {:<10} {:<10} {}\n",
        "CIS", "L", "GIVEN", "HARDENED", "CONTROL"
    ));
    for (g, h) in given.controls.iter().zip(&hardened.controls) {
        let v = |c: &ControlResult| match c.verdict {
            Verdict::Pass => paint("pass", "32"),
            Verdict::Fail => paint("FAIL", "31"),
            Verdict::NotApplicable => "n/a".to_owned(),
        };
        let pad = |s: String, w: usize| {
            let visible = if color && s.starts_with('\x1b') {
                s.len() - 9
            } else {
                s.len()
            };
            format!("{s}{}", " ".repeat(w.saturating_sub(visible)))
        };
        let reason = if h.verdict == Verdict::Fail {
            format!(" — {}", h.reason)
        } else if g.verdict == Verdict::Fail {
            format!(" — was: {}", g.reason)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {:<6} {:<3} {} {} {}{}\n",
            g.id,
            g.level,
            pad(v(g), 10),
            pad(v(h), 10),
            g.title,
            reason
        ));
    }
    if let Some(findings) = decision["findings"].as_array() {
        out.push_str(&format!(
            "  deviations hardrun makes ({}):\n",
            findings.len()
        ));
        for f in findings {
            out.push_str(&format!(
                "    [{}] {} {}: {}\n",
                f["action"].as_str().unwrap_or(""),
                f["code"].as_str().unwrap_or(""),
                f["pointer"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            ));
        }
    }
    if decision["decision"] == "denied" {
        out.push_str(&format!(
            "  hardrun refuses it: rule {}: {}\n",
            decision["rule"].as_str().unwrap_or(""),
            decision["reason"].as_str().unwrap_or("")
        ));
    }
    if decision["decision"] == "invalid" {
        out.push_str(&format!(
            "  hardrun cannot run it: {}\n",
            decision["reason"].as_str().unwrap_or("")
        ));
    }
    let gate = if gate_of.level == 1 {
        &hardened.level1
    } else {
        &hardened.level2
    };
    out.push_str(&format!(
        "  gate (level {} ≥ {}%): {}\n\n",
        gate_of.level,
        gate_of.min_score,
        if gate_of.passed {
            paint("pass", "32")
        } else {
            paint(&format!("FAIL ({:.1}%)", gate.percent), "31")
        }
    ));
    out
}

/// The text of `check --live`: each container's lines, then its summary.
pub fn live(inputs: &[LiveInput]) -> String {
    let mut s = String::new();
    for i in inputs {
        for l in &i.lines {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(&i.summary);
        s.push('\n');
    }
    s
}
