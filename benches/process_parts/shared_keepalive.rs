//! The keep-alive of a shared vault split over two gateways on two homes: every
//! token due, both gateways' keep-alives running at once against the loopback
//! provider, which counts the redemptions (each token exactly once per run, no
//! refresh token sent twice); the wall time beside one gateway's on the same
//! tokens in a file vault; each gateway's resident set afterwards.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::support::provider::{Endpoint, TestProvider};
use super::{PASSPHRASE, Row, vm_rss_kib};
use tokendesk::Secret;
use tokendesk::vault::KeySource;
use tokendesk::vault::crypto::KdfParams;

fn keys() -> KeySource {
    KeySource::native()
        .with_passphrase(Secret::new(PASSPHRASE))
        .with_kdf(KdfParams::with_cost(64, 1, 1))
}

/// Waits until the provider has counted `tokens` redemptions; the wall time.
fn renewed(provider: &TestProvider, tokens: usize) -> Duration {
    let started = Instant::now();
    while provider.requests_to(Endpoint::Token).len() < tokens {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the keep-alive renewed only {} of {tokens} tokens",
            provider.requests_to(Endpoint::Token).len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}

pub fn rows(rows: &mut Vec<Row>, measuring: bool) {
    let Ok(server) = std::env::var("TOKENDESK_TEST_PG_URL") else {
        println!("shared keep-alive rows SKIPPED: no PostgreSQL (run under scripts/with-postgres)");
        return;
    };
    let mappings = if measuring { 10_000 } else { 200 };
    let tokens = mappings + 1;
    let due = Utc::now() - chrono::Duration::days(30);

    // The file vault: one gateway.
    let provider = TestProvider::microsoft();
    let file_home = super::support::temp_dir();
    drop(super::support::vault_with_mappings(
        &provider,
        file_home.path(),
        &keys(),
        mappings,
        due,
    ));
    let (mut gateway, _) = super::gateway_process::start(file_home.path(), "3600");
    let file_wall = renewed(&provider, tokens);
    let _ = gateway.kill();
    let _ = gateway.wait();

    // The shared vault: two gateways on two homes.
    let provider = TestProvider::microsoft();
    let home_a = super::support::temp_dir();
    drop(super::support::vault_with_mappings(
        &provider,
        home_a.path(),
        &keys(),
        mappings,
        due,
    ));
    let url = super::support::create_database(&server, "bench_keepalive");
    // The gateways find the password where libpq would, never in argv.
    if let Some(password) = url::Url::parse(&url)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
    {
        // SAFETY: set before any gateway starts, while this benchmark runs alone.
        unsafe { std::env::set_var("PGPASSWORD", password) };
    }
    tokendesk::desk::shared_vault::migrate_to_database(home_a.path(), &url, &keys(), Utc::now())
        .expect("migrate");
    let home_b = super::support::temp_dir();
    tokendesk::desk::shared_vault::join(home_b.path(), &url, &keys(), Utc::now()).expect("join");
    let (mut first, _) = super::gateway_process::start(home_a.path(), "3600");
    let (mut second, _) = super::gateway_process::start(home_b.path(), "3600");
    let shared_wall = renewed(&provider, tokens);
    // Nothing more comes: each token once.
    std::thread::sleep(Duration::from_secs(3));
    let redemptions = provider.requests_to(Endpoint::Token).len();
    let replays = provider.replays();
    let rss = |pid: u32| format!("{:.1} MiB", vm_rss_kib(pid).unwrap_or(0) as f64 / 1024.0);
    let (rss_a, rss_b) = (rss(first.id()), rss(second.id()));
    for gateway in [&mut first, &mut second] {
        let _ = gateway.kill();
        let _ = gateway.wait();
    }
    rows.push(Row {
        what: format!(
            "keep-alive of {tokens} due tokens: one gateway on a file vault / two gateways on two homes sharing the vault in PostgreSQL (wall time until the provider counted them all)"
        ),
        result: format!(
            "{:.1} s / {:.1} s; shared: {redemptions} redemptions, {replays} replayed",
            file_wall.as_secs_f64(),
            shared_wall.as_secs_f64()
        ),
        target: "every token exactly once per run; wall time reported",
    });
    // A gateway started afresh on the same vault, every token renewed: what it
    // holds to serve 10,000 mappings, without the burst of a whole run behind it.
    let (mut serving, _) = super::gateway_process::start(home_b.path(), "3600");
    std::thread::sleep(Duration::from_secs(3));
    let rss_serving = rss(serving.id());
    let _ = serving.kill();
    let _ = serving.wait();
    rows.push(Row {
        what: format!(
            "gateway RSS on the shared vault, {mappings} mappings, after that run (home A / home B) / a gateway started afterwards on the same vault, 3 s after its start"
        ),
        result: format!("{rss_a} / {rss_b} / {rss_serving}"),
        target: "≤ 40 MB",
    });
    // The window on home B: start to its first full frame with every token read.
    match std::env::var("DISPLAY") {
        Ok(display) if !display.is_empty() => {
            let (start, rss) = super::window_start(
                home_b.path(),
                if measuring { 3 } else { 1 },
                "first full frame drawn",
            );
            rows.push(Row {
                what: format!(
                    "the window on the shared vault, {mappings} mappings: start to its first full frame (records shown; Xvfb, llvmpipe) / RSS after 2 s"
                ),
                result: format!("{} / {:.1} MiB", super::ms(start), rss as f64 / 1024.0),
                target: "first full frame ≤ 1 s",
            });
        }
        _ => println!("shared vault: no DISPLAY, so no window measurement (run under xvfb-run)"),
    }
}
