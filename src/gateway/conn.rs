//! The gateway's connections, bounded: its own accept loop over hyper, so that no
//! client, hostile or unlucky, can hold more than its share.
//! - A connection must send its first request's headers within the header time
//!   limit, and the next request within the idle limit; otherwise it is closed.
//! - At most `max_connections` are open at once (lowered to what the process's
//!   file-descriptor limit leaves after the vault's and the provider's needs), and
//!   at most `max_per_address` from one address; one more is answered 503 and
//!   closed at once.
//! - When the process runs out of file descriptors, accepting pauses (doubling up
//!   to a second) instead of spinning, and open connections are served on.
//! - On shutdown, idle and half-sent connections close at once, answers in
//!   progress get a few seconds; a redemption runs as its own task, so closing a
//!   connection never interrupts a vault write.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower_service::Service;

/// What a connection may hold, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From accept (and the TLS handshake) to a first request's complete headers.
    pub header_timeout: Duration,
    /// From an answer to the next request's complete headers.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_per_address: usize,
    /// How long answers in progress may finish at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_per_address: 256,
            shutdown_grace: Duration::from_secs(3),
        }
    }
}

/// File descriptors kept for everything but client connections: the vault and
/// its locks, the audit log, the provider's HTTPS, the local socket's clients.
const FD_RESERVE: u64 = 96;

impl Limits {
    /// These limits within what the process may open: raises the soft limit on
    /// file descriptors to the hard one, and lowers `max_connections` to fit.
    pub fn within_process_limits(mut self) -> Self {
        if let Some(open_files) = raise_open_file_limit() {
            let budget = usize::try_from(open_files.saturating_sub(FD_RESERVE).max(16))
                .unwrap_or(usize::MAX);
            if budget < self.max_connections {
                tracing::warn!(
                    budget,
                    wanted = self.max_connections,
                    "the open-file limit allows fewer connections than asked"
                );
                self.max_connections = budget;
            }
        }
        // One address never takes every slot: a quarter stays for the others.
        if self.max_per_address >= self.max_connections && self.max_connections >= 4 {
            self.max_per_address = self.max_connections - self.max_connections / 4;
        }
        self.max_per_address = self.max_per_address.min(self.max_connections).max(1);
        self
    }
}

#[cfg(unix)]
fn raise_open_file_limit() -> Option<u64> {
    // SAFETY: getrlimit/setrlimit on this process's own limit with a valid struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        Some(limit.rlim_cur as u64)
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Option<u64> {
    None
}

/// Open connections, in all and per address.
pub(crate) struct Slots {
    limits: Limits,
    by_address: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
    /// Connections refused for a full table (for /metrics).
    pub refused: AtomicU64,
    /// Accepts that failed (file descriptors exhausted and the like).
    pub accept_errors: AtomicU64,
}

pub(super) struct Slot {
    slots: Arc<Slots>,
    address: IpAddr,
}

impl Slots {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Slots {
            limits,
            by_address: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn open(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    pub(super) fn take(self: &Arc<Self>, address: IpAddr) -> Option<Slot> {
        let mut by_address = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        let here = by_address.get(&address).copied().unwrap_or(0);
        if here >= self.limits.max_per_address
            || self.total.load(Ordering::SeqCst) >= self.limits.max_connections
        {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        by_address.insert(address, here + 1);
        self.total.fetch_add(1, Ordering::SeqCst);
        Some(Slot {
            slots: self.clone(),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by_address = self
            .slots
            .by_address
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                // Only addresses with open connections stay in the table.
                by_address.remove(&self.address);
            }
        }
        self.slots.total.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts and serves until `stop`, then waits (at most the grace and a second)
/// for the connections to close.
pub(super) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    slots: Arc<Slots>,
    stop: CancellationToken,
) {
    let limits = slots.limits;
    let mut failures: u32 = 0;
    let mut warned: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                failures = 0;
                accepted
            }
            Err(error) => {
                slots.accept_errors.fetch_add(1, Ordering::Relaxed);
                let wait = accept_backoff(&error, failures);
                failures = failures.saturating_add(1);
                if warned.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(%error, "the gateway could not accept a connection; waiting before the next try");
                    warned = Some(Instant::now());
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(wait) => continue,
                }
            }
        };
        let Some(slot) = slots.take(peer.ip()) else {
            refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let stop = stop.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => connection(stream, peer, app, limits, stop, Instant::now()).await,
                Some(config) => {
                    let accepted = Instant::now();
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    let handshake = tokio::select! {
                        _ = stop.cancelled() => return,
                        done = tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)) => done,
                    };
                    match handshake {
                        Ok(Ok(tls)) => connection(tls, peer, app, limits, stop, accepted).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let deadline = Instant::now() + limits.shutdown_grace + Duration::from_secs(1);
    while slots.open() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long to wait after a failed accept: out of file descriptors (or memory),
/// doubling from 10 ms up to a second; anything else, 10 ms.
pub(super) fn accept_backoff(error: &std::io::Error, failures: u32) -> Duration {
    #[cfg(unix)]
    let exhausted = matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    #[cfg(not(unix))]
    let exhausted = error.raw_os_error().is_some();
    if exhausted {
        Duration::from_millis(10u64 << failures.min(7)).min(Duration::from_secs(1))
    } else {
        Duration::from_millis(10)
    }
}

/// One connection too many: said in one line and closed, without a task.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\nretry-after: 1\r\n\r\n",
    );
}

/// Answers in progress on one connection, and since when it has had none.
struct Activity {
    busy: AtomicUsize,
    /// Milliseconds after `since` at which the last answer was ready.
    idle_from_ms: AtomicU64,
    answered: AtomicU64,
    since: Instant,
}

struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::SeqCst);
        Busy(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        let elapsed = u64::try_from(activity.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        activity.idle_from_ms.store(elapsed, Ordering::SeqCst);
        activity.answered.fetch_add(1, Ordering::SeqCst);
        activity.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
    accepted: Instant,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity {
        busy: AtomicUsize::new(0),
        idle_from_ms: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        since: accepted,
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let busy = Busy::start(&activity);
            let mut router = app.clone();
            async move {
                let response = router.call(request).await;
                drop(busy);
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout.max(limits.idle_timeout))
        .max_buf_size(16 * 1024)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut stopping: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let check_at = if activity.busy.load(Ordering::SeqCst) > 0 {
            match stopping {
                Some(since) if now >= since + limits.shutdown_grace => return,
                Some(since) => since + limits.shutdown_grace,
                None => now + Duration::from_secs(1),
            }
        } else {
            if stopping.is_some() {
                return;
            }
            let waiting_since = activity.since
                + Duration::from_millis(activity.idle_from_ms.load(Ordering::SeqCst));
            let limit = if activity.answered.load(Ordering::SeqCst) == 0 {
                limits.header_timeout
            } else {
                limits.idle_timeout
            };
            if now >= waiting_since + limit {
                tracing::debug!(%peer, "closing a connection that sent no complete request in time");
                return;
            }
            waiting_since + limit
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stop.cancelled(), if stopping.is_none() => {
                conn.as_mut().graceful_shutdown();
                stopping = Some(Instant::now());
            }
            _ = tokio::time::sleep_until(check_at.into()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_take_every_slot_and_slots_come_back() {
        let slots = Slots::new(Limits {
            max_connections: 4,
            max_per_address: 2,
            ..Limits::default()
        });
        let attacker: IpAddr = "127.0.0.2".parse().expect("ip");
        let client: IpAddr = "127.0.0.1".parse().expect("ip");
        let a = slots.take(attacker).expect("first");
        let _b = slots.take(attacker).expect("second");
        assert!(slots.take(attacker).is_none(), "per-address limit");
        let _c = slots.take(client).expect("another address");
        drop(a);
        assert_eq!(slots.open(), 2);
        assert!(slots.take(attacker).is_some());
        assert_eq!(slots.refused.load(Ordering::Relaxed), 1);
    }

    #[cfg(unix)]
    #[test]
    fn exhausted_descriptors_back_off_up_to_a_second() {
        let exhausted = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(accept_backoff(&exhausted, 0), Duration::from_millis(10));
        assert_eq!(accept_backoff(&exhausted, 3), Duration::from_millis(80));
        assert_eq!(accept_backoff(&exhausted, 30), Duration::from_secs(1));
    }
}
