//! Notifications from the gateway: a token the provider refuses is told at once to
//! a webhook (a loopback receiver) and by e-mail through Graph's sendMail (the
//! loopback provider), once per state change, with the fix and without any
//! secret; a channel that is down shows in /metrics and `notify list` and is not
//! hammered; two gateways on one shared vault tell it once.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokendesk::identity::{Scopes, TokenSet};
use tokendesk::vault::Vault;
use tokendesk::vault::ops::TokenTarget;

use crate::support::desk::{self, run, text, wait_until};
use crate::support::gateway::{self, Served};
use crate::support::provider::TestProvider;
use crate::support::webhook::Receiver;

const USER_UPN: &str = "user0@contoso.com";

/// Data source Exchange (Microsoft, Graph at the provider) with one additional
/// user, USER/0.
fn exchange(provider: &TestProvider, home: &Path) {
    desk::add_source(
        provider,
        home,
        "Exchange",
        crate::support::microsoft_config(provider, Scopes::Graph),
        1,
        Utc::now(),
    );
    let mut vault = Vault::open(home, &desk::keys()).expect("vault");
    let root = provider.graph_root();
    vault
        .update(|data| {
            data.data_source_mut("Exchange")?.account.api_root = Some(root.clone());
            Ok(())
        })
        .expect("api root");
}

fn cli_ok(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn serve_notifying(home: &Path) -> Served {
    gateway::serve_with(
        home,
        &[
            "--listen",
            "127.0.0.1:0",
            "--keepalive-every",
            "3600",
            "--notify-every",
            "1",
        ],
    )
}

/// USER/0's grant revoked at the provider, then asked for: the refusal is
/// stored (through the gateway or directly).
fn revoke_and_ask(provider: &TestProvider, home: &Path) {
    provider.revoke_user(USER_UPN);
    let out = run(
        home,
        &["token", "--data-source", "Exchange", "--user", "USER/0"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

fn events(bodies: &[Value], event: &str) -> Vec<Value> {
    bodies
        .iter()
        .filter(|b| b["event"] == event)
        .cloned()
        .collect()
}

/// USER/0 signs in again (as the window or `sign-in` stores it).
fn sign_in_again(provider: &TestProvider, home: &Path) {
    let grant = provider.issue_grant(USER_UPN, desk::OIDC_GRANT, Utc::now());
    let mut vault = Vault::open(home, &desk::keys()).expect("vault");
    let tokens = TokenSet {
        access_token: tokendesk::Secret::new("at-again"),
        access_expires_at: Utc::now() + chrono::Duration::hours(1),
        refresh_token: Some(tokendesk::Secret::new(grant)),
        scope: None,
        identity: None,
        obtained_at: Utc::now(),
        refresh_expires_in: None,
    };
    let target = TokenTarget::user("Exchange", "USER/0");
    tokendesk::lifecycle::store_sign_in(&mut vault, &target, &tokens, Utc::now())
        .expect("sign in again");
}

#[test]
fn a_refused_token_is_told_once_by_webhook_and_by_mail_then_that_it_works_again() {
    let provider = TestProvider::microsoft();
    let home = crate::support::temp_dir();
    exchange(&provider, home.path());
    let hook = Receiver::start();
    cli_ok(
        home.path(),
        &["notify", "add", "ops", "--webhook", &hook.url],
    );
    cli_ok(
        home.path(),
        &[
            "notify",
            "add",
            "admins",
            "--email",
            "it-admins@contoso.com",
            "--via",
            "Exchange",
        ],
    );
    let listed = cli_ok(home.path(), &["notify", "list"]);
    assert!(
        listed.contains("ops  webhook http://127.0.0.1:"),
        "{listed}"
    );
    assert!(
        listed.contains("admins  e-mail to it-admins@contoso.com via Exchange"),
        "{listed}"
    );
    assert!(
        !listed.contains("RECEIVER-SECRET"),
        "the webhook's credential is never shown"
    );

    let _gateway = serve_notifying(home.path());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        hook.bodies().is_empty(),
        "nothing to tell while all is well"
    );

    revoke_and_ask(&provider, home.path());
    wait_until("the webhook and the mail", Duration::from_secs(20), || {
        !hook.bodies().is_empty() && !provider.sent_mail().is_empty()
    });
    let told = events(&hook.bodies(), "sign_in_needed");
    assert_eq!(told.len(), 1, "{:?}", hook.bodies());
    let item = &told[0]["items"][0];
    assert_eq!(item["data_source"], "Exchange");
    assert_eq!(item["user"], "USER/0");
    assert_eq!(item["account"], USER_UPN);
    let fix = item["fix"].as_str().unwrap_or_default();
    assert!(
        fix.contains("tokendesk sign-in --data-source \"Exchange\" --user \"USER/0\""),
        "{fix}"
    );
    assert!(
        fix.contains("Additional users › USER/0 › Request MS365 Refresh Token"),
        "{fix}"
    );
    assert!(
        item["state"]
            .as_str()
            .unwrap_or_default()
            .contains("AADSTS"),
        "what the provider said: {item}"
    );

    let mails = provider.sent_mail();
    assert_eq!(mails.len(), 1);
    let (from, mail) = &mails[0];
    assert_eq!(
        from,
        desk::ACCOUNT,
        "sent from the data source's own mailbox"
    );
    assert_eq!(
        mail["message"]["toRecipients"][0]["emailAddress"]["address"],
        "it-admins@contoso.com"
    );
    let subject = mail["message"]["subject"].as_str().unwrap_or_default();
    assert!(subject.contains("Exchange / USER/0"), "{subject}");
    let content = mail["message"]["body"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(
        content.contains("tokendesk sign-in --data-source"),
        "{content}"
    );

    let everything = format!("{:?} {:?}", hook.bodies(), provider.sent_mail());
    for secret in provider
        .issued_refresh_tokens()
        .into_iter()
        .chain(provider.issued_access_tokens())
    {
        assert!(!everything.contains(&secret), "a token went into a message");
    }
    assert!(!everything.contains("RECEIVER-SECRET"));

    // Passes go on every second: the same state is not told again.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(events(&hook.bodies(), "sign_in_needed").len(), 1);
    assert_eq!(provider.sent_mail().len(), 1);

    sign_in_again(&provider, home.path());
    wait_until("the recovery message", Duration::from_secs(20), || {
        !events(&hook.bodies(), "recovered").is_empty() && provider.sent_mail().len() == 2
    });
    let recovered = events(&hook.bodies(), "recovered");
    assert_eq!(recovered[0]["items"][0]["user"], "USER/0");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(hook.bodies().len(), 2, "{:?}", hook.bodies());
    assert_eq!(provider.sent_mail().len(), 2);
}

#[test]
fn a_webhook_that_is_down_shows_in_metrics_and_the_list_and_is_not_hammered() {
    let provider = TestProvider::microsoft();
    let home = crate::support::temp_dir();
    exchange(&provider, home.path());
    let hook = Receiver::start();
    hook.fail_next(1000);
    cli_ok(
        home.path(),
        &[
            "notify",
            "add",
            "team",
            "--webhook",
            &hook.url,
            "--format",
            "teams",
        ],
    );
    let served = serve_notifying(home.path());
    revoke_and_ask(&provider, home.path());
    wait_until("the webhook to be tried", Duration::from_secs(20), || {
        hook.refused() > 0
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        hook.refused(),
        1,
        "tried again after a minute, not every second"
    );

    let runtime = gateway::runtime();
    let metrics = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/metrics", served.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    });
    assert!(
        metrics.contains("tokendesk_notifications_total{result=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tokendesk_notifier_failing{notifier=\"team\"} 1"),
        "{metrics}"
    );
    let listed = cli_ok(home.path(), &["notify", "list"]);
    assert!(listed.contains("failing since"), "{listed}");
    assert!(listed.contains("HTTP 503"), "{listed}");

    // The admin fixes the channel and tests it: the test ends the failing
    // state, and what was not told yet is told at the next pass.
    hook.fail_next(0);
    let tested = cli_ok(home.path(), &["notify", "test", "team"]);
    assert!(tested.contains("Delivered a test message"), "{tested}");
    wait_until("the pending message", Duration::from_secs(20), || {
        hook.bodies().len() >= 2
    });
    let bodies = hook.bodies();
    let cards: Vec<String> = bodies
        .iter()
        .map(|b| b["attachments"][0]["content"]["body"][0]["text"].to_string())
        .collect();
    assert!(cards[0].contains("test notification"), "{cards:?}");
    assert!(cards[1].contains("Exchange / USER/0"), "{cards:?}");
    let listed = cli_ok(home.path(), &["notify", "list"]);
    assert!(!listed.contains("failing"), "{listed}");
}

#[test]
fn notify_add_refuses_what_would_not_work_and_keeps_the_url_off_the_command_line() {
    let provider = TestProvider::microsoft();
    let home = crate::support::temp_dir();
    exchange(&provider, home.path());
    desk::add_source(
        &provider,
        home.path(),
        "Portal",
        crate::support::oidc_config(&provider),
        0,
        Utc::now(),
    );
    let refused = |args: &[&str], says: &str| {
        let out = run(home.path(), args);
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    };
    refused(
        &[
            "notify",
            "add",
            "x",
            "--webhook",
            "http://hooks.example.com/x",
        ],
        "must start with https://",
    );
    refused(
        &[
            "notify", "add", "x", "--email", "admins", "--via", "Exchange",
        ],
        "not an e-mail address",
    );
    refused(
        &[
            "notify",
            "add",
            "x",
            "--email",
            "a@contoso.com",
            "--via",
            "Portal",
        ],
        "not Microsoft",
    );
    refused(
        &[
            "notify",
            "add",
            "x",
            "--email",
            "a@contoso.com",
            "--via",
            "Nope",
        ],
        "Nope",
    );
    refused(
        &["notify", "remove", "nobody"],
        "No notifier is named 'nobody'",
    );

    // The URL on standard input, so it is in no process list or shell history.
    let mut child = desk::command(home.path(), &["notify", "add", "ops", "--webhook", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "https://hooks.slack.com/services/T0/B0/SLACKSECRET").expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", text(&out));
    refused(
        &[
            "notify",
            "add",
            "OPS",
            "--webhook",
            "https://other.example.com/",
        ],
        "already exists",
    );
    let listed = cli_ok(home.path(), &["notify", "list", "--json"]);
    assert!(listed.contains("https://hooks.slack.com/…"), "{listed}");
    assert!(!listed.contains("SLACKSECRET"), "{listed}");
    let removed = cli_ok(home.path(), &["notify", "remove", "ops"]);
    assert!(removed.contains("Removed notifier 'ops'"), "{removed}");
}

#[test]
fn two_gateways_on_one_shared_vault_tell_a_refused_token_once() {
    let Some(url) = crate::vault_postgres::fresh_database() else {
        return;
    };
    let provider = TestProvider::microsoft();
    let (home_a, home_b) = (crate::support::temp_dir(), crate::support::temp_dir());
    exchange(&provider, home_a.path());
    cli_ok(home_a.path(), &["vault", "migrate", "--to", &url]);
    cli_ok(home_b.path(), &["vault", "join", &url]);
    let hook = Receiver::start();
    cli_ok(
        home_b.path(),
        &["notify", "add", "ops", "--webhook", &hook.url],
    );
    let (_a, _b) = (
        serve_notifying(home_a.path()),
        serve_notifying(home_b.path()),
    );
    revoke_and_ask(&provider, home_a.path());
    wait_until("the webhook", Duration::from_secs(20), || {
        !hook.bodies().is_empty()
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        events(&hook.bodies(), "sign_in_needed").len(),
        1,
        "{:?}",
        hook.bodies()
    );
}

#[test]
fn without_a_gateway_the_keep_alive_run_tells_and_only_once() {
    let provider = TestProvider::microsoft();
    let home = crate::support::temp_dir();
    exchange(&provider, home.path());
    let hook = Receiver::start();
    cli_ok(
        home.path(),
        &[
            "notify",
            "add",
            "chat",
            "--webhook",
            &hook.url,
            "--format",
            "slack",
        ],
    );
    provider.revoke_user(USER_UPN);
    for _ in 0..2 {
        let out = run(
            home.path(),
            &["renew", "--data-source", "Exchange", "--user", "USER/0"],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    }
    let bodies = hook.bodies();
    let titles: Vec<&str> = bodies.iter().filter_map(|b| b["text"].as_str()).collect();
    assert_eq!(
        titles
            .iter()
            .filter(|t| t.contains("Exchange / USER/0 (user0@contoso.com) needs attention"))
            .count(),
        1,
        "{titles:?}"
    );
}

#[test]
fn a_gateway_tells_when_the_shared_vaults_database_is_down_and_when_it_is_back() {
    let Some(server) = crate::support::PrivateServer::start() else {
        return;
    };
    let url = server.url("tokendesk");
    let provider = TestProvider::microsoft();
    let home = crate::support::temp_dir();
    exchange(&provider, home.path());
    cli_ok(home.path(), &["vault", "migrate", "--to", &url]);
    let hook = Receiver::start();
    cli_ok(
        home.path(),
        &["notify", "add", "ops", "--webhook", &hook.url],
    );
    let _gateway = serve_notifying(home.path());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(hook.bodies().is_empty(), "{:?}", hook.bodies());

    server.pg_ctl(&["stop", "-m", "immediate"]);
    wait_until("the store message", Duration::from_secs(30), || {
        !events(&hook.bodies(), "store_unreachable").is_empty()
    });
    let down = &events(&hook.bodies(), "store_unreachable")[0];
    let text = down["text"].as_str().unwrap_or_default();
    assert!(text.contains("The vault cannot be read"), "{text}");
    assert!(
        text.contains("vault join"),
        "the fix names the connection string: {text}"
    );

    server.pg_ctl(&["start", "-w"]);
    wait_until(
        "the message that it is back",
        Duration::from_secs(60),
        || {
            events(&hook.bodies(), "recovered").iter().any(|b| {
                b["title"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("can be reached again")
            })
        },
    );
    assert_eq!(
        events(&hook.bodies(), "store_unreachable").len(),
        1,
        "told once while it was down: {:?}",
        hook.bodies()
    );
}
