//! The keep-alive engine against the loopback provider: a simulated year with 1,000
//! mappings, the concurrency limit, Retry-After, and what failures leave behind.

use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::support::provider::{Endpoint, Fault, TestProvider};
use crate::support::{quick_http, upn};
use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokendesk::clock::{Clock, ManualClock, SystemClock, TokioSleeper};
use tokendesk::identity::ErrorKind;
use tokendesk::keepalive::{RenewOptions, RenewOutcome, Selection, renew};
use tokendesk::vault::ops::TokenTarget;
use tokendesk::vault::{KeySource, Keyring, TokenState, Vault, policy};

fn keys() -> KeySource {
    let store: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
    KeySource::with_keyring(Keyring::with_store(store))
}

/// A vault with one data source whose account and `mappings` additional users all
/// signed in at `at`.
/// A vault (in-memory keyring) with one data source whose account and `mappings`
/// additional users all signed in at `at`.
fn seeded_vault(
    provider: &TestProvider,
    mappings: usize,
    at: DateTime<Utc>,
) -> (tempfile::TempDir, Vault) {
    let dir = support::temp_dir();
    let vault = support::vault_with_mappings(provider, dir.path(), &keys(), mappings, at);
    (dir, vault)
}

/// A run whose clock and waits are the virtual clock's.
async fn in_virtual_time(
    vault: &mut Vault,
    selection: &Selection,
    options: &RenewOptions,
    clock: &ManualClock,
) -> tokendesk::keepalive::RenewReport {
    renew(
        vault,
        selection,
        options,
        &quick_http(),
        clock,
        clock,
        |_| {},
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_of_weekly_keepalive_keeps_1000_mappings_alive() {
    let start = Utc.with_ymd_and_hms(2026, 1, 5, 3, 0, 0).unwrap();
    let provider = TestProvider::microsoft();
    provider.set_now(start);
    provider.set_inactivity_window(chrono::Duration::days(90));
    let (_dir, mut vault) = seeded_vault(&provider, 1_000, start);
    let clock = ManualClock::new(start);
    let mut rng = StdRng::seed_from_u64(2026);
    let mut revoked: BTreeSet<usize> = BTreeSet::new();
    let mut renewals = 0;

    for week in 1..=52 {
        clock.advance(chrono::Duration::days(7));
        provider.set_now(clock.now());
        // Password resets and admin revocations happen between runs.
        let mut new_revocations = BTreeSet::new();
        for _ in 0..rng.random_range(0..3) {
            let n = rng.random_range(0..1_000);
            if revoked.insert(n) {
                provider.revoke_user(&upn(n));
                new_revocations.insert(n);
            }
        }
        let report = in_virtual_time(
            &mut vault,
            &Selection::Due,
            &RenewOptions::default(),
            &clock,
        )
        .await;
        renewals += report.renewed();
        assert_eq!(report.transient(), 0, "week {week}: {}", report.summary());
        for result in &report.results {
            let n = result
                .user
                .as_deref()
                .and_then(|u| u.strip_prefix("USER/"))
                .map(|n| n.parse::<usize>().unwrap());
            match (&result.outcome, n) {
                (RenewOutcome::Renewed { rotated }, n) => {
                    assert!(rotated);
                    assert!(n.is_none_or(|n| !revoked.contains(&n)));
                }
                (RenewOutcome::Failed { kind, code, .. }, Some(n)) => {
                    // Dead at the first run after the revocation, with the reason.
                    assert!(
                        new_revocations.contains(&n),
                        "week {week}: user {n} failed: {code:?}"
                    );
                    assert_eq!(*kind, ErrorKind::NeedsSignIn);
                    assert_eq!(code.as_deref(), Some("AADSTS50173"));
                    assert_eq!(result.account, upn(n));
                }
                (RenewOutcome::NeedsSignIn { .. }, Some(n)) => {
                    assert!(revoked.contains(&n) && !new_revocations.contains(&n));
                }
                (other, n) => panic!("week {week}: unexpected {other:?} for {n:?}"),
            }
        }
        let newly_dead: BTreeSet<usize> = report
            .results
            .iter()
            .filter(|r| matches!(r.outcome, RenewOutcome::Failed { .. }))
            .filter_map(|r| r.user.as_deref()?.strip_prefix("USER/")?.parse().ok())
            .collect();
        assert_eq!(newly_dead, new_revocations, "week {week}");
    }

    // Nothing expired from inactivity; every living token is the provider's newest.
    vault.reload().unwrap();
    let data = vault.data();
    let now = clock.now();
    let source = data.data_source("Exchange").unwrap();
    assert_eq!(
        policy::evaluate(
            &source.token,
            &data.settings,
            policy::Lifetime::MICROSOFT,
            now
        )
        .state,
        TokenState::Healthy
    );
    for (n, mapping) in source.users.iter().enumerate() {
        let state = policy::evaluate(
            &mapping.token,
            &data.settings,
            policy::Lifetime::MICROSOFT,
            now,
        )
        .state;
        if revoked.contains(&n) {
            assert_eq!(state, TokenState::NeedsSignIn, "{}", mapping.app_user.login);
            continue;
        }
        assert_eq!(state, TokenState::Healthy, "{}", mapping.app_user.login);
        assert_eq!(
            mapping
                .token
                .refresh_token
                .as_ref()
                .map(|t| t.expose().to_string()),
            provider.current_refresh_token_of(&upn(n)),
            "{}: the stored token is not the newest",
            mapping.app_user.login
        );
    }
    assert!(!revoked.is_empty());
    assert!(renewals > 50_000, "{renewals} renewals");
    let token_requests = provider.requests_to(Endpoint::Token).len();
    assert_eq!(
        token_requests,
        renewals + revoked.len(),
        "one request per renewal, one per revocation found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_requests_in_flight_than_the_concurrency() {
    let provider = TestProvider::microsoft();
    provider.set_token_latency(Duration::from_millis(40));
    let (_dir, mut vault) = seeded_vault(&provider, 30, Utc::now());
    for concurrency in [1, 3, 6] {
        let before = provider.max_in_flight();
        let options = RenewOptions {
            concurrency,
            ..RenewOptions::default()
        };
        let report = renew(
            &mut vault,
            &Selection::All,
            &options,
            &quick_http(),
            &SystemClock,
            &TokioSleeper,
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(report.renewed(), 31);
        // The counter only grows, so each round can only confirm its own limit
        // when the limits grow too.
        assert!(
            provider.max_in_flight() <= concurrency,
            "{} > {concurrency}",
            provider.max_in_flight()
        );
        assert!(provider.max_in_flight() >= before);
        assert_eq!(
            provider.max_in_flight(),
            concurrency,
            "the limit should also be reached"
        );
    }
}

#[tokio::test]
async fn throttling_pauses_the_run_for_retry_after_and_then_succeeds() {
    let start = Utc::now();
    let provider = TestProvider::microsoft();
    let (_dir, mut vault) = seeded_vault(&provider, 3, start);
    provider.fail_next(
        Endpoint::Token,
        Fault::Status {
            status: 429,
            retry_after: Some(7),
        },
    );
    provider.fail_next(
        Endpoint::Token,
        Fault::Status {
            status: 429,
            retry_after: Some(11),
        },
    );
    let clock = ManualClock::new(start);
    let options = RenewOptions {
        concurrency: 1,
        ..RenewOptions::default()
    };
    let report = in_virtual_time(&mut vault, &Selection::All, &options, &clock).await;
    assert_eq!(report.renewed(), 4, "{}", report.summary());
    assert_eq!(
        clock.waits(),
        vec![Duration::from_secs(7), Duration::from_secs(11)]
    );
    assert_eq!(provider.requests_to(Endpoint::Token).len(), 6);

    // Throttled beyond the attempts: the token stays as it was, for the next run.
    for _ in 0..3 {
        provider.fail_next(
            Endpoint::Token,
            Fault::Status {
                status: 429,
                retry_after: Some(1),
            },
        );
    }
    let target = TokenTarget::data_source("Exchange");
    let before = vault.data().token(&target).unwrap().refresh_token.clone();
    let report = in_virtual_time(
        &mut vault,
        &Selection::Only(vec![target.clone()]),
        &options,
        &clock,
    )
    .await;
    assert_eq!(report.transient(), 1, "{}", report.summary());
    let record = vault.data().token(&target).unwrap();
    assert_eq!(record.refresh_token, before);
    assert_eq!(
        record.last_error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Transient)
    );
    assert_eq!(
        policy::evaluate(
            record,
            &vault.data().settings,
            policy::Lifetime::MICROSOFT,
            clock.now()
        )
        .state,
        TokenState::Healthy
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_leaves_the_token_for_the_next_run() {
    let provider = TestProvider::microsoft();
    let (_dir, mut vault) = seeded_vault(&provider, 0, Utc::now());
    provider.fail_next(
        Endpoint::Token,
        Fault::Status {
            status: 429,
            retry_after: Some(3_600),
        },
    );
    let clock = ManualClock::new(Utc::now());
    let report = in_virtual_time(
        &mut vault,
        &Selection::All,
        &RenewOptions::default(),
        &clock,
    )
    .await;
    assert_eq!(report.transient(), 1);
    assert!(
        clock.waits().is_empty(),
        "an hour-long Retry-After is not waited out"
    );
}
