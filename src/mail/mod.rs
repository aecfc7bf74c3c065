//! Mail servers reached as a mailbox: SMTP submission and IMAP, always over TLS
//! (STARTTLS, or implicit TLS on 465 and 993), the server's certificate checked
//! against the system's trust store or the data source's CA, logged in with
//! `XOAUTH2` and the mailbox's access token. Nothing but the greeting, EHLO /
//! CAPABILITY and STARTTLS goes out before the TLS handshake.

pub mod imap;
pub mod smtp;
mod wire;

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;

/// A mail server's TLS connection.
pub type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Where a mailbox submits or reads mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (465 and 993, or `smtps://` / `imaps://`), not
    /// STARTTLS.
    pub implicit_tls: bool,
    /// PEM certificates to trust instead of the system's store.
    pub ca: Option<String>,
}

impl Upstream {
    /// `host:port` (465 and 993 are implicit TLS, other ports STARTTLS), or with
    /// a scheme that says which: `smtps://` and `imaps://` implicit TLS,
    /// `smtp://` and `imap://` STARTTLS.
    pub fn new(address: &str, ca: Option<String>) -> Result<Upstream, String> {
        let address = address.trim();
        let (scheme, host_port) = match address.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, address),
        };
        let (host, port) = parse_host_port(host_port)?;
        let implicit_tls = match scheme.as_deref() {
            None => port == 465 || port == 993,
            Some("smtps" | "imaps") => true,
            Some("smtp" | "imap") => false,
            Some(other) => {
                return Err(format!(
                    "'{other}://' is not a mail server's scheme: write HOST:PORT, or smtps:// / imaps:// for TLS from the first byte on another port."
                ));
            }
        };
        Ok(Upstream {
            host,
            port,
            implicit_tls,
            ca,
        })
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A logged-in session with a mail server: its TLS stream, and what it sent
/// beyond the last reply read (none, unless it spoke out of turn).
pub struct Session {
    pub stream: TlsStream,
    pub unread: Vec<u8>,
}

/// Why a login failed: the server refused the token (a fresh one may work), or
/// anything else (the server is down, TLS failed, it does not speak the protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    Refused(String),
    Failed(String),
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginError::Refused(why) | LoginError::Failed(why) => f.write_str(why),
        }
    }
}

/// `host:port`, checked.
pub fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    let text = text.trim();
    let problem = || format!("'{text}' is not HOST:PORT (like smtp.office365.com:587).");
    let (host, port) = text.rsplit_once(':').ok_or_else(problem)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| problem())?;
    if host.is_empty() || port == 0 || host.contains(char::is_whitespace) {
        return Err(problem());
    }
    Ok((host.to_string(), port))
}

/// The certificates of a PEM file, or why there are none.
pub fn ca_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate file ({e})"))?;
    if certs.is_empty() {
        return Err("it holds no certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certs)
}

fn tls_config(ca: Option<&str>) -> Result<rustls::ClientConfig, String> {
    match ca {
        None => {
            let mut config = crate::identity::tls::client_config()?;
            config.alpn_protocols.clear();
            Ok(config)
        }
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in ca_certificates(pem)? {
                roots.add(cert).map_err(|e| e.to_string())?;
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            Ok(rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth())
        }
    }
}

/// The TCP connection to `upstream`.
async fn connect(upstream: &Upstream) -> Result<TcpStream, LoginError> {
    TcpStream::connect((upstream.host.as_str(), upstream.port))
        .await
        .map_err(|e| LoginError::Failed(format!("could not connect ({e})")))
}

/// The TLS handshake on `tcp`, the certificate checked for `upstream`'s host.
async fn handshake(upstream: &Upstream, tcp: TcpStream) -> Result<TlsStream, LoginError> {
    let failed = |e: String| LoginError::Failed(format!("TLS failed ({e})"));
    let config = Arc::new(tls_config(upstream.ca.as_deref()).map_err(failed)?);
    let name = ServerName::try_from(upstream.host.clone()).map_err(|e| {
        LoginError::Failed(format!("'{}' is not a server name ({e})", upstream.host))
    })?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| failed(e.to_string()))
}

/// The `XOAUTH2` initial response for `user` and `token`, base64.
fn xoauth2(user: &str, token: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_are_checked() {
        assert_eq!(
            parse_host_port("smtp.office365.com:587"),
            Ok(("smtp.office365.com".into(), 587))
        );
        assert_eq!(parse_host_port("[::1]:465"), Ok(("::1".into(), 465)));
        for bad in ["smtp.office365.com", ":587", "host:0", "host:x", "a b:25"] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
        let tls = |a: &str| Upstream::new(a, None).map(|u| u.implicit_tls);
        assert_eq!(tls("outlook.office365.com:993"), Ok(true));
        assert_eq!(tls("smtp.office365.com:587"), Ok(false));
        assert_eq!(tls("imaps://127.0.0.1:10993"), Ok(true));
        assert_eq!(tls("SMTP://mail.example.com:465"), Ok(false));
        assert!(tls("https://mail.example.com:443").is_err());
    }
}
