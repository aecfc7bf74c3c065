//! Telling the truth about any provider: who signed in when only the userinfo
//! endpoint names the account, id_tokens from another issuer or for another client,
//! what is said about the refresh token's lifetime, and how a confidential client
//! authenticates (issue "Tell the truth about any provider").

use crate::support;

use std::time::Duration;

use chrono::Utc;

use crate::support::desk::{self, ACCOUNT, run, text};
use crate::support::provider::{Endpoint, Fault, PollAnswer, TestProvider};
use crate::support::{microsoft_config, oidc_config};
use tokendesk::Secret;
use tokendesk::identity::Scopes;
use tokendesk::vault::Vault;
use tokendesk::vault::ops::TokenTarget;

fn sign_in(
    home: &std::path::Path,
    provider: &TestProvider,
    extra: &[&str],
) -> std::process::Output {
    provider.set_interval(Some(1));
    provider.script_polls(&[PollAnswer::Approve]);
    let mut args = vec![
        "sign-in",
        "--data-source",
        "A",
        "--no-browser",
        "--no-clipboard",
    ];
    args.extend(extra);
    run(home, &args)
}

#[test]
fn sign_in_names_the_account_from_userinfo_when_the_id_token_does_not() {
    let home = support::temp_dir();
    let provider = TestProvider::oidc();
    desk::add_source(
        &provider,
        home.path(),
        "A",
        oidc_config(&provider),
        0,
        Utc::now(),
    );
    provider.set_claims_in_id_token(false);
    let out = sign_in(home.path(), &provider, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&format!(
            "Signed in as {ACCOUNT} (named by the provider's userinfo endpoint)"
        )),
        "{shown}"
    );
    assert!(
        shown.contains("the provider did not say how long it stays valid"),
        "{shown}"
    );
    assert!(!shown.contains("Microsoft keeps it valid"), "{shown}");
    let vault = Vault::open(home.path(), &desk::keys()).unwrap();
    let record = vault.data().token(&TokenTarget::data_source("A")).unwrap();
    let identity = record.identity.as_ref().expect("identity stored");
    assert_eq!(identity.username.as_deref(), Some(ACCOUNT));
    assert_eq!(
        identity.sub.as_deref(),
        Some("oid-sales"),
        "the stable subject is kept"
    );
}

#[test]
fn a_provider_that_names_nobody_gets_its_own_message_not_another_account() {
    let home = support::temp_dir();
    let provider = TestProvider::oidc();
    desk::add_source(
        &provider,
        home.path(),
        "A",
        oidc_config(&provider),
        0,
        Utc::now(),
    );
    provider.set_claims_in_id_token(false);
    provider.fail_next(
        Endpoint::UserInfo,
        Fault::Status {
            status: 401,
            retry_after: None,
        },
    );
    let out = sign_in(home.path(), &provider, &[]);
    assert!(!out.status.success());
    let shown = text(&out);
    assert!(shown.contains("did not name the account"), "{shown}");
    assert!(shown.contains("HTTP 401"), "{shown}");
    assert!(shown.contains("subject oid-sales"), "{shown}");
    assert!(
        !shown.contains("is configured for"),
        "not 'another account': {shown}"
    );
}

/// A Microsoft data source whose id_tokens name nobody and whose userinfo refuses
/// the access token, with Graph served by the loopback provider.
fn microsoft_source_naming_nobody(scopes: Scopes) -> (tempfile::TempDir, TestProvider) {
    let home = support::temp_dir();
    let provider = TestProvider::microsoft();
    desk::add_source(
        &provider,
        home.path(),
        "A",
        microsoft_config(&provider, scopes),
        0,
        Utc::now(),
    );
    let mut vault = Vault::open(home.path(), &desk::keys()).unwrap();
    vault
        .update(|data| {
            data.data_source_mut("A")?.account.api_root = Some(provider.graph_root());
            Ok(())
        })
        .unwrap();
    provider.set_claims_in_id_token(false);
    provider.fail_next(
        Endpoint::UserInfo,
        Fault::Status {
            status: 401,
            retry_after: None,
        },
    );
    (home, provider)
}

#[test]
fn microsoft_sign_in_names_the_account_from_graph_when_userinfo_cannot() {
    let (home, provider) = microsoft_source_naming_nobody(Scopes::Graph);
    let out = sign_in(home.path(), &provider, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "Signed in as {ACCOUNT} (named by Microsoft Graph)"
        )),
        "{}",
        text(&out)
    );
    let vault = Vault::open(home.path(), &desk::keys()).unwrap();
    let record = vault.data().token(&TokenTarget::data_source("A")).unwrap();
    let identity = record.identity.as_ref().expect("identity stored");
    assert_eq!(identity.username.as_deref(), Some(ACCOUNT));
    assert_eq!(identity.oid.as_deref(), Some("oid-sales"));
}

#[test]
fn a_microsoft_token_for_another_api_says_neither_userinfo_nor_graph_can_name_it() {
    let (home, provider) = microsoft_source_naming_nobody(Scopes::Ews);
    let out = sign_in(home.path(), &provider, &[]);
    assert!(!out.status.success());
    let shown = text(&out);
    assert!(shown.contains("did not name the account"), "{shown}");
    assert!(shown.contains("HTTP 401"), "{shown}");
    assert!(
        shown.contains("is for https://outlook.office365.com"),
        "names the token's resource: {shown}"
    );
    assert!(
        shown.contains("neither the userinfo endpoint nor Microsoft Graph accepts"),
        "{shown}"
    );
    assert!(!shown.contains("is configured for"), "{shown}");
}

#[test]
fn id_tokens_from_another_issuer_or_for_another_client_are_refused() {
    for (issuer, audience, expected) in [
        (
            Some("https://evil.example/realms/test"),
            None,
            "was issued by https://evil.example",
        ),
        (
            None,
            Some("another-client"),
            "for another application (another-client)",
        ),
    ] {
        let home = support::temp_dir();
        let provider = TestProvider::oidc();
        desk::add_source(
            &provider,
            home.path(),
            "A",
            oidc_config(&provider),
            0,
            Utc::now(),
        );
        provider.set_id_token_origin(issuer, audience);
        let out = sign_in(home.path(), &provider, &[]);
        assert!(!out.status.success());
        assert!(text(&out).contains(expected), "{}", text(&out));
        // A renewal whose id_token is wrong still keeps the rotated refresh token.
        let out = run(home.path(), &["renew", "--data-source", "A"]);
        assert!(text(&out).contains(expected), "{}", text(&out));
        assert!(
            text(&out).contains("new refresh token was stored"),
            "{}",
            text(&out)
        );
        provider.set_id_token_origin(None, None);
        let out = run(home.path(), &["renew", "--data-source", "A"]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(provider.replays(), 0);
    }
}

#[tokio::test]
async fn a_confidential_client_authenticates_the_way_discovery_says() {
    for (listed, required) in [
        (
            &["client_secret_basic", "client_secret_post"][..],
            "client_secret_basic",
        ),
        (&[][..], "client_secret_basic"),
        (&["client_secret_post"][..], "client_secret_post"),
    ] {
        let provider = TestProvider::oidc();
        provider.set_client_secret(Some("s3cret:with/odd&chars"));
        provider.set_client_auth(listed, Some(required));
        let mut config = oidc_config(&provider);
        config.client_secret = Some(Secret::new("s3cret:with/odd&chars"));
        let client = support::connect(config).await;
        let token = provider.issue_grant(ACCOUNT, desk::OIDC_GRANT, Utc::now());
        let answer = client.refresh(&Secret::new(token), None, Utc::now()).await;
        assert!(
            answer.result.is_ok(),
            "{listed:?}: {:?}",
            answer.result.err()
        );
        assert_eq!(
            provider.auth_methods_used(),
            vec![required.to_string()],
            "{listed:?}"
        );
    }
}

#[test]
fn sign_in_with_a_stated_refresh_lifetime_says_it() {
    let home = support::temp_dir();
    let provider = TestProvider::microsoft();
    let config = support::microsoft_config(&provider, tokendesk::identity::Scopes::Ews);
    desk::add_source(&provider, home.path(), "A", config, 0, Utc::now());
    provider.set_refresh_lifetime(Some(86_400));
    provider.set_interval(Some(1));
    provider.script_polls(&[PollAnswer::Approve]);
    let out = run(
        home.path(),
        &[
            "sign-in",
            "--data-source",
            "A",
            "--no-browser",
            "--no-clipboard",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("the provider says it is valid for 24 hours"),
        "{}",
        text(&out)
    );
    std::thread::sleep(Duration::from_millis(1));
}

fn status_json(home: &std::path::Path) -> serde_json::Value {
    let out = run(home, &["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)))
}

#[test]
fn status_says_where_each_expiry_comes_from_and_never_invents_one() {
    let home = support::temp_dir();
    let microsoft = TestProvider::microsoft();
    let config = support::microsoft_config(&microsoft, tokendesk::identity::Scopes::Ews);
    desk::add_source(&microsoft, home.path(), "M", config, 0, Utc::now());
    let stated = TestProvider::oidc();
    desk::add_source(
        &stated,
        home.path(),
        "Stated",
        oidc_config(&stated),
        0,
        Utc::now(),
    );
    stated.set_refresh_lifetime(Some(86_400));
    let configured = TestProvider::oidc();
    desk::add_source(
        &configured,
        home.path(),
        "Rule",
        oidc_config(&configured),
        0,
        Utc::now(),
    );
    let silent = TestProvider::oidc();
    desk::add_source(
        &silent,
        home.path(),
        "Silent",
        oidc_config(&silent),
        0,
        Utc::now(),
    );
    let mut vault = Vault::open(home.path(), &desk::keys()).unwrap();
    vault
        .update(|data| {
            data.data_source_mut("Rule")?.refresh_rule = Some(tokendesk::vault::RefreshRule {
                days: 30,
                counted_from: tokendesk::vault::RuleStart::SignIn,
            });
            Ok(())
        })
        .unwrap();
    let out = run(home.path(), &["renew", "--all"]);
    assert!(out.status.success(), "{}", text(&out));

    let report = status_json(home.path());
    let tokens = report["tokens"].as_array().unwrap();
    let by = |name: &str| {
        tokens
            .iter()
            .find(|t| t["data_source"] == name)
            .unwrap()
            .clone()
    };
    let now = Utc::now();
    let days = |t: &serde_json::Value| {
        let at: chrono::DateTime<Utc> = t["expires_at"].as_str().unwrap().parse().unwrap();
        (at - now).num_hours() as f64 / 24.0
    };
    assert_eq!(by("M")["expiry_basis"], "microsoft");
    assert!((days(&by("M")) - 90.0).abs() < 0.1, "{}", by("M"));
    assert_eq!(by("Stated")["expiry_basis"], "provider");
    assert!((days(&by("Stated")) - 1.0).abs() < 0.1, "{}", by("Stated"));
    assert_eq!(by("Rule")["expiry_basis"], "configured");
    assert!((days(&by("Rule")) - 30.0).abs() < 0.1, "{}", by("Rule"));
    assert_eq!(by("Silent")["expiry_basis"], "unknown");
    assert!(by("Silent")["expires_at"].is_null(), "{}", by("Silent"));
    assert_eq!(by("Silent")["state"], "healthy");

    let table = text(&run(home.path(), &["status"]));
    assert!(table.contains("unknown"), "{table}");
    assert!(table.contains("(rule)"), "{table}");
}

#[test]
fn renewals_reuse_the_discovered_endpoints_across_processes() {
    let home = support::temp_dir();
    let provider = TestProvider::oidc();
    provider.set_access_lifetime(1); // every `token` redeems
    desk::add_source(
        &provider,
        home.path(),
        "A",
        oidc_config(&provider),
        4,
        Utc::now(),
    );
    let out = run(home.path(), &["renew", "--all"]);
    assert!(out.status.success(), "{}", text(&out));
    for n in 0..5 {
        let user = format!("USER/{}", n % 4);
        let out = run(
            home.path(),
            &["token", "--data-source", "A", "--user", &user],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = run(home.path(), &["test", "--data-source", "A"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        provider.requests_to(Endpoint::Discovery).len(),
        1,
        "one discovery for a renewal of 5 tokens, 5 `token` calls and a Test Connection"
    );
    assert_eq!(provider.requests_to(Endpoint::Token).len(), 11);
}
