//! The waiting steps of a sign-in (issue 24, items 3 and 8): the device code
//! screen names the account and counts down from the start, and the code stays
//! reachable after Next; the browser sign-in shows its time limit and, for a page
//! that shows an error, the redirect URI to register.

use chrono::{DateTime, Duration, TimeZone, Utc};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tokendesk::Secret;
use tokendesk::clock::ManualClock;
use tokendesk::identity::{Authority, DeviceAuthorization, ProviderConfig, Scopes};
use tokendesk::ui::AppState;
use tokendesk::ui::i18n::Lang;
use tokendesk::ui::sign_in_dialog::SignInDialog;
use tokendesk::ui::worker::{DetachedWorker, Event};
use tokendesk::vault::ops::TokenTarget;
use tokendesk::vault::{DataSource, VaultData};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap()
}

fn provider() -> ProviderConfig {
    ProviderConfig {
        authority: Authority::Issuer {
            url: "https://id.example.com".parse().expect("url"),
        },
        client_id: "desk-client".into(),
        client_secret: None,
        scopes: Scopes::Custom("openid offline_access".into()),
    }
}

fn window(lang: Lang, clock: &ManualClock) -> (Harness<'static, AppState>, DetachedWorker) {
    let data = VaultData {
        generation: 1,
        data_sources: vec![DataSource::new("Portal", provider(), "anna@example.com")],
        ..Default::default()
    };
    let (mut harness, end) =
        crate::support::plain_window::window_with_clock(lang, data, clock.clone());
    harness.state_mut().sign_in = Some(SignInDialog::new(
        TokenTarget::data_source("Portal"),
        "anna@example.com".into(),
        true,
        &provider(),
    ));
    harness.run_steps(2);
    (harness, end)
}

fn shows(harness: &Harness<'static, AppState>, text: &str) -> bool {
    harness.query_by_label_contains(text).is_some()
}

fn press(harness: &mut Harness<'static, AppState>, label: &str) {
    harness.get_by_label(label).click();
    harness.run_steps(3);
}

fn code(issued: DateTime<Utc>) -> DeviceAuthorization {
    DeviceAuthorization {
        device_code: Secret::new("device-code"),
        user_code: "WDJB-MJHT".into(),
        verification_uri: "https://id.example.com/device".parse().expect("url"),
        verification_uri_complete: None,
        expires_at: issued + Duration::minutes(15),
        interval: std::time::Duration::from_secs(5),
        message: None,
        issued_at: issued,
    }
}

#[test]
fn the_device_code_names_the_account_counts_down_and_stays_reachable_after_next() {
    let clock = ManualClock::new(now());
    let (mut harness, end) = window(Lang::En, &clock);
    end.report(Event::SignInCode(Box::new(code(now()))));
    harness.run_steps(3);
    assert!(shows(&harness, "Sign in with: anna@example.com"));
    assert!(shows(&harness, "WDJB-MJHT"));
    assert!(
        shows(&harness, "Code expires in 15:00"),
        "counting from the start"
    );

    clock.advance(Duration::seconds(65));
    harness.run_steps(2);
    assert!(shows(&harness, "Code expires in 13:55"));

    press(&mut harness, "Next");
    assert!(shows(&harness, "Waiting for the sign-in"));
    assert!(shows(&harness, "Sign in with: anna@example.com"));
    assert!(shows(&harness, "WDJB-MJHT"), "the code is still shown");
    press(&mut harness, "Back to the code");
    assert!(shows(
        &harness,
        "Enter this code on the provider's sign-in page"
    ));
    assert!(shows(&harness, "Code expires in 13:55"));
}

#[test]
fn the_browser_sign_in_shows_its_time_limit_and_the_redirect_uri_to_register() {
    let clock = ManualClock::new(now());
    let (mut harness, end) = window(Lang::En, &clock);
    let page = url::Url::parse_with_params(
        "https://id.example.com/auth",
        &[
            ("client_id", "desk-client"),
            ("redirect_uri", "http://127.0.0.1:49152"),
            ("response_type", "code"),
        ],
    )
    .expect("url");
    end.report(Event::BrowserWaiting(page));
    harness.run_steps(3);
    assert!(shows(&harness, "Sign in with: anna@example.com"));
    assert!(shows(&harness, "Time left to sign in: 10:00"));
    clock.advance(Duration::minutes(2));
    harness.run_steps(2);
    assert!(shows(&harness, "Time left to sign in: 08:00"));

    assert!(shows(&harness, "Does the page show an error?"));
    assert!(shows(&harness, "for client desk-client"));
    let redirect_shown = harness
        .root()
        .children_recursive()
        .any(|node| node.accesskit_node().value().as_deref() == Some("http://127.0.0.1:49152"));
    assert!(redirect_shown, "the redirect URI is shown to copy");
}

#[test]
fn the_waiting_steps_speak_german() {
    let clock = ManualClock::new(now());
    let (mut harness, end) = window(Lang::De, &clock);
    end.report(Event::SignInCode(Box::new(code(now()))));
    harness.run_steps(3);
    assert!(shows(&harness, "Melden Sie sich an mit: anna@example.com"));
    assert!(shows(&harness, "Code läuft ab in 15:00"));
    press(&mut harness, "Weiter");
    press(&mut harness, "Zurück zum Code");
    assert!(shows(&harness, "WDJB-MJHT"));
}
