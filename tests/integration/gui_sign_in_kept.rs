//! A grant the provider gave is stored the moment it arrives, whatever the admin
//! clicks next: an additional user signed in from the Edit data source dialog is
//! in the vault (as `tokendesk status`, a separate process, sees it) before the
//! dialog's OK, and Cancel does not take it away. Where the draft cannot be saved
//! yet, the dialog keeps the sign-in and asks before Cancel discards it.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use egui_kittest::kittest::Queryable;
use tokendesk::clock::ManualClock;
use tokendesk::identity::Scopes;
use tokendesk::ui::i18n::Lang;
use tokendesk::vault::{DataSource, Vault};

use crate::gui::{harness_on, open_data_source, press, press_last, settle, tab, type_into};
use crate::support::desk::{self, text};
use crate::support::microsoft_config;
use crate::support::provider::TestProvider;

/// `tokendesk status --json` (another process) on the vault in `home`: the state
/// of application user `login`'s token, if the vault has that user.
fn state_in_status(home: &std::path::Path, login: &str) -> Option<String> {
    let out = desk::run(home, &["status", "--json"]);
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    report["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["user"] == login)
        .map(|t| t["state"].as_str().unwrap_or_default().to_string())
}

#[test]
fn an_additional_users_finished_sign_in_is_stored_before_ok_and_cancel_keeps_it() {
    let provider = TestProvider::microsoft();
    provider.set_interval(Some(1));
    let home = crate::support::temp_dir();
    let keys = desk::keys();
    let mut vault = Vault::create(home.path(), &keys, false).expect("vault");
    let mut source = DataSource::new(
        "Exchange",
        microsoft_config(&provider, Scopes::Ews),
        "sales@contoso.com",
    );
    source.account.api_root = Some(provider.base_url());
    vault
        .update(|data| {
            data.settings.keepalive_in_app = false;
            data.add_data_source(source)
        })
        .expect("data source");
    drop(vault);
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap());
    let mut harness = harness_on(home.path(), &keys, &clock, Lang::En);
    open_data_source(&mut harness, "Exchange");
    tab(&mut harness, "Additional users");
    press(&mut harness, "Add");
    type_into(&mut harness, "Application user", "USER/jdoe");
    type_into(&mut harness, "Exchange user", "jdoe@contoso.com");
    press_last(&mut harness, "Request MS365 Refresh Token");
    settle(&mut harness, |h| {
        h.state()
            .sign_in
            .as_ref()
            .is_some_and(|d| d.authorization.is_some())
    });
    provider.set_user("jdoe@contoso.com");
    provider.approve();
    settle(&mut harness, |h| h.state().sign_in.is_none());
    // The parent dialog is still open, and OK was never pressed.
    assert!(harness.state().editor.is_some());
    let mut state = None;
    for _ in 0..100 {
        harness.step();
        state = state_in_status(home.path(), "USER/jdoe");
        if state.as_deref() == Some("healthy") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        state.as_deref(),
        Some("healthy"),
        "the new user and its token are stored before OK"
    );
    assert!(
        harness.query_by_label_contains("saved at once").is_some(),
        "the dialog says so"
    );
    press_last(&mut harness, "Cancel");
    settle(&mut harness, |h| h.state().editor.is_none());
    assert_eq!(
        state_in_status(home.path(), "USER/jdoe").as_deref(),
        Some("healthy"),
        "Cancel keeps the stored sign-in"
    );
    let stored = Vault::open(home.path(), &keys).expect("vault");
    let token = stored
        .data()
        .token(&tokendesk::vault::ops::TokenTarget::user(
            "Exchange",
            "USER/jdoe",
        ))
        .expect("the mapping")
        .refresh_token
        .clone()
        .expect("a refresh token");
    assert_eq!(
        Some(token.expose().to_string()),
        provider.current_refresh_token_of("jdoe@contoso.com")
    );
}

/// A finished sign-in for a new data source whose draft cannot be saved yet (no
/// name): kept in the dialog, which says why; Cancel asks once before discarding.
/// With a name, the same sign-in is stored together with the data source at once.
#[test]
fn a_sign_in_for_a_draft_that_cannot_be_saved_yet_is_kept_and_cancel_asks() {
    use std::sync::Arc;

    use egui_kittest::Harness;
    use tokendesk::Secret;
    use tokendesk::desk::tokens::Unsaved;
    use tokendesk::identity::{SignedInIdentity, TokenSet};
    use tokendesk::ui::AppState;
    use tokendesk::ui::edit_dialog::EditDialog;
    use tokendesk::ui::i18n::Locale;
    use tokendesk::ui::sign_in_dialog::SignInDialog;
    use tokendesk::ui::worker::{Command, Event};
    use tokendesk::vault::VaultData;
    use tokendesk::vault::ops::TokenTarget;

    let provider = TestProvider::microsoft();
    let config = microsoft_config(&provider, Scopes::Graph);
    let tokens = TokenSet {
        access_token: Secret::new("at"),
        refresh_token: Some(Secret::new("rt")),
        access_expires_at: Utc::now() + chrono::Duration::hours(1),
        obtained_at: Utc::now(),
        scope: None,
        identity: Some(SignedInIdentity {
            username: Some("sales@contoso.com".into()),
            ..Default::default()
        }),
        refresh_expires_in: None,
    };
    let open = |name: &str| {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap());
        let (mut state, mut end) = AppState::detached(Locale::new(Lang::En), Arc::new(clock));
        end.report(Event::VaultOpened(Ok(VaultData::default())));
        let draft = DataSource::new(name, config.clone(), "sales@contoso.com");
        let mut dialog = EditDialog::edit(&draft);
        dialog.saved = false;
        state.editor = Some(dialog);
        state.sign_in = Some(SignInDialog::new(
            TokenTarget::data_source(name),
            "sales@contoso.com".into(),
            false,
            &config,
        ));
        let mut harness = Harness::builder()
            .with_size(egui::vec2(1400.0, 800.0))
            .build_ui_state(|ui, state: &mut AppState| state.ui(ui), state);
        harness.run_steps(3);
        let _ = end.sent();
        end.report(Event::SignInFinished(Box::new(Ok(tokens.clone()))));
        harness.run_steps(3);
        (harness, end)
    };

    let (mut harness, mut end) = open("");
    assert!(
        end.sent()
            .iter()
            .all(|c| !matches!(c, Command::StoreUnsavedSignIn { .. })),
        "nothing can be stored without a name"
    );
    assert!(
        harness
            .query_by_label_contains("Give the data source a name")
            .is_some()
    );
    press_last(&mut harness, "Cancel");
    assert!(harness.state().editor.is_some(), "the first Cancel asks");
    assert!(
        harness
            .query_by_label_contains("Press Cancel again to discard it")
            .is_some()
    );
    press_last(&mut harness, "Cancel");
    assert!(harness.state().editor.is_none(), "the second one discards");

    let (harness, mut end) = open("Sales");
    let sent = end.sent();
    assert!(
        matches!(
            &sent[..],
            [Command::StoreUnsavedSignIn { unsaved, target, .. }]
                if matches!(unsaved.as_ref(), Unsaved::DataSource(s) if s.name == "Sales")
                    && *target == TokenTarget::data_source("Sales")
        ),
        "stored with its data source at once: {} commands",
        sent.len()
    );
    assert!(harness.query_by_label_contains("saved at once").is_some());
}
