//! A notification pass: what is due is sent, and what was sent is remembered in
//! the vault, under one turn across every process and machine sharing it, so two
//! gateways never tell the same thing twice.

use chrono::{DateTime, Local, Utc};
use uuid::Uuid;

use super::plan::{self, NoticeChange};
use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
use crate::clock::Clock;
use crate::desk::DeskError;
use crate::notify::{DeliveryError, Event, Lang, Message};
use crate::vault::Vault;
use crate::vault::model::TokenId;
use crate::vault::notifiers::DeliveryFailure;
use crate::vault::token_lock::LockFailure;

/// The lock that gives one process at a time the notifications' turn (no token
/// has this id).
const TURN: TokenId = TokenId {
    source: Uuid::nil(),
    mapping: None,
};

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Messages delivered.
    pub sent: usize,
    /// Deliveries that failed: the notifier's name and why.
    pub failed: Vec<(String, String)>,
    /// Another process had the turn; it sends what is due.
    pub busy: bool,
}

/// One planned message's outcome.
pub(super) struct Delivery {
    pub notifier: Uuid,
    /// `None` for bookkeeping without a message.
    pub result: Option<Result<(), DeliveryError>>,
    /// What it changes once delivered.
    pub changes: Vec<NoticeChange>,
}

/// Sends what is due now and remembers it.
pub async fn run(vault: &mut Vault, clock: &impl Clock) -> Result<PassReport, DeskError> {
    if vault.data().notifiers.is_empty() {
        return Ok(PassReport::default());
    }
    let _turn = match vault.try_lock_token(&TURN) {
        Ok(turn) => turn,
        Err(LockFailure::Busy { .. }) => {
            return Ok(PassReport {
                busy: true,
                ..PassReport::default()
            });
        }
        Err(LockFailure::Io(e)) => return Err(e.into()),
    };
    // What another process told since this handle read the vault.
    vault.reload()?;
    let now = clock.now();
    let lang = Lang::of(vault.data().settings.language.as_deref());
    let planned = plan::plan(
        vault.data(),
        now,
        now.with_timezone(&Local).naive_local(),
        lang,
        &crate::notify::machine_name(),
    );
    let mut outcomes: Vec<Delivery> = Vec::new();
    let mut report = PassReport::default();
    let mut down: Vec<Uuid> = Vec::new();
    for planned in planned {
        let Some(notifier) = vault
            .data()
            .notifiers
            .iter()
            .find(|n| n.id == planned.notifier)
            .cloned()
        else {
            continue;
        };
        let result = match &planned.message {
            // A channel that just failed is not asked again in the same pass.
            Some(_) if down.contains(&notifier.id) => continue,
            Some(message) => {
                let result = super::deliver::deliver(vault, &notifier, message, clock).await;
                audit(vault, &notifier.name, message, &result, now);
                match &result {
                    Ok(()) => report.sent += 1,
                    Err(e) => {
                        down.push(notifier.id);
                        report.failed.push((notifier.name.clone(), e.0.clone()));
                    }
                }
                Some(result)
            }
            None => None,
        };
        outcomes.push(Delivery {
            notifier: planned.notifier,
            result,
            changes: planned.on_delivery,
        });
    }
    record(vault, &outcomes, now)?;
    Ok(report)
}

fn audit(
    vault: &Vault,
    notifier: &str,
    message: &Message,
    result: &Result<(), DeliveryError>,
    now: DateTime<Utc>,
) {
    let entry = match result {
        Ok(()) => AuditEntry::new(Operation::Notify, Outcome::Ok, now)
            .with_detail(format!("told '{notifier}': {}", message.title)),
        Err(e) => AuditEntry::new(Operation::Notify, Outcome::Failed, now)
            .with_detail(format!("could not tell '{notifier}': {}", message.title))
            .with_error(None, e.0.clone()),
    };
    AuditLog::in_dir(vault.dir()).record(&entry);
}

/// Stores the outcomes: notices of what was delivered, and each notifier's
/// failing state (set with its next try, or ended by a delivery).
pub(super) fn record(
    vault: &mut Vault,
    outcomes: &[Delivery],
    now: DateTime<Utc>,
) -> Result<(), DeskError> {
    if outcomes.is_empty() {
        return Ok(());
    }
    vault.update(|data| {
        for outcome in outcomes {
            let notifier = data.notifiers.iter_mut().find(|n| n.id == outcome.notifier);
            match (&outcome.result, notifier) {
                (Some(Err(e)), Some(n)) => {
                    n.failing = Some(DeliveryFailure::next(n.failing.as_ref(), e.0.clone(), now));
                }
                (Some(Err(_)), None) => {}
                (Some(Ok(())), notifier) => {
                    let failed_too = outcomes.iter().any(|o| {
                        o.notifier == outcome.notifier && matches!(o.result, Some(Err(_)))
                    });
                    if let Some(n) = notifier.filter(|_| !failed_too) {
                        n.failing = None;
                    }
                    plan::apply(data, &outcome.changes);
                }
                (None, _) => plan::apply(data, &outcome.changes),
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// Tells every notifier that the vault's store cannot be reached (`problem`) or
/// can be again (`None`). Nothing is remembered in the store, which may be the
/// thing that is down: the caller (a gateway) remembers what it said.
pub async fn announce_store(
    vault: &mut Vault,
    problem: Option<&str>,
    clock: &impl Clock,
) -> PassReport {
    let now = clock.now();
    let lang = Lang::of(vault.data().settings.language.as_deref());
    let sent_by = crate::notify::machine_name();
    let (event, title, text) = match problem {
        Some(problem) => {
            let (title, _) = crate::notify::text::heading(lang, Event::StoreUnreachable, &[]);
            (
                Event::StoreUnreachable,
                title,
                crate::notify::text::store_text(lang, problem),
            )
        }
        None => {
            let (title, text) = crate::notify::text::store_back(lang);
            (Event::Recovered, title, text)
        }
    };
    let message = Message {
        event,
        title: format!("{title} ({sent_by})"),
        text,
        items: Vec::new(),
        sent_by,
        sent_at: now,
    };
    let mut report = PassReport::default();
    for notifier in vault.data().notifiers.clone() {
        let result = super::deliver::deliver(vault, &notifier, &message, clock).await;
        audit(vault, &notifier.name, &message, &result, now);
        match result {
            Ok(()) => report.sent += 1,
            Err(e) => report.failed.push((notifier.name.clone(), e.0)),
        }
    }
    report
}
