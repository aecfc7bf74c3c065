//! IMAP as a mailbox: the greeting, STARTTLS (or implicit TLS on 993), then
//! `AUTHENTICATE XOAUTH2` with the initial response; then the session is the
//! caller's, with the server's tagged OK line for the device.

use super::wire::{line, send};
use super::{LoginError, Session, Upstream};

/// What logging in gave: the session, and the server's "OK …" text after the tag
/// (often with the capabilities the session has now).
pub struct LoggedIn {
    pub session: Session,
    pub ok_text: String,
}

/// Logs in to `upstream` as `user` with `token`.
pub async fn login(upstream: &Upstream, user: &str, token: &str) -> Result<LoggedIn, LoginError> {
    let failed = LoginError::Failed;
    let mut tcp = super::connect(upstream).await?;
    let mut buf = Vec::new();
    let mut tls = if upstream.implicit_tls {
        super::handshake(upstream, tcp).await?
    } else {
        greeting(&mut tcp, &mut buf).await?;
        send(&mut tcp, "T0 STARTTLS").await.map_err(failed)?;
        let said = tagged(&mut tcp, &mut buf, "T0").await.map_err(failed)?;
        if !said.starts_with("OK") {
            return Err(failed(format!("it did not start TLS ({said})")));
        }
        if !buf.is_empty() {
            return Err(failed(
                "the server sent data before the TLS handshake".into(),
            ));
        }
        super::handshake(upstream, tcp).await?
    };
    if upstream.implicit_tls {
        greeting(&mut tls, &mut buf).await?;
    }
    send(
        &mut tls,
        &format!("T1 AUTHENTICATE XOAUTH2 {}", super::xoauth2(user, token)),
    )
    .await
    .map_err(failed)?;
    loop {
        let said = line(&mut tls, &mut buf).await.map_err(failed)?;
        if said.starts_with('+') {
            // The error challenge: answered with an empty line, then the refusal.
            send(&mut tls, "").await.map_err(failed)?;
            continue;
        }
        let Some(rest) = said.strip_prefix("T1 ") else {
            continue; // untagged: capabilities and the like
        };
        let rest = crate::text::escape(rest);
        return if rest.starts_with("OK") {
            Ok(LoggedIn {
                session: Session {
                    stream: tls,
                    unread: buf,
                },
                ok_text: rest,
            })
        } else {
            Err(LoginError::Refused(format!(
                "it refused the mailbox's token ({rest})"
            )))
        };
    }
}

async fn greeting<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<(), LoginError> {
    let said = line(stream, buf).await.map_err(LoginError::Failed)?;
    if said.starts_with("* OK") || said.starts_with("* PREAUTH") {
        Ok(())
    } else {
        Err(LoginError::Failed(format!(
            "not an IMAP server's greeting: {}",
            crate::text::escape(&said)
        )))
    }
}

/// The text after `tag` in the tagged answer, past any untagged lines.
async fn tagged<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    tag: &str,
) -> Result<String, String> {
    loop {
        let said = line(stream, buf).await?;
        if let Some(rest) = said.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            return Ok(crate::text::escape(rest));
        }
    }
}
