//! `tokendesk serve` as a real process against the loopback provider: consumer keys
//! (401/403/404), the token answer, 503 with the consumer status message, exactly
//! one redemption for 50 concurrent requests, /healthz and /metrics, the local
//! socket (mode 0600) that `tokendesk token` asks first, and a clean SIGTERM.

use crate::support;

use std::path::Path;
use std::time::Duration;

use crate::support::desk::{self, text};
#[cfg(unix)]
use crate::support::gateway::terminate;
use crate::support::gateway::{
    assert_every_grant_current, consumer, get, runtime, serve, serve_every, setup,
};
use crate::support::oidc_config;
use crate::support::provider::{Endpoint, TestProvider};
use chrono::Utc;

#[test]
fn consumers_get_tokens_by_key_and_fifty_at_once_cause_one_redemption() {
    let (provider, home) = setup();
    // The provider states a lifetime, so /metrics has an expiry for what it renews.
    provider.set_refresh_lifetime(Some(86_400));
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let all_users = consumer(
        home.path(),
        &["Everyone", "--data-source", "A", "--all-users"],
    );
    let listed = desk::run(home.path(), &["consumer", "list"]);
    assert!(!text(&listed).contains(&key), "keys are never listed");
    let served = serve(home.path());
    let base = served.base.clone();
    let runtime = runtime();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let token = |q: &str| format!("{base}/v1/token?{q}");
        // Fifty at once for a token with no cached access token: one redemption.
        let requests: Vec<_> = (0..50)
            .map(|_| {
                let client = client.clone();
                let url = token("data_source=A");
                let key = key.clone();
                tokio::spawn(async move { get(&client, &url, Some(&key)).await })
            })
            .collect();
        let mut handed = std::collections::HashSet::new();
        for request in requests {
            let (status, body) = request.await.expect("task");
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["token_type"], "Bearer");
            assert!(
                body["expires_at"]
                    .as_str()
                    .is_some_and(|t| t.ends_with('Z'))
            );
            handed.insert(body["access_token"].as_str().expect("token").to_string());
        }
        assert_eq!(handed.len(), 1, "every consumer got the one fresh token");
        assert_eq!(
            provider.requests_to(Endpoint::Token).len(),
            1,
            "exactly one redemption"
        );
        assert!(
            provider
                .issued_access_tokens()
                .contains(handed.iter().next().unwrap())
        );

        // Keys: none or unknown → 401; another data source or user → 403; unknown → 404.
        assert_eq!(get(&client, &token("data_source=A"), None).await.0, 401);
        assert_eq!(
            get(&client, &token("data_source=A"), Some("tdk_wrong"))
                .await
                .0,
            401
        );
        assert_eq!(
            get(&client, &token("data_source=B"), Some(&key)).await.0,
            403
        );
        assert_eq!(
            get(&client, &token("data_source=A&user=USER/0"), Some(&key))
                .await
                .0,
            403
        );
        assert_eq!(
            get(&client, &token("data_source=A&user=nobody"), Some(&key))
                .await
                .0,
            404
        );
        assert_eq!(
            get(&client, &token("data_source=Nope"), Some(&key)).await.0,
            404
        );
        assert_eq!(
            get(&client, &format!("{base}/v1/token"), Some(&key))
                .await
                .0,
            400
        );
        let (status, body) = get(
            &client,
            &token("data_source=A&user=USER/0"),
            Some(&all_users),
        )
        .await;
        assert_eq!(status, 200, "{body}");

        // Monitoring.
        let (status, health) = get(&client, &format!("{base}/healthz"), None).await;
        assert_eq!(status, 200, "{health}");
        assert_eq!(health["tokens"], 3);
        let metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("tokendesk_hand_outs_total 51"),
            "{metrics}"
        );
        assert!(
            metrics.contains("tokendesk_redemptions_total{outcome=\"ok\"} 2"),
            "{metrics}"
        );
        assert!(
            metrics.contains("tokendesk_requests_total{status=\"401\"} 2"),
            "{metrics}"
        );
        // As Prometheus reads it: every sample parses, with its labels.
        let scrape = prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_string())))
            .expect("Prometheus text format");
        let sample = |name: &str| {
            scrape
                .samples
                .iter()
                .find(|s| s.metric == name)
                .unwrap_or_else(|| panic!("{name} in {metrics}"))
        };
        assert!(matches!(
            sample("tokendesk_hand_outs_total").value,
            prometheus_parse::Value::Counter(v) if v == 51.0
        ));
        assert!(
            sample("tokendesk_token_expiry_seconds")
                .labels
                .get("data_source")
                .is_some()
        );
        assert!(
            scrape
                .samples
                .iter()
                .any(|s| s.metric == "tokendesk_request_duration_seconds"
                    && matches!(s.value, prometheus_parse::Value::Histogram(_))),
            "the latency histogram"
        );
        let audit = std::fs::read_to_string(home.path().join("audit.jsonl")).unwrap_or_default();
        assert!(audit.contains("added consumer 'Portal'"), "{audit}");
        // Hand-outs are counted per minute in handouts.jsonl (gateway_pressure).
        assert!(!audit.contains("hand_out"), "{audit}");
        assert!(!audit.contains(&key) && !handed.iter().any(|t| audit.contains(t.as_str())));
    });
    drop(served);
}

#[test]
fn a_short_lived_access_token_is_handed_out_with_the_providers_expiry() {
    let (provider, home) = setup();
    // Shorter than the five minutes a cached token must still live: every request
    // redeems, and the answer must still say when the token ends.
    provider.set_access_lifetime(120);
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let served = serve(home.path());
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let asked = Utc::now();
        let (status, body) = get(
            &client,
            &format!("{}/v1/token?data_source=A", served.base),
            Some(&key),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let expires_at =
            chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().expect("expires_at"))
                .expect("RFC 3339")
                .with_timezone(&Utc);
        let lives = (expires_at - asked).num_seconds();
        assert!((100..=125).contains(&lives), "lives {lives} s: {body}");
    });
}

#[test]
fn without_a_valid_token_consumers_get_503_with_the_status_message() {
    let (provider, home) = setup();
    let key = consumer(home.path(), &["Portal", "--data-source", "B"]);
    provider.revoke_user(desk::ACCOUNT);
    let served = serve(home.path());
    let runtime = runtime();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let (status, body) = get(
            &client,
            &format!("{}/v1/token?data_source=B", served.base),
            Some(&key),
        )
        .await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "needs_sign_in");
        assert!(!body["message"].as_str().unwrap_or("").is_empty(), "{body}");
        assert!(body["reason"].as_str().is_some(), "{body}");
        let (status, health) = get(&client, &format!("{}/healthz", served.base), None).await;
        assert_eq!(status, 503, "a token needs the admin: {health}");
    });
}

#[cfg(unix)]
#[test]
fn local_programs_ask_the_gateway_over_a_private_socket_and_sigterm_stops_it_cleanly() {
    use std::os::unix::fs::PermissionsExt;
    let (provider, home) = setup();
    let mut served = serve(home.path());
    let socket = home.path().join("gateway.sock");
    let mode = std::fs::metadata(&socket)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "only this OS user may open it");

    // Without the passphrase `token` could not open the vault: the token comes from
    // the gateway.
    let out = desk::command(home.path(), &["token", "--data-source", "A"])
        .env_remove("TOKENDESK_PASSPHRASE")
        .output()
        .expect("token");
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(provider.issued_access_tokens().contains(&token), "{token}");

    let status = terminate(&mut served, Duration::from_secs(20));
    assert!(status.success());
    assert!(!socket.exists(), "the socket goes with the gateway");
    // Afterwards `token` opens the vault itself again.
    let out = desk::run(home.path(), &["token", "--data-source", "A"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn on_a_full_disk_the_gateway_answers_503_without_asking_the_provider() {
    let Some(disk) = desk::Tmpfs::mount(2 * 1024 * 1024, "gateway full disk") else {
        return;
    };
    let provider = TestProvider::oidc();
    desk::add_source(
        &provider,
        &disk.path,
        "A",
        oidc_config(&provider),
        0,
        Utc::now(),
    );
    let key = consumer(&disk.path, &["Portal", "--data-source", "A"]);
    let served = serve(&disk.path);
    let filler = disk.fill();
    let url = format!("{}/v1/token?data_source=A", served.base);
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let (status, body) = get(&client, &url, Some(&key)).await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body["reason"]
                .as_str()
                .is_some_and(|r| r.contains("did not ask the provider")),
            "{body}"
        );
        assert_eq!(provider.requests_to(Endpoint::Token).len(), 0);

        // Room again: once the failure's backoff (2 s) ends, the same gateway
        // redeems and stores the rotated token.
        std::fs::remove_file(&filler).expect("room");
        let since = std::time::Instant::now();
        loop {
            let (status, body) = get(&client, &url, Some(&key)).await;
            if status == 200 {
                break;
            }
            assert_eq!(body["error"], "renewal_failing", "{body}");
            assert!(since.elapsed() < Duration::from_secs(4), "{body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(provider.requests_to(Endpoint::Token).len(), 1);
    });
    drop(served);
    assert_eq!(provider.replays(), 0);
    let vault = tokendesk::vault::Vault::open(&disk.path, &desk::keys()).expect("vault");
    let token = vault.data().data_sources[0].token.refresh_token.clone();
    assert_eq!(
        provider.grant_state(token.expect("a token").expose()),
        crate::support::provider::GrantState::Current
    );
}

#[test]
fn a_second_gateway_on_the_same_vault_is_refused_and_the_first_serves_on() {
    let (provider, home) = setup();
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let served = serve(home.path());
    let second = desk::run(home.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!second.status.success());
    assert!(
        text(&second).contains("A gateway already serves the vault"),
        "{}",
        text(&second)
    );
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let (status, body) = get(
            &client,
            &format!("{}/v1/token?data_source=A", served.base),
            Some(&key),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(
            provider
                .issued_access_tokens()
                .iter()
                .any(|t| Some(t.as_str()) == body["access_token"].as_str())
        );
    });
    // The refused one left the socket alone: `token` still reaches the first.
    let out = desk::command(home.path(), &["token", "--data-source", "A"])
        .env_remove("TOKENDESK_PASSPHRASE")
        .output()
        .expect("token");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_gateway_killed_during_its_keep_alive_run_loses_no_grant() {
    let provider = TestProvider::oidc();
    let home = support::temp_dir();
    // Twenty tokens last used 30 days ago: all due for the keep-alive.
    let long_ago = Utc::now() - chrono::Duration::days(30);
    desk::add_source(
        &provider,
        home.path(),
        "A",
        oidc_config(&provider),
        19,
        long_ago,
    );
    // The provider answers slowly: the kill lands while the renewals are in flight.
    provider.set_token_latency(Duration::from_millis(1500));
    let served = serve_every(home.path(), "1");
    desk::wait_until(
        "the keep-alive asks the provider",
        Duration::from_secs(20),
        || provider.in_flight() > 0,
    );
    drop(served); // SIGKILL, with token requests in flight

    // Restarted, it renews everything: the killed run's locks do not block it,
    // and no token the provider already retired is ever sent.
    provider.set_token_latency(Duration::ZERO);
    let _served = serve_every(home.path(), "1");
    let renewed = |home: &Path| {
        let vault = tokendesk::vault::Vault::open(home, &desk::keys()).expect("vault");
        vault
            .data()
            .each_token()
            .filter(|owner| owner.record().last_redeemed_at.is_some())
            .count()
    };
    desk::wait_until("every token renewed", Duration::from_secs(30), || {
        renewed(home.path()) == 20
    });
    assert_eq!(provider.replays(), 0, "no retired token was sent");
    assert_eq!(provider.revoked_grants(), 0, "no grant was lost");
    assert_every_grant_current(&provider, home.path());
}

#[cfg(unix)]
#[test]
fn sigterm_during_a_keep_alive_run_finishes_its_writes_and_loses_no_grant() {
    let provider = TestProvider::oidc();
    let home = support::temp_dir();
    let long_ago = Utc::now() - chrono::Duration::days(30);
    desk::add_source(
        &provider,
        home.path(),
        "A",
        oidc_config(&provider),
        7,
        long_ago,
    );
    provider.set_token_latency(Duration::from_millis(700));
    let mut served = serve_every(home.path(), "1");
    desk::wait_until(
        "the keep-alive asks the provider",
        Duration::from_secs(20),
        || provider.in_flight() > 0,
    );
    // It ends once the run's writes are done.
    let status = terminate(&mut served, Duration::from_secs(60));
    assert!(status.success(), "{status:?}");
    // Every answer the provider gave was stored: each stored token is the grant's
    // newest, none was replayed, and the run in flight was not cut short.
    assert_eq!(provider.replays(), 0);
    let renewed = assert_every_grant_current(&provider, home.path());
    assert_eq!(renewed, 8, "the run in progress finished");
}
