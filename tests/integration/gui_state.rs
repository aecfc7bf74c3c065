//! The window as plain state, driven without a thread, a vault or sleeps: events go
//! in, frames are drawn, and the commands it sends come out — as egui's own demos
//! test their windows.

use chrono::{DateTime, Duration, TimeZone, Utc};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tokendesk::Secret;
use tokendesk::desk::DeskError;
use tokendesk::identity::{Authority, Cloud, IdentityError, ProviderConfig, Scopes};
use tokendesk::ui::AppState;
use tokendesk::ui::i18n::Lang;
use tokendesk::ui::worker::{Command, DetachedWorker, Event};
use tokendesk::vault::{AppUser, DataSource, UserMapping, VaultData, VaultError};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
}

fn microsoft() -> ProviderConfig {
    ProviderConfig {
        authority: Authority::microsoft(Cloud::Global, "contoso.onmicrosoft.com"),
        client_id: "7f1b6b3e-9a41-4bb0-8c8c-2a4ad1a7c0de".into(),
        client_secret: None,
        scopes: Scopes::Graph,
    }
}

/// Two data sources on Microsoft's 90-day rule: Sales with healthy tokens and one
/// additional user 85 days after the last use (5 days left), Support whose own
/// token was never requested and one user 70 days after (20 days left).
fn vault_data() -> VaultData {
    let mut data = VaultData {
        generation: 7,
        ..Default::default()
    };
    let signed_in = |record: &mut tokendesk::vault::TokenRecord, days_ago: i64| {
        record.refresh_token = Some(Secret::new(format!("rt-{days_ago}")));
        record.obtained_at = Some(now() - Duration::days(days_ago));
    };
    let mapping = |login: &str, days_ago: Option<i64>| {
        let email = format!("{}@contoso.com", login.to_lowercase());
        let mut mapping = UserMapping::new(
            AppUser {
                login: login.into(),
                display_name: login.into(),
                email: email.clone(),
            },
            email,
        );
        if let Some(days) = days_ago {
            signed_in(&mut mapping.token, days);
        }
        mapping
    };
    let mut sales = DataSource::new("Sales", microsoft(), "sales@contoso.com");
    signed_in(&mut sales.token, 1);
    sales.users = vec![
        mapping("Anna", Some(85)).into(),
        mapping("Ben", Some(2)).into(),
    ];
    let mut support = DataSource::new("Support", microsoft(), "support@contoso.com");
    support.users = vec![mapping("Cleo", Some(70)).into()];
    data.data_sources = vec![sales, support];
    data
}

fn window(lang: Lang) -> (Harness<'static, AppState>, DetachedWorker) {
    window_on(lang, vault_data())
}

fn window_on(lang: Lang, data: VaultData) -> (Harness<'static, AppState>, DetachedWorker) {
    let (harness, mut end) = crate::support::plain_window::window_on(lang, data, now());
    // What the window asked for at its start is not what these tests look at.
    let _ = end.sent();
    (harness, end)
}

fn click(harness: &mut Harness<'static, AppState>, label: &str) {
    harness.get_by_label(label).click();
    harness.run_steps(2);
}

/// Selects the data source, opens it with Enter (as the Intrexx guide says) and
/// switches to the dialog's tab (the main table behind has a column of that name).
fn open_tab(harness: &mut Harness<'static, AppState>, source: &str, tab: &str) {
    harness.get_by_label(source).click();
    harness.run_steps(1);
    harness.key_press(egui::Key::Enter);
    harness.run_steps(3);
    let tabs: Vec<_> = harness.query_all_by_label(tab).collect();
    tabs.last().expect("the tab").click();
    harness.run_steps(3);
}

/// Microsoft's answer when Conditional Access blocks a sign-in (AADSTS53003).
fn blocked_by_conditional_access() -> IdentityError {
    let body = tokendesk::identity::error::ProviderErrorBody {
        error: "invalid_grant".into(),
        error_codes: vec![53003],
        ..Default::default()
    };
    tokendesk::identity::error::classify(&body, Some(400))
}

/// Picks an entry of an open dropdown (the table may show the same words).
fn pick(harness: &mut Harness<'static, AppState>, entry: &str) {
    // The open dropdown is drawn last, above everything else.
    harness
        .query_all_by_label(entry)
        .rfind(|n| n.accesskit_node().role() != Role::Label)
        .expect("the entry")
        .click();
    harness.run_steps(3);
}

/// The accounts shown, in the order the window shows them.
fn accounts_in_order(harness: &Harness<'static, AppState>) -> Vec<String> {
    harness
        .root()
        .children_recursive()
        .filter_map(|node| {
            let node = node.accesskit_node();
            node.label().or_else(|| node.value())
        })
        .filter(|label| label.ends_with("@contoso.com"))
        .fold(Vec::new(), |mut shown: Vec<String>, label| {
            // A cell's text can appear as its node's label and value.
            if shown.last() != Some(&label) {
                shown.push(label);
            }
            shown
        })
}

#[test]
fn the_main_table_shows_each_data_sources_worst_token_and_how_many_need_action() {
    let (harness, _end) = window(Lang::En);
    assert!(
        harness
            .query_by_label("renewal forced · 1 need action")
            .is_some(),
        "Sales: its own token is healthy, Anna's has 5 days left"
    );
    assert!(
        harness
            .query_by_label("renewal due · 1 need action")
            .is_some(),
        "Support: its own token was never requested (nothing to act on), Cleo's is due"
    );
}

#[test]
fn all_mailboxes_lists_every_token_most_urgent_first_and_acts_on_the_selection() {
    let (mut harness, mut end) = window(Lang::En);
    click(&mut harness, "All mailboxes");
    assert_eq!(
        accounts_in_order(&harness),
        [
            "anna@contoso.com",
            "cleo@contoso.com",
            "ben@contoso.com",
            "sales@contoso.com",
            "support@contoso.com",
        ],
        "5, 20, 88 and 89 days left, then the token never requested"
    );
    assert!(
        harness
            .query_by_label("5 of 5 tokens shown, 0 selected")
            .is_some()
    );

    // Filter by state, select what is shown, renew it.
    harness.get_by_label("State").click();
    harness.run_steps(2);
    pick(&mut harness, "renewal forced");
    harness.run_steps(2);
    assert_eq!(accounts_in_order(&harness), ["anna@contoso.com"]);
    click(&mut harness, "Select all shown");
    click(&mut harness, "Renew selected");
    let sent = end.sent();
    assert!(
        matches!(&sent[..], [Command::Renew(targets)]
            if targets.len() == 1
                && targets[0].data_source == "Sales"
                && targets[0].app_user.as_deref() == Some("Anna")),
        "one renewal of Anna's token"
    );

    // Back to every state; tick Cleo's box as well; request new tokens for both,
    // one sign-in after another.
    harness.get_by_label("State").click();
    harness.run_steps(2);
    pick(&mut harness, "Every state");
    let boxes: Vec<_> = harness.get_all_by_role(Role::CheckBox).collect();
    assert_eq!(boxes.len(), 5);
    boxes[1].click();
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label("5 of 5 tokens shown, 2 selected")
            .is_some()
    );
    click(&mut harness, "Request new tokens");
    let sent = end.sent();
    assert!(
        matches!(&sent[..], [Command::StartSignIn { .. }]),
        "one sign-in at a time"
    );
    assert!(
        harness
            .query_by_label("Sign-in 1 of 2: anna@contoso.com")
            .is_some()
    );
    // The first ends (the provider's answer is not the point here): the next opens.
    harness.state_mut().sign_in = None;
    harness.run_steps(2);
    assert!(matches!(&end.sent()[..], [Command::StartSignIn { .. }]));
    assert!(
        harness
            .query_by_label("Sign-in 2 of 2: cleo@contoso.com")
            .is_some()
    );
    click(&mut harness, "Cancel");
    assert!(harness.state().sign_in.is_none());
    assert!(matches!(&end.sent()[..], [Command::CancelSignIn]));
    harness.run_steps(2);
    assert!(
        end.sent().is_empty(),
        "closing one sign-in of the series ends the series"
    );

    // Clear asks first, then clears both in one write.
    click(&mut harness, "Clear");
    assert!(end.sent().is_empty(), "nothing before the confirmation");
    click(&mut harness, "Yes");
    let sent = end.sent();
    assert!(
        matches!(&sent[..], [Command::ClearTokens(targets)] if targets.len() == 2),
        "both selected tokens"
    );
}

#[test]
fn a_renewed_additional_user_shows_its_new_state_without_reopening() {
    let data = vault_data();
    let (mut harness, end) = window_on(Lang::En, data.clone());
    open_tab(&mut harness, "Support", "Additional users");
    assert!(
        harness.query_by_label("renewal due").is_some(),
        "Cleo, 20 days left"
    );

    // A sign-in for Cleo was stored: the vault reports the change.
    let mut data = data;
    data.generation += 1;
    data.data_sources[1].user_mut(0).token.obtained_at = Some(now());
    end.report(Event::VaultChanged(data));
    harness.run_steps(3);
    assert!(
        harness.query_all_by_label("renewal due").next().is_none(),
        "the row follows the vault"
    );
    assert!(
        harness.query_all_by_label("90").next().is_some(),
        "90 days left"
    );
}

#[test]
fn the_german_window_shows_the_providers_and_the_vaults_errors_in_german() {
    let (mut harness, end) = window(Lang::De);
    end.report(Event::Failed(DeskError::Vault(VaultError::WrongPassphrase)));
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label_contains("Falsche Passphrase")
            .is_some()
    );

    // A device-code sign-in blocked by Conditional Access.
    open_tab(&mut harness, "Sales", "Exchange-Konto");
    let data = vault_data();
    let config = data.data_sources[0].provider.clone();
    let dialog = tokendesk::ui::sign_in_dialog::SignInDialog::new(
        tokendesk::vault::ops::TokenTarget::data_source("Sales"),
        "sales@contoso.com".into(),
        true,
        &config,
    );
    harness.state_mut().sign_in = Some(dialog);
    end.report(Event::SignInFinished(Box::new(Err(
        blocked_by_conditional_access(),
    ))));
    harness.run_steps(3);
    assert!(
        harness
            .query_by_label_contains("Der bedingte Zugriff hat die Anmeldung blockiert")
            .is_some(),
        "AADSTS53003 in German"
    );
}

#[test]
fn users_are_imported_from_a_csv_file_after_a_preview() {
    let (mut harness, mut end) = window(Lang::En);
    open_tab(&mut harness, "Sales", "Additional users");
    click(&mut harness, "Import users (CSV)");
    harness.run_steps(2);
    let file = harness
        .query_all_by_label("File")
        .find(|n| n.accesskit_node().role() == Role::TextInput)
        .expect("the file field");
    file.focus();
    file.type_text("/srv/users.csv");
    harness.run_steps(2);
    click(&mut harness, "Preview");
    let sent = end.sent();
    assert!(
        matches!(&sent[..], [Command::PreviewImport(path)] if path.to_str() == Some("/srv/users.csv"))
    );
    // A file with a problem: named by line, nothing offered to import.
    end.report(Event::ImportPreview(Err(DeskError::Vault(
        VaultError::Invalid("Line 3: 'dora' is not an e-mail address.".into()),
    ))));
    harness.run_steps(2);
    assert!(harness.query_by_label_contains("Line 3").is_some());
    assert!(harness.query_by_label("Import").is_none());
    // The fixed file: previewed, then imported all at once.
    click(&mut harness, "Preview");
    let _ = end.sent();
    let users: Vec<AppUser> = (0..3)
        .map(|n| AppUser {
            login: format!("U{n}"),
            display_name: format!("User {n}"),
            email: format!("u{n}@contoso.com"),
        })
        .collect();
    end.report(Event::ImportPreview(Ok(users)));
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label("3 user(s) in the file, every row checked:")
            .is_some()
    );
    click(&mut harness, "Import");
    let sent = end.sent();
    assert!(matches!(&sent[..], [Command::ImportUsers { users, .. }] if users.len() == 3));
}

#[test]
fn request_token_signs_in_with_the_browser_offers_a_code_and_switches_back_after_a_policy_block() {
    let data = vault_data();
    let (mut harness, mut end) = window_on(Lang::En, data.clone());
    open_tab(&mut harness, "Sales", "Exchange account");
    // The token is healthy, so Request is gray; then it is cleared.
    let button = harness.get_by_label("Request MS365 Refresh Token");
    assert!(
        button.accesskit_node().is_disabled(),
        "gray while the token is healthy"
    );
    let mut data = data;
    data.generation += 1;
    data.data_sources[0].token.refresh_token = None;
    end.report(Event::VaultChanged(data));
    harness.run_steps(3);
    click(&mut harness, "Request MS365 Refresh Token");
    let sent = end.sent();
    let [
        Command::StartSignIn {
            method,
            login_hint,
            redirect_uri,
            ..
        },
    ] = &sent[..]
    else {
        panic!("one sign-in started");
    };
    assert_eq!(*method, tokendesk::desk::sign_in::Method::Browser);
    assert_eq!(login_hint, "sales@contoso.com");
    assert_eq!(
        redirect_uri.to_string(),
        "http://localhost",
        "Microsoft's default"
    );

    let page = url::Url::parse("https://login.example.test/authorize?client_id=x").unwrap();
    end.report(Event::BrowserWaiting(page.clone()));
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label_contains("Sign in in the browser window")
            .is_some()
    );
    assert!(
        harness.query_all_by_value(page.as_str()).next().is_some(),
        "the page is shown to copy"
    );
    click(&mut harness, "Use a code instead");
    assert!(matches!(
        &end.sent()[..],
        [Command::StartSignIn {
            method: tokendesk::desk::sign_in::Method::DeviceCode,
            ..
        }]
    ));

    // The device code is blocked by Conditional Access: one click back to the browser.
    end.report(Event::SignInFinished(Box::new(Err(
        blocked_by_conditional_access(),
    ))));
    harness.run_steps(3);
    assert!(
        harness
            .query_by_label_contains("A policy blocks sign-ins with a code")
            .is_some()
    );
    click(&mut harness, "Sign in with the browser");
    assert!(matches!(
        &end.sent()[..],
        [Command::StartSignIn {
            method: tokendesk::desk::sign_in::Method::Browser,
            ..
        }]
    ));
}

#[test]
fn settings_add_a_consumer_show_its_key_once_and_the_strip_says_a_gateway_serves() {
    let (mut harness, mut end) = window(Lang::En);
    end.report(Event::GatewayServing(true));
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label("A gateway (tokendesk serve) serves this vault.")
            .is_some()
    );
    click(&mut harness, "Settings");
    harness.run_steps(2);
    let name = harness
        .query_all_by_label("New consumer")
        .find(|n| n.accesskit_node().role() == Role::TextInput)
        .expect("the name field");
    name.focus();
    name.type_text("Portal");
    harness.run_steps(2);
    harness
        .query_all_by_value("Data source")
        .find(|n| n.accesskit_node().role() == Role::ComboBox)
        .expect("the data source choice")
        .click();
    harness.run_steps(2);
    pick(&mut harness, "Sales");
    let _ = end.sent();
    click(&mut harness, "Add");
    assert!(end.sent().is_empty(), "nothing is stored before OK");
    let key = harness
        .root()
        .children_recursive()
        .filter_map(|n| n.accesskit_node().value())
        .find(|v| v.starts_with(tokendesk::desk::consumers::KEY_PREFIX))
        .expect("the new key is shown");
    // Shown, and not put on the clipboard by itself.
    harness.run_steps(2);
    let copied = |harness: &Harness<'static, AppState>| {
        harness
            .output()
            .platform_output
            .commands
            .iter()
            .any(|c| matches!(c, egui::OutputCommand::CopyText(text) if *text == key))
    };
    assert!(!copied(&harness), "no automatic copy of a consumer key");
    harness.get_by_label("Copy").click();
    harness.step();
    assert!(copied(&harness), "Copy copies it on the admin's click");
    harness.run_steps(2);

    click(&mut harness, "OK");
    let sent = end.sent();
    assert!(
        matches!(&sent[..], [Command::SaveSettings(_, changes, _)]
            if changes.added.len() == 1 && changes.added[0].name == "Portal"
                && changes.added[0].has_key(&key) && changes.removed.is_empty()),
        "OK stores the consumer with the key that was shown"
    );
}

#[test]
fn the_server_is_chosen_once_the_api_decides_it_for_graph() {
    let (mut harness, _end) = window(Lang::En);
    open_tab(&mut harness, "Sales", "Exchange account");
    assert!(
        harness
            .query_by_label("Microsoft Graph (the API chosen on the General tab)")
            .is_some(),
        "Graph on General: the tab names it, no second choice"
    );
    assert!(harness.query_all_by_label("Office365").next().is_none());
    assert!(harness.query_all_by_label("EWS URL").next().is_none());
}

#[test]
fn a_sign_in_the_vault_could_not_take_is_not_started_and_says_so() {
    let mut data = vault_data();
    data.data_sources[0].token.refresh_token = None;
    let (mut harness, mut end) = window_on(Lang::De, data);
    open_tab(&mut harness, "Sales", "Exchange-Konto");
    click(&mut harness, "MS365-Aktualisierungstoken anfordern");
    assert!(matches!(&end.sent()[..], [Command::StartSignIn { .. }]));
    end.report(Event::SignInRefused(DeskError::Vault(VaultError::Invalid(
        "kein Platz".into(),
    ))));
    harness.run_steps(3);
    assert!(harness.query_by_label("Anmeldung nicht begonnen").is_some());
    assert!(
        harness
            .query_by_label_contains("Der Anbieter wurde nichts gefragt")
            .is_some()
    );
    click(&mut harness, "Erneut versuchen");
    assert!(
        matches!(&end.sent()[..], [Command::StartSignIn { .. }]),
        "Retry starts it again"
    );
}
