//! The desktop app driven through its AccessKit tree with egui_kittest: real app
//! state, a real vault (in-memory keyring), a real worker thread and the loopback
//! identity provider.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use crate::support::microsoft_config;
use crate::support::provider::{Endpoint, TestProvider};
use chrono::{TimeZone, Utc};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tokendesk::Secret;
use tokendesk::clock::ManualClock;
use tokendesk::identity::Scopes;
use tokendesk::ui::i18n::{Lang, Locale};
use tokendesk::ui::{AppState, Options};
use tokendesk::vault::ops::TokenTarget;
use tokendesk::vault::{DataSource, ExchangeServer, KeySource, Keyring, Vault};

struct Setup {
    provider: TestProvider,
    dir: tempfile::TempDir,
    keys: KeySource,
    clock: ManualClock,
}

fn setup() -> Setup {
    let provider = TestProvider::microsoft();
    provider.set_interval(Some(1));
    let dir = support::temp_dir();
    let store: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
    let keys = KeySource::with_keyring(Keyring::with_store(store));
    let mut vault = Vault::create(dir.path(), &keys, false).unwrap();
    let config = microsoft_config(&provider, Scopes::Ews);
    let mut source = DataSource::new("Exchange", config, "sales@contoso.com");
    // Test Connection calls the loopback provider's EWS endpoint, never the real one.
    source.account.api_root = Some(provider.base_url());
    vault
        .update(|data| {
            // These tests move the clock by hand; the keep-alive has its own test.
            data.settings.keepalive_in_app = false;
            data.add_data_source(source)
        })
        .unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap());
    Setup {
        provider,
        dir,
        keys,
        clock,
    }
}

fn harness(setup: &Setup, lang: Lang) -> Harness<'static, AppState> {
    harness_on(setup.dir.path(), &setup.keys, &setup.clock, lang)
}

/// The window on the vault in `dir`, at the clock's time, settled until the vault is open.
pub(crate) fn harness_on(
    dir: &std::path::Path,
    keys: &KeySource,
    clock: &ManualClock,
    lang: Lang,
) -> Harness<'static, AppState> {
    let state = AppState::new(Options {
        passphrase_file: None,
        vault_dir: dir.to_path_buf(),
        keys: keys.clone(),
        locale: Locale::new(lang),
        clock: Arc::new(clock.clone()),
        // The device flow: these tests play the provider's approval of a code.
        sign_in_method: tokendesk::desk::sign_in::Method::DeviceCode,
    });
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1200.0, 800.0))
        // Frames as a screen paints them, so two clicks a few frames apart are a
        // double-click (egui allows 0.3 s between them).
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(|ui, state: &mut AppState| state.ui(ui), state);
    settle(&mut harness, |h| h.state().data().is_some());
    harness
}

/// Steps frames until `done` holds, giving the worker thread time between frames.
pub(crate) fn settle(
    harness: &mut Harness<'static, AppState>,
    done: impl Fn(&Harness<'static, AppState>) -> bool,
) {
    for _ in 0..200 {
        harness.step();
        if done(harness) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let labels: Vec<String> = harness
        .root()
        .children_recursive()
        .filter_map(|n| {
            n.accesskit_node()
                .label()
                .or_else(|| n.accesskit_node().value())
        })
        .collect();
    panic!("the condition did not come true within 5 s; the window shows: {labels:?}");
}

/// Selects the data source and presses Enter, as the Intrexx guide says.
pub(crate) fn open_data_source(harness: &mut Harness<'static, AppState>, name: &str) {
    harness.get_by_label(name).click();
    harness.step();
    harness.key_press(egui::Key::Enter);
    settle(harness, |h| h.state().editor.is_some());
}

/// Dialogs size and centre themselves over a few frames (a reopened one starts at
/// its last size); clicks must land where they settled.
pub(crate) fn steady(harness: &mut Harness<'static, AppState>) {
    for _ in 0..3 {
        harness.step();
    }
}

/// Clicks the widget and lets the window show the result (a click acts in one
/// frame and shows in the next).
pub(crate) fn press(harness: &mut Harness<'static, AppState>, label: &str) {
    steady(harness);
    harness.get_by_label(label).click();
    harness.step();
    harness.step();
}

/// Clicks a dialog tab (the main table behind has a column of the same name).
pub(crate) fn tab(harness: &mut Harness<'static, AppState>, name: &str) {
    steady(harness);
    let nodes: Vec<_> = harness.query_all_by_label(name).collect();
    nodes.last().expect("tab exists").click();
    harness.step();
    harness.step();
}

/// The text field with this label (the main table behind the dialog has headers
/// with the same words).
pub(crate) fn input<'h>(
    harness: &'h Harness<'static, AppState>,
    label: &'h str,
) -> egui_kittest::Node<'h> {
    harness
        .query_all_by_label(label)
        .find(|n| {
            matches!(
                n.accesskit_node().role(),
                egui::accesskit::Role::TextInput | egui::accesskit::Role::PasswordInput
            )
        })
        .expect("text field exists")
}

fn stored(setup: &Setup, target: &TokenTarget) -> tokendesk::vault::TokenRecord {
    Vault::open(setup.dir.path(), &setup.keys)
        .unwrap()
        .data()
        .token(target)
        .unwrap()
        .clone()
}

#[test]
fn enter_opens_the_data_source_and_the_whole_device_flow_stores_a_token() {
    let setup = setup();
    let mut harness = harness(&setup, Lang::En);
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Exchange account");
    assert!(
        harness.query_all_by_label_contains("no token").count() >= 2,
        "table and tab"
    );

    steady(&mut harness);
    harness.get_by_label("Request MS365 Refresh Token").click();
    // The code is copied in the frame that first shows it; which frame that is
    // depends on when the worker's answer arrives, so every frame's output from the
    // click on counts.
    let mut copies: Vec<String> = Vec::new();
    for _ in 0..200 {
        harness.step();
        copies.extend(
            harness
                .output()
                .platform_output
                .commands
                .iter()
                .filter_map(|command| match command {
                    egui::OutputCommand::CopyText(text) => Some(text.clone()),
                    _ => None,
                }),
        );
        if harness
            .state()
            .sign_in
            .as_ref()
            .is_some_and(|d| d.authorization.is_some())
            && !copies.is_empty()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let code = harness
        .state()
        .sign_in
        .as_ref()
        .unwrap()
        .authorization
        .as_ref()
        .unwrap()
        .user_code
        .clone();
    assert!(harness.query_by_label(&code).is_some(), "the code is shown");
    assert_eq!(
        copies,
        vec![code.clone()],
        "the user code went to the clipboard, once"
    );
    assert!(
        harness
            .query_by_label_contains("Never enter a code")
            .is_some()
    );
    assert!(harness.query_by_label_contains("/devicelogin").is_some());

    press(&mut harness, "Next");
    assert!(
        harness
            .query_by_label_contains("Sign in with: sales@contoso.com")
            .is_some()
    );
    setup.provider.approve();
    settle(&mut harness, |h| h.state().sign_in.is_none());
    let target = TokenTarget::data_source("Exchange");
    settle(&mut harness, |_| {
        stored(&setup, &target).has_refresh_token()
    });
    settle(&mut harness, |h| {
        h.query_all_by_label_contains("no token").next().is_none()
            && h.query_all_by_label_contains("healthy").count() >= 2
    });

    let record = stored(&setup, &target);
    assert_eq!(
        record
            .refresh_token
            .as_ref()
            .map(Secret::expose)
            .map(String::from),
        setup.provider.current_refresh_token_of("sales@contoso.com")
    );
    let button = harness.get_by_label("Request MS365 Refresh Token");
    assert!(
        button.accesskit_node().is_disabled(),
        "gray while the token is healthy"
    );

    press(&mut harness, "Test Connection");
    settle(&mut harness, |h| {
        h.query_all_by_label_contains("Connection works")
            .next()
            .is_some()
    });

    // Clear Token asks first, then suspends the connection.
    press(&mut harness, "Clear Token");
    press(&mut harness, "Yes");
    settle(&mut harness, |_| {
        !stored(&setup, &target).has_refresh_token()
    });
    assert!(stored(&setup, &target).cleared.is_some());
    // What the test found described the token that is gone.
    settle(&mut harness, |h| {
        h.query_all_by_label_contains("no token").next().is_some()
    });
    assert_eq!(
        harness
            .query_all_by_label_contains("Connection works")
            .count(),
        0
    );
}

#[test]
fn declined_sign_in_shows_the_reason_and_offers_retry() {
    let setup = setup();
    let mut harness = harness(&setup, Lang::En);
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Exchange account");
    setup
        .provider
        .script_polls(&[support::provider::PollAnswer::Decline]);
    press(&mut harness, "Request MS365 Refresh Token");
    settle(&mut harness, |h| {
        h.query_all_by_label("Sign-in failed").next().is_some()
    });
    assert!(harness.query_by_label_contains("declined").is_some());
    assert!(harness.query_by_label("Retry").is_some());
    press(&mut harness, "Close");
    assert!(harness.state().sign_in.is_none());
    assert!(!stored(&setup, &TokenTarget::data_source("Exchange")).has_refresh_token());
    assert!(setup.provider.requests_to(Endpoint::Token).len() <= 2);
}

#[test]
fn invalid_values_are_reported_beside_the_fields() {
    let setup = setup();
    let mut harness = harness(&setup, Lang::En);
    press(&mut harness, "New data source");
    harness.step();
    input(&harness, "Tenant").focus();
    input(&harness, "Tenant").type_text("contoso");
    harness.step();
    input(&harness, "Client ID").focus();
    input(&harness, "Client ID").type_text("not-a-guid");
    harness.step();
    harness.step();
    assert!(
        harness
            .query_by_label_contains("'contoso' is not a tenant")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("is not an Application (client) ID")
            .is_some()
    );
    press(&mut harness, "OK");
    assert!(
        harness.state().editor.is_some(),
        "nothing is saved with errors"
    );
}

#[test]
fn reminder_banner_at_29_days_and_warning_at_9() {
    let setup = setup();
    let mut vault = Vault::open(setup.dir.path(), &setup.keys).unwrap();
    let issued = tokendesk::clock::Clock::now(&setup.clock) - chrono::Duration::days(61);
    vault
        .update(|data| {
            let record = data.token_mut(&TokenTarget::data_source("Exchange"))?;
            record.refresh_token = Some(Secret::new("rt"));
            record.obtained_at = Some(issued);
            Ok(())
        })
        .unwrap();
    let mut harness = harness(&setup, Lang::En);
    assert!(
        harness
            .query_by_label_contains("Exchange token for sales@contoso.com will expire on")
            .is_some()
    );
    press(&mut harness, "Dismiss for today");
    settle(&mut harness, |h| {
        h.query_all_by_label_contains("will expire on")
            .next()
            .is_none()
    });

    setup.clock.advance(chrono::Duration::days(20));
    harness.step();
    harness.step();
    assert!(
        harness
            .query_by_label_contains("Renewal is required now")
            .is_some()
    );
    assert!(
        harness
            .query_all_by_label("Dismiss for today")
            .next()
            .is_none(),
        "the last-10-days warning stays"
    );
}

#[test]
fn the_german_ui() {
    let setup = setup();
    let mut harness = harness(&setup, Lang::De);
    assert!(harness.query_by_label("Neue Datenquelle").is_some());
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Exchange-Konto");
    assert!(
        harness
            .query_by_label("MS365-Aktualisierungstoken anfordern")
            .is_some()
    );
}

/// Clicks the last widget with this label: the one in the dialog on top.
pub(crate) fn press_last(harness: &mut Harness<'static, AppState>, label: &str) {
    steady(harness);
    let nodes: Vec<_> = harness.query_all_by_label(label).collect();
    nodes.last().expect("widget exists").click();
    harness.step();
    harness.step();
}

pub(crate) fn type_into(harness: &mut Harness<'static, AppState>, label: &str, text: &str) {
    input(harness, label).focus();
    harness.step();
    input(harness, label).type_text(text);
    harness.step();
}

fn vault_users(setup: &Setup) -> Vec<(String, String)> {
    let vault = Vault::open(setup.dir.path(), &setup.keys).unwrap();
    vault.data().data_sources[0]
        .users
        .iter()
        .map(|m| (m.app_user.login.clone(), m.exchange_user.clone()))
        .collect()
}

#[test]
fn add_edit_and_remove_an_additional_user() {
    let setup = setup();
    let mut harness = harness(&setup, Lang::En);
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Additional users");

    press(&mut harness, "Add");
    type_into(&mut harness, "Application user", "USER/jdoe");
    type_into(&mut harness, "Exchange user", "jane");
    press_last(&mut harness, "OK");
    assert!(
        harness
            .query_by_label_contains("'jane' is not an e-mail address")
            .is_some()
    );
    type_into(&mut harness, "Exchange user", "@contoso.com");
    press_last(&mut harness, "OK");
    assert!(harness.state().editor.as_ref().unwrap().mapping.is_none());
    assert!(harness.query_by_label("USER/jdoe").is_some());

    // A second mapping for the same application user is refused.
    press(&mut harness, "Add");
    type_into(&mut harness, "Application user", "user/JDOE");
    type_into(&mut harness, "Exchange user", "other@contoso.com");
    press_last(&mut harness, "OK");
    assert!(
        harness
            .query_by_label_contains("is already mapped")
            .is_some()
    );
    press_last(&mut harness, "Cancel");

    // Nothing reaches the vault before OK.
    assert!(vault_users(&setup).is_empty());
    press(&mut harness, "OK");
    settle(&mut harness, |_| !vault_users(&setup).is_empty());
    assert_eq!(
        vault_users(&setup),
        vec![("USER/jdoe".to_string(), "jane@contoso.com".to_string())]
    );
    settle(&mut harness, |h| {
        h.state()
            .data()
            .is_some_and(|d| d.data_sources[0].users.len() == 1)
    });

    // Edit, then remove with confirmation.
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Additional users");
    settle(&mut harness, |h| {
        h.query_all_by_label("USER/jdoe").next().is_some()
    });
    harness.get_by_label("USER/jdoe").click_secondary();
    harness.step();
    harness.step();
    press_last(&mut harness, "Edit");
    type_into(&mut harness, "Exchange user", ".de");
    press_last(&mut harness, "OK");
    harness.get_by_label("USER/jdoe").click_secondary();
    harness.step();
    harness.step();
    press_last(&mut harness, "Remove");
    assert!(
        harness
            .query_by_label_contains("Remove this mapping")
            .is_some()
    );
    press_last(&mut harness, "Remove");
    assert!(harness.query_all_by_label("USER/jdoe").next().is_none());
    press(&mut harness, "OK");
    settle(&mut harness, |_| vault_users(&setup).is_empty());
}

#[test]
fn test_connection_redeems_calls_ews_and_checks_the_account() {
    let setup = setup();
    let scope = "https://outlook.office365.com/EWS.AccessAsUser.All offline_access openid profile";
    let first = setup
        .provider
        .issue_grant("sales@contoso.com", scope, Utc::now());
    let target = TokenTarget::data_source("Exchange");
    Vault::open(setup.dir.path(), &setup.keys)
        .unwrap()
        .update(|data| {
            let record = data.token_mut(&target)?;
            record.refresh_token = Some(Secret::new(first.clone()));
            record.obtained_at = Some(tokendesk::clock::Clock::now(&setup.clock));
            Ok(())
        })
        .unwrap();
    let mut harness = harness(&setup, Lang::En);
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Exchange account");
    press(&mut harness, "Test Connection");
    settle(&mut harness, |h| {
        h.state()
            .editor
            .as_ref()
            .is_some_and(|e| e.test_result.is_some())
    });
    let result = harness
        .state()
        .editor
        .as_ref()
        .unwrap()
        .test_result
        .clone()
        .unwrap();
    assert_eq!(result, Ok("sales@contoso.com".to_string()));
    assert_eq!(setup.provider.requests_to(Endpoint::Ews).len(), 1);
    // The rotated refresh token was stored.
    let stored_token = stored(&setup, &target)
        .refresh_token
        .unwrap()
        .expose()
        .to_string();
    assert_ne!(stored_token, first);
    assert_eq!(
        Some(stored_token),
        setup.provider.current_refresh_token_of("sales@contoso.com")
    );

    // Signed in as someone else: the test says so.
    setup.provider.set_user("other@contoso.com");
    let other = setup
        .provider
        .issue_grant("other@contoso.com", scope, Utc::now());
    Vault::open(setup.dir.path(), &setup.keys)
        .unwrap()
        .update(|data| {
            data.token_mut(&target)?.refresh_token = Some(Secret::new(other.clone()));
            Ok(())
        })
        .unwrap();
    press(&mut harness, "Test Connection");
    settle(&mut harness, |h| {
        h.state()
            .editor
            .as_ref()
            .is_some_and(|e| e.test_result.is_some())
    });
    let result = harness
        .state()
        .editor
        .as_ref()
        .unwrap()
        .test_result
        .clone()
        .unwrap();
    assert!(
        result
            .unwrap_err()
            .message
            .contains("configured for sales@contoso.com")
    );
}

/// Network work runs beside the vault writes: OK saves at once while Test
/// Connection waits for a provider that takes 8 s to answer.
#[test]
fn a_save_does_not_wait_behind_a_slow_test_connection() {
    let setup = setup();
    let scope = "https://outlook.office365.com/EWS.AccessAsUser.All offline_access openid profile";
    let grant = setup
        .provider
        .issue_grant("sales@contoso.com", scope, Utc::now());
    let target = TokenTarget::data_source("Exchange");
    Vault::open(setup.dir.path(), &setup.keys)
        .unwrap()
        .update(|data| {
            data.token_mut(&target)?.refresh_token = Some(Secret::new(grant));
            Ok(())
        })
        .unwrap();
    setup.provider.fail_next(
        Endpoint::Ews,
        support::provider::Fault::Slow(Duration::from_secs(8)),
    );
    let mut harness = harness(&setup, Lang::En);
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Exchange account");
    press(&mut harness, "Test Connection");
    settle(&mut harness, |_| {
        !setup.provider.requests_to(Endpoint::Ews).is_empty()
    });
    let before = Vault::open(setup.dir.path(), &setup.keys)
        .unwrap()
        .generation();
    let pressed = std::time::Instant::now();
    press(&mut harness, "OK");
    settle(&mut harness, |_| {
        Vault::open(setup.dir.path(), &setup.keys)
            .unwrap()
            .generation()
            > before
    });
    assert!(
        pressed.elapsed() < Duration::from_secs(3),
        "the save waited {:?} behind the test",
        pressed.elapsed()
    );
    assert!(harness.state().editor.is_none(), "the dialog closed");
}

#[test]
fn a_blocked_ews_offers_switching_the_data_source_to_graph() {
    let setup = setup();
    let scope = "https://outlook.office365.com/EWS.AccessAsUser.All offline_access openid profile";
    let grant = setup
        .provider
        .issue_grant("sales@contoso.com", scope, Utc::now());
    let target = TokenTarget::data_source("Exchange");
    Vault::open(setup.dir.path(), &setup.keys)
        .unwrap()
        .update(|data| {
            let record = data.token_mut(&target)?;
            record.refresh_token = Some(Secret::new(grant));
            record.obtained_at = Some(tokendesk::clock::Clock::now(&setup.clock));
            Ok(())
        })
        .unwrap();
    setup.provider.fail_next(
        Endpoint::Ews,
        support::provider::Fault::Status {
            status: 403,
            retry_after: None,
        },
    );
    let mut harness = harness(&setup, Lang::En);
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Exchange account");
    press(&mut harness, "Test Connection");
    settle(&mut harness, |h| {
        h.query_all_by_label("Switch this data source to Microsoft Graph")
            .next()
            .is_some()
    });
    assert!(
        harness
            .query_all_by_label_contains("EwsAllowedAppIDs")
            .next()
            .is_some(),
        "the fix is named"
    );
    press(&mut harness, "Switch this data source to Microsoft Graph");
    assert!(
        harness
            .query_all_by_label_contains("Switched to Microsoft Graph")
            .next()
            .is_some()
    );
    let before = Vault::open(setup.dir.path(), &setup.keys).unwrap();
    assert_eq!(
        before
            .data()
            .data_source("Exchange")
            .unwrap()
            .provider
            .scopes,
        Scopes::Ews,
        "nothing is stored before OK"
    );
    press(&mut harness, "OK");
    settle(&mut harness, |_| {
        let vault = Vault::open(setup.dir.path(), &setup.keys).unwrap();
        let source = vault.data().data_source("Exchange").unwrap().clone();
        source.provider.scopes == Scopes::Graph && source.account.server == ExchangeServer::Graph
    });
}

#[test]
fn an_expired_code_says_so_and_retry_starts_over() {
    let setup = setup();
    let mut harness = harness(&setup, Lang::En);
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Exchange account");
    setup
        .provider
        .script_polls(&[support::provider::PollAnswer::Expire]);
    press(&mut harness, "Request MS365 Refresh Token");
    settle(&mut harness, |h| {
        h.query_all_by_label("Sign-in failed").next().is_some()
    });
    assert!(
        harness
            .query_by_label_contains("sign-in code expired")
            .is_some()
    );
    let codes_before = setup.provider.requests_to(Endpoint::DeviceCode).len();
    press(&mut harness, "Retry");
    settle(&mut harness, |h| {
        h.state()
            .sign_in
            .as_ref()
            .is_some_and(|d| d.authorization.is_some())
    });
    assert_eq!(
        setup.provider.requests_to(Endpoint::DeviceCode).len(),
        codes_before + 1
    );
    press_last(&mut harness, "Cancel");
    assert!(harness.state().sign_in.is_none());
    assert!(
        harness.state().editor.is_some(),
        "only the request dialog closed"
    );
    assert!(!stored(&setup, &TokenTarget::data_source("Exchange")).has_refresh_token());
}

#[test]
fn the_open_app_renews_due_tokens_by_itself() {
    let setup = setup();
    let mut vault = Vault::open(setup.dir.path(), &setup.keys).unwrap();
    let now = tokendesk::clock::Clock::now(&setup.clock);
    let issued = now - chrono::Duration::days(8);
    let grant = setup.provider.issue_grant(
        "sales@contoso.com",
        "https://outlook.office365.com/EWS.AccessAsUser.All offline_access",
        issued,
    );
    setup.provider.set_now(now);
    vault
        .update(|data| {
            data.settings.keepalive_in_app = true;
            let record = data.token_mut(&TokenTarget::data_source("Exchange"))?;
            record.refresh_token = Some(Secret::new(grant.clone()));
            record.obtained_at = Some(issued);
            Ok(())
        })
        .unwrap();
    let mut harness = harness(&setup, Lang::En);
    assert!(
        harness
            .query_by_label_contains("next run 22/11/2026")
            .is_some()
    );
    assert!(setup.provider.requests_to(Endpoint::Token).is_empty());

    // A minute after opening, the first run renews the 8-day-old token.
    setup.clock.advance(chrono::Duration::minutes(2));
    settle(&mut harness, |h| {
        h.query_all_by_label_contains("1 renewed").next().is_some()
    });
    let record = stored(&setup, &TokenTarget::data_source("Exchange"));
    assert_eq!(
        record.refresh_token.map(|t| t.expose().to_string()),
        setup.provider.current_refresh_token_of("sales@contoso.com")
    );
    assert_ne!(
        setup.provider.current_refresh_token_of("sales@contoso.com"),
        Some(grant)
    );
    assert_eq!(
        record.last_redeemed_at,
        Some(now + chrono::Duration::minutes(2))
    );
    // The next run is the interval (4 hours) later, and it is shown.
    assert!(
        harness
            .query_by_label_contains("next run 22/11/2026")
            .is_some()
    );
    assert_eq!(
        harness.state().keepalive.next_at,
        Some(now + chrono::Duration::minutes(2) + chrono::Duration::hours(4))
    );
    // Nothing is due any more: "Renew due tokens now" has nothing to do and is
    // not offered until something is due again.
    harness.step();
    assert!(
        harness
            .get_by_label("Renew due tokens now")
            .accesskit_node()
            .is_disabled()
    );
    assert_eq!(setup.provider.requests_to(Endpoint::Token).len(), 1);
}

#[test]
fn settings_are_checked_saved_and_switch_the_language() {
    let setup = setup();
    let mut harness = harness(&setup, Lang::En);
    press(&mut harness, "Settings");
    settle(&mut harness, |h| h.state().settings.is_some());
    let field = "Reminders from (days before expiry)";
    input(&harness, field).focus();
    harness.step();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.step();
    input(&harness, field).type_text("5");
    harness.step();
    harness.step();
    assert!(
        harness
            .query_by_label_contains("Reminders must start earlier than forced renewal")
            .is_some()
    );
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.step();
    input(&harness, field).type_text("45");
    harness.step();
    harness.step();
    assert!(
        harness
            .query_all_by_label_contains("Reminders must start")
            .next()
            .is_none()
    );
    press(&mut harness, "Deutsch");
    press_last(&mut harness, "OK");
    settle(&mut harness, |h| {
        h.query_all_by_label("Einstellungen").next().is_some()
    });
    let vault = Vault::open(setup.dir.path(), &setup.keys).unwrap();
    assert_eq!(vault.data().settings.reminder_days, 45);
    assert_eq!(vault.data().settings.language.as_deref(), Some("de"));
    assert!(harness.query_by_label("Neue Datenquelle").is_some());
}

#[test]
fn double_click_and_context_menu_open_the_dialog_and_escape_closes_it() {
    let setup = setup();
    let mut harness = harness(&setup, Lang::En);
    // A real double-click: press and release in separate frames, twice, quickly.
    let at = harness.get_by_label("Exchange").rect().center();
    harness.event(egui::Event::PointerMoved(at));
    for pressed in [true, false, true, false] {
        harness.event(egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::default(),
        });
        harness.step();
    }
    harness.step();
    assert!(
        harness.state().editor.is_some(),
        "double-click opens the dialog"
    );
    steady(&mut harness);
    harness.key_press(egui::Key::Escape);
    harness.step();
    harness.step();
    assert!(harness.state().editor.is_none(), "Esc is Cancel");

    harness.get_by_label("Exchange").click_secondary();
    harness.step();
    harness.step();
    press_last(&mut harness, "Edit");
    assert!(
        harness.state().editor.is_some(),
        "right-click › Edit opens the dialog"
    );
}

#[test]
fn a_custom_issuer_gets_a_refresh_lifetime_rule_or_unknown_never_a_guess() {
    let setup = setup();
    let mut harness = harness(&setup, Lang::En);
    open_data_source(&mut harness, "Exchange");
    press(&mut harness, "Custom issuer URL");
    let issuer = setup.provider.base_url().join("realms/test").unwrap();
    type_into(&mut harness, "Issuer URL", issuer.as_str());
    press(&mut harness, "Custom scopes");
    type_into(
        &mut harness,
        "Scopes",
        "openid profile email offline_access",
    );
    let field = "Refresh token lifetime (days)";
    type_into(&mut harness, field, "soon");
    assert!(
        harness
            .query_by_label_contains("'soon' is not a number of days")
            .is_some()
    );
    input(&harness, field).focus();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.key_press(egui::Key::Backspace);
    harness.step();
    input(&harness, field).type_text("30");
    harness.step();
    press(&mut harness, "sign-in");
    press(&mut harness, "OK");
    settle(&mut harness, |h| {
        h.state().editor.is_none()
            && h.state()
                .data()
                .is_some_and(|d| d.data_sources[0].refresh_rule.is_some())
    });
    let vault = Vault::open(setup.dir.path(), &setup.keys).unwrap();
    let source = &vault.data().data_sources[0];
    assert_eq!(
        source.refresh_rule,
        Some(tokendesk::vault::RefreshRule {
            days: 30,
            counted_from: tokendesk::vault::RuleStart::SignIn,
        })
    );
}

/// A provider that names the account only in its userinfo answer (as oidc-provider
/// does by default): the window accepts the right account and says nothing of
/// "another account"; one that names nobody gets its own heading.
#[test]
fn the_window_names_the_account_from_userinfo_and_says_when_nobody_is_named() {
    let setup = setup();
    setup.provider.set_claims_in_id_token(false);
    let mut harness = harness(&setup, Lang::En);
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Exchange account");
    press(&mut harness, "Request MS365 Refresh Token");
    settle(&mut harness, |h| {
        h.state()
            .sign_in
            .as_ref()
            .is_some_and(|d| d.authorization.is_some())
    });
    press(&mut harness, "Next");
    setup.provider.approve();
    settle(&mut harness, |h| h.state().sign_in.is_none());
    let target = TokenTarget::data_source("Exchange");
    settle(&mut harness, |_| {
        stored(&setup, &target).has_refresh_token()
    });
    let record = stored(&setup, &target);
    let identity = record.identity.expect("identity");
    assert_eq!(identity.username.as_deref(), Some("sales@contoso.com"));
    assert_eq!(identity.named_by.as_deref(), Some("userinfo"));

    // The userinfo endpoint refuses: not "another account", but its own message.
    let setup = self::setup();
    setup.provider.set_claims_in_id_token(false);
    setup.provider.fail_next(
        Endpoint::UserInfo,
        support::provider::Fault::Status {
            status: 401,
            retry_after: None,
        },
    );
    let mut harness = self::harness(&setup, Lang::En);
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Exchange account");
    press(&mut harness, "Request MS365 Refresh Token");
    settle(&mut harness, |h| {
        h.state()
            .sign_in
            .as_ref()
            .is_some_and(|d| d.authorization.is_some())
    });
    press(&mut harness, "Next");
    setup.provider.approve();
    settle(&mut harness, |h| {
        h.query_all_by_label("The provider did not name the account")
            .next()
            .is_some()
    });
    assert!(
        harness
            .query_all_by_label("Signed in, but as another account")
            .next()
            .is_none()
    );
    assert!(!stored(&setup, &TokenTarget::data_source("Exchange")).has_refresh_token());
}

#[test]
fn settings_warn_when_a_daily_job_cannot_keep_a_short_window_alive() {
    let setup = setup();
    let mut vault = Vault::open(setup.dir.path(), &setup.keys).unwrap();
    vault
        .update(|data| {
            let source = &mut data.data_sources[0];
            source.refresh_rule = Some(tokendesk::vault::RefreshRule {
                days: 1,
                counted_from: tokendesk::vault::RuleStart::LastUse,
            });
            source.token.refresh_token = Some(tokendesk::Secret::new("rt"));
            source.token.obtained_at = Some(Utc::now());
            Ok(())
        })
        .unwrap();
    let mut harness = harness(&setup, Lang::En);
    press(&mut harness, "Settings");
    settle(&mut harness, |h| {
        h.query_all_by_label_contains("die after 24 hours without use")
            .next()
            .is_some()
    });
}
