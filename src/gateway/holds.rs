//! Why the gateway does not ask the provider about a token right now: after a
//! failure that may pass (the provider down, throttling, a full disk), every
//! request for that token is answered from memory until its backoff ends — one
//! provider call per period, shared by every waiting request, however many ask.
//! A hold lasts only while the token's record is the one that failed: any change
//! to it (a sign-in, a renewal elsewhere, a Clear) ends it at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::desk::model::TokenTarget;

/// The first wait after a failure; it doubles with each further failure.
const FIRST_WAIT: Duration = Duration::from_secs(2);
/// The longest wait, whatever the provider's Retry-After says.
const LONGEST_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub(crate) struct Hold {
    /// The record revision that failed.
    revision: u64,
    until: Instant,
    failures: u32,
    pub reason: String,
}

impl Hold {
    /// Seconds until the provider is asked again (for Retry-After), at least 1.
    pub fn retry_after_seconds(&self, now: Instant) -> u64 {
        self.until.saturating_duration_since(now).as_secs().max(1)
    }
}

#[derive(Default)]
pub(crate) struct Holds {
    by_target: Mutex<HashMap<TokenTarget, Hold>>,
}

impl Holds {
    /// The hold on `target` while its record is still at `revision` and the wait
    /// has not ended.
    pub fn current(&self, target: &TokenTarget, revision: u64, now: Instant) -> Option<Hold> {
        let mut holds = self.by_target.lock().unwrap_or_else(|e| e.into_inner());
        let hold = holds.get(target)?;
        if hold.revision != revision {
            // The record changed: whatever failed is no longer what would be sent.
            holds.remove(target);
            return None;
        }
        (hold.until > now).then(|| hold.clone())
    }

    /// A failure of `target` at `revision` (the record as it is after the failure):
    /// the next try waits the provider's Retry-After or the doubled backoff,
    /// whichever is longer, with a little jitter so many gateways do not return
    /// together.
    pub fn failed(
        &self,
        target: &TokenTarget,
        revision: u64,
        retry_after: Option<Duration>,
        reason: String,
        now: Instant,
    ) -> Hold {
        let mut holds = self.by_target.lock().unwrap_or_else(|e| e.into_inner());
        let failures = holds.get(target).map_or(0, |h| h.failures) + 1;
        let backoff = FIRST_WAIT
            .saturating_mul(1u32 << (failures - 1).min(8))
            .min(LONGEST_WAIT);
        let jitter = 0.9 + rand::random::<f64>() * 0.2;
        let wait = backoff
            .mul_f64(jitter)
            .max(retry_after.unwrap_or(Duration::ZERO))
            .min(LONGEST_WAIT);
        let hold = Hold {
            revision,
            until: now + wait,
            failures,
            reason,
        };
        holds.insert(target.clone(), hold.clone());
        hold
    }

    /// The token worked again: no more waiting.
    pub fn succeeded(&self, target: &TokenTarget) {
        self.by_target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(target);
    }

    /// Whether any token is held now (the provider or the disk is failing).
    pub fn reasons(&self, now: Instant) -> Vec<String> {
        let holds = self.by_target.lock().unwrap_or_else(|e| e.into_inner());
        let mut reasons: Vec<String> = holds
            .iter()
            .filter(|(_, h)| h.until > now)
            .map(|(t, h)| format!("{t}: {}", h.reason))
            .collect();
        reasons.sort();
        reasons
    }

    /// Forgets holds that ended long ago, so the table holds only live trouble.
    pub fn prune(&self, now: Instant) {
        self.by_target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, h| h.until + LONGEST_WAIT > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> TokenTarget {
        TokenTarget {
            data_source: "A".into(),
            app_user: None,
        }
    }

    #[test]
    fn a_failure_holds_the_token_until_its_backoff_ends_and_doubles() {
        let holds = Holds::default();
        let now = Instant::now();
        let first = holds.failed(&target(), 3, None, "down".into(), now);
        let first_wait = first.until - now;
        assert!(
            first_wait >= Duration::from_millis(1800) && first_wait <= Duration::from_millis(2200)
        );
        assert!(holds.current(&target(), 3, now).is_some());
        assert!(
            holds
                .current(&target(), 3, now + Duration::from_secs(3))
                .is_none()
        );
        let second = holds.failed(&target(), 3, None, "down".into(), now);
        assert!(second.until - now >= Duration::from_millis(3600), "doubled");
        holds.succeeded(&target());
        assert!(holds.current(&target(), 3, now).is_none());
    }

    #[test]
    fn retry_after_is_honoured_and_a_changed_record_ends_the_hold() {
        let holds = Holds::default();
        let now = Instant::now();
        let hold = holds.failed(
            &target(),
            7,
            Some(Duration::from_secs(60)),
            "throttled".into(),
            now,
        );
        assert_eq!(hold.retry_after_seconds(now), 60);
        assert!(
            holds
                .current(&target(), 7, now + Duration::from_secs(59))
                .is_some()
        );
        assert_eq!(holds.reasons(now), vec!["A: throttled".to_string()]);
        assert!(
            holds.current(&target(), 8, now).is_none(),
            "signed in again"
        );
        assert!(holds.reasons(now).is_empty());
    }
}
