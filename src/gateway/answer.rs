//! One token for one request: from the snapshot, from memory (a token that needs
//! a new sign-in, or one held back after a failure), or from one redemption through
//! the guarded path while every other request for the same token waits for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::Gateway;
use crate::desk::model::{Clock, Secret, SystemClock, TokenTarget, VaultData};

/// A token is redeemed afresh, after a mail server refused it, at most this often.
const FRESH_AGAIN_AFTER: Duration = Duration::from_secs(60);

/// A token handed out, with when it stops working.
pub(crate) struct HandOut {
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
    /// Renewal is failing: the token still works until `expires_at`, but the next
    /// one may not come in time. Why, for the consumer and its admin.
    pub renewal_failing: Option<String>,
}

/// Why no token is handed out.
#[derive(Debug, Clone)]
pub(crate) enum NoToken {
    /// Someone must sign in again; said from memory until the record changes.
    NeedsSignIn(String),
    /// Renewal failed for now; the provider is asked again in `retry_after` s.
    Waiting { reason: String, retry_after: u64 },
    /// Anything else: an unknown name, a record that changed meanwhile.
    Failed(String),
}

impl NoToken {
    pub fn reason(&self) -> &str {
        match self {
            NoToken::NeedsSignIn(reason) | NoToken::Failed(reason) => reason,
            NoToken::Waiting { reason, .. } => reason,
        }
    }
}

impl Gateway {
    /// An access token for `target`: from the snapshot while it lives five more
    /// minutes, else one redemption through the guarded path while every other
    /// request for the same token waits for it. A token that needs a new sign-in,
    /// or whose renewal failed a moment ago, is answered from memory without asking
    /// the provider (with its still-valid access token, if it has one).
    pub(crate) async fn access_token(
        self: &Arc<Self>,
        target: &TokenTarget,
        scope: Option<&str>,
    ) -> Result<HandOut, NoToken> {
        let data = self.data();
        if let Some(handed) = self.answer_from_memory(&data, target, scope) {
            return handed;
        }
        let flight = self.flight(target);
        let result = self.redeem_in_turn(&flight, target, scope, None).await;
        self.landed(target, flight);
        result
    }

    /// A new access token for `target` and `scope`, in the token's turn: a mail
    /// server refused `refused` though it should still live (revoked early). A
    /// token renewed by someone else meanwhile serves; otherwise one redemption,
    /// at most once a minute per token, so a server that refuses every token
    /// does not make the gateway ask the provider on every login.
    pub(crate) async fn fresh_access_token(
        self: &Arc<Self>,
        target: &TokenTarget,
        scope: Option<&str>,
        refused: &Secret,
    ) -> Result<HandOut, NoToken> {
        let flight = self.flight(target);
        let result = self
            .redeem_in_turn(&flight, target, scope, Some(refused))
            .await;
        self.landed(target, flight);
        result
    }

    /// The token's queue, made if nobody waits in it.
    fn flight(&self, target: &TokenTarget) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights.entry(target.clone()).or_default().clone()
    }

    /// The last one out removes the token's queue, so the map holds only tokens
    /// being redeemed now, not every token ever asked for.
    fn landed(&self, target: &TokenTarget, flight: Arc<tokio::sync::Mutex<()>>) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if Arc::strong_count(&flight) == 2 {
            flights.remove(target);
        }
    }

    /// What serves instead of a fresh redemption after `refused`: another token
    /// stored meanwhile, a token that needs a new sign-in, or — when `refused` is
    /// itself the fresh token of a minute ago — the refusal, so a server that
    /// refuses every token (a mailbox without SMTP AUTH, say) does not make the
    /// gateway ask the provider on every login.
    fn instead_of_fresh(
        &self,
        data: &VaultData,
        target: &TokenTarget,
        scope: Option<&str>,
        refused: &Secret,
    ) -> Option<Result<HandOut, NoToken>> {
        let now = SystemClock.now();
        let cached = crate::desk::tokens::cached_access(data, target, scope, now);
        if let Some((token, expires_at)) = &cached
            && token.expose() != refused.expose()
        {
            return Some(Ok(HandOut {
                token: token.clone(),
                expires_at: *expires_at,
                renewal_failing: None,
            }));
        }
        if let Some(reason) = crate::desk::tokens::sign_in_needed(data, target) {
            return Some(Err(NoToken::NeedsSignIn(reason)));
        }
        let mut fresh = self.fresh.lock().unwrap_or_else(|e| e.into_inner());
        fresh.retain(|_, (at, _)| at.elapsed() < FRESH_AGAIN_AFTER);
        let refused_is_fresh = fresh
            .get(target)
            .is_some_and(|(_, expires_at)| cached.as_ref().map(|c| c.1) == Some(*expires_at));
        refused_is_fresh.then(|| {
            Err(NoToken::Failed(
                "it refuses even the token renewed a moment ago; check that the mailbox may use this protocol (SMTP AUTH or IMAP enabled for it), or sign it in again".into(),
            ))
        })
    }

    /// What can be answered without asking anyone: a cached token, a token that
    /// needs a new sign-in, or one held after a failure.
    fn answer_from_memory(
        &self,
        data: &VaultData,
        target: &TokenTarget,
        scope: Option<&str>,
    ) -> Option<Result<HandOut, NoToken>> {
        let now = SystemClock.now();
        if let Some((token, expires_at)) =
            crate::desk::tokens::cached_access(data, target, scope, now)
        {
            self.metrics.cache_hit();
            return Some(Ok(HandOut {
                token,
                expires_at,
                renewal_failing: None,
            }));
        }
        if let Some(reason) = crate::desk::tokens::sign_in_needed(data, target) {
            self.metrics.answered_from_memory();
            return Some(Err(NoToken::NeedsSignIn(reason)));
        }
        let revision = crate::desk::tokens::revision(data, target)?;
        let hold = self.holds.current(target, revision, Instant::now())?;
        self.metrics.answered_from_memory();
        Some(
            self.still_valid(data, target, scope, &hold.reason)
                .ok_or(NoToken::Waiting {
                    reason: hold.reason.clone(),
                    retry_after: hold.retry_after_seconds(Instant::now()),
                }),
        )
    }

    /// The cached access token while it still works at all, said to be failing.
    fn still_valid(
        &self,
        data: &VaultData,
        target: &TokenTarget,
        scope: Option<&str>,
        reason: &str,
    ) -> Option<HandOut> {
        let (token, expires_at) = crate::desk::tokens::still_valid_access(
            data,
            target,
            scope,
            SystemClock.now(),
            chrono::Duration::seconds(1),
        )?;
        Some(HandOut {
            token,
            expires_at,
            renewal_failing: Some(reason.to_string()),
        })
    }

    async fn redeem_in_turn(
        self: &Arc<Self>,
        flight: &tokio::sync::Mutex<()>,
        target: &TokenTarget,
        scope: Option<&str>,
        refused: Option<&Secret>,
    ) -> Result<HandOut, NoToken> {
        let _turn = flight.lock().await;
        // The request ahead of this one may have renewed it, or failed, meanwhile.
        let instead = match refused {
            None => self.answer_from_memory(&self.data(), target, scope),
            Some(refused) => self.instead_of_fresh(&self.data(), target, scope, refused),
        };
        if let Some(handed) = instead {
            return handed;
        }
        let fresh = refused.is_some();
        // Its own task: a client that hangs up, or a shutdown, never cancels a
        // redemption between the provider's answer and the vault write.
        let gateway = self.clone();
        let target = target.clone();
        let scope = scope.map(str::to_string);
        tokio::spawn(async move { gateway.redeem(&target, scope.as_deref(), fresh).await })
            .await
            .unwrap_or_else(|e| Err(NoToken::Failed(format!("The renewal stopped: {e}"))))
    }

    async fn redeem(
        &self,
        target: &TokenTarget,
        scope: Option<&str>,
        fresh: bool,
    ) -> Result<HandOut, NoToken> {
        let _writing = self.writes.clone().read_owned().await;
        let mut handle = self.vault.lock().await.another_handle();
        let result = if fresh {
            crate::desk::tokens::fresh_access_token(&mut handle, target, scope, &SystemClock).await
        } else {
            crate::desk::tokens::access_token(&mut handle, target, scope, &SystemClock).await
        };
        self.publish(handle.shared_data());
        self.vault.lock().await.adopt(&handle);
        self.metrics.redemption(result.is_ok());
        if result.is_err() {
            self.wake_notifier();
        }
        let error = match result {
            Ok((token, expires_at)) => {
                self.holds.succeeded(target);
                if fresh {
                    self.fresh
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(target.clone(), (Instant::now(), expires_at));
                }
                return Ok(HandOut {
                    token,
                    expires_at,
                    renewal_failing: None,
                });
            }
            Err(error) => error,
        };
        let data = self.data();
        if let Some(reason) = crate::desk::tokens::sign_in_needed(&data, target) {
            return Err(NoToken::NeedsSignIn(reason));
        }
        let reason = error.to_string();
        let Some(revision) = crate::desk::tokens::revision(&data, target) else {
            return Err(NoToken::Failed(reason));
        };
        if matches!(
            &error,
            crate::desk::DeskError::Redeem(crate::desk::model::RedeemError::Superseded { .. })
        ) {
            // Signed in again or cleared meanwhile: the next request finds out.
            return Err(NoToken::Failed(reason));
        }
        let hold = self.holds.failed(
            target,
            revision,
            error.retry_after(),
            reason.clone(),
            Instant::now(),
        );
        self.still_valid(&data, target, scope, &reason)
            .ok_or(NoToken::Waiting {
                reason,
                retry_after: hold.retry_after_seconds(Instant::now()),
            })
    }
}
