//! Token records at record level: the guarded path and the keep-alive read and
//! write just the rows of the tokens they redeem, so storing one rotated token
//! costs the same whatever the vault holds. Writers still take turns on the vault
//! row (its generation is bumped in the same statement that reads the rows), and
//! each row is compare-and-swapped on its revision.

use std::collections::BTreeMap;

use super::rows::{self, RowKey};
use super::shared::Shared;
use super::{StoreError, seal};
use crate::vault::TokenId;
use crate::vault::backend::TokenMap;

/// A token row as read: its revision and its record.
type Read = BTreeMap<TokenId, (i64, crate::vault::TokenRecord)>;

/// What a record-level write did: the generation before and after (equal when
/// nothing changed), and the records as they are now.
pub(super) struct Written {
    pub based_on: u64,
    pub generation: u64,
    pub records: TokenMap,
}

/// The key versions that sealed the rows of a token query (column 4).
fn versions(found: &[tokio_postgres::Row]) -> Vec<i32> {
    found
        .iter()
        .filter_map(|row| row.get::<_, Option<i32>>(4))
        .collect()
}

fn stems(ids: &[TokenId]) -> Vec<String> {
    ids.iter().map(TokenId::file_stem).collect()
}

impl Shared {
    /// Opens the token rows of one query (`generation, id, revision, sealed,
    /// key_version`).
    /// A row whose seal does not open is left out, as the full read leaves it out.
    fn token_rows(
        &self,
        ids: &[TokenId],
        found: &[tokio_postgres::Row],
    ) -> Result<(u64, Read), StoreError> {
        let by_stem: BTreeMap<String, TokenId> =
            ids.iter().map(|id| (id.file_stem(), *id)).collect();
        let mut generation = 0;
        let mut read = Read::new();
        for row in found {
            generation = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
            let (Some(stem), Some(revision), Some(sealed), Some(version)) = (
                row.get::<_, Option<String>>(1),
                row.get::<_, Option<i64>>(2),
                row.get::<_, Option<Vec<u8>>>(3),
                row.get::<_, Option<i32>>(4),
            ) else {
                continue;
            };
            let Some(id) = by_stem.get(&stem) else {
                continue;
            };
            let key = RowKey::token(&stem);
            let Some(plain) = self.open_row(&key, version, revision, &sealed) else {
                tracing::error!(id = %stem, "a shared-vault token row does not open with the vault's key: tampered with or swapped; it is not served");
                continue;
            };
            let record = rows::token_record(&key, &plain)?;
            let record = self.newer_than_row(&key, revision, id).unwrap_or(record);
            read.insert(*id, (revision, record));
        }
        Ok((generation, read))
    }

    /// The newer record this process knows for a token row that went back to an
    /// older revision (one row restored by hand, or copied back from a dump,
    /// without a new generation): its refresh token may be rotated away, and
    /// sending it could make the provider revoke the grant. The newer record is
    /// read in its place, so the guarded path redeems the newest token and its
    /// write (compare-and-swap on the row as it is) puts that back in the row.
    fn newer_than_row(
        &self,
        key: &RowKey,
        revision: i64,
        id: &TokenId,
    ) -> Option<crate::vault::TokenRecord> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if !super::catch_up::went_back(&cache, key, revision) {
            return None;
        }
        let newer = cache.data.token_by_id(id)?.record().clone();
        Some(newer)
    }

    /// The newest of the token records `ids`, with the vault's generation.
    pub(super) async fn read_tokens(&self, ids: &[TokenId]) -> Result<(u64, TokenMap), StoreError> {
        let db = self.client().await?;
        let found = db
            .query(
                "SELECT v.generation, r.id, r.revision, r.sealed, r.key_version
                 FROM tokendesk_vault v
                 LEFT JOIN tokendesk_records r
                   ON r.vault = v.id AND r.kind = 'token' AND r.id = ANY($2)
                 WHERE v.id = $1",
                &[&self.vault, &stems(ids)],
            )
            .await?;
        self.learn(&*db, versions(&found)).await?;
        let (generation, read) = self.token_rows(ids, &found)?;
        Ok((
            generation,
            read.into_iter().map(|(id, (_, r))| (id, r)).collect(),
        ))
    }

    /// One record-level change in one transaction. The newest records go to the
    /// caller, which applies its change on its own thread and sends the result
    /// back (`None`: refused, nothing is written).
    pub(super) async fn update_tokens(
        &self,
        ids: Vec<TokenId>,
        newest: std::sync::mpsc::SyncSender<Result<TokenMap, StoreError>>,
        changed: tokio::sync::oneshot::Receiver<Option<TokenMap>>,
    ) -> Result<Option<Written>, StoreError> {
        let mut db = self.client_for_change(&newest).await?;
        let transaction = db.transaction().await?;
        // Bumping the generation takes the vault row's lock: writers take turns.
        let locked = transaction
            .query(
                "WITH bumped AS (
                   UPDATE tokendesk_vault SET generation = generation + 1 WHERE id = $1
                   RETURNING id, generation, key_version)
                 SELECT b.generation, r.id, r.revision, r.sealed, r.key_version, b.key_version
                 FROM bumped b
                 LEFT JOIN tokendesk_records r
                   ON r.vault = b.id AND r.kind = 'token' AND r.id = ANY($2)",
                &[&self.vault, &stems(&ids)],
            )
            .await
            .map_err(StoreError::from);
        let locked = match locked {
            Ok(found) if !found.is_empty() => {
                async {
                    let sealing = self.sealing_key(&transaction, found[0].get(5)).await?;
                    self.learn(&transaction, versions(&found)).await?;
                    Ok((sealing, self.token_rows(&ids, &found)?))
                }
                .await
            }
            Ok(_) => Ok(((0, zeroize::Zeroizing::new([0; 32])), (0, Read::new()))),
            Err(e) => Err(e),
        };
        let ((version, sealing_key), (next, before)) = match locked {
            Ok((sealing, read)) if read.0 > 0 => (sealing, read),
            Ok(_) => {
                let _ = newest.send(Err(StoreError::NoVault));
                return Err(StoreError::NoVault);
            }
            Err(e) => {
                let _ = newest.send(Err(StoreError::Stopped(e.to_string())));
                return Err(e);
            }
        };
        let records: TokenMap = before.iter().map(|(id, (_, r))| (*id, r.clone())).collect();
        let _ = newest.send(Ok(records));
        let Ok(Some(after)) = changed.await else {
            return Ok(None);
        };
        let next_generation = i64::try_from(next).unwrap_or(i64::MAX);
        let mut written = Vec::new();
        for (id, record) in &after {
            let Some((old, was)) = before.get(id) else {
                continue;
            };
            if was == record {
                continue;
            }
            let stem = id.file_stem();
            let key = RowKey::token(&stem);
            let plain = rows::token_row(record)?;
            let revision = old + 1;
            let sealed = seal::seal_row(
                &sealing_key,
                self.vault,
                &key.kind,
                &key.id,
                revision,
                &plain,
            )?;
            let stored = transaction
                .execute(
                    "UPDATE tokendesk_records SET revision = $4, changed_in = $5, sealed = $6, key_version = $7
                     WHERE vault = $1 AND kind = 'token' AND id = $2 AND revision = $3",
                    &[
                        &self.vault,
                        &stem,
                        old,
                        &revision,
                        &next_generation,
                        &sealed,
                        &version,
                    ],
                )
                .await?;
            if stored != 1 {
                return Err(StoreError::Sql(format!(
                    "the token record {stem} changed under this write; nothing was stored"
                )));
            }
            written.push((key, revision, *id, record.clone()));
        }
        if written.is_empty() {
            // Nothing to store: the generation stays (the transaction rolls back).
            return Ok(Some(Written {
                based_on: next - 1,
                generation: next - 1,
                records: after,
            }));
        }
        transaction
            .execute(
                "SELECT pg_notify('tokendesk_changes', $1)",
                &[&next.to_string()],
            )
            .await?;
        transaction.commit().await?;
        self.remember_tokens(next, written);
        Ok(Some(Written {
            based_on: next - 1,
            generation: next,
            records: after,
        }))
    }

    /// Keeps this process's cache current after a record-level write. The
    /// written rows always go in, with their revisions (what a row that went back
    /// is judged against must be the newest this process wrote); the cache's
    /// generation moves on only when it was at the generation before, otherwise
    /// the next read catches up with every row changed since.
    fn remember_tokens(
        &self,
        next: u64,
        written: Vec<(RowKey, i64, TokenId, crate::vault::TokenRecord)>,
    ) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for (key, revision, id, record) in written {
            super::catch_up::put_token(&mut cache.data, &id, record);
            cache.revisions.insert(key, revision);
        }
        if cache.generation + 1 == next {
            std::sync::Arc::make_mut(&mut cache.data).generation = next;
            cache.generation = next;
        }
    }
}
