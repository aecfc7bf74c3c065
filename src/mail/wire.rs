//! Lines on a mail connection: CRLF-ended, bounded, read through a buffer that
//! keeps whatever came after the line.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A line longer than this is not a mail server's.
const MAX_LINE: usize = 64 * 1024;

pub(super) async fn send<S: AsyncWrite + Unpin>(stream: &mut S, line: &str) -> Result<(), String> {
    let broke = |e: std::io::Error| format!("the connection broke ({e})");
    stream
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(broke)?;
    // A TLS stream sends what it holds back only when flushed.
    stream.flush().await.map_err(broke)
}

/// The next line without its CRLF.
pub(super) async fn line<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<String, String> {
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..end + 2).collect();
            return Ok(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        if buf.len() > MAX_LINE {
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
    }
}

/// One SMTP reply, all its lines ("250-…" continue, "250 …" ends it).
pub(super) async fn smtp_reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<(u16, String), String> {
    let mut text = Vec::new();
    loop {
        let line = line(stream, buf).await?;
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

    #[tokio::test]
    async fn a_reply_of_several_lines_is_read_whole_and_the_next_stays() {
        let data = b"250-mx.contoso.test\r\n250-AUTH XOAUTH2\r\n250 8BITMIME\r\n220 go\r\n";
        let mut stream: &[u8] = data;
        let mut buf = Vec::new();
        let (code, text) = smtp_reply(&mut stream, &mut buf).await.expect("reply");
        assert_eq!(code, 250);
        assert_eq!(text, "mx.contoso.test AUTH XOAUTH2 8BITMIME");
        assert_eq!(
            smtp_reply(&mut stream, &mut buf).await,
            Ok((220, "go".into()))
        );
        assert!(smtp_reply(&mut stream, &mut buf).await.is_err(), "closed");
    }
}
