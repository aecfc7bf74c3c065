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
