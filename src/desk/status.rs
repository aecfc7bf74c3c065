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
    pub obtained_at: Option<DateTime<Utc>>,
    pub last_renewed_at: Option<DateTime<Utc>>,
    pub last_error: Option<LastError>,
    /// Cleared on purpose by an admin (not just never set up).
    pub cleared: bool,
    /// The reminder for this token is due today and was not shown yet.
    pub reminder_due: bool,
}

impl TokenRow {
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
                obtained_at: record.obtained_at,
                last_renewed_at: record.last_redeemed_at,
                last_error: record.last_error.clone(),
                cleared: record.cleared.is_some(),
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
