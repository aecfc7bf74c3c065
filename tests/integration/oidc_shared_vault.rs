//! The shared vault against the certified provider (panva's `oidc-provider`, which
//! rotates every refresh token and revokes the whole grant when a used one comes
//! back): a token signed in on home A moves into PostgreSQL, home B joins, fifty
//! requests spread over both homes' gateways make one redemption at the provider,
//! renewals from both homes never replay, and a new sign-in on home A is served
//! by home B's gateway within a second.

use std::time::{Duration, Instant};

use crate::oidc_conformance::{Op, sign_in, start, test_count, vault};
use crate::support::desk::{self, text};
use crate::vault_postgres::{cli, fresh_database, gateway_on, split_password};
use tokendesk::vault::ops::TokenTarget;

fn refreshes(op: &Op) -> u64 {
    test_count(op, "_test/refresh-count")
}

/// Drops the cached access token of data source A, as its hour running out would.
fn expire_access(home: &std::path::Path) {
    let mut shared = tokendesk::desk::vault_file::open(home, &desk::keys()).expect("shared");
    shared
        .update(|data| {
            let record = data.token_mut(&TokenTarget::data_source("A"))?;
            record.access = None;
            record.revision += 1;
            Ok(())
        })
        .expect("access dropped");
}

#[cfg(unix)]
#[test]
fn oidc_provider_grant_moved_into_the_shared_vault_is_redeemed_once_across_two_gateways() {
    let Some(url) = fresh_database() else { return };
    let Some(op) = start("oidc_provider shared vault", &[]) else {
        return;
    };
    let home_a = crate::support::temp_dir();
    vault(home_a.path(), &op, false);
    let (out, page) = sign_in(home_a.path(), &op, false, true);
    assert!(page.contains("Sign-in Success"), "{page}");
    assert!(out.status.success(), "{}", text(&out));

    // The vault moves into the database; home B joins it.
    let (without, password) = split_password(&url);
    let run = |home: &std::path::Path, args: &[&str]| cli(home, &password, args);
    let moved = run(home_a.path(), &["vault", "migrate", "--to", &without]);
    assert!(moved.contains("1 data source(s), 1 token(s)"), "{moved}");
    let home_b = crate::support::temp_dir();
    run(home_b.path(), &["vault", "join", &without]);
    // Renewals from both homes, one after the other: each finds the other's
    // rotation, so none sends a used token (the provider would revoke the grant).
    run(home_b.path(), &["renew", "--data-source", "A"]);
    run(home_a.path(), &["test", "--data-source", "A"]);
    run(home_b.path(), &["test", "--data-source", "A"]);
    assert_eq!(refreshes(&op), 3);

    let key = run(
        home_a.path(),
        &["consumer", "add", "Portal", "--data-source", "A"],
    );
    expire_access(home_a.path());
    let (a, b) = (
        gateway_on(home_a.path(), &password),
        gateway_on(home_b.path(), &password),
    );
    let runtime = crate::support::gateway::runtime();
    let client = reqwest::Client::new();
    let handed = runtime.block_on(async {
        let asks: Vec<_> = (0..50)
            .map(|n| {
                let base = if n % 2 == 0 { &a.base } else { &b.base };
                let url = format!("{base}/v1/token?data_source=A");
                let (client, key) = (client.clone(), key.clone());
                tokio::spawn(async move {
                    crate::support::gateway::get(&client, &url, Some(&key)).await
                })
            })
            .collect();
        let mut handed = std::collections::HashSet::new();
        for ask in asks {
            let (status, body) = ask.await.expect("task");
            assert_eq!(status, 200, "{body}");
            handed.insert(body["access_token"].as_str().expect("token").to_string());
        }
        handed
    });
    assert_eq!(handed.len(), 1, "one fresh access token for all fifty");
    assert_eq!(refreshes(&op), 4, "one redemption across both gateways");
    // The grant is alive: had a gateway sent a used token, it would be revoked.
    run(home_b.path(), &["test", "--data-source", "A"]);

    // A new sign-in on home A is served by home B's gateway within a second.
    let before = runtime
        .block_on(crate::support::gateway::get(
            &client,
            &format!("{}/v1/token?data_source=A", b.base),
            Some(&key),
        ))
        .1["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let (out, page) = sign_in(home_a.path(), &op, false, true);
    assert!(page.contains("Sign-in Success"), "{page}");
    assert!(out.status.success(), "{}", text(&out));
    let signed_in = Instant::now();
    loop {
        let (status, body) = runtime.block_on(crate::support::gateway::get(
            &client,
            &format!("{}/v1/token?data_source=A", b.base),
            Some(&key),
        ));
        assert_eq!(status, 200, "{body}");
        if body["access_token"].as_str() != Some(before.as_str()) {
            break;
        }
        assert!(
            signed_in.elapsed() < Duration::from_secs(1),
            "gateway B still hands out the token from before the sign-in"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    run(home_b.path(), &["renew", "--data-source", "A"]);
}
