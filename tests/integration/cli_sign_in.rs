//! `tokendesk sign-in` as an admin runs it, against the loopback provider.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::provider::{CLIENT_ID, PollAnswer, TestProvider};

/// A stand-in for the desktop's URL launcher that records what it was asked to open.
fn recording_opener(dir: &std::path::Path) -> std::path::PathBuf {
    let log = dir.join("opened.txt");
    let script = dir.join("xdg-open");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    log
}

#[test]
fn sign_in_completes_and_prints_who_but_no_tokens() {
    let provider = TestProvider::microsoft();
    provider.set_interval(Some(1));
    provider.script_polls(&[PollAnswer::Pending, PollAnswer::Approve]);
    let scratch = support::temp_dir();
    let opened = recording_opener(scratch.path());
    let path = format!(
        "{}:{}",
        scratch.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let output = Command::new(support::bin())
        .args([
            "sign-in",
            "--tenant",
            &provider.tenant(),
            "--client-id",
            CLIENT_ID,
            "--preset",
            "ews",
        ])
        .args(["--authority-host", provider.base_url().as_str()])
        .env("PATH", path)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("TOKENDESK_HOME", scratch.path())
        .output()
        .expect("run tokendesk");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    assert!(stdout.contains("Code:"), "{stdout}");
    assert!(
        stdout.contains(&format!("{}devicelogin", provider.base_url())),
        "{stdout}"
    );
    assert!(stdout.contains("Never enter a code that someone else sent you."));
    assert!(
        stdout.contains("Signed in as sales@contoso.com."),
        "{stdout}"
    );
    assert!(stdout.contains("Tenant ID:  7d548d61-6361-4a6e-85e6-509e2c05d05e"));
    assert!(stdout.contains("Access token: valid until"));
    assert!(stderr.contains("Waiting for approval"), "{stderr}");

    let recorded = std::fs::read_to_string(opened).expect("the browser was asked to open the page");
    assert_eq!(
        recorded.trim(),
        format!("{}devicelogin", provider.base_url())
    );

    for token in provider.issued_refresh_tokens() {
        assert!(
            !stdout.contains(&token) && !stderr.contains(&token),
            "a refresh token was printed"
        );
    }
}

#[test]
fn declined_sign_in_fails_with_the_reason() {
    let provider = TestProvider::microsoft();
    provider.set_interval(Some(1));
    provider.script_polls(&[PollAnswer::Decline]);
    let scratch = support::temp_dir();
    let output = Command::new(support::bin())
        .args([
            "sign-in",
            "--tenant",
            &provider.tenant(),
            "--client-id",
            CLIENT_ID,
        ])
        .args([
            "--authority-host",
            provider.base_url().as_str(),
            "--no-browser",
            "--no-clipboard",
        ])
        .env("TOKENDESK_HOME", scratch.path())
        .output()
        .expect("run tokendesk");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("declined"), "{stderr}");
    assert!(stderr.contains("error: authorization_declined"), "{stderr}");
}

#[test]
fn bad_settings_are_refused_before_any_request() {
    let provider = TestProvider::microsoft();
    let output = Command::new(support::bin())
        .args([
            "sign-in",
            "--tenant",
            "contoso",
            "--client-id",
            "",
            "--scopes",
            "User.Read",
        ])
        .args(["--authority-host", provider.base_url().as_str()])
        .output()
        .expect("run tokendesk");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'contoso' is not a tenant"), "{stderr}");
    assert!(stderr.contains("client ID"), "{stderr}");
    assert!(stderr.contains("offline_access"), "{stderr}");
    assert!(provider.requests().is_empty());

    let output = Command::new(support::bin())
        .args([
            "sign-in",
            "--issuer-url",
            "http://idp.example.org/",
            "--client-id",
            "x",
            "--scopes",
            "openid offline_access",
        ])
        .output()
        .expect("run tokendesk");
    assert!(String::from_utf8_lossy(&output.stderr).contains("plain http"));
}
