//! Clear Token with RFC 7009 revocation (issue 24, item 10): where the provider's
//! discovery lists a revocation endpoint, Clear can first have the provider revoke
//! the refresh token; only once it agreed is the token cleared here, and a provider
//! that refuses changes nothing.

use chrono::Utc;
use tokendesk::clock::SystemClock;
use tokendesk::desk;
use tokendesk::vault::Vault;
use tokendesk::vault::ops::TokenTarget;

use crate::support;
use crate::support::desk::{add_source, keys};
use crate::support::provider::{Endpoint, Fault, GrantState, TestProvider};

#[tokio::test]
async fn revoke_and_clear_ends_the_grant_at_the_provider_then_here() {
    let provider = TestProvider::oidc();
    let home = support::temp_dir();
    add_source(
        &provider,
        home.path(),
        "A",
        support::oidc_config(&provider),
        0,
        Utc::now(),
    );
    let target = TokenTarget::data_source("A");
    let mut vault = Vault::open(home.path(), &keys()).expect("open");
    assert!(
        !desk::tokens::revocation_offered(vault.data(), &target, Utc::now()),
        "not offered before the provider's discovery was read"
    );
    // A redemption reads (and keeps) the discovery document.
    desk::tokens::access_token(&mut vault, &target, None, &SystemClock)
        .await
        .expect("a redemption");
    assert!(desk::tokens::revocation_offered(
        vault.data(),
        &target,
        Utc::now()
    ));
    let token = vault
        .data()
        .token(&target)
        .unwrap()
        .refresh_token
        .clone()
        .unwrap();

    // The provider refuses: nothing is cleared.
    provider.fail_next(
        Endpoint::Revocation,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    );
    let refused = desk::tokens::revoke_and_clear(&mut vault, &target, &SystemClock).await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(vault.data().token(&target).unwrap().has_refresh_token());
    assert_eq!(provider.grant_state(token.expose()), GrantState::Current);

    let revoked = desk::tokens::revoke_and_clear(&mut vault, &target, &SystemClock)
        .await
        .expect("revoked");
    assert!(revoked);
    assert!(!vault.data().token(&target).unwrap().has_refresh_token());
    assert!(matches!(
        provider.grant_state(token.expose()),
        GrantState::Revoked { .. }
    ));
    let sent = provider.requests_to(Endpoint::Revocation);
    let last = sent.last().expect("a revocation request");
    assert_eq!(
        last.form.get("token_type_hint").map(String::as_str),
        Some("refresh_token")
    );
    assert_eq!(
        last.form.get("client_id").map(String::as_str),
        Some(crate::support::provider::CLIENT_ID)
    );
}

#[tokio::test]
async fn microsoft_lists_no_revocation_endpoint_so_none_is_offered() {
    let provider = TestProvider::microsoft();
    let home = support::temp_dir();
    add_source(
        &provider,
        home.path(),
        "M",
        support::microsoft_config(&provider, tokendesk::identity::Scopes::Graph),
        0,
        Utc::now(),
    );
    let target = TokenTarget::data_source("M");
    let mut vault = Vault::open(home.path(), &keys()).expect("open");
    desk::tokens::access_token(&mut vault, &target, None, &SystemClock)
        .await
        .expect("a redemption");
    assert!(!desk::tokens::revocation_offered(
        vault.data(),
        &target,
        Utc::now()
    ));
}

/// The same against a certified provider nobody here wrote: oidc-provider lists
/// its revocation endpoint, and a revoked refresh token no longer redeems.
#[test]
fn oidc_provider_revokes_the_refresh_token_before_it_is_cleared() {
    let Some(op) = crate::oidc_conformance::start("oidc_provider revocation", &[]) else {
        return;
    };
    let home = support::temp_dir();
    crate::oidc_conformance::vault(home.path(), &op, false);
    let (out, _page) = crate::oidc_conformance::sign_in(home.path(), &op, false, true);
    assert!(out.status.success(), "{}", crate::support::desk::text(&out));

    let target = TokenTarget::data_source("A");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut vault = Vault::open(home.path(), &keys()).expect("open");
    // The sign-in's access token is still fresh; Test Connection reads (and keeps)
    // the provider's discovery, as any redemption does.
    runtime
        .block_on(desk::tokens::test_connection(
            &mut vault,
            &target,
            &SystemClock,
        ))
        .expect("test connection");
    assert!(desk::tokens::revocation_offered(
        vault.data(),
        &target,
        Utc::now()
    ));
    let token = vault
        .data()
        .token(&target)
        .unwrap()
        .refresh_token
        .clone()
        .unwrap();
    let config = vault.data().data_source("A").unwrap().provider.clone();
    let revoked = runtime
        .block_on(desk::tokens::revoke_and_clear(
            &mut vault,
            &target,
            &SystemClock,
        ))
        .expect("revoked");
    assert!(revoked);
    assert!(!vault.data().token(&target).unwrap().has_refresh_token());
    let client = runtime.block_on(support::connect(config));
    let after = runtime.block_on(client.refresh(&token, None, Utc::now()));
    assert_eq!(
        after.result.unwrap_err().error.as_deref(),
        Some("invalid_grant"),
        "the provider no longer redeems it"
    );
}
