//! How a handle takes what a read brings. A read that another handle of the same
//! process overtakes is late, not a store gone back: the gateway's watcher
//! re-reads while its keep-alive writes, and a slow read (a large vault, a busy
//! machine) once came back older than the keep-alive's newest write and was
//! taken for a restored backup. And a record-level re-read that finds a record
//! unchanged leaves it shared, as a keep-alive re-reads every token it is about
//! to redeem.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::Vault;
use crate::secret::Secret;
use crate::vault::backend::{Backend, Change, Records, TokenGuard};
use crate::vault::crypto::KdfParams;
use crate::vault::error::VaultError;
use crate::vault::keys::KeySource;
use crate::vault::model::{TokenId, VaultData};
use crate::vault::rescue::RescueEntry;
use crate::vault::reserve::WriteReservation;
use crate::vault::token_lock::LockFailure;

type Hook = Box<dyn FnOnce() + Send>;

/// The real file store, with a hook run once between a read and its answer:
/// what a write by another handle does while a slow read is still parsing; and
/// token reads answered record by record, as the shared vault answers them.
struct LateReads {
    inner: Arc<dyn Backend>,
    between: Mutex<Option<Hook>>,
}

impl Backend for LateReads {
    fn folder(&self) -> &Path {
        self.inner.folder()
    }
    fn is_passphrase_protected(&self) -> bool {
        self.inner.is_passphrase_protected()
    }
    fn read(&self) -> Result<VaultData, VaultError> {
        let read = self.inner.read();
        let hook = self.between.lock().expect("hook").take();
        if let Some(hook) = hook {
            hook();
        }
        read
    }
    fn update(&self, change: Change<'_>) -> Result<VaultData, VaultError> {
        self.inner.update(change)
    }
    fn reserve_write(&self, growth: u64) -> Result<WriteReservation, VaultError> {
        self.inner.reserve_write(growth)
    }
    fn update_reserved(
        &self,
        reservation: &mut WriteReservation,
        change: Change<'_>,
    ) -> Result<VaultData, VaultError> {
        self.inner.update_reserved(reservation, change)
    }
    fn write_rescue(
        &self,
        reservation: &mut WriteReservation,
        entries: &[RescueEntry],
        now: DateTime<Utc>,
    ) -> Result<PathBuf, VaultError> {
        self.inner.write_rescue(reservation, entries, now)
    }
    fn try_lock_token(&self, id: &TokenId) -> Result<TokenGuard, LockFailure> {
        self.inner.try_lock_token(id)
    }
    fn read_tokens(&self, ids: &[TokenId]) -> Result<Records, VaultError> {
        let data = self.inner.read()?;
        let records = ids
            .iter()
            .filter_map(|id| Some((*id, data.token_by_id(id)?.record().clone())))
            .collect();
        Ok(Records::Tokens {
            based_on: data.generation,
            generation: data.generation,
            records,
            snapshot: None,
        })
    }
}

fn vault_with_late_reads(dir: &Path) -> (Vault, Arc<LateReads>) {
    let keys = KeySource::native()
        .with_passphrase(Secret::new("late reads"))
        .with_kdf(KdfParams::with_cost(64, 1, 1));
    let file = Vault::create(dir, &keys, false).expect("vault");
    let late = Arc::new(LateReads {
        inner: file.store.clone(),
        between: Mutex::new(None),
    });
    let data = file.data().clone();
    (Vault::new(late.clone(), data), late)
}

fn rename_settings(vault: &mut Vault, to: &str) {
    vault
        .update(|data| {
            data.settings.consumer_status_message = to.into();
            Ok(())
        })
        .expect("write");
}

#[test]
fn a_read_overtaken_by_this_processs_own_write_is_late_not_a_rollback() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut watcher, late) = vault_with_late_reads(dir.path());
    let mut writer = watcher.another_handle();
    rename_settings(&mut writer, "first");
    let before = writer.generation();
    *late.between.lock().expect("hook") = Some(Box::new(move || {
        rename_settings(&mut writer, "second");
    }));

    // The read began at `before` and came back with it, after the writer's next.
    watcher.reload().expect("a late read is no rollback");
    assert_eq!(watcher.generation(), before);
    // The next read sees the write that overtook it.
    assert!(watcher.reload().expect("reload"));
    assert_eq!(watcher.generation(), before + 1);
    assert_eq!(watcher.data().settings.consumer_status_message, "second");
}

#[test]
fn a_store_older_than_what_was_seen_before_the_read_is_still_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut vault, _) = vault_with_late_reads(dir.path());
    rename_settings(&mut vault, "backed up");
    let file = Vault::path_in(dir.path());
    let backup = dir.path().join("backup");
    std::fs::copy(&file, &backup).expect("backup");
    rename_settings(&mut vault, "newer");
    let newest = vault.generation();
    std::fs::copy(&backup, &file).expect("restore");

    match vault.reload() {
        Err(VaultError::RolledBack { seen, found }) => {
            assert_eq!((seen, found), (newest, newest - 1));
        }
        other => panic!("a restored file must be refused, not {other:?}"),
    }
    // The records in memory stay the newer ones.
    assert_eq!(vault.data().settings.consumer_status_message, "newer");
}

#[test]
fn a_re_read_that_finds_the_records_unchanged_leaves_every_mapping_shared() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut vault, _) = vault_with_late_reads(dir.path());
    let provider = crate::identity::ProviderConfig {
        authority: crate::identity::Authority::Issuer {
            url: url::Url::parse("https://id.example.test").expect("url"),
        },
        client_id: "app".into(),
        client_secret: None,
        scopes: crate::identity::Scopes::Custom("openid offline_access".into()),
    };
    let mut source = crate::vault::DataSource::new("A", provider, "owner@example.test");
    for n in 0..3 {
        let email = format!("user{n}@example.test");
        let mut mapping = crate::vault::UserMapping::new(
            crate::vault::AppUser {
                login: format!("U{n}"),
                display_name: format!("User {n}"),
                email: email.clone(),
            },
            email,
        );
        mapping.token.refresh_token = Some(Secret::new(format!("rt-{n}")));
        source.push_user(mapping);
    }
    vault
        .update(|data| data.add_data_source(source))
        .expect("add");
    let served = vault.shared_data();
    let ids: Vec<TokenId> = served.each_token().map(|owner| owner.id()).collect();
    let mut writer = vault.another_handle();
    writer
        .update(|data| {
            let record = data.token_by_id_mut(&ids[1]).expect("record");
            record.refresh_token = Some(Secret::new("rotated"));
            record.revision += 1;
            Ok(())
        })
        .expect("rotate");

    vault.reload_tokens(&ids).expect("re-read");
    let before = &served.data_sources[0].users;
    let after = &vault.data().data_sources[0].users;
    let shared: Vec<bool> = before
        .iter()
        .zip(after)
        .map(|(b, a)| Arc::ptr_eq(b, a))
        .collect();
    // Only the mapping whose record changed is a new copy.
    let changed = ids[1].mapping.expect("a mapping");
    let expected: Vec<bool> = before.iter().map(|m| m.id != changed).collect();
    assert_eq!(shared, expected);
    assert_eq!(
        vault
            .data()
            .token_by_id(&ids[1])
            .and_then(|o| o.record().refresh_token.clone())
            .as_ref()
            .map(Secret::expose),
        Some("rotated")
    );
}
