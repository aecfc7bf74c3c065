//! What a keep-alive run says: each token's outcome, and the run's report and
//! counts (the gateway's metrics, `renew`'s output and exit code read them).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::identity::ErrorKind;
use crate::vault::ops::TokenTarget;

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
    /// Another process was renewing this token at that moment; it is left to it.
    Busy { holder: String },
    /// Cleared, signed in again or removed while it was being renewed: the newer
    /// state was kept and this renewal's result discarded.
    Superseded,
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
            RenewOutcome::Renewed { .. } | RenewOutcome::Busy { .. } | RenewOutcome::Superseded => {
                false
            }
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

    /// Tokens left to another process that was renewing them.
    pub fn busy(&self) -> usize {
        self.count(|r| matches!(r.outcome, RenewOutcome::Busy { .. }))
    }

    fn count(&self, predicate: impl Fn(&RenewResult) -> bool) -> usize {
        self.results.iter().filter(|r| predicate(r)).count()
    }

    /// The counts every face words its summary from.
    pub fn counts(&self) -> RenewCounts {
        RenewCounts {
            renewed: self.renewed(),
            fresh: self.fresh,
            failed: self.transient(),
            dead: self.dead(),
            busy: self.busy(),
        }
    }

    /// One line for the end of `tokendesk renew` (the window words the same counts
    /// in its own language).
    pub fn summary(&self) -> String {
        let counts = self.counts();
        let mut parts = vec![format!("{} renewed", counts.renewed)];
        if counts.fresh > 0 {
            parts.push(format!("{} not due", counts.fresh));
        }
        if counts.failed > 0 {
            parts.push(format!(
                "{} failed for now (retried next run)",
                counts.failed
            ));
        }
        if counts.dead > 0 {
            parts.push(format!("{} need a new sign-in", counts.dead));
        }
        if counts.busy > 0 {
            parts.push(format!("{} being renewed by another process", counts.busy));
        }
        parts.join(", ")
    }
}

/// How a keep-alive run went, in numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenewCounts {
    pub renewed: usize,
    /// Looked at but not due.
    pub fresh: usize,
    /// Failed for now; the next run tries again.
    pub failed: usize,
    /// Need a new sign-in.
    pub dead: usize,
    /// Left to another process that was renewing them.
    pub busy: usize,
}
