//! The shared vault in a real PostgreSQL (the throwaway server of
//! scripts/with-postgres): records as sealed rows that a DBA's pg_dump cannot
//! read, one written row per rotated token, one redemption per token across two
//! machines' stores against the replay-detecting provider, a tampered or swapped
//! row named and never served, a schema from the future refused before any write,
//! and a lease that lapses when its holder is gone.

use std::sync::Arc;

use chrono::Utc;
use tokendesk::Secret;
use tokendesk::desk::model::{SystemClock, TokenTarget};
use tokendesk::store::postgres::PostgresStore;
use tokendesk::vault::{Backend, KeySource, Keyring, Vault, VaultData};

use crate::support::desk;
use crate::support::provider::TestProvider;
use crate::support::sql;

/// A database of its own for one test, on the test server; `None` (skipped) when
/// no server runs, unless TOKENDESK_REQUIRE_POSTGRES says one must.
pub(crate) fn fresh_database() -> Option<String> {
    let Ok(url) = std::env::var("TOKENDESK_TEST_PG_URL") else {
        assert!(
            std::env::var_os("TOKENDESK_REQUIRE_POSTGRES").is_none(),
            "TOKENDESK_REQUIRE_POSTGRES is set but no test server runs (scripts/with-postgres)"
        );
        eprintln!("SKIPPED: no PostgreSQL test server (run under scripts/with-postgres)");
        return None;
    };
    Some(crate::support::create_database(&url, "td"))
}

/// One machine: its own keyring, the vault's passphrase.
pub(crate) fn machine() -> KeySource {
    let store: Arc<keyring_core::CredentialStore> =
        keyring_core::mock::Store::new().expect("mock keyring");
    KeySource::with_keyring(Keyring::with_store(store))
        .with_passphrase(Secret::new(desk::PASSPHRASE))
        .with_kdf(tokendesk::vault::crypto::KdfParams::with_cost(64, 1, 1))
}

/// A file vault with data source A (and `users` mapped users) moved into the
/// database: the shared vault's first machine.
pub(crate) fn shared_vault(
    provider: &TestProvider,
    url: &str,
    users: usize,
) -> (Vault, Arc<PostgresStore>, tempfile::TempDir, VaultData) {
    let home = crate::support::temp_dir();
    desk::add_source(
        provider,
        home.path(),
        "A",
        crate::support::oidc_config(provider),
        users,
        Utc::now(),
    );
    let file = Vault::open(home.path(), &desk::keys()).expect("file vault");
    let moved = file.data().clone();
    let (store, _) = PostgresStore::create(home.path(), url, &machine()).expect("create");
    let store = Arc::new(store);
    let mut vault = Vault::with_backend(store.clone()).expect("read");
    vault
        .update(|data| {
            let generation = data.generation;
            *data = moved.clone();
            data.generation = generation;
            Ok(())
        })
        .expect("move in");
    (vault, store, home, moved)
}

#[test]
fn a_shared_vault_round_trips_and_pg_dump_shows_no_secret() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (vault, _store, _home, moved) = shared_vault(&provider, &url, 3);
    // Another machine joins with the passphrase (its keyring knows nothing yet).
    let other_home = crate::support::temp_dir();
    let (other, read) = PostgresStore::open(other_home.path(), &url, &machine()).expect("join");
    assert_eq!(read.data_sources, moved.data_sources);
    assert_eq!(
        other.describe().split('/').next_back(),
        url.rsplit('/').next()
    );
    assert_eq!(vault.data().data_sources, moved.data_sources);

    let pg_dump = std::env::var("TOKENDESK_TEST_PG_BIN")
        .map(|bin| format!("{bin}/pg_dump"))
        .unwrap_or_else(|_| "pg_dump".into());
    let dump = std::process::Command::new(pg_dump)
        .arg("--data-only")
        .arg(&url)
        .output()
        .expect("pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("tokendesk_records"), "the rows are there");
    for owner in moved.each_token() {
        let token = owner.record().refresh_token.as_ref().expect("a token");
        assert!(
            !dump.contains(token.expose()),
            "a refresh token in the dump"
        );
    }
    for plain in ["sales@contoso.com", "USER/0", desk::PASSPHRASE, "\"A\""] {
        assert!(!dump.contains(plain), "{plain} in the dump");
    }
}

#[test]
fn one_rotated_token_writes_one_row_however_many_there_are() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (mut vault, _store, _home, _) = shared_vault(&provider, &url, 50);
    let target = TokenTarget::user("A", "USER/7");
    vault
        .update(|data| {
            let record = data.token_mut(&target)?;
            record.refresh_token = Some(Secret::new("rotated"));
            record.revision += 1;
            Ok(())
        })
        .expect("store");
    let generation = vault.generation() as i64;
    let rows = sql(
        &url,
        &format!("SELECT kind FROM tokendesk_records WHERE changed_in = {generation}"),
    );
    let kinds: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(kinds, vec!["token".to_string()]);
}

/// A gateway's handles (its snapshot, its keep-alive, its watcher) read one copy
/// of the records from the store: before, each read joined every record anew
/// from a second, plaintext copy of every row that the store kept.
#[test]
fn every_reader_of_one_store_shares_one_copy_of_the_records() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (mut first, _store, _home, _) = shared_vault(&provider, &url, 20);
    let other_home = crate::support::temp_dir();
    let (other, _) = PostgresStore::open(other_home.path(), &url, &machine()).expect("join");
    let other: Arc<dyn Backend> = Arc::new(other);
    let mut a = Vault::with_backend(other.clone()).expect("read");
    let mut b = Vault::with_backend(other).expect("read");
    let mapping = |vault: &Vault, n: usize| vault.data().data_sources[0].users[n].clone();
    for n in 0..20 {
        assert!(Arc::ptr_eq(&mapping(&a, n), &mapping(&b, n)), "mapping {n}");
    }

    // Another machine rotates USER/7: both take it, and the rest stays shared.
    let before: Vec<_> = (0..20).map(|n| mapping(&a, n)).collect();
    let target = TokenTarget::user("A", "USER/7");
    first
        .update(|data| {
            let record = data.token_mut(&target)?;
            record.refresh_token = Some(Secret::new("rotated elsewhere"));
            record.revision += 1;
            Ok(())
        })
        .expect("store");
    a.reload().expect("reload");
    b.reload().expect("reload");
    for vault in [&a, &b] {
        let token = vault.data().token(&target).expect("token");
        assert_eq!(
            token.refresh_token.as_ref().map(Secret::expose),
            Some("rotated elsewhere")
        );
    }
    // USER/7 too: both took the store's copy, so a rotation is held once.
    for n in 0..20 {
        assert!(Arc::ptr_eq(&mapping(&a, n), &mapping(&b, n)), "mapping {n}");
    }
    // The catch-up put the one rotated row in place instead of reading every row
    // again: the other mappings are the very ones held before.
    for (n, held) in before.iter().enumerate() {
        assert_eq!(
            Arc::ptr_eq(held, &mapping(&a, n)),
            n != 7,
            "mapping {n} after another machine's rotation"
        );
    }

    // A rotation this process stores itself, record by record (the guarded
    // path's write): the writer and the other reader share it as well.
    let id = a.data().token_id(&target).expect("id");
    let mut reservation = a.reserve_write(4096).expect("reserve");
    a.update_tokens_reserved(&mut reservation, &[id], |records| {
        let record = records.get_mut(&id).expect("record");
        record.refresh_token = Some(Secret::new("rotated here"));
        record.revision += 1;
        Ok(())
    })
    .expect("store");
    b.reload().expect("reload");
    for n in 0..20 {
        assert!(Arc::ptr_eq(&mapping(&a, n), &mapping(&b, n)), "mapping {n}");
    }
    let token = b.data().token(&target).expect("token");
    assert_eq!(
        token.refresh_token.as_ref().map(Secret::expose),
        Some("rotated here")
    );

    // A rotation stored here while another machine's write is not read yet (two
    // gateways renewing at once): the store's records are not at the writer's
    // generation, yet the writer takes the store's copy of the mapping it wrote
    // instead of keeping one of its own.
    first
        .update(|data| {
            let record = data.token_mut(&TokenTarget::user("A", "USER/9"))?;
            record.refresh_token = Some(Secret::new("elsewhere again"));
            record.revision += 1;
            Ok(())
        })
        .expect("store");
    let id = a
        .data()
        .token_id(&TokenTarget::user("A", "USER/3"))
        .expect("id");
    let mut reservation = a.reserve_write(4096).expect("reserve");
    a.update_tokens_reserved(&mut reservation, &[id], |records| {
        let record = records.get_mut(&id).expect("record");
        record.refresh_token = Some(Secret::new("rotated here too"));
        record.revision += 1;
        Ok(())
    })
    .expect("store");
    b.reload().expect("reload");
    for n in 0..20 {
        assert!(
            Arc::ptr_eq(&mapping(&a, n), &mapping(&b, n)) || n == 9,
            "mapping {n}"
        );
    }
    assert_eq!(
        b.data()
            .token(&TokenTarget::user("A", "USER/9"))
            .expect("token")
            .refresh_token
            .as_ref()
            .map(Secret::expose),
        Some("elsewhere again")
    );
}

#[test]
fn the_guarded_path_reads_and_writes_only_the_redeemed_tokens_row() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (mut first, _store, _home, _) = shared_vault(&provider, &url, 20);
    let other_home = crate::support::temp_dir();
    let (other, _) = PostgresStore::open(other_home.path(), &url, &machine()).expect("join");
    let mut second = Vault::with_backend(Arc::new(other)).expect("read");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let redeem = |vault: &mut Vault, target: &TokenTarget| {
        runtime
            .block_on(tokendesk::desk::tokens::access_token(
                vault,
                target,
                None,
                &SystemClock,
            ))
            .map(|_| ())
    };
    // The first redemption also remembers the provider's endpoints (a whole write).
    redeem(&mut second, &TokenTarget::user("A", "USER/2")).expect("a token");
    // The first machine changes something else: the second's copy is now behind.
    first
        .update(|data| {
            data.settings.reminder_days = 21;
            Ok(())
        })
        .expect("settings");
    let target = TokenTarget::user("A", "USER/3");
    redeem(&mut second, &target).expect("a token");
    assert_eq!(
        provider
            .requests_to(crate::support::provider::Endpoint::Token)
            .len(),
        2
    );
    // One row written for the redemption, and only the token's.
    let newest: i64 = sql(&url, "SELECT generation FROM tokendesk_vault")[0].get(0);
    let rows = sql(
        &url,
        &format!("SELECT kind FROM tokendesk_records WHERE changed_in = {newest}"),
    );
    let kinds: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(kinds, vec!["token".to_string()]);
    // The second machine has the rotated token, but does not claim to have read
    // the rest: the first machine's change arrives with the next full read.
    let stored = second.data().token(&target).expect("token").clone();
    assert_eq!(
        provider.grant_state(stored.refresh_token.as_ref().expect("rt").expose()),
        crate::support::provider::GrantState::Current
    );
    assert_ne!(second.data().settings.reminder_days, 21);
    assert!(second.generation() < newest as u64);
    assert!(
        second.reload().expect("read"),
        "the full read finds the change"
    );
    assert_eq!(second.data().settings.reminder_days, 21);
    assert_eq!(second.generation(), newest as u64);
    // A machine that knows nothing of a user added elsewhere still finds its token.
    let added = first
        .update(|data| {
            let mut mapping = (*data.data_sources[0].users[0]).clone();
            mapping.id = uuid::Uuid::new_v4();
            mapping.app_user.login = "USER/NEW".into();
            data.data_sources[0].push_user(mapping);
            Ok(())
        })
        .map(|_| TokenTarget::user("A", "USER/NEW"))
        .expect("add a user");
    let mut stale = second.another_handle();
    let found = redeem(&mut stale, &added);
    // The copied mapping shares USER/1's grant: it is redeemed (or served) all the same.
    assert!(found.is_ok(), "{found:?}");
    assert_eq!(provider.replays(), 0);
}

#[test]
fn two_machines_redeem_one_expiring_token_once() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (vault, _store, _home, _) = shared_vault(&provider, &url, 2);
    let other_home = crate::support::temp_dir();
    let (other, _) = PostgresStore::open(other_home.path(), &url, &machine()).expect("join");
    let other = Vault::with_backend(Arc::new(other)).expect("read");
    // The token has no access token yet; the fresh one lives an hour, so every
    // caller after the first finds it once the first has stored it.
    provider.set_access_lifetime(3600);
    provider.set_token_latency(std::time::Duration::from_millis(200));
    let target = TokenTarget::user("A", "USER/1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let handed = runtime.block_on(async {
        let mut asks = Vec::new();
        for n in 0..10 {
            let mut handle = if n % 2 == 0 {
                vault.another_handle()
            } else {
                other.another_handle()
            };
            let target = target.clone();
            asks.push(tokio::spawn(async move {
                tokendesk::desk::tokens::access_token(&mut handle, &target, None, &SystemClock)
                    .await
                    .map(|(token, _)| token.expose().to_string())
            }));
        }
        let mut handed = std::collections::HashSet::new();
        for ask in asks {
            handed.insert(ask.await.expect("task").expect("a token"));
        }
        handed
    });
    assert_eq!(handed.len(), 1, "every caller got the one fresh token");
    assert_eq!(
        provider
            .requests_to(crate::support::provider::Endpoint::Token)
            .len(),
        1,
        "one redemption across both machines"
    );
    assert_eq!(provider.replays(), 0);
    let mut reread = other.another_handle();
    reread.reload().expect("read");
    let stored_now = reread.data().token(&target).expect("token");
    assert_eq!(
        provider.grant_state(stored_now.refresh_token.as_ref().expect("rt").expose()),
        crate::support::provider::GrantState::Current
    );
}

#[test]
fn a_tampered_or_swapped_row_is_named_and_never_served() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (_vault, _store, _home, moved) = shared_vault(&provider, &url, 2);
    let source = moved.data_sources[0].id.simple().to_string();
    let user0 = format!("{source}.{}", moved.data_sources[0].users[0].id.simple());
    let user1 = format!("{source}.{}", moved.data_sources[0].users[1].id.simple());
    // A DBA copies user 1's sealed token over user 0's.
    sql(
        &url,
        &format!(
            "UPDATE tokendesk_records SET sealed = (SELECT sealed FROM tokendesk_records WHERE kind = 'token' AND id = '{user1}'), revision = (SELECT revision FROM tokendesk_records WHERE kind = 'token' AND id = '{user1}') WHERE kind = 'token' AND id = '{user0}'"
        ),
    );
    let home = crate::support::temp_dir();
    let (store, data) = PostgresStore::open(home.path(), &url, &machine()).expect("open");
    let refused = store.refused_records();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains(&user0), "{refused:?}");
    let users = &data.data_sources[0].users;
    assert!(users[0].token.refresh_token.is_none(), "never served");
    assert_eq!(
        users[1].token.refresh_token, moved.data_sources[0].users[1].token.refresh_token,
        "the rest keep working"
    );
    // Records edited by hand: the data source's revision moved on, one byte of
    // user 1's sealed token changed. Each is named and left out.
    sql(
        &url,
        &format!(
            "UPDATE tokendesk_records SET revision = revision + 1 WHERE kind = 'source' AND id = '{source}'"
        ),
    );
    sql(
        &url,
        &format!(
            "UPDATE tokendesk_records SET sealed = overlay(sealed placing '\\x00'::bytea from 30 for 1) WHERE kind = 'token' AND id = '{user1}'"
        ),
    );
    let other = crate::support::temp_dir();
    let (store, data) = PostgresStore::open(other.path(), &url, &machine()).expect("open");
    let refused = store.refused_records();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(
        refused.iter().any(|r| r.contains("source record"))
            && refused.iter().any(|r| r.contains(&user1)),
        "{refused:?}"
    );
    assert!(
        data.data_sources.is_empty(),
        "a data source that does not open is not served"
    );
}

#[test]
fn a_schema_from_the_future_is_refused_before_any_write() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (vault, _store, _home, _) = shared_vault(&provider, &url, 0);
    let generation = vault.generation() as i64;
    sql(
        &url,
        "INSERT INTO tokendesk_schema (version, name, applied_by) VALUES (99, 'from the future', 'tokendesk 9')",
    );
    let home = crate::support::temp_dir();
    let refused = PostgresStore::open(home.path(), &url, &machine())
        .err()
        .expect("refused");
    assert!(
        refused.to_string().contains("schema version 99"),
        "{refused}"
    );
    let rows = sql(&url, "SELECT generation FROM tokendesk_vault");
    assert_eq!(rows[0].get::<_, i64>(0), generation, "nothing was written");
}

#[test]
fn a_token_lease_excludes_other_machines_and_lapses_with_its_holder() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (vault, store, _home, _) = shared_vault(&provider, &url, 0);
    let id = vault
        .data()
        .token_id(&TokenTarget::data_source("A"))
        .expect("id");
    let home = crate::support::temp_dir();
    let (other, _) = PostgresStore::open(home.path(), &url, &machine()).expect("open");
    let held = store.try_lock_token(&id).expect("first");
    assert!(
        matches!(other.try_lock_token(&id), Err(tokendesk::redemption::LockFailure::Busy { holder }) if holder.contains("pid")),
        "the other machine waits and is told who holds it"
    );
    // The holder dies without letting go: its lease runs out.
    std::mem::forget(held);
    sql(
        &url,
        "UPDATE tokendesk_locks SET expires_at = now() - interval '1 second'",
    );
    let taken = other.try_lock_token(&id).expect("lapsed lease taken over");
    drop(taken);
    assert!(store.try_lock_token(&id).is_ok(), "released by its holder");
}

/// The admin's path, as real processes: a file vault moved into the database
/// (twice: the second run finds nothing left to do), a second home joined with
/// the passphrase, and that home's gateway serving what the first home changes —
/// a new consumer and a new sign-in — within a second.
#[cfg(unix)]
#[test]
fn a_vault_migrated_and_joined_is_served_by_the_other_homes_gateway_within_a_second() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let home_a = crate::support::temp_dir();
    desk::add_source(
        &provider,
        home_a.path(),
        "A",
        crate::support::oidc_config(&provider),
        1,
        Utc::now(),
    );
    // The password travels as PGPASSWORD, never in argv.
    let (without, password) = split_password(&url);
    let run = |home: &std::path::Path, args: &[&str]| cli(home, &password, args);
    let said = run(home_a.path(), &["vault", "migrate", "--to", &without]);
    assert!(said.contains("now shared"), "{said}");
    assert!(home_a.path().join("vault.tdv.migrated").exists());
    assert!(!home_a.path().join("vault.tdv").exists());
    let pointer =
        std::fs::read_to_string(home_a.path().join("shared-vault.json")).expect("pointer");
    assert!(
        !pointer.contains(&format!(":{password}@")) && pointer.contains("postgresql://"),
        "no password in the pointer: {pointer}"
    );
    let again = run(home_a.path(), &["vault", "migrate", "--to", &without]);
    assert!(again.contains("now shared"), "{again}");
    // A run cut off after the rows were written, before the folder pointed to
    // them: the next run finds the vault in the database and finishes the move.
    std::fs::remove_file(home_a.path().join("shared-vault.json")).expect("pointer");
    std::fs::rename(
        home_a.path().join("vault.tdv.migrated"),
        home_a.path().join("vault.tdv"),
    )
    .expect("file back");
    let resumed = run(home_a.path(), &["vault", "migrate", "--to", &without]);
    assert!(resumed.contains("an earlier run was finished"), "{resumed}");
    assert!(
        resumed.contains("1 data source(s), 2 token(s)"),
        "{resumed}"
    );

    let home_b = crate::support::temp_dir();
    run(home_b.path(), &["vault", "join", &without]);
    let status = run(home_b.path(), &["status", "--json"]);
    assert!(status.contains("USER/0"), "{status}");

    let mut gateway = gateway_on(home_b.path(), &password);
    let key = run(
        home_a.path(),
        &["consumer", "add", "Portal", "--data-source", "A"],
    )
    .trim()
    .to_string();
    let runtime = crate::support::gateway::runtime();
    let client = reqwest::Client::new();
    let url_token = format!("{}/v1/token?data_source=A", gateway.base);
    let since = std::time::Instant::now();
    let first = loop {
        let (status, body) = runtime.block_on(crate::support::gateway::get(
            &client,
            &url_token,
            Some(&key),
        ));
        if status == 200 {
            break body;
        }
        assert!(
            since.elapsed() < std::time::Duration::from_secs(1),
            "{status} {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // A new sign-in on home A (its tokens straight into the shared vault).
    let keys_a = machine();
    let mut vault_a = tokendesk::desk::vault_file::open(home_a.path(), &keys_a).expect("shared");
    let fresh = tokendesk::identity::TokenSet {
        access_token: Secret::new("at-signed-in-on-a"),
        refresh_token: Some(Secret::new(provider.issue_grant(
            desk::ACCOUNT,
            desk::OIDC_GRANT,
            Utc::now(),
        ))),
        access_expires_at: Utc::now() + chrono::Duration::hours(1),
        obtained_at: Utc::now(),
        scope: None,
        identity: None,
        refresh_expires_in: None,
    };
    tokendesk::desk::tokens::store_sign_in(
        &mut vault_a,
        &TokenTarget::data_source("A"),
        &fresh,
        tokendesk::desk::tokens::Acceptance::AnyAccount,
        Utc::now(),
    )
    .expect("sign-in stored");
    let since = std::time::Instant::now();
    loop {
        let (_, body) = runtime.block_on(crate::support::gateway::get(
            &client,
            &url_token,
            Some(&key),
        ));
        if body["access_token"] == "at-signed-in-on-a" {
            break;
        }
        assert_ne!(body["access_token"], serde_json::Value::Null, "{body}");
        assert!(
            since.elapsed() < std::time::Duration::from_secs(1),
            "{body} (first {first})"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // One audit log across machines: home A's sign-in (this process's spool)
    // and home B's gateway renewal (shipped while it runs) are both in the
    // database, each with its machine's spool and its face.
    vault_a.ship_audit().expect("ship");
    let audited = || -> Vec<(String, String, String)> {
        sql(
            &url,
            "SELECT spool, coalesce(entry->>'face', ''), entry->>'operation' FROM tokendesk_audit",
        )
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
    };
    let in_home = |rows: &[(String, String, String)], home: &std::path::Path, face: &str| {
        rows.iter()
            .any(|(spool, f, _)| spool.ends_with(&home.display().to_string()) && f == face)
    };
    crate::support::desk::wait_until(
        "the gateway's audit entries in the database",
        std::time::Duration::from_secs(5),
        || in_home(&audited(), home_b.path(), "gateway"),
    );
    let rows = audited();
    assert!(in_home(&rows, home_a.path(), "cli"), "{rows:?}");
    let stopped =
        crate::support::gateway::terminate(&mut gateway, std::time::Duration::from_secs(5));
    let log = std::fs::read_to_string(home_b.path().join("gateway.log")).unwrap_or_default();
    assert!(stopped.success(), "{stopped:?}: {log}");

    // Home B moves back into a file of its own, with the records as they are now.
    run(home_b.path(), &["vault", "migrate", "--to", "file"]);
    assert!(!home_b.path().join("shared-vault.json").exists());
    let file = Vault::open(home_b.path(), &machine()).expect("a file vault again");
    assert_eq!(file.shared_location(), None);
    assert!(file.data().consumers.iter().any(|c| c.name == "Portal"));
    let token = file
        .data()
        .token(&TokenTarget::data_source("A"))
        .expect("token")
        .clone();
    assert_eq!(
        token
            .access
            .map(|a| a.token.expose().to_string())
            .as_deref(),
        Some("at-signed-in-on-a")
    );
}

/// `tokendesk ARGS` in `home` with the database password in PGPASSWORD (never in
/// argv); must succeed; returns its output, trimmed.
pub(crate) fn cli(home: &std::path::Path, password: &str, args: &[&str]) -> String {
    let out = desk::command(home, args)
        .env("PGPASSWORD", password)
        .output()
        .expect("tokendesk");
    assert!(out.status.success(), "{args:?}: {}", desk::text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A gateway on the shared vault that `home` points to.
#[cfg(unix)]
pub(crate) fn gateway_on(
    home: &std::path::Path,
    password: &str,
) -> crate::support::gateway::Served {
    crate::support::gateway::serve_configured(
        home,
        &["--listen", "127.0.0.1:0", "--keepalive-every", "3600"],
        |command| {
            command.env("PGPASSWORD", password);
        },
    )
}

/// `url` without its password, and the password.
pub(crate) fn split_password(url: &str) -> (String, String) {
    let parsed = url::Url::parse(url).expect("url");
    let password = parsed.password().unwrap_or_default().to_string();
    let mut without = parsed.clone();
    without.set_password(None).expect("no password");
    (without.to_string(), password)
}

#[test]
fn a_wrong_password_is_said_by_the_server_never_shown_and_nothing_is_made() {
    if fresh_database().is_none() {
        return;
    }
    let Some(server) = crate::support::PrivateServer::start() else {
        return;
    };
    server.require_password("tokendesk", "Right-Pass-7");
    let home = crate::support::temp_dir();
    desk::add_source(
        &TestProvider::oidc(),
        home.path(),
        "A",
        crate::support::oidc_config(&TestProvider::oidc()),
        1,
        Utc::now(),
    );
    let url = format!(
        "postgresql://tokendesk@127.0.0.1:{}/tokendesk",
        server.port()
    );
    // The password as an admin gives it: PGPASSWORD, never in argv.
    let out = desk::command(home.path(), &["vault", "migrate", "--to", &url])
        .env("PGPASSWORD", "Wr0ng-Secret-42")
        .output()
        .expect("tokendesk");
    let said = desk::text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("password authentication failed") && said.contains("127.0.0.1"),
        "{said}"
    );
    assert!(
        !said.contains("Wr0ng-Secret-42"),
        "the password is never shown: {said}"
    );
    assert!(
        home.path().join("vault.tdv").exists(),
        "the file vault stays"
    );
    assert!(!home.path().join("shared-vault.json").exists());
    // The right one moves it in.
    let out = desk::command(home.path(), &["vault", "migrate", "--to", &url])
        .env("PGPASSWORD", "Right-Pass-7")
        .output()
        .expect("tokendesk");
    assert!(out.status.success(), "{}", desk::text(&out));
}

#[test]
fn a_wrong_password_an_unreachable_host_and_a_server_without_tls_are_said_clearly() {
    let Some(url) = fresh_database() else { return };
    let home = crate::support::temp_dir();
    let (without, _) = split_password(&url);
    let mut wrong = url::Url::parse(&without).expect("url");
    wrong
        .set_password(Some("not-the-password"))
        .expect("password");
    // The test server trusts loopback logins, so a wrong password shows as a
    // wrong database instead; both must be said, naming the host, never a password.
    let mut no_such = wrong.clone();
    no_such.set_path("/no_such_database");
    let said = PostgresStore::open(home.path(), no_such.as_str(), &machine())
        .err()
        .expect("refused")
        .to_string();
    assert!(
        said.contains("127.0.0.1") && said.contains("no_such_database"),
        "{said}"
    );
    assert!(!said.contains("not-the-password"), "{said}");

    let unreachable = "postgresql://tokendesk@127.0.0.1:1/tokendesk?connect_timeout=2";
    let said = PostgresStore::open(home.path(), unreachable, &machine())
        .err()
        .expect("refused")
        .to_string();
    assert!(
        said.contains("Could not reach") && said.contains("127.0.0.1:1"),
        "{said}"
    );

    let tls = format!("{without}?sslmode=require");
    let said = PostgresStore::open(home.path(), &tls, &machine())
        .err()
        .expect("refused")
        .to_string();
    assert!(said.contains("Could not reach"), "{said}");
    assert!(
        said.to_lowercase().contains("tls") || said.to_lowercase().contains("ssl"),
        "{said}"
    );
}

#[test]
fn a_lock_holder_whose_session_is_killed_mid_redemption_stores_its_token_without_replay() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (vault, _store, _home, _) = shared_vault(&provider, &url, 1);
    provider.set_access_lifetime(3600);
    provider.set_token_latency(std::time::Duration::from_millis(800));
    let target = TokenTarget::user("A", "USER/0");
    let database = url.rsplit('/').next().expect("db").to_string();
    let admin = std::env::var("TOKENDESK_TEST_PG_URL").expect("server");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let result = runtime.block_on(async {
        let mut handle = vault.another_handle();
        let target = target.clone();
        let redeeming = tokio::spawn(async move {
            tokendesk::desk::tokens::access_token(&mut handle, &target, None, &SystemClock).await
        });
        // While the provider answers, every session of this database is killed.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let killed = tokio::task::spawn_blocking(move || {
            sql(
                &admin,
                &format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
                ),
            )
            .len()
        })
        .await
        .expect("kill");
        assert!(killed >= 1, "the store's session was killed");
        redeeming.await.expect("task")
    });
    // The redemption either finished or named what happened; the grant is intact.
    let mut reread = vault.another_handle();
    reread.reload().expect("the store reconnects");
    let stored = reread.data().token(&target).expect("token").clone();
    assert_eq!(provider.replays(), 0, "{result:?}");
    assert_eq!(
        provider.grant_state(stored.refresh_token.as_ref().expect("rt").expose()),
        crate::support::provider::GrantState::Current,
        "the rotated token is stored: {result:?}"
    );
}

#[test]
fn the_database_crashing_during_a_keep_alive_run_loses_no_grant() {
    if fresh_database().is_none() {
        return;
    }
    let Some(server) = crate::support::PrivateServer::start() else {
        return;
    };
    let url = server.url("tokendesk");
    let provider = TestProvider::oidc();
    let (mut vault, _store, home, _) = shared_vault(&provider, &url, 30);
    provider.set_token_latency(std::time::Duration::from_millis(100));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let renew = |vault: &mut Vault| {
        runtime.block_on(tokendesk::desk::tokens::renew(
            vault,
            &tokendesk::desk::tokens::Selection::All,
            &tokendesk::desk::tokens::RenewOptions::default(),
            &SystemClock,
            &tokendesk::desk::model::TokioSleeper,
            |_| {},
        ))
    };
    // The database crashes while the run redeems, and comes back a second later.
    let crash = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            server.pg_ctl(&["stop", "-m", "immediate"]);
            std::thread::sleep(std::time::Duration::from_secs(1));
            server.pg_ctl(&["start", "-w"]);
        });
        renew(&mut vault)
    });
    assert!(
        crash
            .as_ref()
            .map_or(true, |report| report.counts().renewed < 31),
        "the crash fell inside the run: {crash:?}"
    );
    // Whatever the run said, the next one (database back) finishes the job.
    let again = renew(&mut vault).expect("renew after the restart");
    assert_eq!(
        provider.replays(),
        0,
        "first run: {crash:?}; second: {again:?}"
    );
    assert_eq!(provider.revoked_grants(), 0);
    let mut reread = vault.another_handle();
    reread.reload().expect("read");
    provider.assert_every_grant_current(reread.data());
    drop(home);
}

/// Fifty requests for one token that has no access token yet, spread over two
/// gateways on two homes of one shared vault: one redemption at the provider.
#[cfg(unix)]
#[test]
fn fifty_requests_over_two_gateways_on_two_homes_make_one_redemption() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    provider.set_token_latency(std::time::Duration::from_millis(300));
    let (without, password) = split_password(&url);
    let run = |home: &std::path::Path, args: &[&str]| cli(home, &password, args);
    let home_a = crate::support::temp_dir();
    desk::add_source(
        &provider,
        home_a.path(),
        "A",
        crate::support::oidc_config(&provider),
        0,
        Utc::now(),
    );
    run(home_a.path(), &["vault", "migrate", "--to", &without]);
    let home_b = crate::support::temp_dir();
    run(home_b.path(), &["vault", "join", &without]);
    let key = run(
        home_a.path(),
        &["consumer", "add", "Portal", "--data-source", "A"],
    );
    let (a, b) = (
        gateway_on(home_a.path(), &password),
        gateway_on(home_b.path(), &password),
    );
    let runtime = crate::support::gateway::runtime();
    let handed = runtime.block_on(async {
        let client = reqwest::Client::new();
        let asks: Vec<_> = (0..50)
            .map(|n| {
                let base = if n % 2 == 0 { &a.base } else { &b.base };
                let url = format!("{base}/v1/token?data_source=A");
                let (client, key) = (client.clone(), key.clone());
                tokio::spawn(async move {
                    crate::support::gateway::get(&client, &url, Some(&key)).await
                })
            })
            .collect();
        let mut handed = std::collections::HashSet::new();
        for ask in asks {
            let (status, body) = ask.await.expect("task");
            assert_eq!(status, 200, "{body}");
            handed.insert(body["access_token"].as_str().expect("token").to_string());
        }
        handed
    });
    assert_eq!(handed.len(), 1, "one fresh token for all");
    assert_eq!(
        provider
            .requests_to(crate::support::provider::Endpoint::Token)
            .len(),
        1,
        "one redemption across both gateways"
    );
    assert_eq!(provider.replays(), 0);
}

#[test]
fn a_keep_alive_run_takes_another_machines_changes_between_its_groups() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    // More tokens than one group (512): the run stores them in two.
    let (mut vault, _store, _home, _) = shared_vault(&provider, &url, 520);
    let other_home = crate::support::temp_dir();
    let (other, _) = PostgresStore::open(other_home.path(), &url, &machine()).expect("join");
    let mut other = Vault::with_backend(Arc::new(other)).expect("read");
    let target = TokenTarget::user("A", "USER/0");
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 24).expect("date");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut groups = 0;
    let mut seen_between = None;
    let report = runtime.block_on(tokendesk::desk::tokens::renew_publishing(
        &mut vault,
        &tokendesk::desk::tokens::Selection::All,
        &tokendesk::desk::tokens::RenewOptions::default(),
        &SystemClock,
        &tokendesk::desk::model::TokioSleeper,
        |stored| {
            groups += 1;
            if groups == 1 {
                // Another machine changes a token of the first group.
                other.reload().expect("reload");
                other
                    .update(|data| {
                        let record = data.token_mut(&target)?;
                        record.reminder_shown_on = Some(day);
                        record.revision += 1;
                        Ok(())
                    })
                    .expect("the other machine stores");
            } else if groups == 2 {
                seen_between = Some(
                    stored
                        .data()
                        .token(&target)
                        .expect("token")
                        .reminder_shown_on,
                );
            }
        },
    ));
    let report = report.expect("the run");
    assert_eq!(report.counts().renewed, 521, "{:?}", report.counts());
    assert_eq!(groups, 2);
    assert_eq!(
        seen_between,
        Some(Some(day)),
        "the run's vault after its second group holds the other machine's change"
    );
    assert_eq!(provider.replays(), 0);
}
