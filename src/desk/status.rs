//! The questions every face asks about state: how is each token, and which need
//! the admin. `status`, the window's banner and status strip, and the list of all
//! mailboxes read the same rows.

use chrono::{DateTime, Local, Utc};

use crate::vault::VaultData;
use crate::vault::model::{LastError, TokenId};
use crate::vault::ops::TokenTarget;
use crate::vault::policy::{self, ExpiryBasis, TokenState};

/// One token, as every face shows it.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: TokenId,
    pub target: TokenTarget,
    /// The Exchange user who signs in for this token.
    pub account: String,
    pub state: TokenState,
    /// `None` when nobody said when the refresh token dies.
    pub expires_at: Option<DateTime<Utc>>,
    pub expiry_basis: ExpiryBasis,
    pub days_left: Option<i64>,
    /// Whole hours left, for a token with less than a day.
    pub hours_left: Option<i64>,
    pub obtained_at: Option<DateTime<Utc>>,
    pub last_renewed_at: Option<DateTime<Utc>>,
    pub last_error: Option<LastError>,
    /// Cleared on purpose by an admin (not just never set up).
    pub cleared: bool,
    /// Its data source signs in with Microsoft (the words then are Microsoft's).
    pub microsoft: bool,
    /// The reminder for this token is due today and was not shown yet.
    pub reminder_due: bool,
}

impl TokenRow {
    /// It works, but nobody stated when its refresh token ends.
    pub fn expiry_unknown(&self) -> bool {
        policy::works_with_unknown_end(self.state, self.expires_at)
    }

    /// What qualifies its state (see [`policy::caveat`]).
    pub fn caveat(&self) -> policy::Caveat {
        policy::caveat(self.state, self.expires_at, self.last_error.as_ref())
    }

    /// Whether the admin should act: not healthy, and not a token that was simply
    /// never requested (a data source being set up is not a reminder).
    pub fn needs_attention(&self) -> bool {
        match self.state {
            TokenState::Healthy => false,
            TokenState::Missing => self.cleared,
            _ => true,
        }
    }
}

/// Every token of the vault (or of the data source named `only`), data-source users
/// first, in one pass.
pub fn token_rows(data: &VaultData, only: Option<&str>, now: DateTime<Utc>) -> Vec<TokenRow> {
    let today = now.with_timezone(&Local).date_naive();
    data.each_token()
        .filter(|owner| {
            only.is_none_or(|name| owner.source.name.trim().eq_ignore_ascii_case(name.trim()))
        })
        .map(|owner| {
            let record = owner.record();
            let lifetime = policy::Lifetime::of(owner.source);
            let status = policy::evaluate(record, &data.settings, lifetime, now);
            TokenRow {
                id: owner.id(),
                target: owner.target(),
                account: owner.account().to_string(),
                state: status.state,
                expires_at: status.expires_at,
                expiry_basis: status.basis,
                days_left: status.days_left,
                hours_left: status.hours_left,
                obtained_at: record.obtained_at,
                last_renewed_at: record.last_redeemed_at,
                last_error: record.last_error.clone(),
                cleared: record.cleared.is_some(),
                microsoft: lifetime.microsoft,
                reminder_due: policy::reminder_due(record, &data.settings, lifetime, now, today),
            }
        })
        .collect()
}

/// The tokens that need the admin, for the banner and the status strip.
pub fn attention(data: &VaultData, now: DateTime<Utc>) -> Vec<TokenRow> {
    token_rows(data, None, now)
        .into_iter()
        .filter(TokenRow::needs_attention)
        .collect()
}

/// The All mailboxes list: the rows whose data source, application user or account
/// contains `text` (lower case) and whose state is `state`, fewest days left first;
/// tokens without a known end come after those with one, the worst state first.
pub fn mailboxes(rows: Vec<TokenRow>, text: &str, state: Option<TokenState>) -> Vec<TokenRow> {
    let mut rows: Vec<TokenRow> = rows
        .into_iter()
        .filter(|row| state.is_none_or(|s| row.state == s))
        .filter(|row| {
            text.is_empty()
                || row.account.to_lowercase().contains(text)
                || row.target.data_source.to_lowercase().contains(text)
                || row
                    .target
                    .app_user
                    .as_ref()
                    .is_some_and(|login| login.to_lowercase().contains(text))
        })
        .collect();
    rows.sort_by_cached_key(|row| {
        (
            row.days_left.unwrap_or(i64::MAX),
            std::cmp::Reverse(severity(row)),
            row.account.to_lowercase(),
        )
    });
    rows
}

/// How bad a token's state is, for "the worst of a data source": a token being set
/// up (never requested) is least worth a look, one the vault could not save most.
pub fn severity(row: &TokenRow) -> u8 {
    match row.state {
        TokenState::Healthy => 0,
        TokenState::Missing if !row.cleared => 1,
        TokenState::ReminderDue => 2,
        TokenState::Missing => 3,
        TokenState::RenewalForced => 4,
        TokenState::Expired => 5,
        TokenState::NeedsSignIn => 6,
        TokenState::AtRisk => 7,
    }
}

/// A data source with all its tokens (its own account's and every additional
/// user's), as the main table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceHealth {
    pub tokens: usize,
    /// The worst state among them (`Healthy` for a data source without tokens).
    pub worst: TokenState,
    /// How many of them need the admin.
    pub need_action: usize,
    /// One of them works but nobody stated when it ends.
    pub expiry_unknown: bool,
    /// The strongest qualification among them (a failing renewal before an
    /// unknown end).
    pub caveat: policy::Caveat,
}

/// Every data source's health by id, in one pass over the tokens.
pub fn source_health(
    data: &VaultData,
    now: DateTime<Utc>,
) -> std::collections::HashMap<uuid::Uuid, SourceHealth> {
    let mut health = std::collections::HashMap::new();
    let mut worst_severity = std::collections::HashMap::new();
    for row in token_rows(data, None, now) {
        let entry = health.entry(row.id.source).or_insert(SourceHealth {
            tokens: 0,
            worst: TokenState::Healthy,
            need_action: 0,
            expiry_unknown: false,
            caveat: policy::Caveat::None,
        });
        entry.tokens += 1;
        entry.expiry_unknown |= row.expiry_unknown();
        entry.caveat = entry.caveat.max(row.caveat());
        entry.need_action += usize::from(row.needs_attention());
        let severity = severity(&row);
        let worst = worst_severity.entry(row.id.source).or_insert(0);
        if severity > *worst {
            *worst = severity;
            entry.worst = row.state;
        }
    }
    health
}

/// How many tokens the keep-alive would redeem now (its own rule): a "renew now"
/// with nothing due has nothing to do.
pub fn due_now(data: &VaultData, now: DateTime<Utc>) -> usize {
    data.each_token()
        .filter(|owner| {
            let lifetime = policy::Lifetime::of(owner.source);
            crate::keepalive::decide(
                &owner.target(),
                owner.record(),
                &data.settings,
                lifetime,
                now,
            ) == crate::keepalive::Decision::Due
        })
        .count()
}

/// How urgent a set of tokens is, as a monitoring exit code: 0 healthy, 1 a
/// reminder is due, 2 an admin must act.
pub fn urgency(states: impl IntoIterator<Item = TokenState>) -> u8 {
    states
        .into_iter()
        .map(|state| match state {
            TokenState::Healthy => 0,
            TokenState::ReminderDue => 1,
            _ => 2,
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Authority, ProviderConfig, Scopes};
    use crate::secret::Secret;
    use crate::vault::{AppUser, DataSource, UserMapping};
    use chrono::TimeZone;

    fn source_with_users(name: &str, users: usize) -> DataSource {
        let config = ProviderConfig {
            authority: Authority::Issuer {
                url: url::Url::parse("https://id.example.test").unwrap(),
            },
            client_id: "app".into(),
            client_secret: None,
            scopes: Scopes::Custom("openid offline_access".into()),
        };
        let mut source = DataSource::new(name, config, "owner@contoso.test");
        for n in 0..users {
            let email = format!("user{n}@contoso.test");
            source.push_user(UserMapping::new(
                AppUser {
                    login: format!("U{n}"),
                    display_name: format!("User {n}"),
                    email: email.clone(),
                },
                email,
            ));
        }
        source
    }

    #[test]
    fn all_mailboxes_sorts_by_days_left_and_filters_by_state_and_text() {
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
        let mut source = source_with_users("Sales", 3);
        source.provider.authority =
            Authority::microsoft(crate::identity::Cloud::Global, "contoso.test");
        let ages = [75, 10, 88];
        for (mapping, age) in source.users_mut().zip(ages) {
            mapping.token.refresh_token = Some(Secret::new("rt"));
            mapping.token.obtained_at = Some(now - chrono::Duration::days(age));
        }
        let mut data = VaultData::default();
        data.data_sources.push(source);
        let rows = mailboxes(token_rows(&data, None, now), "", None);
        let order: Vec<_> = rows.iter().map(|r| r.account.clone()).collect();
        assert_eq!(
            order,
            [
                "user2@contoso.test",
                "user0@contoso.test",
                "user1@contoso.test",
                "owner@contoso.test",
            ],
            "2 days, 15 days, 80 days left, then the account that never signed in"
        );
        let forced = mailboxes(
            token_rows(&data, None, now),
            "",
            Some(TokenState::RenewalForced),
        );
        assert_eq!(forced.len(), 1);
        assert_eq!(forced[0].account, "user2@contoso.test");
        let by_login = mailboxes(token_rows(&data, None, now), "u1", None);
        assert_eq!(by_login.len(), 1);
        assert_eq!(by_login[0].target.app_user.as_deref(), Some("U1"));
    }

    #[test]
    fn a_data_source_shows_the_worst_of_all_its_tokens_and_how_many_need_action() {
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
        let mut data = VaultData::default();
        let mut healthy = source_with_users("Healthy", 2);
        for record in std::iter::once(&mut healthy.token).chain(
            healthy
                .users
                .iter_mut()
                .map(|m| &mut std::sync::Arc::make_mut(m).token),
        ) {
            record.refresh_token = Some(Secret::new("rt"));
            record.obtained_at = Some(now - chrono::Duration::days(1));
        }
        let mut mixed = healthy.clone();
        mixed.id = uuid::Uuid::new_v4();
        mixed.name = "Mixed".into();
        // One additional user signed in 85 days ago on Microsoft's 90-day rule would
        // need a rule; with the provider silent, a cleared token is what needs action.
        mixed.user_mut(1).token.refresh_token = None;
        mixed.user_mut(1).token.cleared = Some(crate::vault::model::Cleared {
            at: now,
            by: "admin".into(),
        });
        let empty = source_with_users("New", 1);
        data.data_sources = vec![healthy.clone(), mixed.clone(), empty.clone()];

        let health = source_health(&data, now);
        assert_eq!(
            health[&healthy.id],
            SourceHealth {
                tokens: 3,
                worst: TokenState::Healthy,
                need_action: 0,
                // A custom issuer that states no refresh-token lifetime.
                expiry_unknown: true,
                caveat: policy::Caveat::ExpiryUnknown,
            }
        );
        assert_eq!(health[&mixed.id].worst, TokenState::Missing);
        assert_eq!(health[&mixed.id].need_action, 1);
        // Never requested: "no token", but nothing for the admin to act on yet.
        assert_eq!(health[&empty.id].worst, TokenState::Missing);
        assert_eq!(health[&empty.id].need_action, 0);
    }

    #[test]
    fn the_most_urgent_state_wins() {
        assert_eq!(urgency([]), 0);
        assert_eq!(urgency([TokenState::Healthy]), 0);
        assert_eq!(urgency([TokenState::Healthy, TokenState::ReminderDue]), 1);
        for state in [
            TokenState::Missing,
            TokenState::NeedsSignIn,
            TokenState::AtRisk,
        ] {
            assert_eq!(urgency([TokenState::ReminderDue, state]), 2);
        }
    }
}
