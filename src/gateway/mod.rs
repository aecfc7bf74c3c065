//! `tokendesk serve`: the vault unlocked once, the keep-alive running all the time,
//! and access tokens handed to applications over HTTP on a loopback address (with a
//! consumer key) and to local programs over a socket only this OS user can open.
//! A face like the window and the CLI: everything it does goes through `desk`.

mod handlers;
mod local;
mod metrics;
#[cfg(windows)]
mod pipe;
mod tls;
#[cfg(windows)]
pub mod windows_service;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::desk::DeskError;
use crate::desk::model::{Clock, Secret, SystemClock, TokenTarget, TokioSleeper, Vault, VaultData};
use crate::desk::tokens::{RenewOptions, Selection};

pub use local::{LocalRequest, SOCKET_FILE, ask_local_gateway};
pub use metrics::Metrics;

/// Where and how the gateway runs.
pub struct ServeOptions {
    pub address: crate::desk::schedule::GatewayAddress,
    /// How often the keep-alive looks for due tokens; `None`: the vault's setting.
    pub keepalive_every: Option<Duration>,
    /// Cancelled to stop (as Ctrl+C and SIGTERM do): the Windows service manager's
    /// Stop, for one.
    pub stop: CancellationToken,
}

/// What every request handler shares.
pub(crate) struct Gateway {
    dir: PathBuf,
    /// The vault as last read or written; requests answered from the cache read
    /// only this, never the disk.
    snapshot: RwLock<Arc<VaultData>>,
    /// The handle that redeems and renews (its writes go through the guarded path).
    vault: tokio::sync::Mutex<Vault>,
    /// One redemption per token at a time: the others wait here, then find the
    /// fresh access token in the snapshot.
    flights: Mutex<HashMap<TokenTarget, Arc<tokio::sync::Mutex<()>>>>,
    pub(crate) metrics: Metrics,
    /// Bad keys per address, to slow guessing down.
    failures: Mutex<HashMap<std::net::IpAddr, u32>>,
    pub(crate) next_keepalive: Mutex<Option<DateTime<Utc>>>,
    /// Listening beyond loopback: `/metrics` wants a consumer key too.
    pub(crate) public: bool,
}

/// A token handed out, with when it stops working.
pub(crate) struct HandOut {
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
}

impl Gateway {
    fn new(vault: Vault, public: bool) -> Self {
        Gateway {
            dir: vault.dir().to_path_buf(),
            snapshot: RwLock::new(Arc::new(vault.data().clone())),
            vault: tokio::sync::Mutex::new(vault),
            flights: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            failures: Mutex::new(HashMap::new()),
            next_keepalive: Mutex::new(None),
            public,
        }
    }

    pub(crate) fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    pub(crate) fn data(&self) -> Arc<VaultData> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn publish(&self, data: &VaultData) {
        let mut snapshot = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        if data.generation >= snapshot.generation {
            *snapshot = Arc::new(data.clone());
        }
    }

    /// An access token for `target`: from the snapshot while it lives five more
    /// minutes, else one redemption through the guarded path while every other
    /// request for the same token waits for it.
    pub(crate) async fn access_token(
        &self,
        target: &TokenTarget,
        scope: Option<&str>,
    ) -> Result<HandOut, DeskError> {
        let now = SystemClock.now();
        if let Some((token, expires_at)) =
            crate::desk::tokens::cached_access(&self.data(), target, scope, now)
        {
            self.metrics.cache_hit();
            return Ok(HandOut { token, expires_at });
        }
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.entry(target.clone()).or_default().clone()
        };
        let result = self.redeem_in_turn(&flight, target, scope).await;
        // The last one out removes the token's queue, so the map holds only tokens
        // being redeemed now, not every token ever asked for.
        {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            if Arc::strong_count(&flight) == 2 {
                flights.remove(target);
            }
        }
        result
    }

    async fn redeem_in_turn(
        &self,
        flight: &tokio::sync::Mutex<()>,
        target: &TokenTarget,
        scope: Option<&str>,
    ) -> Result<HandOut, DeskError> {
        let _turn = flight.lock().await;
        // The request ahead of this one may have renewed it meanwhile.
        if let Some((token, expires_at)) =
            crate::desk::tokens::cached_access(&self.data(), target, scope, SystemClock.now())
        {
            self.metrics.cache_hit();
            return Ok(HandOut { token, expires_at });
        }
        let mut handle = self.vault.lock().await.another_handle();
        let result =
            crate::desk::tokens::access_token(&mut handle, target, scope, &SystemClock).await;
        self.publish(handle.data());
        self.metrics.redemption(result.is_ok());
        let (token, expires_at) = result?;
        Ok(HandOut { token, expires_at })
    }

    /// Tokens with requests waiting for a redemption (for tests and metrics).
    #[cfg(test)]
    fn flights_in_progress(&self) -> usize {
        self.flights.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A bad key from `from`: the answer waits a little longer each time (at most
    /// two seconds), so guessing keys is slow.
    pub(crate) async fn bad_key(&self, from: std::net::IpAddr) {
        let count = {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            let count = failures.entry(from).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        let delay = Duration::from_millis(u64::from(count.min(20)) * 100);
        tokio::time::sleep(delay).await;
    }

    pub(crate) fn good_key(&self, from: std::net::IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&from);
    }

    /// Renews what is due, through the guarded path; other processes may renew
    /// beside it. Reads the vault again first, so their changes are served too.
    async fn keepalive(&self) {
        let mut vault = self.vault.lock().await;
        if let Err(e) = vault.reload() {
            tracing::warn!(error = %e, "the gateway could not re-read the vault");
        }
        let mut handle = vault.another_handle();
        drop(vault);
        let report = crate::desk::tokens::renew(
            &mut handle,
            &Selection::Due,
            &RenewOptions::default(),
            &SystemClock,
            &TokioSleeper,
            |_| {},
        )
        .await;
        self.publish(handle.data());
        self.metrics
            .keepalive_finished(report.as_ref().ok().map(|r| r.counts()));
        if let Err(e) = report {
            tracing::warn!(error = %e, "keep-alive run failed");
        }
    }
}

/// Runs the gateway until Ctrl+C or SIGTERM: never in the middle of a vault write,
/// since every write is one guarded step the shutdown waits for.
pub async fn serve(vault: Vault, options: ServeOptions) -> Result<(), String> {
    let address = &options.address;
    address.check()?;
    // The files are read before anything listens: a wrong path fails at once.
    let tls = address.tls.as_ref().map(tls::load).transpose()?;
    let dir = vault.dir().to_path_buf();
    let interval = options.keepalive_every.unwrap_or_else(|| {
        let hours = vault.data().settings.keepalive_interval_hours.max(1);
        Duration::from_secs(u64::try_from(hours).unwrap_or(4) * 3600)
    });
    let gateway = Arc::new(Gateway::new(vault, address.is_public()));
    let cannot_listen = |e: std::io::Error| format!("Could not listen on {}: {e}", address.listen);
    let listener = tokio::net::TcpListener::bind(address.listen)
        .await
        .map_err(cannot_listen)?;
    let bound = listener.local_addr().map_err(cannot_listen)?;
    let stop = options.stop.clone();
    let socket = local::serve(&dir, gateway.clone(), stop.clone()).map_err(|e| {
        // Windows refuses a first pipe instance that exists with "access denied".
        let taken = e.kind() == std::io::ErrorKind::AddrInUse
            || (cfg!(windows) && e.kind() == std::io::ErrorKind::PermissionDenied);
        if taken {
            format!(
                "A gateway already serves the vault in {}: stop that one first (Ctrl+C, or `tokendesk service remove`), or let applications ask it.",
                dir.display()
            )
        } else {
            format!("Could not open the local socket in {}: {e}", dir.display())
        }
    })?;
    println!("tokendesk gateway listening on {}", address.url(bound));
    println!("  local programs: {}", socket.display());
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let keepalive = tokio::spawn(keepalive_loop(gateway.clone(), interval, stop.clone()));
    let app = handlers::router(gateway.clone());
    let shutdown = stop.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.cancel();
    });
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let graceful = stop.clone().cancelled_owned();
    let served = match tls {
        None => {
            axum::serve(listener, service)
                .with_graceful_shutdown(graceful)
                .await
        }
        Some(config) => {
            use axum::serve::ListenerExt;
            // tap_io: so that handlers see the peer's SocketAddr as over plain TCP.
            let listener = tls::TlsListener::new(listener, config)
                .map_err(cannot_listen)?
                .tap_io(|_| {});
            axum::serve(listener, service)
                .with_graceful_shutdown(graceful)
                .await
        }
    };
    stop.cancel();
    // A keep-alive run in progress finishes its current writes before this returns.
    let _ = keepalive.await;
    #[cfg(unix)]
    let _ = std::fs::remove_file(&socket);
    served.map_err(|e| format!("The gateway stopped: {e}"))
}

async fn keepalive_loop(gateway: Arc<Gateway>, interval: Duration, stop: CancellationToken) {
    // A little jitter so that many gateways do not ask the provider at once.
    let jitter = |base: Duration| base + Duration::from_millis(rand::random::<u64>() % 1000);
    let mut wait = jitter(Duration::from_secs(1));
    loop {
        *gateway
            .next_keepalive
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = chrono::Duration::from_std(wait)
            .ok()
            .map(|d| Utc::now() + d);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        gateway.keepalive().await;
        wait = jitter(interval);
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The vault folder's socket, for the window's status strip and `token`.
pub fn socket_path(dir: &std::path::Path) -> PathBuf {
    dir.join(SOCKET_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::crypto::KdfParams;
    use crate::vault::{DataSource, KeySource};

    #[tokio::test]
    async fn a_tokens_queue_goes_once_nobody_waits_for_it() {
        crate::identity::http::install_crypto_provider();
        let dir = tempfile::tempdir().expect("dir");
        let keys = KeySource::native()
            .with_passphrase(Secret::new("flights"))
            .with_kdf(KdfParams::with_cost(64, 1, 1));
        let mut vault = Vault::create(dir.path(), &keys, false).expect("vault");
        // A provider nobody listens on: every redemption fails at once.
        let provider = crate::identity::ProviderConfig {
            authority: crate::identity::Authority::Issuer {
                url: "http://127.0.0.1:9/".parse().expect("url"),
            },
            client_id: "client".into(),
            client_secret: None,
            scopes: crate::identity::Scopes::Custom("openid offline_access".into()),
        };
        let mut source = DataSource::new("A", provider, "someone@example.com");
        source.token.refresh_token = Some(Secret::new("rt"));
        vault
            .update(|data| data.add_data_source(source))
            .expect("add");
        let gateway = Arc::new(Gateway::new(vault, false));
        let target = TokenTarget {
            data_source: "A".into(),
            app_user: None,
        };
        let asks: Vec<_> = (0..5)
            .map(|_| {
                let gateway = gateway.clone();
                let target = target.clone();
                tokio::spawn(async move { gateway.access_token(&target, None).await.is_err() })
            })
            .collect();
        for ask in asks {
            assert!(ask.await.expect("task"), "nobody answers, so no token");
        }
        assert_eq!(gateway.flights_in_progress(), 0);
    }
}
