//! A shared vault's database restored from an older backup: the generation went
//! back, so the next read takes every record again — not only those changed
//! after the generation this process last saw, which would leave out the rest.
//! And one token row put back by hand, the generation untouched: its older
//! refresh token is never redeemed.

use tokendesk::desk::model::{SystemClock, TokenTarget, TokioSleeper};
use tokendesk::desk::tokens::{RenewOptions, RenewReport, Selection};
use tokendesk::store::postgres::PostgresStore;
use tokendesk::vault::{Backend, Vault};

use crate::support::provider::TestProvider;
use crate::support::sql;
use crate::vault_postgres::{fresh_database, machine, shared_vault};

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

/// A shared vault whose USER/3 was renewed once by `vault`, after which a DBA
/// put that token's row back as it was before (last night's copy of the row:
/// sealed, revision, changed_in; the generation untouched).
struct PutBack {
    provider: TestProvider,
    url: String,
    vault: Vault,
    runtime: tokio::runtime::Runtime,
    _home: tempfile::TempDir,
}

impl PutBack {
    fn new() -> Option<PutBack> {
        let url = fresh_database()?;
        let provider = TestProvider::oidc();
        let (vault, _store, home, moved) = shared_vault(&provider, &url, 4);
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
        let mut put_back = PutBack {
            provider,
            url,
            vault,
            runtime,
            _home: home,
        };
        let first = put_back.renew().expect("renew");
        assert_eq!(first.counts().renewed, 1, "{first:?}");
        sql(
            &put_back.url,
            &format!(
                "UPDATE tokendesk_records SET sealed = decode('{sealed}', 'hex'), revision = {revision}, changed_in = {changed_in} WHERE kind = 'token' AND id = '{row}'"
            ),
        );
        Some(put_back)
    }

    fn renew(&mut self) -> Result<RenewReport, tokendesk::desk::DeskError> {
        self.runtime.block_on(tokendesk::desk::tokens::renew(
            &mut self.vault,
            &Selection::Only(vec![TokenTarget::user("A", "USER/3")]),
            &RenewOptions::default(),
            &SystemClock,
            &TokioSleeper,
            |_| {},
        ))
    }

    /// Another machine of the vault.
    fn other_machine(&self) -> (Vault, tempfile::TempDir) {
        let home = crate::support::temp_dir();
        let (store, _) = PostgresStore::open(home.path(), &self.url, &machine()).expect("join");
        let vault = Vault::with_backend(std::sync::Arc::new(store)).expect("read");
        (vault, home)
    }

    /// What a machine that reads the vault now finds: every grant current, so
    /// the row holds the newest token again.
    fn assert_the_row_holds_the_newest_token(&self) {
        let (vault, _home) = self.other_machine();
        self.provider.assert_every_grant_current(vault.data());
        assert_eq!(self.provider.replays(), 0, "no rotated-away token was sent");
        assert_eq!(self.provider.revoked_grants(), 0);
    }
}

/// Then a change elsewhere makes this process read every row again: the guarded
/// path never redeems the row's older refresh token, and its write puts the
/// newest one back in the row.
#[test]
fn a_token_row_put_back_by_hand_is_never_redeemed_from() {
    let Some(mut put_back) = PutBack::new() else {
        return;
    };
    let (mut other, _home) = put_back.other_machine();
    other
        .update(|data| {
            data.settings.reminder_days = 21;
            Ok(())
        })
        .expect("settings");
    let again = put_back.renew().expect("renew");
    assert_eq!(
        put_back.vault.data().settings.reminder_days,
        21,
        "read again whole"
    );
    assert_eq!(again.counts().renewed, 1, "{again:?}");
    put_back.assert_the_row_holds_the_newest_token();
}

/// An admin's change to that token's record (the reminder marked as shown) is a
/// whole write: it is stored, not refused as "changed under this write", and it
/// puts the newest token back in the row.
#[test]
fn a_whole_write_after_a_token_row_was_put_back_stores_the_newest_token() {
    let Some(mut put_back) = PutBack::new() else {
        return;
    };
    let target = TokenTarget::user("A", "USER/3");
    put_back
        .vault
        .update(|data| {
            data.token_mut(&target)?.reminder_shown_on = Some(chrono::Utc::now().date_naive());
            Ok(())
        })
        .expect("the admin's change is stored");
    put_back.assert_the_row_holds_the_newest_token();
    let again = put_back.renew().expect("renew");
    assert_eq!(again.counts().renewed, 1, "{again:?}");
    put_back.assert_the_row_holds_the_newest_token();
}
