//! A token's lock across machines: a lease row, renewed while its holder lives
//! and gone at most `LEASE` after it died; released by its own holder only.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::LEASE;
use super::runtime::{OwnRuntime, run};
use super::shared::Shared;

/// A held token lease: renewed in the background, released when dropped.
pub(super) struct Lease {
    shared: Arc<Shared>,
    runtime: Arc<OwnRuntime>,
    token: String,
    holder: String,
    renewing: CancellationToken,
}

impl Lease {
    pub(super) fn hold(
        shared: Arc<Shared>,
        runtime: Arc<OwnRuntime>,
        token: String,
        holder: String,
    ) -> Self {
        let renewing = CancellationToken::new();
        let (task_shared, task_token, task_holder, stop) = (
            shared.clone(),
            token.clone(),
            holder.clone(),
            renewing.clone(),
        );
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(LEASE / 3) => {}
                }
                // Boxed: the database call's state is large, and a keep-alive
                // holds hundreds of leases whose tasks mostly sleep.
                Box::pin(extend(&task_shared, &task_token, &task_holder)).await;
            }
        });
        Lease {
            shared,
            runtime,
            token,
            holder,
            renewing,
        }
    }
}

/// Extends this holder's lease on `token` (never another holder's).
async fn extend(shared: &Shared, token: &str, holder: &str) {
    if let Ok(db) = shared.client().await {
        let lease = format!("{} seconds", LEASE.as_secs());
        let _ = db
            .execute(
                "UPDATE tokendesk_locks SET expires_at = now() + $4::text::interval
                 WHERE vault = $1 AND token = $2 AND holder = $3",
                &[&shared.vault, &token, &holder, &lease],
            )
            .await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewing.cancel();
        let (shared, token, holder) =
            (self.shared.clone(), self.token.clone(), self.holder.clone());
        // Only its own lease: one that lapsed and was taken over stays the other's.
        let _ = run(&self.runtime, async move {
            let db = shared.client().await?;
            db.execute(
                "DELETE FROM tokendesk_locks WHERE vault = $1 AND token = $2 AND holder = $3",
                &[&shared.vault, &token, &holder],
            )
            .await?;
            Ok(())
        });
    }
}
