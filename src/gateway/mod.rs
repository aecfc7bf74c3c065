//! `tokendesk serve`: the vault unlocked once, the keep-alive running all the time,
//! and access tokens handed to applications over HTTP on a loopback address (with a
//! consumer key) and to local programs over a socket only this OS user can open.
//! A face like the window and the CLI: everything it does goes through `desk`.

mod answer;
mod conn;
mod handlers;
pub mod heap;
mod holds;
mod local;
mod metrics;
mod notifying;
#[cfg(windows)]
mod pipe;
pub mod relay;
mod tls;
mod watch;
#[cfg(windows)]
pub mod windows_service;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::desk::model::{SystemClock, TokenTarget, TokioSleeper, Vault, VaultData};
use crate::desk::tokens::{HandOutTally, RenewOptions, Selection};

pub(crate) use answer::NoToken;
pub use conn::Limits;
pub use local::{LocalRequest, SOCKET_FILE, ask_local_gateway};
pub use metrics::Metrics;

/// Where and how the gateway runs.
pub struct ServeOptions {
    pub address: crate::desk::schedule::GatewayAddress,
    /// How often the keep-alive looks for due tokens; `None`: the vault's setting.
    pub keepalive_every: Option<Duration>,
    /// How often the notifiers' pass runs when nothing wakes it earlier.
    pub notify_every: Duration,
    /// What one client may hold: time limits and connection counts.
    pub limits: Limits,
    /// The mail relay's listeners (none: no relay).
    pub relay: relay::RelayOptions,
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
    /// When each token was last redeemed afresh because a mail server refused
    /// it, and when that fresh access token ends (which tells it apart).
    fresh: Mutex<HashMap<TokenTarget, (Instant, DateTime<Utc>)>>,
    /// Tokens not to ask the provider about until their backoff ends.
    holds: holds::Holds,
    /// Held for reading by every redemption in progress; shutdown takes it for
    /// writing, so it never ends the process between an answer and its storing.
    writes: Arc<tokio::sync::RwLock<()>>,
    pub(crate) metrics: Metrics,
    pub(crate) tally: HandOutTally,
    /// Bad keys per address, to slow guessing down.
    failures: Mutex<HashMap<std::net::IpAddr, (u32, Instant)>>,
    pub(crate) next_keepalive: Mutex<Option<DateTime<Utc>>>,
    /// The store cannot be read, or went backwards: what /healthz reports.
    pub(crate) store_problem: Mutex<Option<String>>,
    /// The last keep-alive run's failures for now, if it had any.
    pub(crate) keepalive_trouble: Mutex<Option<String>>,
    /// Listening beyond loopback: `/metrics` wants a consumer key too.
    pub(crate) public: bool,
    /// Wakes the notification loop (a keep-alive run ended, a token was refused).
    notify_wake: tokio::sync::Notify,
    /// The store problem the notifiers were last told about.
    store_announced: Mutex<Option<String>>,
    pub(crate) notify_totals: notifying::NotifyTotals,
    pub(crate) slots: Arc<conn::Slots>,
}

/// The bad-key table is pruned of addresses quiet for this long.
const BAD_KEY_MEMORY: Duration = Duration::from_secs(600);
/// Past this many addresses, the bad-key table is pruned at once.
const BAD_KEY_ADDRESSES: usize = 4096;

impl Gateway {
    fn new(vault: Vault, public: bool, limits: Limits) -> Self {
        Gateway {
            dir: vault.dir().to_path_buf(),
            snapshot: RwLock::new(vault.shared_data()),
            tally: HandOutTally::in_dir(vault.dir()),
            vault: tokio::sync::Mutex::new(vault),
            flights: Mutex::new(HashMap::new()),
            fresh: Mutex::new(HashMap::new()),
            holds: holds::Holds::default(),
            writes: Arc::new(tokio::sync::RwLock::new(())),
            metrics: Metrics::default(),
            failures: Mutex::new(HashMap::new()),
            next_keepalive: Mutex::new(None),
            store_problem: Mutex::new(None),
            keepalive_trouble: Mutex::new(None),
            public,
            notify_wake: tokio::sync::Notify::new(),
            store_announced: Mutex::new(None),
            notify_totals: notifying::NotifyTotals::default(),
            slots: conn::Slots::new(limits),
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

    fn publish(&self, data: Arc<VaultData>) {
        let mut snapshot = self.snapshot.write().unwrap_or_else(|e| e.into_inner());
        if data.generation >= snapshot.generation {
            *snapshot = data;
        }
    }

    /// Replaces the snapshot even with a lower generation (after a rollback was
    /// rescued and accepted).
    fn publish_accepted(&self, data: Arc<VaultData>) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = data;
    }

    /// Tokens with requests waiting for a redemption (for tests and metrics).
    #[cfg(test)]
    fn flights_in_progress(&self) -> usize {
        self.flights.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A bad key from `from`: the answer waits a little longer each time (at most
    /// two seconds), so guessing keys is slow. Addresses quiet for ten minutes are
    /// forgotten, so the table stays small.
    pub(crate) async fn bad_key(&self, from: std::net::IpAddr) {
        let count = {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if failures.len() >= BAD_KEY_ADDRESSES {
                failures.retain(|_, (_, last)| last.elapsed() < BAD_KEY_MEMORY);
            }
            let entry = failures.entry(from).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= BAD_KEY_MEMORY {
                entry.0 = 0;
            }
            entry.0 = entry.0.saturating_add(1);
            entry.1 = Instant::now();
            entry.0
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

    /// Drops addresses whose bad keys are older than the memory (the periodic
    /// housekeeping does this).
    fn prune(&self) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (_, last)| last.elapsed() < BAD_KEY_MEMORY);
        self.holds.prune(Instant::now());
    }

    #[cfg(test)]
    fn bad_key_addresses(&self) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Renews what is due, through the guarded path; other processes may renew
    /// beside it. Reads the vault again first, so their changes are served too.
    async fn keepalive(&self) {
        let _writing = self.writes.clone().read_owned().await;
        let mut vault = self.vault.lock().await;
        if let Err(e) = vault.reload() {
            tracing::warn!(error = %e, "the gateway could not re-read the vault");
        }
        let mut handle = vault.another_handle();
        drop(vault);
        let report = crate::desk::tokens::renew_publishing(
            &mut handle,
            &Selection::Due,
            &RenewOptions::default(),
            &SystemClock,
            &TokioSleeper,
            |renewed| {
                // Served at once; and the gateway's own handle (when free) lets
                // the older copy of every renewed record go now, not at the end.
                self.publish(renewed.shared_data());
                if let Ok(mut vault) = self.vault.try_lock() {
                    vault.adopt(renewed);
                }
            },
        )
        .await;
        self.publish(handle.shared_data());
        self.vault.lock().await.adopt(&handle);
        let counts = report.as_ref().ok().map(|r| r.counts());
        let trouble = match (&report, &counts) {
            (Err(e), _) => Some(format!("The last keep-alive run failed: {e}")),
            (Ok(_), Some(counts)) if counts.failed > 0 => Some(format!(
                "The last keep-alive run could not renew {} token(s) for now; they are tried again at the next run.",
                counts.failed
            )),
            _ => None,
        };
        *self
            .keepalive_trouble
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = trouble;
        self.metrics.keepalive_finished(counts);
        if let Err(e) = report {
            tracing::warn!(error = %e, "keep-alive run failed");
        }
        // The report (a line per token) and the run's handle are gone before the
        // freed pages go back to the system.
        drop(handle);
        watch::release_freed_memory();
        self.wake_notifier();
    }

    /// Why /healthz is not "ok": `failing` when the store is unreadable or went
    /// backwards, or someone must sign in again; `degraded` when renewal fails for
    /// now while tokens are still served.
    pub(crate) fn health(&self, need_action: usize) -> (&'static str, Vec<String>) {
        let mut failing = Vec::new();
        if let Some(problem) = self
            .store_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            failing.push(problem);
        }
        if need_action > 0 {
            failing.push(format!(
                "{need_action} token(s) need an admin: sign in again (see `tokendesk status`)."
            ));
        }
        if !failing.is_empty() {
            return ("failing", failing);
        }
        let mut degraded = self.holds.reasons(Instant::now());
        if let Some(trouble) = self
            .keepalive_trouble
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            degraded.push(trouble);
        }
        if degraded.is_empty() {
            ("ok", degraded)
        } else {
            ("degraded", degraded)
        }
    }
}

/// Runs the gateway until Ctrl+C or SIGTERM: never in the middle of a vault write,
/// since every write is one guarded step the shutdown waits for.
pub async fn serve(vault: Vault, options: ServeOptions) -> Result<(), String> {
    crate::desk::watch::set_face("gateway");
    let address = &options.address;
    address.check()?;
    // The files are read before anything listens: a wrong path fails at once.
    let tls = address.tls.as_ref().map(tls::load).transpose()?;
    options.relay.check(tls.is_some())?;
    let dir = vault.dir().to_path_buf();
    let interval = options.keepalive_every.unwrap_or_else(|| {
        let hours = vault.data().settings.keepalive_interval_hours.max(1);
        Duration::from_secs(u64::try_from(hours).unwrap_or(4) * 3600)
    });
    let limits = options.limits.within_process_limits();
    let gateway = Arc::new(Gateway::new(vault, address.is_public(), limits));
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
    let relaying = relay::start(gateway.clone(), &options.relay, tls.clone(), stop.clone()).await?;
    println!("tokendesk gateway listening on {}", address.url(bound));
    println!("  local programs: {}", socket.display());
    for listener in relaying {
        println!("  mail relay: {listener}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let keepalive = tokio::spawn(keepalive_loop(gateway.clone(), interval, stop.clone()));
    let watcher = tokio::spawn(watch::watch_store(gateway.clone(), stop.clone()));
    let housekeeping = tokio::spawn(housekeeping(gateway.clone(), stop.clone()));
    let notifier = tokio::spawn(notifying::notify_loop(
        gateway.clone(),
        options.notify_every,
        stop.clone(),
    ));
    let shutdown = stop.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.cancel();
    });
    let app = handlers::router(gateway.clone());
    conn::serve(listener, tls, app, gateway.slots.clone(), stop.clone()).await;
    stop.cancel();
    // A keep-alive run in progress finishes its current writes before this returns,
    // and so does every redemption a request started.
    let _ = keepalive.await;
    let _ = watcher.await;
    let _ = housekeeping.await;
    let _ = notifier.await;
    let _ = gateway.writes.write().await;
    gateway.tally.flush(None);
    #[cfg(unix)]
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// Every few seconds: the finished minutes of hand-out counts into their log, and
/// the tables of bad keys and backoffs pruned.
async fn housekeeping(gateway: Arc<Gateway>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        let tally = gateway.clone();
        let _ = tokio::task::spawn_blocking(move || tally.tally.flush(Some(Utc::now()))).await;
        gateway.prune();
    }
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

/// Everything the gateway parses of a client's input, for the fuzz target: the
/// local socket's question line, then a line each for the Authorization and
/// X-API-Key values and the token query; the whole input also as a mail relay
/// device's credentials.
pub fn read_client_input(data: &[u8]) {
    relay::read_device_input(data);
    let mut lines = data.splitn(4, |b| *b == b'\n');
    let question = lines.next().unwrap_or_default();
    let _ = serde_json::from_slice::<LocalRequest>(question);
    let authorization = lines.next().unwrap_or_default();
    let api_key = lines.next().unwrap_or_default();
    let query = lines.next().unwrap_or_default();
    handlers::read_request_parts(authorization, api_key, query);
}

/// The vault folder's socket, for the window's status strip and `token`.
pub fn socket_path(dir: &std::path::Path) -> PathBuf {
    dir.join(SOCKET_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::model::Secret;
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
        let gateway = Arc::new(Gateway::new(vault, false, Limits::default()));
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

    #[tokio::test]
    async fn addresses_with_old_bad_keys_are_forgotten() {
        crate::identity::http::install_crypto_provider();
        let dir = tempfile::tempdir().expect("dir");
        let keys = KeySource::native()
            .with_passphrase(Secret::new("prune"))
            .with_kdf(KdfParams::with_cost(64, 1, 1));
        let vault = Vault::create(dir.path(), &keys, false).expect("vault");
        let gateway = Gateway::new(vault, false, Limits::default());
        let long_ago = Instant::now()
            .checked_sub(BAD_KEY_MEMORY + Duration::from_secs(1))
            .expect("an instant long ago");
        {
            let mut failures = gateway.failures.lock().expect("lock");
            for n in 0..100u8 {
                failures.insert(std::net::IpAddr::from([10, 0, 0, n]), (3, long_ago));
            }
            failures.insert(std::net::IpAddr::from([10, 0, 1, 1]), (3, Instant::now()));
        }
        gateway.prune();
        assert_eq!(gateway.bad_key_addresses(), 1, "only the recent one stays");
    }
}
