//! Renewing many tokens at once: a few redemptions in flight, the provider's
//! throttling honoured, and every rotated token in the vault before the run moves on.
//!
//! Workers only talk to the provider; one writer (the caller's task) stores what
//! they bring. It takes everything that arrived while the previous write ran and
//! stores it in one vault write, so a thousand renewals cost far fewer than a thousand
//! full-vault writes while no rotated token waits longer than one write.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;

use super::due::{Decision, decide};
use crate::Secret;
use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
use crate::clock::{Clock, Sleeper};
use crate::identity::{ErrorKind, HttpClient, IdentityClient, IdentityError, TokenSet};
use crate::vault::ops::TokenTarget;
use crate::vault::{TokenRecord, Vault, VaultError};

pub const RENEW_LOCK_FILE: &str = "renew.lock";

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RenewOutcome {
    /// Redeemed and stored; `rotated` when the provider issued a new refresh token.
    Renewed { rotated: bool },
    /// The provider or the network failed; the token is as it was.
    Failed {
        kind: ErrorKind,
        code: Option<String>,
        message: String,
    },
    /// Only a sign-in by `account` brings this token back.
    NeedsSignIn { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenewResult {
    pub data_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Who signs in for this token.
    pub account: String,
    #[serde(flatten)]
    pub outcome: RenewOutcome,
}

impl RenewResult {
    pub fn target(&self) -> TokenTarget {
        TokenTarget {
            data_source: self.data_source.clone(),
            app_user: self.user.clone(),
        }
    }

    /// The provider said this token is dead (as opposed to a passing failure).
    pub fn is_dead(&self) -> bool {
        match &self.outcome {
            RenewOutcome::NeedsSignIn { .. } => true,
            RenewOutcome::Failed { kind, .. } => kind.invalidates_token(),
            RenewOutcome::Renewed { .. } => false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RenewReport {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Tokens looked at but not due.
    pub fresh: usize,
    pub results: Vec<RenewResult>,
}

impl RenewReport {
    pub fn renewed(&self) -> usize {
        self.count(|r| matches!(r.outcome, RenewOutcome::Renewed { .. }))
    }

    /// Failures that the next run may get past.
    pub fn transient(&self) -> usize {
        self.count(|r| matches!(r.outcome, RenewOutcome::Failed { .. }) && !r.is_dead())
    }

    pub fn dead(&self) -> usize {
        self.count(RenewResult::is_dead)
    }

    fn count(&self, predicate: impl Fn(&RenewResult) -> bool) -> usize {
        self.results.iter().filter(|r| predicate(r)).count()
    }

    /// One line for a status strip or the end of `tokendesk renew`.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} renewed", self.renewed())];
        if self.fresh > 0 {
            parts.push(format!("{} not due", self.fresh));
        }
        if self.transient() > 0 {
            parts.push(format!(
                "{} failed for now (retried next run)",
                self.transient()
            ));
        }
        if self.dead() > 0 {
            parts.push(format!("{} need a new sign-in", self.dead()));
        }
        parts.join(", ")
    }
}

/// Held while a run redeems tokens, so the desktop app's keep-alive and a scheduled
/// `tokendesk renew` never redeem the same token at once (a provider that detects
/// refresh-token replay would revoke the whole grant).
pub struct RenewLock(File);

impl RenewLock {
    pub fn acquire(dir: &Path) -> Result<RenewLock, VaultError> {
        let path = dir.join(RENEW_LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| VaultError::io("Could not open the renewal lock", &path, e))?;
        file.lock()
            .map_err(|e| VaultError::io("Could not take the renewal lock", &path, e))?;
        Ok(RenewLock(file))
    }
}

impl Drop for RenewLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

struct Job {
    target: TokenTarget,
    account: String,
    refresh_token: Secret,
    client: Arc<IdentityClient>,
}

struct Answer {
    target: TokenTarget,
    account: String,
    result: Result<TokenSet, IdentityError>,
}

/// Renews the selected tokens and stores each answer as it comes. `progress` sees
/// every result once it is durably stored.
pub async fn renew<C, S>(
    vault: &mut Vault,
    selection: &Selection,
    options: &RenewOptions,
    http: &HttpClient,
    clock: &C,
    sleeper: &S,
    mut progress: impl FnMut(&RenewResult),
) -> Result<RenewReport, VaultError>
where
    C: Clock + Clone + 'static,
    S: Sleeper + Clone + 'static,
{
    let _lock = RenewLock::acquire(vault.dir())?;
    let started_at = clock.now();
    vault.reload()?;
    let audit = AuditLog::in_dir(vault.dir());
    let mut results = Vec::new();
    let mut fresh = 0;
    let mut pending: BTreeMap<String, Vec<(TokenTarget, String, Secret)>> = BTreeMap::new();
    {
        let data = vault.data();
        // Walk the vault once; looking every target up again would be a search per
        // token (quadratic at 10,000 mappings).
        let owners: Vec<(TokenTarget, &TokenRecord, String)> = match selection {
            Selection::All | Selection::Due => data
                .each_token()
                .map(|o| (o.target(), o.record(), o.account().to_string()))
                .collect(),
            Selection::Only(targets) => targets
                .iter()
                .map(|t| Ok((t.clone(), data.token(t)?, data.expected_account(t)?)))
                .collect::<Result<_, VaultError>>()?,
        };
        for (target, record, account) in owners {
            let decision = match selection {
                Selection::Due => decide(&target, record, &data.settings, started_at),
                _ if decide(&target, record, &data.settings, started_at)
                    == Decision::NeedsSignIn =>
                {
                    Decision::NeedsSignIn
                }
                _ => Decision::Due,
            };
            match (decision, &record.refresh_token) {
                (Decision::Fresh, _) => fresh += 1,
                (Decision::Due, Some(token)) => pending
                    .entry(target.data_source.clone())
                    .or_default()
                    .push((target, account, token.clone())),
                (Decision::NeedsSignIn, _) | (Decision::Due, None) => {
                    let reason = match (&record.last_error, &record.cleared) {
                        (_, Some(cleared)) => format!("cleared by {}", cleared.by),
                        (Some(error), None) if error.kind == ErrorKind::NeedsSignIn => {
                            error.message.clone()
                        }
                        _ => "no refresh token stored".to_string(),
                    };
                    audit.record(
                        &AuditEntry::new(Operation::Renew, Outcome::Skipped, started_at)
                            .for_target(&target)
                            .with_detail(format!("needs a new sign-in: {reason}")),
                    );
                    let result = RenewResult {
                        data_source: target.data_source.clone(),
                        user: target.app_user.clone(),
                        account,
                        outcome: RenewOutcome::NeedsSignIn { reason },
                    };
                    progress(&result);
                    results.push(result);
                }
            }
        }
    }

    // One discovery per data source; a provider that cannot be reached fails its
    // tokens for this run and leaves them untouched.
    let mut queue = VecDeque::new();
    let mut unreachable = Vec::new();
    for (source_name, jobs) in pending {
        let config = vault.data().data_source(&source_name)?.provider.clone();
        match IdentityClient::connect(http.clone(), config).await {
            Ok(client) => {
                let client = Arc::new(client);
                queue.extend(
                    jobs.into_iter()
                        .map(|(target, account, refresh_token)| Job {
                            target,
                            account,
                            refresh_token,
                            client: client.clone(),
                        }),
                );
            }
            Err(error) => unreachable.extend(jobs.into_iter().map(|(target, account, _)| Answer {
                target,
                account,
                result: Err(error.clone()),
            })),
        }
    }
    if !queue.is_empty() {
        run_workers(queue, options, clock, sleeper, |batch| {
            store_batch(
                vault,
                &audit,
                batch,
                clock.now(),
                &mut results,
                &mut progress,
            )
        })
        .await?;
    }
    if !unreachable.is_empty() {
        store_batch(
            vault,
            &audit,
            unreachable,
            clock.now(),
            &mut results,
            &mut progress,
        )?;
    }
    Ok(RenewReport {
        started_at,
        finished_at: clock.now(),
        fresh,
        results,
    })
}

/// Runs the jobs on `options.concurrency` tasks and hands every batch of answers to
/// `store` as soon as the previous batch is stored. Stops at the first failed store.
async fn run_workers<C, S>(
    queue: VecDeque<Job>,
    options: &RenewOptions,
    clock: &C,
    sleeper: &S,
    mut store: impl FnMut(Vec<Answer>) -> Result<(), VaultError>,
) -> Result<(), VaultError>
where
    C: Clock + Clone + 'static,
    S: Sleeper + Clone + 'static,
{
    let queue = Arc::new(Mutex::new(queue));
    let paused_until: Arc<Mutex<Option<DateTime<Utc>>>> = Arc::new(Mutex::new(None));
    let (tx, mut rx) = mpsc::unbounded_channel::<Answer>();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..options.concurrency.max(1) {
        let worker = Worker {
            queue: queue.clone(),
            paused_until: paused_until.clone(),
            answers: tx.clone(),
            clock: clock.clone(),
            sleeper: sleeper.clone(),
            max_attempts: options.max_attempts.max(1),
            max_wait: options.max_wait,
        };
        workers.spawn(worker.run());
    }
    drop(tx);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        if let Err(error) = store(batch) {
            // Nothing more may be redeemed when its answer cannot be stored.
            queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
            workers.abort_all();
            return Err(error);
        }
    }
    while workers.join_next().await.is_some() {}
    Ok(())
}

struct Worker<C, S> {
    queue: Arc<Mutex<VecDeque<Job>>>,
    paused_until: Arc<Mutex<Option<DateTime<Utc>>>>,
    answers: mpsc::UnboundedSender<Answer>,
    clock: C,
    sleeper: S,
    max_attempts: u32,
    max_wait: Duration,
}

impl<C: Clock, S: Sleeper> Worker<C, S> {
    async fn run(self) {
        loop {
            let job = self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            let Some(job) = job else { return };
            let result = self.redeem(&job).await;
            let answer = Answer {
                target: job.target,
                account: job.account,
                result,
            };
            if self.answers.send(answer).is_err() {
                return;
            }
        }
    }

    async fn redeem(&self, job: &Job) -> Result<TokenSet, IdentityError> {
        let mut attempt = 1;
        loop {
            self.wait_out_throttling().await;
            let result = job
                .client
                .refresh(&job.refresh_token, None, self.clock.now())
                .await;
            let error = match result {
                Ok(tokens) => return Ok(tokens),
                Err(error) => error,
            };
            let throttled =
                matches!(error.http_status, Some(429 | 503)) || error.retry_after.is_some();
            if error.kind != ErrorKind::Transient || !throttled || attempt >= self.max_attempts {
                return Err(error);
            }
            // Retry-After when given, else 2 s, 4 s, ...: the whole run pauses, since
            // throttling is per client and tenant, not per token.
            let wait = error
                .retry_after
                .unwrap_or(Duration::from_secs(1 << attempt));
            if wait > self.max_wait {
                return Err(error);
            }
            let until = self.clock.now()
                + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
            {
                let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
                if paused.is_none_or(|p| p < until) {
                    *paused = Some(until);
                }
            }
            attempt += 1;
        }
    }

    async fn wait_out_throttling(&self) {
        let until = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = until {
            let left = until - self.clock.now();
            if let Ok(left) = left.to_std()
                && !left.is_zero()
            {
                self.sleeper.sleep(left).await;
            }
        }
    }
}

/// Stores a batch of answers in one vault write, then audits and reports them.
fn store_batch(
    vault: &mut Vault,
    audit: &AuditLog,
    batch: Vec<Answer>,
    now: DateTime<Utc>,
    results: &mut Vec<RenewResult>,
    progress: &mut impl FnMut(&RenewResult),
) -> Result<(), VaultError> {
    vault.update(|data| {
        // One index per write instead of a search per answer.
        let wanted: HashMap<&TokenTarget, &Result<TokenSet, IdentityError>> =
            batch.iter().map(|a| (&a.target, &a.result)).collect();
        let mut stored = 0;
        for source in data.data_sources.iter_mut() {
            let name = source.name.clone();
            let mut apply = |target: TokenTarget, record: &mut crate::vault::TokenRecord| {
                if let Some(result) = wanted.get(&target) {
                    match result {
                        Ok(tokens) => record.store_refresh(tokens, false),
                        Err(error) => record.store_error(error, now),
                    }
                    stored += 1;
                }
            };
            apply(TokenTarget::data_source(name.clone()), &mut source.token);
            for mapping in source.users.iter_mut() {
                apply(
                    TokenTarget::user(name.clone(), mapping.app_user.login.clone()),
                    &mut mapping.token,
                );
            }
        }
        if stored != wanted.len() {
            // A data source or mapping was removed while its token was being renewed.
            tracing::warn!(
                stored,
                answers = wanted.len(),
                "renewed tokens whose owner is gone were dropped"
            );
        }
        Ok(())
    })?;
    for answer in batch {
        let entry = match &answer.result {
            Ok(_) => AuditEntry::new(Operation::Renew, Outcome::Ok, now).for_target(&answer.target),
            Err(error) => {
                crate::lifecycle::audit_failure(Operation::Renew, &answer.target, error, now)
            }
        };
        audit.record(&entry);
        let outcome = match answer.result {
            Ok(tokens) => RenewOutcome::Renewed {
                rotated: tokens.refresh_token.is_some(),
            },
            Err(error) => RenewOutcome::Failed {
                kind: error.kind,
                code: error.code_label(),
                message: error.message,
            },
        };
        let result = RenewResult {
            data_source: answer.target.data_source,
            user: answer.target.app_user,
            account: answer.account,
            outcome,
        };
        progress(&result);
        results.push(result);
    }
    Ok(())
}
