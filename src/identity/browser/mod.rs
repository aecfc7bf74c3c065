//! The browser sign-in of a native app (RFC 8252): authorization code with PKCE
//! (RFC 7636, S256) through the system browser, the answer caught by a listener on
//! the loopback address (`redirect`) that accepts exactly one valid answer
//! (`callback`).

mod callback;
mod redirect;

use std::time::Duration;

use base64::Engine;
use url::Url;

use crate::secret::Secret;

pub use callback::{CallbackCheck, PageLanguage, wait_for_code};
pub use redirect::{LoopbackListener, RedirectUri};

/// How long the admin has to finish in the browser unless told otherwise.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(10 * 60);

/// A fresh random value for `state`, `nonce` and the PKCE verifier: 32 bytes,
/// base64url (43 characters, RFC 7636's minimum length and alphabet).
pub fn random_value() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7636 S256: base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// One browser sign-in's request: the URL to open and what the answer and the
/// code redemption must match.
pub struct AuthorizationRequest {
    pub url: Url,
    pub state: String,
    pub nonce: String,
    pub verifier: Secret,
    pub redirect_uri: String,
}

/// Builds the authorization URL: PKCE S256, fresh `state` and `nonce`, the
/// configured account as `login_hint`, and the `prompt` the provider needs.
pub fn authorization_request(
    endpoint: &Url,
    client_id: &str,
    scope: &str,
    redirect_uri: &str,
    login_hint: Option<&str>,
    microsoft: bool,
) -> AuthorizationRequest {
    let state = random_value();
    let nonce = random_value();
    let verifier = random_value();
    let mut url = endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        if let Some(hint) = login_hint.map(str::trim).filter(|h| !h.is_empty()) {
            query.append_pair("login_hint", hint);
        }
        if microsoft {
            query.append_pair("prompt", "select_account");
        } else if scope.split_whitespace().any(|s| s == "offline_access") {
            // OIDC Core 11: without consent a provider may ignore offline_access
            // and issue no refresh token.
            query.append_pair("prompt", "consent");
        }
    }
    AuthorizationRequest {
        url,
        state,
        nonce,
        verifier: Secret::new(verifier),
        redirect_uri: redirect_uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let value = random_value();
        assert_eq!(value.len(), 43);
        assert_ne!(value, random_value());
    }

    #[test]
    fn the_request_asks_for_the_right_prompt() {
        let endpoint = Url::parse("https://id.example.test/authorize").unwrap();
        let request = authorization_request(
            &endpoint,
            "app",
            "openid offline_access",
            "http://127.0.0.1:5/cb",
            Some("alice@contoso.test"),
            false,
        );
        let query: std::collections::HashMap<_, _> =
            request.url.query_pairs().into_owned().collect();
        assert_eq!(query["prompt"], "consent");
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(
            query["code_challenge"],
            pkce_challenge(request.verifier.expose())
        );
        assert_eq!(query["login_hint"], "alice@contoso.test");
        assert_eq!(query["redirect_uri"], "http://127.0.0.1:5/cb");
        let microsoft =
            authorization_request(&endpoint, "app", "openid offline_access", "x", None, true);
        assert!(microsoft.url.as_str().contains("prompt=select_account"));
        assert!(!microsoft.url.as_str().contains("login_hint"));
    }
}
