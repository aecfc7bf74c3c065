//! Storing what redemptions brought: the rotated refresh token first, by token id,
//! only into the record that was redeemed (compare-and-swap on its revision), into
//! space reserved before the provider was asked — and when even that fails, into
//! a rescue file, so the provider's new token is never simply dropped.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::RedeemError;
use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
use crate::identity::{IdentityError, RefreshAnswer};
use crate::vault::backend::TokenMap;
use crate::vault::ops::TokenTarget;
use crate::vault::rescue::RescueEntry;
use crate::vault::reserve::WriteReservation;
use crate::vault::{TokenId, Vault, VaultError};

/// Tries of the vault write before the rescue file is used.
const WRITE_TRIES: u32 = 3;

/// One redemption's answer, with the record revision it redeemed.
#[derive(Debug)]
pub struct Settled {
    pub id: TokenId,
    pub target: TokenTarget,
    pub revision: u64,
    pub answer: RefreshAnswer,
    /// The access token was asked for this scope instead of the grant's.
    pub scope: Option<String>,
}

/// What became of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// `restored`: the record had come back from a backup (its token may be stale).
    Stored { restored: bool },
    /// The record changed meanwhile (cleared, signed in again) or is gone.
    Superseded,
}

/// Growth of the vault per stored answer, for the write reservation.
pub const GROWTH_PER_ANSWER: u64 = 4 * 1024;

/// Stores the answers in one vault write and records them in the audit log.
/// The vault write is tried a few times; when it keeps failing, rotated tokens go
/// to a rescue file and the error says where they are.
pub fn store(
    vault: &mut Vault,
    reservation: &mut WriteReservation,
    settled: &[Settled],
    now: DateTime<Utc>,
) -> Result<Vec<Applied>, RedeemError> {
    let mut last_error = None;
    for attempt in 0..WRITE_TRIES {
        if attempt > 0 {
            // A moment for a passing condition (another process's lock, a flush).
            std::thread::sleep(Duration::from_millis(100 * u64::from(attempt)));
        }
        let ids: Vec<TokenId> = settled.iter().map(|s| s.id).collect();
        match vault.update_tokens_reserved(reservation, &ids, |records| {
            Ok(apply(records, settled, now))
        }) {
            Ok(applied) => {
                audit(vault, settled, &applied, now);
                return Ok(applied);
            }
            Err(error) => {
                tracing::warn!(%error, attempt, "storing renewed tokens failed");
                last_error = Some(error);
            }
        }
    }
    let cause = last_error.unwrap_or(VaultError::Invalid("the write failed".into()));
    Err(rescue(vault, reservation, settled, cause, now))
}

/// Applies answers to the records they belong to, if those are unchanged.
pub fn apply(records: &mut TokenMap, settled: &[Settled], now: DateTime<Utc>) -> Vec<Applied> {
    settled
        .iter()
        .map(|s| {
            let Some(record) = records.get_mut(&s.id) else {
                return Applied::Superseded;
            };
            if record.revision != s.revision {
                // A write whose commit was not confirmed (the connection dropped,
                // the database failed over) may have landed all the same: the
                // record then holds this very answer, and it is stored.
                return if landed(record, s) {
                    Applied::Stored { restored: false }
                } else {
                    Applied::Superseded
                };
            }
            let restored = record.restored_at.is_some();
            match (&s.answer.result, &s.answer.rotated) {
                (Ok(tokens), _) => record.store_refresh(tokens, s.scope.as_deref()),
                (Err(error), Some(rotated)) => {
                    // Accepted and rotated, but the rest was unusable: the new token
                    // is the only valid one now.
                    record.refresh_token = Some(rotated.clone());
                    record.last_redeemed_at = Some(now);
                    record.restored_at = None;
                    record.access = None;
                    record.scoped.clear();
                    record.store_error(&kept_rotation(error), now);
                }
                (Err(error), None) => record.store_error(error, now),
            }
            Applied::Stored { restored }
        })
        .collect()
}

/// Whether `record` is the one this answer made (its write landed though its
/// commit was not confirmed): the next revision, holding the answer's new
/// refresh token, or its access token where the provider did not rotate.
fn landed(record: &crate::vault::TokenRecord, s: &Settled) -> bool {
    if record.revision != s.revision + 1 {
        return false;
    }
    match (&s.answer.result, &s.answer.rotated) {
        (_, Some(rotated)) => record.refresh_token.as_ref() == Some(rotated),
        (Ok(tokens), None) => {
            record
                .access
                .as_ref()
                .is_some_and(|a| a.token == tokens.access_token)
                || record
                    .scoped
                    .iter()
                    .any(|s| s.access.token == tokens.access_token)
        }
        (Err(_), None) => false,
    }
}

/// The error an admin reads for a stored answer: saying that a new refresh token
/// was kept, or that a refused token had come back from a backup.
pub fn explained(answer: &RefreshAnswer, error: &IdentityError, restored: bool) -> IdentityError {
    if answer.rotated.is_some() {
        return kept_rotation(error);
    }
    let mut error = error.clone();
    if restored && error.kind.invalidates_token() {
        error.message = format!("{} {}", error.message, crate::vault::model::RESTORED_HINT);
    }
    error
}

/// The error of an answer whose new refresh token was kept, saying so.
pub fn kept_rotation(error: &IdentityError) -> IdentityError {
    let mut error = error.clone();
    if !error.kind.invalidates_token() {
        error.kind = crate::identity::ErrorKind::Transient;
    }
    error.message = format!(
        "{} The provider's new refresh token was stored, so the connection is kept.",
        error.message
    );
    error
}

fn audit(vault: &Vault, settled: &[Settled], applied: &[Applied], now: DateTime<Utc>) {
    let log = AuditLog::in_dir(vault.dir());
    for (s, applied) in settled.iter().zip(applied) {
        let entry = match (applied, &s.answer.result) {
            (Applied::Superseded, _) => {
                AuditEntry::new(Operation::Renew, Outcome::Skipped, now)
                    .for_target(&s.target)
                    .with_detail(
                        "result discarded: the token was cleared, signed in again or removed while it was being renewed",
                    )
            }
            (Applied::Stored { .. }, Ok(_)) => {
                AuditEntry::new(Operation::Renew, Outcome::Ok, now).for_target(&s.target)
            }
            (Applied::Stored { restored }, Err(error)) => {
                let error = explained(&s.answer, error, *restored);
                crate::lifecycle::audit_failure(Operation::Renew, &s.target, &error, now)
            }
        };
        log.record(&entry);
    }
}

/// The vault cannot be written: rotated tokens go to a rescue file.
fn rescue(
    vault: &Vault,
    reservation: &mut WriteReservation,
    settled: &[Settled],
    cause: VaultError,
    now: DateTime<Utc>,
) -> RedeemError {
    let entries: Vec<RescueEntry> = settled
        .iter()
        .filter_map(|s| {
            let rotated = s.answer.rotated.clone()?;
            Some(RescueEntry {
                id: s.id,
                based_on: s.revision,
                refresh_token: rotated,
                redeemed_at: now,
            })
        })
        .collect();
    let target = settled
        .iter()
        .find(|s| s.answer.rotated.is_some())
        .or(settled.first())
        .map(|s| s.target.clone())
        .unwrap_or_else(|| TokenTarget::data_source("?"));
    if entries.is_empty() {
        // Nothing was rotated: the stored tokens are still the valid ones.
        return RedeemError::Vault(cause);
    }
    let log = AuditLog::in_dir(vault.dir());
    match vault.write_rescue(reservation, &entries, now) {
        Ok(path) => {
            for s in settled.iter().filter(|s| s.answer.rotated.is_some()) {
                log.record(
                    &AuditEntry::new(Operation::Renew, Outcome::Failed, now)
                        .for_target(&s.target)
                        .with_detail(format!(
                            "the vault could not be written ({cause}); the new refresh token was saved to the rescue file {}",
                            path.display()
                        )),
                );
            }
            RedeemError::Rescued {
                target,
                rescue: path,
                cause,
            }
        }
        Err(rescue_error) => {
            tracing::error!(%cause, %rescue_error, "a rotated refresh token could not be saved");
            RedeemError::AtRisk { target, cause }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use crate::identity::{RefreshAnswer, TokenSet};
    use crate::vault::TokenRecord;

    fn answer(access: &str, rotated: &str) -> RefreshAnswer {
        RefreshAnswer {
            rotated: Some(Secret::new(rotated)),
            result: Ok(TokenSet {
                access_token: Secret::new(access),
                access_expires_at: Utc::now() + chrono::Duration::hours(1),
                refresh_token: Some(Secret::new(rotated)),
                scope: None,
                identity: None,
                obtained_at: Utc::now(),
                refresh_expires_in: None,
            }),
        }
    }

    #[test]
    fn a_write_that_landed_unconfirmed_is_stored_not_superseded() {
        let id = TokenId {
            source: uuid::Uuid::new_v4(),
            mapping: None,
        };
        let settled = [Settled {
            id,
            target: TokenTarget::data_source("A"),
            revision: 4,
            answer: answer("at-1", "rt-2"),
            scope: None,
        }];
        let now = Utc::now();
        let mut record = TokenRecord {
            revision: 4,
            refresh_token: Some(Secret::new("rt-1")),
            ..TokenRecord::default()
        };
        // The first try's commit landed, unconfirmed: the retry finds its result.
        let mut first = TokenMap::from([(id, record.clone())]);
        assert_eq!(
            apply(&mut first, &settled, now),
            vec![Applied::Stored { restored: false }]
        );
        assert_eq!(
            apply(&mut first, &settled, now),
            vec![Applied::Stored { restored: false }]
        );
        assert_eq!(first[&id].refresh_token, Some(Secret::new("rt-2")));
        // Signed in again meanwhile: another revision, another token.
        record.revision = 5;
        record.refresh_token = Some(Secret::new("rt-from-a-new-sign-in"));
        let mut other = TokenMap::from([(id, record)]);
        assert_eq!(apply(&mut other, &settled, now), vec![Applied::Superseded]);
        assert_eq!(
            other[&id].refresh_token,
            Some(Secret::new("rt-from-a-new-sign-in"))
        );
    }
}
