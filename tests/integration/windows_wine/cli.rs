//! The CLI under Wine: the vault under %LOCALAPPDATA% with its key in Wine's
//! Credential Manager, a passphrase vault, every rotation stored, the vault file
//! replaced whole, and the per-token lock between two processes.

use std::process::Stdio;
use std::time::Duration;

use super::{Wine, add_source, file_containing, ok, sign_in};
use crate::support::provider::{Endpoint, TestProvider};

#[test]
fn windows_wine_cli_keeps_the_vault_under_localappdata_with_its_key_in_credential_manager() {
    let Some(wine) = Wine::from_env("windows_wine cli") else {
        return;
    };
    wine.forget_earlier_runs();
    let provider = TestProvider::oidc();
    provider.set_interval(Some(1));
    add_source(&wine, &provider);
    sign_in(&wine, &provider);
    let vault = wine
        .profile()
        .join("AppData/Local/tokendesk/data/vault.tdv");
    assert!(vault.is_file(), "no vault at {}", vault.display());

    // The key is in Wine's Credential Manager (its registry), in no file of the
    // vault's folder; the refresh token is in no file in plain text.
    wine.flush_registry();
    let registry =
        std::fs::read_to_string(wine.root.join("root/.wine/user.reg")).expect("user.reg");
    assert!(
        registry.contains("Credential Manager"),
        "no credential stored in Wine's Credential Manager"
    );
    for refresh in provider.issued_refresh_tokens() {
        assert_eq!(
            file_containing(&wine.profile(), refresh.as_bytes()),
            None,
            "a refresh token in plain text"
        );
    }

    // Every rotation stored: renew and test, each against the replay-detecting
    // provider, then token and status.
    ok(wine.run(&["renew", "--data-source", "A"]));
    ok(wine.run(&["test", "--data-source", "A"]));
    let token = ok(wine.run(&["token", "--data-source", "A"]));
    assert!(!token.trim().is_empty());
    let status = ok(wine.run(&["status", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(report["tokens"][0]["state"], "healthy", "{report}");
    assert_eq!(provider.replays(), 0);
    // Four rotations (sign-in, renew, test, token), the newest stored each time:
    // the provider's one current token is the vault's, and none was replayed.
    let current: Vec<String> = provider
        .issued_refresh_tokens()
        .into_iter()
        .filter(|t| provider.grant_state(t) == crate::support::provider::GrantState::Current)
        .collect();
    assert_eq!(current.len(), 1, "one live token of the one grant");
}

#[test]
fn windows_wine_two_token_processes_at_once_make_one_redemption() {
    let Some(wine) = Wine::from_env("windows_wine lock") else {
        return;
    };
    wine.forget_earlier_runs();
    let provider = TestProvider::oidc();
    provider.set_interval(Some(1));
    provider.set_access_lifetime(1);
    add_source(&wine, &provider);
    sign_in(&wine, &provider);
    // The access token from the sign-in is gone in a second; the next one lives an
    // hour, and the provider takes two seconds to answer, so the second process
    // finds the first one's lock and then its fresh token.
    std::thread::sleep(Duration::from_secs(2));
    provider.set_access_lifetime(3600);
    provider.set_token_latency(Duration::from_secs(2));
    let before = provider.requests_to(Endpoint::Token).len();
    let children: Vec<_> = (0..2)
        .map(|_| {
            wine.command(&["token", "--data-source", "A"], &[])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("wine")
        })
        .collect();
    let mut handed = Vec::new();
    for child in children {
        handed.push(
            ok(child.wait_with_output().expect("token"))
                .trim()
                .to_string(),
        );
    }
    let redemptions = provider.requests_to(Endpoint::Token).len() - before;
    assert_eq!(redemptions, 1, "one redemption for both processes");
    assert_eq!(handed[0], handed[1], "both got the one fresh token");
    assert_eq!(provider.replays(), 0);
}

#[test]
fn windows_wine_a_passphrase_vault_is_replaced_whole_on_every_write_and_refuses_without_it() {
    let Some(wine) = Wine::from_env("windows_wine passphrase") else {
        return;
    };
    let wine = wine.with_vault("C:\\tokendesk-passphrase", Some("correct horse battery"));
    ok(wine.run(&["vault", "init"]));
    let provider = TestProvider::oidc();
    provider.set_interval(Some(1));
    add_source(&wine, &provider);
    sign_in(&wine, &provider);
    let folder = wine.drive_c("C:\\tokendesk-passphrase");
    let vault = folder.join("vault.tdv");
    let inode = |path: &std::path::Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).expect("the vault file").ino()
    };

    // Each write puts a whole new file in place of the old one (write, flush,
    // rename over it): the file is another one afterwards, and no temporary
    // file is left beside it.
    for command in [
        ["renew", "--data-source", "A"],
        ["test", "--data-source", "A"],
    ] {
        let before = inode(&vault);
        ok(wine.run(&command));
        assert_ne!(inode(&vault), before, "{command:?} replaced the vault file");
        let names: Vec<String> = std::fs::read_dir(&folder)
            .expect("vault folder")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains("tmp") || name.contains(".new"))
            .collect();
        assert!(names.is_empty(), "left beside the vault: {names:?}");
    }
    assert_eq!(provider.replays(), 0, "every rotation was stored");
    for refresh in provider.issued_refresh_tokens() {
        assert_eq!(
            file_containing(&folder, refresh.as_bytes()),
            None,
            "a refresh token in plain text"
        );
    }

    // Without the passphrase (and no terminal to ask in) nothing opens, and the
    // admin is told how to give it; a wrong one is refused as wrong.
    let out = wine
        .without_passphrase()
        .run(&["token", "--data-source", "A"]);
    assert_eq!(out.status.code(), Some(3), "{}", super::text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TOKENDESK_PASSPHRASE"),
        "{}",
        super::text(&out)
    );
    let out = wine.without_passphrase().run_with(
        &["token", "--data-source", "A"],
        &[("TOKENDESK_PASSPHRASE", "wrong horse")],
    );
    assert_eq!(out.status.code(), Some(3), "{}", super::text(&out));
    let token = ok(wine.run(&["token", "--data-source", "A"]));
    assert!(
        provider
            .issued_access_tokens()
            .contains(&token.trim().to_string())
    );
}
