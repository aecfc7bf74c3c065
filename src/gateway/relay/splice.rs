//! A logged-in session passed through both ways, unread: what the device sends
//! goes to the mail server, what the server answers goes back, until either side
//! closes, nothing moves for the idle time, the session's time is up, or the
//! device has sent more than a session may carry.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// How a passed-through session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ended {
    /// One side closed (the usual end, after QUIT or LOGOUT).
    Closed,
    Idle,
    TimeUp,
    TooMuch,
    Broken(String),
}

/// Bytes each way.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Moved {
    pub up: u64,
    pub down: u64,
}

pub(super) struct Bounds {
    pub max_up: u64,
    pub idle: Duration,
    pub session: Duration,
    /// Said to the device when it sent too much, before the connection closes.
    pub too_much: &'static str,
}

/// Passes `device` ⇄ `server` through; `device_ahead` (sent by the device with
/// its login) goes up first, `server_ahead` down first.
pub(super) async fn splice<D, S>(
    device: D,
    device_ahead: Vec<u8>,
    server: S,
    server_ahead: Vec<u8>,
    bounds: &Bounds,
) -> (Ended, Moved)
where
    D: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut device_in, mut device_out) = tokio::io::split(device);
    let (mut server_in, mut server_out) = tokio::io::split(server);
    let mut moved = Moved::default();
    let end = Instant::now() + bounds.session;
    let broken = |e: std::io::Error| Ended::Broken(e.to_string());
    if !device_ahead.is_empty() {
        moved.up += device_ahead.len() as u64;
        if let Err(e) = write(&mut server_out, &device_ahead).await {
            return (broken(e), moved);
        }
    }
    if !server_ahead.is_empty() {
        moved.down += server_ahead.len() as u64;
        if let Err(e) = write(&mut device_out, &server_ahead).await {
            return (broken(e), moved);
        }
    }
    // Large reads: a 10 MB attachment passes in few round trips of the loop.
    let mut up = vec![0u8; 256 * 1024];
    let mut down = vec![0u8; 64 * 1024];
    let idle = tokio::time::sleep(bounds.idle);
    tokio::pin!(idle);
    let mut idle_from = Instant::now();
    let ended = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => break Ended::TimeUp,
            _ = &mut idle => break Ended::Idle,
            read = device_in.read(&mut up) => {
                let n = match read {
                    Ok(0) => break Ended::Closed,
                    Ok(n) => n,
                    Err(e) => break broken(e),
                };
                moved.up += n as u64;
                if moved.up > bounds.max_up {
                    let _ = write(&mut device_out, bounds.too_much.as_bytes()).await;
                    break Ended::TooMuch;
                }
                // A TLS writer may keep records back until flushed.
                if let Err(e) = write(&mut server_out, &up[..n]).await {
                    break broken(e);
                }
            }
            read = server_in.read(&mut down) => {
                let n = match read {
                    Ok(0) => break Ended::Closed,
                    Ok(n) => n,
                    Err(e) => break broken(e),
                };
                moved.down += n as u64;
                if let Err(e) = write(&mut device_out, &down[..n]).await {
                    break broken(e);
                }
            }
        }
        // The idle timer moves at most once a second (not at every chunk).
        let now = Instant::now();
        if now - idle_from >= Duration::from_secs(1) {
            idle_from = now;
            idle.as_mut().reset(now + bounds.idle);
        }
    };
    let _ = server_out.shutdown().await;
    let _ = device_out.shutdown().await;
    (ended, moved)
}

/// Writes all of `data` and flushes it: a TLS stream keeps what the socket did
/// not take in its own buffer until flushed, and the other side would wait for
/// it forever.
async fn write<W: AsyncWrite + Unpin>(writer: &mut W, data: &[u8]) -> std::io::Result<()> {
    writer.write_all(data).await?;
    writer.flush().await
}

impl Ended {
    /// For the audit log: `Ok` for a session that closed, else why it was cut.
    pub fn result(&self, note: Option<String>) -> Result<Option<String>, String> {
        match self {
            Ended::Closed => Ok(note),
            Ended::Idle => Err("nothing moved for too long; the relay closed it".into()),
            Ended::TimeUp => Err("the session's time was up; the relay closed it".into()),
            Ended::TooMuch => {
                Err("the device sent more than a session may carry; the relay closed it".into())
            }
            Ended::Broken(why) => Err(format!("the connection broke ({why})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_ways_pass_and_too_much_from_the_device_cuts_the_session() {
        let (device, mut device_far) = tokio::io::duplex(1 << 20);
        let (server, mut server_far) = tokio::io::duplex(1 << 20);
        let bounds = Bounds {
            max_up: 100,
            idle: Duration::from_secs(5),
            session: Duration::from_secs(5),
            too_much: "552 too much\r\n",
        };
        let relay = tokio::spawn(async move {
            splice(
                device,
                b"MAIL".to_vec(),
                server,
                b"250 hi\r\n".to_vec(),
                &bounds,
            )
            .await
        });
        let mut got = [0u8; 8];
        device_far.read_exact(&mut got).await.expect("down");
        assert_eq!(&got, b"250 hi\r\n");
        let mut got = [0u8; 4];
        server_far.read_exact(&mut got).await.expect("up");
        assert_eq!(&got, b"MAIL");
        device_far.write_all(&[b'x'; 200]).await.expect("write");
        let (ended, moved) = relay.await.expect("task");
        assert_eq!(ended, Ended::TooMuch);
        assert!(moved.up > 100);
        let mut said = String::new();
        device_far.read_to_string(&mut said).await.expect("read");
        assert_eq!(said, "552 too much\r\n");
    }
}
