//! The shared vault in PostgreSQL (the server of scripts/with-postgres; skipped
//! without one): one rotated token stored through the guarded path (lock, re-read, reserve,
//! store; the provider's answer made here) with 100 and with
//! 10,000 tokens in it, and reading the whole vault as `tokendesk status` does.

use std::time::{Duration, Instant};

use chrono::Utc;
use tokendesk::Secret;
use tokendesk::desk::model::TokenTarget;
use tokendesk::identity::{RefreshAnswer, TokenSet};
use tokendesk::redemption::commit::{self, Applied, Settled};
use tokendesk::store::postgres::PostgresStore;
use tokendesk::vault::crypto::KdfParams;
use tokendesk::vault::{KeySource, Vault};

/// (p50 of storing one rotated token, p50 of a full read, median `tokendesk
/// status` process, one `vault rotate-key`) with `mappings` users.
fn measure(
    server: &str,
    mappings: usize,
    writes: usize,
) -> (Duration, Duration, Duration, Duration) {
    let provider = super::support::provider::TestProvider::microsoft();
    let home = super::support::temp_dir();
    let keys = KeySource::native()
        .with_passphrase(Secret::new(super::PASSPHRASE))
        .with_kdf(KdfParams::with_cost(64, 1, 1));
    let file =
        super::support::vault_with_mappings(&provider, home.path(), &keys, mappings, Utc::now());
    let url = super::support::create_database(server, "bench");
    let shared_home = super::support::temp_dir();
    let (store, _) = PostgresStore::create(shared_home.path(), &url, &keys).expect("create");
    let mut vault = Vault::with_backend(std::sync::Arc::new(store)).expect("open");
    vault.import(file.data().clone()).expect("move in");
    let target = TokenTarget::user("Exchange", super::support::login(mappings / 2));
    let id = vault.data().token_id(&target).expect("id");
    let mut samples = Vec::new();
    for n in 0..writes {
        let started = Instant::now();
        // The guarded path's steps around the provider's answer: lock that token,
        // re-read it, prove the write can be taken, store the rotation (CAS).
        let _lock = vault.try_lock_token(&id).expect("lock");
        vault.reload_tokens(&[id]).expect("re-read");
        let revision = vault
            .data()
            .token_by_id(&id)
            .expect("record")
            .record()
            .revision;
        let mut reservation = vault.reserve_write(4096).expect("reserve");
        let settled = [Settled {
            id,
            target: target.clone(),
            revision,
            answer: RefreshAnswer {
                rotated: Some(Secret::new(format!("rotated-{n}"))),
                result: Ok(TokenSet {
                    access_token: Secret::new(format!("access-{n}")),
                    access_expires_at: Utc::now() + chrono::Duration::hours(1),
                    refresh_token: Some(Secret::new(format!("rotated-{n}"))),
                    scope: None,
                    identity: None,
                    obtained_at: Utc::now(),
                    refresh_expires_in: None,
                }),
            },
            scope: None,
        }];
        let applied =
            commit::store(&mut vault, &mut reservation, &settled, Utc::now()).expect("store");
        assert_eq!(applied, vec![Applied::Stored { restored: false }]);
        samples.push(started.elapsed());
    }
    samples.sort();
    let write = samples[samples.len() / 2];
    // Another machine's first full read (status, the window's open).
    let mut reads = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let (_other, data) =
            PostgresStore::open(super::support::temp_dir().path(), &url, &keys).expect("open");
        assert_eq!(data.data_sources[0].users.len(), mappings);
        reads.push(started.elapsed());
    }
    reads.sort();
    // `tokendesk status` on a machine joined to it: the whole process.
    let joined = super::support::temp_dir();
    tokendesk::desk::shared_vault::join(joined.path(), &url, &keys, Utc::now()).expect("join");
    let status = super::time_runs(3, || super::tokendesk(joined.path(), &["status", "--json"]));
    // A new data key: every row sealed again (no other machine to wait for).
    let (rotating, _) =
        PostgresStore::open(super::support::temp_dir().path(), &url, &keys).expect("open");
    let started = Instant::now();
    let rotated = rotating
        .rotate_key(&keys, Duration::ZERO, &mut |_| {})
        .expect("rotate");
    let rotation = started.elapsed();
    assert!(rotated.resealed as usize > mappings);
    (write, reads[1], status, rotation)
}

pub fn rows(rows: &mut Vec<super::Row>, measuring: bool) {
    let Ok(server) = std::env::var("TOKENDESK_TEST_PG_URL") else {
        println!("shared vault rows SKIPPED: no PostgreSQL (run under scripts/with-postgres)");
        return;
    };
    let (small, large, writes) = if measuring {
        (100, 10_000, 51)
    } else {
        (100, 1_000, 3)
    };
    let (write_small, read_small, status_small, rotate_small) = measure(&server, small, writes);
    let (write_large, read_large, status_large, rotate_large) = measure(&server, large, writes);
    rows.push(super::Row {
        what: format!("shared vault: one rotated token through the guarded path, {small} / {large} mappings (p50)"),
        result: format!("{} / {}", super::ms(write_small), super::ms(write_large)),
        target: "p50 ≤ 3 ms, within 25 % of each other",
    });
    rows.push(super::Row {
        what: format!(
            "shared vault: another machine opens and reads it, {small} / {large} mappings"
        ),
        result: format!("{} / {}", super::ms(read_small), super::ms(read_large)),
        target: "-",
    });
    rows.push(super::Row {
        what: format!("shared vault: `tokendesk status --json` on a joined machine, {small} / {large} mappings"),
        result: format!("{} / {}", super::ms(status_small), super::ms(status_large)),
        target: "`status` with 10,000 tokens ≤ 150 ms",
    });
    rows.push(super::Row {
        what: format!("shared vault: `vault rotate-key` (every row sealed again in batches of 500), {small} / {large} mappings"),
        result: format!("{} / {}", super::ms(rotate_small), super::ms(rotate_large)),
        target: "-",
    });
}
