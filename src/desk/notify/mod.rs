//! Notifications, as an admin manages them (`notify add|list|remove|test`,
//! Settings › Notifications) and as the gateway and the scheduled keep-alive send
//! them (`pass`).

mod deliver;
pub mod pass;
pub mod plan;

use chrono::{DateTime, Utc};

use super::DeskError;
use crate::Secret;
use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
use crate::clock::Clock;
use crate::notify::{Event, Lang, Message};
pub use crate::vault::notifiers::WebhookFormat;
use crate::vault::notifiers::{Channel, Notifier};
use crate::vault::{Vault, VaultData, VaultError};

/// What a notifier goes through, as an admin gives it.
#[derive(Debug, Clone)]
pub enum NewChannel {
    Webhook { url: Secret, format: WebhookFormat },
    Email { address: String, via: String },
}

/// How a stored or pending notifier is shown (without a webhook's credential).
pub fn describe_channel(data: &VaultData, notifier: &Notifier) -> String {
    describe(data, &notifier.channel)
}

/// A notifier as the faces show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierView {
    pub name: String,
    /// Where it goes, without a webhook's credential.
    pub channel: String,
    /// The last delivery failed: why, since when, tried again when.
    pub failing: Option<(String, DateTime<Utc>, DateTime<Utc>)>,
}

pub fn list(data: &VaultData) -> Vec<NotifierView> {
    data.notifiers
        .iter()
        .map(|n| NotifierView {
            name: n.name.clone(),
            channel: describe(data, &n.channel),
            failing: n
                .failing
                .as_ref()
                .map(|f| (f.error.clone(), f.since, f.retry_at)),
        })
        .collect()
}

fn describe(data: &VaultData, channel: &Channel) -> String {
    channel.describe(|id| {
        data.data_sources
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
    })
}

/// Notifiers added and removed in the Settings dialog, stored with its OK.
#[derive(Debug, Clone, Default)]
pub struct NotifierChanges {
    pub added: Vec<Notifier>,
    /// Names of stored notifiers.
    pub removed: Vec<String>,
}

impl NotifierChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Applies the dialog's changes to the records (inside the settings' write).
pub fn apply_to(data: &mut VaultData, changes: &NotifierChanges) -> Result<(), VaultError> {
    for name in &changes.removed {
        if let Some(index) = data
            .notifiers
            .iter()
            .position(|n| n.name.eq_ignore_ascii_case(name))
        {
            let removed = data.notifiers.remove(index);
            data.notices.retain(|n| n.notifier != removed.id);
        }
    }
    for notifier in &changes.added {
        if data
            .notifiers
            .iter()
            .any(|n| n.name.eq_ignore_ascii_case(&notifier.name))
        {
            return Err(VaultError::Invalid(format!(
                "A notifier named '{}' already exists.",
                notifier.name
            )));
        }
        data.notifiers.push(notifier.clone());
    }
    Ok(())
}

/// Audit entries for what the dialog changed.
pub fn record(vault: &Vault, changes: &NotifierChanges, now: DateTime<Utc>) {
    let audit = AuditLog::in_dir(vault.dir());
    for name in &changes.removed {
        audit.record(
            &AuditEntry::new(Operation::Notify, Outcome::Ok, now)
                .with_detail(format!("removed notifier '{name}'")),
        );
    }
    for notifier in &changes.added {
        audit.record(
            &AuditEntry::new(Operation::Notify, Outcome::Ok, now).with_detail(format!(
                "added notifier '{}': {}",
                notifier.name,
                describe(vault.data(), &notifier.channel)
            )),
        );
    }
}

/// Checks a new notifier against the vault and makes it.
pub fn prepare(
    data: &VaultData,
    name: &str,
    channel: NewChannel,
    now: DateTime<Utc>,
) -> Result<Notifier, DeskError> {
    prepare_beside(data, &NotifierChanges::default(), name, channel, now)
}

/// [`prepare`] beside what a dialog has added and removed but not stored yet.
pub fn prepare_beside(
    data: &VaultData,
    pending: &NotifierChanges,
    name: &str,
    channel: NewChannel,
    now: DateTime<Utc>,
) -> Result<Notifier, DeskError> {
    let name = name.trim();
    crate::text::check_name("The notifier name", name).map_err(VaultError::Invalid)?;
    let stored = data.notifiers.iter().filter(|n| {
        !pending
            .removed
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&n.name))
    });
    if stored
        .chain(&pending.added)
        .any(|n| n.name.eq_ignore_ascii_case(name))
    {
        return Err(VaultError::Invalid(format!(
            "A notifier named '{name}' already exists; remove it first or choose another name."
        ))
        .into());
    }
    let channel = match channel {
        NewChannel::Webhook { url, format } => {
            check_webhook_url(url.expose()).map_err(VaultError::Invalid)?;
            Channel::Webhook { url, format }
        }
        NewChannel::Email { address, via } => {
            crate::vault::target::validate_email(&address).map_err(VaultError::Invalid)?;
            let source = data.data_source(&via)?;
            let graph = crate::notify::mail::GraphMail::for_source(
                &source.provider.authority,
                source.account.api_root.as_ref(),
            );
            if graph.is_none() && source.account.smtp_upstream.is_none() {
                return Err(VaultError::Invalid(format!(
                    "'{0}' signs in with an OpenID provider that is not Microsoft, so there is no Graph to send through. Name its mail server: tokendesk data-source set \"{0}\" --smtp-upstream HOST:PORT (the mailbox then sends with XOAUTH2), or use --webhook.",
                    source.name
                ))
                .into());
            }
            Channel::Email {
                address: address.trim().to_string(),
                via: source.id,
            }
        }
    };
    Ok(Notifier {
        id: uuid::Uuid::new_v4(),
        name: name.to_string(),
        channel,
        created_at: now,
        failing: None,
    })
}

/// A mail server as `data-source set --smtp-upstream` takes it.
pub fn check_upstream(text: &str) -> Result<(), String> {
    crate::notify::smtp::Upstream::new(text, None).map(drop)
}

/// A CA file as `data-source set --upstream-ca` takes it.
pub fn check_ca(pem: &str) -> Result<(), String> {
    crate::notify::smtp::ca_certificates(pem).map(drop)
}

/// A webhook's URL: https, or http on this machine only (its body names
/// mailboxes, and the URL is often the credential).
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url.trim())
        .map_err(|e| format!("The webhook URL is not a web address ({e}): use https://…"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if crate::identity::validate::is_loopback(&parsed) => Ok(()),
        _ => Err(
            "The webhook URL must start with https:// (plain http only to 127.0.0.1, ::1 or localhost)."
                .into(),
        ),
    }
}

pub fn add(
    vault: &mut Vault,
    name: &str,
    channel: NewChannel,
    now: DateTime<Utc>,
) -> Result<NotifierView, DeskError> {
    let notifier = prepare(vault.data(), name, channel, now)?;
    let added = notifier.clone();
    let changes = NotifierChanges {
        added: vec![notifier],
        removed: Vec::new(),
    };
    vault.update(|data| apply_to(data, &changes))?;
    let channel = describe(vault.data(), &added.channel);
    AuditLog::in_dir(vault.dir()).record(
        &AuditEntry::new(Operation::Notify, Outcome::Ok, now)
            .with_detail(format!("added notifier '{}': {channel}", added.name)),
    );
    Ok(NotifierView {
        name: added.name,
        channel,
        failing: None,
    })
}

/// Removes a notifier and what it was told.
pub fn remove(vault: &mut Vault, name: &str, now: DateTime<Utc>) -> Result<String, DeskError> {
    let removed = vault.update(|data| {
        let index = data
            .notifiers
            .iter()
            .position(|n| n.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| VaultError::NotFound(format!("No notifier is named '{name}'.")))?;
        let removed = data.notifiers.remove(index);
        data.notices.retain(|n| n.notifier != removed.id);
        Ok(removed.name)
    })?;
    AuditLog::in_dir(vault.dir()).record(
        &AuditEntry::new(Operation::Notify, Outcome::Ok, now)
            .with_detail(format!("removed notifier '{removed}'")),
    );
    Ok(removed)
}

/// Sends a test message through the notifier named `name` now; a success also
/// ends its failing state.
pub async fn test(vault: &mut Vault, name: &str, clock: &impl Clock) -> Result<(), DeskError> {
    let notifier = vault
        .data()
        .notifiers
        .iter()
        .find(|n| n.name.eq_ignore_ascii_case(name.trim()))
        .cloned()
        .ok_or_else(|| VaultError::NotFound(format!("No notifier is named '{name}'.")))?;
    let now = clock.now();
    let lang = Lang::of(vault.data().settings.language.as_deref());
    let (title, text) = crate::notify::text::heading(lang, Event::Test, &[]);
    let message = Message {
        event: Event::Test,
        title,
        text,
        items: Vec::new(),
        sent_by: crate::notify::machine_name(),
        sent_at: now,
    };
    let result = deliver::deliver(vault, &notifier, &message, clock).await;
    pass::record(
        vault,
        &[pass::Delivery {
            notifier: notifier.id,
            result: Some(result.clone()),
            changes: Vec::new(),
        }],
        now,
    )?;
    result.map_err(|e| VaultError::Invalid(e.0).into())
}
