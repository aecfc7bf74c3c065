//! One state for a token in every view (issue 24, item 6): a token whose renewal
//! failed for now is not "healthy" with an empty Last error in one place and a
//! failure in another — the main table, All mailboxes and the edit dialog's user
//! list all say "works; renewal failing", and a failure without a provider's code
//! still names its kind.

use chrono::{DateTime, Duration, TimeZone, Utc};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tokendesk::Secret;
use tokendesk::identity::{Authority, Cloud, ErrorKind, ProviderConfig, Scopes};
use tokendesk::ui::AppState;
use tokendesk::ui::i18n::Lang;
use tokendesk::ui::worker::DetachedWorker;
use tokendesk::vault::model::LastError;
use tokendesk::vault::{AppUser, DataSource, TokenRecord, UserMapping, VaultData};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()
}

fn failing_for_now(record: &mut TokenRecord) {
    record.refresh_token = Some(Secret::new("rt"));
    record.obtained_at = Some(now() - Duration::days(3));
    record.last_error = Some(LastError {
        kind: ErrorKind::Transient,
        code: None,
        message: "The provider did not answer within 30 s.".into(),
        at: now() - Duration::minutes(5),
    });
}

fn vault_data() -> VaultData {
    let provider = ProviderConfig {
        authority: Authority::microsoft(Cloud::Global, "contoso.onmicrosoft.com"),
        client_id: "11111111-2222-3333-4444-555555555555".into(),
        client_secret: None,
        scopes: Scopes::Graph,
    };
    let mut sales = DataSource::new("Sales", provider, "sales@contoso.com");
    failing_for_now(&mut sales.token);
    let mut anna = UserMapping::new(
        AppUser {
            login: "USER/anna".into(),
            display_name: "Anna".into(),
            email: String::new(),
        },
        "anna@contoso.com",
    );
    failing_for_now(&mut anna.token);
    sales.push_user(anna);
    VaultData {
        generation: 2,
        data_sources: vec![sales],
        ..Default::default()
    }
}

fn window(lang: Lang) -> (Harness<'static, AppState>, DetachedWorker) {
    crate::support::plain_window::window_on(lang, vault_data(), now())
}

fn count(harness: &Harness<'static, AppState>, text: &str) -> usize {
    harness.query_all_by_label(text).count()
}

#[test]
fn a_token_failing_for_now_says_so_in_every_view() {
    let (mut harness, _end) = window(Lang::En);
    // Main table: the source token, and All tokens for the data source.
    assert_eq!(count(&harness, "works; renewal failing"), 2);
    assert_eq!(count(&harness, "healthy"), 0);
    // The strip does not call them healthy either.
    assert!(harness.query_by_label("All tokens are healthy.").is_none());
    assert!(
        harness
            .query_by_label("Tokens work, but a renewal fails for now.")
            .is_some()
    );

    harness.get_by_label("All mailboxes").click();
    harness.run_steps(3);
    assert_eq!(count(&harness, "works; renewal failing"), 2, "both rows");
    assert_eq!(
        count(&harness, "temporary problem"),
        2,
        "the Last error cell"
    );
    assert_eq!(count(&harness, "healthy"), 0);
}

#[test]
fn in_german_too() {
    let (harness, _end) = window(Lang::De);
    assert_eq!(
        count(&harness, "funktioniert; Erneuerung scheitert vorerst"),
        2
    );
}

fn report(
    results: Vec<tokendesk::keepalive::RenewResult>,
    fresh: usize,
) -> tokendesk::keepalive::RenewReport {
    tokendesk::keepalive::RenewReport {
        started_at: now(),
        finished_at: now(),
        fresh,
        results,
    }
}

fn failed(user: Option<&str>) -> tokendesk::keepalive::RenewResult {
    tokendesk::keepalive::RenewResult {
        data_source: "Sales".into(),
        user: user.map(str::to_string),
        account: "sales@contoso.com".into(),
        outcome: tokendesk::keepalive::RenewOutcome::Failed {
            kind: ErrorKind::Transient,
            code: None,
            message: "The provider did not answer within 30 s.".into(),
        },
    }
}

#[test]
fn summaries_say_what_the_run_did_and_give_way_to_a_new_selection() {
    let (mut harness, end) = window(Lang::En);
    // The keep-alive found nothing dead: no "0 need a new sign-in" beside a banner.
    end.report(tokendesk::ui::worker::Event::KeepAliveFinished(Ok(report(
        vec![failed(None)],
        0,
    ))));
    harness.run_steps(3);
    assert!(
        harness
            .query_by_label_contains("1 failed for now")
            .is_some()
    );
    assert_eq!(
        harness
            .query_all_by_label_contains("0 need a new sign-in")
            .count(),
        0
    );

    harness.get_by_label("All mailboxes").click();
    harness.run_steps(3);
    harness.get_by_label("Select all shown").click();
    harness.run_steps(2);
    harness.get_by_label("Renew selected").click();
    harness.run_steps(2);
    end.report(tokendesk::ui::worker::Event::RenewFinished(Ok(report(
        vec![failed(None), failed(Some("USER/anna"))],
        0,
    ))));
    harness.run_steps(3);
    assert!(
        harness
            .query_by_label_contains("2 failed for now")
            .is_some()
    );
    // Another selection: that summary was about the previous one.
    harness.get_by_label("Select none").click();
    harness.run_steps(3);
    assert!(
        harness
            .query_by_label_contains("2 failed for now")
            .is_none()
    );
}
