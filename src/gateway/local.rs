//! The local channel: a Unix socket in the vault folder that only this OS user can
//! open (mode 0600), or on Windows a named pipe whose ACL admits only this user,
//! so local programs (`tokendesk token`) get a token without a key, without
//! unlocking the vault and without a process start's key-store trip.
//! One JSON line asks, one JSON line answers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::Gateway;
use crate::desk::model::TokenTarget;

/// How long one local question may take, the redemption included.
pub(super) const ANSWER_LIMIT: Duration = Duration::from_secs(120);
/// How long a local client has to send its question.
pub(super) const QUESTION_LIMIT: Duration = Duration::from_secs(10);
/// Local clients served at once; one more is closed at once.
#[cfg(unix)]
pub(super) const MAX_LOCAL_CLIENTS: usize = 256;

/// How long `tokendesk token` waits for the gateway's answer (a redemption behind
/// it may take the provider's time) before it opens the vault itself.
const ANSWER_WAIT: Duration = Duration::from_secs(90);

pub const SOCKET_FILE: &str = "gateway.sock";

/// The socket of the vault in `dir`, if a gateway listens on it; a redemption
/// behind the answer may take the provider's time, hence the long read limit.
#[cfg(unix)]
fn connect_blocking(dir: &Path) -> Option<std::os::unix::net::UnixStream> {
    let stream = connect_within(&socket_in(dir), QUESTION_LIMIT)?;
    stream.set_read_timeout(Some(ANSWER_WAIT)).ok()?;
    Some(stream)
}

/// A connect that gives up after `limit`: a gateway that is stopped (SIGSTOP, a
/// debugger) or whose queue is full must not hold `tokendesk token` forever; the
/// caller then opens the vault itself. Linux bounds a Unix-socket connect by the
/// socket's send timeout, which std cannot set before connecting.
#[cfg(target_os = "linux")]
fn connect_within(path: &Path, limit: Duration) -> Option<std::os::unix::net::UnixStream> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: socket() takes no pointers; a negative result is checked.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` is a fresh socket owned by nobody else; the stream closes it.
    let stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
    stream.set_write_timeout(Some(limit)).ok()?;
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    address.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= address.sun_path.len() {
        return None;
    }
    for (slot, byte) in address.sun_path.iter_mut().zip(bytes) {
        *slot = *byte as libc::c_char;
    }
    let length = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    // SAFETY: the address is initialised and `length` does not exceed its size.
    let connected = unsafe {
        libc::connect(
            fd,
            (&raw const address).cast::<libc::sockaddr>(),
            length as libc::socklen_t,
        )
    };
    (connected == 0).then_some(stream)
}

#[cfg(all(unix, not(target_os = "linux")))]
fn connect_within(path: &Path, limit: Duration) -> Option<std::os::unix::net::UnixStream> {
    let stream = std::os::unix::net::UnixStream::connect(path).ok()?;
    stream.set_write_timeout(Some(limit)).ok()?;
    Some(stream)
}

#[cfg(windows)]
fn connect_blocking(dir: &Path) -> Option<std::fs::File> {
    super::pipe::connect_blocking(dir)
}

#[cfg(not(any(unix, windows)))]
fn connect_blocking(_dir: &Path) -> Option<std::fs::File> {
    None
}

/// Where the socket of the vault in `dir` is (the desk says, for every face).
#[cfg(not(windows))]
fn socket_in(dir: &Path) -> PathBuf {
    crate::desk::vault_file::gateway_socket(dir)
}

/// One question on the local socket.
#[derive(Debug, Serialize, Deserialize)]
pub struct LocalRequest {
    pub data_source: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// Its answer: a token, or why none.
#[derive(Debug, Serialize, Deserialize)]
pub struct LocalAnswer {
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

#[cfg(unix)]
pub(super) fn serve(
    dir: &Path,
    gateway: Arc<Gateway>,
    stop: CancellationToken,
) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_in(dir);
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(std::io::Error::from(std::io::ErrorKind::AddrInUse));
        }
        // A socket left by a gateway that was killed: nobody answers on it.
        std::fs::remove_file(&path)?;
    }
    // Created private: the umask makes the socket 0600 from its first moment.
    let listener = {
        let _private = PrivateUmask::set();
        tokio::net::UnixListener::bind(&path)?
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    tokio::spawn(async move {
        let clients = Arc::new(tokio::sync::Semaphore::new(MAX_LOCAL_CLIENTS));
        let mut failures: u32 = 0;
        loop {
            let stream = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        failures = 0;
                        stream
                    }
                    Err(_) => {
                        // Out of file descriptors, say: wait, doubling up to a
                        // second, instead of spinning on the same error.
                        let wait = Duration::from_millis(10u64 << failures.min(7))
                            .min(Duration::from_secs(1));
                        failures = failures.saturating_add(1);
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(wait) => continue,
                        }
                    }
                },
            };
            let Ok(permit) = clients.clone().try_acquire_owned() else {
                continue;
            };
            let gateway = gateway.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let _permit = permit;
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::time::timeout(ANSWER_LIMIT, answer(stream, gateway)) => {}
                }
            });
        }
    });
    Ok(path)
}

#[cfg(windows)]
pub(super) fn serve(
    dir: &Path,
    gateway: Arc<Gateway>,
    stop: CancellationToken,
) -> std::io::Result<PathBuf> {
    super::pipe::serve(dir, gateway, stop)
}

#[cfg(not(any(unix, windows)))]
pub(super) fn serve(
    dir: &Path,
    _gateway: Arc<Gateway>,
    _stop: CancellationToken,
) -> std::io::Result<PathBuf> {
    Ok(socket_in(dir))
}

#[cfg(unix)]
struct PrivateUmask(libc::mode_t);

#[cfg(unix)]
impl PrivateUmask {
    fn set() -> Self {
        // SAFETY: umask only swaps the process's file-creation mask.
        PrivateUmask(unsafe { libc::umask(0o177) })
    }
}

#[cfg(unix)]
impl Drop for PrivateUmask {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `set`.
        unsafe {
            libc::umask(self.0);
        }
    }
}

/// Reads one question from `stream` and writes its answer.
pub(super) async fn answer<S>(stream: S, gateway: Arc<Gateway>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(8192);
    match tokio::time::timeout(QUESTION_LIMIT, reader.read_line(&mut line)).await {
        Ok(Ok(_)) => {}
        _ => return,
    }
    let reply = match serde_json::from_str::<LocalRequest>(&line) {
        Ok(request) => {
            let target = TokenTarget {
                data_source: request.data_source,
                app_user: request.user.filter(|u| !u.trim().is_empty()),
            };
            match gateway
                .access_token(&target, request.scope.as_deref())
                .await
            {
                Ok(handed) => {
                    gateway.metrics.hand_out();
                    gateway
                        .tally
                        .count("local program", &target, chrono::Utc::now());
                    LocalAnswer {
                        access_token: Some(handed.token.expose().to_string()),
                        error: None,
                    }
                }
                Err(refused) => LocalAnswer {
                    access_token: None,
                    error: Some(refused.reason().to_string()),
                },
            }
        }
        Err(e) => LocalAnswer {
            access_token: None,
            error: Some(format!("unreadable request: {e}")),
        },
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_default();
    text.push('\n');
    let _ = write.write_all(text.as_bytes()).await;
}

/// Asks a gateway serving the vault in `dir` for a token. `None` when no gateway
/// answers there (the caller opens the vault itself); `Some(Err)` when it answered
/// that it has none. Blocking, with plain std I/O: `tokendesk token` asks before
/// it starts an async runtime, which would cost more than the question itself.
pub fn ask_local_gateway(dir: &Path, request: &LocalRequest) -> Option<Result<String, String>> {
    use std::io::{BufRead, Read, Write};
    let stream = connect_blocking(dir)?;
    let mut text = serde_json::to_string(request).ok()?;
    text.push('\n');
    (&stream).write_all(text.as_bytes()).ok()?;
    // A Windows pipe opened as a file has no read timeout of its own.
    #[cfg(windows)]
    if !super::pipe::answer_within(&stream, ANSWER_WAIT) {
        return None;
    }
    let mut line = String::new();
    std::io::BufReader::new((&stream).take(1 << 20))
        .read_line(&mut line)
        .ok()?;
    let answer: LocalAnswer = serde_json::from_str(&line).ok()?;
    match (answer.access_token, answer.error) {
        (Some(token), _) => Some(Ok(token)),
        (None, Some(error)) => Some(Err(error)),
        (None, None) => None,
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;

    /// A listener that never accepts, with the smallest queue the kernel allows.
    fn listener_that_never_accepts(path: &Path) -> std::os::unix::net::UnixListener {
        // SAFETY: plain socket calls on a fresh descriptor, results checked.
        unsafe {
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            assert!(fd >= 0);
            let mut address: libc::sockaddr_un = std::mem::zeroed();
            address.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (slot, byte) in address.sun_path.iter_mut().zip(path.as_os_str().as_bytes()) {
                *slot = *byte as libc::c_char;
            }
            let size = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            assert_eq!(
                libc::bind(fd, (&raw const address).cast::<libc::sockaddr>(), size),
                0
            );
            assert_eq!(libc::listen(fd, 0), 0);
            std::os::unix::net::UnixListener::from_raw_fd(fd)
        }
    }

    #[test]
    fn a_gateway_that_does_not_accept_is_given_up_on_in_time() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("gateway.sock");
        let _listener = listener_that_never_accepts(&path);
        let limit = Duration::from_millis(300);
        // Fill the queue: the connects that still fit succeed.
        let mut queued = Vec::new();
        let started = std::time::Instant::now();
        let mut refused_in_time = false;
        for _ in 0..8 {
            let attempt = std::time::Instant::now();
            match connect_within(&path, limit) {
                Some(stream) => queued.push(stream),
                None => {
                    let took = attempt.elapsed();
                    assert!(took < limit * 4, "gave up after {took:?}");
                    refused_in_time = true;
                    break;
                }
            }
        }
        assert!(
            refused_in_time,
            "a full queue ends in a refusal, not a wait"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_listening_gateway_is_reached() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("gateway.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        assert!(connect_within(&path, Duration::from_secs(1)).is_some());
        drop(listener);
        assert!(connect_within(&dir.path().join("none.sock"), Duration::from_secs(1)).is_none());
    }
}
