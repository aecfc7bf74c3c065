//! A shared vault's database restored from an older backup: the generation went
//! back, so the next read takes every record again — not only those changed
//! after the generation this process last saw, which would leave out the rest.

use tokendesk::vault::Backend;

use crate::support::provider::TestProvider;
use crate::support::sql;
use crate::vault_postgres::{fresh_database, shared_vault};

#[test]
fn a_database_gone_back_to_an_older_generation_is_read_whole() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (vault, store, _home, moved) = shared_vault(&provider, &url, 3);
    let seen = vault.generation();
    // What a restore of last night's dump does to the vault row.
    sql(
        &url,
        "UPDATE tokendesk_vault SET generation = generation - 1",
    );
    let read = store.read().expect("read");
    assert_eq!(read.generation, seen - 1, "the older generation, as it is");
    assert_eq!(read.data_sources.len(), 1, "every data source, not none");
    assert_eq!(
        read.data_sources[0].users.len(),
        moved.data_sources[0].users.len(),
        "every user"
    );
    assert_eq!(
        read.data_sources[0].users[2].token.refresh_token,
        moved.data_sources[0].users[2].token.refresh_token
    );
}

/// One token row put back by hand (last night's copy of the row, generation
/// untouched), then a change elsewhere that makes this process read every row
/// again: the guarded path never redeems the row's older refresh token, and the
/// next write puts the newest one back in the row.
#[test]
fn a_token_row_put_back_by_hand_is_never_redeemed_from() {
    use tokendesk::desk::model::{SystemClock, TokenTarget, TokioSleeper};
    use tokendesk::desk::tokens::{RenewOptions, Selection};
    use tokendesk::vault::Vault;

    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let (mut vault, _store, _home, moved) = shared_vault(&provider, &url, 4);
    let row = format!(
        "{}.{}",
        moved.data_sources[0].id.simple(),
        moved.data_sources[0].users[3].id.simple()
    );
    let saved = sql(
        &url,
        &format!(
            "SELECT encode(sealed, 'hex'), revision, changed_in FROM tokendesk_records WHERE kind = 'token' AND id = '{row}'"
        ),
    );
    let (sealed, revision, changed_in): (String, i64, i64) =
        (saved[0].get(0), saved[0].get(1), saved[0].get(2));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let renew = |vault: &mut Vault| {
        runtime.block_on(tokendesk::desk::tokens::renew(
            vault,
            &Selection::Only(vec![TokenTarget::user("A", "USER/3")]),
            &RenewOptions::default(),
            &SystemClock,
            &TokioSleeper,
            |_| {},
        ))
    };
    let first = renew(&mut vault).expect("renew");
    assert_eq!(first.counts().renewed, 1, "{first:?}");

    // A DBA puts the row back as it was before that renewal.
    sql(
        &url,
        &format!(
            "UPDATE tokendesk_records SET sealed = decode('{sealed}', 'hex'), revision = {revision}, changed_in = {changed_in} WHERE kind = 'token' AND id = '{row}'"
        ),
    );
    // Another machine changes a setting: this process's next read takes every
    // row again, the one put back too.
    let elsewhere = crate::support::temp_dir();
    let (other, _) = tokendesk::store::postgres::PostgresStore::open(
        elsewhere.path(),
        &url,
        &crate::vault_postgres::machine(),
    )
    .expect("join");
    let mut other = Vault::with_backend(std::sync::Arc::new(other)).expect("read");
    other
        .update(|data| {
            data.settings.reminder_days = 21;
            Ok(())
        })
        .expect("settings");
    let again = renew(&mut vault).expect("renew");
    assert_eq!(vault.data().settings.reminder_days, 21, "read again whole");
    assert_eq!(again.counts().renewed, 1, "{again:?}");
    assert_eq!(provider.replays(), 0, "no rotated-away token was sent");
    assert_eq!(provider.revoked_grants(), 0);
    // The row holds the newest token again.
    let other = crate::support::temp_dir();
    let (store, data) = tokendesk::store::postgres::PostgresStore::open(
        other.path(),
        &url,
        &crate::vault_postgres::machine(),
    )
    .expect("open");
    drop(store);
    provider.assert_every_grant_current(&data);
}
