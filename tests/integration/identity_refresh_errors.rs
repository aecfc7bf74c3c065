//! Refresh with rotation, and the classification of every provider failure.

use crate::support;

use std::time::Duration;

use crate::support::provider::{Endpoint, Fault, TestProvider};
use crate::support::{connect, microsoft_config, oidc_config};
use chrono::Utc;
use tokendesk::Secret;
use tokendesk::identity::error::{KNOWN_AADSTS_CODES, aadsts};
use tokendesk::identity::{ErrorKind, Scopes};

const EWS: &str =
    "https://outlook.office365.com/EWS.AccessAsUser.All offline_access openid profile";

#[tokio::test]
async fn rotation_replaces_the_token_and_the_old_one_is_never_sent_again() {
    let provider = TestProvider::microsoft();
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let mut current = Secret::new(provider.issue_grant("sales@contoso.com", EWS, Utc::now()));
    let mut used = vec![current.expose().to_string()];
    for _ in 0..5 {
        let tokens = client
            .refresh(&current, None, Utc::now())
            .await
            .result
            .expect("refresh");
        let rotated = tokens.refresh_token.expect("Microsoft rotates");
        assert_ne!(rotated, current);
        current = rotated;
        used.push(current.expose().to_string());
    }
    let sent: Vec<String> = provider
        .requests_to(Endpoint::Token)
        .iter()
        .map(|r| r.form["refresh_token"].clone())
        .collect();
    // Each request carried the newest token: no token was sent twice.
    assert_eq!(sent, used[..5].to_vec());
    assert_eq!(
        provider
            .current_refresh_token_of("sales@contoso.com")
            .as_deref(),
        Some(current.expose())
    );
}

#[tokio::test]
async fn without_rotation_the_old_token_stays() {
    let provider = TestProvider::oidc();
    provider.set_rotation(false);
    let client = connect(oidc_config(&provider)).await;
    let token =
        Secret::new(provider.issue_grant("ops@example.org", "openid offline_access", Utc::now()));
    for _ in 0..3 {
        let tokens = client
            .refresh(&token, None, Utc::now())
            .await
            .result
            .expect("refresh");
        assert!(
            tokens.refresh_token.is_none(),
            "no rotation means no new token"
        );
    }
}

#[tokio::test]
async fn replaying_a_rotated_token_revokes_the_grant_at_an_oidc_provider() {
    let provider = TestProvider::oidc();
    let client = connect(oidc_config(&provider)).await;
    let first =
        Secret::new(provider.issue_grant("ops@example.org", "openid offline_access", Utc::now()));
    let second = client
        .refresh(&first, None, Utc::now())
        .await
        .result
        .unwrap()
        .refresh_token
        .unwrap();
    let replay = client
        .refresh(&first, None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(replay.kind, ErrorKind::NeedsSignIn);
    // The whole grant is gone: even the newest token no longer works.
    let after = client
        .refresh(&second, None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(after.kind, ErrorKind::NeedsSignIn);
}

#[tokio::test]
async fn scope_narrowing_and_secret_are_sent_as_configured() {
    let provider = TestProvider::microsoft();
    provider.set_client_secret(Some("s3cret"));
    let mut config = microsoft_config(&provider, Scopes::Ews);
    config.client_secret = Some(Secret::new("s3cret"));
    let client = connect(config).await;
    let token = Secret::new(provider.issue_grant("sales@contoso.com", EWS, Utc::now()));
    client
        .refresh(
            &token,
            Some("https://outlook.office365.com/EWS.AccessAsUser.All"),
            Utc::now(),
        )
        .await
        .result
        .unwrap();
    let form = &provider.requests_to(Endpoint::Token)[0].form;
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(
        form["scope"],
        "https://outlook.office365.com/EWS.AccessAsUser.All"
    );
    assert_eq!(form["client_secret"], "s3cret");
}

#[tokio::test]
async fn every_aadsts_code_is_classified_with_its_admin_message() {
    let provider = TestProvider::microsoft();
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let token = Secret::new(provider.issue_grant("sales@contoso.com", EWS, Utc::now()));
    for code in KNOWN_AADSTS_CODES {
        let (kind, message) = aadsts(code).unwrap();
        provider.fail_next(Endpoint::Token, Fault::aadsts("invalid_grant", code));
        let error = client
            .refresh(&token, None, Utc::now())
            .await
            .result
            .unwrap_err();
        assert_eq!(error.kind, kind, "AADSTS{code}");
        assert_eq!(error.message, message, "AADSTS{code}");
        assert_eq!(error.codes, vec![code]);
        assert!(
            error.trace_id.is_some() && error.correlation_id.is_some() && error.timestamp.is_some()
        );
        assert!(error.support_details().contains(&format!("AADSTS{code}")));
        assert_eq!(
            error.kind.invalidates_token(),
            kind == ErrorKind::NeedsSignIn
        );
    }
    // Spot checks of the admin actions named in the messages.
    let message = |code| aadsts(code).unwrap().1;
    assert!(message(7000218).contains("Allow public client flows"));
    assert!(message(65001).contains("admin consent"));
    assert!(message(53003).contains("Conditional Access"));
    assert!(message(7000222).contains("new secret"));
}

#[tokio::test]
async fn dead_tokens_need_sign_in_at_both_profiles() {
    let provider = TestProvider::microsoft();
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let token = Secret::new(provider.issue_grant("sales@contoso.com", EWS, Utc::now()));
    provider.revoke_user("sales@contoso.com");
    let error = client
        .refresh(&token, None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(
        (error.kind, error.codes.clone()),
        (ErrorKind::NeedsSignIn, vec![50173])
    );

    let oidc = TestProvider::oidc();
    let client = connect(oidc_config(&oidc)).await;
    let error = client
        .refresh(&Secret::new("never-issued"), None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(
        (error.kind, error.error.as_deref()),
        (ErrorKind::NeedsSignIn, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn inactivity_window_expires_an_unused_token() {
    let provider = TestProvider::microsoft();
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let issued = Utc::now() - chrono::Duration::days(91);
    let token = Secret::new(provider.issue_grant("sales@contoso.com", EWS, issued));
    let error = client
        .refresh(&token, None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert!(error.has_code(700082));
    assert_eq!(error.kind, ErrorKind::NeedsSignIn);
}

#[tokio::test]
async fn throttling_outages_and_broken_answers_are_transient() {
    let provider = TestProvider::microsoft();
    let client = connect(microsoft_config(&provider, Scopes::Ews)).await;
    let token = Secret::new(provider.issue_grant("sales@contoso.com", EWS, Utc::now()));

    provider.fail_next(
        Endpoint::Token,
        Fault::Status {
            status: 429,
            retry_after: Some(7),
        },
    );
    let error = client
        .refresh(&token, None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transient);
    assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
    assert!(error.message.contains("429"));

    provider.fail_next(
        Endpoint::Token,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
    );
    let error = client
        .refresh(&token, None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(
        (error.kind, error.http_status),
        (ErrorKind::Transient, Some(500))
    );

    provider.fail_next(Endpoint::Token, Fault::DropConnection);
    let error = client
        .refresh(&token, None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transient);
    assert!(error.message.contains("broke off"), "{}", error.message);

    provider.fail_next(Endpoint::Token, Fault::Malformed);
    let error = client
        .refresh(&token, None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transient);
    assert!(
        error.message.contains("could not read"),
        "{}",
        error.message
    );

    provider.fail_next(Endpoint::Token, Fault::Oversized(2 * 1024 * 1024));
    let error = client
        .refresh(&token, None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transient);
    assert!(error.message.contains("larger than"), "{}", error.message);

    provider.fail_next(Endpoint::Token, Fault::Slow(Duration::from_secs(3)));
    let error = client
        .refresh(&token, None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transient);
    assert!(
        error.message.contains("did not answer in time"),
        "{}",
        error.message
    );

    provider.fail_next(
        Endpoint::Token,
        Fault::aadsts("temporarily_unavailable", 50196),
    );
    let error = client
        .refresh(&token, None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transient);

    // None of that hurt the token.
    client
        .refresh(&token, None, Utc::now())
        .await
        .result
        .expect("token still works");
}

#[tokio::test]
async fn unreachable_provider_is_transient() {
    let provider = TestProvider::microsoft();
    let config = microsoft_config(&provider, Scopes::Ews);
    drop(provider);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Discovery cannot be fetched, so the documented paths are used; the token call then fails.
    let client = tokendesk::identity::IdentityClient::connect(support::quick_http(), config)
        .await
        .expect("fallback endpoints");
    let error = client
        .refresh(&Secret::new("rt"), None, Utc::now())
        .await
        .result
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transient);
    assert!(
        error.message.contains("Could not connect"),
        "{}",
        error.message
    );
}
