//! One user's tokens and their history: the refresh token, the cached access
//! token, who signed in, the last error, when it was cleared, and the questions
//! the lifecycle asks of it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::identity::{ErrorKind, IdentityError, SignedInIdentity, TokenSet};
use crate::secret::Secret;

use super::model::RESTORED_HINT;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    pub kind: ErrorKind,
    /// `AADSTS70008` or the OAuth error name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAccessToken {
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// An access token for a scope other than the grant's, under the scope it was
/// asked for (the provider may name its scopes differently in the answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopedAccessToken {
    pub asked: String,
    pub access: CachedAccessToken,
}

/// Access tokens kept for other scopes, per token: the oldest goes beyond this.
pub const MAX_SCOPED_ACCESS: usize = 8;

/// Who cleared a token and when (ASSURE's Clear Token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleared {
    pub at: DateTime<Utc>,
    pub by: String,
}

/// One user's tokens and their history.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TokenRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obtained_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_redeemed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<SignedInIdentity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<CachedAccessToken>,
    /// Access tokens asked for other scopes or resources than the grant's (a Graph
    /// and an EWS consumer of one mailbox): each kept beside the grant's own, never
    /// in its place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scoped: Vec<ScopedAccessToken>,
    /// A limit the provider revealed (sign-in frequency, AADSTS70043) that ends the
    /// token before the inactivity window does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared: Option<Cleared>,
    /// The local calendar day the daily reminder was last shown for this token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_shown_on: Option<NaiveDate>,
    /// Bumped by every change to the token (sign-in, renewal, failure, clear). A
    /// renewal stores its result only while the record is still the one it redeemed,
    /// so a Clear or a new sign-in that happened meanwhile wins.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u64,
    /// The refresh token came back from a backup and may already have been redeemed
    /// (a provider that detects replay then refuses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_at: Option<DateTime<Utc>>,
    /// When the provider said, in its latest answer, that the refresh token dies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// Not stored: a renewal's rotated token is waiting in a rescue file beside the
    /// vault, because the vault itself could not be written.
    #[serde(skip)]
    pub at_risk: bool,
}

fn stated_expiry(tokens: &TokenSet) -> Option<DateTime<Utc>> {
    tokens.refresh_expires_in.map(|seconds| {
        tokens.obtained_at + chrono::Duration::seconds(seconds.min(10 * 365 * 86_400))
    })
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// Which token, independent of names: the data source's id and, for an
/// additional user, the mapping's id. Renaming never changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TokenId {
    pub source: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<Uuid>,
}

impl TokenId {
    /// A file name for this token (its lock).
    pub fn file_stem(&self) -> String {
        match self.mapping {
            Some(mapping) => format!("{}.{}", self.source.simple(), mapping.simple()),
            None => self.source.simple().to_string(),
        }
    }

    /// The token a [`TokenId::file_stem`] names; `None` for anything else.
    pub fn from_file_stem(stem: &str) -> Option<TokenId> {
        let (source, mapping) = match stem.split_once('.') {
            Some((source, mapping)) => (source, Some(Uuid::try_parse(mapping).ok()?)),
            None => (stem, None),
        };
        Some(TokenId {
            source: Uuid::try_parse(source).ok()?,
            mapping,
        })
    }
}

impl TokenRecord {
    /// Stores the result of a sign-in: a new grant, so earlier errors and limits go.
    pub fn store_sign_in(&mut self, tokens: &TokenSet) {
        let revision = self.revision + 1;
        *self = TokenRecord {
            refresh_token: tokens.refresh_token.clone(),
            obtained_at: Some(tokens.obtained_at),
            last_redeemed_at: None,
            scopes: tokens.scope.clone(),
            identity: tokens.identity.clone(),
            last_error: None,
            access: Some(CachedAccessToken {
                token: tokens.access_token.clone(),
                expires_at: tokens.access_expires_at,
                scope: tokens.scope.clone(),
            }),
            scoped: Vec::new(),
            hard_expires_at: None,
            cleared: None,
            reminder_shown_on: None,
            revision,
            restored_at: None,
            refresh_expires_at: stated_expiry(tokens),
            at_risk: false,
        };
    }

    /// Stores the result of a refresh. A rotated refresh token replaces the old one;
    /// without rotation the old one stays. An access token asked for another scope
    /// (`asked`) says nothing about the grant's scopes, so those stay as they are,
    /// and it is cached under that scope beside the grant's own access token.
    pub fn store_refresh(&mut self, tokens: &TokenSet, asked: Option<&str>) {
        let for_other_scope = asked.is_some();
        self.revision += 1;
        // The provider accepted the token, so it was not a stale one from a backup.
        self.restored_at = None;
        if let Some(rotated) = &tokens.refresh_token {
            self.refresh_token = Some(rotated.clone());
        }
        self.last_redeemed_at = Some(tokens.obtained_at);
        // Stated on every answer, since it may change; an answer that states nothing
        // leaves the data source's rule (or "unknown") to say it.
        self.refresh_expires_at = stated_expiry(tokens);
        if tokens.scope.is_some() && !for_other_scope {
            self.scopes = tokens.scope.clone();
        }
        if let Some(fresh) = &tokens.identity {
            self.identity = Some(match &self.identity {
                // A refresh's id_token often names only the subject (the claims are
                // at userinfo): the account named at sign-in stays, for the same
                // subject, instead of turning into "nobody".
                Some(known)
                    if fresh.account().is_none()
                        && known.account().is_some()
                        && (fresh.sub.is_none() || fresh.sub == known.sub) =>
                {
                    known.clone()
                }
                _ => fresh.clone(),
            });
        }
        self.last_error = None;
        let fresh = CachedAccessToken {
            token: tokens.access_token.clone(),
            expires_at: tokens.access_expires_at,
            scope: tokens.scope.clone(),
        };
        match asked {
            None => self.access = Some(fresh),
            Some(asked) => {
                let now = tokens.obtained_at;
                self.scoped
                    .retain(|s| s.asked != asked && s.access.expires_at > now);
                if self.scoped.len() >= MAX_SCOPED_ACCESS {
                    self.scoped.remove(0);
                }
                self.scoped.push(ScopedAccessToken {
                    asked: asked.to_string(),
                    access: fresh,
                });
            }
        }
    }

    /// The cached access token that serves a request for `scope` (the grant's own
    /// when none is named), whatever its remaining life.
    pub fn access_for(&self, scope: Option<&str>) -> Option<&CachedAccessToken> {
        let Some(wanted) = scope.filter(|s| !s.trim().is_empty()) else {
            return self.access.as_ref();
        };
        if let Some(scoped) = self.scoped.iter().rev().find(|s| s.asked == wanted) {
            return Some(&scoped.access);
        }
        self.access.as_ref().filter(|access| {
            crate::redemption::scope_covers(access.scope.as_deref().unwrap_or(""), wanted)
        })
    }

    /// Records a failure. Only a failure that says the token is dead touches the
    /// token's validity; transient trouble is remembered but changes nothing else.
    pub fn store_error(&mut self, error: &IdentityError, now: DateTime<Utc>) {
        self.revision += 1;
        let mut message = error.message.clone();
        if self.restored_at.is_some() && error.kind.invalidates_token() {
            message.push(' ');
            message.push_str(RESTORED_HINT);
        }
        self.last_error = Some(LastError {
            kind: error.kind,
            code: error.code_label(),
            message,
            at: now,
        });
        if error.kind.invalidates_token() {
            self.access = None;
            self.scoped.clear();
            if error.has_code(70043) {
                self.hard_expires_at = Some(now);
            }
        }
    }

    /// Clear Token: forget the tokens and say who did it.
    pub fn clear(&mut self, by: impl Into<String>, now: DateTime<Utc>) {
        *self = TokenRecord {
            cleared: Some(Cleared {
                at: now,
                by: by.into(),
            }),
            revision: self.revision + 1,
            ..TokenRecord::default()
        };
    }

    pub fn has_refresh_token(&self) -> bool {
        self.refresh_token.is_some()
    }

    /// The cached access token when it stays valid for at least `margin`.
    pub fn usable_access_token(
        &self,
        now: DateTime<Utc>,
        margin: chrono::Duration,
    ) -> Option<&Secret> {
        self.access
            .as_ref()
            .filter(|a| a.expires_at - margin > now)
            .map(|a| &a.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_id_comes_back_from_its_file_stem_and_nothing_else_does() {
        let source = TokenId {
            source: Uuid::new_v4(),
            mapping: None,
        };
        let user = TokenId {
            source: source.source,
            mapping: Some(Uuid::new_v4()),
        };
        assert_eq!(TokenId::from_file_stem(&source.file_stem()), Some(source));
        assert_eq!(TokenId::from_file_stem(&user.file_stem()), Some(user));
        for other in [
            "",
            ".",
            "settings",
            "abc.def",
            &format!("{}.", source.file_stem()),
        ] {
            assert_eq!(TokenId::from_file_stem(other), None, "{other}");
        }
    }

    fn answer(identity: SignedInIdentity) -> TokenSet {
        TokenSet {
            access_token: Secret::new("at"),
            refresh_token: Some(Secret::new("rt-2")),
            access_expires_at: Utc::now(),
            obtained_at: Utc::now(),
            scope: None,
            identity: Some(identity),
            refresh_expires_in: None,
        }
    }

    #[test]
    fn a_refresh_that_names_only_the_subject_keeps_the_named_account() {
        let named = SignedInIdentity {
            username: Some("alice@contoso.test".into()),
            sub: Some("alice".into()),
            named_by: Some("userinfo".into()),
            ..Default::default()
        };
        let mut record = TokenRecord {
            identity: Some(named.clone()),
            ..Default::default()
        };
        let only_sub = SignedInIdentity {
            sub: Some("alice".into()),
            ..Default::default()
        };
        record.store_refresh(&answer(only_sub), None);
        assert_eq!(record.identity.as_ref(), Some(&named));
        // Another subject is another account: what the provider says now wins.
        let bob = SignedInIdentity {
            sub: Some("bob".into()),
            ..Default::default()
        };
        record.store_refresh(&answer(bob.clone()), None);
        assert_eq!(record.identity.as_ref(), Some(&bob));
    }
}
