//! When a refresh token dies and what the admin should be told, as pure functions
//! of "now".

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::model::{DataSource, RefreshRule, RuleStart, Settings, TokenRecord};
use crate::identity::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    Healthy,
    ReminderDue,
    RenewalForced,
    Expired,
    NeedsSignIn,
    Missing,
    /// The newest refresh token is only in a rescue file: the vault could not be
    /// written when the provider rotated it.
    AtRisk,
}

impl TokenState {
    pub fn label(self) -> &'static str {
        match self {
            TokenState::Healthy => "healthy",
            TokenState::ReminderDue => "renewal due",
            TokenState::RenewalForced => "renewal forced",
            TokenState::Expired => "expired",
            TokenState::NeedsSignIn => "needs sign-in",
            TokenState::Missing => "no token",
            TokenState::AtRisk => "at risk: vault not writable",
        }
    }

    /// A state an admin has to act on now (not only be reminded of).
    pub fn is_urgent(self) -> bool {
        matches!(
            self,
            TokenState::RenewalForced
                | TokenState::Expired
                | TokenState::NeedsSignIn
                | TokenState::AtRisk
        )
    }

    /// Whether a refresh token is there to redeem.
    pub fn is_usable(self) -> bool {
        matches!(
            self,
            TokenState::Healthy
                | TokenState::ReminderDue
                | TokenState::RenewalForced
                | TokenState::AtRisk
        )
    }
}

/// What a data source's refresh-token lifetime is known from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub microsoft: bool,
    pub rule: Option<RefreshRule>,
}

impl Lifetime {
    /// Microsoft's identity platform with no rule of the admin's.
    pub const MICROSOFT: Lifetime = Lifetime {
        microsoft: true,
        rule: None,
    };

    pub fn of(source: &DataSource) -> Lifetime {
        Lifetime {
            microsoft: source.provider.authority.is_microsoft(),
            rule: source.refresh_rule,
        }
    }
}

/// Where a token's expiry date comes from; never a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryBasis {
    /// Microsoft's documented 90 days after the last use.
    Microsoft,
    /// The provider's own statement in its latest token answer.
    Provider,
    /// The rule the admin set on the data source.
    Configured,
    /// Nobody said: shown as unknown.
    Unknown,
}

impl ExpiryBasis {
    pub fn label(self) -> &'static str {
        match self {
            ExpiryBasis::Microsoft => "Microsoft: 90 days after the last use",
            ExpiryBasis::Provider => "as the provider stated",
            ExpiryBasis::Configured => "by this data source's rule",
            ExpiryBasis::Unknown => "unknown: the provider does not say",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TokenStatus {
    pub state: TokenState,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whole days left (floor); negative once expired.
    pub days_left: Option<i64>,
    /// Whole hours left (floor), for a token with less than a day.
    pub hours_left: Option<i64>,
    pub basis: ExpiryBasis,
}

impl TokenStatus {
    /// A token that works but whose end nobody stated: not called healthy, since
    /// nothing warns before it dies.
    pub fn expiry_unknown(&self) -> bool {
        works_with_unknown_end(self.state, self.expires_at)
    }
}

/// The one rule for [`TokenStatus::expiry_unknown`], for views that keep the state
/// and the expiry apart (the status rows).
pub fn works_with_unknown_end(state: TokenState, expires_at: Option<DateTime<Utc>>) -> bool {
    state == TokenState::Healthy && expires_at.is_none()
}

/// What qualifies a working token's state, the same in every view: its renewal
/// fails for now (a failure newer than its last success, which clears it), or
/// nobody stated when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Caveat {
    #[default]
    None,
    ExpiryUnknown,
    RenewalFailing,
}

pub fn caveat(
    state: TokenState,
    expires_at: Option<DateTime<Utc>>,
    last_error: Option<&super::model::LastError>,
) -> Caveat {
    // Only "healthy" is qualified: a due or forced renewal already says more.
    let healthy = state == TokenState::Healthy;
    if healthy && last_error.is_some_and(|e| !e.kind.invalidates_token()) {
        Caveat::RenewalFailing
    } else if works_with_unknown_end(state, expires_at) {
        Caveat::ExpiryUnknown
    } else {
        Caveat::None
    }
}

/// When the refresh token dies and what that is known from: the provider's own
/// statement wins, then the data source's rule, then Microsoft's 90 days after the
/// last use; a provider-revealed hard limit wins when it comes first.
pub fn expiry(
    record: &TokenRecord,
    settings: &Settings,
    lifetime: Lifetime,
) -> (Option<DateTime<Utc>>, ExpiryBasis) {
    if record.refresh_token.is_none() {
        return (None, ExpiryBasis::Unknown);
    }
    let last_use = record.last_redeemed_at.or(record.obtained_at);
    let (expires, basis) = match (record.refresh_expires_at, lifetime.rule, last_use) {
        (Some(stated), _, _) => (Some(stated), ExpiryBasis::Provider),
        (None, Some(rule), _) => {
            let from = match rule.counted_from {
                RuleStart::LastUse => last_use,
                RuleStart::SignIn => record.obtained_at,
            };
            (
                from.map(|at| at + Duration::days(i64::from(rule.days))),
                ExpiryBasis::Configured,
            )
        }
        (None, None, Some(at)) if lifetime.microsoft => (
            Some(at + Duration::days(settings.inactivity_window_days)),
            ExpiryBasis::Microsoft,
        ),
        _ => (None, ExpiryBasis::Unknown),
    };
    let expires = match (expires, record.hard_expires_at) {
        (Some(at), Some(hard)) => Some(at.min(hard)),
        (None, Some(hard)) => Some(hard),
        (at, None) => at,
    };
    (expires, basis)
}

pub fn expires_at(
    record: &TokenRecord,
    settings: &Settings,
    lifetime: Lifetime,
) -> Option<DateTime<Utc>> {
    expiry(record, settings, lifetime).0
}

/// How long an idle window is, when the token has one that renewals restart.
pub fn idle_window(
    record: &TokenRecord,
    settings: &Settings,
    lifetime: Lifetime,
) -> Option<Duration> {
    match (record.refresh_expires_at, lifetime.rule) {
        (Some(stated), _) => {
            let from = record.last_redeemed_at.or(record.obtained_at)?;
            Some(stated - from)
        }
        (None, Some(rule)) => Some(Duration::days(i64::from(rule.days))),
        (None, None) if lifetime.microsoft => Some(Duration::days(settings.inactivity_window_days)),
        _ => None,
    }
}

pub fn evaluate(
    record: &TokenRecord,
    settings: &Settings,
    lifetime: Lifetime,
    now: DateTime<Utc>,
) -> TokenStatus {
    if record.refresh_token.is_none() {
        return TokenStatus {
            state: TokenState::Missing,
            expires_at: None,
            days_left: None,
            hours_left: None,
            basis: ExpiryBasis::Unknown,
        };
    }
    let (expires, basis) = expiry(record, settings, lifetime);
    let rejected = record
        .last_error
        .as_ref()
        .is_some_and(|e| e.kind == ErrorKind::NeedsSignIn);
    let Some(expires) = expires else {
        let state = if record.at_risk {
            TokenState::AtRisk
        } else if rejected {
            TokenState::NeedsSignIn
        } else {
            TokenState::Healthy
        };
        return TokenStatus {
            state,
            expires_at: None,
            days_left: None,
            hours_left: None,
            basis,
        };
    };
    // Floor, so that an hour past expiry reads as -1 and not as 0 days left.
    let days_left = (expires - now).num_seconds().div_euclid(86_400);
    // The reminder and forced-renewal thresholds are set for Microsoft's 90 days; a
    // shorter window gets the same share of it (a one-day token is not "renewal
    // forced" all day long).
    let full = Duration::days(settings.inactivity_window_days);
    let window =
        idle_window(record, settings, lifetime).filter(|w| *w > Duration::zero() && *w < full);
    let share = |days: i64| match window {
        Some(window) => {
            window * (days.clamp(0, settings.inactivity_window_days) as i32)
                / (settings.inactivity_window_days.max(1) as i32)
        }
        None => Duration::days(days),
    };
    let state = if record.at_risk {
        TokenState::AtRisk
    } else if rejected {
        TokenState::NeedsSignIn
    } else if now >= expires {
        TokenState::Expired
    } else if expires - now <= share(settings.forced_renewal_days) {
        TokenState::RenewalForced
    } else if expires - now <= share(settings.reminder_days) {
        TokenState::ReminderDue
    } else {
        TokenState::Healthy
    };
    TokenStatus {
        state,
        expires_at: Some(expires),
        days_left: Some(days_left),
        hours_left: Some((expires - now).num_seconds().div_euclid(3_600)),
        basis,
    }
}

/// The daily reminder (from 30 days before expiry) is due once per local calendar day.
pub fn reminder_due(
    record: &TokenRecord,
    settings: &Settings,
    lifetime: Lifetime,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> bool {
    let status = evaluate(record, settings, lifetime, now);
    status.state != TokenState::Healthy
        && status.state != TokenState::Missing
        && record.reminder_shown_on != Some(today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityError;
    use crate::secret::Secret;
    use chrono::TimeZone;

    fn issued(at: DateTime<Utc>) -> TokenRecord {
        TokenRecord {
            refresh_token: Some(Secret::new("rt")),
            obtained_at: Some(at),
            ..Default::default()
        }
    }

    #[test]
    fn a_simulated_year_without_renewal() {
        let settings = Settings::default();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let record = issued(t0);
        let mut seen = Vec::new();
        for hour in 0..(365 * 24) {
            let now = t0 + Duration::hours(hour);
            let status = evaluate(&record, &settings, Lifetime::MICROSOFT, now);
            if seen.last() != Some(&status.state) {
                seen.push(status.state);
                match status.state {
                    TokenState::Healthy => assert_eq!(now, t0),
                    // 30 days before expiry: day 60.
                    TokenState::ReminderDue => assert_eq!(now, t0 + Duration::days(60)),
                    TokenState::RenewalForced => assert_eq!(now, t0 + Duration::days(80)),
                    TokenState::Expired => assert_eq!(now, t0 + Duration::days(90)),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(
            seen,
            vec![
                TokenState::Healthy,
                TokenState::ReminderDue,
                TokenState::RenewalForced,
                TokenState::Expired
            ]
        );
    }

    #[test]
    fn redemption_restarts_the_window() {
        let settings = Settings::default();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut record = issued(t0);
        // Redeemed weekly for a year: never past Healthy.
        for week in 0..52 {
            let now = t0 + Duration::weeks(week);
            record.last_redeemed_at = Some(now);
            assert_eq!(
                evaluate(
                    &record,
                    &settings,
                    Lifetime::MICROSOFT,
                    now + Duration::days(6)
                )
                .state,
                TokenState::Healthy
            );
        }
        assert_eq!(
            expires_at(&record, &settings, Lifetime::MICROSOFT),
            Some(t0 + Duration::weeks(51) + Duration::days(90))
        );
    }

    #[test]
    fn days_left_and_hard_cap() {
        let settings = Settings::default();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let mut record = issued(t0);
        let status = evaluate(
            &record,
            &settings,
            Lifetime::MICROSOFT,
            t0 + Duration::days(61),
        );
        assert_eq!(
            (status.state, status.days_left),
            (TokenState::ReminderDue, Some(29))
        );
        let status = evaluate(
            &record,
            &settings,
            Lifetime::MICROSOFT,
            t0 + Duration::days(81),
        );
        assert_eq!(
            (status.state, status.days_left),
            (TokenState::RenewalForced, Some(9))
        );
        record.hard_expires_at = Some(t0 + Duration::days(5));
        assert_eq!(
            evaluate(
                &record,
                &settings,
                Lifetime::MICROSOFT,
                t0 + Duration::days(6)
            )
            .state,
            TokenState::Expired
        );
    }

    #[test]
    fn rejection_missing_and_custom_thresholds() {
        let mut settings = Settings::default();
        let now = Utc::now();
        assert_eq!(
            evaluate(&TokenRecord::default(), &settings, Lifetime::MICROSOFT, now).state,
            TokenState::Missing
        );
        let mut record = issued(now);
        let mut error = IdentityError::new(ErrorKind::NeedsSignIn, "revoked");
        error.codes = vec![50173];
        record.store_error(&error, now);
        assert_eq!(
            evaluate(&record, &settings, Lifetime::MICROSOFT, now).state,
            TokenState::NeedsSignIn
        );
        let mut fresh = issued(now);
        settings.reminder_days = 95;
        assert_eq!(
            evaluate(&fresh, &settings, Lifetime::MICROSOFT, now).state,
            TokenState::ReminderDue
        );
        fresh.store_error(&IdentityError::transient("blip"), now);
        assert_eq!(
            evaluate(&fresh, &settings, Lifetime::MICROSOFT, now).state,
            TokenState::ReminderDue
        );
    }

    #[test]
    fn reminder_once_per_day() {
        let settings = Settings::default();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut record = issued(t0);
        let now = t0 + Duration::days(70);
        let today = now.date_naive();
        assert!(reminder_due(
            &record,
            &settings,
            Lifetime::MICROSOFT,
            now,
            today
        ));
        record.reminder_shown_on = Some(today);
        assert!(!reminder_due(
            &record,
            &settings,
            Lifetime::MICROSOFT,
            now + Duration::hours(3),
            today
        ));
        let tomorrow = today.succ_opt().unwrap();
        assert!(reminder_due(
            &record,
            &settings,
            Lifetime::MICROSOFT,
            now + Duration::days(1),
            tomorrow
        ));
        assert!(!reminder_due(
            &record,
            &settings,
            Lifetime::MICROSOFT,
            t0 + Duration::days(10),
            (t0 + Duration::days(10)).date_naive()
        ));
    }
}
