//! The window on a shared vault: it names the database, shows within 2 s what
//! another machine stored, and is read-only — saying so — while the database is
//! down, then follows it again when it is back. A real PostgreSQL of the test's
//! own (stopped and started by the test), real workers, two homes, and a real
//! gateway on the other home that the window names as present.

use std::time::{Duration, Instant};

use chrono::Utc;
use egui_kittest::kittest::{NodeT, Queryable};
use tokendesk::clock::ManualClock;
use tokendesk::identity::Scopes;
use tokendesk::ui::i18n::Lang;
use tokendesk::vault::{DataSource, Vault};

use crate::gui::{harness_on, settle};
use crate::support;
use crate::support::provider::TestProvider;
use crate::vault_postgres::{fresh_database, machine};

/// A PostgreSQL server of the test's own (it stops and starts it), or `None`.
fn private_server() -> Option<support::PrivateServer> {
    fresh_database()?;
    support::PrivateServer::start()
}

/// A file vault in `home` with the data source Exchange, the window's keep-alive off.
fn file_vault(home: &std::path::Path, keys: &tokendesk::vault::KeySource, provider: &TestProvider) {
    let mut file = Vault::create(home, keys, false).expect("file vault");
    file.update(|data| {
        data.settings.keepalive_in_app = false;
        let config = support::microsoft_config(provider, Scopes::Ews);
        data.add_data_source(DataSource::new("Exchange", config, "sales@contoso.com"))
    })
    .expect("a data source");
}

#[test]
fn the_window_follows_the_shared_vault_and_is_read_only_while_it_is_down() {
    let Some(server) = private_server() else {
        return;
    };
    let url = server.url("tokendesk");
    let provider = TestProvider::microsoft();
    // Home A moves its file vault into the database; home C joins it.
    let (home_a, home_c) = (support::temp_dir(), support::temp_dir());
    let keys_a = machine();
    file_vault(home_a.path(), &keys_a, &provider);
    tokendesk::desk::shared_vault::migrate_to_database(home_a.path(), &url, &keys_a, Utc::now())
        .expect("migrate");
    let keys_c = machine();
    tokendesk::desk::shared_vault::join(home_c.path(), &url, &keys_c, Utc::now()).expect("join");
    // A gateway serves home A: the window on C names it in the status strip.
    let _gateway = crate::support::gateway::serve_configured(
        home_a.path(),
        &["--listen", "127.0.0.1:0", "--keepalive-every", "3600"],
        |_| {},
    );
    let clock = ManualClock::new(Utc::now());
    let mut window = harness_on(home_c.path(), &keys_c, &clock, Lang::En);
    settle(&mut window, |h| h.state().store.shared.is_some());
    window.get_by_label_contains("Vault: shared (PostgreSQL 127.0.0.1");
    window.get_by_label("Exchange");
    settle(&mut window, |h| {
        h.state().store.others.iter().any(|o| o.face == "gateway")
    });
    window.step();
    let host = whoami::fallible::hostname().expect("hostname");
    window.get_by_label(&format!("Also here in the last minute: gateway on {host}"));

    // Another machine adds a data source: the window shows it within 2 s.
    let mut vault_a = tokendesk::desk::vault_file::open(home_a.path(), &keys_a).expect("open");
    let config = support::microsoft_config(&provider, Scopes::Ews);
    vault_a
        .update(|data| data.add_data_source(DataSource::new("Added on A", config, "b@contoso.com")))
        .expect("add");
    let since = Instant::now();
    settle(&mut window, |h| {
        h.state()
            .data()
            .is_some_and(|d| d.data_sources.iter().any(|s| s.name == "Added on A"))
    });
    assert!(
        since.elapsed() < Duration::from_secs(2),
        "{:?}",
        since.elapsed()
    );
    window.step();
    window.get_by_label("Added on A");

    // The database stops: the window says so and offers no change.
    server.pg_ctl(&["stop", "-m", "fast"]);
    settle(&mut window, |h| h.state().read_only());
    window.step();
    window.get_by_label_contains("does not answer");
    assert!(
        window
            .get_by_label("Settings")
            .accesskit_node()
            .is_disabled()
    );
    assert!(
        window
            .get_by_label("Renew due tokens now")
            .accesskit_node()
            .is_disabled()
    );
    assert!(
        window
            .get_by_label("New data source")
            .accesskit_node()
            .is_disabled()
    );
    // What it read stays on screen.
    window.get_by_label("Added on A");

    // It comes back: writable again, and what changed meanwhile is read.
    server.pg_ctl(&["start", "-w"]);
    settle(&mut window, |h| !h.state().read_only());
    window.step();
    assert!(
        !window
            .get_by_label("Settings")
            .accesskit_node()
            .is_disabled()
    );
    assert!(window.query_by_label_contains("does not answer").is_none());
}

#[test]
fn settings_test_a_database_move_the_vault_in_and_back() {
    let Some(server) = private_server() else {
        return;
    };
    let url = server.url("tokendesk");
    let provider = TestProvider::microsoft();
    let home = support::temp_dir();
    let keys = machine();
    file_vault(home.path(), &keys, &provider);
    let clock = ManualClock::new(Utc::now());
    let mut window = harness_on(home.path(), &keys, &clock, Lang::En);
    crate::gui::press(&mut window, "Settings");
    settle(&mut window, |h| h.state().settings.is_some());
    assert_eq!(window.query_all_by_label("Vault: this computer").count(), 2);
    crate::gui::type_into(&mut window, "PostgreSQL connection string", &url);
    crate::gui::press(&mut window, "Test connection");
    settle(&mut window, |h| {
        h.state()
            .settings
            .as_ref()
            .is_some_and(|s| s.vault.heard.is_some())
    });
    window.step();
    window.get_by_label_contains("No vault there yet: this vault can move in.");
    // The move asks once more, then happens; the window then works on the database.
    crate::gui::press(&mut window, "Move this vault into the database");
    crate::gui::press(
        &mut window,
        "Move now: every desk and gateway in this folder uses the database from then on",
    );
    settle(&mut window, |h| h.state().store.shared.is_some());
    window.step();
    window.get_by_label_contains("Moved: 1 data source(s), 1 token(s)");
    assert!(home.path().join("shared-vault.json").exists());
    assert!(!home.path().join("vault.tdv").exists());
    assert!(window.query_all_by_label("Exchange").next().is_some());
    // And back: a file on this computer again, the records kept.
    crate::gui::press(&mut window, "Move back to this computer");
    crate::gui::press(&mut window, "Move back now");
    settle(&mut window, |h| h.state().store.shared.is_none());
    window.step();
    assert!(home.path().join("vault.tdv").exists());
    assert!(!home.path().join("shared-vault.json").exists());
    window.get_by_label_contains("the vault is now kept in /");
    window.get_by_label_contains("vault.tdv.");
    assert!(window.query_all_by_label("Exchange").next().is_some());
}

#[test]
fn settings_join_a_shared_vault_with_its_passphrase_from_an_empty_desk() {
    let Some(server) = private_server() else {
        return;
    };
    let url = server.url("tokendesk");
    let provider = TestProvider::microsoft();
    let home_a = support::temp_dir();
    file_vault(home_a.path(), &machine(), &provider);
    tokendesk::desk::shared_vault::migrate_to_database(home_a.path(), &url, &machine(), Utc::now())
        .expect("home A moved in");
    // A fresh desk: the empty vault of its first start, its key in its keyring,
    // no passphrase given to the window.
    let keyring: std::sync::Arc<keyring_core::CredentialStore> =
        keyring_core::mock::Store::new().expect("mock keyring");
    let keys =
        tokendesk::vault::KeySource::with_keyring(tokendesk::vault::Keyring::with_store(keyring));
    let home = support::temp_dir();
    Vault::create(home.path(), &keys, false).expect("empty vault");
    let clock = ManualClock::new(Utc::now());
    let mut window = harness_on(home.path(), &keys, &clock, Lang::En);
    crate::gui::press(&mut window, "Settings");
    settle(&mut window, |h| h.state().settings.is_some());
    crate::gui::type_into(&mut window, "PostgreSQL connection string", &url);
    let heard = |h: &egui_kittest::Harness<'static, tokendesk::ui::app::AppState>| {
        h.state()
            .settings
            .as_ref()
            .is_some_and(|s| s.vault.heard.is_some())
    };
    // A wrong passphrase: said, nothing changes.
    crate::gui::type_into(
        &mut window,
        "Shared vault passphrase (to join one that exists)",
        "not the passphrase",
    );
    crate::gui::press(&mut window, "Join the shared vault");
    settle(&mut window, heard);
    window.step();
    window.get_by_label_contains("Wrong passphrase");
    assert!(window.state().store.shared.is_none());
    assert!(home.path().join("vault.tdv").exists(), "left as it was");
    assert!(!home.path().join("shared-vault.json").exists());
    // The right one: the window now works on the shared vault.
    crate::gui::type_into(
        &mut window,
        "Shared vault passphrase (to join one that exists)",
        crate::support::desk::PASSPHRASE,
    );
    crate::gui::press(&mut window, "Join the shared vault");
    settle(&mut window, |h| h.state().store.shared.is_some());
    window.step();
    window.get_by_label_contains("Joined: this computer now uses the shared vault");
    assert!(window.query_all_by_label("Exchange").next().is_some());
    assert!(home.path().join("shared-vault.json").exists());
    let aside = std::fs::read_dir(home.path())
        .expect("home")
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("vault.tdv.before-join-")
        });
    assert!(aside, "the empty vault stepped aside");
}
