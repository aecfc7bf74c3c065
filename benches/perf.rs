//! In-process benchmarks (criterion): the vault with 10,000 mappings, the Argon2 cost,
//! `renew --all` for 1,000 mappings and the approval-to-saved latency against the
//! loopback provider, and one frame of the Additional users tab with 10,000 rows.
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

/// One frame of the Additional users tab showing 10,000 mappings.
fn additional_users_frame(c: &mut Criterion) {
    let provider = TestProvider::microsoft();
    let dir = support::temp_dir();
    let keys = keys();
    let vault = support::vault_with_mappings(&provider, dir.path(), &keys, 10_000, Utc::now());
    let source = vault.data().data_sources[0].clone();
    drop(vault);
    let state = AppState::new(Options {
        vault_dir: dir.path().to_path_buf(),
        keys: keys.clone(),
        locale: Locale::new(Lang::En),
        clock: Arc::new(SystemClock),
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

criterion_group!(
    benches,
    vault,
    renew_all,
    approval_to_saved,
    additional_users_frame
);
criterion_main!(benches);
