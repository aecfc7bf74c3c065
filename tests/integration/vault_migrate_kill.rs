//! `vault migrate --to postgresql://…` killed with SIGKILL at different moments,
//! then run again: after every kill the folder still opens (its file, or the
//! database it points to), and the run that finishes holds every token the file
//! held, each still the provider's current one.

use std::time::Duration;

use chrono::Utc;

use crate::support::desk;
use crate::support::provider::{GrantState, TestProvider};
use crate::vault_postgres::fresh_database;

#[test]
fn a_migration_killed_at_any_moment_is_finished_by_the_next_run() {
    let Some(url) = fresh_database() else { return };
    let provider = TestProvider::oidc();
    let home = crate::support::temp_dir();
    desk::add_source(
        &provider,
        home.path(),
        "A",
        crate::support::oidc_config(&provider),
        1500,
        Utc::now(),
    );
    let original = tokendesk::vault::Vault::open(home.path(), &desk::keys())
        .expect("file")
        .data()
        .clone();
    let tokens = |data: &tokendesk::vault::VaultData| -> Vec<String> {
        data.each_token()
            .filter_map(|o| {
                o.record()
                    .refresh_token
                    .as_ref()
                    .map(|t| t.expose().to_string())
            })
            .collect()
    };
    let mut finished = false;
    for delay in [30, 80, 150, 250, 400, 600] {
        let mut child = desk::spawn(home.path(), &["vault", "migrate", "--to", &url]);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        finished |= status.success();
        // Never neither: the file, or the pointer to the database.
        assert!(
            home.path().join("vault.tdv").exists()
                || home.path().join("shared-vault.json").exists(),
            "after a kill at {delay} ms the folder has no vault"
        );
        let out = desk::run(home.path(), &["status", "--json"]);
        assert!(
            out.status.success(),
            "after a kill at {delay} ms: {}",
            desk::text(&out)
        );
    }
    let last = desk::run(home.path(), &["vault", "migrate", "--to", &url]);
    assert!(last.status.success(), "{}", desk::text(&last));
    assert!(!home.path().join("vault.tdv").exists());
    let shared = tokendesk::desk::vault_file::open(home.path(), &desk::keys()).expect("shared");
    let mut expected = tokens(&original);
    let mut stored = tokens(shared.data());
    expected.sort();
    stored.sort();
    assert_eq!(stored.len(), 1501);
    assert_eq!(stored, expected, "every token moved, none older");
    for token in &stored {
        assert_eq!(provider.grant_state(token), GrantState::Current);
    }
    eprintln!("a kill came after the move finished: {finished}");
}
