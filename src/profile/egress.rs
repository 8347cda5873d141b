//! `[egress]` of a profile: which destinations a container may send to, enforced by an nftables
//! table in the container's network namespace (see `policy::egress` and `docs/egress.md`).
//!
//! ```toml
//! [egress]
//! default = "allow"                       # or "deny": what no entry names
//! allow = ["10.0.0.0/8:443/tcp", "0.0.0.0/0:53/udp", "[fd00::/8]:8080"]
//! deny = ["192.168.0.0/16"]
//! metadata = "deny"                       # the cloud metadata addresses; "allow" only in a
//!                                         # profile that is neither restricted nor baseline
//! ```
//!
//! An entry is `CIDR[:PORT[-PORT]][/tcp|/udp]` (an IPv6 CIDR in brackets when a port follows);
//! a bare address is a /32 (/128). Without a protocol a port applies to TCP and UDP; without a
//! port the entry is every packet to the CIDR.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The cloud metadata addresses (AWS, GCP, Azure, OpenStack: 169.254.169.254; AWS IPv6:
/// fd00:ec2::254), refused under `metadata = "deny"`.
pub const METADATA: &[&str] = &["169.254.169.254/32", "fd00:ec2::254/128"];

/// Profiles that always refuse the metadata addresses, whatever their copy says.
pub const METADATA_ALWAYS_DENIED: &[&str] = &["restricted", "baseline"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    #[default]
    Allow,
    Deny,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EgressCfg {
    /// what happens to a destination no entry names
    #[serde(default)]
    pub default: Verdict,
    /// destinations accepted (checked after `deny` and the metadata addresses)
    #[serde(default)]
    pub allow: Vec<String>,
    /// destinations refused, whatever `allow` and `default` say
    #[serde(default)]
    pub deny: Vec<String>,
    /// the cloud metadata addresses ([`METADATA`]): refused unless `allow`
    #[serde(default = "EgressCfg::metadata_default")]
    pub metadata: Verdict,
    #[serde(default)]
    pub comment: Option<String>,
}

impl Default for EgressCfg {
    fn default() -> Self {
        EgressCfg {
            default: Verdict::Allow,
            allow: vec![],
            deny: vec![],
            metadata: Verdict::Deny,
            comment: None,
        }
    }
}

impl EgressCfg {
    fn metadata_default() -> Verdict {
        Verdict::Deny
    }

    /// Checks every entry; Err((key, message)) names the first bad one (`egress.allow[2]`).
    pub fn validate(&self, profile: &str) -> Result<(), (String, String)> {
        for (list, name) in [(&self.allow, "allow"), (&self.deny, "deny")] {
            for (i, e) in list.iter().enumerate() {
                Entry::parse(e).map_err(|m| (format!("egress.{name}[{i}]"), m))?;
            }
        }
        // allow entries only open holes in a default deny: under allow they would read as a
        // restriction that is not there
        if self.default == Verdict::Allow && !self.allow.is_empty() {
            return Err((
                "egress.allow".into(),
                "has no effect while egress.default is \"allow\" (everything is allowed already): set default = \"deny\", or list refusals in egress.deny".into(),
            ));
        }
        if self.metadata == Verdict::Allow && METADATA_ALWAYS_DENIED.contains(&profile) {
            return Err((
                "egress.metadata".into(),
                format!("profile {profile} always refuses the cloud metadata addresses ({}); a profile of another name may allow them", METADATA.join(", ")),
            ));
        }
        Ok(())
    }
}

/// The transport protocol of an entry with a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    /// TCP and UDP
    Both,
}

/// One parsed entry of `allow` or `deny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub addr: IpAddr,
    pub prefix: u8,
    /// (first, last) port, both inclusive
    pub ports: Option<(u16, u16)>,
    pub proto: Proto,
}

impl Entry {
    /// Parses `CIDR[:PORT[-PORT]][/tcp|/udp]`; the error is one lower-case line.
    pub fn parse(s: &str) -> Result<Entry, String> {
        let bad = |why: &str| {
            format!("{s:?} is not a destination ({why}; expected CIDR[:PORT[-PORT]][/tcp|/udp], e.g. \"10.0.0.0/8:443/tcp\" or \"[fd00::/8]:53/udp\")")
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(bad("empty"));
        }
        // the protocol suffix: only after a port
        let (rest, proto) = match t.rsplit_once('/') {
            Some((r, "tcp")) => (r, Some(Proto::Tcp)),
            Some((r, "udp")) => (r, Some(Proto::Udp)),
            _ => (t, None),
        };
        let (cidr, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (cidr, after) = inner
                .split_once(']')
                .ok_or_else(|| bad("no closing bracket"))?;
            match after {
                "" => (cidr, None),
                a => (
                    cidr,
                    Some(
                        a.strip_prefix(':')
                            .ok_or_else(|| bad("text after the bracket is not :PORT"))?,
                    ),
                ),
            }
        } else if rest.matches(':').count() > 1 {
            // an IPv6 CIDR without brackets: no port
            (rest, None)
        } else {
            match rest.split_once(':') {
                Some((c, p)) => (c, Some(p)),
                None => (rest, None),
            }
        };
        if proto.is_some() && port.is_none() {
            return Err(bad("a protocol needs a port"));
        }
        let (addr, prefix) = match cidr.split_once('/') {
            Some((a, p)) => (
                a,
                Some(
                    p.parse::<u8>()
                        .map_err(|_| bad("the prefix is no number"))?,
                ),
            ),
            None => (cidr, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad("no IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad(&format!("prefix {prefix} is longer than {max}")));
        }
        if masked(addr, prefix) != addr {
            return Err(bad(&format!(
                "host bits set: the network is {}/{prefix}",
                masked(addr, prefix)
            )));
        }
        let ports = match port {
            None => None,
            Some(p) => {
                let num = |x: &str| {
                    x.parse::<u16>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad(&format!("{x:?} is not a port (1 to 65535)")))
                };
                let (a, b) = match p.split_once('-') {
                    Some((a, b)) => (num(a)?, num(b)?),
                    None => (num(p)?, num(p)?),
                };
                if a > b {
                    return Err(bad("the port range is reversed"));
                }
                Some((a, b))
            }
        };
        Ok(Entry {
            addr,
            prefix,
            ports,
            proto: proto.unwrap_or(Proto::Both),
        })
    }
}

/// `addr` with every bit after the first `prefix` cleared.
fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

impl fmt::Display for Entry {
    /// The canonical form (what `parse` reads back).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cidr = format!("{}/{}", self.addr, self.prefix);
        let cidr = match (self.addr, self.ports) {
            (IpAddr::V6(_), Some(_)) => format!("[{cidr}]"),
            _ => cidr,
        };
        write!(f, "{cidr}")?;
        if let Some((a, b)) = self.ports {
            if a == b {
                write!(f, ":{a}")?;
            } else {
                write!(f, ":{a}-{b}")?;
            }
            match self.proto {
                Proto::Tcp => write!(f, "/tcp")?,
                Proto::Udp => write!(f, "/udp")?,
                Proto::Both => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_print_canonically() {
        for (s, want) in [
            ("10.0.0.0/8:443/tcp", "10.0.0.0/8:443/tcp"),
            ("10.0.0.0/8:443", "10.0.0.0/8:443"),
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3", "10.1.2.3/32"),
            ("0.0.0.0/0:53/udp", "0.0.0.0/0:53/udp"),
            ("10.0.0.0/8:1000-2000/tcp", "10.0.0.0/8:1000-2000/tcp"),
            ("[fd00::/8]:8080", "[fd00::/8]:8080"),
            ("fd00::/8", "fd00::/8"),
            ("[fd00:ec2::254]", "fd00:ec2::254/128"),
            ("::/0", "::/0"),
        ] {
            let e = Entry::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(e.to_string(), want, "{s}");
            assert_eq!(Entry::parse(want).unwrap(), e, "{want} round trip");
        }
        let e = Entry::parse("10.0.0.0/8:1000-2000/udp").unwrap();
        assert_eq!((e.ports, e.proto), (Some((1000, 2000)), Proto::Udp));
    }

    #[test]
    fn bad_entries_are_one_line_naming_the_entry() {
        for (s, why) in [
            ("", "empty"),
            ("10.0.0.1/8", "host bits set: the network is 10.0.0.0/8"),
            ("10.0.0.0/33", "prefix 33 is longer than 32"),
            ("10.0.0.0/x", "the prefix is no number"),
            ("example.com:443", "no IP address"),
            ("10.0.0.0/8:0", "\"0\" is not a port"),
            ("10.0.0.0/8:70000", "\"70000\" is not a port"),
            ("10.0.0.0/8:20-10", "the port range is reversed"),
            ("10.0.0.0/8/tcp", "a protocol needs a port"),
            ("[fd00::/8", "no closing bracket"),
            ("[fd00::/8]443", "text after the bracket is not :PORT"),
        ] {
            let e = Entry::parse(s).unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
            assert!(e.starts_with(&format!("{s:?} is not a destination")), "{e}");
            assert_eq!(e.lines().count(), 1);
        }
    }

    #[test]
    fn validate_names_the_field_and_holds_restricted_to_the_metadata_refusal() {
        let cfg = EgressCfg {
            default: Verdict::Deny,
            allow: vec!["10.0.0.0/8:443".into(), "bad".into()],
            ..EgressCfg::default()
        };
        let (key, msg) = cfg.validate("p").unwrap_err();
        assert_eq!(key, "egress.allow[1]");
        assert!(msg.starts_with("\"bad\" is not a destination"), "{msg}");
        let cfg = EgressCfg {
            allow: vec!["10.0.0.0/8:443".into()],
            ..EgressCfg::default()
        };
        let (key, msg) = cfg.validate("p").unwrap_err();
        assert_eq!(key, "egress.allow");
        assert!(
            msg.starts_with("has no effect while egress.default is \"allow\""),
            "{msg}"
        );
        let open = EgressCfg {
            metadata: Verdict::Allow,
            ..EgressCfg::default()
        };
        assert!(open.validate("my-profile").is_ok());
        for p in METADATA_ALWAYS_DENIED {
            let (key, msg) = open.validate(p).unwrap_err();
            assert_eq!(key, "egress.metadata");
            assert!(msg.contains("always refuses"), "{msg}");
        }
        // a table that names no metadata key refuses it
        let cfg: EgressCfg = toml::from_str("default = \"deny\"").unwrap();
        assert_eq!((cfg.default, cfg.metadata), (Verdict::Deny, Verdict::Deny));
        assert!(toml::from_str::<EgressCfg>("defualt = \"deny\"").is_err());
        assert!(toml::from_str::<EgressCfg>("default = \"maybe\"").is_err());
        for m in METADATA {
            Entry::parse(m).unwrap();
        }
    }
}
