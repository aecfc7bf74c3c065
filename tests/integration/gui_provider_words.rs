//! The banner speaks of the data source's own provider: "rejected by Microsoft"
//! and "Request MS365 Refresh Token" only where Microsoft signs in, neutral words
//! (and the button's own name) for any other OpenID provider.

use chrono::{DateTime, Duration, TimeZone, Utc};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tokendesk::Secret;
use tokendesk::identity::{Authority, ErrorKind, ProviderConfig, Scopes};
use tokendesk::ui::AppState;
use tokendesk::ui::i18n::Lang;
use tokendesk::ui::worker::DetachedWorker;
use tokendesk::vault::model::LastError;
use tokendesk::vault::{DataSource, VaultData};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
}

/// Two data sources of a custom OpenID provider: "Rejected" (the provider refused
/// its refresh token) and "Ending" (2 days left of a 30-day window it stated).
fn vault_data() -> VaultData {
    let provider = ProviderConfig {
        authority: Authority::Issuer {
            url: "https://id.example.com".parse().expect("url"),
        },
        client_id: "desk".into(),
        client_secret: None,
        scopes: Scopes::Custom("openid offline_access".into()),
    };
    let mut rejected = DataSource::new("Rejected", provider.clone(), "anna@example.com");
    rejected.token.refresh_token = Some(Secret::new("rt-anna"));
    rejected.token.obtained_at = Some(now() - Duration::days(3));
    rejected.token.last_error = Some(LastError {
        kind: ErrorKind::NeedsSignIn,
        code: Some("invalid_grant".into()),
        message: "The provider no longer accepts this refresh token (expired, revoked or replaced). The user must sign in again.".into(),
        at: now() - Duration::hours(1),
    });
    let mut ending = DataSource::new("Ending", provider, "ben@example.com");
    ending.token.refresh_token = Some(Secret::new("rt-ben"));
    ending.token.obtained_at = Some(now() - Duration::days(28));
    ending.token.refresh_expires_at = Some(now() + Duration::days(2));
    VaultData {
        generation: 2,
        data_sources: vec![rejected, ending],
        ..Default::default()
    }
}

fn window(lang: Lang) -> (Harness<'static, AppState>, DetachedWorker) {
    crate::support::plain_window::window_on(lang, vault_data(), now())
}

#[test]
fn a_custom_providers_banner_names_no_microsoft_and_the_buttons_own_words() {
    let (harness, _end) = window(Lang::En);
    assert!(
        harness
            .query_by_label_contains("The token for anna@example.com was rejected by its provider")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("Edit data source › Request Refresh Token")
            .is_some(),
        "Ben's renewal names the button as it reads"
    );
    assert_eq!(
        harness.query_all_by_label_contains("by Microsoft").count(),
        0
    );
    assert_eq!(harness.query_all_by_label_contains("MS365").count(), 0);
}

#[test]
fn the_same_in_german() {
    let (harness, _end) = window(Lang::De);
    assert!(
        harness
            .query_by_label_contains("Der Anbieter hat das Token für anna@example.com abgelehnt")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("Datenquelle bearbeiten › Aktualisierungstoken anfordern")
            .is_some()
    );
    assert_eq!(
        harness.query_all_by_label_contains("Microsoft hat").count(),
        0
    );
    assert_eq!(harness.query_all_by_label_contains("MS365").count(), 0);
}

#[test]
fn the_main_table_names_a_providers_column_for_both_kinds_of_provider() {
    let (harness, _end) = window(Lang::En);
    assert!(harness.query_by_label("Tenant or provider").is_some());
    assert!(
        harness.query_by_label("Tenant").is_none(),
        "id.example.com is no tenant"
    );
    assert!(harness.query_all_by_label("id.example.com").count() >= 2);
}

fn open_exchange_tab(harness: &mut Harness<'static, AppState>, source: &str) {
    harness.get_by_label(source).click();
    harness.step();
    harness.key_press(egui::Key::Enter);
    harness.run_steps(3);
    // The column title has the same words; the tab is the dialog's, drawn last.
    let tabs: Vec<_> = harness.query_all_by_label("Exchange account").collect();
    tabs.last().expect("the dialog's tab").click();
    harness.run_steps(3);
}

#[test]
fn an_openid_providers_exchange_tab_offers_no_exchange_server() {
    let (mut harness, _end) = window(Lang::En);
    open_exchange_tab(&mut harness, "Rejected");
    for word in [
        "Office365",
        "EWS URL",
        "API root (optional)",
        "Microsoft Graph",
    ] {
        assert!(
            harness.query_by_label(word).is_none(),
            "{word} means nothing for an OpenID provider"
        );
    }
    assert!(
        harness
            .query_by_label_contains("userinfo endpoint")
            .is_some()
    );
}

#[test]
fn a_long_provider_message_wraps_and_a_failed_test_does_not_repeat_it() {
    let (mut harness, end) = window(Lang::En);
    open_exchange_tab(&mut harness, "Rejected");
    let stored = "no longer accepts this refresh token";
    let label = harness
        .query_by_label_contains(stored)
        .expect("the last error is shown");
    let place = label.accesskit_node().bounding_box().expect("on screen");
    assert!(
        place.x1 - place.x0 <= 560.0,
        "wrapped inside the dialog ({} px wide)",
        place.x1 - place.x0
    );
    end.report(tokendesk::ui::worker::Event::TestFinished(Err(
        tokendesk::desk::DeskError::Vault(tokendesk::vault::VaultError::Invalid(
            "The provider no longer accepts this refresh token (expired, revoked or replaced). The user must sign in again.".into(),
        )),
    )));
    harness.run_steps(3);
    assert_eq!(
        harness.query_all_by_label_contains(stored).count(),
        1,
        "the failure is shown once, as the test's result"
    );
}

fn with_revocation(mut data: VaultData) -> VaultData {
    let config = data.data_sources[0].provider.clone();
    let endpoints = tokendesk::identity::Endpoints {
        device_authorization: None,
        authorization: Some("https://id.example.com/auth".parse().expect("url")),
        iss_parameter_supported: true,
        token: "https://id.example.com/token".parse().expect("url"),
        userinfo: None,
        revocation: Some("https://id.example.com/revoke".parse().expect("url")),
        issuer: Some("https://id.example.com".into()),
        token_auth_methods: Vec::new(),
        discovered: true,
    };
    data.remember_endpoints(&config, &endpoints, now());
    data
}

#[test]
fn clear_offers_revocation_where_the_provider_lists_it() {
    let (mut harness, mut end) =
        crate::support::plain_window::window_on(Lang::En, with_revocation(vault_data()), now());
    open_exchange_tab(&mut harness, "Rejected");
    harness.get_by_label("Clear Token").click();
    harness.run_steps(3);
    let offer = "Also revoke it at the provider (RFC 7009), so no copy of it works any more";
    assert!(matches!(
        &revoke_and_confirm(&mut harness, &mut end, offer)[..],
        [tokendesk::ui::worker::Command::RevokeAndClear(target)] if target.data_source == "Rejected"
    ));
    end.report(tokendesk::ui::worker::Event::Revoked(Ok(true)));
    harness.run_steps(3);
    assert!(
        harness
            .query_by_label("The provider revoked the token, and it was cleared here.")
            .is_some()
    );

    // Without a revocation endpoint in its discovery, Clear offers none.
    let (mut harness, _end) = window(Lang::En);
    open_exchange_tab(&mut harness, "Rejected");
    harness.get_by_label("Clear Token").click();
    harness.run_steps(3);
    assert!(harness.query_by_label(offer).is_none());
}

/// Ticks the revocation offer, presses Yes and returns what the window sent.
fn revoke_and_confirm(
    harness: &mut Harness<'static, AppState>,
    end: &mut DetachedWorker,
    offer: &str,
) -> Vec<tokendesk::ui::worker::Command> {
    harness.get_by_label(offer).click();
    harness.run_steps(2);
    let _ = end.sent();
    harness.get_by_label("Yes").click();
    harness.run_steps(2);
    end.sent()
}

/// All mailboxes › Select all shown › Clear: the confirmation opens.
fn clear_every_mailbox(harness: &mut Harness<'static, AppState>) {
    for (label, steps) in [("All mailboxes", 3), ("Select all shown", 2), ("Clear", 3)] {
        harness.get_by_label(label).click();
        harness.run_steps(steps);
    }
}

#[test]
fn clear_in_all_mailboxes_offers_revocation_and_reports_what_each_provider_did() {
    let (mut harness, mut end) =
        crate::support::plain_window::window_on(Lang::En, with_revocation(vault_data()), now());
    clear_every_mailbox(&mut harness);
    let offer = "Also revoke them at the provider (RFC 7009) where it offers that: 2 of 2";
    assert!(matches!(
        &revoke_and_confirm(&mut harness, &mut end, offer)[..],
        [tokendesk::ui::worker::Command::RevokeAndClearAll(targets)] if targets.len() == 2
    ));
    end.report(tokendesk::ui::worker::Event::RevokedAll(Ok(
        tokendesk::desk::tokens::RevokeReport {
            revoked: 2,
            ..Default::default()
        },
    )));
    harness.run_steps(3);
    assert!(
        harness
            .query_by_label_contains(
                "2 revoked at the provider and cleared, 0 cleared here only, 0 left as they were."
            )
            .is_some()
    );

    // Without a revocation endpoint, Clear clears here only and offers nothing more.
    let (mut harness, mut end) = window(Lang::En);
    clear_every_mailbox(&mut harness);
    assert_eq!(
        harness
            .query_all_by_label_contains("Also revoke them")
            .count(),
        0
    );
    let _ = end.sent();
    harness.get_by_label("Yes").click();
    harness.run_steps(2);
    assert!(matches!(
        &end.sent()[..],
        [tokendesk::ui::worker::Command::ClearTokens(targets)] if targets.len() == 2
    ));
}
