//! Which tokens a keep-alive run redeems. Microsoft's 90 days are an inactivity
//! window: a token redeemed every week never reaches them. Pure functions of "now".

use chrono::{DateTime, Duration, Utc};

use crate::vault::model::{Settings, TokenRecord};
use crate::vault::ops::TokenTarget;
use crate::vault::policy::{self, Lifetime, TokenState};

/// Why a token is (or is not) part of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Redeem it now.
    Due,
    /// Alive and recently redeemed; nothing to do.
    Fresh,
    /// No refresh token, cleared, or rejected by the provider: only a sign-in helps.
    NeedsSignIn,
}

/// Up to one day, different for every token but the same on every run, so tokens
/// signed in on the same afternoon do not stay renewed in one burst forever.
pub fn jitter(target: &TokenTarget) -> Duration {
    // FNV-1a: stable across runs and builds, unlike std's randomly keyed hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let key = format!(
        "{}\u{0}{}",
        target.data_source,
        target.app_user.as_deref().unwrap_or("")
    );
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Duration::seconds((hash % 86_400) as i64)
}

/// How old the last redemption may get before the keep-alive renews: the
/// configured keep-alive age, but at most a third of an idle window (a one-day
/// window is renewed every 8 hours), and the keep-alive interval when nobody says
/// how long the token lives.
pub fn keepalive_age(record: &TokenRecord, settings: &Settings, lifetime: Lifetime) -> Duration {
    let configured = Duration::days(settings.keepalive_age_days);
    match policy::idle_window(record, settings, lifetime) {
        // Windows shorter than the one the settings were made for (Microsoft's 90
        // days) are renewed once a third of them has passed.
        Some(window) if window < Duration::days(settings.inactivity_window_days) => {
            configured.min(window / 3)
        }
        Some(_) => configured,
        None => Duration::hours(settings.keepalive_interval_hours),
    }
}

/// The `--due` rule: redeem when the last redemption is older than the keep-alive
/// age (less this token's jitter) or when the token is inside the reminder window.
pub fn decide(
    target: &TokenTarget,
    record: &TokenRecord,
    settings: &Settings,
    lifetime: Lifetime,
    now: DateTime<Utc>,
) -> Decision {
    let status = policy::evaluate(record, settings, lifetime, now);
    if matches!(status.state, TokenState::Missing | TokenState::NeedsSignIn) {
        return Decision::NeedsSignIn;
    }
    if status.state != TokenState::Healthy {
        // Reminder window, forced renewal, or past our estimate of expiry: the
        // estimate may be wrong (another system may have redeemed it), so try.
        return Decision::Due;
    }
    let last_use = record.last_redeemed_at.or(record.obtained_at);
    let age = keepalive_age(record, settings, lifetime);
    // The jitter spreads renewals over at most a seventh of the age.
    let spread = Duration::seconds(jitter(target).num_seconds() % (age.num_seconds() / 7).max(1));
    match last_use {
        Some(at) if now - at >= age - spread => Decision::Due,
        Some(_) => Decision::Fresh,
        None => Decision::Due,
    }
}

/// Data sources whose refresh tokens die within two days of disuse, with that
/// window in hours: a once-a-day scheduled job cannot keep them alive.
pub fn too_short_for_a_daily_job(data: &crate::vault::VaultData) -> Vec<(String, i64)> {
    data.data_sources
        .iter()
        .filter_map(|source| {
            let lifetime = Lifetime::of(source);
            let shortest = std::iter::once(&source.token)
                .chain(source.users.iter().map(|m| &m.token))
                .filter(|record| record.refresh_token.is_some())
                .filter_map(|record| policy::idle_window(record, &data.settings, lifetime))
                .min()?;
            (shortest <= Duration::hours(48)).then(|| (source.name.clone(), shortest.num_hours()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use chrono::TimeZone;

    fn used(at: DateTime<Utc>) -> TokenRecord {
        TokenRecord {
            refresh_token: Some(Secret::new("rt")),
            obtained_at: Some(at),
            ..Default::default()
        }
    }

    #[test]
    fn jitter_is_stable_and_spread_over_a_day() {
        let a = TokenTarget::user("Exchange", "USER/a");
        assert_eq!(jitter(&a), jitter(&a.clone()));
        let spread: std::collections::BTreeSet<i64> = (0..200)
            .map(|n| jitter(&TokenTarget::user("Exchange", format!("USER/{n}"))).num_hours())
            .collect();
        assert!(spread.len() >= 20, "jitter hours: {spread:?}");
        assert!(spread.iter().all(|h| (0..24).contains(h)));
    }

    #[test]
    fn a_token_is_due_after_the_keepalive_age_and_in_the_reminder_window() {
        let settings = Settings::default();
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap();
        let target = TokenTarget::data_source("Exchange");
        let record = used(start);
        assert_eq!(
            decide(
                &target,
                &record,
                &settings,
                Lifetime::MICROSOFT,
                start + Duration::days(5)
            ),
            Decision::Fresh
        );
        assert_eq!(
            decide(
                &target,
                &record,
                &settings,
                Lifetime::MICROSOFT,
                start + Duration::days(7)
            ),
            Decision::Due
        );
        // A keep-alive age longer than the reminder window: the window still wins.
        let lazy = Settings {
            keepalive_age_days: 80,
            ..Settings::default()
        };
        assert_eq!(
            decide(
                &target,
                &record,
                &lazy,
                Lifetime::MICROSOFT,
                start + Duration::days(59)
            ),
            Decision::Fresh
        );
        assert_eq!(
            decide(
                &target,
                &record,
                &lazy,
                Lifetime::MICROSOFT,
                start + Duration::days(61)
            ),
            Decision::Due
        );
        assert_eq!(
            decide(
                &target,
                &record,
                &settings,
                Lifetime::MICROSOFT,
                start + Duration::days(200)
            ),
            Decision::Due,
            "past the estimated expiry the provider decides"
        );
    }

    #[test]
    fn dead_and_missing_tokens_need_a_sign_in() {
        let settings = Settings::default();
        let now = Utc::now();
        let target = TokenTarget::data_source("Exchange");
        assert_eq!(
            decide(
                &target,
                &TokenRecord::default(),
                &settings,
                Lifetime::MICROSOFT,
                now
            ),
            Decision::NeedsSignIn
        );
        let mut cleared = used(now);
        cleared.clear("admin", now);
        assert_eq!(
            decide(&target, &cleared, &settings, Lifetime::MICROSOFT, now),
            Decision::NeedsSignIn
        );
        let mut revoked = used(now);
        revoked.store_error(
            &crate::identity::IdentityError::new(
                crate::identity::ErrorKind::NeedsSignIn,
                "revoked",
            ),
            now,
        );
        assert_eq!(
            decide(&target, &revoked, &settings, Lifetime::MICROSOFT, now),
            Decision::NeedsSignIn
        );
    }

    #[test]
    fn a_short_stated_window_is_renewed_every_third_of_it_and_an_unknown_one_at_the_interval() {
        let settings = Settings::default();
        let target = TokenTarget::data_source("Portal");
        let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let mut record = TokenRecord {
            refresh_token: Some(Secret::new("rt")),
            obtained_at: Some(start),
            last_redeemed_at: Some(start),
            refresh_expires_at: Some(start + Duration::days(1)),
            ..TokenRecord::default()
        };
        let oidc = Lifetime {
            microsoft: false,
            rule: None,
        };
        assert_eq!(keepalive_age(&record, &settings, oidc), Duration::hours(8));
        assert_eq!(
            decide(
                &target,
                &record,
                &settings,
                oidc,
                start + Duration::hours(6)
            ),
            Decision::Fresh
        );
        assert_eq!(
            decide(
                &target,
                &record,
                &settings,
                oidc,
                start + Duration::hours(8)
            ),
            Decision::Due
        );
        record.refresh_expires_at = None;
        assert_eq!(
            keepalive_age(&record, &settings, oidc),
            Duration::hours(settings.keepalive_interval_hours)
        );
        assert_eq!(
            keepalive_age(&record, &settings, Lifetime::MICROSOFT),
            Duration::days(7)
        );
    }
}
