//! The redemptions of one group of tokens: a few workers talk to the provider (the
//! provider's throttling honoured for the whole group), one writer stores what they
//! bring, a batch per vault write, and holds the space for the next write before
//! the current one uses its own.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::engine::{RenewOptions, RenewOutcome, RenewResult, Tally};
use crate::Secret;
use crate::clock::{Clock, Sleeper};
use crate::identity::{ErrorKind, IdentityClient, RefreshAnswer};
use crate::redemption::RedeemError;
use crate::redemption::commit::{self, Applied, Settled};
use crate::vault::ops::TokenTarget;
use crate::vault::reserve::WriteReservation;
use crate::vault::{TokenId, Vault};

pub(super) struct Job {
    pub(super) id: TokenId,
    pub(super) target: TokenTarget,
    pub(super) account: String,
    pub(super) revision: u64,
    pub(super) refresh_token: Secret,
    pub(super) client: Arc<IdentityClient>,
}

struct Answer {
    id: TokenId,
    target: TokenTarget,
    account: String,
    revision: u64,
    answer: RefreshAnswer,
}

impl Answer {
    /// What the writer stores, and whom it is reported for.
    fn settled(self) -> (Settled, String) {
        let settled = Settled {
            id: self.id,
            target: self.target,
            revision: self.revision,
            answer: self.answer,
            scope: None,
        };
        (settled, self.account)
    }
}

pub(super) fn reserve(vault: &Vault, answers: usize) -> Result<WriteReservation, RedeemError> {
    vault
        .reserve_write(commit::GROWTH_PER_ANSWER * answers.max(1) as u64)
        .map_err(RedeemError::NotWritable)
}

/// Runs the jobs on `options.concurrency` tasks and stores every batch of answers
/// as soon as the previous batch is stored.
pub(super) async fn run_workers<C, S, P>(
    vault: &mut Vault,
    jobs: VecDeque<Job>,
    mut reservation: WriteReservation,
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
    let mut outstanding = jobs.len();
    let queue = Arc::new(Mutex::new(jobs));
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
    let stop_queue = || {
        // No new redemption starts; those in flight finish and are stored.
        let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = queue.len();
        queue.clear();
        dropped
    };
    let mut failure = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        outstanding -= batch.len();
        // Hold the space for the next write before this one uses the held space.
        let mut next = None;
        if outstanding > 0 && failure.is_none() {
            match reserve(vault, outstanding) {
                Ok(r) => next = Some(r),
                Err(error) => {
                    outstanding -= stop_queue();
                    while outstanding > 0 {
                        let Some(more) = rx.recv().await else { break };
                        batch.push(more);
                        outstanding -= 1;
                    }
                    failure = Some(error);
                }
            }
        }
        let (settled, accounts): (Vec<Settled>, Vec<String>) =
            batch.into_iter().map(Answer::settled).unzip();
        match commit::store(vault, &mut reservation, &settled, clock.now()) {
            Ok(applied) => {
                for ((s, account), applied) in settled.iter().zip(&accounts).zip(applied) {
                    tally.push(&s.target, account, outcome(&s.answer, applied));
                }
            }
            Err(error) => {
                // The vault cannot be written: stop, and store what is still in
                // flight the same way (its rotated tokens into a rescue file).
                stop_queue();
                let mut rest = Vec::new();
                while let Some(more) = rx.recv().await {
                    rest.push(more.settled().0);
                }
                if !rest.is_empty() {
                    let mut space = next.unwrap_or(reservation);
                    let _ = commit::store(vault, &mut space, &rest, clock.now());
                }
                return Err(error);
            }
        }
        if let Some(next) = next {
            reservation = next;
        }
    }
    while workers.join_next().await.is_some() {}
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

pub(super) fn outcome(answer: &RefreshAnswer, applied: Applied) -> RenewOutcome {
    match (applied, &answer.result) {
        (Applied::Superseded, _) => RenewOutcome::Superseded,
        (Applied::Stored { .. }, Ok(tokens)) => RenewOutcome::Renewed {
            rotated: tokens.refresh_token.is_some(),
        },
        (Applied::Stored { restored }, Err(error)) => {
            let error = commit::explained(answer, error, restored);
            RenewOutcome::Failed {
                kind: error.kind,
                code: error.code_label(),
                message: error.message,
            }
        }
    }
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
            let answer = self.redeem(&job).await;
            let answer = Answer {
                id: job.id,
                target: job.target,
                account: job.account,
                revision: job.revision,
                answer,
            };
            if self.answers.send(answer).is_err() {
                return;
            }
        }
    }

    async fn redeem(&self, job: &Job) -> RefreshAnswer {
        let mut attempt = 1;
        loop {
            self.wait_out_throttling().await;
            let answer = job
                .client
                .refresh(&job.refresh_token, None, self.clock.now())
                .await;
            let error = match &answer.result {
                Err(error) if answer.rotated.is_none() => error,
                _ => return answer,
            };
            let throttled =
                matches!(error.http_status, Some(429 | 503)) || error.retry_after.is_some();
            if error.kind != ErrorKind::Transient || !throttled || attempt >= self.max_attempts {
                return answer;
            }
            // Retry-After when given, else 2 s, 4 s, ...: the data source's tokens
            // pause together, since throttling is per client and tenant.
            let wait = error
                .retry_after
                .unwrap_or(Duration::from_secs(1 << attempt));
            if wait > self.max_wait {
                return answer;
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
