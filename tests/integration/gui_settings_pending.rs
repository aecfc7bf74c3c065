//! Settings and Delete say what they do before they do it (issue 24, item 9):
//! consumers added or removed in Settings are stored with OK and undone by
//! Cancel, and deleting a data source names the additional users and consumers
//! that go with it.

use chrono::{DateTime, TimeZone, Utc};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tokendesk::identity::{Authority, Cloud, ProviderConfig, Scopes};
use tokendesk::ui::AppState;
use tokendesk::ui::i18n::Lang;
use tokendesk::ui::worker::{Command, DetachedWorker};
use tokendesk::vault::consumers::Consumer;
use tokendesk::vault::{AppUser, DataSource, UserMapping, VaultData};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()
}

fn vault_data() -> VaultData {
    let provider = ProviderConfig {
        authority: Authority::microsoft(Cloud::Global, "contoso.onmicrosoft.com"),
        client_id: "11111111-2222-3333-4444-555555555555".into(),
        client_secret: None,
        scopes: Scopes::Graph,
    };
    let mut sales = DataSource::new("Sales", provider, "sales@contoso.com");
    let user = |login: &str| {
        UserMapping::new(
            AppUser {
                login: login.into(),
                display_name: login.into(),
                email: String::new(),
            },
            format!("{}@contoso.com", login.to_lowercase()),
        )
    };
    sales.push_user(user("Anna"));
    sales.push_user(user("Ben"));
    let (erp, _) = Consumer::new("ERP", sales.id, Vec::new(), true, now());
    VaultData {
        generation: 3,
        data_sources: vec![sales],
        consumers: vec![erp],
        ..Default::default()
    }
}

fn window() -> (Harness<'static, AppState>, DetachedWorker) {
    let (harness, mut end) = crate::support::plain_window::window_on(Lang::En, vault_data(), now());
    let _ = end.sent();
    (harness, end)
}

fn click(harness: &mut Harness<'static, AppState>, label: &str) {
    harness.get_by_label(label).click();
    harness.run_steps(3);
}

fn shows(harness: &Harness<'static, AppState>, text: &str) -> bool {
    harness.query_by_label_contains(text).is_some()
}

#[test]
fn cancel_undoes_a_consumer_removed_in_settings_and_ok_stores_it() {
    let (mut harness, mut end) = window();
    click(&mut harness, "Settings");
    assert!(shows(&harness, "ERP · Sales"));
    click(&mut harness, "Remove");
    assert!(!shows(&harness, "ERP · Sales"), "shown as gone");
    assert!(shows(&harness, "when you press OK"));
    assert!(end.sent().is_empty(), "nothing stored before OK");
    click(&mut harness, "Cancel");
    assert!(end.sent().is_empty(), "Cancel stores nothing");

    click(&mut harness, "Settings");
    assert!(shows(&harness, "ERP · Sales"), "still there after Cancel");
    click(&mut harness, "Remove");
    click(&mut harness, "OK");
    let sent = end.sent();
    assert!(
        matches!(&sent[..], [Command::SaveSettings(_, changes, _)]
            if changes.removed == ["ERP"] && changes.added.is_empty()),
        "OK removes it"
    );
}

#[test]
fn a_mail_relay_device_is_listed_with_the_mailbox_it_logs_in_as() {
    let mut data = vault_data();
    let (printer, _) = Consumer::new(
        "printer-2",
        data.data_sources[0].id,
        vec!["Ben".into()],
        false,
        now(),
    );
    data.consumers = vec![printer.for_relay()];
    let (mut harness, _end) = crate::support::plain_window::window_on(Lang::En, data, now());
    click(&mut harness, "Settings");
    assert!(shows(
        &harness,
        "mail relay device, logs in as ben@contoso.com"
    ));
}

#[test]
fn deleting_a_data_source_names_its_users_and_consumers() {
    let (mut harness, mut end) = window();
    harness.get_by_label("Sales").click();
    harness.run_steps(2);
    click(&mut harness, "Delete");
    assert!(shows(
        &harness,
        "Its 2 additional user(s) and their tokens:"
    ));
    assert!(shows(&harness, "Anna · anna@contoso.com"));
    assert!(shows(&harness, "Ben · ben@contoso.com"));
    assert!(shows(
        &harness,
        "Its consumers, whose keys stop working: ERP"
    ));
    click(&mut harness, "Cancel");
    assert!(end.sent().is_empty());
}

#[test]
fn a_german_admin_is_offered_the_consumer_message_in_german() {
    let (mut harness, mut end) =
        crate::support::plain_window::window_on(Lang::De, vault_data(), now());
    let _ = end.sent();
    click(&mut harness, "Einstellungen");
    let german = "Die Microsoft-365-Verbindung ist im Moment nicht verfügbar.";
    let shown = harness.root().children_recursive().any(|node| {
        node.accesskit_node()
            .value()
            .is_some_and(|value| value.starts_with(german))
    });
    assert!(shown, "the untouched default, in the window's language");
    click(&mut harness, "OK");
    let sent = end.sent();
    assert!(
        matches!(&sent[..], [Command::SaveSettings(settings, _, _)]
            if settings.consumer_status_message.starts_with(german)),
        "stored in German with OK"
    );
}
