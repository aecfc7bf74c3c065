//! In-process benchmarks (criterion): the vault with 10,000 mappings, the Argon2 cost,
//! `renew --all` for 1,000 mappings and the approval-to-saved latency against the
//! loopback provider, and one frame of the Additional users tab with 10,000 rows and
//! of All mailboxes with 10,000 tokens.
//!
//! `cargo bench --bench perf` measures; under `cargo test --all-targets` every
//! benchmark runs once, which proves it still works. Results: docs/PERFORMANCE.md.

#[path = "../tests/integration/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use egui_kittest::Harness;
use support::provider::{Endpoint, PollAnswer, TestProvider};
use tokendesk::clock::{SystemClock, TokioSleeper};
use tokendesk::identity::{HttpClient, HttpOptions};
use tokendesk::keepalive::{RenewOptions, Selection, renew};
use tokendesk::ui::edit_dialog::{EditDialog, Tab};
use tokendesk::ui::i18n::{Lang, Locale};
use tokendesk::ui::{AppState, Options};
use tokendesk::vault::crypto::KdfParams;
use tokendesk::vault::ops::TokenTarget;
use tokendesk::vault::{KeySource, Keyring, Vault};

fn keys() -> KeySource {
    let store: Arc<keyring_core::CredentialStore> =
        keyring_core::mock::Store::new().expect("mock keyring");
    KeySource::with_keyring(Keyring::with_store(store))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Open + decrypt + parse, and save, of a vault with 10,000 mappings (key unlocked:
/// an in-memory keyring); the passphrase KDF on its own.
fn vault(c: &mut Criterion) {
    let provider = TestProvider::microsoft();
    let dir = support::temp_dir();
    let keys = keys();
    let mut vault = support::vault_with_mappings(&provider, dir.path(), &keys, 10_000, Utc::now());
    let size = std::fs::metadata(Vault::path_in(dir.path())).map_or(0, |m| m.len());
    println!("vault with 10,000 mappings: {size} bytes on disk");
    let mut group = c.benchmark_group("vault_10k_mappings");
    group.sample_size(20);
    group.bench_function("open_decrypt_parse", |b| {
        b.iter(|| Vault::open(dir.path(), &keys).expect("open"))
    });
    let target = TokenTarget::user("Exchange", support::login(5_000));
    group.bench_function("save", |b| {
        b.iter(|| {
            vault
                .update(|data| {
                    data.token_mut(&target)?.last_redeemed_at = Some(Utc::now());
                    Ok(())
                })
                .expect("save")
        })
    });
    group.finish();
    let mut group = c.benchmark_group("passphrase_kdf");
    group.sample_size(10);
    group.bench_function("argon2id_64MiB_t3", |b| {
        b.iter(|| {
            KdfParams::recommended()
                .derive("correct horse battery staple")
                .expect("derive")
        })
    });
    group.finish();
}

/// `renew --all` for 1,000 mappings with the default concurrency of 4.
fn renew_all(c: &mut Criterion) {
    let provider = TestProvider::microsoft();
    let dir = support::temp_dir();
    let keys = keys();
    let mut vault = support::vault_with_mappings(&provider, dir.path(), &keys, 1_000, Utc::now());
    let runtime = runtime();
    let http = support::quick_http();
    let mut group = c.benchmark_group("renew_all");
    group.sample_size(10);
    group.bench_function("1000_mappings", |b| {
        b.iter(|| {
            let report = runtime
                .block_on(renew(
                    &mut vault,
                    &Selection::All,
                    &RenewOptions::default(),
                    &http,
                    &SystemClock,
                    &TokioSleeper,
                    |_| {},
                ))
                .expect("renew");
            assert_eq!(report.renewed(), 1_001);
        })
    });
    group.finish();
}

/// From the moment the provider approves to the moment the token is in the vault.
/// The flow polls every second, so the target is one interval plus 100 ms.
fn approval_to_saved(c: &mut Criterion) {
    let provider = Arc::new(TestProvider::microsoft());
    provider.set_interval(Some(1));
    let dir = support::temp_dir();
    let keys = keys();
    let mut vault = support::vault_with_mappings(&provider, dir.path(), &keys, 0, Utc::now());
    let runtime = runtime();
    let client = runtime.block_on(support::connect(support::microsoft_config(
        &provider,
        tokendesk::identity::Scopes::Ews,
    )));
    let target = TokenTarget::data_source("Exchange");
    let mut group = c.benchmark_group("approval_to_saved");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("interval_1s", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let polls_before = provider.requests_to(Endpoint::Token).len();
                let authorization = runtime
                    .block_on(client.start_device_authorization(Utc::now()))
                    .expect("device code");
                // Approve right after the first poll was answered "pending", as a
                // user who finishes the sign-in between two polls.
                provider.script_polls(&[PollAnswer::Pending]);
                let approver = {
                    let provider = provider.clone();
                    std::thread::spawn(move || {
                        while provider.requests_to(Endpoint::Token).len() <= polls_before {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        provider.approve();
                        Instant::now()
                    })
                };
                let tokens = runtime
                    .block_on(client.wait_for_device_approval(
                        &authorization,
                        &SystemClock,
                        &TokioSleeper,
                        &tokio_util::sync::CancellationToken::new(),
                        |_| {},
                    ))
                    .expect("approved");
                tokendesk::lifecycle::store_sign_in(&mut vault, &target, &tokens, Utc::now())
                    .expect("stored");
                let saved = Instant::now();
                let approved = approver.join().expect("approver");
                total += saved.duration_since(approved);
            }
            total
        })
    });
    group.finish();
}

/// The inherent window of the guarded redemption path: from the provider's answer in
/// hand to the rotated token durably in the vault (lock, re-read, compare-and-swap,
/// seal, write into the reserved space, fsync, rename, fsync of the folder). The
/// space reservation is made before the request, so it is set up outside the timing.
/// Beside it, the plain `Vault::update` write it replaces, in the same run.
fn grant_window(c: &mut Criterion) {
    use tokendesk::identity::{RefreshAnswer, TokenSet};
    use tokendesk::redemption::commit::{self, Settled};
    let mut group = c.benchmark_group("answer_to_durable_write");
    group.sample_size(30);
    for mappings in [0usize, 1_000] {
        let provider = TestProvider::microsoft();
        let dir = support::temp_dir();
        let keys = keys();
        let mut vault =
            support::vault_with_mappings(&provider, dir.path(), &keys, mappings, Utc::now());
        let target = TokenTarget::data_source("Exchange");
        let id = vault.data().token_id(&target).expect("id");
        let answer = || {
            let now = Utc::now();
            RefreshAnswer {
                rotated: Some(tokendesk::Secret::new(format!(
                    "rt-{}",
                    rand::random::<u64>()
                ))),
                result: Ok(TokenSet {
                    access_token: tokendesk::Secret::new("at-bench".repeat(200)),
                    access_expires_at: now + chrono::Duration::hours(1),
                    refresh_token: None,
                    scope: Some(support::EWS_GRANT.into()),
                    identity: None,
                    obtained_at: now,
                    refresh_expires_in: None,
                }),
            }
        };
        group.bench_function(format!("guarded_commit_{mappings}_mappings"), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let mut reservation = vault
                        .reserve_write(commit::GROWTH_PER_ANSWER)
                        .expect("reserve");
                    let revision = vault
                        .data()
                        .token_by_id(&id)
                        .expect("token")
                        .record()
                        .revision;
                    let settled = [Settled {
                        id,
                        target: target.clone(),
                        revision,
                        answer: answer(),
                        scope: None,
                    }];
                    let answered = Instant::now();
                    commit::store(&mut vault, &mut reservation, &settled, Utc::now())
                        .expect("stored");
                    total += answered.elapsed();
                }
                total
            })
        });
        group.bench_function(format!("plain_update_{mappings}_mappings"), |b| {
            b.iter(|| {
                vault
                    .update(|data| {
                        data.token_mut(&target)?.refresh_token = Some(tokendesk::Secret::new(
                            format!("rt-{}", rand::random::<u64>()),
                        ));
                        Ok(())
                    })
                    .expect("save")
            })
        });
    }
    group.finish();
}

/// `token` without a cached access token, in process: the guarded path (lock,
/// re-read, reservation, redeem, commit) against the bare refresh round trip it
/// wraps, on the loopback provider.
fn guarded_redemption(c: &mut Criterion) {
    use tokendesk::redemption::{CachePolicy, Request};
    let provider = TestProvider::microsoft();
    let dir = support::temp_dir();
    let keys = keys();
    let mut vault = support::vault_with_mappings(&provider, dir.path(), &keys, 0, Utc::now());
    let runtime = runtime();
    let client = runtime.block_on(support::connect(support::microsoft_config(
        &provider,
        tokendesk::identity::Scopes::Ews,
    )));
    let target = TokenTarget::data_source("Exchange");
    let mut group = c.benchmark_group("redemption");
    group.sample_size(30);
    group.bench_function("guarded_path", |b| {
        b.iter(|| {
            let request = Request {
                target: &target,
                scope: None,
                cache: CachePolicy::RenewedWhileWaiting,
                lock_wait: Duration::from_secs(5),
            };
            runtime
                .block_on(tokendesk::redemption::redeem(
                    &mut vault,
                    &client,
                    request,
                    &SystemClock,
                ))
                .expect("redeemed")
        })
    });
    group.bench_function("bare_refresh_round_trip", |b| {
        b.iter(|| {
            let current = provider
                .current_refresh_token_of("sales@contoso.com")
                .expect("grant");
            let answer = runtime.block_on(client.refresh(
                &tokendesk::Secret::new(current),
                None,
                Utc::now(),
            ));
            assert!(answer.result.is_ok());
        })
    });
    group.finish();
}

/// Importing a 200,000-row user directory from CSV: parsing with every check, and
/// adding the users to the directory (the part that was quadratic).
fn csv_import(c: &mut Criterion) {
    let mut csv = String::from("login;display name;e-mail\n");
    for n in 0..200_000 {
        csv.push_str(&format!("USER/{n:06};User {n};user{n}@contoso.com\n"));
    }
    let mut group = c.benchmark_group("csv_import");
    group.sample_size(10);
    group.bench_function("200k_rows_parse_and_add", |b| {
        b.iter(|| {
            let users = tokendesk::vault::csv_import::parse_users(csv.as_bytes()).expect("parse");
            let mut data = tokendesk::vault::VaultData::default();
            assert_eq!(data.import_app_users(users).expect("import"), 200_000);
        })
    });
    group.finish();
}

/// Building the HTTP client every redemption uses: tokendesk's (the platform trust
/// store read lazily, once per process) against reqwest's own rustls setup, which
/// reads the whole platform store for every client it builds.
fn http_client(c: &mut Criterion) {
    tokendesk::identity::http::install_crypto_provider();
    let mut group = c.benchmark_group("http_client");
    group.bench_function("tokendesk_lazy_trust_store", |b| {
        b.iter(|| HttpClient::new(&HttpOptions::default()).expect("client"))
    });
    group.bench_function("reqwest_platform_verifier_per_client", |b| {
        b.iter(|| reqwest::Client::builder().build().expect("reqwest client"))
    });
    group.finish();
}

/// One frame of the Additional users tab showing 10,000 mappings.
fn additional_users_frame(c: &mut Criterion) {
    let provider = TestProvider::microsoft();
    let dir = support::temp_dir();
    let keys = keys();
    let vault = support::vault_with_mappings(&provider, dir.path(), &keys, 10_000, Utc::now());
    let source = vault.data().data_sources[0].clone();
    drop(vault);
    let state = AppState::new(Options {
        passphrase_file: None,
        vault_dir: dir.path().to_path_buf(),
        keys: keys.clone(),
        locale: Locale::new(Lang::En),
        clock: Arc::new(SystemClock),
        sign_in_method: tokendesk::desk::sign_in::Method::DeviceCode,
    });
    let mut harness: Harness<'static, AppState> = Harness::builder()
        .with_size(egui::vec2(1200.0, 800.0))
        .build_ui_state(|ui, state: &mut AppState| state.ui(ui), state);
    for _ in 0..400 {
        harness.step();
        if harness.state().data().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(harness.state().data().is_some(), "the vault did not open");
    let mut dialog = EditDialog::edit(&source);
    dialog.tab = Tab::AdditionalUsers;
    harness.state_mut().editor = Some(dialog);
    for _ in 0..5 {
        harness.step();
    }
    let mut group = c.benchmark_group("additional_users_tab");
    group.sample_size(30);
    group.bench_function("frame_10k_rows", |b| b.iter(|| harness.step()));
    group.finish();
}

/// One frame of All mailboxes showing 10,000 tokens (the window detached from its
/// worker, so only drawing is measured), and beside it what every frame would cost
/// if the rows were evaluated, filtered and sorted anew instead of once per vault
/// generation and minute.
fn all_mailboxes_frame(c: &mut Criterion) {
    let provider = TestProvider::microsoft();
    let dir = support::temp_dir();
    let keys = keys();
    let vault = support::vault_with_mappings(&provider, dir.path(), &keys, 10_000, Utc::now());
    let data = vault.data().clone();
    drop(vault);
    let (state, end) = AppState::detached(Locale::new(Lang::En), Arc::new(SystemClock));
    end.report(tokendesk::ui::worker::Event::VaultOpened(Ok(data.clone())));
    let mut harness: Harness<'static, AppState> = Harness::builder()
        .with_size(egui::vec2(1400.0, 800.0))
        .build_ui_state(|ui, state: &mut AppState| state.ui(ui), state);
    harness.step();
    harness.state_mut().page = tokendesk::ui::app::Page::Mailboxes;
    for _ in 0..5 {
        harness.step();
    }
    let mut group = c.benchmark_group("all_mailboxes");
    group.sample_size(30);
    group.bench_function("frame_10k_tokens", |b| b.iter(|| harness.step()));
    group.bench_function("rows_recomputed_10k_tokens", |b| {
        b.iter(|| {
            let rows = tokendesk::desk::status::token_rows(&data, None, Utc::now());
            tokendesk::desk::status::mailboxes(rows, "", None)
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    vault,
    grant_window,
    guarded_redemption,
    csv_import,
    http_client,
    renew_all,
    approval_to_saved,
    additional_users_frame,
    all_mailboxes_frame
);
criterion_main!(benches);
