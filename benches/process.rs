//! Whole-process timings, which criterion cannot take: `tokendesk token` with a
//! cached and with an expired access token, cold start to the first frame under X,
//! the release binary's size, and the idle memory of the CLI and the window.
//!
//! `cargo bench --bench process` measures (run it under `./scripts/test`'s session,
//! or anywhere with a Secret Service and a DISPLAY, for the keyring and window rows);
//! under `cargo test` it runs every measurement once. Results: docs/PERFORMANCE.md.

#[path = "../tests/integration/support/mod.rs"]
mod support;

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

    let binary = support::bin();
    let size = std::fs::metadata(&binary).map_or(0, |m| m.len());
    rows.push(Row {
        what: format!(
            "binary size ({})",
            if measuring {
                "bench profile"
            } else {
                "test profile"
            }
        ),
        result: format!("{:.1} MiB", size as f64 / 1024.0 / 1024.0),
        target: "-",
    });

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

    println!("| measurement | result | target |");
    println!("| --- | --- | --- |");
    for row in rows {
        println!("| {} | {} | {} |", row.what, row.result, row.target);
    }
}

/// Median time from spawn to "first frame drawn", and the window's RSS after 2 s idle.
fn cold_start(home: &Path, runs: usize) -> (Duration, i64) {
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
                if line.contains("first frame drawn") {
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
