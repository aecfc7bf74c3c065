//! Whole-process timings, which criterion cannot take: `tokendesk token` with a
//! cached and with an expired access token, cold start to the first frame under X,
//! the release binary's size, and the idle memory of the CLI and the window.
//!
//! `cargo bench --bench process` measures (run it under `./scripts/test`'s session,
//! or anywhere with a Secret Service and a DISPLAY, for the keyring and window rows);
//! under `cargo test` it runs every measurement once. Results: docs/PERFORMANCE.md.

#[path = "../tests/integration/support/mod.rs"]
mod support;

#[path = "process_parts/gateway_held.rs"]
mod gateway_held;
#[path = "process_parts/gateway_memory.rs"]
mod gateway_memory;
#[path = "process_parts/gateway_process.rs"]
mod gateway_process;
#[path = "process_parts/mail_relay.rs"]
mod mail_relay;
#[path = "process_parts/pizauth.rs"]
mod pizauth;
#[path = "process_parts/shared_keepalive.rs"]
mod shared_keepalive;
#[path = "process_parts/shared_vault.rs"]
mod shared_vault;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use support::provider::TestProvider;
use tokendesk::Secret;
use tokendesk::vault::crypto::KdfParams;
use tokendesk::vault::{KeySource, Vault};

const PASSPHRASE: &str = "process benchmark passphrase";

struct Row {
    what: String,
    result: String,
    target: &'static str,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn tokendesk(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(support::bin());
    command
        .args(args)
        .env("TOKENDESK_HOME", home)
        .env("TOKENDESK_PASSPHRASE", PASSPHRASE)
        .env("TOKENDESK_LOG", "warn");
    command
}

/// Runs the command `runs` times; every run must succeed.
fn time_runs(runs: usize, mut command: impl FnMut() -> Command) -> Duration {
    let samples = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let output = command().output().expect("run tokendesk");
            let elapsed = started.elapsed();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            elapsed
        })
        .collect();
    median(samples)
}

/// The largest resident set of any child waited for so far, in KiB.
fn children_max_rss_kib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own and reads nothing else.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss
}

fn vm_rss_kib(pid: u32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let runs = if measuring { 21 } else { 1 };
    let mut rows = Vec::new();
    // `-- shared-keepalive` runs only the two gateways' keep-alive and their memory.
    if std::env::args().any(|a| a == "shared-keepalive") {
        shared_keepalive::rows(&mut rows, measuring);
        print_rows(rows);
        return;
    }
    // `-- relay` measures the mail relay alone.
    if std::env::args().any(|a| a == "relay") {
        mail_relay::rows(&mut rows, measuring);
        print_rows(rows);
        return;
    }
    // `-- shared` measures the shared vault alone (it needs scripts/with-postgres).
    if std::env::args().any(|a| a == "shared") {
        shared_vault::rows(&mut rows, measuring);
        shared_keepalive::rows(&mut rows, measuring);
        print_rows(rows);
        return;
    }

    let binary = support::bin();
    let size = std::fs::metadata(&binary).map_or(0, |m| m.len());
    rows.push(Row {
        what: format!(
            "binary size ({})",
            if measuring {
                "bench profile, as release: stripped, LTO"
            } else {
                "test profile"
            }
        ),
        result: format!("{:.1} MiB ({size} bytes)", size as f64 / 1024.0 / 1024.0),
        target: if measuring { "≤ 15 MB" } else { "-" },
    });
    // `-- lean` measures the binary and `tokendesk token` beside a gateway
    // against the floor alone.
    if std::env::args().any(|a| a == "lean") {
        gateway_rows(&TestProvider::microsoft(), &mut rows, runs, measuring);
        print_rows(rows);
        return;
    }

    // A vault like an admin's: the key in the Secret Service when one answers,
    // else behind a passphrase (then every start pays Argon2, as such vaults do).
    let provider = TestProvider::microsoft();
    let home = support::temp_dir();
    let native = KeySource::native();
    let (keys, key_kind) = match Vault::create(home.path(), &native, false) {
        Ok(_) => (native, "OS keyring"),
        Err(_) => {
            let _ = std::fs::remove_dir_all(home.path());
            std::fs::create_dir_all(home.path()).expect("vault dir");
            (
                KeySource::native()
                    .with_passphrase(Secret::new(PASSPHRASE))
                    .with_kdf(KdfParams::recommended()),
                "passphrase, Argon2id 64 MiB",
            )
        }
    };
    let _ = std::fs::remove_dir_all(home.path());
    std::fs::create_dir_all(home.path()).expect("vault dir");
    drop(support::vault_with_mappings(
        &provider,
        home.path(),
        &keys,
        100,
        Utc::now(),
    ));

    // Idle CLI memory first: getrusage reports the largest child so far.
    let status = tokendesk(home.path(), &["status"])
        .stdout(Stdio::null())
        .status()
        .expect("status");
    assert!(status.success() || status.code() == Some(2));
    rows.push(Row {
        what: "peak RSS of `tokendesk status` (100 mappings)".into(),
        result: format!("{:.1} MiB", children_max_rss_kib() as f64 / 1024.0),
        target: "-",
    });

    let token = |home: &Path| tokendesk(home, &["token", "--data-source", "Exchange"]);
    // The first call refreshes and caches; the rest reuse the cached token.
    time_runs(1, || token(home.path()));
    rows.push(Row {
        what: format!("`tokendesk token`, cached access token ({key_kind})"),
        result: ms(time_runs(runs, || token(home.path()))),
        target: "-",
    });
    // Access tokens that live a minute are inside the 5-minute margin: every call
    // redeems the refresh token and stores the rotated one.
    provider.set_access_lifetime(60);
    rows.push(Row {
        what: format!("`tokendesk token`, expired access token ({key_kind})"),
        result: ms(time_runs(runs, || token(home.path()))),
        target: "-",
    });

    // The same vault (its key in the OS keyring when one answers) with a gateway.
    provider.set_access_lifetime(3600);
    let (mut gateway, _) = gateway_process::start(home.path(), "3600");
    rows.push(Row {
        what: format!("`tokendesk token`, gateway serving the vault ({key_kind})"),
        result: ms(time_runs(runs, || token(home.path()))),
        target: "≤ 10 ms",
    });
    let _ = gateway.kill();
    let _ = gateway.wait();

    gateway_rows(&provider, &mut rows, runs, measuring);
    gateway_memory::rows(&mut rows, measuring);
    mail_relay::rows(&mut rows, measuring);
    shared_vault::rows(&mut rows, measuring);
    shared_keepalive::rows(&mut rows, measuring);

    match std::env::var("DISPLAY") {
        Ok(display) if !display.is_empty() => {
            let (start, rss) = cold_start(home.path(), if measuring { 5 } else { 1 });
            rows.push(Row {
                what: "cold start to first frame (Xvfb, llvmpipe)".into(),
                result: ms(start),
                target: "≤ 300 ms",
            });
            rows.push(Row {
                what: "idle RSS of the window".into(),
                result: format!("{:.1} MiB", rss as f64 / 1024.0),
                target: "-",
            });
        }
        _ => println!("process bench: no DISPLAY, so no window measurements (run under xvfb-run)"),
    }

    print_rows(rows);
}

fn print_rows(rows: Vec<Row>) {
    println!("| measurement | result | target |");
    println!("| --- | --- | --- |");
    for row in rows {
        println!("| {} | {} | {} |", row.what, row.result, row.target);
    }
}

/// Median time from spawn to "first frame drawn", and the window's RSS after 2 s idle.
fn cold_start(home: &Path, runs: usize) -> (Duration, i64) {
    window_start(home, runs, "first frame drawn")
}

/// Median time from spawn to the window's line `said` on stderr, and its RSS
/// after 2 s idle.
fn window_start(home: &Path, runs: usize, said: &'static str) -> (Duration, i64) {
    let mut samples = Vec::new();
    let mut rss = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = tokendesk(home, &[])
            .env("TOKENDESK_REPORT_FIRST_FRAME", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the window");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(said) {
                    let _ = tx.send(Instant::now());
                }
            }
        });
        let drawn = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the window drew no frame within 30 s");
        samples.push(drawn.duration_since(started));
        std::thread::sleep(Duration::from_secs(2));
        rss = vm_rss_kib(child.id()).unwrap_or(0);
        let _ = child.kill();
        let _ = child.wait();
    }
    (median(samples), rss)
}

/// Compiles benches/process_parts/floor_client.rs with rustc, optimised like a
/// release build, next to the other build outputs.
fn compile_floor_client() -> std::path::PathBuf {
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/process_parts/floor_client.rs");
    let out = support::bin()
        .parent()
        .expect("the build folder")
        .join("bench-floor-client");
    let built = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args([
            "--edition",
            "2024",
            "-C",
            "opt-level=3",
            "-C",
            "strip=symbols",
            "-o",
        ])
        .arg(&out)
        .arg(&source)
        .output()
        .expect("rustc");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    out
}

/// The gateway: `tokendesk token` on a passphrase vault with and without a gateway
/// serving it (the same run), `GET /v1/token` latency over a kept-alive connection,
/// sustained requests per second, and the gateway's memory afterwards.
fn gateway_rows(provider: &TestProvider, rows: &mut Vec<Row>, runs: usize, measuring: bool) {
    provider.set_access_lifetime(3600);
    let home = support::temp_dir();
    let keys = KeySource::native()
        .with_passphrase(Secret::new(PASSPHRASE))
        .with_kdf(KdfParams::recommended());
    drop(support::vault_with_mappings(
        provider,
        home.path(),
        &keys,
        100,
        Utc::now(),
    ));
    let token = || tokendesk(home.path(), &["token", "--data-source", "Exchange"]);
    time_runs(1, token);
    rows.push(Row {
        what: "`tokendesk token`, passphrase vault, no gateway".into(),
        result: ms(time_runs(runs, token)),
        target: "-",
    });
    let added = tokendesk(
        home.path(),
        &["consumer", "add", "Bench", "--data-source", "Exchange"],
    )
    .output()
    .expect("consumer add");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let key = String::from_utf8_lossy(&added.stdout).trim().to_string();
    let (mut gateway, base) = gateway_process::start(home.path(), "3600");
    let beside = time_runs(runs, token);
    rows.push(Row {
        what: "`tokendesk token`, passphrase vault, gateway serving it (local socket)".into(),
        result: ms(beside),
        target: "≤ 10 ms",
    });
    // The floor: the same round trip by a std-only Rust client, in the same run.
    let floor_client = compile_floor_client();
    let socket = home.path().join(tokendesk::gateway::SOCKET_FILE);
    let floor = time_runs(runs, || {
        let mut command = Command::new(&floor_client);
        command.arg(&socket).arg("Exchange");
        command
    });
    rows.push(Row {
        what: "the same round trip, a std-only Rust client (the floor)".into(),
        result: ms(floor),
        target: "-",
    });
    rows.push(Row {
        what: "`tokendesk token` beside a gateway / the floor".into(),
        result: format!("{:.2}×", beside.as_secs_f64() / floor.as_secs_f64()),
        target: "-",
    });
    // The issue's own comparison, when a pizauth binary is at hand.
    match pizauth::start(provider) {
        Some(pizauth) => {
            let show = time_runs(runs, || pizauth.show());
            rows.push(Row {
                what: "`pizauth show` beside its server (PIZAUTH), real token".into(),
                result: ms(show),
                target: "-",
            });
            rows.push(Row {
                what: "`tokendesk token` beside a gateway / `pizauth show`".into(),
                result: format!("{:.2}×", beside.as_secs_f64() / show.as_secs_f64()),
                target: "≤ 1.2×",
            });
        }
        None => rows.push(Row {
            what: "`pizauth show` (set PIZAUTH to a pizauth binary to compare)".into(),
            result: "not measured".into(),
            target: "-",
        }),
    }

    tokendesk::identity::http::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let url = format!("{base}/v1/token?data_source=Exchange");
    let (p50, p99) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut samples = Vec::new();
        let count = if measuring { 5000 } else { 50 };
        for i in 0..count + 100 {
            let started = Instant::now();
            let response = client
                .get(&url)
                .bearer_auth(&key)
                .send()
                .await
                .expect("answer");
            assert_eq!(response.status().as_u16(), 200);
            let _ = response.bytes().await;
            if i >= 100 {
                samples.push(started.elapsed());
            }
        }
        samples.sort();
        (
            samples[samples.len() / 2],
            samples[samples.len() * 99 / 100],
        )
    });
    rows.push(Row {
        what: "`GET /v1/token` from the cache, kept-alive connection: p50 / p99".into(),
        result: format!("{} / {}", ms(p50), ms(p99)),
        target: "≤ 1 ms / ≤ 5 ms",
    });
    let seconds = if measuring { 60 } else { 1 };
    let (done, errors) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(seconds);
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let client = client.clone();
                let url = url.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    let (mut done, mut errors) = (0u64, 0u64);
                    while Instant::now() < until {
                        match client.get(&url).bearer_auth(&key).send().await {
                            Ok(r) if r.status().is_success() => {
                                let _ = r.bytes().await;
                                done += 1;
                            }
                            _ => errors += 1,
                        }
                    }
                    (done, errors)
                })
            })
            .collect();
        let mut total = (0, 0);
        for worker in workers {
            let (done, errors) = worker.await.expect("worker");
            total.0 += done;
            total.1 += errors;
        }
        total
    });
    rows.push(Row {
        what: format!("`GET /v1/token`, 8 clients for {seconds} s (same 2 cores as the gateway)"),
        result: format!(
            "{:.0} requests/s, {errors} errors",
            done as f64 / seconds as f64
        ),
        target: "≥ 10,000/s, 0 errors (hand-outs counted per minute)",
    });
    rows.push(Row {
        what: "gateway RSS after these requests (100 mappings)".into(),
        result: format!(
            "{:.1} MiB",
            vm_rss_kib(gateway.id()).unwrap_or(0) as f64 / 1024.0
        ),
        target: "≤ 25 MB",
    });
    let (count, requests) = if measuring { (1000, 2000) } else { (100, 50) };
    let (held, p50, p99, rss) =
        gateway_held::measure(&runtime, &base, &key, gateway.id(), count, requests);
    assert_eq!(held, count, "every connection was held");
    rows.push(Row {
        what: format!(
            "`GET /v1/token` p50 / p99 while {held} idle or slowloris connections are held"
        ),
        result: format!("{} / {}", ms(p50), ms(p99)),
        target: "p99 ≤ 5 ms",
    });
    rows.push(Row {
        what: format!("gateway RSS with {held} connections held"),
        result: format!("{:.1} MiB", rss as f64 / 1024.0),
        target: "≤ 40 MB",
    });
    let _ = gateway.kill();
    let _ = gateway.wait();
}
