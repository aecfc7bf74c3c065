//! Settings › Notifications in the window: a failing channel named in the status
//! strip and in Settings, a webhook added with its URL masked and never shown
//! again, stored with OK, and Test sent for a stored notifier.

use chrono::{DateTime, TimeZone, Utc};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tokendesk::Secret;
use tokendesk::identity::{Authority, Cloud, ProviderConfig, Scopes};
use tokendesk::ui::AppState;
use tokendesk::ui::i18n::Lang;
use tokendesk::ui::worker::{Command, DetachedWorker};
use tokendesk::vault::notifiers::{Channel, DeliveryFailure, Notifier, WebhookFormat};
use tokendesk::vault::{DataSource, VaultData};

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
    let sales = DataSource::new("Sales", provider, "sales@contoso.com");
    let ops = Notifier {
        id: uuid::Uuid::new_v4(),
        name: "ops".into(),
        channel: Channel::Webhook {
            url: Secret::new("https://hooks.example.com/services/OPS-SECRET"),
            format: WebhookFormat::Slack,
        },
        created_at: now(),
        failing: Some(DeliveryFailure::next(
            None,
            "The webhook at hooks.example.com answered HTTP 503".into(),
            now(),
        )),
    };
    VaultData {
        generation: 3,
        data_sources: vec![sales],
        notifiers: vec![ops],
        ..Default::default()
    }
}

fn window(lang: Lang) -> (Harness<'static, AppState>, DetachedWorker) {
    let (harness, mut end) = crate::support::plain_window::window_on(lang, vault_data(), now());
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

fn anywhere(harness: &Harness<'static, AppState>, text: &str) -> bool {
    harness.root().children_recursive().any(|node| {
        let node = node.accesskit_node();
        node.label().is_some_and(|l| l.contains(text))
            || node.value().is_some_and(|v| v.contains(text))
    })
}

#[test]
fn a_failing_notifier_is_named_in_the_status_strip_and_in_settings() {
    let (mut harness, _end) = window(Lang::En);
    assert!(shows(&harness, "Notifications through 'ops' fail"));
    click(&mut harness, "Settings");
    assert!(shows(
        &harness,
        "ops · webhook https://hooks.example.com/… (slack)"
    ));
    assert!(shows(&harness, "Delivery fails since"));
    assert!(shows(&harness, "answered HTTP 503"));
    assert!(
        !anywhere(&harness, "OPS-SECRET"),
        "the webhook's credential is never shown"
    );
}

#[test]
fn a_webhook_added_in_settings_is_stored_with_ok_and_its_url_stays_masked() {
    let (mut harness, mut end) = window(Lang::En);
    click(&mut harness, "Settings");
    crate::gui::type_into(&mut harness, "New notifier", "team");
    crate::gui::type_into(
        &mut harness,
        "URL",
        "https://contoso.webhook.office.com/wf/TEAM-SECRET",
    );
    click(&mut harness, "Add notifier");
    assert!(shows(
        &harness,
        "team · webhook https://contoso.webhook.office.com/… (json) (new)"
    ));
    assert!(
        !anywhere(&harness, "TEAM-SECRET"),
        "the URL is typed masked"
    );
    assert!(end.sent().is_empty(), "nothing stored before OK");
    click(&mut harness, "OK");
    let sent = end.sent();
    assert!(
        matches!(&sent[..], [Command::SaveSettings(_, _, notifiers)]
            if notifiers.added.len() == 1 && notifiers.added[0].name == "team"),
        "OK stores it"
    );
}

#[test]
fn test_sends_through_a_stored_notifier_and_german_names_it() {
    let (mut harness, mut end) = window(Lang::En);
    click(&mut harness, "Settings");
    click(&mut harness, "Test");
    let sent = end.sent();
    assert!(
        matches!(&sent[..], [Command::TestNotifier(name)] if name == "ops"),
        "Test asks the worker"
    );
    assert!(shows(&harness, "Sending a test message…"));

    let (harness, _end) = window(Lang::De);
    assert!(shows(
        &harness,
        "Benachrichtigungen über „ops“ schlagen fehl"
    ));
}

#[test]
fn settings_keep_ok_and_cancel_on_a_600_pixel_screen_with_every_section() {
    let (mut harness, _end) = crate::support::plain_window::window_sized(
        Lang::De,
        vault_data(),
        tokendesk::clock::ManualClock::new(now()),
        egui::vec2(900.0, 600.0),
    );
    click(&mut harness, "Einstellungen");
    for label in ["OK", "Abbrechen"] {
        let button = harness.get_by_label(label);
        let bounds = button.accesskit_node().bounding_box().expect("placed");
        assert!(
            bounds.y1 <= 600.0,
            "{label} at {bounds:?} is off the screen"
        );
    }
    click(&mut harness, "Abbrechen");
    assert!(
        harness.query_by_label("Abbrechen").is_none(),
        "Cancel reached"
    );
}

#[test]
fn the_exchange_tab_names_the_mail_server_that_notifications_go_through() {
    let (mut harness, mut end) = window(Lang::En);
    harness.get_by_label("Sales").click();
    harness.step();
    harness.key_press(egui::Key::Enter);
    harness.run_steps(3);
    let tabs: Vec<_> = harness.query_all_by_label("Exchange account").collect();
    tabs.last().expect("the dialog's tab").click();
    harness.run_steps(3);
    crate::gui::type_into(
        &mut harness,
        "Mail server for notifications (optional)",
        "smtp.office365.com",
    );
    harness.run_steps(2);
    assert!(shows(&harness, "is not HOST:PORT"), "a port is needed");
    crate::gui::type_into(
        &mut harness,
        "Mail server for notifications (optional)",
        ":587",
    );
    harness.run_steps(2);
    assert!(!shows(&harness, "is not HOST:PORT"));
    // The relay's IMAP server, checked the same way.
    crate::gui::type_into(
        &mut harness,
        "IMAP server for the mail relay (optional)",
        "imaps://mail.contoso.test",
    );
    harness.run_steps(2);
    assert!(shows(&harness, "is not HOST:PORT"), "a port is needed");
    crate::gui::type_into(
        &mut harness,
        "IMAP server for the mail relay (optional)",
        ":10993",
    );
    harness.run_steps(2);
    assert!(!shows(&harness, "is not HOST:PORT"));
    crate::gui::press_last(&mut harness, "OK");
    harness.run_steps(3);
    let sent = end.sent();
    assert!(
        sent.iter()
            .any(|c| matches!(c, Command::SaveDataSource(source)
            if source.account.smtp_upstream.as_deref() == Some("smtp.office365.com:587")
                && source.account.imap_upstream.as_deref() == Some("imaps://mail.contoso.test:10993"))),
        "stored with the data source"
    );
}
