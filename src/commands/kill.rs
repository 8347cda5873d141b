//! `kill <id> [signal]`: signal by name (`KILL`, `SIGKILL`) or number; default SIGTERM.

use anyhow::{anyhow, Result};
use nix::sys::signal::Signal;

use crate::cli::{GlobalOpts, Kill};
use crate::runtime::delegate;

pub fn parse_signal(s: &str) -> Result<Signal> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow!("invalid signal {s:?}"));
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| anyhow!("invalid signal {s:?}"))
}

pub fn run(global: &GlobalOpts, args: &Kill) -> Result<i32> {
    let signal = parse_signal(&args.signal)?;
    let (_, mut container) = super::load(global, &args.container_id)?;
    delegate::kill(&mut container, signal, args.all)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        for (s, want) in [
            ("9", Signal::SIGKILL),
            ("15", Signal::SIGTERM),
            ("KILL", Signal::SIGKILL),
            ("sigterm", Signal::SIGTERM),
            ("SIGUSR1", Signal::SIGUSR1),
            ("hup", Signal::SIGHUP),
        ] {
            assert_eq!(parse_signal(s).unwrap(), want, "{s}");
        }
        for bad in ["0", "99", "NOPE", "", "-9"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
