//! The chaos run: `token`, `renew`, `test`, `clear` and `sign-in` processes on one
//! vault at once, against a provider that rotates refresh tokens and revokes the
//! whole grant when a used one comes back — with random SIGKILLs. No grant may be
//! lost except by a kill that landed between the provider's answer and the vault's
//! durable write (the inherent window, measured in docs/GRANT-SAFETY.md); the run
//! counts and prints those.

use crate::support;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support::desk;
use crate::support::oidc_config;
use crate::support::provider::{GrantState, PollAnswer, TestProvider};
use tokendesk::Secret;

const USERS: usize = 3;
/// A kill this long after the provider handed out a token counts as inside the
/// window (answer → durable rename, plus the time the kill signal takes to land).
const WINDOW_TOLERANCE: Duration = Duration::from_millis(250);
/// ... and so does one this long before it: the request was already on its way
/// (the provider's latency is 15 ms), and the provider rotates whether or not the
/// client is still there to read the answer.
const IN_FLIGHT_TOLERANCE: Duration = Duration::from_millis(100);

struct Running {
    child: Child,
    kill_at: Option<Instant>,
    killed_at: Option<Instant>,
}

fn random_target(rng: &mut StdRng) -> Vec<String> {
    let mut args = vec!["--data-source".to_string(), "A".to_string()];
    let n = rng.random_range(0..=USERS);
    if n < USERS {
        args.extend(["--user".to_string(), format!("USER/{n}")]);
    }
    args
}

pub(crate) fn random_command(rng: &mut StdRng) -> Vec<String> {
    let mut args: Vec<String> = match rng.random_range(0..10) {
        0..=4 => vec!["token".into()],
        5..=7 => vec!["test".into()],
        _ => {
            return vec![
                "renew".into(),
                "--all".into(),
                "--concurrency".into(),
                "2".into(),
            ];
        }
    };
    args.extend(random_target(rng));
    args
}

#[test]
fn chaos_of_processes_and_kills_loses_no_grant_outside_the_window() {
    let seed: u64 = std::env::var("TOKENDESK_CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    let rounds: usize = std::env::var("TOKENDESK_CHAOS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let mut rng = StdRng::seed_from_u64(seed);
    let home = support::temp_dir();
    let provider = TestProvider::oidc();
    provider.set_access_lifetime(1); // every `token` redeems
    provider.set_token_latency(Duration::from_millis(15));
    provider.set_interval(Some(1));
    desk::add_source(
        &provider,
        home.path(),
        "A",
        oidc_config(&provider),
        USERS,
        Utc::now(),
    );

    let (mut processes, mut kills, mut lost_in_window) = (0usize, 0usize, 0usize);
    let run_started = Instant::now();
    for round in 0..rounds {
        let mut running = Vec::new();
        let mut commands: Vec<Vec<String>> = (0..3).map(|_| random_command(&mut rng)).collect();
        if round % 8 == 5 {
            // Clear Token and a new sign-in for the data source's own account.
            let clear = desk::run(home.path(), &["clear", "--data-source", "A", "--yes"]);
            assert!(clear.status.success(), "{}", desk::text(&clear));
            provider.script_polls(&[PollAnswer::Approve]);
            commands.push(
                [
                    "sign-in",
                    "--data-source",
                    "A",
                    "--no-browser",
                    "--no-clipboard",
                ]
                .map(String::from)
                .to_vec(),
            );
        }
        for args in &commands {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let kill_at = rng
                .random_bool(0.5)
                .then(|| Instant::now() + Duration::from_millis(rng.random_range(0..150)));
            running.push(Running {
                child: desk::spawn(home.path(), &args),
                kill_at,
                killed_at: None,
            });
            processes += 1;
        }
        let round_started = Instant::now();
        loop {
            let mut alive = 0;
            for process in running.iter_mut() {
                if process.child.try_wait().ok().flatten().is_some() {
                    continue;
                }
                alive += 1;
                if let Some(at) = process.kill_at
                    && Instant::now() >= at
                    && process.killed_at.is_none()
                {
                    let _ = process.child.kill(); // SIGKILL
                    process.killed_at = Some(Instant::now());
                    kills += 1;
                }
            }
            if alive == 0 {
                break;
            }
            assert!(
                round_started.elapsed() < Duration::from_secs(60),
                "round {round} did not finish (seed {seed})"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let kill_times: Vec<Instant> = running.iter().filter_map(|p| p.killed_at).collect();
        lost_in_window += check_grants(&provider, home.path(), &kill_times, seed, round);
    }
    // A grant lost inside the window is replayed by the next process that uses it
    // (a provider with replay detection then revokes it): never more than those.
    assert!(
        provider.replays() <= lost_in_window && provider.revoked_grants() <= lost_in_window,
        "replays {} / revoked {} beyond the {lost_in_window} grants lost in the window (seed {seed})",
        provider.replays(),
        provider.revoked_grants()
    );
    eprintln!(
        "chaos (seed {seed}): {rounds} rounds, {processes} processes, {kills} SIGKILLs, {} token requests in {:.1} s; grants lost inside the answer-to-write window: {lost_in_window}; replays afterwards: {}",
        provider
            .requests_to(support::provider::Endpoint::Token)
            .len(),
        run_started.elapsed().as_secs_f64(),
        provider.replays()
    );
}

/// Every stored token must be its grant's newest. One that is not was lost, which
/// is allowed only when a kill landed just after the provider handed out the newer
/// one; such a grant is re-issued so the run goes on. Returns how many were lost.
pub(crate) fn check_grants(
    provider: &TestProvider,
    dir: &Path,
    kill_times: &[Instant],
    seed: u64,
    round: usize,
) -> usize {
    check_grants_within(provider, dir, kill_times, WINDOW_TOLERANCE, seed, round)
}

/// `check_grants` with a window of `window` after the answer (a shared vault's
/// commit crosses the network).
pub(crate) fn check_grants_within(
    provider: &TestProvider,
    dir: &Path,
    kill_times: &[Instant],
    window: Duration,
    seed: u64,
    round: usize,
) -> usize {
    let mut vault = tokendesk::desk::vault_file::open(dir, &desk::keys())
        .expect("the vault opens after every round");
    let mut lost = Vec::new();
    for owner in vault.data().each_token() {
        let record = owner.record();
        let Some(stored) = &record.refresh_token else {
            assert!(
                record.cleared.is_some(),
                "round {round}: {} has no token but was not cleared (seed {seed})",
                owner.target()
            );
            continue;
        };
        match provider.grant_state(stored.expose()) {
            GrantState::Current => {}
            // Rotated: the newest token never reached the vault. Revoked: and then
            // the stored one was sent again by a later process of the same round.
            GrantState::Rotated { current } | GrantState::Revoked { current } => {
                let issued = provider.issued_at(&current).expect("issued");
                let in_window = kill_times.iter().any(|kill| {
                    *kill + IN_FLIGHT_TOLERANCE >= issued
                        && kill.saturating_duration_since(issued) <= window
                });
                assert!(
                    in_window,
                    "round {round}: the grant of {} was lost without a kill inside the window; kills relative to its last answer (ms): {:?} (seed {seed})",
                    owner.target(),
                    kill_times
                        .iter()
                        .map(|k| if *k >= issued {
                            (*k - issued).as_millis() as i128
                        } else {
                            -((issued - *k).as_millis() as i128)
                        })
                        .collect::<Vec<_>>()
                );
                lost.push((owner.id(), owner.account().to_string()));
            }
            other => panic!(
                "round {round}: {} holds a token in state {other:?} (seed {seed})",
                owner.target()
            ),
        }
    }
    let count = lost.len();
    if count > 0 {
        vault
            .update(|data| {
                for (id, account) in &lost {
                    if let Some(record) = data.token_by_id_mut(id) {
                        let fresh = provider.issue_grant(account, desk::OIDC_GRANT, Utc::now());
                        record.refresh_token = Some(Secret::new(fresh));
                        record.revision += 1;
                    }
                }
                Ok(())
            })
            .expect("re-issue lost grants");
    }
    count
}
