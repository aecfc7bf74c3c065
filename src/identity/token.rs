//! Token endpoint answers and the identity read from the id_token.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::error::IdentityError;
use super::http::HttpResponse;
use crate::secret::Secret;

/// Who signed in, as the id_token says. Used to show the admin and to check the
/// account against the configured Exchange user; never to authorize anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// The provider's stable subject identifier for this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Where the account's name came from when the id_token did not carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_by: Option<String>,
    /// The id_token's `iss` and `aud`, checked against the provider and client.
    #[serde(skip)]
    pub issuer: Option<String>,
    #[serde(skip)]
    pub audience: Vec<String>,
    /// The id_token's `nonce`, checked against the browser sign-in's own.
    #[serde(skip)]
    pub nonce: Option<String>,
    /// Why no account could be named, when none was.
    #[serde(skip)]
    pub unnamed_reason: Option<String>,
}

impl SignedInIdentity {
    /// Whether the provider named an account (a UPN or an e-mail address) that the
    /// configured Exchange user can be checked against.
    pub fn names_account(&self) -> bool {
        self.username.is_some() || self.email.is_some()
    }

    /// The account name to show: UPN, then e-mail, then display name.
    pub fn account(&self) -> Option<&str> {
        self.username
            .as_deref()
            .or(self.email.as_deref())
            .or(self.name.as_deref())
    }

    /// Whether this identity is the expected mailbox user (case-insensitive, by
    /// UPN or e-mail).
    pub fn matches(&self, expected: &str) -> bool {
        let expected = expected.trim();
        [&self.username, &self.email]
            .into_iter()
            .flatten()
            .any(|value| value.trim().eq_ignore_ascii_case(expected))
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    nonce: Option<String>,
}

/// Reads the claims of a JWT without checking its signature: it came straight from
/// the token endpoint over TLS and serves display and matching only.
pub fn read_id_token(id_token: &str) -> Result<SignedInIdentity, IdentityError> {
    let unreadable = |why: &str| {
        IdentityError::transient(format!("The provider's id_token could not be read: {why}."))
    };
    let mut parts = id_token.split('.');
    let (Some(_header), Some(payload)) = (parts.next(), parts.next()) else {
        return Err(unreadable("it is not a JWT"));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| unreadable("its payload is not base64url"))?;
    let claims: Claims = serde_json::from_slice(&bytes)
        .map_err(|_| unreadable("its payload is not a JSON object"))?;
    // Names are shown in terminals and the window: escape what would steer them.
    let safe = |value: Option<String>| value.map(|v| crate::text::escape(&v));
    let audience = match claims.aud {
        Some(serde_json::Value::String(one)) => vec![one],
        Some(serde_json::Value::Array(many)) => many
            .into_iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    Ok(SignedInIdentity {
        username: safe(claims.preferred_username.or(claims.upn)),
        email: safe(claims.email),
        name: safe(claims.name),
        oid: safe(claims.oid.or(claims.sub.clone())),
        tid: safe(claims.tid),
        sub: safe(claims.sub),
        named_by: None,
        issuer: claims.iss,
        audience,
        nonce: claims.nonce,
        unnamed_reason: None,
    })
}

/// A successful token endpoint answer, as RFC 6749 §5.1 and Microsoft send it.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: Secret,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// Microsoft (confidential SPA clients) and others: the refresh token's lifetime.
    #[serde(default, deserialize_with = "number_or_string")]
    pub refresh_token_expires_in: Option<i64>,
    /// Keycloak's name for the same.
    #[serde(default, deserialize_with = "number_or_string")]
    pub refresh_expires_in: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub id_token: Option<Secret>,
}

/// Some providers send numbers as strings ("3599").
pub(crate) fn number_or_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    Ok(match Option::<Raw>::deserialize(deserializer)? {
        Some(Raw::Number(n)) => Some(n),
        Some(Raw::Text(text)) => text.trim().parse().ok(),
        None => None,
    })
}

/// What a grant returns to the caller.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: Secret,
    pub access_expires_at: DateTime<Utc>,
    /// A new refresh token: the caller must store it and never send the old one again.
    /// `None` means the provider did not rotate and the old one stays valid.
    pub refresh_token: Option<Secret>,
    pub scope: Option<String>,
    pub identity: Option<SignedInIdentity>,
    pub obtained_at: DateTime<Utc>,
    /// How long the provider says the refresh token lives, when it says so (0, as
    /// Keycloak sends for offline tokens, says nothing).
    pub refresh_expires_in: Option<i64>,
}

/// A refresh answer: the tokens, or why not — and in both cases the new refresh
/// token when the provider sent one. A provider that rotates has already retired
/// the old token when it answers 200, so the new one must be kept even when the
/// rest of the answer is unusable (a broken id_token, an unknown token type, no
/// access token, an oversized body).
#[derive(Debug)]
pub struct RefreshAnswer {
    pub rotated: Option<Secret>,
    pub result: Result<TokenSet, IdentityError>,
}

impl RefreshAnswer {
    pub fn failed(error: IdentityError) -> Self {
        RefreshAnswer {
            rotated: None,
            result: Err(error),
        }
    }
}

/// Reads a refresh answer; `max_bytes` is the size above which a success body is
/// refused (after its refresh token has been taken out).
pub fn refresh_answer_from(
    response: &HttpResponse,
    now: DateTime<Utc>,
    max_bytes: usize,
) -> RefreshAnswer {
    if !response.is_success() {
        return RefreshAnswer::failed(response.error());
    }
    let rotated = salvage_refresh_token(&response.body);
    let result = if response.body.len() > max_bytes {
        Err(IdentityError::transient(format!(
            "{} sent a token answer larger than {} KiB; tokendesk did not use it.",
            response.host(),
            max_bytes / 1024
        )))
    } else {
        token_set_from(response, now)
    };
    let result = result.map(|mut tokens| {
        // One source of truth for the new token, whichever way it was read.
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = rotated.clone();
        }
        tokens
    });
    RefreshAnswer { rotated, result }
}

/// The `refresh_token` of a success body, read as leniently as is safe: from the
/// JSON object when it parses, else from the first `"refresh_token":"…"` member
/// of a body that is not valid JSON as a whole.
pub fn salvage_refresh_token(body: &[u8]) -> Option<Secret> {
    #[derive(Deserialize)]
    struct OnlyRefresh {
        #[serde(default)]
        refresh_token: Option<serde_json::Value>,
    }
    if let Ok(parsed) = serde_json::from_slice::<OnlyRefresh>(body) {
        return match parsed.refresh_token {
            Some(serde_json::Value::String(token)) if is_plausible_token(&token) => {
                Some(Secret::new(token))
            }
            _ => None,
        };
    }
    let text = String::from_utf8_lossy(body);
    let start = text.find("\"refresh_token\"")? + "\"refresh_token\"".len();
    let rest = text[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    let token = &rest[..end];
    (is_plausible_token(token) && !token.contains('\\')).then(|| Secret::new(token))
}

/// A refresh token is printable ASCII without spaces (RFC 6749 appendix A.17).
fn is_plausible_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 64 * 1024
        && token.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// The token endpoint's answer, or the error it carries.
pub fn token_set_from(
    response: &HttpResponse,
    now: DateTime<Utc>,
) -> Result<TokenSet, IdentityError> {
    if !response.is_success() {
        return Err(response.error());
    }
    let parsed: TokenResponse = response.json("token answer")?;
    parsed.into_token_set(now)
}

impl TokenResponse {
    pub(crate) fn into_token_set(self, now: DateTime<Utc>) -> Result<TokenSet, IdentityError> {
        if self.access_token.is_empty() {
            return Err(IdentityError::transient(
                "The provider answered without an access token.",
            ));
        }
        if let Some(kind) = &self.token_type
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(IdentityError::admin(format!(
                "The provider issued a '{kind}' token; tokendesk only handles Bearer tokens."
            )));
        }
        // An hour is what Microsoft issues; assume it when the field is missing.
        let lifetime = self.expires_in.unwrap_or(3600).clamp(0, 60 * 60 * 24 * 365);
        let identity = match &self.id_token {
            Some(token) => Some(read_id_token(token.expose())?),
            None => None,
        };
        let refresh_expires_in = self
            .refresh_token_expires_in
            .or(self.refresh_expires_in)
            .filter(|seconds| *seconds > 0);
        Ok(TokenSet {
            access_token: self.access_token,
            access_expires_at: now + Duration::seconds(lifetime),
            refresh_token: self.refresh_token.filter(|t| !t.is_empty()),
            scope: self.scope,
            identity,
            obtained_at: now,
            refresh_expires_in,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            enc.encode(r#"{"alg":"none"}"#),
            enc.encode(claims)
        )
    }

    #[test]
    fn reads_microsoft_claims() {
        let id = read_id_token(&jwt(
            r#"{"preferred_username":"Sales@Contoso.com","oid":"o-1","tid":"t-1","name":"Sales","email":"sales@contoso.com"}"#,
        ))
        .unwrap();
        assert_eq!(id.username.as_deref(), Some("Sales@Contoso.com"));
        assert!(id.matches("sales@contoso.com"));
        assert!(!id.matches("other@contoso.com"));
        assert_eq!(id.tid.as_deref(), Some("t-1"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(read_id_token("nonsense").is_err());
        assert!(read_id_token("a.!!!.c").is_err());
        assert!(read_id_token(&format!("a.{}.c", "bm90IGpzb24")).is_err());
    }

    fn ok(body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
            url: url::Url::parse("https://login.example/token").unwrap(),
        }
    }

    #[test]
    fn a_rotated_token_survives_every_bad_part_of_a_success_answer() {
        let now = Utc::now();
        for body in [
            r#"{"access_token":"a","token_type":"Bearer","refresh_token":"rt-new","id_token":"not-a-jwt"}"#,
            r#"{"access_token":"a","token_type":"DPoP","refresh_token":"rt-new"}"#,
            r#"{"access_token":"","token_type":"Bearer","refresh_token":"rt-new"}"#,
            r#"{"token_type":"Bearer","refresh_token":"rt-new"}"#,
            r#"{"refresh_token":"rt-new","access_token":"a", broken"#,
        ] {
            let answer = refresh_answer_from(&ok(body), now, 1024 * 1024);
            assert!(answer.result.is_err(), "{body}");
            assert_eq!(answer.rotated, Some(Secret::new("rt-new")), "{body}");
        }
        let big = format!(
            r#"{{"access_token":"a","token_type":"Bearer","refresh_token":"rt-new","pad":"{}"}}"#,
            "x".repeat(2000)
        );
        let answer = refresh_answer_from(&ok(&big), now, 1024);
        assert!(answer.result.is_err());
        assert_eq!(answer.rotated, Some(Secret::new("rt-new")));
    }

    #[test]
    fn a_good_answer_carries_its_rotation_once() {
        let answer = refresh_answer_from(
            &ok(r#"{"access_token":"a","token_type":"Bearer","refresh_token":"rt-2"}"#),
            Utc::now(),
            1024,
        );
        let tokens = answer.result.unwrap();
        assert_eq!(tokens.refresh_token, Some(Secret::new("rt-2")));
        assert_eq!(answer.rotated, Some(Secret::new("rt-2")));
        let none = refresh_answer_from(&ok(r#"{"access_token":"a"}"#), Utc::now(), 1024);
        assert!(none.rotated.is_none() && none.result.unwrap().refresh_token.is_none());
        assert!(salvage_refresh_token(br#"{"refresh_token":"has space"}"#).is_none());
        assert!(salvage_refresh_token(br#"{"refresh_token":5}"#).is_none());
    }

    #[test]
    fn expires_in_as_string() {
        let response: TokenResponse = serde_json::from_str(
            r#"{"access_token":"a","expires_in":"3599","token_type":"Bearer"}"#,
        )
        .unwrap();
        let now = Utc::now();
        let set = response.into_token_set(now).unwrap();
        assert_eq!(set.access_expires_at, now + Duration::seconds(3599));
        assert!(set.refresh_token.is_none());
    }
}
