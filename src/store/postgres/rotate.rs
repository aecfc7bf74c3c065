//! `tokendesk vault rotate-key`: a new data key, every row sealed again in small
//! batches while desks and gateways keep working.
//! 1. Under the vault row's lock the new version is wrapped under the passphrase,
//!    this machine's keyring, and the old key (`previous`, so running processes
//!    follow it), and the old key under the new one (`retired`); from then on
//!    every write seals with the new version (writers read it under that lock).
//! 2. Batches of rows still sealed with an older version are sealed again, each
//!    batch a short transaction under the vault row's lock; a row keeps its
//!    revision (its contents are the same), so no reader reads it again.
//! 3. Running machines wrap the new key for their own keyring when they notice
//!    it (`Shared::generation`); the run waits a little for them.
//! 4. The chain and every wrapping of an older version go, but for the newest of
//!    a machine that was not running: it needs the passphrase once more.
//!
//! Killed at any point, the next run finds the rotation begun and finishes it.

use std::time::{Duration, Instant};

use super::keys::{self, machine_holder, machine_label};
use super::shared::Shared;
use super::{PostgresStore, StoreError, run, seal};
use crate::vault::crypto::VaultKey;
use crate::vault::{KeySource, VaultError};

/// Rows sealed again per transaction: writers wait at most one batch.
const BATCH: i64 = 500;

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The data key's version now.
    pub version: i32,
    /// An interrupted run was finished.
    pub resumed: bool,
    pub resealed: u64,
    /// Rows whose seal did not open before either (tampered, already refused):
    /// left as they were.
    pub unreadable: u64,
    /// Machines that were not running: their keyring holds only the old key, so
    /// they need the vault passphrase once more (`vault join`).
    pub dropped: Vec<String>,
}

impl PostgresStore {
    /// Replaces the shared vault's data key. `keys` gives the vault passphrase
    /// (the new key is wrapped under it too); running machines get `wait` to wrap
    /// the new key for their keyrings before the old one is dropped.
    pub fn rotate_key(
        &self,
        keys: &KeySource,
        wait: Duration,
        progress: &mut dyn FnMut(String),
    ) -> Result<Rotated, VaultError> {
        let shared = self.shared.clone();
        let (kdf, wrappings) = run(&self.runtime, async move {
            let db = shared.client().await?;
            let kdf: serde_json::Value = db
                .query_one(
                    "SELECT kdf FROM tokendesk_vault WHERE id = $1",
                    &[&shared.vault],
                )
                .await?
                .get(0);
            Ok((kdf, keys::wrappings(&*db, shared.vault).await?))
        })?;
        let passphrase = match self.shared.key_set().passphrase() {
            Some(key) => key.clone(),
            None => keys.passphrase_key(&keys::kdf_from(&kdf).ok_or_else(|| {
                VaultError::Corrupt("the shared vault's passphrase settings cannot be read".into())
            })?)?,
        };
        let opens = wrappings.iter().any(|w| {
            w.holder == "passphrase"
                && seal::unwrap_key(
                    &passphrase,
                    self.shared.vault,
                    &w.holder,
                    w.version,
                    &w.bytes,
                )
                .is_some()
        });
        if !opens {
            return Err(VaultError::WrongPassphrase);
        }
        let shared = self.shared.clone();
        let (version, resumed) = run(&self.runtime, async move {
            shared.begin_rotation(&passphrase).await
        })?;
        progress(if resumed {
            format!("Finishing the interrupted change to key version {version}.")
        } else {
            format!("Key version {version} made; sealing every record again.")
        });
        let mut resealed = 0;
        let mut unreadable = 0;
        let deadline = Instant::now() + wait;
        loop {
            let shared = self.shared.clone();
            let (rows, done, refused) =
                run(
                    &self.runtime,
                    async move { shared.reseal_batch(version).await },
                )?;
            resealed += done;
            unreadable += refused;
            if rows > 0 {
                progress(format!("{resealed} record(s) sealed again."));
                continue;
            }
            let shared = self.shared.clone();
            let waiting = run(&self.runtime, async move {
                let db = shared.client().await?;
                shared.machines_without(&*db, version).await
            })?;
            if !waiting.is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
            let shared = self.shared.clone();
            match run(&self.runtime, async move {
                shared.finish_rotation(version).await
            })? {
                Some(dropped) => {
                    return Ok(Rotated {
                        version,
                        resumed,
                        resealed,
                        unreadable,
                        dropped,
                    });
                }
                // A row written with the old key slipped in: seal it too.
                None => continue,
            }
        }
    }
}

impl Shared {
    /// Makes the new version and makes it current, or finds a rotation begun.
    async fn begin_rotation(&self, passphrase: &VaultKey) -> Result<(i32, bool), StoreError> {
        let mut db = self.client().await?;
        let transaction = db.transaction().await?;
        let current: i32 = transaction
            .query_one(
                "SELECT key_version FROM tokendesk_vault WHERE id = $1 FOR UPDATE",
                &[&self.vault],
            )
            .await?
            .get(0);
        let begun: bool = transaction
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM tokendesk_keys
                   WHERE vault = $1 AND holder = 'previous' AND key_version = $2)",
                &[&self.vault, &current],
            )
            .await?
            .get(0);
        if begun {
            self.sealing_key(&transaction, current).await?;
            return Ok((current, true));
        }
        let (_, old) = self.sealing_key(&transaction, current).await?;
        let version = current + 1;
        let new: VaultKey = zeroize::Zeroizing::new(rand::random());
        let mut wrapped = vec![
            (
                "previous".to_string(),
                seal::wrap_key(&old, self.vault, "previous", version, &new)?,
            ),
            (
                "retired".to_string(),
                seal::wrap_key(&new, self.vault, "retired", version, &old)?,
            ),
            (
                "passphrase".to_string(),
                seal::wrap_key(passphrase, self.vault, "passphrase", version, &new)?,
            ),
        ];
        if let Some((id, machine_key)) = &self.key_set().machine {
            let holder = machine_holder(*id);
            let bytes = seal::wrap_key(machine_key, self.vault, &holder, version, &new)?;
            wrapped.push((holder, bytes));
        }
        let label = machine_label(&self.folder);
        for (holder, bytes) in &wrapped {
            transaction
                .execute(
                    "INSERT INTO tokendesk_keys (vault, holder, key_version, wrapped, label)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&self.vault, holder, &version, bytes, &label],
                )
                .await?;
        }
        transaction
            .execute(
                "UPDATE tokendesk_vault SET key_version = $2 WHERE id = $1",
                &[&self.vault, &version],
            )
            .await?;
        transaction.commit().await?;
        let mut set = self.key_set();
        set.insert(version, new);
        set.current = version;
        Ok((version, false))
    }

    /// Seals one batch of older rows with `version`: (rows done, sealed again,
    /// left as they were because they did not open).
    async fn reseal_batch(&self, version: i32) -> Result<(usize, u64, u64), StoreError> {
        let mut db = self.client().await?;
        let transaction = db.transaction().await?;
        self.wait_for_writers(&transaction).await?;
        let rows = transaction
            .query(
                "SELECT kind, id, revision, sealed, key_version FROM tokendesk_records
                 WHERE vault = $1 AND key_version < $2 LIMIT $3",
                &[&self.vault, &version, &BATCH],
            )
            .await?;
        self.learn(&transaction, rows.iter().map(|r| r.get::<_, i32>(4)))
            .await?;
        let new = self
            .key_set()
            .key(version)
            .cloned()
            .ok_or(StoreError::KeyRotatedAway)?;
        let (mut resealed, mut unreadable) = (0, 0);
        let (mut kinds, mut ids, mut revisions, mut seals) = (vec![], vec![], vec![], vec![]);
        for row in &rows {
            let key = super::rows::RowKey {
                kind: row.get(0),
                id: row.get(1),
            };
            let revision: i64 = row.get(2);
            let sealed: Option<Vec<u8>> = row.get(3);
            let again = match &sealed {
                None => None,
                Some(bytes) => match self.open_row(&key, row.get(4), revision, bytes) {
                    Some(plain) => {
                        resealed += 1;
                        Some(seal::seal_row(
                            &new, self.vault, &key.kind, &key.id, revision, &plain,
                        )?)
                    }
                    None => {
                        unreadable += 1;
                        sealed.clone()
                    }
                },
            };
            kinds.push(key.kind);
            ids.push(key.id);
            revisions.push(revision);
            seals.push(again);
        }
        // One statement for the batch. Each row only at the revision read: a row
        // edited by hand in between keeps its version and comes in the next batch.
        transaction
            .execute(
                "UPDATE tokendesk_records r SET sealed = u.sealed, key_version = $2
                 FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bytea[])
                   AS u(kind, id, revision, sealed)
                 WHERE r.vault = $1 AND r.kind = u.kind AND r.id = u.id AND r.revision = u.revision",
                &[&self.vault, &version, &kinds, &ids, &revisions, &seals],
            )
            .await?;
        transaction.commit().await?;
        Ok((rows.len(), resealed, unreadable))
    }

    /// Takes the vault row's lock in `transaction`, as every writer does: a
    /// writer that started first finishes, the next one waits for this one.
    async fn wait_for_writers(
        &self,
        transaction: &tokio_postgres::Transaction<'_>,
    ) -> Result<(), StoreError> {
        transaction
            .execute(
                "SELECT 1 FROM tokendesk_vault WHERE id = $1 FOR UPDATE",
                &[&self.vault],
            )
            .await?;
        Ok(())
    }

    /// The machines whose keyring holds an older version of the key but not
    /// `version` (their label).
    async fn machines_without(
        &self,
        db: &impl tokio_postgres::GenericClient,
        version: i32,
    ) -> Result<Vec<String>, StoreError> {
        Ok(db
            .query(
                "SELECT DISTINCT ON (old.holder) old.label FROM tokendesk_keys old
                 WHERE old.vault = $1 AND old.holder LIKE 'machine:%' AND old.key_version < $2
                   AND NOT EXISTS (SELECT 1 FROM tokendesk_keys new
                     WHERE new.vault = old.vault AND new.holder = old.holder AND new.key_version = $2)
                 ORDER BY old.holder, old.key_version DESC",
                &[&self.vault, &version],
            )
            .await?
            .into_iter()
            .map(|r| r.get(0))
            .collect())
    }

    /// Drops the chain and every older wrapping, unless a row sealed with an
    /// older version is still there (`None`: seal it first). Returns the machines
    /// left without the key.
    async fn finish_rotation(&self, version: i32) -> Result<Option<Vec<String>>, StoreError> {
        let mut db = self.client().await?;
        let transaction = db.transaction().await?;
        self.wait_for_writers(&transaction).await?;
        let left: i64 = transaction
            .query_one(
                "SELECT count(*) FROM tokendesk_records WHERE vault = $1 AND key_version < $2",
                &[&self.vault, &version],
            )
            .await?
            .get(0);
        if left > 0 {
            return Ok(None);
        }
        let dropped = self.machines_without(&transaction, version).await?;
        // A machine that was off keeps its newest wrapping: the old key it gives
        // opens nothing written since, but it tells that machine why it must give
        // the passphrase once, and lets it wrap the new key for itself then.
        transaction
            .execute(
                "DELETE FROM tokendesk_keys k WHERE k.vault = $1 AND (k.holder = 'previous'
                   OR (k.key_version < $2 AND k.holder <> 'retired'
                       AND (k.holder NOT LIKE 'machine:%' OR EXISTS (
                         SELECT 1 FROM tokendesk_keys n WHERE n.vault = k.vault
                           AND n.holder = k.holder AND n.key_version > k.key_version))))",
                &[&self.vault, &version],
            )
            .await?;
        transaction.commit().await?;
        Ok(Some(dropped))
    }
}
