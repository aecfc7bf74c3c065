//! What each notifier is to be told now, from the tokens' states and what it was
//! told before: a token that newly needs an admin at once, a token that works
//! again once, and the daily digest from 08:00 local time on, once a day.

use chrono::{DateTime, NaiveDateTime, Utc};
use uuid::Uuid;

use crate::desk::status::{TokenRow, token_rows};
use crate::notify::text::{self, TokenFacts, Trouble};
use crate::notify::{Event, Item, Lang, Message};
use crate::vault::VaultData;
use crate::vault::notifiers::{Notice, Notifier};
use crate::vault::policy::TokenState;

/// The digest is sent from this hour of the local day on.
pub const DIGEST_HOUR: u32 = 8;

/// One message for one notifier, and what it changes in the notices once it was
/// delivered.
#[derive(Debug, Clone)]
pub struct Planned {
    pub notifier: Uuid,
    /// `None`: only bookkeeping (a cleared or removed token forgotten).
    pub message: Option<Message>,
    pub on_delivery: Vec<NoticeChange>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeChange {
    Set(Notice),
    Forget { notifier: Uuid, subject: String },
}

/// What a token's state means for a notifier: said at once, in the digest, or
/// nothing.
fn at_once(state: TokenState) -> Option<(&'static str, Trouble)> {
    match state {
        TokenState::NeedsSignIn => Some(("sign-in", Trouble::SignIn)),
        TokenState::Expired => Some(("expired", Trouble::Expired)),
        TokenState::AtRisk => Some(("at-risk", Trouble::AtRisk)),
        _ => None,
    }
}

fn subject(row: &TokenRow) -> String {
    format!("token:{}", row.id.file_stem())
}

fn facts(row: &TokenRow, trouble: Trouble) -> TokenFacts<'_> {
    TokenFacts {
        data_source: &row.target.data_source,
        user: row.target.app_user.as_deref(),
        account: &row.account,
        microsoft: row.microsoft,
        trouble,
        expires_at: row.expires_at,
        days_left: row.days_left,
        provider_said: row.last_error.as_ref().map(|e| match &e.code {
            Some(code) => format!("{code}: {}", e.message),
            None => e.message.clone(),
        }),
    }
}

/// Everything due now. `local` is `now` on the admin's clock (the digest's day
/// and hour).
pub fn plan(
    data: &VaultData,
    now: DateTime<Utc>,
    local: NaiveDateTime,
    lang: Lang,
    sent_by: &str,
) -> Vec<Planned> {
    if data.notifiers.is_empty() {
        return Vec::new();
    }
    let rows = token_rows(data, None, now);
    let message = |event: Event, items: Vec<Item>| {
        let (title, text) = text::heading(lang, event, &items);
        Message {
            event,
            title,
            text,
            items,
            sent_by: sent_by.to_string(),
            sent_at: now,
        }
    };
    let mut planned = Vec::new();
    for notifier in &data.notifiers {
        if notifier.failing.as_ref().is_some_and(|f| f.retry_at > now) {
            continue;
        }
        let told = |subject: &str| {
            data.notices
                .iter()
                .find(|n| n.notifier == notifier.id && n.subject == subject)
        };
        let notice = |subject: String, said: &str| {
            NoticeChange::Set(Notice {
                notifier: notifier.id,
                subject,
                said: said.to_string(),
                at: now,
            })
        };
        // At once: tokens that newly need an admin.
        let (mut items, mut changes) = (Vec::new(), Vec::new());
        for row in &rows {
            let Some((said, trouble)) = at_once(row.state) else {
                continue;
            };
            if told(&subject(row)).is_some_and(|n| n.said == said) {
                continue;
            }
            items.push(text::item(lang, &facts(row, trouble)));
            changes.push(notice(subject(row), said));
        }
        let announced_now: Vec<String> = changes
            .iter()
            .filter_map(|c| match c {
                NoticeChange::Set(n) => Some(n.subject.clone()),
                NoticeChange::Forget { .. } => None,
            })
            .collect();
        if !items.is_empty() {
            planned.push(Planned {
                notifier: notifier.id,
                message: Some(message(Event::SignInNeeded, items)),
                on_delivery: changes,
            });
        }
        // Once: what was announced and works again (a token cleared or removed
        // since is forgotten without a message: an admin did that on purpose).
        planned.extend(recovered(notifier, data, &rows, lang, &message));
        // Daily: tokens from the reminder threshold on, and those still broken.
        let day = local.date().to_string();
        let digest_due = chrono::Timelike::hour(&local) >= DIGEST_HOUR
            && told("digest").is_none_or(|n| n.said != day);
        if digest_due {
            let items: Vec<Item> = rows
                .iter()
                .filter(|row| !announced_now.contains(&subject(row)))
                .filter_map(|row| {
                    let trouble = match row.state {
                        TokenState::ReminderDue => Trouble::Expiring,
                        TokenState::RenewalForced => Trouble::RenewalForced,
                        state => at_once(state)?.1,
                    };
                    Some(text::item(lang, &facts(row, trouble)))
                })
                .collect();
            // The day is done even with nothing to say: a token that needs the
            // admin later that day is told at once, and listed again tomorrow.
            planned.push(Planned {
                notifier: notifier.id,
                message: (!items.is_empty()).then(|| message(Event::Digest, items)),
                on_delivery: vec![notice("digest".into(), &day)],
            });
        }
    }
    planned
}

fn recovered(
    notifier: &Notifier,
    data: &VaultData,
    rows: &[TokenRow],
    lang: Lang,
    message: &impl Fn(Event, Vec<Item>) -> Message,
) -> Option<Planned> {
    let (mut items, mut changes) = (Vec::new(), Vec::new());
    for notice in data
        .notices
        .iter()
        .filter(|n| n.notifier == notifier.id && n.subject.starts_with("token:"))
    {
        let forget = NoticeChange::Forget {
            notifier: notifier.id,
            subject: notice.subject.clone(),
        };
        match rows.iter().find(|row| subject(row) == notice.subject) {
            Some(row) if at_once(row.state).is_some() => {}
            Some(row) if row.state.is_usable() => {
                items.push(text::recovered_item(
                    lang,
                    &row.target.data_source,
                    row.target.app_user.as_deref(),
                    &row.account,
                ));
                changes.push(forget);
            }
            // Cleared or removed: nothing to announce, nothing to remember.
            _ => changes.push(forget),
        }
    }
    if changes.is_empty() {
        return None;
    }
    Some(Planned {
        notifier: notifier.id,
        message: (!items.is_empty()).then(|| message(Event::Recovered, items)),
        on_delivery: changes,
    })
}

/// Applies what a delivered message changes.
pub fn apply(data: &mut VaultData, changes: &[NoticeChange]) {
    for change in changes {
        match change {
            NoticeChange::Set(notice) => {
                data.notices
                    .retain(|n| !(n.notifier == notice.notifier && n.subject == notice.subject));
                data.notices.push(notice.clone());
            }
            NoticeChange::Forget { notifier, subject } => data
                .notices
                .retain(|n| !(n.notifier == *notifier && &n.subject == subject)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use crate::identity::{Authority, Cloud, ProviderConfig, Scopes};
    use crate::vault::DataSource;
    use crate::vault::notifiers::{Channel, WebhookFormat};
    use chrono::TimeZone;

    fn vault_with(age_days: i64, now: DateTime<Utc>) -> VaultData {
        let config = ProviderConfig {
            authority: Authority::microsoft(Cloud::Global, "contoso.com"),
            client_id: "app".into(),
            client_secret: None,
            scopes: Scopes::Graph,
        };
        let mut source = DataSource::new("Exchange", config, "sales@contoso.com");
        source.token.refresh_token = Some(Secret::new("rt"));
        source.token.obtained_at = Some(now - chrono::Duration::days(age_days));
        let mut data = VaultData::default();
        data.data_sources.push(source);
        data.notifiers.push(Notifier {
            id: Uuid::new_v4(),
            name: "ops".into(),
            channel: Channel::Webhook {
                url: Secret::new("https://hooks.example.com/x"),
                format: WebhookFormat::Json,
            },
            created_at: now,
            failing: None,
        });
        data
    }

    fn events(planned: &[Planned]) -> Vec<Option<Event>> {
        planned
            .iter()
            .map(|p| p.message.as_ref().map(|m| m.event))
            .collect()
    }

    fn deliver_all(data: &mut VaultData, planned: &[Planned]) {
        for p in planned {
            apply(data, &p.on_delivery);
        }
    }

    #[test]
    fn the_digest_goes_once_a_day_from_eight_oclock_while_a_token_nears_its_end() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 6, 0, 0).unwrap();
        // 75 days after its last use: 15 days left of Microsoft's 90.
        let mut data = vault_with(75, now);
        let at = |h: u32, m: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap()
        };
        assert!(plan(&data, now, at(7, 59), Lang::En, "m").is_empty());
        let morning = plan(&data, now, at(8, 0), Lang::En, "m");
        assert_eq!(events(&morning), [Some(Event::Digest)]);
        let message = morning[0].message.as_ref().unwrap();
        assert_eq!(message.items[0].data_source, "Exchange");
        assert!(
            message.items[0].state.contains("days left: 15"),
            "{message:?}"
        );
        assert!(
            message.items[0]
                .fix
                .contains("tokendesk sign-in --data-source \"Exchange\"")
        );
        deliver_all(&mut data, &morning);
        assert!(plan(&data, now, at(17, 0), Lang::En, "m").is_empty());
        let tomorrow = at(8, 30) + chrono::Duration::days(1);
        assert_eq!(
            events(&plan(&data, now, tomorrow, Lang::En, "m")),
            [Some(Event::Digest)]
        );

        // Nothing to say: the day is still done, without a message.
        let mut healthy = vault_with(1, now);
        let quiet = plan(&healthy, now, at(9, 0), Lang::En, "m");
        assert_eq!(events(&quiet), [None]);
        deliver_all(&mut healthy, &quiet);
        assert!(plan(&healthy, now, at(10, 0), Lang::En, "m").is_empty());
    }

    #[test]
    fn a_refused_token_is_told_at_once_then_once_more_when_it_works_and_not_when_cleared() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 6, 0, 0).unwrap();
        let early = chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .unwrap()
            .and_hms_opt(6, 0, 0)
            .unwrap();
        let mut data = vault_with(1, now);
        data.data_sources[0].token.last_error = Some(crate::vault::model::LastError {
            at: now,
            code: Some("AADSTS70008".into()),
            message: "The refresh token has expired due to inactivity.".into(),
            kind: crate::identity::ErrorKind::NeedsSignIn,
        });
        let refused = plan(&data, now, early, Lang::De, "m");
        assert_eq!(events(&refused), [Some(Event::SignInNeeded)]);
        let item = &refused[0].message.as_ref().unwrap().items[0];
        assert!(item.state.starts_with("Neue Anmeldung nötig."), "{item:?}");
        assert!(item.state.contains("AADSTS70008"), "what the provider said");
        assert!(
            item.fix
                .contains("Exchange-Konto › MS365-Aktualisierungstoken anfordern")
        );
        deliver_all(&mut data, &refused);
        assert!(
            plan(&data, now, early, Lang::De, "m").is_empty(),
            "told once"
        );

        let mut works = data.clone();
        works.data_sources[0].token.last_error = None;
        let back = plan(&works, now, early, Lang::En, "m");
        assert_eq!(events(&back), [Some(Event::Recovered)]);
        deliver_all(&mut works, &back);
        assert!(works.notices.is_empty());
        assert!(plan(&works, now, early, Lang::En, "m").is_empty());

        // Cleared by an admin on purpose: forgotten without a message.
        let mut cleared = data.clone();
        cleared.data_sources[0].token.refresh_token = None;
        let forgotten = plan(&cleared, now, early, Lang::En, "m");
        assert_eq!(events(&forgotten), [None]);
        deliver_all(&mut cleared, &forgotten);
        assert!(cleared.notices.is_empty());
    }

    #[test]
    fn a_failing_channel_waits_for_its_next_try() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap();
        let local = now.naive_utc();
        let mut data = vault_with(75, now);
        data.notifiers[0].failing = Some(crate::vault::notifiers::DeliveryFailure::next(
            None,
            "HTTP 503".into(),
            now,
        ));
        assert!(plan(&data, now, local, Lang::En, "m").is_empty());
        let later = now + chrono::Duration::minutes(1);
        assert_eq!(plan(&data, later, local, Lang::En, "m").len(), 1);
    }
}
