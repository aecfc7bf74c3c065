//! The guarded redemption path: the only place a refresh token is sent to a
//! provider. Every caller — `token`, `renew` and the keep-alive (CLI, window,
//! schedule), Test Connection — comes through here, in this order:
//!
//! 1. lock **that token** (a waiter gives up after a bounded time, naming the holder);
//! 2. re-read its record: another process may have just renewed it, and then its
//!    fresh access token is served instead of redeeming again;
//! 3. prove the vault can take the write (lock, a file, the disk space) before the
//!    provider is asked anything;
//! 4. redeem;
//! 5. store the rotated refresh token first — even when the rest of the answer is
//!    unusable — into the record only if it is still the one redeemed;
//! 6. if the vault write keeps failing, put the new token in a rescue file.
//!
//! Many tokens at once (the keep-alive) use the same steps per group of tokens; see
//! `crate::keepalive::engine`.

pub mod commit;
pub mod error;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use crate::vault::token_lock::{LockFailure, TokenLock};
pub use commit::{Applied, Settled};
pub use error::RedeemError;

use crate::Secret;
use crate::clock::Clock;
use crate::identity::{
    HttpClient, IdentityClient, IdentityError, ProviderConfig, SignedInIdentity, TokenSet,
};
use crate::vault::ops::TokenTarget;
use crate::vault::{TokenId, TokenRecord, Vault};

/// How long `token` and Test Connection wait for another process's renewal of the
/// same token before giving up with a message.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(20);

/// When a cached access token serves instead of a redemption.
#[derive(Debug, Clone)]
pub enum CachePolicy {
    /// Any cached access token that lives at least `margin` longer and covers the
    /// scope (`tokendesk token`).
    Usable { margin: chrono::Duration },
    /// Only one that another process stored while this one waited for the token's
    /// lock (Test Connection, renewing one token on request): that renewal is the
    /// one this caller would have made.
    RenewedWhileWaiting,
}

/// One token to redeem.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub target: &'a TokenTarget,
    /// Ask for an access token for these scopes instead of the grant's.
    pub scope: Option<&'a str>,
    pub cache: CachePolicy,
    pub lock_wait: Duration,
}

/// A usable access token.
#[derive(Debug, Clone)]
pub enum Access {
    /// Served from the vault: another process had just renewed the token.
    Cached {
        access_token: Secret,
        expires_at: DateTime<Utc>,
        identity: Option<SignedInIdentity>,
    },
    /// Redeemed now; the answer is stored.
    Redeemed(TokenSet),
}

impl Access {
    pub fn access_token(&self) -> &Secret {
        match self {
            Access::Cached { access_token, .. } => access_token,
            Access::Redeemed(tokens) => &tokens.access_token,
        }
    }

    /// When the access token stops working, as the provider said.
    pub fn expires_at(&self) -> DateTime<Utc> {
        match self {
            Access::Cached { expires_at, .. } => *expires_at,
            Access::Redeemed(tokens) => tokens.access_expires_at,
        }
    }

    pub fn identity(&self) -> Option<&SignedInIdentity> {
        match self {
            Access::Cached { identity, .. } => identity.as_ref(),
            Access::Redeemed(tokens) => tokens.identity.as_ref(),
        }
    }

    pub fn was_redeemed(&self) -> bool {
        matches!(self, Access::Redeemed(_))
    }
}

/// The provider's client for a redemption: with the endpoints the vault remembers
/// from a discovery less than a day old (any process's), else discovering them and
/// remembering them — so renewing N tokens costs one discovery a day, not N.
pub async fn connect(
    vault: &mut Vault,
    http: &HttpClient,
    config: ProviderConfig,
    now: DateTime<Utc>,
) -> Result<IdentityClient, IdentityError> {
    if let Some(endpoints) = vault.data().cached_endpoints(&config, now) {
        return IdentityClient::with_endpoints(http.clone(), config, endpoints);
    }
    let client = IdentityClient::connect(http.clone(), config).await?;
    if client.endpoints().discovered
        && let Err(error) = vault.update(|data| {
            data.remember_endpoints(client.config(), client.endpoints(), now);
            Ok(())
        })
    {
        // Only a cache: the redemption itself finds out whether the vault is writable.
        tracing::debug!(%error, "the discovered endpoints were not remembered");
    }
    Ok(client)
}

/// Redeems one token along the guarded path (see the module documentation).
pub async fn redeem(
    vault: &mut Vault,
    client: &IdentityClient,
    request: Request<'_>,
    clock: &impl Clock,
) -> Result<Access, RedeemError> {
    let id = current_id(vault, request.target)?;
    let revision_before = vault
        .data()
        .token_by_id(&id)
        .map(|owner| owner.record().revision);
    let _lock = match vault.lock_token(&id, request.lock_wait).await {
        Ok(lock) => lock,
        Err(LockFailure::Busy { holder }) => {
            return Err(RedeemError::Busy {
                target: request.target.clone(),
                holder,
                waited_seconds: request.lock_wait.as_secs(),
            });
        }
        Err(LockFailure::Io(error)) => return Err(RedeemError::NotWritable(error)),
    };
    vault.reload_tokens(&[id])?;
    let record = vault
        .data()
        .token_by_id(&id)
        .map(|owner| owner.record().clone())
        .ok_or_else(|| RedeemError::Superseded {
            target: request.target.clone(),
        })?;
    let changed_meanwhile = revision_before != Some(record.revision);
    if let Some(access) = cached(
        &record,
        &request.cache,
        changed_meanwhile,
        request.scope,
        clock.now(),
    ) {
        return Ok(access);
    }
    let refresh_token = record
        .refresh_token
        .clone()
        .ok_or_else(|| RedeemError::NoToken(request.target.clone()))?;
    let mut reservation = vault
        .reserve_write(commit::GROWTH_PER_ANSWER)
        .map_err(RedeemError::NotWritable)?;
    let answer = client
        .refresh(&refresh_token, request.scope, clock.now())
        .await;
    let settled = [Settled {
        id,
        target: request.target.clone(),
        revision: record.revision,
        answer,
        scope: request.scope.map(str::to_string),
    }];
    let applied = commit::store(vault, &mut reservation, &settled, clock.now())?;
    let [settled] = settled;
    if matches!(&settled.answer.result, Err(e) if e.http_status == Some(404)) {
        // The endpoint moved: discover again next time.
        let _ = vault.update(|data| {
            data.forget_endpoints(client.config());
            Ok(())
        });
    }
    if applied.first() == Some(&Applied::Superseded) {
        return Err(RedeemError::Superseded {
            target: request.target.clone(),
        });
    }
    let restored = matches!(applied.first(), Some(Applied::Stored { restored: true }));
    match &settled.answer.result {
        Ok(tokens) => Ok(Access::Redeemed(tokens.clone())),
        Err(error) => Err(RedeemError::Identity(commit::explained(
            &settled.answer,
            error,
            restored,
        ))),
    }
}

/// The id of `target`'s token, with its record as the store has it now: only that
/// record is read again when the handle knows the target, everything when it
/// does not (a data source or user added elsewhere since).
fn current_id(vault: &mut Vault, target: &TokenTarget) -> Result<TokenId, RedeemError> {
    if let Ok(id) = vault.data().token_id(target) {
        vault.reload_tokens(&[id])?;
        if vault.data().token_by_id(&id).is_some() {
            return Ok(id);
        }
    }
    vault.reload()?;
    Ok(vault.data().token_id(target)?)
}

fn cached(
    record: &TokenRecord,
    policy: &CachePolicy,
    changed_meanwhile: bool,
    scope: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Access> {
    let access = record.access_for(scope)?;
    let usable = match policy {
        CachePolicy::Usable { margin } => access.expires_at - *margin > now,
        CachePolicy::RenewedWhileWaiting => {
            changed_meanwhile && record.last_error.is_none() && access.expires_at > now
        }
    };
    usable.then(|| Access::Cached {
        access_token: access.token.clone(),
        expires_at: access.expires_at,
        identity: record.identity.clone(),
    })
}

/// Whether an access token granted for `granted` serves a request for `wanted`.
/// Microsoft names Graph scopes without their resource in answers, so
/// `https://graph.microsoft.com/Mail.Read` is served by `Mail.Read`.
pub fn scope_covers(granted: &str, wanted: &str) -> bool {
    let granted: Vec<String> = granted.split_whitespace().map(str::to_lowercase).collect();
    wanted.split_whitespace().all(|scope| {
        let scope = scope.to_lowercase();
        if matches!(
            scope.as_str(),
            "openid" | "profile" | "email" | "offline_access"
        ) {
            return true;
        }
        let short = scope.rsplit('/').next().unwrap_or(&scope).to_string();
        granted.iter().any(|g| *g == scope || *g == short)
    })
}
