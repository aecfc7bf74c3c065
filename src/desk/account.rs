//! Who signed in, against whom the token is configured for: the one check every
//! sign-in face makes before anything is stored.

use crate::identity::TokenSet;

/// The outcome of comparing a sign-in with the configured Exchange account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountCheck {
    /// The provider named the configured account (UPN or e-mail, any case).
    Matches,
    /// The provider named another account.
    Other { who: String },
    /// The provider named nobody; `subject` is the stable id the token would be bound to.
    Unnamed {
        reason: String,
        subject: Option<String>,
    },
}

pub fn check_account(tokens: &TokenSet, expected: &str) -> AccountCheck {
    let identity = tokens.identity.as_ref();
    if identity.is_some_and(|i| i.matches(expected)) {
        return AccountCheck::Matches;
    }
    match identity
        .filter(|i| i.names_account())
        .and_then(|i| i.account())
    {
        Some(who) => AccountCheck::Other {
            who: who.to_string(),
        },
        None => AccountCheck::Unnamed {
            reason: identity
                .and_then(|i| i.unnamed_reason.clone())
                .unwrap_or_else(|| "it sent no id_token".into()),
            subject: identity.and_then(|i| i.sub.clone().or_else(|| i.oid.clone())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SignedInIdentity;

    fn tokens(identity: Option<SignedInIdentity>) -> TokenSet {
        let now = chrono::Utc::now();
        TokenSet {
            access_token: crate::secret::Secret::new("at"),
            access_expires_at: now,
            refresh_token: Some(crate::secret::Secret::new("rt")),
            scope: None,
            identity,
            obtained_at: now,
            refresh_expires_in: None,
        }
    }

    #[test]
    fn the_configured_account_another_and_nobody_are_three_answers() {
        let named = SignedInIdentity {
            username: Some("Sales@Contoso.com".into()),
            ..Default::default()
        };
        assert_eq!(
            check_account(&tokens(Some(named.clone())), "sales@contoso.com"),
            AccountCheck::Matches
        );
        assert_eq!(
            check_account(&tokens(Some(named)), "other@contoso.com"),
            AccountCheck::Other {
                who: "Sales@Contoso.com".into()
            }
        );
        let nobody = SignedInIdentity {
            name: Some("Display Name Only".into()),
            sub: Some("sub-1".into()),
            unnamed_reason: Some("userinfo refused".into()),
            ..Default::default()
        };
        assert_eq!(
            check_account(&tokens(Some(nobody)), "sales@contoso.com"),
            AccountCheck::Unnamed {
                reason: "userinfo refused".into(),
                subject: Some("sub-1".into())
            },
            "a display name is not an account"
        );
        assert!(matches!(
            check_account(&tokens(None), "sales@contoso.com"),
            AccountCheck::Unnamed { subject: None, .. }
        ));
    }
}
