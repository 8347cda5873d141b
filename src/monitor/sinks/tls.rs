//! https for the network sinks: a rustls client (ring backend, TLS 1.2 and 1.3) built once when
//! the monitor starts, from `[monitor] tls_ca_file` (default: Debian's system bundle) and an
//! optional client certificate (`tls_cert_file` + `tls_key_file`, for an Alertmanager or webhook
//! behind mutual TLS). Errors name the key and the file, never a key's contents.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ClientConfig;

use crate::profile::config::MonitorConfig;

/// The CA bundle `ca-certificates` installs on Debian and Ubuntu.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The client configuration for `https://` sinks, from the `[monitor]` settings.
pub fn client_config(c: &MonitorConfig) -> Result<Arc<ClientConfig>, String> {
    let (ca, ca_key) = match &c.tls_ca_file {
        Some(p) => (p.clone(), "monitor.tls_ca_file"),
        None => (PathBuf::from(SYSTEM_CA_BUNDLE), "the system CA bundle"),
    };
    if !ca.exists() && c.tls_ca_file.is_none() {
        return Err(format!(
            "an https sink needs CA certificates: {SYSTEM_CA_BUNDLE} is missing (install ca-certificates, or set monitor.tls_ca_file)"
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs(&ca, ca_key)? {
        roots
            .add(cert)
            .map_err(|e| format!("{ca_key} {}: {e}", ca.display()))?;
    }
    // ring: it builds with cc alone (aws-lc-rs needs cmake and a C toolchain setup on every
    // build host); rustls marks it deprecated for lacking post-quantum key exchange, which a
    // node's alerts to its own Alertmanager can do without
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots);
    let config = match (&c.tls_cert_file, &c.tls_key_file) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert, "monitor.tls_cert_file")?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                format!(
                    "monitor.tls_key_file {}: no private key read: {}",
                    key.display(),
                    pem_error(&e)
                )
            })?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                format!(
                    "monitor.tls_cert_file {} and monitor.tls_key_file {}: {e}",
                    cert.display(),
                    key.display()
                )
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The certificates of a PEM file; an error when it holds none.
fn certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{key} {}: {}", path.display(), pem_error(&e)))?;
    let certs = iter
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key} {}: {}", path.display(), pem_error(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "{key} {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => "no PEM item of that kind in it".into(),
        other => format!("not valid PEM ({other:?})"),
    }
}
