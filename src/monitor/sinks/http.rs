//! A minimal HTTP/1.1 client for the network sinks: one `POST` of a JSON body per connection,
//! `Connection: close`, status line parsed, every step under a timeout.
//!
//! Why not a crate: the sinks need exactly this (plain `http://` to Alertmanager and webhooks,
//! loopback by default), and the HTTP clients on crates.io bring a TLS stack or an async runtime
//! with them (ureq without its default features still pulls its own URL, cookie and
//! compression plumbing). Fifty lines over `std::net::TcpStream` keep the binary and the audit
//! surface small; `https://` is refused where the URL is read ([`HttpUrl::parse`]).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub use crate::profile::config::HttpUrl;

/// How long a connect, a write or a read may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// POSTs `body` as JSON; `Ok(status)` for any answer with a status line (2xx or not).
pub fn post_json(url: &HttpUrl, body: &[u8], timeout: Duration) -> Result<u16, String> {
    let authority = url.authority();
    let host = url.host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> = (host, url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .collect();
    let mut last = format!("{authority}: no address");
    let mut conn = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(e) => last = format!("cannot connect to {authority}: {e}"),
        }
    }
    let mut conn = conn.ok_or(last)?;
    conn.set_read_timeout(Some(timeout))
        .and_then(|_| conn.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: hardrun/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        url.path,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    conn.write_all(head.as_bytes())
        .and_then(|_| conn.write_all(body))
        .map_err(|e| format!("{authority}: cannot send: {e}"))?;
    // the status line (the rest of the answer is not needed)
    let mut got = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !got.windows(2).any(|w| w == b"\r\n") && got.len() < 8192 {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("{authority}: no answer: {e}")),
        }
    }
    parse_status(&got).ok_or_else(|| {
        let line = String::from_utf8_lossy(&got);
        format!(
            "{authority}: not an HTTP answer: {:?}",
            line.lines().next().unwrap_or_default()
        )
    })
}

/// The status code of `HTTP/1.x NNN reason`.
pub fn parse_status(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3)
        .then(|| code.parse::<u16>().ok())
        .flatten()
        .filter(|c| (100..600).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        for (answer, want) in [
            (&b"HTTP/1.1 200 OK\r\n"[..], Some(200)),
            (b"HTTP/1.0 503 Service Unavailable\r\nx: y\r\n", Some(503)),
            (b"HTTP/1.1 204\r\n", Some(204)),
            (b"HTTP/2 200\r\n", None),
            (b"SSH-2.0-OpenSSH\r\n", None),
            (b"HTTP/1.1 20 OK\r\n", None),
            (b"", None),
        ] {
            assert_eq!(
                parse_status(answer),
                want,
                "{}",
                String::from_utf8_lossy(answer)
            );
        }
    }
}
