//! A minimal HTTP/1.1 client for the network sinks: one `POST` of a JSON body per connection,
//! `Connection: close`, status line parsed, every step under a timeout; over TLS (rustls, see
//! [`super::tls`]) for `https://`.
//!
//! Why not an HTTP crate: the sinks need exactly this, and the HTTP clients on crates.io bring an
//! async runtime or their own URL, cookie and compression plumbing with them. Sixty lines over
//! `std::net::TcpStream` (wrapped in a rustls stream for https) keep the binary and the audit
//! surface small.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

pub use crate::profile::config::HttpUrl;

/// How long a connect, a write or a read may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Where a sink POSTs: the URL and, for `https://`, the TLS client configuration.
#[derive(Clone)]
pub struct Endpoint {
    pub url: HttpUrl,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// POSTs `body` as JSON; `Ok(status)` for any answer with a status line (2xx or not).
pub fn post_json(ep: &Endpoint, body: &[u8], timeout: Duration) -> Result<u16, String> {
    let url = &ep.url;
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
    let conn = conn.ok_or(last)?;
    conn.set_read_timeout(Some(timeout))
        .and_then(|_| conn.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    match (&ep.tls, url.tls) {
        (Some(config), true) => {
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| format!("{authority}: not a TLS server name: {e}"))?;
            let session = rustls::ClientConnection::new(config.clone(), name)
                .map_err(|e| format!("{authority}: tls: {e}"))?;
            exchange(rustls::StreamOwned::new(session, conn), url, body)
        }
        (None, true) => Err(format!("{authority}: https without a TLS configuration")),
        (_, false) => exchange(conn, url, body),
    }
}

/// Writes the request and reads the answer's status line.
fn exchange(mut conn: impl Read + Write, url: &HttpUrl, body: &[u8]) -> Result<u16, String> {
    let authority = url.authority();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: hardrun/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        url.path,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    conn.write_all(head.as_bytes())
        .and_then(|_| conn.write_all(body))
        .and_then(|_| conn.flush())
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
