//! The connection and the rows as this process last read them: reading catches up
//! with the rows changed since, and a change is one transaction under the vault
//! row's lock that writes only the rows it touched.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use tokio_postgres::Client;
use uuid::Uuid;

use super::keys::{self, KeySet};
use super::rows::{self, RowKey};
use super::{StoreError, Target, schema, seal};
use crate::vault::backend::TokenMap;
use crate::vault::crypto::VaultKey;
use crate::vault::{TokenId, VaultData};

/// The store's one connection, held while in use.
pub(super) type Connection<'a> = tokio::sync::MappedMutexGuard<'a, Client>;

/// A change that writes this many rows updates the planner's statistics.
const MANY_ROWS: usize = 500;

/// The records as this process last read them, with the rows' revisions.
///
/// The records are kept joined, not as the rows' plaintext: every handle that
/// reads them shares their mappings (one copy of each record per process, where
/// the plaintext beside the joined records was a second and larger one), and a
/// rotation read from another process is put in place rather than joined anew.
#[derive(Default)]
pub(super) struct Cache {
    pub(super) generation: u64,
    pub(super) data: std::sync::Arc<VaultData>,
    pub(super) revisions: HashMap<RowKey, i64>,
    /// Rows whose seal did not open (tampered or swapped): named, never served.
    pub(super) refused: BTreeMap<RowKey, String>,
}

pub(super) struct Shared {
    pub(super) target: Target,
    /// This machine's folder (named beside its wrapping of the data key).
    pub(super) folder: std::path::PathBuf,
    pub(super) vault: Uuid,
    pub(super) keys: Mutex<KeySet>,
    pub(super) client: tokio::sync::Mutex<Option<Client>>,
    pub(super) cache: Mutex<Cache>,
    /// The key version this machine last failed to wrap for itself: asked
    /// five times a second, the failure is said once per version, not each time.
    pub(super) unwrapped_warned: std::sync::atomic::AtomicI32,
}

impl Shared {
    /// The connection, opened again when it was lost.
    pub(super) async fn client(&self) -> Result<Connection<'_>, StoreError> {
        let mut client = self.client.lock().await;
        if client.as_ref().is_none_or(Client::is_closed) {
            let mut fresh = self.target.connect().await?;
            schema::ensure(&mut fresh).await?;
            *client = Some(fresh);
        }
        tokio::sync::MutexGuard::try_map(client, Option::as_mut)
            .map_err(|_| StoreError::Stopped("no connection".into()))
    }

    /// The connection for a two-phase change; when there is none, the caller
    /// waiting for the newest records hears why.
    pub(super) async fn client_for_change<T>(
        &self,
        newest: &std::sync::mpsc::SyncSender<Result<T, StoreError>>,
    ) -> Result<Connection<'_>, StoreError> {
        self.client().await.inspect_err(|e| {
            let _ = newest.send(Err(StoreError::Stopped(e.to_string())));
        })
    }

    pub(super) fn key_set(&self) -> std::sync::MutexGuard<'_, KeySet> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a row sealed with version `version` of the data key.
    pub(super) fn open_row(
        &self,
        key: &RowKey,
        version: i32,
        revision: i64,
        sealed: &[u8],
    ) -> Option<Vec<u8>> {
        let data_key = self.key_set().key(version)?.clone();
        seal::open_row(&data_key, self.vault, &key.kind, &key.id, revision, sealed)
            .map(|p| p.to_vec())
    }

    /// Makes sure this process holds each of `versions` of the data key, reading
    /// the wrappings again when it lacks one (a rotation started elsewhere).
    /// A version it cannot open stays missing: its rows are refused, not served.
    pub(super) async fn learn(
        &self,
        db: &impl tokio_postgres::GenericClient,
        versions: impl IntoIterator<Item = i32>,
    ) -> Result<(), StoreError> {
        let missing = {
            let set = self.key_set();
            versions.into_iter().any(|v| set.key(v).is_none())
        };
        if missing {
            let wrappings = keys::wrappings(db, self.vault).await?;
            self.key_set().unlock(self.vault, &wrappings);
        }
        Ok(())
    }

    /// The version new rows are sealed with, and its key, as the vault row says
    /// (`current`, read under the vault row's lock).
    pub(super) async fn sealing_key(
        &self,
        db: &impl tokio_postgres::GenericClient,
        current: i32,
    ) -> Result<(i32, VaultKey), StoreError> {
        {
            let mut set = self.key_set();
            set.current = set.current.max(current);
        }
        self.learn(db, [current]).await?;
        self.key_set().current().ok_or(StoreError::KeyRotatedAway)
    }

    /// What changed since `since`, as token records, when this process's cache
    /// was at `since` and every row changed after it is a token that opened;
    /// `None` when only a whole read tells.
    pub(super) async fn read_since(
        &self,
        since: u64,
    ) -> Result<Option<(u64, TokenMap, Option<std::sync::Arc<VaultData>>)>, StoreError> {
        let generation = self.generation().await?;
        let db = self.client().await?;
        if self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .generation
            != since
        {
            return Ok(None);
        }
        let Some(changed) = self.catch_up(&*db, generation).await? else {
            return Ok(None);
        };
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let mut records = TokenMap::new();
        for key in changed {
            let owner = TokenId::from_file_stem(&key.id)
                .filter(|_| key.kind == "token")
                .and_then(|id| Some((id, cache.data.token_by_id(&id)?)));
            let Some((id, owner)) = owner else {
                return Ok(None);
            };
            records.insert(id, owner.record().clone());
        }
        Ok(Some((cache.generation, records, Some(cache.data.clone()))))
    }

    /// This process's records as they are now (at their own generation): a
    /// handle takes them whole when they are at the generation it reached, and
    /// otherwise each mapping that holds what it read or wrote.
    pub(super) fn snapshot(&self) -> std::sync::Arc<VaultData> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.data.clone()
    }

    /// The vault's generation as the database has it now. Asked often (a
    /// gateway's watcher, the window), so it also notices a new data key and
    /// wraps it for this machine while the rotation's chain still opens it.
    pub(super) async fn generation(&self) -> Result<u64, StoreError> {
        let db = self.client().await?;
        let machine = self
            .key_set()
            .machine
            .as_ref()
            .map(|(id, _)| keys::machine_holder(*id))
            .unwrap_or_default();
        let row = db
            .query_one(
                "SELECT v.generation, v.key_version, EXISTS (
                   SELECT 1 FROM tokendesk_keys k
                   WHERE k.vault = v.id AND k.holder = $2 AND k.key_version = v.key_version)
                 FROM tokendesk_vault v WHERE v.id = $1",
                &[&self.vault, &machine],
            )
            .await?;
        let (generation, current, wrapped): (i64, i32, bool) = (row.get(0), row.get(1), row.get(2));
        if !wrapped && !machine.is_empty() {
            self.renew_machine_wrapping(&*db, current).await;
        }
        Ok(u64::try_from(generation).unwrap_or(0))
    }

    /// Wraps version `current` of the data key for this machine's keyring, so
    /// it keeps opening the vault after the rotation drops the old key.
    async fn renew_machine_wrapping(&self, db: &impl tokio_postgres::GenericClient, current: i32) {
        let first_failure = || {
            self.unwrapped_warned
                .swap(current, std::sync::atomic::Ordering::Relaxed)
                != current
        };
        if let Err(error) = self.sealing_key(db, current).await {
            if first_failure() {
                tracing::warn!(%error, "the shared vault's new key could not be opened here");
            }
            return;
        }
        let made = self.key_set().missing_machine_wrapping(self.vault);
        let Ok(Some((holder, wrapped))) = made else {
            return;
        };
        let label = keys::machine_label(&self.folder);
        if let Err(error) = db
            .execute(
                "INSERT INTO tokendesk_keys (vault, holder, key_version, wrapped, label)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&self.vault, &holder, &current, &wrapped, &label],
            )
            .await
        {
            if first_failure() {
                tracing::warn!(error = %super::plain(&error), "this machine's wrapping of the new key was not stored");
            }
        } else {
            tracing::info!(
                version = current,
                "this machine now holds the shared vault's new key"
            );
        }
    }

    pub(super) async fn read(&self) -> Result<VaultData, StoreError> {
        let generation = self.generation().await?;
        let db = self.client().await?;
        self.catch_up(&*db, generation).await?;
        // A copy that shares every mapping with the cache (and the other readers).
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        Ok((*cache.data).clone())
    }

    /// One change in one transaction under the vault row's lock. The newest records
    /// go to the caller, which applies its change on its own thread and sends the
    /// result back (`None`: the change refused, nothing is written).
    pub(super) async fn update(
        &self,
        newest: std::sync::mpsc::SyncSender<Result<VaultData, StoreError>>,
        changed: tokio::sync::oneshot::Receiver<Option<VaultData>>,
    ) -> Result<Option<VaultData>, StoreError> {
        let mut db = self.client_for_change(&newest).await?;
        let transaction = db.transaction().await?;
        let locked = async {
            let row = transaction
                .query_one(
                    "SELECT generation, key_version FROM tokendesk_vault WHERE id = $1 FOR UPDATE",
                    &[&self.vault],
                )
                .await?;
            let generation: i64 = row.get(0);
            let sealing = self.sealing_key(&transaction, row.get(1)).await?;
            self.catch_up(&transaction, u64::try_from(generation).unwrap_or(0))
                .await?;
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let before = (*cache.data).clone();
            Ok::<_, StoreError>((generation, sealing, before))
        }
        .await;
        let (generation, (version, sealing_key), before) = match locked {
            Ok((generation, sealing, before)) => {
                let _ = newest.send(Ok(before.clone()));
                (generation, sealing, before)
            }
            Err(e) => {
                let _ = newest.send(Err(StoreError::Stopped(e.to_string())));
                return Err(e);
            }
        };
        let Ok(Some(mut data)) = changed.await else {
            // Refused by the change (or its caller gone): the transaction rolls back.
            return Ok(None);
        };
        let next = generation + 1;
        data.generation = u64::try_from(next).unwrap_or(0);
        let diff = rows::changed(&before, &data)?;
        let mut written = Vec::new();
        // Each row is written only where it is not newer than the revision this
        // process read: a writer whose copy is behind is refused; a row put back
        // by hand to an older revision gets the newer record this process kept
        // for it (see `catch_up::keep_newer_tokens`).
        for (key, plain) in &diff.written {
            let old = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .revisions
                .get(key)
                .copied();
            let revision = old.unwrap_or(0) + 1;
            let sealed = seal::seal_row(
                &sealing_key,
                self.vault,
                &key.kind,
                &key.id,
                revision,
                plain,
            )?;
            let stored = transaction
                .execute(
                    "INSERT INTO tokendesk_records (vault, kind, id, revision, changed_in, sealed, key_version)
                     VALUES ($1, $2, $3, $4, $5, $6, $8)
                     ON CONFLICT (vault, kind, id) DO UPDATE
                       SET revision = EXCLUDED.revision, changed_in = EXCLUDED.changed_in,
                           sealed = EXCLUDED.sealed, key_version = EXCLUDED.key_version
                       WHERE tokendesk_records.revision <= $7",
                    &[&self.vault, &key.kind, &key.id, &revision, &next, &sealed, &old.unwrap_or(0), &version],
                )
                .await?;
            if stored != 1 {
                return Err(StoreError::Sql(format!(
                    "the {} record {} changed under this write; nothing was stored",
                    key.kind, key.id
                )));
            }
            written.push((key.clone(), revision, plain.clone()));
        }
        let mut removed = Vec::new();
        for key in &diff.removed {
            let old = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .revisions
                .get(key)
                .copied()
                .unwrap_or(0);
            transaction
                .execute(
                    "UPDATE tokendesk_records SET revision = $4, changed_in = $5, sealed = NULL
                     WHERE vault = $1 AND kind = $2 AND id = $3",
                    &[&self.vault, &key.kind, &key.id, &(old + 1), &next],
                )
                .await?;
            removed.push((key.clone(), old + 1));
        }
        transaction
            .execute(
                "UPDATE tokendesk_vault SET generation = $2 WHERE id = $1",
                &[&self.vault, &next],
            )
            .await?;
        transaction
            .execute(
                "SELECT pg_notify('tokendesk_changes', $1)",
                &[&next.to_string()],
            )
            .await?;
        transaction.commit().await?;
        if written.len() + removed.len() >= MANY_ROWS {
            // The planner's statistics would still describe the table as it was
            // (autovacuum comes later): token lookups could scan every row.
            if let Err(error) = db.execute("ANALYZE tokendesk_records", &[]).await {
                tracing::debug!(%error, "the shared vault's statistics were not updated");
            }
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for (key, revision, _) in written {
            cache.revisions.insert(key, revision);
        }
        for (key, revision) in removed {
            cache.revisions.insert(key, revision);
        }
        // The records as stored: what the rows hold, nothing that is not stored.
        // Only a record marked at risk is copied to clear the mark: the others
        // stay shared with the caller's records (ten thousand mappings copied on
        // every whole write were a gateway's peak memory).
        let mut stored = data.clone();
        for source in stored.data_sources.iter_mut() {
            source.token.at_risk = false;
            for mapping in source.users.iter_mut().filter(|m| m.token.at_risk) {
                std::sync::Arc::make_mut(mapping).token.at_risk = false;
            }
        }
        cache.data = std::sync::Arc::new(stored);
        cache.generation = data.generation;
        Ok(Some(data))
    }
}
