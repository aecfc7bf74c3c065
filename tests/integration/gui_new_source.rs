//! A new data source's dialog (issue 24, item 10): titled as new, quiet until the
//! admin types or presses OK, one Add button for users, and short labels whose
//! explanation sits in the empty field.

use chrono::{DateTime, TimeZone, Utc};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tokendesk::ui::AppState;
use tokendesk::ui::i18n::Lang;
use tokendesk::ui::worker::DetachedWorker;
use tokendesk::vault::VaultData;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()
}

fn window() -> (Harness<'static, AppState>, DetachedWorker) {
    let data = VaultData {
        generation: 1,
        ..Default::default()
    };
    crate::support::plain_window::window_on(Lang::En, data, now())
}

fn click(harness: &mut Harness<'static, AppState>, label: &str) {
    harness.get_by_label(label).click();
    harness.run_steps(3);
}

fn count(harness: &Harness<'static, AppState>, text: &str) -> usize {
    harness.query_all_by_label_contains(text).count()
}

#[test]
fn a_new_data_source_is_titled_new_and_shows_no_errors_before_anything_is_typed() {
    let (mut harness, mut end) = window();
    click(&mut harness, "New data source");
    assert_eq!(
        count(&harness, "Edit data source"),
        0,
        "not titled Edit before it exists"
    );
    assert!(
        count(&harness, "New data source") >= 2,
        "the button and the title"
    );
    assert_eq!(
        count(&harness, "Enter the tenant"),
        0,
        "no red before typing"
    );
    assert_eq!(count(&harness, "Enter the client ID"), 0);

    let _ = end.sent();
    click(&mut harness, "OK");
    assert!(end.sent().is_empty(), "nothing saved");
    assert_eq!(
        count(&harness, "Enter the tenant"),
        1,
        "after OK it says what is missing"
    );
    assert_eq!(count(&harness, "Enter the client ID"), 1);
}

#[test]
fn the_users_tab_has_one_add_button_and_the_general_tab_short_labels() {
    let (mut harness, _end) = window();
    click(&mut harness, "New data source");
    assert!(harness.query_by_label("Redirect URI").is_some());
    assert!(harness.query_by_label("Client secret").is_some());
    click(&mut harness, "Custom issuer URL");
    assert!(
        harness
            .query_by_label("Refresh token lifetime (days)")
            .is_some()
    );
    click(&mut harness, "Additional users");
    assert_eq!(harness.query_all_by_label("Add").count(), 1);
    assert!(harness.query_by_label("+").is_none());
}

#[test]
fn validation_speaks_german_to_a_german_admin() {
    let data = VaultData {
        generation: 1,
        ..Default::default()
    };
    let (mut harness, _end) = crate::support::plain_window::window_on(Lang::De, data, now());
    click(&mut harness, "Neue Datenquelle");
    let tenant = harness
        .query_all_by_label("Mandant")
        .find(|n| n.accesskit_node().role() == egui::accesskit::Role::TextInput)
        .expect("the tenant field");
    tenant.focus();
    tenant.type_text("kein mandant!");
    harness.run_steps(3);
    assert!(
        harness
            .query_by_label_contains("„kein mandant!“ ist kein Mandant")
            .is_some(),
        "the rule's sentence in German"
    );
    assert!(harness.query_by_label_contains("is not a tenant").is_none());
}

#[test]
fn the_mapping_dialog_has_no_empty_row_between_its_fields() {
    let (mut harness, _end) = window();
    click(&mut harness, "New data source");
    click(&mut harness, "Additional users");
    click(&mut harness, "Add");
    let top = |label: &str| {
        harness
            .query_all_by_label(label)
            .find(|n| n.accesskit_node().role() == egui::accesskit::Role::TextInput)
            .and_then(|n| n.accesskit_node().bounding_box())
            .unwrap_or_else(|| panic!("the {label} field"))
            .y0
    };
    let step = top("Exchange user") - top("Application user");
    let next = top("Server URL (optional)") - top("Exchange user");
    assert!(
        step <= next + 1.0,
        "Exchange user follows Application user as Server URL follows it ({step} against {next} px)"
    );
}

#[test]
fn picking_the_other_provider_leaves_the_general_tabs_fields_in_place_in_german() {
    let data = VaultData {
        generation: 1,
        ..Default::default()
    };
    let (mut harness, _end) = crate::support::plain_window::window_on(Lang::De, data, now());
    click(&mut harness, "Neue Datenquelle");
    let microsoft = harness.get_by_label("Client-ID").rect();
    click(&mut harness, "Eigene Issuer-URL");
    assert!(
        harness
            .query_by_label("Lebensdauer des Aktualisierungstokens (Tage)")
            .is_some(),
        "the long label is shown"
    );
    let custom = harness.get_by_label("Client-ID").rect();
    assert_eq!(
        microsoft.left(),
        custom.left(),
        "the Client ID field stays where it was"
    );
}
