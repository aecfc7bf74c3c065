//! A message as an e-mail submitted to a mail server with `AUTH XOAUTH2`, from the
//! mailbox whose access token authenticates it: TLS always (STARTTLS, or implicit
//! on port 465), the server's certificate checked against the system's trust store
//! or the data source's CA, nothing sent before the TLS handshake but EHLO.

use std::time::Duration;

use base64::Engine;
use tokio::io::AsyncWriteExt;

use crate::mail::smtp::command;
pub use crate::mail::{Upstream, ca_certificates, parse_host_port};

use super::{DeliveryError, Message};

/// A whole submission may take this long.
const SESSION_TIME: Duration = Duration::from_secs(30);

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
    let crate::mail::Session {
        stream: mut tls,
        unread: mut buf,
    } = crate::mail::smtp::login(upstream, from, access_token)
        .await
        .map_err(|e| e.to_string())?;
    command(&mut tls, &mut buf, &format!("MAIL FROM:<{from}>"), 250).await?;
    command(&mut tls, &mut buf, &format!("RCPT TO:<{to}>"), 250).await?;
    command(&mut tls, &mut buf, "DATA", 354).await?;
    let data = rfc5322(from, to, message);
    tls.write_all(data.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    tls.flush().await.map_err(|e| e.to_string())?;
    command(&mut tls, &mut buf, ".", 250).await?;
    let _ = crate::mail::smtp::say(&mut tls, "QUIT").await;
    Ok(())
}
