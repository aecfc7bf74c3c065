//! The gateway under pressure, as a real process against the loopback provider:
//! a dead token answered from memory, transient failures backed off, consumer
//! changes seen within a second, one cached access token per scope, a still-valid
//! token served through an outage with an honest /healthz, a vault rolled back
//! under the running gateway, hand-outs counted without flooding the audit log,
//! and the key in any spelling of the scheme or in X-API-Key.

use std::time::{Duration, Instant};

use crate::support::desk::{self, ACCOUNT, text};
#[cfg(unix)]
use crate::support::gateway::terminate;
use crate::support::gateway::{
    Served, assert_every_grant_current, consumer, get, runtime, serve, setup,
};
use crate::support::provider::{Endpoint, Fault};

fn token_url(served: &Served, query: &str) -> String {
    format!("{}/v1/token?{query}", served.base)
}

/// Many requests at once from 8 clients; returns each answer's status and body.
async fn burst(url: &str, key: &str, requests: usize) -> Vec<(u16, serde_json::Value)> {
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..8)
        .map(|worker| {
            let client = client.clone();
            let url = url.to_string();
            let key = key.to_string();
            let share = requests / 8 + usize::from(worker < requests % 8);
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for _ in 0..share {
                    answers.push(get(&client, &url, Some(&key)).await);
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.expect("task"));
    }
    answers
}

#[test]
fn a_dead_token_is_answered_from_memory_after_one_invalid_grant() {
    let (provider, home) = setup();
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    // The grant is lost before the gateway first needs the token.
    provider.revoke_user(ACCOUNT);
    let served = serve(home.path());
    runtime().block_on(async {
        let answers = burst(&token_url(&served, "data_source=A"), &key, 100).await;
        assert_eq!(answers.len(), 100);
        assert_eq!(
            provider.requests_to(Endpoint::Token).len(),
            1,
            "one invalid_grant at the provider, however many ask"
        );
        for (status, body) in &answers {
            assert_eq!(*status, 503, "{body}");
            assert_eq!(body["error"], "needs_sign_in", "{body}");
            assert!(
                body["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("sign in")),
                "{body}"
            );
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        let (status, health) = get(
            &reqwest::Client::new(),
            &format!("{}/healthz", served.base),
            None,
        )
        .await;
        assert_eq!(status, 503);
        assert_eq!(health["status"], "failing", "{health}");
    });
    // One audit line for the failed renewal, not a hundred.
    let audit = std::fs::read_to_string(home.path().join("audit.jsonl")).unwrap_or_default();
    assert_eq!(
        audit.lines().filter(|l| l.contains("\"renew\"")).count(),
        1,
        "{audit}"
    );
}

#[test]
fn transient_failures_back_off_per_token_and_honour_retry_after() {
    let (provider, home) = setup();
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    for _ in 0..50 {
        provider.fail_next(
            Endpoint::Token,
            Fault::Status {
                status: 503,
                retry_after: Some(3),
            },
        );
    }
    let served = serve(home.path());
    runtime().block_on(async {
        let url = token_url(&served, "data_source=A");
        let started = Instant::now();
        let answers = burst(&url, &key, 40).await;
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(
            provider.requests_to(Endpoint::Token).len(),
            1,
            "shared backoff"
        );
        for (status, body) in &answers {
            assert_eq!(*status, 503, "{body}");
            assert_eq!(body["error"], "renewal_failing", "{body}");
        }
        let response = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .expect("answer");
        let retry_after: u64 = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=3).contains(&retry_after), "{retry_after}");
        // After the provider's Retry-After, the provider is asked once more.
        tokio::time::sleep(Duration::from_millis(3300)).await;
        let _ = burst(&url, &key, 16).await;
        assert_eq!(provider.requests_to(Endpoint::Token).len(), 2);
    });
}

#[test]
fn consumers_added_or_removed_elsewhere_count_within_a_second() {
    let (_provider, home) = setup();
    let first = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let served = serve(home.path());
    let runtime = runtime();
    let client = reqwest::Client::new();
    let url = token_url(&served, "data_source=A");
    let status_of = |key: &str| runtime.block_on(get(&client, &url, Some(key))).0;
    assert_eq!(status_of(&first), 200);

    let added = consumer(home.path(), &["Reports", "--data-source", "A"]);
    let since = Instant::now();
    while status_of(&added) != 200 {
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "a new key is served within a second"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let out = desk::run(home.path(), &["consumer", "remove", "Portal"]);
    assert!(out.status.success(), "{}", text(&out));
    let since = Instant::now();
    while status_of(&first) != 401 {
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "a removed key is refused within a second"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status_of(&added), 200, "the other key still works");
}

#[test]
fn each_scope_has_its_own_cached_access_token() {
    let (provider, home) = setup();
    let graph = consumer(home.path(), &["Graph", "--data-source", "A"]);
    let ews = consumer(home.path(), &["Ews", "--data-source", "A"]);
    let served = serve(home.path());
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let plain = token_url(&served, "data_source=A");
        let scoped = token_url(
            &served,
            "data_source=A&scope=https%3A%2F%2Foutlook.office365.com%2FEWS.AccessAsUser.All",
        );
        let (_, first) = get(&client, &plain, Some(&graph)).await;
        let (status, narrow) = get(&client, &scoped, Some(&ews)).await;
        assert_eq!(status, 200, "{narrow}");
        assert_ne!(first["access_token"], narrow["access_token"]);
        for _ in 0..3 {
            let (_, again) = get(&client, &plain, Some(&graph)).await;
            assert_eq!(
                again["access_token"], first["access_token"],
                "the grant's own token stays"
            );
            let (_, again) = get(&client, &scoped, Some(&ews)).await;
            assert_eq!(
                again["access_token"], narrow["access_token"],
                "the scoped one is cached too"
            );
        }
        assert_eq!(provider.requests_to(Endpoint::Token).len(), 2);
    });
}

#[test]
fn through_an_outage_a_valid_token_is_served_until_it_expires_and_healthz_degrades() {
    let (provider, home) = setup();
    // Shorter than the five minutes a cached token must live: every request
    // would renew, so every request meets the outage.
    provider.set_access_lifetime(8);
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let served = serve(home.path());
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let url = token_url(&served, "data_source=A");
        let health = format!("{}/healthz", served.base);
        let (status, fresh) = get(&client, &url, Some(&key)).await;
        assert_eq!(status, 200, "{fresh}");
        assert_eq!(get(&client, &health, None).await.1["status"], "ok");
        for _ in 0..200 {
            provider.fail_next(
                Endpoint::Token,
                Fault::Status {
                    status: 503,
                    retry_after: None,
                },
            );
        }
        let expires_at =
            chrono::DateTime::parse_from_rfc3339(fresh["expires_at"].as_str().expect("expires_at"))
                .expect("time")
                .with_timezone(&chrono::Utc);
        let mut served_while_failing = 0;
        loop {
            let response = client
                .get(&url)
                .bearer_auth(&key)
                .send()
                .await
                .expect("answer");
            let status = response.status().as_u16();
            let failing = response.headers().get("x-tokendesk-renewal").is_some();
            let body: serde_json::Value = response.json().await.expect("json");
            let left = expires_at - chrono::Utc::now();
            if left > chrono::Duration::milliseconds(1500) {
                assert_eq!(status, 200, "still valid: {body}");
                assert!(failing, "the header says renewal fails");
                assert_eq!(body["access_token"], fresh["access_token"]);
                assert_eq!(body["renewal"]["failing"], true);
                served_while_failing += 1;
            } else if left < chrono::Duration::zero() {
                assert_eq!(status, 503, "expired: {body}");
                assert_eq!(body["error"], "renewal_failing");
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(served_while_failing > 0);
        let (status, health) = get(&client, &health, None).await;
        assert_eq!(status, 503);
        assert_eq!(health["status"], "degraded", "{health}");
        assert!(!health["reasons"].as_array().expect("reasons").is_empty());
        // Backed off: a handful of provider calls in eight seconds, not one per request.
        assert!(provider.requests_to(Endpoint::Token).len() <= 5);
    });
}

#[test]
fn a_vault_rolled_back_under_the_gateway_never_replays_an_old_token() {
    let (provider, home) = setup();
    provider.set_access_lifetime(30);
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let vault_file = home.path().join("vault.tdv");
    let backup = home.path().join("backup-copy");
    std::fs::copy(&vault_file, &backup).expect("backup");
    let served = serve(home.path());
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let url = token_url(&served, "data_source=A");
        // Renewed: the provider rotated A's refresh token; the backup holds the old.
        assert_eq!(get(&client, &url, Some(&key)).await.0, 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A backup tool puts the older generation back.
        let restored = home.path().join("restored.tmp");
        std::fs::copy(&backup, &restored).expect("copy");
        std::fs::rename(&restored, &vault_file).expect("restore");
        let health = format!("{}/healthz", served.base);
        let since = Instant::now();
        let report = loop {
            let (status, body) = get(&client, &health, None).await;
            if body["reasons"].to_string().contains("went back") {
                assert_eq!(status, 503);
                break body;
            }
            assert!(since.elapsed() < Duration::from_secs(3), "{body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(report.to_string().contains("rescue file"), "{report}");
        // Every request now renews (30 s tokens): from the rescued, newest token.
        for _ in 0..3 {
            let (status, body) = get(&client, &url, Some(&key)).await;
            assert_eq!(status, 200, "{body}");
        }
    });
    assert_eq!(provider.replays(), 0, "no old refresh token was sent");
    assert_eq!(provider.revoked_grants(), 0);
    drop(served);
    assert_every_grant_current(&provider, home.path());
    let audit = std::fs::read_to_string(home.path().join("audit.jsonl")).unwrap_or_default();
    assert!(audit.contains("went back"), "{audit}");
}

#[cfg(unix)]
#[test]
fn under_load_hand_outs_are_counted_and_every_administrative_event_stays() {
    let (_provider, home) = setup();
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let mut served = serve(home.path());
    let handed = runtime().block_on(async {
        let url = token_url(&served, "data_source=A");
        let deadline = Instant::now() + Duration::from_secs(3);
        let client = reqwest::Client::new();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let client = client.clone();
                let url = url.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    let mut ok = 0u64;
                    while Instant::now() < deadline {
                        if get(&client, &url, Some(&key)).await.0 == 200 {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        let mut handed = 0;
        for task in tasks {
            handed += task.await.expect("task");
        }
        handed
    });
    assert!(handed > 1000, "{handed}");
    assert!(terminate(&mut served, Duration::from_secs(5)).success());
    let audit = std::fs::read_to_string(home.path().join("audit.jsonl")).unwrap_or_default();
    assert!(audit.contains("added consumer 'Portal'"), "{audit}");
    assert!(
        !audit.contains("hand_out"),
        "hand-outs are counted elsewhere"
    );
    let counts: Vec<serde_json::Value> =
        std::fs::read_to_string(home.path().join("handouts.jsonl"))
            .expect("counts")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
    assert!(
        counts.len() <= 2,
        "one line per consumer, token and minute: {counts:?}"
    );
    let total: u64 = counts
        .iter()
        .map(|c| c["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(total, handed);
    assert!(
        counts
            .iter()
            .all(|c| c["consumer"] == "Portal" && c["data_source"] == "A")
    );
}

#[test]
fn the_key_is_taken_in_any_case_of_bearer_and_from_x_api_key() {
    let (_provider, home) = setup();
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let served = serve(home.path());
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let url = token_url(&served, "data_source=A");
        for scheme in ["bearer", "BEARER", "Bearer"] {
            let status = client
                .get(&url)
                .header("Authorization", format!("{scheme} {key}"))
                .send()
                .await
                .expect("answer")
                .status();
            assert_eq!(status, 200, "{scheme}");
        }
        let status = client
            .get(&url)
            .header("X-API-Key", &key)
            .send()
            .await
            .expect("answer")
            .status();
        assert_eq!(status, 200);
        let status = client
            .get(&url)
            .header("X-API-Key", "tdk_wrong")
            .send()
            .await
            .expect("answer")
            .status();
        assert_eq!(status, 401);
    });
}

/// Fraction of the filesystem at `path` still free.
#[cfg(unix)]
fn free_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path");
    // SAFETY: statvfs fills the zeroed struct for a NUL-terminated path.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) }, 0);
    stat.f_bavail as u64 * stat.f_frsize as u64
}

/// On a 2 MiB disk, load no longer fills the disk with the audit, and a renewal
/// afterwards still has the room it needs.
#[cfg(unix)]
#[test]
fn on_a_small_disk_load_leaves_room_for_the_next_renewal() {
    let Some(disk) = desk::Tmpfs::mount(2 * 1024 * 1024, "gateway audit on a small disk") else {
        return;
    };
    let provider = crate::support::provider::TestProvider::oidc();
    desk::add_source(
        &provider,
        &disk.path,
        "A",
        crate::support::oidc_config(&provider),
        0,
        chrono::Utc::now(),
    );
    let key = consumer(&disk.path, &["Portal", "--data-source", "A"]);
    let served = serve(&disk.path);
    let url = token_url(&served, "data_source=A");
    runtime().block_on(async {
        let deadline = Instant::now() + Duration::from_secs(6);
        // Bounded: a gateway that stops answering fails the test instead of hanging it.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (client, url, key) = (client.clone(), url.clone(), key.clone());
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        let answered = client.get(&url).bearer_auth(&key).send().await;
                        assert!(answered.is_ok(), "the gateway answers under load");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
    });
    assert!(
        free_bytes(&disk.path) > 1024 * 1024,
        "the audit left the disk its room: {} bytes free",
        free_bytes(&disk.path)
    );
    // A token for another scope is not cached: this request redeems and writes.
    let scoped = format!("{url}&scope=api%3A%2F%2Freports%2F.default");
    let (status, body) = runtime().block_on(get(&reqwest::Client::new(), &scoped, Some(&key)));
    assert_eq!(status, 200, "a renewal after the load: {body}");
    assert_eq!(provider.requests_to(Endpoint::Token).len(), 2);
}

/// A vault file that disappears or is damaged under the gateway: /healthz says
/// so (failing), and the tokens it holds are still served while they last.
#[test]
fn healthz_fails_when_the_vault_file_is_missing_or_damaged() {
    let (_provider, home) = setup();
    let key = consumer(home.path(), &["Portal", "--data-source", "A"]);
    let served = serve(home.path());
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let url = token_url(&served, "data_source=A");
        let health = format!("{}/healthz", served.base);
        assert_eq!(get(&client, &url, Some(&key)).await.0, 200);
        let vault = home.path().join("vault.tdv");
        let kept = std::fs::read(&vault).expect("vault");
        std::fs::write(&vault, b"not a vault any more").expect("damage");
        let since = Instant::now();
        let body = loop {
            let (status, body) = get(&client, &health, None).await;
            if status == 503 && body["status"] == "failing" {
                break body;
            }
            assert!(since.elapsed() < Duration::from_secs(2), "{body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(body["vault"], "unreadable", "{body}");
        assert!(
            body["reasons"].to_string().contains("cannot be read"),
            "{body}"
        );
        assert_eq!(
            get(&client, &url, Some(&key)).await.0,
            200,
            "served from memory"
        );
        std::fs::remove_file(&vault).expect("remove");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(get(&client, &health, None).await.1["status"], "failing");
        std::fs::write(&vault, kept).expect("restore");
        let since = Instant::now();
        while get(&client, &health, None).await.1["status"] != "ok" {
            assert!(since.elapsed() < Duration::from_secs(2), "healthy again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}
