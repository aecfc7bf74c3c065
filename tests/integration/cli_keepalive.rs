//! The keep-alive commands as a monitoring system, a mail client and cron use them:
//! `token` prints exactly a token, `status` speaks in exit codes, `renew --due`
//! renews what is due, and no token ever reaches the audit log.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use crate::support::microsoft_config;
use crate::support::provider::{Endpoint, Fault, TestProvider};
use chrono::{Duration, Utc};
use tokendesk::Secret;
use tokendesk::identity::{ErrorKind, IdentityError, Scopes};
use tokendesk::vault::crypto::KdfParams;
use tokendesk::vault::ops::TokenTarget;
use tokendesk::vault::{AppUser, DataSource, KeySource, Keyring, TokenRecord, UserMapping, Vault};

const PASSPHRASE: &str = "keep-alive test passphrase";
const EWS: &str =
    "https://outlook.office365.com/EWS.AccessAsUser.All offline_access openid profile";

fn tokendesk(home: &Path, args: &[&str]) -> Output {
    run(home, args, "warn")
}

/// With every debug line on stderr, to show that not even those carry a token.
fn tokendesk_verbose(home: &Path, args: &[&str]) -> Output {
    run(home, args, "debug")
}

fn run(home: &Path, args: &[&str], log: &str) -> Output {
    Command::new(support::bin())
        .args(args)
        .env("TOKENDESK_HOME", home)
        .env("TOKENDESK_PASSPHRASE", PASSPHRASE)
        .env("TOKENDESK_LOG", log)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run tokendesk")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// A passphrase vault (cheap KDF, so each process opens it quickly) with one data
/// source and `users` mappings, all signed in a day ago.
fn vault_with(provider: &TestProvider, dir: &Path, users: usize) -> Vault {
    let store: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
    let keys = KeySource::with_keyring(Keyring::with_store(store))
        .with_passphrase(Secret::new(PASSPHRASE))
        .with_kdf(KdfParams::with_cost(64, 1, 1));
    let mut vault = Vault::create(dir, &keys, false).unwrap();
    let at = Utc::now() - Duration::days(1);
    let mut source = DataSource::new(
        "Exchange",
        microsoft_config(provider, Scopes::Ews),
        "sales@contoso.com",
    );
    source.token = signed_in(provider, "sales@contoso.com", at);
    for n in 0..users {
        let upn = format!("user{n}@contoso.com");
        let mut mapping = UserMapping::new(
            AppUser {
                login: format!("USER/{n}"),
                display_name: format!("User {n}"),
                email: upn.clone(),
            },
            upn.clone(),
        );
        mapping.token = signed_in(provider, &upn, at);
        source.push_user(mapping);
    }
    vault.update(|data| data.add_data_source(source)).unwrap();
    vault
}

fn signed_in(provider: &TestProvider, upn: &str, at: chrono::DateTime<Utc>) -> TokenRecord {
    provider.set_now(at);
    let token = provider.issue_grant(upn, EWS, at);
    provider.set_now(Utc::now());
    TokenRecord {
        refresh_token: Some(Secret::new(token)),
        obtained_at: Some(at),
        ..TokenRecord::default()
    }
}

/// Every file in `dir` must be free of every token the provider issued.
fn assert_no_token_in_files(dir: &Path, provider: &TestProvider, also: &[&str]) {
    let mut tokens = provider.issued_refresh_tokens();
    tokens.extend(provider.issued_access_tokens());
    assert!(!tokens.is_empty());
    let mut paths: Vec<std::path::PathBuf> = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                paths.push(path);
            }
        }
    }
    for path in paths {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for token in &tokens {
            assert!(
                !text.contains(token.as_str()),
                "a token is in {}",
                path.display()
            );
        }
    }
    for text in also {
        for token in &tokens {
            assert!(
                !text.contains(token.as_str()),
                "a token is in the output:\n{text}"
            );
        }
    }
}

#[test]
fn token_prints_exactly_a_fresh_access_token_and_reuses_it_while_valid() {
    let provider = TestProvider::microsoft();
    let home = support::temp_dir();
    vault_with(&provider, home.path(), 1);

    let first = tokendesk_verbose(home.path(), &["token", "--data-source", "Exchange"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("DEBUG"), "debug logging is on");
    let printed = stdout(&first);
    assert!(
        printed.ends_with('\n') && printed.lines().count() == 1,
        "{printed:?}"
    );
    let token = printed.trim_end_matches('\n');
    assert!(
        provider.issued_access_tokens().contains(&token.to_string()),
        "{token:?} is not a token the provider issued"
    );
    assert_eq!(provider.requests_to(Endpoint::Token).len(), 1);

    // The second consumer gets the cached token without a request.
    let second = tokendesk(home.path(), &["token", "--data-source", "Exchange"]);
    assert_eq!(stdout(&second), printed);
    assert_eq!(provider.requests_to(Endpoint::Token).len(), 1);

    // A mapped user's token, and one for a narrower scope, are separate requests.
    let user = tokendesk(
        home.path(),
        &["token", "--data-source", "Exchange", "--user", "USER/0"],
    );
    assert!(user.status.success(), "{}", stderr(&user));
    assert_ne!(stdout(&user), printed);
    let scoped = tokendesk(
        home.path(),
        &[
            "token",
            "--data-source",
            "Exchange",
            "--scope",
            "https://graph.microsoft.com/Mail.Read",
        ],
    );
    assert!(scoped.status.success(), "{}", stderr(&scoped));
    let requests = provider.requests_to(Endpoint::Token);
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[2].form.get("scope").map(String::as_str),
        Some("https://graph.microsoft.com/Mail.Read")
    );

    assert_no_token_in_files(home.path(), &provider, &[&stderr(&first), &stderr(&second)]);
    // ... except the vault, which is encrypted: checked above as a file like any other.
}

#[test]
fn token_refreshes_when_the_cached_one_has_less_than_five_minutes() {
    let provider = TestProvider::microsoft();
    provider.set_access_lifetime(240);
    let home = support::temp_dir();
    vault_with(&provider, home.path(), 0);
    let first = stdout(&tokendesk(
        home.path(),
        &["token", "--data-source", "Exchange"],
    ));
    let second = stdout(&tokendesk(
        home.path(),
        &["token", "--data-source", "Exchange"],
    ));
    assert_ne!(first, second, "a 4-minute token must not be handed out");
    assert_eq!(provider.requests_to(Endpoint::Token).len(), 2);
}

#[test]
fn without_a_valid_token_consumers_get_the_status_message() {
    let provider = TestProvider::microsoft();
    let home = support::temp_dir();
    let mut vault = vault_with(&provider, home.path(), 0);
    vault
        .update(|data| {
            data.settings.consumer_status_message = "Kalender derzeit nicht verfügbar.".into();
            Ok(())
        })
        .unwrap();
    provider.revoke_user("sales@contoso.com");
    let output = tokendesk(home.path(), &["token", "--data-source", "Exchange"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    assert!(
        err.starts_with("Kalender derzeit nicht verfügbar.\n"),
        "{err}"
    );
    assert!(err.contains("AADSTS50173"), "{err}");

    // The provider unreachable for now: exit 1, the token kept.
    let home2 = support::temp_dir();
    vault_with(&provider, home2.path(), 0);
    provider.fail_next(
        Endpoint::Token,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    );
    let output = tokendesk(home2.path(), &["token", "--data-source", "Exchange"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
}

#[test]
fn status_exit_codes_follow_the_most_urgent_token() {
    let provider = TestProvider::microsoft();
    let home = support::temp_dir();
    let mut vault = vault_with(&provider, home.path(), 1);
    let status = |args: &[&str]| {
        let mut all = vec!["status"];
        all.extend_from_slice(args);
        tokendesk(home.path(), &all)
    };
    let healthy = status(&[]);
    assert_eq!(healthy.status.code(), Some(0), "{}", stderr(&healthy));
    assert!(stdout(&healthy).contains("healthy"));

    let set = |vault: &mut Vault, target: &TokenTarget, days_ago: i64| {
        vault
            .update(|data| {
                data.token_mut(target)?.obtained_at = Some(Utc::now() - Duration::days(days_ago));
                Ok(())
            })
            .unwrap();
    };
    let user = TokenTarget::user("Exchange", "USER/0");
    set(&mut vault, &user, 70); // 20 days left: reminder
    assert_eq!(status(&[]).status.code(), Some(1));
    set(&mut vault, &user, 85); // 5 days left: renewal forced
    assert_eq!(status(&[]).status.code(), Some(2));
    set(&mut vault, &user, 95); // expired
    let json = status(&["--json"]);
    assert_eq!(json.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(report["exit_code"], 2);
    assert_eq!(report["tokens"][1]["user"], "USER/0");
    assert_eq!(report["tokens"][1]["state"], "expired");
    assert_eq!(report["tokens"][0]["state"], "healthy");

    set(&mut vault, &user, 1);
    vault
        .update(|data| {
            data.token_mut(&user)?.store_error(
                &IdentityError::new(ErrorKind::NeedsSignIn, "revoked"),
                Utc::now(),
            );
            Ok(())
        })
        .unwrap();
    assert_eq!(status(&[]).status.code(), Some(2));
    vault
        .update(|data| data.clear_token(&user, "admin", Utc::now()))
        .unwrap();
    let cleared = status(&[]);
    assert_eq!(cleared.status.code(), Some(2));
    assert!(stdout(&cleared).contains("no token"));

    // Damaged vault: 3, for "the monitor cannot see anything".
    std::fs::write(home.path().join("vault.tdv"), b"TOKENDSK garbage").unwrap();
    let broken = status(&["--json"]);
    assert_eq!(broken.status.code(), Some(3));
    assert!(!stderr(&broken).is_empty());
}

#[test]
fn renew_due_renews_only_what_is_due_and_reports_who_must_sign_in() {
    let provider = TestProvider::microsoft();
    let home = support::temp_dir();
    let mut vault = vault_with(&provider, home.path(), 8);
    // Two tokens last used 8 days ago are due; the rest were used yesterday.
    for n in [2, 5] {
        let target = TokenTarget::user("Exchange", format!("USER/{n}"));
        vault
            .update(|data| {
                data.token_mut(&target)?.obtained_at = Some(Utc::now() - Duration::days(8));
                Ok(())
            })
            .unwrap();
    }
    provider.revoke_user("user5@contoso.com");
    let output = tokendesk_verbose(home.path(), &["renew", "--due"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains("Exchange › USER/5: user5@contoso.com must sign in again"),
        "{text}"
    );
    assert!(
        text.contains("1 renewed, 7 not due, 1 need a new sign-in"),
        "{text}"
    );
    assert_eq!(provider.requests_to(Endpoint::Token).len(), 2);

    let all = tokendesk(
        home.path(),
        &["renew", "--all", "--json", "--concurrency", "2"],
    );
    assert_eq!(all.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_str(&stdout(&all)).unwrap();
    let outcomes: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "renewed").count(), 8);
    assert_eq!(
        outcomes.iter().filter(|o| **o == "needs_sign_in").count(),
        1
    );

    let audit = std::fs::read_to_string(home.path().join("audit.jsonl")).unwrap();
    let renewals = audit
        .lines()
        .filter(|l| l.contains("\"operation\":\"renew\""))
        .count();
    assert_eq!(renewals, 2 + 9, "{audit}");
    assert!(audit.contains("AADSTS50173"));
    assert_no_token_in_files(
        home.path(),
        &provider,
        &[&text, &stdout(&all), &stderr(&output)],
    );
}

#[test]
fn clear_and_test_are_the_dialog_buttons() {
    let provider = TestProvider::microsoft();
    let home = support::temp_dir();
    let mut vault = vault_with(&provider, home.path(), 1);
    // Test Connection's EWS call goes to the provider instead of the real cloud.
    vault
        .update(|data| {
            data.data_source_mut("Exchange")?.account.api_root = Some(provider.base_url());
            Ok(())
        })
        .unwrap();
    let tested = tokendesk(home.path(), &["test", "--data-source", "Exchange"]);
    assert!(tested.status.success(), "{}", stderr(&tested));
    assert!(
        stdout(&tested).contains("answered for sales@contoso.com"),
        "{}",
        stdout(&tested)
    );
    assert_eq!(provider.requests_to(Endpoint::Ews).len(), 1);

    let refused = tokendesk(
        home.path(),
        &["clear", "--data-source", "Exchange", "--user", "USER/0"],
    );
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));
    let cleared = tokendesk(
        home.path(),
        &[
            "clear",
            "--data-source",
            "Exchange",
            "--user",
            "USER/0",
            "--yes",
        ],
    );
    assert!(cleared.status.success(), "{}", stderr(&cleared));
    let status = tokendesk(home.path(), &["status", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(report["tokens"][1]["state"], "missing");
    let audit = std::fs::read_to_string(home.path().join("audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"operation\":\"test\"") && l.contains("\"outcome\":\"ok\"")),
        "{audit}"
    );
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"operation\":\"clear\"") && l.contains("USER/0")),
        "{audit}"
    );
}
