//! A message as an e-mail submitted to a mail server with `AUTH XOAUTH2`, from the
//! mailbox whose access token authenticates it: TLS always (STARTTLS, or implicit
//! on port 465), the server's certificate checked against the system's trust store
//! or the data source's CA, nothing sent before the TLS handshake but EHLO.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{DeliveryError, Message};

/// A whole submission may take this long.
const SESSION_TIME: Duration = Duration::from_secs(30);
/// A reply line longer than this is not an SMTP server's.
const MAX_REPLY: usize = 64 * 1024;

/// Where a mailbox submits mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    /// PEM certificates to trust instead of the system's store.
    pub ca: Option<String>,
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

/// The message as RFC 5322 text: UTF-8 subject and body, the body in base64 (no
/// line of it can end the DATA phase).
pub fn rfc5322(from: &str, to: &str, message: &Message) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = b64.encode(message.plain_text());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: =?UTF-8?B?{}?=\r\nDate: {}\r\nMessage-ID: <{}@tokendesk>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64.encode(&message.title),
        message.sent_at.to_rfc2822(),
        uuid::Uuid::new_v4().simple(),
        lines.join("\r\n")
    )
}

/// Submits `message` from `from` to `to`, authenticated with `access_token`.
pub async fn deliver(
    upstream: &Upstream,
    from: &str,
    access_token: &str,
    to: &str,
    message: &Message,
) -> Result<(), DeliveryError> {
    let server = format!("{}:{}", upstream.host, upstream.port);
    tokio::time::timeout(
        SESSION_TIME,
        submit(upstream, from, access_token, to, message),
    )
    .await
    .unwrap_or_else(|_| Err(format!("{server} did not finish the session in time")))
    .map_err(|e| {
        DeliveryError(format!(
            "The mail server {server} did not take the e-mail: {e}"
        ))
    })
}

async fn submit(
    upstream: &Upstream,
    from: &str,
    access_token: &str,
    to: &str,
    message: &Message,
) -> Result<(), String> {
    let config = Arc::new(tls_config(upstream.ca.as_deref())?);
    let name = ServerName::try_from(upstream.host.clone())
        .map_err(|e| format!("'{}' is not a server name ({e})", upstream.host))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tcp = TcpStream::connect((upstream.host.as_str(), upstream.port))
        .await
        .map_err(|e| format!("could not connect ({e})"))?;
    let mut buf = Vec::new();
    let mut tls = if upstream.port == 465 {
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS failed ({e})"))?
    } else {
        expect(&mut tcp, &mut buf, 220).await?;
        command(&mut tcp, &mut buf, "EHLO tokendesk", 250).await?;
        command(&mut tcp, &mut buf, "STARTTLS", 220).await?;
        if !buf.is_empty() {
            return Err("the server sent data before the TLS handshake".into());
        }
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS failed ({e})"))?
    };
    if upstream.port == 465 {
        expect(&mut tls, &mut buf, 220).await?;
    }
    command(&mut tls, &mut buf, "EHLO tokendesk", 250).await?;
    let xoauth2 = base64::engine::general_purpose::STANDARD
        .encode(format!("user={from}\x01auth=Bearer {access_token}\x01\x01"));
    send(&mut tls, &format!("AUTH XOAUTH2 {xoauth2}")).await?;
    let (code, text) = reply(&mut tls, &mut buf).await?;
    match code {
        235 => {}
        334 => {
            // The error challenge: answered with an empty line, then the refusal.
            let (code, text) = {
                send(&mut tls, "").await?;
                reply(&mut tls, &mut buf).await?
            };
            return Err(format!("it refused the mailbox's token ({code} {text})"));
        }
        _ => return Err(format!("it refused the mailbox's token ({code} {text})")),
    }
    command(&mut tls, &mut buf, &format!("MAIL FROM:<{from}>"), 250).await?;
    command(&mut tls, &mut buf, &format!("RCPT TO:<{to}>"), 250).await?;
    command(&mut tls, &mut buf, "DATA", 354).await?;
    let data = rfc5322(from, to, message);
    tls.write_all(data.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    command(&mut tls, &mut buf, ".", 250).await?;
    let _ = send(&mut tls, "QUIT").await;
    Ok(())
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, line: &str) -> Result<(), String> {
    stream
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| format!("the connection broke ({e})"))
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    line: &str,
    want: u16,
) -> Result<(), String> {
    send(stream, line).await?;
    expect(stream, buf, want).await
}

async fn expect<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    want: u16,
) -> Result<(), String> {
    let (code, text) = reply(stream, buf).await?;
    // 251: "user not local; will forward" is a yes to RCPT TO.
    if code == want || (want == 250 && code == 251) {
        Ok(())
    } else {
        Err(format!("{code} {text}"))
    }
}

/// One reply, all its lines ("250-…" continue, "250 …" ends it).
async fn reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<(u16, String), String> {
    let mut text = Vec::new();
    loop {
        let line = loop {
            if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = buf.drain(..end + 2).collect();
                break String::from_utf8_lossy(&line[..end]).into_owned();
            }
            if buf.len() > MAX_REPLY {
                return Err("the server sent an endless line".into());
            }
            let mut chunk = [0u8; 4096];
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("the connection broke ({e})"))?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let code: u16 = line
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("not an SMTP reply: {}", crate::text::escape(&line)))?;
        text.push(crate::text::escape(line.get(4..).unwrap_or_default()));
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok((code, text.join(" ")));
        }
    }
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
    }

    #[tokio::test]
    async fn a_reply_of_several_lines_is_read_whole_and_the_next_stays() {
        let data = b"250-mx.contoso.test\r\n250-AUTH XOAUTH2\r\n250 8BITMIME\r\n220 go\r\n";
        let mut stream: &[u8] = data;
        let mut buf = Vec::new();
        let (code, text) = reply(&mut stream, &mut buf).await.expect("reply");
        assert_eq!(code, 250);
        assert_eq!(text, "mx.contoso.test AUTH XOAUTH2 8BITMIME");
        assert_eq!(reply(&mut stream, &mut buf).await, Ok((220, "go".into())));
        assert!(reply(&mut stream, &mut buf).await.is_err(), "closed");
    }
}
