//! The vault shared by real processes: SIGKILL at random moments while saving, and
//! two processes updating at once through the lock. The children are this test
//! binary run again in a child mode.

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokendesk::Secret;
use tokendesk::identity::{Authority, Cloud, ProviderConfig, Scopes};
use tokendesk::vault::crypto::KdfParams;
use tokendesk::vault::ops::TokenTarget;
use tokendesk::vault::{AppUser, DataSource, KeySource, UserMapping, Vault};

const CHILD_ENV: &str = "TOKENDESK_TEST_CHILD";
const DIR_ENV: &str = "TOKENDESK_TEST_VAULT";
const USER_ENV: &str = "TOKENDESK_TEST_USER";
const PASSPHRASE: &str = "process test passphrase";

fn keys() -> KeySource {
    KeySource::native()
        .with_passphrase(Secret::new(PASSPHRASE))
        .with_kdf(KdfParams::with_cost(1024, 1, 1))
}

fn setup(dir: &Path) {
    let mut vault = Vault::create(dir, &keys(), false).unwrap();
    vault
        .update(|data| {
            let provider = ProviderConfig {
                authority: Authority::microsoft(Cloud::Global, "contoso.onmicrosoft.com"),
                client_id: "11111111-2222-3333-4444-555555555555".into(),
                client_secret: None,
                scopes: Scopes::Graph,
            };
            let mut source = DataSource::new("Exchange", provider, "sales@contoso.com");
            source.token.refresh_token = Some(Secret::new("rt-2"));
            source.token.obtained_at = Some(Utc::now());
            data.add_data_source(source)?;
            for login in ["a", "b"] {
                let user = AppUser {
                    login: login.into(),
                    display_name: login.into(),
                    email: String::new(),
                };
                data.add_mapping(
                    "Exchange",
                    UserMapping::new(user, format!("{login}@contoso.com")),
                )?;
            }
            Ok(())
        })
        .unwrap();
}

fn child(test: &str, dir: &Path, user: &str) -> Command {
    // Test names are paths inside the test binary: "vault_processes::child_counter".
    let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
    let test = format!("{module}::{test}");
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            &test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env(DIR_ENV, dir)
        .env(USER_ENV, user)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

/// Child: rotate the data-source token forever, printing each confirmed generation.
#[test]
#[ignore = "child process of kill_at_random_moments_never_tears_the_vault"]
fn child_rotating_saver() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let dir = std::path::PathBuf::from(std::env::var_os(DIR_ENV).unwrap());
    let mut vault = Vault::open(&dir, &keys()).unwrap();
    let target = TokenTarget::data_source("Exchange");
    loop {
        let generation = vault
            .update(|data| {
                let next = data.generation + 1;
                data.token_mut(&target)?.refresh_token = Some(Secret::new(format!("rt-{next}")));
                Ok(next)
            })
            .unwrap();
        println!("saved {generation}");
    }
}

#[test]
fn kill_at_random_moments_never_tears_the_vault() {
    let dir = support::temp_dir();
    setup(dir.path());
    let runs: usize = std::env::var("TOKENDESK_KILL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut last_generation = 0;
    let mut total_confirmed = 0;
    for run in 0..runs {
        let mut process = child("child_rotating_saver", dir.path(), "")
            .spawn()
            .unwrap();
        let stdout = process.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| {
                    line.strip_prefix("saved ")
                        .and_then(|g| g.parse::<u64>().ok())
                })
                .last()
        });
        std::thread::sleep(Duration::from_millis(5 + (rand::random::<u64>() % 40)));
        process.kill().unwrap();
        process.wait().unwrap();
        let confirmed = reader.join().unwrap();

        let vault = Vault::open(dir.path(), &keys())
            .unwrap_or_else(|e| panic!("run {run}: vault unreadable after kill: {e}"));
        let generation = vault.generation();
        let token = vault
            .data()
            .token(&TokenTarget::data_source("Exchange"))
            .unwrap();
        assert_eq!(
            token.refresh_token.as_ref().map(Secret::expose),
            Some(format!("rt-{generation}").as_str()),
            "run {run}: token and generation disagree"
        );
        if let Some(confirmed) = confirmed {
            assert!(
                generation >= confirmed,
                "run {run}: confirmed generation {confirmed} lost (file has {generation})"
            );
            total_confirmed += 1;
        }
        assert!(
            generation >= last_generation,
            "run {run}: went back from {last_generation} to {generation}"
        );
        assert_eq!(vault.data().data_sources[0].users.len(), 2);
        last_generation = generation;
    }
    assert!(
        total_confirmed > runs / 4,
        "too few children got to save before the kill ({total_confirmed})"
    );
    println!("{runs} kills, final generation {last_generation}");
}

/// Child: bump its own user's counter 100 times.
#[test]
#[ignore = "child process of two_processes_updating_different_users_lose_nothing"]
fn child_counter() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let dir = std::path::PathBuf::from(std::env::var_os(DIR_ENV).unwrap());
    let user = std::env::var(USER_ENV).unwrap();
    let mut vault = Vault::open(&dir, &keys()).unwrap();
    let target = TokenTarget::user("Exchange", &user);
    for _ in 0..100 {
        vault
            .update(|data| {
                let record = data.token_mut(&target)?;
                let count: u32 = record.scopes.as_deref().unwrap_or("0").parse().unwrap_or(0);
                record.scopes = Some((count + 1).to_string());
                Ok(())
            })
            .unwrap();
    }
    println!("done");
}

#[test]
fn two_processes_updating_different_users_lose_nothing() {
    let dir = support::temp_dir();
    setup(dir.path());
    let started = Instant::now();
    let children: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|user| child("child_counter", dir.path(), user).spawn().unwrap())
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        assert!(String::from_utf8_lossy(&output.stdout).contains("done"));
    }
    let vault = Vault::open(dir.path(), &keys()).unwrap();
    for user in ["a", "b"] {
        let record = vault
            .data()
            .token(&TokenTarget::user("Exchange", user))
            .unwrap();
        assert_eq!(
            record.scopes.as_deref(),
            Some("100"),
            "user {user} lost updates"
        );
    }
    assert_eq!(vault.generation(), 2 + 200);
    println!(
        "200 locked updates from two processes in {:?}",
        started.elapsed()
    );
}
