//! `vault rotate-key` on a shared vault in a real PostgreSQL: every row sealed
//! again with a new data key while another machine keeps redeeming through the
//! guarded path; running machines take the new key by themselves, a machine that
//! was off needs the passphrase once, and a run killed at any moment is finished
//! by the next one while the other home's gateway keeps serving.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokendesk::Secret;
use tokendesk::desk::model::{SystemClock, TokenTarget};
use tokendesk::store::postgres::PostgresStore;
use tokendesk::vault::{Backend, KeySource, Keyring, Vault};

use crate::support::desk;
use crate::support::provider::TestProvider;
use crate::support::sql;
use crate::vault_postgres::{fresh_database, shared_vault};

type Store = Arc<keyring_core::CredentialStore>;

fn new_keyring() -> Store {
    keyring_core::mock::Store::new().expect("mock keyring")
}

fn keyring_only(keyring: &Store) -> KeySource {
    KeySource::with_keyring(Keyring::with_store(keyring.clone()))
}

fn with_passphrase(keyring: &Store) -> KeySource {
    keyring_only(keyring)
        .with_passphrase(Secret::new(desk::PASSPHRASE))
        .with_kdf(tokendesk::vault::crypto::KdfParams::with_cost(64, 1, 1))
}

/// A machine that joined the shared vault with the passphrase: its keyring now
/// holds the key, and it opens with the keyring alone.
fn joined(url: &str) -> (Store, tempfile::TempDir, PostgresStore) {
    let keyring = new_keyring();
    let home = crate::support::temp_dir();
    let (store, _) =
        PostgresStore::open(home.path(), url, &with_passphrase(&keyring)).expect("join");
    assert!(
        store
            .remember_machine(&with_passphrase(&keyring))
            .expect("keyring")
    );
    let (store, _) = PostgresStore::open(home.path(), url, &keyring_only(&keyring))
        .expect("the keyring alone opens it");
    (keyring, home, store)
}

fn sealed_rows(url: &str) -> BTreeMap<String, Vec<u8>> {
    sql(
        url,
        "SELECT kind || '/' || id, sealed FROM tokendesk_records WHERE sealed IS NOT NULL",
    )
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[test]
fn a_new_data_key_reseals_every_row_while_another_machine_keeps_redeeming() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let users = 1200;
    let (_vault_a, store_a, _home_a, _) = shared_vault(&provider, &url, users);
    let (_keyring_b, _home_b, store_b) = joined(&url);
    let store_b = Arc::new(store_b);
    let vault_b = Vault::with_backend(store_b.clone()).expect("b reads");
    let (keyring_c, home_c, store_c) = joined(&url);
    // Before it went off, machine C could not reach the database with a rotated
    // token: it waits in C's folder, sealed with the old key.
    let (_, data) = PostgresStore::open(home_c.path(), &url, &keyring_only(&keyring_c)).expect("C");
    let source_token = data.token_id(&TokenTarget::data_source("A")).expect("id");
    let based_on = data
        .token(&TokenTarget::data_source("A"))
        .expect("token")
        .revision;
    let rescued = provider.issue_grant(desk::ACCOUNT, desk::OIDC_GRANT, Utc::now());
    store_c
        .write_rescue(
            &mut tokendesk::vault::reserve::WriteReservation::transactional(),
            &[tokendesk::vault::rescue::RescueEntry {
                id: source_token,
                based_on,
                refresh_token: Secret::new(rescued.clone()),
                redeemed_at: Utc::now(),
            }],
            Utc::now(),
        )
        .expect("rescue file");
    drop(store_c); // machine C is off while the key changes
    let before = sealed_rows(&url);

    // Machine B redeems token after token (none has an access token yet) and
    // watches the vault's generation as a gateway does.
    let stop = Arc::new(AtomicBool::new(false));
    let redeemed = Arc::new(AtomicUsize::new(0));
    let busy = {
        let (stop, redeemed, store_b) = (stop.clone(), redeemed.clone(), store_b.clone());
        let mut handle = vault_b.another_handle();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < users {
                let target = TokenTarget::user("A", format!("USER/{n}"));
                runtime
                    .block_on(tokendesk::desk::tokens::access_token(
                        &mut handle,
                        &target,
                        None,
                        &SystemClock,
                    ))
                    .unwrap_or_else(|e| panic!("USER/{n} during the rotation: {e}"));
                redeemed.fetch_add(1, Ordering::SeqCst);
                store_b.newest_generation().expect("generation");
                n += 1;
            }
        })
    };
    crate::support::desk::wait_until("B redeeming", Duration::from_secs(10), || {
        redeemed.load(Ordering::SeqCst) >= 20
    });
    let mut steps = Vec::new();
    let rotated = store_a
        .rotate_key(
            &with_passphrase(&new_keyring()),
            Duration::from_secs(10),
            &mut |step| steps.push(step),
        )
        .expect("rotate");
    let during = redeemed.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    busy.join().expect("B's redemptions");
    assert!(
        redeemed.load(Ordering::SeqCst) > 20,
        "B kept redeeming during the rotation ({during} when it ended)"
    );
    assert_eq!(rotated.version, 2);
    assert!(!rotated.resumed);
    assert!(rotated.resealed as usize >= users, "{rotated:?} {steps:?}");
    assert_eq!(rotated.unreadable, 0);
    assert_eq!(rotated.dropped.len(), 1, "{rotated:?}");
    assert!(
        rotated.dropped[0].contains(&home_c.path().display().to_string()),
        "machine C is named: {rotated:?}"
    );

    // Every row sealed with the new key, none with its old bytes; only the new
    // version's wrappings are left (and the old key under the new one).
    let old_rows = sql(
        &url,
        "SELECT count(*) FROM tokendesk_records WHERE key_version <> 2",
    );
    assert_eq!(old_rows[0].get::<_, i64>(0), 0);
    let after = sealed_rows(&url);
    // (B's redemptions may add a row, such as the provider's discovery cache.)
    assert!(after.len() >= before.len());
    for (row, bytes) in &before {
        assert_ne!(after.get(row), Some(bytes), "{row} still has its old seal");
    }
    let mut wrappings: Vec<(String, i32)> = sql(
        &url,
        "SELECT CASE WHEN holder LIKE 'machine:%' THEN 'machine' ELSE holder END, key_version FROM tokendesk_keys",
    )
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    wrappings.sort();
    assert_eq!(
        wrappings,
        [
            ("machine".to_string(), 1),
            ("machine".to_string(), 2),
            ("machine".to_string(), 2),
            ("passphrase".to_string(), 2),
            ("retired".to_string(), 2)
        ],
        "C's old machine wrapping (it was off), A's and B's new ones, the passphrase's and the retired key"
    );

    // No grant lost: every token as stored is the provider's current one, and
    // the provider never saw a replay.
    assert_eq!(provider.replays(), 0);
    let mut fresh = vault_b.another_handle();
    fresh.reload().expect("B reads everything");
    provider.assert_every_grant_current(fresh.data());
    assert!(store_b.refused_records().is_empty());

    // Machine C was off: its keyring alone no longer opens the vault; the
    // passphrase once does, and wraps the new key for its keyring again.
    let refused = PostgresStore::open(home_c.path(), &url, &keyring_only(&keyring_c))
        .err()
        .expect("C's old key opens nothing");
    assert!(refused.to_string().contains("rotate-key"), "{refused}");
    PostgresStore::open(home_c.path(), &url, &with_passphrase(&keyring_c)).expect("passphrase");
    let (_, data) = PostgresStore::open(home_c.path(), &url, &keyring_only(&keyring_c))
        .expect("C's keyring opens it again");
    assert_eq!(data.each_token().count(), users + 1);
    // The rescue file sealed with the old key still opens: the token is there.
    let token = data
        .token(&TokenTarget::data_source("A"))
        .expect("token")
        .refresh_token
        .clone()
        .expect("rt");
    assert_eq!(token.expose(), rescued, "the rescued rotation is not lost");
}

#[test]
fn a_wrong_passphrase_rotates_nothing_and_a_file_vault_is_told_why() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (_vault, store, home, _) = shared_vault(&provider, &url, 2);
    let before = sealed_rows(&url);
    let wrong = keyring_only(&new_keyring())
        .with_passphrase(Secret::new("not the passphrase"))
        .with_kdf(tokendesk::vault::crypto::KdfParams::with_cost(64, 1, 1));
    let refused = store
        .rotate_key(&wrong, Duration::ZERO, &mut |_| {})
        .expect_err("refused");
    assert!(refused.to_string().contains("passphrase"), "{refused}");
    assert_eq!(sealed_rows(&url), before, "nothing was sealed again");
    let versions = sql(&url, "SELECT key_version FROM tokendesk_vault");
    assert_eq!(versions[0].get::<_, i32>(0), 1);

    let out = desk::run(home.path(), &["vault", "rotate-key"]);
    assert!(!out.status.success());
    assert!(
        desk::text(&out).contains("keeps its vault in a file"),
        "{}",
        desk::text(&out)
    );
}

/// `vault rotate-key` killed with SIGKILL at different moments on home A, while
/// home B's gateway keeps handing out tokens; the next run finishes the rotation.
#[cfg(unix)]
#[test]
fn a_rotation_killed_at_any_moment_is_finished_by_the_next_run_while_a_gateway_serves() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let home_a = crate::support::temp_dir();
    desk::add_source(
        &provider,
        home_a.path(),
        "A",
        crate::support::oidc_config(&provider),
        3000,
        Utc::now(),
    );
    let (without, password) = crate::vault_postgres::split_password(&url);
    let run =
        |home: &std::path::Path, args: &[&str]| crate::vault_postgres::cli(home, &password, args);
    run(home_a.path(), &["vault", "migrate", "--to", &without]);
    let home_b = crate::support::temp_dir();
    run(home_b.path(), &["vault", "join", &without]);
    let key = run(
        home_a.path(),
        &["consumer", "add", "Portal", "--data-source", "A"],
    );
    let mut gateway = crate::vault_postgres::gateway_on(home_b.path(), &password);
    let runtime = crate::support::gateway::runtime();
    let client = reqwest::Client::new();
    let token_url = format!("{}/v1/token?data_source=A", gateway.base);
    let served = |when: &str| {
        let (status, body) = runtime.block_on(crate::support::gateway::get(
            &client,
            &token_url,
            Some(key.trim()),
        ));
        assert_eq!(status, 200, "{when}: {body}");
    };
    served("before");
    for delay in [40, 120, 250, 500] {
        let mut child = desk::command(home_a.path(), &["vault", "rotate-key", "--wait", "2"])
            .env("PGPASSWORD", &password)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("rotate-key");
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        served(&format!("after a kill at {delay} ms"));
        run(home_a.path(), &["status", "--json"]);
    }
    let last = run(home_a.path(), &["vault", "rotate-key", "--wait", "5"]);
    assert!(last.contains("data key is now version"), "{last}");
    served("after");
    let state = sql(
        &url,
        "SELECT v.key_version,
                (SELECT count(*) FROM tokendesk_records r WHERE r.key_version <> v.key_version),
                (SELECT count(*) FROM tokendesk_keys k WHERE k.holder = 'previous'
                   OR (k.key_version <> v.key_version AND k.holder IN ('passphrase')))
         FROM tokendesk_vault v",
    );
    let (version, old_rows, old_keys): (i32, i64, i64) =
        (state[0].get(0), state[0].get(1), state[0].get(2));
    assert!(version >= 2, "rotated at least once");
    assert_eq!((old_rows, old_keys), (0, 0), "the rotation finished");
    // Both homes still open the vault, and every token is the provider's current one.
    let status = run(home_b.path(), &["status", "--json"]);
    assert!(status.contains("USER/2999"), "{status}");
    let stopped = crate::support::gateway::terminate(&mut gateway, Duration::from_secs(5));
    assert!(stopped.success(), "{stopped:?}");
    let shared = tokendesk::desk::vault_file::open(home_a.path(), &desk::keys()).expect("shared");
    provider.assert_every_grant_current(shared.data());
    let audit = std::fs::read_to_string(home_a.path().join("audit.jsonl")).unwrap_or_default();
    assert!(audit.contains("rotate_key"), "{audit}");
}
