//! What an admin (or an application) does with one token: hand out an access
//! token, store a sign-in, Test Connection, Clear Token, renew. Every redemption
//! goes through the guarded path in `redemption`; nothing here redeems on its own.

use chrono::{DateTime, Utc};

use super::DeskError;
use super::account::{AccountCheck, check_account};
use crate::clock::{Clock, Sleeper};
use crate::identity::{HttpClient, HttpOptions, TokenSet};
use crate::redemption::CachePolicy;
use crate::secret::Secret;
use crate::vault::ops::TokenTarget;
use crate::vault::{Vault, VaultData};

pub use crate::keepalive::{RenewOptions, RenewOutcome, RenewReport, RenewResult, Selection};
pub use crate::redemption::scope_covers;

/// A cached access token is handed out only while it lives at least this long.
pub const MIN_REMAINING: chrono::Duration = chrono::Duration::minutes(5);

/// Whom a sign-in's tokens may belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// Only the configured Exchange account.
    ConfiguredAccount,
    /// The admin confirmed: whoever signed in (bound to the provider's subject when
    /// it named nobody).
    AnyAccount,
}

/// An access token for `target` (covering `scope` when given) and when it stops
/// working: a cached one that lives five more minutes, or a fresh one from the
/// guarded redemption path (whose lifetime is what the provider said, even when
/// that is under five minutes).
pub async fn access_token(
    vault: &mut Vault,
    target: &TokenTarget,
    scope: Option<&str>,
    clock: &impl Clock,
) -> Result<(Secret, DateTime<Utc>), DeskError> {
    if let Some(cached) = cached_access(vault.data(), target, scope, clock.now()) {
        return Ok(cached);
    }
    let cache = CachePolicy::Usable {
        margin: MIN_REMAINING,
    };
    redeem_access(vault, target, scope, cache, clock).await
}

/// A new access token for `target` and `scope` from the guarded redemption path,
/// though the cached one still lives: a server refused that one (revoked before
/// its time). Another process's renewal while this one waited serves instead.
pub async fn fresh_access_token(
    vault: &mut Vault,
    target: &TokenTarget,
    scope: Option<&str>,
    clock: &impl Clock,
) -> Result<(Secret, DateTime<Utc>), DeskError> {
    redeem_access(
        vault,
        target,
        scope,
        CachePolicy::RenewedWhileWaiting,
        clock,
    )
    .await
}

async fn redeem_access(
    vault: &mut Vault,
    target: &TokenTarget,
    scope: Option<&str>,
    cache: CachePolicy,
    clock: &impl Clock,
) -> Result<(Secret, DateTime<Utc>), DeskError> {
    if vault.data().token(target).is_err() {
        // Added elsewhere since this handle read the vault (a long-running gateway).
        vault.reload()?;
    }
    vault.data().token(target)?;
    let config = vault
        .data()
        .data_source(&target.data_source)?
        .provider
        .clone();
    let http = http()?;
    let client = crate::redemption::connect(vault, &http, config, clock.now()).await?;
    let access =
        crate::lifecycle::redeem_for_scope(vault, &client, target, scope, cache, clock).await?;
    Ok((access.access_token().clone(), access.expires_at()))
}

/// The cached access token for `target` and when it ends, while it lives five
/// more minutes and covers `scope`: what the gateway answers without any I/O.
pub fn cached_access(
    data: &crate::vault::VaultData,
    target: &TokenTarget,
    scope: Option<&str>,
    now: DateTime<Utc>,
) -> Option<(Secret, DateTime<Utc>)> {
    still_valid_access(data, target, scope, now, MIN_REMAINING)
}

/// The cached access token for `target` and `scope` while it lives `margin`
/// longer: with a zero margin, what a gateway may still hand out while renewal
/// fails (the token works until its real expiry).
pub fn still_valid_access(
    data: &crate::vault::VaultData,
    target: &TokenTarget,
    scope: Option<&str>,
    now: DateTime<Utc>,
    margin: chrono::Duration,
) -> Option<(Secret, DateTime<Utc>)> {
    let record = data.token(target).ok()?;
    let access = record.access_for(scope)?;
    (access.expires_at - margin > now).then(|| (access.token.clone(), access.expires_at))
}

/// Why `target` cannot be renewed until someone signs in again, if so: it has no
/// refresh token (never signed in, or cleared), or the provider's last answer said
/// the token is dead. Only a change of the record (a sign-in) ends this.
pub fn sign_in_needed(data: &crate::vault::VaultData, target: &TokenTarget) -> Option<String> {
    let record = data.token(target).ok()?;
    if !record.has_refresh_token() {
        return Some(crate::redemption::RedeemError::NoToken(target.clone()).to_string());
    }
    record
        .last_error
        .as_ref()
        .filter(|e| e.kind.invalidates_token())
        .map(|e| e.message.clone())
}

/// The revision of `target`'s record (every change to the token bumps it).
pub fn revision(data: &crate::vault::VaultData, target: &TokenTarget) -> Option<u64> {
    data.token(target).ok().map(|record| record.revision)
}

/// Before a sign-in begins: proves the vault can take its result (the lock, and
/// room for the next write), so that a full disk or a read-only folder is said
/// before the admin signs in, not after the provider issued the tokens.
pub fn ready_for_sign_in(vault: &Vault) -> Result<(), DeskError> {
    vault.reserve_write(0)?;
    Ok(())
}

/// Stores a finished sign-in for `target` after the account check: the configured
/// account, or anyone when the admin accepted it.
pub fn store_sign_in(
    vault: &mut Vault,
    target: &TokenTarget,
    tokens: &TokenSet,
    acceptance: Acceptance,
    now: DateTime<Utc>,
) -> Result<(), DeskError> {
    let expected = vault.data().expected_account(target)?;
    accept_account(target, tokens, &expected, acceptance)?;
    crate::lifecycle::store_sign_in(vault, target, tokens, now)?;
    Ok(())
}

/// What a finished sign-in was for that the vault does not have yet.
#[derive(Debug, Clone)]
pub enum Unsaved {
    /// A data source still being set up (its draft, as the dialog would save it).
    DataSource(Box<crate::vault::DataSource>),
    /// An additional user of the saved data source `source`, not saved yet.
    Mapping {
        source: uuid::Uuid,
        mapping: Box<crate::vault::UserMapping>,
    },
}

/// Stores a finished sign-in whose data source or mapping is not in the vault yet
/// together with it, in one write: a grant the provider gave is stored the moment
/// it arrives, never left waiting for a dialog's OK (which the admin may cancel).
pub fn store_sign_in_with(
    vault: &mut Vault,
    unsaved: Unsaved,
    target: &TokenTarget,
    tokens: &TokenSet,
    acceptance: Acceptance,
    now: DateTime<Utc>,
) -> Result<(), DeskError> {
    let expected = match (&unsaved, &target.app_user) {
        (Unsaved::DataSource(source), None) => source.account.email.clone(),
        (Unsaved::DataSource(source), Some(login)) => source
            .mapping(login)
            .map(|m| m.exchange_user.clone())
            .ok_or_else(|| {
                crate::vault::VaultError::NotFound(format!(
                    "'{login}' has no mapping in '{}'.",
                    source.name
                ))
            })?,
        (Unsaved::Mapping { mapping, .. }, _) => mapping.exchange_user.clone(),
    };
    accept_account(target, tokens, &expected, acceptance)?;
    crate::lifecycle::store_sign_in_with(vault, target, tokens, now, |data| match unsaved {
        Unsaved::DataSource(source) => data.upsert_data_source(*source),
        Unsaved::Mapping { source, mapping } => {
            let stored = data
                .data_sources
                .iter_mut()
                .find(|d| d.id == source)
                .ok_or_else(|| {
                    crate::vault::VaultError::NotFound(
                        "The data source was removed meanwhile (by another window or process)."
                            .into(),
                    )
                })?;
            if stored.users.iter().all(|m| m.id != mapping.id) {
                crate::vault::rules::check_mapping(stored, &mapping)?;
                super::mappings::put(stored, *mapping);
            }
            Ok(())
        }
    })?;
    Ok(())
}

/// The account check of a sign-in: the configured account signed in, or the admin
/// accepted whoever did.
fn accept_account(
    target: &TokenTarget,
    tokens: &TokenSet,
    expected: &str,
    acceptance: Acceptance,
) -> Result<(), DeskError> {
    let expected = expected.to_string();
    if acceptance == Acceptance::ConfiguredAccount {
        match check_account(tokens, &expected) {
            AccountCheck::Matches => {}
            AccountCheck::Other { who } => {
                return Err(DeskError::OtherAccount {
                    who,
                    target: target.to_string(),
                    expected,
                });
            }
            AccountCheck::Unnamed { reason, subject } => {
                return Err(DeskError::Unnamed {
                    reason,
                    expected,
                    subject,
                });
            }
        }
    }
    Ok(())
}

/// Test Connection: redeems, calls the account's API and checks the mailbox.
/// Returns the account the API answered for.
pub async fn test_connection(
    vault: &mut Vault,
    target: &TokenTarget,
    clock: &impl Clock,
) -> Result<String, DeskError> {
    Ok(crate::lifecycle::test_target(vault, http()?, target, clock).await?)
}

/// Clear Token: the connection stays suspended until the next sign-in.
pub fn clear(vault: &mut Vault, target: &TokenTarget, now: DateTime<Utc>) -> Result<(), DeskError> {
    Ok(crate::lifecycle::clear(vault, target, now)?)
}

/// Whether Clear can also revoke `target`'s refresh token at its provider: the
/// provider's discovery, as the vault last read it, lists an RFC 7009 endpoint.
/// (The age of that reading does not matter: revoking discovers afresh when it is old.)
pub fn revocation_offered(data: &VaultData, target: &TokenTarget) -> bool {
    data.data_source(&target.data_source)
        .ok()
        .and_then(|source| data.known_endpoints(&source.provider))
        .is_some_and(|endpoints| endpoints.revocation.is_some())
}

/// Clear Token after asking the provider to revoke the refresh token (RFC 7009).
/// Only once the provider agreed is it cleared here: a provider that refuses or
/// cannot be reached changes nothing, and the admin may clear without revoking.
/// `Ok(false)`: the provider offers no revocation; the token was cleared here only.
pub async fn revoke_and_clear(
    vault: &mut Vault,
    target: &TokenTarget,
    clock: &impl Clock,
) -> Result<bool, DeskError> {
    // The token's own lock, as a redemption takes it: a keep-alive cannot store a
    // rotated token between the revocation and the clear.
    let id = vault.data().token_id(target)?;
    let _lock = match vault
        .lock_token(&id, std::time::Duration::from_secs(30))
        .await
    {
        Ok(lock) => lock,
        Err(crate::redemption::LockFailure::Busy { holder }) => {
            return Err(crate::desk::model::RedeemError::Busy {
                target: target.clone(),
                holder,
                waited_seconds: 30,
            }
            .into());
        }
        Err(crate::redemption::LockFailure::Io(error)) => {
            return Err(crate::desk::model::RedeemError::NotWritable(error).into());
        }
    };
    vault.reload_tokens(&[id])?;
    let refresh_token = vault.data().token(target)?.refresh_token.clone();
    let config = vault
        .data()
        .data_source(&target.data_source)?
        .provider
        .clone();
    let revoked = match refresh_token {
        Some(token) => {
            let client = crate::redemption::connect(vault, &http()?, config, clock.now()).await?;
            client.revoke(&token).await?
        }
        None => false,
    };
    crate::lifecycle::clear(vault, target, clock.now())?;
    Ok(revoked)
}

/// What Clear with revocation did to several tokens.
#[derive(Debug, Default)]
pub struct RevokeReport {
    /// Revoked at the provider, then cleared here.
    pub revoked: usize,
    /// Cleared here only: their provider offers no revocation (or they had none).
    pub cleared_only: usize,
    /// Left as they were: the provider refused or could not be asked.
    pub refused: Vec<(TokenTarget, DeskError)>,
}

/// All mailboxes › Clear with revocation: each token revoked where its provider
/// offers it (then cleared), cleared only where it does not. A refusal leaves that
/// token as it was and the others go on.
pub async fn revoke_and_clear_all(
    vault: &mut Vault,
    targets: &[TokenTarget],
    clock: &impl Clock,
) -> Result<RevokeReport, DeskError> {
    let (offered, local): (Vec<&TokenTarget>, Vec<&TokenTarget>) = targets
        .iter()
        .partition(|target| revocation_offered(vault.data(), target));
    // Those no provider can revoke are cleared as Clear does, in one write.
    let local: Vec<TokenTarget> = local.into_iter().cloned().collect();
    if !local.is_empty() {
        crate::lifecycle::clear_all(vault, &local, clock.now())?;
    }
    let mut report = RevokeReport {
        cleared_only: local.len(),
        ..RevokeReport::default()
    };
    for target in offered {
        match revoke_and_clear(vault, target, clock).await {
            Ok(true) => report.revoked += 1,
            Ok(false) => report.cleared_only += 1,
            Err(error) => report.refused.push((target.clone(), error)),
        }
    }
    Ok(report)
}

/// Clear Token for several tokens at once (All mailboxes › Clear).
pub fn clear_all(
    vault: &mut Vault,
    targets: &[TokenTarget],
    now: DateTime<Utc>,
) -> Result<(), DeskError> {
    Ok(crate::lifecycle::clear_all(vault, targets, now)?)
}

/// The gateway's hand-outs, counted per consumer, token and minute (never the token).
pub use crate::audit::handouts::{HandOutCount, HandOutTally};

/// The reminder for `target` was shown today: not again until tomorrow.
pub fn mark_reminder_shown(
    vault: &mut Vault,
    target: &TokenTarget,
    day: chrono::NaiveDate,
) -> Result<(), DeskError> {
    Ok(vault.update(|data| {
        data.token_mut(target)?.reminder_shown_on = Some(day);
        Ok(())
    })?)
}

/// Renews the selected tokens (the keep-alive of every face).
pub async fn renew<C, S>(
    vault: &mut Vault,
    selection: &Selection,
    options: &RenewOptions,
    clock: &C,
    sleeper: &S,
    progress: impl FnMut(&RenewResult),
) -> Result<RenewReport, DeskError>
where
    C: Clock + Clone + 'static,
    S: Sleeper + Clone + 'static,
{
    let http = http()?;
    Ok(crate::keepalive::renew(vault, selection, options, &http, clock, sleeper, progress).await?)
}

/// [`renew`], showing `stored` the vault after each group of tokens is stored
/// (the gateway serves the renewed records at once).
pub async fn renew_publishing<C, S>(
    vault: &mut Vault,
    selection: &Selection,
    options: &RenewOptions,
    clock: &C,
    sleeper: &S,
    stored: impl FnMut(&Vault),
) -> Result<RenewReport, DeskError>
where
    C: Clock + Clone + 'static,
    S: Sleeper + Clone + 'static,
{
    let http = http()?;
    let report = crate::keepalive::renew_publishing(
        vault,
        selection,
        options,
        &http,
        clock,
        sleeper,
        |_| {},
        stored,
    );
    Ok(report.await?)
}

fn http() -> Result<HttpClient, DeskError> {
    Ok(HttpClient::new(&HttpOptions::default())?)
}
