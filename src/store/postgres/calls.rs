//! How the synchronous store interface calls into the store's own runtime: a
//! change in two phases (the newest records out to the caller's thread, the
//! changed ones back), and the audit spool shipped as the store is dropped.

use std::time::Duration;

use super::runtime::run;
use super::{PostgresStore, StoreError};
use crate::vault::VaultError;

impl PostgresStore {
    /// A change in two phases across the store's runtime: `task` sends the newest
    /// records, `change` is applied to them on this thread (the caller's closure
    /// need not be `Send`), and `task` stores what comes back (`None` when the
    /// change refused: nothing is written).
    pub(super) fn two_phase<T, R, Fut>(
        &self,
        task: impl FnOnce(
            std::sync::mpsc::SyncSender<Result<T, StoreError>>,
            tokio::sync::oneshot::Receiver<Option<T>>,
        ) -> Fut,
        change: impl FnOnce(&mut T) -> Result<(), VaultError>,
    ) -> Result<R, VaultError>
    where
        T: Send + 'static,
        R: Send + 'static,
        Fut: std::future::Future<Output = Result<Option<R>, StoreError>> + Send + 'static,
    {
        let (newest_tx, newest) = std::sync::mpsc::sync_channel(1);
        let (changed, changed_rx) = tokio::sync::oneshot::channel();
        let (done_tx, done) = std::sync::mpsc::sync_channel(1);
        let work = task(newest_tx, changed_rx);
        self.runtime.spawn(async move {
            let _ = done_tx.send(work.await);
        });
        let stopped = |e: std::sync::mpsc::RecvTimeoutError| {
            VaultError::from(StoreError::Stopped(e.to_string()))
        };
        let mut value = newest
            .recv_timeout(Duration::from_secs(120))
            .map_err(stopped)??;
        let refused = change(&mut value).err();
        let _ = changed.send(refused.is_none().then_some(value));
        let stored = done
            .recv_timeout(Duration::from_secs(120))
            .map_err(stopped)??;
        if let Some(refused) = refused {
            return Err(refused);
        }
        stored.ok_or_else(|| {
            VaultError::from(StoreError::Stopped("the change was not stored".into()))
        })
    }
}

impl Drop for PostgresStore {
    /// What this process wrote to the audit spool goes to the database as it ends
    /// (a command's own entries); what cannot go now waits in the spool.
    fn drop(&mut self) {
        let live = self
            .shared
            .client
            .try_lock()
            .is_ok_and(|client| client.as_ref().is_some_and(|c| !c.is_closed()));
        if !live {
            // No waiting for a database that is away: the spool keeps the lines.
            return;
        }
        let shared = self.shared.clone();
        let folder = self.folder.clone();
        if let Err(error) = run(
            &self.runtime,
            async move { shared.ship_audit(&folder).await },
        ) {
            tracing::debug!(%error, "the audit spool waits for the database");
        }
    }
}
