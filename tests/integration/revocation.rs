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

/// A vault in `home` with data source "A" at `provider` (and `users` mapped users),
/// opened.
fn vault_at(provider: &TestProvider, home: &std::path::Path, users: usize) -> Vault {
    add_source(
        provider,
        home,
        "A",
        support::oidc_config(provider),
        users,
        Utc::now(),
    );
    Vault::open(home, &keys()).expect("open")
}

/// The refresh token stored for `target`.
fn refresh_token(vault: &Vault, target: &TokenTarget) -> tokendesk::Secret {
    vault
        .data()
        .token(target)
        .ok()
        .and_then(|t| t.refresh_token.clone())
        .expect("a refresh token")
}

/// Redeems "A" once: a redemption reads (and keeps) the discovery document.
async fn redeem_a(vault: &mut Vault) {
    desk::tokens::access_token(vault, &TokenTarget::data_source("A"), None, &SystemClock)
        .await
        .expect("a redemption");
}

#[tokio::test]
async fn revoke_and_clear_ends_the_grant_at_the_provider_then_here() {
    let provider = TestProvider::oidc();
    let home = support::temp_dir();
    let mut vault = vault_at(&provider, home.path(), 0);
    let target = TokenTarget::data_source("A");
    assert!(
        !desk::tokens::revocation_offered(vault.data(), &target),
        "not offered before the provider's discovery was read"
    );
    redeem_a(&mut vault).await;
    assert!(desk::tokens::revocation_offered(vault.data(), &target));
    let token = refresh_token(&vault, &target);

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
async fn revoke_and_clear_waits_for_the_tokens_lock_and_revokes_the_token_stored_under_it() {
    let provider = TestProvider::oidc();
    let home = support::temp_dir();
    let mut vault = vault_at(&provider, home.path(), 0);
    let target = TokenTarget::data_source("A");
    redeem_a(&mut vault).await;
    let before = provider.requests_to(Endpoint::Revocation).len();

    // Another process holds the token (a renewal in flight) and stores a rotation.
    let mut other = Vault::open(home.path(), &keys()).expect("open");
    let id = other.data().token_id(&target).expect("id");
    let guard = other
        .lock_token(&id, std::time::Duration::from_secs(5))
        .await
        .expect("the lock");
    let clearing = tokio::spawn(async move {
        let result = desk::tokens::revoke_and_clear(&mut vault, &target, &SystemClock).await;
        (vault, result)
    });
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        provider.requests_to(Endpoint::Revocation).len(),
        before,
        "nothing is revoked while another holds the token"
    );
    let target = TokenTarget::data_source("A");
    let rotated = provider.issue_grant(
        crate::support::desk::ACCOUNT,
        crate::support::desk::OIDC_GRANT,
        Utc::now(),
    );
    other
        .update(|data| {
            data.token_mut(&target)?.refresh_token =
                Some(tokendesk::secret::Secret::new(rotated.clone()));
            Ok(())
        })
        .expect("the rotation stored");
    drop(guard);
    let (vault, result) = clearing.await.expect("task");
    assert!(result.expect("revoked"));
    assert!(!vault.data().token(&target).unwrap().has_refresh_token());
    let sent = provider.requests_to(Endpoint::Revocation);
    assert_eq!(
        sent.last().and_then(|r| r.form.get("token").cloned()),
        Some(rotated),
        "the token stored under the lock is the one revoked"
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
    assert!(!desk::tokens::revocation_offered(vault.data(), &target));
}

#[tokio::test]
async fn a_sign_in_keeps_the_providers_discovery_so_clear_offers_revocation_at_once() {
    let provider = TestProvider::oidc();
    let home = support::temp_dir();
    let mut vault = vault_at(&provider, home.path(), 0);
    let config = support::oidc_config(&provider);
    let target = TokenTarget::data_source("A");
    assert!(!desk::tokens::revocation_offered(vault.data(), &target));
    // Before: the first renewal was the first to read the discovery document, so
    // a token just signed in could not be revoked by Clear.
    desk::sign_in::DeviceSignIn::start(Some(&mut vault), config, None, &SystemClock)
        .await
        .expect("a device code");
    assert!(desk::tokens::revocation_offered(vault.data(), &target));
    let other = Vault::open(home.path(), &keys()).expect("open again");
    assert!(
        desk::tokens::revocation_offered(other.data(), &target),
        "kept in the vault, not only in this handle"
    );
}

#[tokio::test]
async fn clearing_several_tokens_revokes_where_offered_and_a_refusal_keeps_that_token() {
    let oidc = TestProvider::oidc();
    let microsoft = TestProvider::microsoft();
    let home = support::temp_dir();
    drop(vault_at(&oidc, home.path(), 1));
    add_source(
        &microsoft,
        home.path(),
        "M",
        support::microsoft_config(&microsoft, tokendesk::identity::Scopes::Graph),
        0,
        Utc::now(),
    );
    let mut vault = Vault::open(home.path(), &keys()).expect("open");
    let account = TokenTarget::data_source("A");
    let user = TokenTarget::user("A", "USER/0");
    let mailbox = TokenTarget::data_source("M");
    redeem_a(&mut vault).await;
    let refresh = |vault: &Vault, target: &TokenTarget| {
        vault.data().token(target).unwrap().refresh_token.clone()
    };
    let account_token = refresh(&vault, &account).expect("token");
    let user_token = refresh(&vault, &user).expect("token");

    // The first revocation (the account's) is refused; the user's goes through.
    oidc.fail_next(
        Endpoint::Revocation,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    );
    let report = desk::tokens::revoke_and_clear_all(
        &mut vault,
        &[mailbox.clone(), account.clone(), user.clone()],
        &SystemClock,
    )
    .await
    .expect("a report");
    assert_eq!(report.revoked, 1, "{report:?}");
    assert_eq!(report.cleared_only, 1, "Microsoft offers no revocation");
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].0, account);
    assert_eq!(
        refresh(&vault, &account).map(|t| t.expose().to_string()),
        Some(account_token.expose().to_string()),
        "the refused token is kept"
    );
    assert!(refresh(&vault, &user).is_none());
    assert!(refresh(&vault, &mailbox).is_none());
    assert!(matches!(
        oidc.grant_state(user_token.expose()),
        GrantState::Revoked { .. }
    ));
    assert!(!matches!(
        oidc.grant_state(account_token.expose()),
        GrantState::Revoked { .. }
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
    // The sign-in itself kept the provider's discovery: revocation is offered at once.
    assert!(desk::tokens::revocation_offered(vault.data(), &target));
    runtime
        .block_on(desk::tokens::test_connection(
            &mut vault,
            &target,
            &SystemClock,
        ))
        .expect("test connection");
    assert!(desk::tokens::revocation_offered(vault.data(), &target));
    let token = refresh_token(&vault, &target);
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
