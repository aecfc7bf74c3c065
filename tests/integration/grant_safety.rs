//! Never lose a grant: each way a grant was lost or a secret left (issue "Never lose
//! a grant", items 1–12), reproduced with real processes against the loopback
//! provider's OIDC profile, which rotates refresh tokens and revokes the whole
//! grant when a used one is presented again.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::support::desk::{self, ACCOUNT, Tmpfs, run, spawn, text, wait_until};
use crate::support::provider::{Endpoint, Fault, PollAnswer, Recorder, Spoil, TestProvider};
use crate::support::{microsoft_config, oidc_config};
use tokendesk::identity::Scopes;
use tokendesk::vault::Vault;

/// A rotating, replay-detecting provider and a vault with data source "A" on it.
fn oidc_desk(dir: &Path) -> TestProvider {
    let provider = TestProvider::oidc();
    desk::add_source(&provider, dir, "A", oidc_config(&provider), 0, Utc::now());
    provider
}

/// The grant is intact: nothing was replayed and the stored token still redeems.
fn assert_grant_intact(provider: &TestProvider, home: &Path) {
    assert_eq!(provider.replays(), 0, "a used refresh token was sent again");
    assert!(
        !provider.grant_revoked(ACCOUNT),
        "the provider revoked the grant"
    );
    let out = run(home, &["renew", "--data-source", "A"]);
    assert!(
        out.status.success(),
        "the stored token must still redeem: {}",
        text(&out)
    );
    assert_eq!(provider.replays(), 0);
}

fn token_requests(provider: &TestProvider) -> usize {
    provider.requests_to(Endpoint::Token).len()
}

#[test]
fn item1_test_and_token_at_the_same_moment_redeem_once() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    provider.set_token_latency(Duration::from_millis(400));
    // `token` is redeeming when the admin presses Test Connection.
    let token = spawn(home.path(), &["token", "--data-source", "A"]);
    wait_until("token to ask the provider", Duration::from_secs(10), || {
        provider.in_flight() > 0
    });
    let test = spawn(home.path(), &["test", "--data-source", "A"]);
    let token = token.wait_with_output().unwrap();
    let test = test.wait_with_output().unwrap();
    assert!(test.status.success(), "{}", text(&test));
    assert!(token.status.success(), "{}", text(&token));
    assert_eq!(
        token_requests(&provider),
        1,
        "Test Connection waits for the renewal in flight and uses its fresh access token"
    );
    // And the other way round: Test Connection first, `token` during it.
    let test = spawn(home.path(), &["test", "--data-source", "A"]);
    wait_until("test to ask the provider", Duration::from_secs(10), || {
        token_requests(&provider) == 2
    });
    let token = run(home.path(), &["token", "--data-source", "A"]);
    let test = test.wait_with_output().unwrap();
    assert!(test.status.success(), "{}", text(&test));
    assert!(token.status.success(), "{}", text(&token));
    assert_eq!(
        token_requests(&provider),
        2,
        "`token` used Test Connection's renewal"
    );
    provider.set_token_latency(Duration::ZERO);
    assert_grant_intact(&provider, home.path());
}

#[test]
fn item2_a_vault_that_cannot_be_written_is_found_before_the_provider_is_asked() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    let lock = home.path().join("vault.lock");
    std::fs::remove_file(&lock).ok();
    std::fs::create_dir(&lock).unwrap();
    for args in [
        &["renew", "--data-source", "A"][..],
        &["token", "--data-source", "A"],
        &["test", "--data-source", "A"],
    ] {
        let out = run(home.path(), args);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("did not ask the provider"),
            "{args:?}: {}",
            text(&out)
        );
    }
    assert_eq!(
        token_requests(&provider),
        0,
        "nothing was sent to the provider"
    );
    std::fs::remove_dir(&lock).unwrap();
    assert_grant_intact(&provider, home.path());
}

#[test]
fn item2_a_full_disk_or_read_only_folder_is_found_before_the_provider_is_asked() {
    let Some(disk) = Tmpfs::mount(2 * 1024 * 1024, "item2 full disk") else {
        return;
    };
    let provider = oidc_desk(&disk.path);
    let filler = disk.fill();
    let out = run(&disk.path, &["renew", "--data-source", "A"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("did not ask the provider"),
        "{}",
        text(&out)
    );
    assert_eq!(token_requests(&provider), 0);
    let status = run(&disk.path, &["status", "--json"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("\"healthy\""),
        "{}",
        text(&status)
    );

    std::fs::remove_file(filler).unwrap();
    disk.remount("ro");
    let out = run(&disk.path, &["token", "--data-source", "A"]);
    assert!(
        text(&out).contains("did not ask the provider"),
        "{}",
        text(&out)
    );
    assert_eq!(token_requests(&provider), 0);
    disk.remount("rw");
    assert_grant_intact(&provider, &disk.path);
}

#[test]
fn item2_a_disk_that_fills_up_during_the_request_still_takes_the_rotated_token() {
    let Some(disk) = Tmpfs::mount(2 * 1024 * 1024, "item2 disk fills meanwhile") else {
        return;
    };
    let provider = oidc_desk(&disk.path);
    provider.set_token_latency(Duration::from_millis(800));
    let renew = spawn(&disk.path, &["renew", "--data-source", "A"]);
    wait_until("the write reservation", Duration::from_secs(10), || {
        desk::reservation_exists(&disk.path)
    });
    let filler = disk.fill();
    let out = renew.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the reserved space takes the write: {}",
        text(&out)
    );
    std::fs::remove_file(filler).unwrap();
    provider.set_token_latency(Duration::ZERO);
    assert_grant_intact(&provider, &disk.path);
}

#[test]
fn item2_when_the_write_fails_after_rotation_the_token_goes_to_a_rescue_file() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    provider.set_token_latency(Duration::from_millis(800));
    let renew = spawn(home.path(), &["renew", "--data-source", "A"]);
    wait_until("the write reservation", Duration::from_secs(10), || {
        desk::reservation_exists(home.path())
    });
    // After the check, before the answer: the vault becomes unwritable.
    let lock = home.path().join("vault.lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    let out = renew.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("rescue file"), "{}", text(&out));
    assert_eq!(desk::rescue_files(home.path()).len(), 1);

    let status = run(home.path(), &["status"]);
    assert_eq!(status.status.code(), Some(2), "{}", text(&status));
    assert!(text(&status).contains("at risk"), "{}", text(&status));

    std::fs::remove_dir(&lock).unwrap();
    provider.set_token_latency(Duration::ZERO);
    // The next redemption sends the rescued token (never the retired one) and
    // stores the result, which merges the rescue file.
    assert_grant_intact(&provider, home.path());
    assert!(
        desk::rescue_files(home.path()).is_empty(),
        "merged and removed"
    );
    let status = run(home.path(), &["status"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
}

#[test]
fn item3_a_success_answer_with_a_bad_part_keeps_the_rotated_token() {
    for spoil in [
        Spoil::BrokenIdToken,
        Spoil::TokenType("DPoP"),
        Spoil::EmptyAccessToken,
        Spoil::Oversized(1_200_000),
    ] {
        let home = support::temp_dir();
        let provider = oidc_desk(home.path());
        provider.fail_next(Endpoint::Token, Fault::Spoil(spoil.clone()));
        let out = run(home.path(), &["renew", "--data-source", "A"]);
        assert!(
            text(&out).contains("new refresh token was stored"),
            "{spoil:?}: {}",
            text(&out)
        );
        assert_grant_intact(&provider, home.path());
    }
}

#[test]
fn item4_clear_during_a_renewal_wins() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    provider.set_token_latency(Duration::from_millis(800));
    let renew = spawn(home.path(), &["renew", "--data-source", "A"]);
    wait_until(
        "the renewal to ask the provider",
        Duration::from_secs(10),
        || provider.in_flight() > 0,
    );
    let clear = run(home.path(), &["clear", "--data-source", "A", "--yes"]);
    assert!(clear.status.success(), "{}", text(&clear));
    let renew = renew.wait_with_output().unwrap();
    assert!(
        text(&renew).contains("newer state was kept"),
        "{}",
        text(&renew)
    );

    let status = run(home.path(), &["status", "--json"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("\"missing\""),
        "{}",
        text(&status)
    );
    let token = run(home.path(), &["token", "--data-source", "A"]);
    assert_eq!(
        token.status.code(),
        Some(2),
        "cleared means no token: {}",
        text(&token)
    );
    let audit = std::fs::read_to_string(home.path().join("audit.jsonl")).unwrap();
    assert!(audit.contains("result discarded"), "{audit}");
}

#[test]
fn item4_a_new_sign_in_during_a_renewal_wins() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    provider.set_token_latency(Duration::from_millis(800));
    let renew = spawn(home.path(), &["renew", "--data-source", "A"]);
    wait_until(
        "the renewal to ask the provider",
        Duration::from_secs(10),
        || provider.in_flight() > 0,
    );
    // Another account signs in for A meanwhile (the window or `sign-in` stores it).
    let other = provider.issue_grant("other@contoso.com", desk::OIDC_GRANT, Utc::now());
    let mut vault = Vault::open(home.path(), &desk::keys()).unwrap();
    let target = tokendesk::vault::ops::TokenTarget::data_source("A");
    let tokens = tokendesk::identity::TokenSet {
        access_token: tokendesk::Secret::new("at-other"),
        access_expires_at: Utc::now() + chrono::Duration::hours(1),
        refresh_token: Some(tokendesk::Secret::new(other.clone())),
        scope: None,
        identity: None,
        obtained_at: Utc::now(),
        refresh_expires_in: None,
    };
    tokendesk::lifecycle::store_sign_in(&mut vault, &target, &tokens, Utc::now()).unwrap();
    let renew = renew.wait_with_output().unwrap();
    assert!(
        text(&renew).contains("newer state was kept"),
        "{}",
        text(&renew)
    );
    vault.reload().unwrap();
    let stored = vault.data().token(&target).unwrap().refresh_token.clone();
    assert_eq!(stored.map(|s| s.expose().to_string()), Some(other));
}

#[test]
fn item5_restore_backup_never_brings_back_a_used_token() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    let out = run(home.path(), &["renew", "--data-source", "A"]);
    assert!(out.status.success(), "{}", text(&out));
    // The backup now holds the token that was just redeemed.

    let refused = run(home.path(), &["vault", "restore-backup"]);
    assert!(!refused.status.success(), "a healthy vault asks first");
    assert!(text(&refused).contains("--yes"), "{}", text(&refused));
    let out = run(home.path(), &["vault", "restore-backup", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("kept their newer state"),
        "{}",
        text(&out)
    );
    assert_grant_intact(&provider, home.path());

    // A damaged vault: the tokens that can only come from the backup are marked, and
    // every damaged copy is kept.
    for round in 0..2 {
        std::fs::write(home.path().join("vault.tdv"), b"TOKENDSK\x01\x00damaged").unwrap();
        let out = run(home.path(), &["vault", "restore-backup"]);
        assert!(out.status.success(), "round {round}: {}", text(&out));
        assert!(
            text(&out).contains("may have been used since"),
            "{}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let copies = std::fs::read_dir(home.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("vault.tdv.damaged-")
        })
        .count();
    assert_eq!(
        copies, 3,
        "every replaced file is kept: the confirmed restore's and both damaged ones"
    );
    // The restored token had been redeemed already: the provider refuses it, and the
    // message names a new sign-in.
    let out = run(home.path(), &["renew", "--data-source", "A"]);
    assert!(
        text(&out).contains("came back from a backup"),
        "{}",
        text(&out)
    );
}

#[test]
fn item6_a_throttled_data_source_does_not_hold_up_another() {
    let home = support::temp_dir();
    let provider = TestProvider::microsoft();
    let mut slow = microsoft_config(&provider, Scopes::Ews);
    slow.authority = tokendesk::identity::Authority::Microsoft {
        cloud: tokendesk::identity::Cloud::Global,
        tenant: support::provider::TENANT_ID.into(),
        login_host: Some(provider.base_url()),
    };
    desk::add_source(&provider, home.path(), "A", slow, 0, Utc::now());
    desk::add_source(
        &provider,
        home.path(),
        "B",
        microsoft_config(&provider, Scopes::Ews),
        0,
        Utc::now(),
    );
    provider.fail_next_for_tenant(
        support::provider::TENANT_ID,
        Endpoint::Token,
        Fault::Status {
            status: 429,
            retry_after: Some(60),
        },
    );
    let mut renew = spawn(home.path(), &["renew", "--data-source", "A"]);
    wait_until("A to be throttled", Duration::from_secs(10), || {
        token_requests(&provider) >= 1
    });
    let started = Instant::now();
    let out = run(home.path(), &["token", "--data-source", "B"]);
    let took = started.elapsed();
    renew.kill().ok();
    renew.wait().ok();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        took < Duration::from_secs(5),
        "B waited {took:?} for A's Retry-After"
    );
}

#[tokio::test]
async fn item6_a_waiter_gives_up_after_a_bounded_time_naming_the_holder() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    let mut vault = Vault::open(home.path(), &desk::keys()).unwrap();
    let target = tokendesk::vault::ops::TokenTarget::data_source("A");
    let id = vault.data().token_id(&target).unwrap();
    let _held = tokendesk::redemption::TokenLock::try_acquire(home.path(), &id).unwrap();
    let client = support::connect(oidc_config(&provider)).await;
    let started = Instant::now();
    let request = tokendesk::redemption::Request {
        target: &target,
        scope: None,
        cache: tokendesk::redemption::CachePolicy::RenewedWhileWaiting,
        lock_wait: Duration::from_millis(300),
    };
    let error =
        tokendesk::redemption::redeem(&mut vault, &client, request, &tokendesk::clock::SystemClock)
            .await
            .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    let message = error.to_string();
    assert!(message.contains("is being renewed by process"), "{message}");
    assert!(message.contains("The token is safe"), "{message}");
    assert_eq!(token_requests(&provider), 0);
}

#[test]
fn item7_a_redirect_from_the_token_endpoint_is_not_followed() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    let thief = Recorder::start();
    provider.fail_next(Endpoint::Token, Fault::Redirect(thief.url()));
    let out = run(home.path(), &["renew", "--data-source", "A"]);
    assert!(
        text(&out).contains("does not follow redirects"),
        "{}",
        text(&out)
    );
    assert!(
        thief.bodies().is_empty(),
        "the form was posted to the redirect target"
    );
    assert_grant_intact(&provider, home.path());
}

#[test]
fn item8_every_url_that_receives_a_token_is_checked() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    let issuer = provider.issuer_url();
    let base = [
        "data-source",
        "add",
        "Evil",
        "--issuer-url",
        issuer.as_str(),
        "--client-id",
        support::provider::CLIENT_ID,
        "--account",
        ACCOUNT,
    ];
    for url in ["http://evil.example/EWS/Exchange.asmx", "javascript:x"] {
        let mut args = base.to_vec();
        args.extend(["--ews-url", url]);
        let out = run(home.path(), &args);
        assert!(!out.status.success(), "{url} accepted: {}", text(&out));
    }
    let out = run(
        home.path(),
        &[
            "user",
            "add",
            "USER/x",
            "--data-source",
            "A",
            "--exchange-user",
            "x@contoso.com",
            "--server-url",
            "http://evil.example/EWS/Exchange.asmx",
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("plain http"), "{}", text(&out));

    // A URL that got into the vault some other way is refused when sending.
    let microsoft = TestProvider::microsoft();
    let config = microsoft_config(&microsoft, Scopes::Ews);
    desk::add_source(&microsoft, home.path(), "M", config, 0, Utc::now());
    let mut vault = Vault::open(home.path(), &desk::keys()).unwrap();
    vault
        .update(|data| {
            data.data_source_mut("M")?.account.server = tokendesk::vault::ExchangeServer::Ews(
                url::Url::parse("http://evil.example/EWS/Exchange.asmx").unwrap(),
            );
            Ok(())
        })
        .unwrap();
    let out = run(home.path(), &["test", "--data-source", "M"]);
    assert!(
        text(&out).contains("did not send a token to http://evil.example"),
        "{}",
        text(&out)
    );
}

/// A stand-in browser launcher that writes its whole environment to `env.txt`.
fn env_recording_opener(dir: &Path) -> std::path::PathBuf {
    let log = dir.join("env.txt");
    let script = dir.join("xdg-open");
    std::fs::write(&script, format!("#!/bin/sh\nenv > '{}'\n", log.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    log
}

#[test]
fn item9_and_item12_children_get_no_secrets_and_hostile_device_answers_are_defused() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    provider.set_interval(Some(1));
    provider.script_polls(&[PollAnswer::Pending, PollAnswer::Approve]);
    provider.set_device_overrides(
        Some("AB\u{1b}[2JCD\u{7}"),
        Some("http://127.0.0.2:9/evil?user_code=ABCD"),
    );
    let scratch = support::temp_dir();
    let env_log = env_recording_opener(scratch.path());
    let path = format!(
        "{}:{}",
        scratch.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = desk::command(
        home.path(),
        &["sign-in", "--data-source", "A", "--no-clipboard"],
    )
    .env("PATH", path)
    .env("TOKENDESK_BUNDLE_PASSPHRASE", "bundle secret")
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let env = std::fs::read_to_string(&env_log).expect("the opener ran");
    assert!(
        !env.contains(desk::PASSPHRASE) && !env.contains("TOKENDESK_PASSPHRASE"),
        "{env}"
    );
    assert!(!env.contains("bundle secret"), "{env}");

    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "raw control characters"
    );
    assert!(shown.contains("AB\\u{1b}[2JCD\\u{7}"), "{shown}");
    assert!(
        !shown.contains("127.0.0.2"),
        "the other host is never shown or opened: {shown}"
    );
}

#[test]
fn item10_the_process_cannot_dump_core() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    provider.set_interval(Some(1));
    let mut child = spawn(
        home.path(),
        &[
            "sign-in",
            "--data-source",
            "A",
            "--no-browser",
            "--no-clipboard",
        ],
    );
    let limits = format!("/proc/{}/limits", child.id());
    let mut line = String::new();
    wait_until("the sign-in to be polling", Duration::from_secs(10), || {
        !provider.requests_to(Endpoint::Token).is_empty()
    });
    if let Ok(text) = std::fs::read_to_string(&limits) {
        line = text
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap_or("")
            .to_string();
    }
    child.kill().ok();
    child.wait().ok();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.get(4..6), Some(&["0", "0"][..]), "{line}");
}

#[test]
fn item11_audit_lock_and_export_files_are_private() {
    let home = support::temp_dir();
    let _provider = oidc_desk(home.path());
    let out = run(home.path(), &["renew", "--data-source", "A"]);
    assert!(out.status.success(), "{}", text(&out));
    let export = home.path().join("existing-export.tdb");
    std::fs::write(&export, b"old").unwrap();
    std::fs::set_permissions(&export, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = desk::command(home.path(), &["vault", "export"])
        .arg(&export)
        .env("TOKENDESK_BUNDLE_PASSPHRASE", "bundle pass")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut files = vec![
        home.path().join("audit.jsonl"),
        home.path().join("vault.lock"),
        home.path().join("vault.tdv"),
        export,
    ];
    for entry in std::fs::read_dir(home.path().join("locks"))
        .unwrap()
        .flatten()
    {
        files.push(entry.path());
    }
    for file in files {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
    }
}

#[test]
fn item12_names_with_control_characters_are_refused() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    let out = run(
        home.path(),
        &[
            "data-source",
            "add",
            "Evil\u{1b}[31m",
            "--issuer-url",
            provider.issuer_url().as_str(),
            "--client-id",
            support::provider::CLIENT_ID,
            "--account",
            ACCOUNT,
        ],
    );
    assert!(text(&out).contains("U+001B"), "{}", text(&out));
    let csv = home.path().join("users.csv");
    std::fs::write(&csv, "login,name\nUSER/ok,Fine\nUSER/x,Bell\u{7}\n").unwrap();
    let out = desk::command(home.path(), &["user", "import-csv"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("U+0007"), "{}", text(&out));
    assert!(
        !text(&out).contains('\u{7}'),
        "the bell itself is never printed"
    );
}

#[test]
fn one_path_eight_token_processes_at_once_make_one_redemption() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    provider.set_token_latency(Duration::from_millis(200));
    let children: Vec<_> = (0..8)
        .map(|_| spawn(home.path(), &["token", "--data-source", "A"]))
        .collect();
    let mut printed = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        printed.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    assert_eq!(
        token_requests(&provider),
        1,
        "one redemption serves all eight"
    );
    printed.dedup();
    assert_eq!(
        printed.len(),
        1,
        "all eight print the same fresh access token"
    );
    provider.set_token_latency(Duration::ZERO);
    assert_grant_intact(&provider, home.path());
}

#[test]
fn also_found_unknown_names_devices_and_empty_bundles_get_clear_answers() {
    let home = support::temp_dir();
    let provider = oidc_desk(home.path());
    let out = run(home.path(), &["status", "--data-source", "nope"]);
    assert_eq!(out.status.code(), Some(64), "a usage error: {}", text(&out));
    assert!(text(&out).contains("Known: A"), "{}", text(&out));

    let out = desk::command(home.path(), &["vault", "import", "/dev/null"])
        .env("TOKENDESK_BUNDLE_PASSPHRASE", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));
    assert!(!text(&out).contains("restore-backup"), "{}", text(&out));

    // Diagnostics into a pipe carry no colour codes.
    provider.set_discovery_available(false);
    let out = run(home.path(), &["test", "--data-source", "A"]);
    assert!(!text(&out).contains('\u{1b}'), "{}", text(&out));
    provider.set_discovery_available(true);

    // A vault file that is a device or a pipe is refused at once, not read forever.
    let vault_file = home.path().join("vault.tdv");
    let kept = home.path().join("vault.kept");
    std::fs::rename(&vault_file, &kept).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &vault_file).unwrap();
    let started = Instant::now();
    let out = run(home.path(), &["status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));
    std::fs::remove_file(&vault_file).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(&vault_file)
        .status()
        .unwrap();
    assert!(fifo.success());
    let out = run(home.path(), &["token", "--data-source", "A"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    std::fs::remove_file(&vault_file).unwrap();
    std::fs::rename(&kept, &vault_file).unwrap();
    assert_grant_intact(&provider, home.path());
}
