//! A device's connection before it logged in: lines read through a buffer,
//! each within the line time and all within the login time, none longer than a
//! command may be; STARTTLS that throws away anything sent ahead of the
//! handshake (a man in the middle's injected commands).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::Listener;

/// A command line longer than this is refused (SMTP's limit is 512 octets, an
/// AUTH line with its initial response may take a few kilobytes).
const MAX_LINE: usize = 16 * 1024;

pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(super) struct Conn {
    stream: Option<Box<dyn Io>>,
    buf: Vec<u8>,
    /// Inside TLS (implicit, or after STARTTLS).
    pub secure: bool,
    tls: Option<TlsAcceptor>,
    line_time: Duration,
    deadline: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineError {
    Closed,
    TimedOut,
    TooLong,
}

impl Conn {
    /// The connection, inside TLS for an implicit-TLS listener (a handshake that
    /// fails or does not finish in the line time ends it).
    pub async fn open(stream: TcpStream, listener: &Listener) -> Option<Conn> {
        let mut conn = Conn {
            stream: Some(Box::new(stream)),
            buf: Vec::new(),
            secure: false,
            tls: listener.tls.clone(),
            line_time: listener.line_time,
            deadline: Instant::now() + listener.login_time,
        };
        if listener.implicit {
            conn.start_tls().await.ok()?;
        }
        Some(conn)
    }

    /// Whether STARTTLS can be offered now.
    pub fn can_start_tls(&self) -> bool {
        self.tls.is_some() && !self.secure
    }

    /// Whether a password may be taken now: inside TLS, or on a listener with no
    /// certificate (loopback only, checked at the start).
    pub fn may_take_password(&self) -> bool {
        self.secure || self.tls.is_none()
    }

    /// The TLS handshake; anything the device sent ahead of it is dropped.
    pub async fn start_tls(&mut self) -> Result<(), LineError> {
        let (Some(acceptor), Some(stream)) = (self.tls.clone(), self.stream.take()) else {
            return Err(LineError::Closed);
        };
        self.buf.clear();
        let time = self.line_time.min(self.left());
        let tls = tokio::time::timeout(time, acceptor.accept(stream))
            .await
            .map_err(|_| LineError::TimedOut)?
            .map_err(|_| LineError::Closed)?;
        self.stream = Some(Box::new(tls));
        self.secure = true;
        Ok(())
    }

    /// Whether the device sent more than the line just read (pipelined ahead of
    /// STARTTLS, which is refused).
    pub fn has_unread(&self) -> bool {
        !self.buf.is_empty()
    }

    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The next line, without its line end (CRLF, or a bare LF).
    pub async fn line(&mut self) -> Result<Vec<u8>, LineError> {
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(LineError::TooLong);
            }
            self.fill().await?;
        }
    }

    /// Exactly `n` bytes (an IMAP literal).
    pub async fn bytes(&mut self, n: usize) -> Result<Vec<u8>, LineError> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn fill(&mut self) -> Result<(), LineError> {
        let time = self.line_time.min(self.left());
        let stream = self.stream.as_mut().ok_or(LineError::Closed)?;
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(time, stream.read(&mut chunk))
            .await
            .map_err(|_| LineError::TimedOut)?
            .map_err(|_| LineError::Closed)?;
        if n == 0 {
            return Err(LineError::Closed);
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Writes `text` (lines with their CRLF) to the device.
    pub async fn say(&mut self, text: &str) -> Result<(), LineError> {
        let stream = self.stream.as_mut().ok_or(LineError::Closed)?;
        let time = self.line_time;
        tokio::time::timeout(time, async {
            stream.write_all(text.as_bytes()).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| LineError::TimedOut)?
        .map_err(|_| LineError::Closed)
    }

    /// The stream and what the device sent beyond the last line read.
    pub fn into_parts(mut self) -> Option<(Box<dyn Io>, Vec<u8>)> {
        let stream = self.stream.take()?;
        Some((stream, std::mem::take(&mut self.buf)))
    }
}

/// The user name and password in a SASL PLAIN response (base64 of
/// `authzid NUL authcid NUL password`); an authorization identity other than the
/// user itself is not taken.
pub(super) fn sasl_plain(response: &[u8]) -> Option<(String, String)> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(response.trim_ascii())
        .ok()?;
    let mut parts = decoded.split(|b| *b == 0);
    let authzid = std::str::from_utf8(parts.next()?).ok()?;
    let user = std::str::from_utf8(parts.next()?).ok()?;
    let password = std::str::from_utf8(parts.next()?).ok()?;
    if parts.next().is_some() || (!authzid.is_empty() && authzid != user) {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

/// A base64 line as UTF-8 text (SMTP AUTH LOGIN's answers).
pub(super) fn base64_text(line: &[u8]) -> Option<String> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(line.trim_ascii())
        .ok()?;
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn plain_responses_are_read_and_a_foreign_authorization_identity_is_not() {
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            sasl_plain(b64(b"\0scans@contoso.com\0tdk_x").as_bytes()),
            Some(("scans@contoso.com".into(), "tdk_x".into()))
        );
        assert_eq!(
            sasl_plain(b64(b"scans@contoso.com\0scans@contoso.com\0tdk_x").as_bytes()),
            Some(("scans@contoso.com".into(), "tdk_x".into()))
        );
        assert_eq!(
            sasl_plain(b64(b"boss@contoso.com\0scans@contoso.com\0tdk_x").as_bytes()),
            None
        );
        assert_eq!(sasl_plain(b"not base64!"), None);
        assert_eq!(sasl_plain(b64(b"no separators").as_bytes()), None);
        assert_eq!(base64_text(b"dXNlcg=="), Some("user".into()));
    }
}
