//! Renewing many tokens at once along the guarded redemption path
//! (`crate::redemption`): a few redemptions in flight, the provider's throttling
//! honoured, and every rotated token in the vault before the run moves on.
//!
//! Tokens are taken in groups of one data source: each group locks its tokens
//! (a token another process is renewing is left to it), re-reads them, reserves the
//! space for the write, and only then asks the provider. Workers only talk to the
//! provider; one writer (the caller's task) stores what they bring, everything that
//! arrived while the previous write ran in one vault write, so a thousand renewals
//! cost far fewer than a thousand full-vault writes while no rotated token waits
//! longer than one write (`super::workers`). The space for the next write is held
//! before the current one uses its own, so an answer in flight always has somewhere
//! to go.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::due::{Decision, decide};
use super::workers::{Job, outcome, reserve, run_workers};
use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
use crate::clock::{Clock, Sleeper};
use crate::identity::{ErrorKind, HttpClient, IdentityClient, RefreshAnswer};
use crate::redemption::commit::{self, Settled};
use crate::redemption::{LockFailure, RedeemError};
use crate::vault::ops::TokenTarget;
use crate::vault::{TokenId, Vault};

pub use super::report::{RenewCounts, RenewOutcome, RenewReport, RenewResult};

/// Tokens locked and re-read together: one vault read per group. Each locked token
/// holds an open file, so a group stays well under the usual limit of 1,024; groups
/// of 64 made `renew --all` of 1,000 mappings 3x slower (each group's pipeline of
/// writes starts empty), 512 costs 1.5x the unguarded run (docs/PERFORMANCE.md).
const GROUP: usize = 512;

/// Which tokens a run looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every token that can be redeemed.
    All,
    /// Tokens the keep-alive rule says are due ([`decide`]).
    Due,
    /// These tokens, whatever their age.
    Only(Vec<TokenTarget>),
}

#[derive(Debug, Clone)]
pub struct RenewOptions {
    /// Redemptions in flight at once.
    pub concurrency: usize,
    /// Tries per token when the provider throttles or is briefly unavailable.
    pub max_attempts: u32,
    /// The longest Retry-After the run waits for; longer ones leave the token for
    /// the next run.
    pub max_wait: Duration,
}

impl Default for RenewOptions {
    fn default() -> Self {
        RenewOptions {
            concurrency: 4,
            max_attempts: 3,
            max_wait: Duration::from_secs(120),
        }
    }
}

/// A token picked for this run, before its lock is taken.
struct Candidate {
    id: TokenId,
    target: TokenTarget,
    account: String,
}

/// What the run has found so far.
pub(super) struct Tally<'a, P> {
    pub(super) results: Vec<RenewResult>,
    pub(super) fresh: usize,
    pub(super) progress: &'a mut P,
}

impl<P: FnMut(&RenewResult)> Tally<'_, P> {
    pub(super) fn push(&mut self, target: &TokenTarget, account: &str, outcome: RenewOutcome) {
        let result = RenewResult {
            data_source: target.data_source.clone(),
            user: target.app_user.clone(),
            account: account.to_string(),
            outcome,
        };
        (self.progress)(&result);
        self.results.push(result);
    }
}

/// Renews the selected tokens and stores each answer as it comes. `progress` sees
/// every result once it is durably stored. An error means the vault could not
/// take a write: nothing more was redeemed after it, and a rotated token that
/// could not be stored is in a rescue file the error names.
pub async fn renew<C, S>(
    vault: &mut Vault,
    selection: &Selection,
    options: &RenewOptions,
    http: &HttpClient,
    clock: &C,
    sleeper: &S,
    progress: impl FnMut(&RenewResult),
) -> Result<RenewReport, RedeemError>
where
    C: Clock + Clone + 'static,
    S: Sleeper + Clone + 'static,
{
    renew_publishing(
        vault,
        selection,
        options,
        http,
        clock,
        sleeper,
        progress,
        |_| {},
    )
    .await
}

/// [`renew`], showing `stored` the vault after each group of tokens is stored: a
/// gateway then serves the renewed records at once and lets the older copy of
/// each go while the run goes on, rather than holding both until it ends.
#[allow(clippy::too_many_arguments)]
pub async fn renew_publishing<C, S>(
    vault: &mut Vault,
    selection: &Selection,
    options: &RenewOptions,
    http: &HttpClient,
    clock: &C,
    sleeper: &S,
    mut progress: impl FnMut(&RenewResult),
    mut stored: impl FnMut(&Vault),
) -> Result<RenewReport, RedeemError>
where
    C: Clock + Clone + 'static,
    S: Sleeper + Clone + 'static,
{
    let started_at = clock.now();
    vault.reload()?;
    let audit = AuditLog::in_dir(vault.dir());
    let mut tally = Tally {
        results: Vec::new(),
        fresh: 0,
        progress: &mut progress,
    };
    let pending = select(vault, selection, started_at, &audit, &mut tally)?;
    for (source_id, candidates) in pending {
        let Some(config) = vault
            .data()
            .data_sources
            .iter()
            .find(|d| d.id == source_id)
            .map(|d| d.provider.clone())
        else {
            continue;
        };
        // One discovery per data source; a provider that cannot be reached fails
        // its tokens for this run and leaves them untouched.
        let client = match crate::redemption::connect(vault, http, config, clock.now()).await {
            Ok(client) => Arc::new(client),
            Err(error) => {
                store_unreachable(vault, &candidates, &error, clock, &mut tally)?;
                continue;
            }
        };
        let mut candidates = candidates.into_iter().peekable();
        while candidates.peek().is_some() {
            let group: Vec<Candidate> = candidates.by_ref().take(GROUP).collect();
            run_group(
                vault, group, &client, selection, started_at, options, clock, sleeper, &mut tally,
            )
            .await?;
            // What other processes stored meanwhile (the other gateway of a
            // shared vault renews the other half) is taken now, as the store's
            // own copy: what is shown next then holds one copy of each record,
            // not the older one beside the store's until the run ends. (A file
            // would be read whole: it is left to the run's end.) A store that
            // cannot be read now is met again by the next group's re-read.
            if let Err(error) = vault.catch_up() {
                tracing::debug!(%error, "the vault could not be read between two groups");
            }
            stored(vault);
        }
    }
    Ok(RenewReport {
        started_at,
        finished_at: clock.now(),
        fresh: tally.fresh,
        results: tally.results,
    })
}

/// Which tokens the run looks at, grouped by data source; those that only a
/// sign-in can bring back are reported at once.
fn select<P: FnMut(&RenewResult)>(
    vault: &Vault,
    selection: &Selection,
    now: DateTime<Utc>,
    audit: &AuditLog,
    tally: &mut Tally<'_, P>,
) -> Result<BTreeMap<uuid::Uuid, Vec<Candidate>>, RedeemError> {
    let data = vault.data();
    let only: Option<Vec<TokenId>> = match selection {
        Selection::Only(targets) => Some(
            targets
                .iter()
                .map(|t| data.token_id(t))
                .collect::<Result<_, _>>()?,
        ),
        _ => None,
    };
    let mut pending: BTreeMap<uuid::Uuid, Vec<Candidate>> = BTreeMap::new();
    // Walk the vault once; looking every target up again would be a search per
    // token (quadratic at 10,000 mappings).
    for owner in data.each_token() {
        let id = owner.id();
        if only.as_ref().is_some_and(|only| !only.contains(&id)) {
            continue;
        }
        let target = owner.target();
        let record = owner.record();
        match decision(selection, &owner, &data.settings, now) {
            Decision::Fresh => tally.fresh += 1,
            Decision::Due => pending.entry(id.source).or_default().push(Candidate {
                id,
                target,
                account: owner.account().to_string(),
            }),
            Decision::NeedsSignIn => {
                let reason = sign_in_reason(record);
                audit.record(
                    &AuditEntry::new(Operation::Renew, Outcome::Skipped, now)
                        .for_target(&target)
                        .with_detail(format!("needs a new sign-in: {reason}")),
                );
                tally.push(
                    &target,
                    owner.account(),
                    RenewOutcome::NeedsSignIn { reason },
                );
            }
        }
    }
    Ok(pending)
}

fn decision(
    selection: &Selection,
    owner: &crate::vault::ops::TokenOwner<'_>,
    settings: &crate::vault::Settings,
    now: DateTime<Utc>,
) -> Decision {
    let record = owner.record();
    let lifetime = crate::vault::policy::Lifetime::of(owner.source);
    let rule = decide(&owner.target(), record, settings, lifetime, now);
    match (selection, rule) {
        (_, Decision::NeedsSignIn) => Decision::NeedsSignIn,
        _ if record.refresh_token.is_none() => Decision::NeedsSignIn,
        (Selection::Due, rule) => rule,
        _ => Decision::Due,
    }
}

fn sign_in_reason(record: &crate::vault::TokenRecord) -> String {
    match (&record.last_error, &record.cleared) {
        (_, Some(cleared)) => format!("cleared by {}", cleared.by),
        (Some(error), None) if error.kind == ErrorKind::NeedsSignIn => error.message.clone(),
        _ => "no refresh token stored".to_string(),
    }
}

/// Records, for each token of an unreachable provider, why it was not renewed.
fn store_unreachable<P: FnMut(&RenewResult)>(
    vault: &mut Vault,
    candidates: &[Candidate],
    error: &crate::identity::IdentityError,
    clock: &impl Clock,
    tally: &mut Tally<'_, P>,
) -> Result<(), RedeemError> {
    let settled: Vec<Settled> = candidates
        .iter()
        .filter_map(|c| {
            let owner = vault.data().token_by_id(&c.id)?;
            Some(Settled {
                id: c.id,
                target: c.target.clone(),
                revision: owner.record().revision,
                answer: RefreshAnswer::failed(error.clone()),
                scope: None,
            })
        })
        .collect();
    let mut reservation = reserve(vault, settled.len())?;
    let applied = commit::store(vault, &mut reservation, &settled, clock.now())?;
    for (s, applied) in settled.iter().zip(applied) {
        let account = candidates
            .iter()
            .find(|c| c.id == s.id)
            .map(|c| c.account.as_str())
            .unwrap_or("");
        tally.push(&s.target, account, outcome(&s.answer, applied));
    }
    Ok(())
}

/// Locks a group of one data source's tokens, re-reads them, and renews those
/// that still need it.
#[allow(clippy::too_many_arguments)]
async fn run_group<C, S, P>(
    vault: &mut Vault,
    group: Vec<Candidate>,
    client: &Arc<IdentityClient>,
    selection: &Selection,
    started_at: DateTime<Utc>,
    options: &RenewOptions,
    clock: &C,
    sleeper: &S,
    tally: &mut Tally<'_, P>,
) -> Result<(), RedeemError>
where
    C: Clock + Clone + 'static,
    S: Sleeper + Clone + 'static,
    P: FnMut(&RenewResult),
{
    let mut locks = Vec::with_capacity(group.len());
    let mut claimed = Vec::with_capacity(group.len());
    for candidate in group {
        match vault.try_lock_token(&candidate.id) {
            Ok(lock) => {
                locks.push(lock);
                claimed.push(candidate);
            }
            Err(LockFailure::Busy { holder }) => {
                tally.push(
                    &candidate.target,
                    &candidate.account,
                    RenewOutcome::Busy { holder },
                );
            }
            Err(LockFailure::Io(error)) => return Err(RedeemError::NotWritable(error)),
        }
    }
    // Another process may have renewed, cleared or re-signed these tokens since
    // they were picked: decide again on what is stored now (just these records,
    // where the store keeps them apart).
    let ids: Vec<_> = claimed.iter().map(|c| c.id).collect();
    vault.reload_tokens(&ids)?;
    let now = clock.now();
    let mut jobs = VecDeque::new();
    for candidate in claimed {
        let data = vault.data();
        let Some(owner) = data.token_by_id(&candidate.id) else {
            continue;
        };
        let record = owner.record();
        let renewed_meanwhile = record.last_redeemed_at.is_some_and(|at| at > started_at);
        match decision(selection, &owner, &data.settings, now) {
            _ if renewed_meanwhile => tally.fresh += 1,
            Decision::Fresh => tally.fresh += 1,
            Decision::NeedsSignIn => {
                let reason = sign_in_reason(record);
                tally.push(
                    &candidate.target,
                    &candidate.account,
                    RenewOutcome::NeedsSignIn { reason },
                );
            }
            Decision::Due => {
                let Some(refresh_token) = record.refresh_token.clone() else {
                    continue;
                };
                jobs.push_back(Job {
                    id: candidate.id,
                    target: candidate.target,
                    account: candidate.account,
                    revision: record.revision,
                    refresh_token,
                    client: client.clone(),
                });
            }
        }
    }
    if jobs.is_empty() {
        return Ok(());
    }
    let reservation = reserve(vault, jobs.len())?;
    let result = run_workers(vault, jobs, reservation, options, clock, sleeper, tally).await;
    drop(locks);
    result
}
