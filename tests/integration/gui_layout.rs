//! Layout at the sizes an admin uses (issue 24, item 2): at 900×600 the main
//! table still shows each data source's state, time left and other tokens (the
//! rest scrolls sideways), column titles are never broken inside a word (German),
//! and the status strip keeps "next run" with its date.

use chrono::{DateTime, TimeZone, Utc};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tokendesk::clock::ManualClock;
use tokendesk::identity::{Authority, Cloud, ProviderConfig, Scopes};
use tokendesk::ui::AppState;
use tokendesk::ui::i18n::Lang;
use tokendesk::ui::worker::DetachedWorker;
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
    let mut sales = DataSource::new("Exchange", provider.clone(), "sales@contoso.com");
    for login in ["anna", "ben"] {
        sales.push_user(UserMapping::new(
            AppUser {
                login: format!("USER/{login}"),
                display_name: login.into(),
                email: String::new(),
            },
            format!("{login}@contoso.com"),
        ));
    }
    let support = DataSource::new("Support desk", provider, "support@fabrikam.com");
    VaultData {
        generation: 2,
        data_sources: vec![sales, support],
        ..Default::default()
    }
}

fn window(lang: Lang, width: f32, height: f32) -> (Harness<'static, AppState>, DetachedWorker) {
    crate::support::plain_window::window_sized(
        lang,
        vault_data(),
        ManualClock::new(now()),
        egui::vec2(width, height),
    )
}

/// The on-screen box of the first node labelled exactly `label`.
fn bounds(harness: &Harness<'static, AppState>, label: &str) -> egui::accesskit::Rect {
    harness
        .get_by_label(label)
        .accesskit_node()
        .bounding_box()
        .unwrap_or_else(|| panic!("{label} has a place on screen"))
}

#[test]
fn at_900_pixels_the_main_table_shows_state_time_left_and_all_tokens() {
    let (harness, _end) = window(Lang::En, 900.0, 600.0);
    for title in ["Name", "Token", "Days left", "All tokens"] {
        let place = bounds(&harness, title);
        assert!(
            place.x1 <= 900.0,
            "{title} is visible at 900 px (ends at {})",
            place.x1
        );
    }
}

#[test]
fn german_column_titles_stay_whole_and_the_strip_keeps_next_run_with_its_date() {
    let (mut harness, _end) = window(Lang::De, 900.0, 600.0);
    harness.get_by_label("Alle Postfächer").click();
    harness.run_steps(3);
    let one_line = bounds(&harness, "Datenquelle").y1 - bounds(&harness, "Datenquelle").y0;
    for title in ["Anwendungsbenutzer", "Verbleibende Tage"] {
        let place = bounds(&harness, title);
        assert!(
            place.y1 - place.y0 <= one_line + 1.0,
            "{title} on one line ({} px against {one_line})",
            place.y1 - place.y0
        );
    }

    // Narrow enough that the strip needs a second line.
    let (harness, _end) = window(Lang::De, 640.0, 600.0);
    let next_run = harness
        .query_by_label_contains("nächster Lauf")
        .expect("the next run is shown");
    let place = next_run.accesskit_node().bounding_box().expect("on screen");
    assert!(
        place.y1 - place.y0 <= one_line + 1.0,
        "'nächster Lauf' and its date on one line ({} px)",
        place.y1 - place.y0
    );
}

#[test]
fn the_edit_dialog_keeps_its_width_on_every_tab_in_german_at_900_pixels() {
    let (mut harness, _end) = window(Lang::De, 900.0, 600.0);
    harness.get_by_label("Exchange").click();
    harness.step();
    harness.key_press(egui::Key::Enter);
    harness.run_steps(3);
    // The dialog is centred: a wider dialog moves its OK button to the left.
    let mut edges = Vec::new();
    for tab in [
        "Allgemein",
        "Exchange-Konto",
        "Zusätzliche Benutzer",
        "Allgemein",
    ] {
        let tabs: Vec<_> = harness.query_all_by_label(tab).collect();
        tabs.last().expect("the tab").click();
        harness.run_steps(3);
        let ok: Vec<_> = harness.query_all_by_label("OK").collect();
        let place = ok
            .last()
            .and_then(|n| n.accesskit_node().bounding_box())
            .expect("OK on screen");
        edges.push(place.x0);
    }
    let moved = edges.iter().any(|x| (x - edges[0]).abs() > 1.0);
    assert!(
        !moved,
        "the dialog changed its width between tabs: {edges:?}"
    );
}

#[test]
fn a_long_state_stays_on_its_row_in_german() {
    // Signed in with a custom provider that states no lifetime: the longest state.
    let mut data = vault_data();
    let provider = tokendesk::identity::ProviderConfig {
        authority: Authority::Issuer {
            url: "https://id.example.com".parse().expect("url"),
        },
        client_id: "desk".into(),
        client_secret: None,
        scopes: Scopes::Custom("openid offline_access".into()),
    };
    let mut portal = DataSource::new("Portal", provider, "alice@example.com");
    portal.token.refresh_token = Some(tokendesk::Secret::new("rt"));
    portal.token.obtained_at = Some(now());
    data.data_sources = vec![portal];
    let (harness, _end) = crate::support::plain_window::window_sized(
        Lang::De,
        data,
        ManualClock::new(now()),
        egui::vec2(900.0, 600.0),
    );
    let row = bounds(&harness, "Portal");
    let states: Vec<_> = harness
        .query_all_by_label("funktioniert; Ablauf unbekannt")
        .filter_map(|n| n.accesskit_node().bounding_box())
        .collect();
    assert!(!states.is_empty());
    for place in states {
        assert!(
            place.y1 - place.y0 <= (row.y1 - row.y0) + 1.0,
            "one line like its row ({} px against {})",
            place.y1 - place.y0,
            row.y1 - row.y0
        );
    }
}
