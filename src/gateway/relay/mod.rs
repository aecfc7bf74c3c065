//! The mail relay: devices that know only a user name and a password (scanners,
//! ERP systems, scripts) log in with SMTP AUTH PLAIN/LOGIN or IMAP LOGIN /
//! AUTHENTICATE PLAIN, the user name being a mailbox and the password a relay key
//! bound to it; the relay logs in to the mailbox's own mail server with XOAUTH2
//! and that mailbox's access token (from the gateway's memory, or the guarded
//! path), then passes the session through both ways.
//!
//! Never an open relay: nothing goes upstream before a device logged in; plain
//! text only on loopback listeners, and with a certificate, passwords only inside
//! TLS; bad passwords slow their address down; a key works for its mailbox only;
//! sessions are bounded in time and in what a device sends; each is audited.

mod device;
mod imap;
mod smtp;
mod splice;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::Gateway;
use super::answer::NoToken;
use crate::desk::relay::{Device, LoginError, Protocol};

/// Where the relay listens, and how much a session may carry.
#[derive(Debug, Clone, Default)]
pub struct RelayOptions {
    /// SMTP submission, STARTTLS offered when there is a certificate (587-style).
    pub smtp: Vec<SocketAddr>,
    /// SMTP submission inside TLS from the first byte (465-style).
    pub smtps: Vec<SocketAddr>,
    /// IMAP, STARTTLS offered when there is a certificate (143-style).
    pub imap: Vec<SocketAddr>,
    /// IMAP inside TLS from the first byte (993-style).
    pub imaps: Vec<SocketAddr>,
    /// The most a device may send in one session, in bytes.
    pub max_bytes: u64,
}

impl RelayOptions {
    pub fn is_empty(&self) -> bool {
        self.smtp.is_empty()
            && self.smtps.is_empty()
            && self.imap.is_empty()
            && self.imaps.is_empty()
    }

    /// Plain text only on loopback; TLS listeners need the certificate.
    pub fn check(&self, has_certificate: bool) -> Result<(), String> {
        if has_certificate {
            return Ok(());
        }
        if let Some(address) = self.smtps.iter().chain(&self.imaps).next() {
            return Err(format!(
                "The relay's TLS listener {address} needs a certificate: --tls-cert FILE --tls-key FILE."
            ));
        }
        if let Some(address) = self
            .smtp
            .iter()
            .chain(&self.imap)
            .find(|a| !a.ip().is_loopback())
        {
            return Err(format!(
                "{address} is not a loopback address. Devices' passwords cross the network in plain text there; to relay for other machines give the certificate and key: --tls-cert FILE --tls-key FILE."
            ));
        }
        Ok(())
    }
}

/// What every session of one listener knows.
#[derive(Clone)]
pub(super) struct Listener {
    protocol: Protocol,
    /// TLS from the first byte.
    implicit: bool,
    /// The certificate, when there is one: STARTTLS is offered, and passwords
    /// are taken only inside TLS.
    tls: Option<TlsAcceptor>,
    max_bytes: u64,
    /// Each command before the login must come within this time…
    line_time: Duration,
    /// …and the login within this one.
    login_time: Duration,
}

/// Binds every listener (an address in use fails the start) and serves them
/// until `stop`; returns what was bound, for the start-up lines.
pub(super) async fn start(
    gateway: Arc<Gateway>,
    options: &RelayOptions,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: CancellationToken,
) -> Result<Vec<String>, String> {
    options.check(tls.is_some())?;
    let acceptor = tls.map(|config| {
        let mut config = (*config).clone();
        // The gateway's HTTP ALPN is not the mail protocols'.
        config.alpn_protocols.clear();
        TlsAcceptor::from(Arc::new(config))
    });
    let limits = gateway.slots.limits();
    let line_time = limits.header_timeout;
    let mut bound = Vec::new();
    let listeners = [
        (&options.smtp, Protocol::Smtp, false),
        (&options.smtps, Protocol::Smtp, true),
        (&options.imap, Protocol::Imap, false),
        (&options.imaps, Protocol::Imap, true),
    ];
    for (addresses, protocol, implicit) in listeners {
        for address in addresses {
            let socket = TcpListener::bind(address)
                .await
                .map_err(|e| format!("The relay could not listen on {address}: {e}"))?;
            let local = socket
                .local_addr()
                .map_err(|e| format!("The relay could not listen on {address}: {e}"))?;
            let how = match (implicit, &acceptor) {
                (true, _) => "TLS",
                (false, Some(_)) => "STARTTLS",
                (false, None) => "plain, loopback only",
            };
            bound.push(format!("{} {local} ({how})", protocol.name()));
            let listener = Listener {
                protocol,
                implicit,
                tls: acceptor.clone(),
                max_bytes: options.max_bytes,
                line_time,
                login_time: line_time * 6,
            };
            tokio::spawn(accept(gateway.clone(), socket, listener, stop.clone()));
        }
    }
    Ok(bound)
}

async fn accept(
    gateway: Arc<Gateway>,
    socket: TcpListener,
    listener: Listener,
    stop: CancellationToken,
) {
    let mut failures = 0u32;
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = socket.accept() => accepted,
        };
        let (stream, from) = match accepted {
            Ok(accepted) => {
                failures = 0;
                accepted
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                tokio::time::sleep(super::conn::accept_backoff(&error, failures)).await;
                continue;
            }
        };
        // The gateway's connection limits hold for devices too.
        let Some(slot) = gateway.slots.take(from.ip()) else {
            drop(stream);
            continue;
        };
        let gateway = gateway.clone();
        let listener = listener.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = stream.set_nodelay(true);
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = session(gateway, stream, from, listener) => {}
            }
        });
    }
}

async fn session(
    gateway: Arc<Gateway>,
    stream: tokio::net::TcpStream,
    from: SocketAddr,
    listener: Listener,
) {
    let Some(conn) = device::Conn::open(stream, &listener).await else {
        return;
    };
    match listener.protocol {
        Protocol::Smtp => smtp::session(gateway, conn, from.ip(), listener).await,
        Protocol::Imap => imap::session(gateway, conn, from.ip(), listener).await,
    }
}

/// What the relay decodes of a device's credentials, for the fuzz target: a SASL
/// PLAIN response, an AUTH LOGIN answer.
pub(super) fn read_device_input(data: &[u8]) {
    let _ = device::sasl_plain(data);
    let _ = device::base64_text(data);
}

/// How a device's time before its login ended.
enum Outcome<T> {
    /// It said goodbye (QUIT, LOGOUT).
    Quit,
    /// The relay let it go, and why.
    Cut(String),
    /// It logged in, and so did its mailbox upstream (with a note for the audit).
    LoggedIn(Box<(Device, T, Option<String>)>),
}

/// The rest of a device's session: passed through to its mail server within
/// `bounds` when it logged in; then its audit entry (failed logins without a
/// device are many and say little: only devices' sessions and refusals are kept).
async fn finish(
    gateway: &Gateway,
    conn: device::Conn,
    from: std::net::IpAddr,
    protocol: Protocol,
    outcome: Outcome<crate::desk::relay::Session>,
    bounds: splice::Bounds,
) {
    let (result, device, moved) = match outcome {
        Outcome::Quit => (Ok(None), None, splice::Moved::default()),
        Outcome::Cut(why) => (Err(why), None, splice::Moved::default()),
        Outcome::LoggedIn(logged_in) => {
            let (device, upstream, note) = *logged_in;
            let Some((stream, ahead)) = conn.into_parts() else {
                return;
            };
            let (ended, moved) =
                splice::splice(stream, ahead, upstream.stream, upstream.unread, &bounds).await;
            (ended.result(note), Some(device), moved)
        }
    };
    let report = crate::desk::relay::SessionReport {
        protocol,
        from,
        device: device.as_ref(),
        up: moved.up,
        down: moved.down,
        result,
    };
    if report.device.is_some() || report.result.is_err() {
        use crate::desk::model::Clock;
        crate::desk::relay::record_session(
            &gateway.dir(),
            &report,
            crate::desk::model::SystemClock.now(),
        );
    }
}

/// Why the relay could not log in upstream for a device.
pub(super) enum UpstreamTrouble {
    /// No usable token: someone must sign in again, or renewal fails for now.
    NoToken(String),
    /// The mail server refused the token, and the fresh one too.
    Refused(String),
    /// The mail server cannot be reached or spoke no mail protocol.
    Down(String),
}

impl UpstreamTrouble {
    pub(super) fn reason(&self) -> &str {
        match self {
            UpstreamTrouble::NoToken(why)
            | UpstreamTrouble::Refused(why)
            | UpstreamTrouble::Down(why) => why,
        }
    }
}

/// Logs in upstream as the device's mailbox with its access token; when the
/// server refuses it (revoked before its time), once more with a fresh one from
/// the guarded path. Returns the session and a note for the audit log.
pub(super) async fn log_in_upstream<T, F, Fut>(
    gateway: &Arc<Gateway>,
    device: &Device,
    login: F,
) -> Result<(T, Option<String>), UpstreamTrouble>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, LoginError>>,
{
    let no_token = |e: NoToken| UpstreamTrouble::NoToken(e.reason().to_string());
    let handed = gateway
        .access_token(&device.target, device.scope)
        .await
        .map_err(no_token)?;
    let refused = match login(handed.token.expose().to_string()).await {
        Ok(session) => return Ok((session, None)),
        Err(LoginError::Failed(why)) => return Err(UpstreamTrouble::Down(why)),
        Err(LoginError::Refused(why)) => why,
    };
    tracing::info!(device = %device.name, "the mail server refused the cached token; asking for a fresh one");
    let fresh = gateway
        .fresh_access_token(&device.target, device.scope, &handed.token)
        .await
        .map_err(no_token)?;
    match login(fresh.token.expose().to_string()).await {
        Ok(session) => Ok((
            session,
            Some(format!(
                "the mail server refused the cached token ({refused}); a fresh one worked"
            )),
        )),
        Err(LoginError::Failed(why)) => Err(UpstreamTrouble::Down(why)),
        Err(LoginError::Refused(why)) => Err(UpstreamTrouble::Refused(format!(
            "{why}, also with a fresh token: sign {} in again (tokendesk sign-in --data-source \"{}\"{})",
            device.mailbox,
            device.target.data_source,
            device
                .target
                .app_user
                .as_ref()
                .map(|u| format!(" --user \"{u}\""))
                .unwrap_or_default()
        ))),
    }
}

/// The audit entry of a login the mail server did not take (the device heard
/// why and may try again or leave).
pub(super) fn refused_upstream(
    gateway: &Gateway,
    protocol: Protocol,
    from: std::net::IpAddr,
    device: &Device,
    why: &str,
) {
    use crate::desk::model::Clock;
    let report = crate::desk::relay::SessionReport {
        protocol,
        from,
        device: Some(device),
        up: 0,
        down: 0,
        result: Err(format!("the mail server did not let the mailbox in: {why}")),
    };
    crate::desk::relay::record_session(
        &gateway.dir(),
        &report,
        crate::desk::model::SystemClock.now(),
    );
}
