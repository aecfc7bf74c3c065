//! A failover of the shared vault's database: a primary and a streaming standby
//! on loopback with synchronous replication (an acknowledged rotation is on the
//! standby). The primary is killed in the middle of a keep-alive run and the
//! standby promoted; the vault, whose connection string names both hosts with
//! `target_session_attrs=read-write`, carries on against the new primary within
//! 30 s, and the replay-detecting provider never sees an old refresh token.

use std::time::{Duration, Instant};

use tokendesk::desk::model::SystemClock;
use tokendesk::vault::Vault;

use crate::support::provider::TestProvider;
use crate::support::{PrivateServer, sql};
use crate::vault_postgres::{fresh_database, shared_vault};

#[test]
fn a_failover_to_the_synchronous_standby_loses_no_grant() {
    if fresh_database().is_none() {
        return;
    }
    let Some(primary) = PrivateServer::start() else {
        return;
    };
    let standby = primary.standby("standby1");
    let admin = primary.url("postgres");
    sql(
        &admin,
        "ALTER SYSTEM SET synchronous_standby_names = 'standby1'",
    );
    sql(&admin, "SELECT pg_reload_conf()");
    crate::support::desk::wait_until(
        "the standby replicates synchronously",
        Duration::from_secs(20),
        || {
            let rows = sql(
                &admin,
                "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
            );
            rows[0].get::<_, i64>(0) == 1
        },
    );
    let url = format!(
        "postgresql://postgres@127.0.0.1:{},127.0.0.1:{}/tokendesk?target_session_attrs=read-write",
        primary.port(),
        standby.port()
    );
    let provider = TestProvider::oidc();
    let (mut vault, _store, home, _) = shared_vault(&provider, &url, 30);
    provider.set_token_latency(Duration::from_millis(100));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let renew = |vault: &mut Vault, selection: &tokendesk::desk::tokens::Selection| {
        runtime.block_on(tokendesk::desk::tokens::renew(
            vault,
            selection,
            &tokendesk::desk::tokens::RenewOptions::default(),
            &SystemClock,
            &tokendesk::desk::model::TokioSleeper,
            |_| {},
        ))
    };
    let all = tokendesk::desk::tokens::Selection::All;
    // The primary dies while the run redeems; the standby is promoted.
    let killed_at = std::sync::Mutex::new(None);
    let cut = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            primary.pg_ctl(&["stop", "-m", "immediate"]);
            *killed_at.lock().expect("lock") = Some(chrono::Utc::now());
            standby.pg_ctl(&["promote", "-w"]);
        });
        renew(&mut vault, &all)
    });
    let killed_at = killed_at.lock().expect("lock").expect("killed");
    if let Ok(report) = &cut {
        assert!(
            report.started_at < killed_at && killed_at < report.finished_at,
            "the failover fell outside the run: {killed_at} {cut:?}"
        );
    }
    eprintln!("first run: {:?}", cut.as_ref().map(|r| r.counts()));
    // Against the new primary within 30 s: the first run's leases lapse, and a
    // run renews what is left (the tokens it renews are stored there).
    let since = Instant::now();
    let mut renewed_after = 0;
    loop {
        let run = renew(&mut vault, &all);
        eprintln!(
            "{:?}: {:?}",
            since.elapsed(),
            run.as_ref().map(|r| r.counts())
        );
        if let Ok(report) = run {
            renewed_after += report.counts().renewed;
            if report.counts().busy == 0 && report.counts().failed == 0 {
                break;
            }
        }
        assert!(
            since.elapsed() < Duration::from_secs(45),
            "still not carrying on against the new primary"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(renewed_after > 0);
    let rows = sql(
        &standby.url("tokendesk"),
        "SELECT pg_is_in_recovery()::text",
    );
    assert_eq!(
        rows[0].get::<_, String>(0),
        "false",
        "the standby is the primary now"
    );
    assert_eq!(provider.replays(), 0, "first run: {cut:?}");
    assert_eq!(provider.revoked_grants(), 0);
    let mut reread = vault.another_handle();
    reread.reload().expect("read from the new primary");
    provider.assert_every_grant_current(reread.data());
    drop(home);
}
