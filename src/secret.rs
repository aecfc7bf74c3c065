//! One wrapper for every secret tokendesk handles: refresh tokens, access tokens,
//! client secrets, device codes, vault keys in text form.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret string. `Debug` and `Display` never show the value, and the memory is
/// zeroed when the value is dropped (through `secrecy`).
#[derive(Clone, Default)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The only way to read the value. Call it at the last moment, where the value
    /// leaves the process (an HTTP form, the encrypted vault, stdout of `token`).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

// Serialization exists only for the encrypted vault body; nothing else serializes
// a type holding a Secret.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = zeroize::Zeroizing::new(String::deserialize(deserializer)?);
        Ok(Secret::new(value.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let secret = Secret::new("0.AAAA-refresh-token");
        assert!(!format!("{secret:?}").contains("AAAA"));
        assert!(!format!("{secret}").contains("AAAA"));
        assert_eq!(secret.expose(), "0.AAAA-refresh-token");
    }

    #[test]
    fn serde_round_trip_keeps_value() {
        let secret = Secret::new("abc");
        let json = serde_json::to_string(&secret).unwrap();
        let back: Secret = serde_json::from_str(&json).unwrap();
        assert_eq!(back, secret);
    }
}
