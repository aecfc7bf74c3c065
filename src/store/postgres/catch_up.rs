//! Bringing this process's records up to the database: another process's
//! rotations are put in place; anything else (an admin's change, a removal, a row
//! that does not open, a first read, a database gone back) is read and joined whole.

use super::StoreError;
use super::join;
use super::rows::{self, RowKey};
use super::seal;
use super::shared::{Cache, Shared};
use crate::vault::crypto::VaultKey;
use crate::vault::{TokenId, TokenRecord, VaultData};

/// One row as opened.
enum Opened {
    /// Removed in its generation (kept so readers see the removal).
    Removed,
    Plain(Vec<u8>),
    /// Its seal does not open: tampered with, copied or swapped.
    Refused,
}

impl Shared {
    /// Brings the cache up to the database's generation with the rows changed
    /// since; says which they were when each of them opened (`None` after a
    /// removal, a row that did not open, or a database gone back to older rows).
    pub(super) async fn catch_up(
        &self,
        db: &impl tokio_postgres::GenericClient,
        generation: u64,
    ) -> Result<Option<Vec<RowKey>>, StoreError> {
        let mut generation = generation;
        let mut since = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .generation;
        let mut restored = false;
        if generation < since {
            // The caller read the generation before it held the connection, and
            // another task of this process may have moved the cache on since: ask
            // again now. Only a database that really went back (restored from an
            // older backup) is read again whole — not just the rows after the
            // cache's generation, which would leave out every other record.
            let row = db
                .query_one(
                    "SELECT generation FROM tokendesk_vault WHERE id = $1",
                    &[&self.vault],
                )
                .await?;
            generation = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
            if generation < since {
                restored = true;
                since = 0;
            }
        }
        if generation == since && !restored {
            return Ok(Some(Vec::new()));
        }
        let opened = self.rows_changed_since(db, since).await?;
        let rotations_only = since > 0
            && !restored
            && opened.iter().all(|(key, _, opened)| {
                key.kind == "token"
                    && matches!(opened, Opened::Plain(_))
                    && TokenId::from_file_stem(&key.id).is_some()
            });
        if rotations_only {
            // Other processes' rotations: put in place, the rest stays shared.
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let mut keys = Vec::with_capacity(opened.len());
            for (key, revision, opened) in opened {
                let (Opened::Plain(plain), Some(id)) = (opened, TokenId::from_file_stem(&key.id))
                else {
                    continue;
                };
                if went_back(&cache, &key, revision) {
                    // The newer record read before stays (see `newer_than_row`).
                    continue;
                }
                let record = rows::token_record(&key, &plain)?;
                put_token(&mut cache.data, &id, record);
                cache.refused.remove(&key);
                cache.revisions.insert(key.clone(), revision);
                keys.push(key);
            }
            std::sync::Arc::make_mut(&mut cache.data).generation = generation;
            cache.generation = generation;
            return Ok(Some(keys));
        }
        // Anything else (an admin's change, a removal, a row that does not open, a
        // first read, a database gone back): every row is read and joined again.
        let opened = if since == 0 {
            opened
        } else {
            self.rows_changed_since(db, 0).await?
        };
        let mut fresh = Cache {
            generation,
            ..Cache::default()
        };
        fresh.revisions.reserve(opened.len());
        for (key, _, opened) in &opened {
            if let Opened::Refused = opened {
                tracing::error!(kind = %key.kind, id = %key.id, "a shared-vault row does not open with the vault's key: tampered with or swapped; it is not served");
                let message = format!(
                    "the {} record {} was changed outside tokendesk (its seal does not open); it is not used",
                    key.kind, key.id
                );
                fresh.refused.insert(key.clone(), message);
            }
        }
        fresh.data = std::sync::Arc::new(join::join(
            opened.iter().filter_map(|(key, _, opened)| match opened {
                Opened::Plain(plain) => Some((key, plain.as_slice())),
                Opened::Removed | Opened::Refused => None,
            }),
            generation,
        )?);
        fresh
            .revisions
            .extend(opened.into_iter().map(|(key, revision, _)| (key, revision)));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        keep_newer_tokens(&cache, &mut fresh);
        *cache = fresh;
        Ok(None)
    }

    /// The rows changed after generation `since` (all of them for 0), opened.
    async fn rows_changed_since(
        &self,
        db: &impl tokio_postgres::GenericClient,
        since: u64,
    ) -> Result<Vec<(RowKey, i64, Opened)>, StoreError> {
        let changed = db
            .query(
                "SELECT kind, id, revision, sealed, key_version FROM tokendesk_records WHERE vault = $1 AND changed_in > $2",
                &[&self.vault, &i64::try_from(since).unwrap_or(i64::MAX)],
            )
            .await?;
        self.learn(db, changed.iter().map(|row| row.get::<_, i32>(4)))
            .await?;
        Ok(self.open_rows(&changed))
    }

    /// Opens the rows of a `kind, id, revision, sealed, key_version` query. A
    /// full read (thousands of rows) is split over the machine's cores: opening
    /// the seals is most of its time.
    fn open_rows(&self, rows: &[tokio_postgres::Row]) -> Vec<(RowKey, i64, Opened)> {
        let keys: Vec<(i32, VaultKey)> = {
            let set = self.key_set();
            set.versions()
        };
        let open = |rows: &[tokio_postgres::Row]| -> Vec<(RowKey, i64, Opened)> {
            rows.iter()
                .map(|row| {
                    let key = RowKey {
                        kind: row.get(0),
                        id: row.get(1),
                    };
                    let revision: i64 = row.get(2);
                    let version: i32 = row.get(4);
                    let opened = match row.get::<_, Option<&[u8]>>(3) {
                        None => Opened::Removed,
                        Some(sealed) => keys
                            .iter()
                            .find(|(v, _)| *v == version)
                            .and_then(|(_, data_key)| {
                                seal::open_row(
                                    data_key, self.vault, &key.kind, &key.id, revision, sealed,
                                )
                            })
                            .map_or(Opened::Refused, |mut plain| {
                                Opened::Plain(std::mem::take(&mut *plain))
                            }),
                    };
                    (key, revision, opened)
                })
                .collect()
        };
        let opened: Result<_, std::convert::Infallible> =
            join::on_cores(rows, |part| Ok(open(part)));
        opened.unwrap_or_else(|never| match never {})
    }
}

/// Whether the token row `key`, read at `revision`, is older than the row this
/// process read or wrote before: put back by hand (one row restored from a dump,
/// say), without a new generation.
pub(super) fn went_back(cache: &Cache, key: &RowKey, revision: i64) -> bool {
    let older = key.kind == "token"
        && cache
            .revisions
            .get(key)
            .is_some_and(|seen| revision < *seen);
    if older {
        tracing::error!(
            id = %key.id,
            row = revision,
            "a shared-vault token row went back to an older revision (restored by hand?); tokendesk uses the newer record it read before and stores it again with the next write"
        );
    }
    older
}

/// A whole read keeps, for every token row that went back, the newer record the
/// old cache held and the revision it was read at: its older refresh token may
/// be rotated away, and the guarded path then redeems the newer one and writes
/// it back (see `newer_than_row`).
fn keep_newer_tokens(old: &Cache, fresh: &mut Cache) {
    let went: Vec<(RowKey, i64)> = fresh
        .revisions
        .iter()
        .filter(|(key, revision)| went_back(old, key, **revision))
        .filter_map(|(key, _)| Some((key.clone(), *old.revisions.get(key)?)))
        .collect();
    for (key, seen) in went {
        let Some(id) = TokenId::from_file_stem(&key.id) else {
            continue;
        };
        let Some(newer) = old.data.token_by_id(&id).map(|o| o.record().clone()) else {
            continue;
        };
        put_token(&mut fresh.data, &id, newer);
        fresh.revisions.insert(key, seen);
    }
}

/// Puts `record` in the place of token `id` (left out when its owner is gone, as
/// the join leaves out a token row without its data source or mapping). A record
/// is kept as stored: `at_risk` is not.
pub(super) fn put_token(
    data: &mut std::sync::Arc<VaultData>,
    id: &TokenId,
    mut record: TokenRecord,
) {
    record.at_risk = false;
    // An unchanged record stays shared: a mapping is copied only to change it.
    match data.token_by_id(id) {
        None => return,
        Some(owner) if *owner.record() == record => return,
        Some(_) => {}
    }
    if let Some(place) = std::sync::Arc::make_mut(data).token_by_id_mut(id) {
        *place = record;
    }
}
