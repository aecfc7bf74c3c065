//! The vault's store is an interface (`tokendesk::vault::Backend`): a second store,
//! here one that keeps the records in memory, runs the guarded redemption path,
//! the keep-alive and `desk` unchanged — what a shared database store will do.
//! The loopback provider rotates and revokes a grant on any replay, so a store
//! that lost a rotated token or let two redemptions race would show here.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokendesk::desk::model::{SystemClock, TokioSleeper};
use tokendesk::desk::tokens::{RenewOptions, Selection};
use tokendesk::redemption::LockFailure;
use tokendesk::vault::backend::Change;
use tokendesk::vault::rescue::RescueEntry;
use tokendesk::vault::reserve::WriteReservation;
use tokendesk::vault::{Backend, TokenGuard, TokenId, Vault, VaultData, VaultError};

use crate::support::desk;
use crate::support::provider::TestProvider;

/// Records in memory, written whole under a mutex; token locks in a set.
struct MemoryStore {
    folder: tempfile::TempDir,
    data: Mutex<VaultData>,
    locked: Arc<Mutex<HashSet<TokenId>>>,
    writes: AtomicUsize,
}

struct Unlock {
    set: Arc<Mutex<HashSet<TokenId>>>,
    id: TokenId,
}

impl Drop for Unlock {
    fn drop(&mut self) {
        self.set.lock().unwrap().remove(&self.id);
    }
}

impl Backend for MemoryStore {
    fn folder(&self) -> &Path {
        self.folder.path()
    }

    fn is_passphrase_protected(&self) -> bool {
        false
    }

    fn read(&self) -> Result<VaultData, VaultError> {
        Ok(self.data.lock().unwrap().clone())
    }

    fn update(&self, change: Change<'_>) -> Result<VaultData, VaultError> {
        let mut stored = self.data.lock().unwrap();
        let mut next = stored.clone();
        change(&mut next)?;
        next.generation += 1;
        *stored = next.clone();
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(next)
    }

    fn reserve_write(&self, _growth: u64) -> Result<WriteReservation, VaultError> {
        Ok(WriteReservation::transactional())
    }

    fn update_reserved(
        &self,
        _reservation: &mut WriteReservation,
        change: Change<'_>,
    ) -> Result<VaultData, VaultError> {
        self.update(change)
    }

    fn write_rescue(
        &self,
        _reservation: &mut WriteReservation,
        _entries: &[RescueEntry],
        _now: chrono::DateTime<Utc>,
    ) -> Result<std::path::PathBuf, VaultError> {
        Err(VaultError::Invalid(
            "an in-memory store never needs a rescue".into(),
        ))
    }

    fn try_lock_token(&self, id: &TokenId) -> Result<TokenGuard, LockFailure> {
        if !self.locked.lock().unwrap().insert(*id) {
            return Err(LockFailure::Busy {
                holder: "another handle".into(),
            });
        }
        Ok(TokenGuard::new(Unlock {
            set: self.locked.clone(),
            id: *id,
        }))
    }
}

#[test]
fn another_store_runs_the_guarded_path_and_the_keep_alive_unchanged() {
    // Rotating, and revoking the whole grant when a retired token comes back.
    let provider = TestProvider::oidc();
    let home = crate::support::temp_dir();
    desk::add_source(
        &provider,
        home.path(),
        "Exchange",
        crate::support::oidc_config(&provider),
        20,
        Utc::now() - chrono::Duration::days(30),
    );
    let on_disk = Vault::open(home.path(), &desk::keys()).expect("vault");
    let disk_generation = on_disk.generation();
    let store = Arc::new(MemoryStore {
        folder: crate::support::temp_dir(),
        data: Mutex::new(on_disk.data().clone()),
        locked: Arc::default(),
        writes: AtomicUsize::new(0),
    });
    let mut vault = Vault::with_backend(store.clone()).expect("read");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Access tokens that live a minute are never handed out from the cache.
    provider.set_access_lifetime(60);
    runtime.block_on(async {
        // The keep-alive renews all 21 tokens into the store.
        let report = tokendesk::desk::tokens::renew(
            &mut vault,
            &Selection::Due,
            &RenewOptions::default(),
            &SystemClock,
            &TokioSleeper,
            |_| {},
        )
        .await
        .expect("renew");
        assert_eq!(report.counts().renewed, 21, "{report:?}");

        // Two handles redeem the same token at once: the store's lock makes them
        // take turns, and the second sends the token the first stored.
        // Slow answers, so that both would be in flight at once without the lock.
        provider.set_token_latency(std::time::Duration::from_millis(300));
        let target = tokendesk::desk::model::TokenTarget {
            data_source: "Exchange".into(),
            app_user: Some("USER/3".into()),
        };
        let mut first = vault.another_handle();
        let mut second = vault.another_handle();
        let (a, b) = tokio::join!(
            tokendesk::desk::tokens::access_token(&mut first, &target, None, &SystemClock),
            tokendesk::desk::tokens::access_token(&mut second, &target, None, &SystemClock),
        );
        assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    });
    assert_eq!(provider.replays(), 0, "no retired token was sent");
    assert_eq!(provider.revoked_grants(), 0);
    vault.reload().expect("read");
    provider.assert_every_grant_current(vault.data());
    assert!(store.writes.load(Ordering::SeqCst) >= 2);
    // Everything went to the other store: the file it was copied from is as it was.
    let file = Vault::open(home.path(), &desk::keys()).expect("file");
    assert_eq!(file.generation(), disk_generation);
}
