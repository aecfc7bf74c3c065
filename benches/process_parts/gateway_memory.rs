//! The gateway's memory with 1,000 mappings under keep-alive: every token due and
//! renewed by the gateway's own keep-alive, every user's token handed out once,
//! then a keep-alive run every second for a minute (60 runs: what 60 hours cost at
//! the shortest interval, 1 h), sampling the resident set every second.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::support::provider::{Endpoint, TestProvider};
use super::{PASSPHRASE, Row, tokendesk, vm_rss_kib};
use tokendesk::Secret;
use tokendesk::vault::KeySource;
use tokendesk::vault::crypto::KdfParams;

fn status_kib(pid: u32, field: &str) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

pub fn rows(rows: &mut Vec<Row>, measuring: bool) {
    let provider = TestProvider::microsoft();
    let (mappings, seconds) = if measuring { (1000, 60) } else { (50, 2) };
    let home = super::support::temp_dir();
    let keys = KeySource::native()
        .with_passphrase(Secret::new(PASSPHRASE))
        .with_kdf(KdfParams::recommended());
    // Last used 30 days ago: every token is due for the keep-alive.
    drop(super::support::vault_with_mappings(
        &provider,
        home.path(),
        &keys,
        mappings,
        Utc::now() - chrono::Duration::days(30),
    ));
    let added = tokendesk(
        home.path(),
        &[
            "consumer",
            "add",
            "Bench",
            "--data-source",
            "Exchange",
            "--all-users",
        ],
    )
    .output()
    .expect("consumer add");
    assert!(added.status.success());
    let key = String::from_utf8_lossy(&added.stdout).trim().to_string();

    let (mut gateway, base) = super::gateway_process::start(home.path(), "1");

    // The keep-alive renews every token: the mappings' and the data source's.
    let started = Instant::now();
    while provider.requests_to(Endpoint::Token).len() < mappings + 1 {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the keep-alive renewed only {} of {} tokens",
            provider.requests_to(Endpoint::Token).len(),
            mappings + 1
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let renewed_in = started.elapsed();

    tokendesk::identity::http::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for n in 0..mappings {
            let url = format!(
                "{base}/v1/token?data_source=Exchange&user={}",
                super::support::login(n)
            );
            let response = client
                .get(&url)
                .bearer_auth(&key)
                .send()
                .await
                .expect("answer");
            assert_eq!(response.status().as_u16(), 200, "{url}");
        }
    });

    let pid = gateway.id();
    let mut highest_sample = 0;
    for _ in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        highest_sample = highest_sample.max(vm_rss_kib(pid).unwrap_or(0));
    }
    let after = vm_rss_kib(pid).unwrap_or(0);
    let peak = status_kib(pid, "VmHWM:").unwrap_or(0);
    let mib = |kib: i64| format!("{:.1} MiB", kib as f64 / 1024.0);
    rows.push(Row {
        what: format!(
            "gateway RSS, {mappings} mappings: all renewed by its keep-alive ({:.1} s), each handed out, then {seconds} keep-alive runs 1 s apart — at the end / highest sample / peak (VmHWM)",
            renewed_in.as_secs_f64()
        ),
        result: format!("{} / {} / {}", mib(after), mib(highest_sample), mib(peak)),
        target: "≤ 25 MB",
    });
    let _ = gateway.kill();
    let _ = gateway.wait();
}
