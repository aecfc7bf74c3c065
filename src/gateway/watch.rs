//! The gateway sees what other processes change in the vault within a fraction of
//! a second: a consumer removed by the CLI or the window is refused, a new one is
//! served, a token signed in elsewhere is handed out. It looks at the vault
//! file's size, time and identity five times a second (for a shared vault, the
//! database's generation), which costs nothing while nothing changes, and reads
//! the vault again only when it did.
//!
//! It is also where a store that went backwards is caught (a vault file restored
//! by a backup tool while the gateway runs): the older copy is never used to
//! redeem, the newer refresh tokens the gateway knows are kept in a rescue file,
//! and /healthz says what happened.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Gateway;
use crate::desk::model::VaultError;
use crate::desk::watch::{Announcer, Stamp, file_stamp, look};

/// How often the vault file is looked at.
pub(super) const WATCH_EVERY: Duration = Duration::from_millis(200);

pub(super) async fn watch_store(gateway: Arc<Gateway>, stop: CancellationToken) {
    let dir = gateway.dir();
    let handle = gateway.vault.lock().await.watcher();
    let shared = handle.shared_location().is_some();
    let announcer = std::sync::Mutex::new(Announcer::new("gateway"));
    let stamp_now = move || {
        if shared {
            // A database: its generation, asked in one small query; and the
            // other machines' windows are told this gateway is here.
            announcer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .announce(&handle);
            return look(&handle);
        }
        // The folder the gateway was started on, even when the file is replaced.
        file_stamp(&dir)
    };
    let look = Arc::new(stamp_now);
    let mut last = {
        let look = look.clone();
        tokio::task::spawn_blocking(move || look())
            .await
            .unwrap_or(Stamp::Missing(std::io::ErrorKind::Other))
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
        let now = {
            let look = look.clone();
            tokio::task::spawn_blocking(move || look())
                .await
                .unwrap_or(Stamp::Missing(std::io::ErrorKind::Other))
        };
        if now == last {
            continue;
        }
        last = now;
        gateway.reread().await;
    }
}

/// Gives the heap pages freed by a re-read (the old copy of every record) back
/// to the system: glibc keeps them otherwise, and a gateway that re-reads a vault
/// of thousands of tokens would grow by a copy's worth of fragments each time.
pub(super) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Gateway {
    /// Reads the vault again after another process changed it; a rollback is
    /// rescued, an unreadable vault is reported while the last good copy serves.
    pub(super) async fn reread(&self) {
        let mut vault = self.vault.lock().await;
        match vault.reload() {
            Ok(_) => {
                self.publish(vault.shared_data());
                drop(vault);
                release_freed_memory();
                self.wake_notifier();
                let mut problem = self.store_problem.lock().unwrap_or_else(|e| e.into_inner());
                if problem.as_deref().is_some_and(|p| !p.contains("went back")) {
                    *problem = None;
                }
            }
            Err(VaultError::RolledBack { .. }) => {
                let newest = self.data();
                let report = crate::desk::vault_file::rescue_rollback(
                    &mut vault,
                    &newest,
                    chrono::Utc::now(),
                );
                let message = match report {
                    Ok(report) => {
                        self.publish_accepted(vault.shared_data());
                        report.message()
                    }
                    Err(e) => format!(
                        "The vault went back to an older generation, and the newer tokens could not be kept in a rescue file ({e}). The gateway does not renew from the older copy; restore the newer vault file."
                    ),
                };
                tracing::error!("{message}");
                *self.store_problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
            }
            Err(e) => {
                let message = format!(
                    "The vault cannot be read ({e}). The gateway serves the tokens it last read and renews none until the vault can be read again."
                );
                tracing::warn!("{message}");
                *self.store_problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
                self.wake_notifier();
            }
        }
    }
}
