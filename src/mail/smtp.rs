//! SMTP submission as a mailbox: EHLO, STARTTLS (or implicit TLS on 465), EHLO
//! again, `AUTH XOAUTH2`; then the session is the caller's.

use tokio::io::{AsyncRead, AsyncWrite};

use super::wire::{send, smtp_reply};
use super::{LoginError, Session, Upstream};

/// Logs in to `upstream` as `user` with `token`.
pub async fn login(upstream: &Upstream, user: &str, token: &str) -> Result<Session, LoginError> {
    let failed = LoginError::Failed;
    let mut tcp = super::connect(upstream).await?;
    let mut buf = Vec::new();
    let mut tls = if upstream.implicit_tls {
        super::handshake(upstream, tcp).await?
    } else {
        expect(&mut tcp, &mut buf, 220).await.map_err(failed)?;
        command(&mut tcp, &mut buf, "EHLO tokendesk", 250)
            .await
            .map_err(failed)?;
        command(&mut tcp, &mut buf, "STARTTLS", 220)
            .await
            .map_err(failed)?;
        if !buf.is_empty() {
            return Err(failed(
                "the server sent data before the TLS handshake".into(),
            ));
        }
        super::handshake(upstream, tcp).await?
    };
    if upstream.implicit_tls {
        expect(&mut tls, &mut buf, 220).await.map_err(failed)?;
    }
    command(&mut tls, &mut buf, "EHLO tokendesk", 250)
        .await
        .map_err(failed)?;
    send(
        &mut tls,
        &format!("AUTH XOAUTH2 {}", super::xoauth2(user, token)),
    )
    .await
    .map_err(failed)?;
    let (code, text) = smtp_reply(&mut tls, &mut buf).await.map_err(failed)?;
    match code {
        235 => Ok(Session {
            stream: tls,
            unread: buf,
        }),
        334 => {
            // The error challenge: answered with an empty line, then the refusal.
            send(&mut tls, "").await.map_err(failed)?;
            let (code, text) = smtp_reply(&mut tls, &mut buf).await.map_err(failed)?;
            Err(LoginError::Refused(format!(
                "it refused the mailbox's token ({code} {text})"
            )))
        }
        _ => Err(LoginError::Refused(format!(
            "it refused the mailbox's token ({code} {text})"
        ))),
    }
}

/// Sends `line` and expects the reply `want`.
pub async fn command<S: AsyncRead + AsyncWrite + Unpin>(
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
    let (code, text) = smtp_reply(stream, buf).await?;
    // 251: "user not local; will forward" is a yes to RCPT TO.
    if code == want || (want == 250 && code == 251) {
        Ok(())
    } else {
        Err(format!("{code} {text}"))
    }
}

/// Sends `line` with no reply awaited (QUIT).
pub async fn say<S: AsyncWrite + Unpin>(stream: &mut S, line: &str) -> Result<(), String> {
    send(stream, line).await
}
