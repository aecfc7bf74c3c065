//! Consumer keys: what lets an application ask the gateway for access tokens. The
//! vault keeps only a salted hash of each key; the key itself is shown once.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every key starts with this, so a leaked one is recognisable in a scanner.
pub const KEY_PREFIX: &str = "tdk_";

/// An application allowed to fetch tokens of one data source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    pub id: Uuid,
    pub name: String,
    /// The data source it may ask for (by id: a rename keeps the grant).
    pub data_source: Uuid,
    /// The application users it may ask for; the data-source user is always allowed.
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub all_users: bool,
    /// A device's key for the mail relay: it logs in as the one mailbox of its
    /// user (the first of `users`, or the data-source user) and fetches no tokens.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub relay: bool,
    /// base64url of 16 random bytes, and SHA-256(salt ‖ key) in hex.
    salt: String,
    hash: String,
    pub created_at: DateTime<Utc>,
}

impl Consumer {
    /// A new consumer and its key (to be shown once, never stored).
    pub fn new(
        name: &str,
        data_source: Uuid,
        users: Vec<String>,
        all_users: bool,
        now: DateTime<Utc>,
    ) -> (Self, String) {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let key = format!("{KEY_PREFIX}{}", b64.encode(rand::random::<[u8; 32]>()));
        let salt = b64.encode(rand::random::<[u8; 16]>());
        let hash = digest(&salt, &key);
        (
            Consumer {
                id: Uuid::new_v4(),
                name: name.trim().to_string(),
                data_source,
                users,
                all_users,
                relay: false,
                salt,
                hash,
                created_at: now,
            },
            key,
        )
    }

    /// Whether `key` is this consumer's, compared in constant time.
    pub fn has_key(&self, key: &str) -> bool {
        let candidate = digest(&self.salt, key);
        candidate.len() == self.hash.len()
            && candidate
                .bytes()
                .zip(self.hash.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }

    /// The same consumer as a mail relay device's key, bound to one mailbox.
    pub fn for_relay(mut self) -> Self {
        self.relay = true;
        self.all_users = false;
        self.users.truncate(1);
        self
    }

    /// The application user whose mailbox a relay key logs in as (None: the
    /// data-source user).
    pub fn relay_user(&self) -> Option<&str> {
        self.users.first().map(String::as_str)
    }

    /// Whether it may fetch the token of `user` (None: the data-source user).
    pub fn may_fetch(&self, user: Option<&str>) -> bool {
        match user {
            None => true,
            Some(login) => {
                self.all_users
                    || self
                        .users
                        .iter()
                        .any(|allowed| allowed.eq_ignore_ascii_case(login.trim()))
            }
        }
    }
}

fn digest(salt: &str, key: &str) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(salt.as_bytes());
    context.update(key.as_bytes());
    context
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_shown_once_opens_and_only_for_the_granted_users() {
        let (consumer, key) = Consumer::new(
            "Portal",
            Uuid::new_v4(),
            vec!["USER/1".into()],
            false,
            Utc::now(),
        );
        assert!(key.starts_with(KEY_PREFIX) && key.len() > 40);
        assert!(consumer.has_key(&key));
        assert!(!consumer.has_key("tdk_guess"));
        assert!(!consumer.hash.contains(&key) && !consumer.salt.contains(&key));
        let (other, other_key) = Consumer::new("Other", Uuid::new_v4(), vec![], true, Utc::now());
        assert_ne!(key, other_key);
        assert!(!other.has_key(&key));
        assert!(consumer.may_fetch(None));
        assert!(consumer.may_fetch(Some("user/1")));
        assert!(!consumer.may_fetch(Some("USER/2")));
        assert!(other.may_fetch(Some("anyone")));
    }
}
