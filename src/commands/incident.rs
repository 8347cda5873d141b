//! `incident list|show <id>|close <id> --note TEXT`: the incident store
//! (`incident::store`, in the configuration's `incidents_dir`).

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::{GlobalOpts, IncidentCmd};
use crate::incident::store::{self, Incident};

pub fn run(global: &GlobalOpts, cmd: &IncidentCmd) -> Result<i32> {
    let config = crate::profile::config::Config::load(global.config.as_deref())?;
    let dir = &config.incidents_dir;
    match cmd {
        IncidentCmd::List { format } => {
            let all = store::list(dir)?;
            let text = if format == "json" {
                let v = json!({
                    "incidents": all.iter().map(to_json).collect::<Vec<_>>(),
                    "summary": store::summarize(&all),
                });
                format!("{}\n", serde_json::to_string_pretty(&v)?)
            } else {
                list_text(&all)
            };
            super::out(text.as_bytes())?;
        }
        IncidentCmd::Show { format, id } => {
            let i = store::get(dir, id)?;
            let text = if format == "json" {
                format!("{}\n", serde_json::to_string_pretty(&to_json(&i))?)
            } else {
                show_text(&i)
            };
            super::out(text.as_bytes())?;
        }
        IncidentCmd::Close { note, id } => {
            if note.trim().is_empty() {
                anyhow::bail!("close incident {id:?}: --note is empty");
            }
            let i = store::close(dir, id, note)?;
            super::out(format!("incident {} closed\n", i.id).as_bytes())?;
        }
    }
    Ok(0)
}

fn secs(d: Option<chrono::Duration>) -> Option<f64> {
    d.map(store::seconds)
}

fn to_json(i: &Incident) -> Value {
    let mut v = serde_json::to_value(i).unwrap_or_default();
    v["status"] = json!(if i.is_open() { "open" } else { "closed" });
    v["timeToDetectSeconds"] = json!(secs(i.time_to_detect()));
    v["timeToRespondSeconds"] = json!(secs(i.time_to_respond()));
    v
}

fn dur(d: Option<chrono::Duration>) -> String {
    match secs(d) {
        Some(s) => format!("{s:.3}s"),
        None => "-".to_owned(),
    }
}

fn list_text(all: &[Incident]) -> String {
    if all.is_empty() {
        return "no incidents\n".to_owned();
    }
    let mut t = format!(
        "{:<26} {:<20} {:<6} {:<24} {:>9} {:>9}  REASON\n",
        "ID", "CONTAINER", "STATUS", "OPENED", "TTD", "TTR"
    );
    for i in all {
        t.push_str(&format!(
            "{:<26} {:<20} {:<6} {:<24} {:>9} {:>9}  {}\n",
            i.id,
            i.container_id,
            if i.is_open() { "open" } else { "closed" },
            i.timeline.first().map(|e| e.time.as_str()).unwrap_or("-"),
            dur(i.time_to_detect()),
            dur(i.time_to_respond()),
            i.reason.as_deref().unwrap_or("-"),
        ));
    }
    t
}

fn show_text(i: &Incident) -> String {
    let mut t = format!("incident {}\n", i.id);
    t.push_str(&format!("container: {}\n", i.container_id));
    t.push_str(&format!(
        "profile: {}\n",
        i.profile.as_deref().unwrap_or("-")
    ));
    t.push_str(&format!("reason: {}\n", i.reason.as_deref().unwrap_or("-")));
    t.push_str(&format!(
        "status: {}\n",
        if i.is_open() { "open" } else { "closed" }
    ));
    t.push_str(&format!(
        "time to detect: {}\ntime to respond: {}\ntimeline:\n",
        dur(i.time_to_detect()),
        dur(i.time_to_respond())
    ));
    for e in &i.timeline {
        t.push_str(&format!(
            "  {}  {:<18}  {}\n",
            e.time,
            e.stage.name(),
            e.text
        ));
    }
    t
}
