//! How much life a token has left, as the window says it: hours in its last day
//! (a one-day token read "Days left 0" beside "healthy" all its life), and a
//! warning rather than "healthy" when nobody stated when it ends.

use chrono::{DateTime, Duration, TimeZone, Utc};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tokendesk::Secret;
use tokendesk::identity::{Authority, ProviderConfig, Scopes};
use tokendesk::ui::AppState;
use tokendesk::ui::i18n::Lang;
use tokendesk::ui::worker::DetachedWorker;
use tokendesk::vault::{DataSource, VaultData};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap()
}

fn custom_provider() -> ProviderConfig {
    ProviderConfig {
        authority: Authority::Issuer {
            url: "https://id.example.com".parse().expect("url"),
        },
        client_id: "desk".into(),
        client_secret: None,
        scopes: Scopes::Custom("openid offline_access".into()),
    }
}

/// "Daily", whose provider said its refresh token ends in 5 h 30 min, and
/// "Silent", whose provider said nothing about its refresh token's end.
fn vault_data() -> VaultData {
    let mut daily = DataSource::new("Daily", custom_provider(), "daily@example.com");
    daily.token.refresh_token = Some(Secret::new("rt-daily"));
    daily.token.obtained_at = Some(now() - Duration::hours(18));
    daily.token.refresh_expires_at = Some(now() + Duration::minutes(330));
    let mut silent = DataSource::new("Silent", custom_provider(), "silent@example.com");
    silent.token.refresh_token = Some(Secret::new("rt-silent"));
    silent.token.obtained_at = Some(now() - Duration::hours(1));
    VaultData {
        generation: 3,
        data_sources: vec![daily, silent],
        ..Default::default()
    }
}

fn window(lang: Lang) -> (Harness<'static, AppState>, DetachedWorker) {
    crate::support::plain_window::window_on(lang, vault_data(), now())
}

fn shown(harness: &Harness<'static, AppState>, label: &str) -> usize {
    harness.query_all_by_label(label).count()
}

#[test]
fn the_last_day_is_shown_in_hours_and_an_unknown_end_is_a_warning() {
    let (harness, _end) = window(Lang::En);
    assert_eq!(
        shown(&harness, "5 h"),
        1,
        "Daily has 5 h 30 min left: hours, not \"0\" days"
    );
    assert_eq!(
        shown(&harness, "works; expiry unknown"),
        2,
        "Silent works, but nobody said when it ends (its own state and all its tokens'): not \"healthy\""
    );
    assert_eq!(shown(&harness, "healthy"), 0);
    // Daily is inside its reminder window: the keep-alive would renew it now.
    assert!(
        !harness
            .get_by_label("Renew due tokens now")
            .accesskit_node()
            .is_disabled()
    );
}

#[test]
fn the_unknown_end_is_said_in_german_too() {
    let (harness, _end) = window(Lang::De);
    assert_eq!(shown(&harness, "funktioniert; Ablauf unbekannt"), 2);
    assert_eq!(shown(&harness, "5 h"), 1);
}
