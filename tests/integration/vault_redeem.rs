//! Redeeming stored tokens against the loopback provider: rotation is written
//! through to the vault, the old token is never sent again, failures are recorded.

use crate::support;

use std::sync::Arc;

use crate::support::provider::{Endpoint, Fault, TestProvider};
use crate::support::{connect, microsoft_config};
use chrono::Utc;
use tokendesk::Secret;
use tokendesk::clock::SystemClock;
use tokendesk::identity::{ErrorKind, Scopes};
use tokendesk::lifecycle::{RedeemError, redeem};
use tokendesk::vault::ops::TokenTarget;
use tokendesk::vault::{DataSource, KeySource, Keyring, TokenState, Vault, policy};

const EWS: &str =
    "https://outlook.office365.com/EWS.AccessAsUser.All offline_access openid profile";

fn keys() -> KeySource {
    let store: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
    KeySource::with_keyring(Keyring::with_store(store))
}

#[tokio::test]
async fn rotated_tokens_are_written_through_and_never_replayed() {
    let provider = TestProvider::microsoft();
    let config = microsoft_config(&provider, Scopes::Ews);
    let client = connect(config.clone()).await;
    let dir = support::temp_dir();
    let keys = keys();
    let mut vault = Vault::create(dir.path(), &keys, false).unwrap();
    let first = provider.issue_grant("sales@contoso.com", EWS, Utc::now());
    vault
        .update(|data| {
            let mut source = DataSource::new("Exchange", config.clone(), "sales@contoso.com");
            source.token.refresh_token = Some(Secret::new(first.clone()));
            source.token.obtained_at = Some(Utc::now());
            data.add_data_source(source)
        })
        .unwrap();
    let target = TokenTarget::data_source("Exchange");

    for _ in 0..5 {
        redeem(&mut vault, &client, &target, &SystemClock)
            .await
            .unwrap();
        // What is on disk — not only in memory — is the provider's newest token.
        let on_disk = Vault::open(dir.path(), &keys).unwrap();
        let stored = on_disk
            .data()
            .token(&target)
            .unwrap()
            .refresh_token
            .clone()
            .unwrap();
        assert_eq!(
            Some(stored.expose().to_string()),
            provider.current_refresh_token_of("sales@contoso.com")
        );
    }
    let sent: Vec<String> = provider
        .requests_to(Endpoint::Token)
        .iter()
        .map(|r| r.form["refresh_token"].clone())
        .collect();
    let mut unique = sent.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), sent.len(), "a refresh token was sent twice");
    assert_eq!(sent[0], first);

    // A transient failure is remembered but leaves the token healthy.
    provider.fail_next(
        Endpoint::Token,
        Fault::Status {
            status: 503,
            retry_after: Some(30),
        },
    );
    let error = redeem(&mut vault, &client, &target, &SystemClock)
        .await
        .unwrap_err();
    assert!(matches!(&error, RedeemError::Identity(e) if e.kind == ErrorKind::Transient));
    let data = Vault::open(dir.path(), &keys).unwrap().data().clone();
    let record = data.token(&target).unwrap();
    assert_eq!(
        policy::evaluate(
            record,
            &data.settings,
            policy::Lifetime::MICROSOFT,
            Utc::now()
        )
        .state,
        TokenState::Healthy
    );
    assert_eq!(
        record.last_error.as_ref().unwrap().kind,
        ErrorKind::Transient
    );

    // A revoked token turns into "needs sign-in", with the code for support.
    provider.revoke_user("sales@contoso.com");
    redeem(&mut vault, &client, &target, &SystemClock)
        .await
        .unwrap_err();
    let data = Vault::open(dir.path(), &keys).unwrap().data().clone();
    let record = data.token(&target).unwrap();
    assert_eq!(
        policy::evaluate(
            record,
            &data.settings,
            policy::Lifetime::MICROSOFT,
            Utc::now()
        )
        .state,
        TokenState::NeedsSignIn
    );
    assert_eq!(
        record.last_error.as_ref().unwrap().code.as_deref(),
        Some("AADSTS50173")
    );

    // No token at all: a clear message, no request.
    vault
        .update(|data| data.clear_token(&target, "admin", Utc::now()))
        .unwrap();
    let before = provider.requests_to(Endpoint::Token).len();
    let error = redeem(&mut vault, &client, &target, &SystemClock)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("has no refresh token"));
    assert_eq!(provider.requests_to(Endpoint::Token).len(), before);
}
