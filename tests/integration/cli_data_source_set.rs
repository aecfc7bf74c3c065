//! `tokendesk data-source set` (issue 25): an admin on a server changes a data
//! source's settings — a typo in the client ID, a new name, a redirect URI —
//! without deleting its tokens; a wrong value is refused and changes nothing.

use chrono::Utc;
use tokendesk::vault::{DataSource, Vault};

use crate::support;
use crate::support::desk::{add_source, keys, run, text};
use crate::support::provider::TestProvider;

fn stored(home: &std::path::Path, name: &str) -> DataSource {
    Vault::open(home, &keys())
        .expect("open")
        .data()
        .data_source(name)
        .expect("the data source")
        .clone()
}

fn tokens(source: &DataSource) -> Vec<Option<String>> {
    std::iter::once(&source.token)
        .chain(source.users.iter().map(|m| &m.token))
        .map(|t| t.refresh_token.as_ref().map(|s| s.expose().to_string()))
        .collect()
}

/// A vault with data source "Exchange" (and `users` mapped users), all signed in.
fn exchange(users: usize) -> (TestProvider, tempfile::TempDir) {
    let provider = TestProvider::microsoft();
    let home = support::temp_dir();
    add_source(
        &provider,
        home.path(),
        "Exchange",
        support::microsoft_config(&provider, tokendesk::identity::Scopes::Graph),
        users,
        Utc::now(),
    );
    (provider, home)
}

#[test]
fn a_typo_is_fixed_without_losing_a_token() {
    let (_provider, dir) = exchange(2);
    let home = dir.path();
    let before = stored(home, "Exchange");
    assert!(tokens(&before).iter().all(Option::is_some));

    let out = run(
        home,
        &[
            "data-source",
            "set",
            "exchange",
            "--rename",
            "Mail",
            "--redirect-uri",
            "http://127.0.0.1:8400/callback",
            "--refresh-token-days",
            "30",
            "--api-root",
            "https://graph.example.com",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(
            "Changed data source 'Mail': name, API root, refresh-token lifetime, redirect URI."
        ),
        "{said}"
    );
    assert!(!said.contains("Sign in again"), "{said}");
    let after = stored(home, "Mail");
    assert_eq!(after.id, before.id);
    assert_eq!(tokens(&after), tokens(&before), "every token kept");
    assert_eq!(after.users.len(), 2);
    assert_eq!(
        after.redirect_uri.as_deref(),
        Some("http://127.0.0.1:8400/callback")
    );
    assert_eq!(after.refresh_rule.map(|r| r.days), Some(30));
    assert_eq!(
        after.account.api_root.as_ref().map(url::Url::as_str),
        Some("https://graph.example.com/")
    );
    assert_eq!(after.provider, before.provider, "the rest as it was");

    // A new app registration: the tokens are kept, and the admin is told that
    // the provider will refuse them.
    let out = run(
        home,
        &[
            "data-source",
            "set",
            "Mail",
            "--client-id",
            "22222222-3333-4444-5555-666666666666",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("client ID"), "{said}");
    assert!(
        said.contains("3 stored refresh token(s) were issued under the old settings"),
        "{said}"
    );
    assert!(said.contains("tokendesk sign-in --data-source \"Mail\""));
    assert_eq!(tokens(&stored(home, "Mail")), tokens(&before));
}

#[test]
fn a_wrong_value_is_refused_and_changes_nothing() {
    let (_provider, dir) = exchange(0);
    let home = dir.path();
    let before = stored(home, "Exchange");
    for (args, says) in [
        (
            &["--client-id", "not-a-guid"][..],
            "is not an Application (client) ID",
        ),
        (&["--account", "not an address"][..], "not an address"),
        (&["--redirect-uri", "https://example.com/"][..], "redirect"),
        (
            &["--refresh-token-rule", "fixed"][..],
            "--refresh-token-days",
        ),
        (&[][..], "Give at least one setting to change"),
        (
            &["--issuer-url", "https://id.example.com", "--cloud", "china"][..],
            "--cloud",
        ),
    ] {
        let mut all = vec!["data-source", "set", "Exchange"];
        all.extend_from_slice(args);
        let out = run(home, &all);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(says), "{args:?}: {said}");
        assert_eq!(stored(home, "Exchange"), before, "{args:?} changed nothing");
    }
    let out = run(home, &["data-source", "set", "Nope", "--rename", "X"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Nope"));
}
