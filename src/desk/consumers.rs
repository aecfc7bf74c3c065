//! The applications that fetch access tokens from the gateway: added with a key
//! shown once, listed, removed, and recognised by their key.

use chrono::{DateTime, Utc};

use super::DeskError;
use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
pub use crate::vault::consumers::Consumer;
use crate::vault::{Vault, VaultData, VaultError};

pub use crate::vault::consumers::KEY_PREFIX;

/// Adds a consumer for `data_source` (a name, resolved here) and returns it with
/// its key, which exists nowhere else afterwards.
pub fn add(
    vault: &mut Vault,
    name: &str,
    data_source: &str,
    users: Vec<String>,
    all_users: bool,
    now: DateTime<Utc>,
) -> Result<(Consumer, String), DeskError> {
    let (consumer, key) = prepare(
        vault.data(),
        &ConsumerChanges::default(),
        name,
        data_source,
        users,
        all_users,
        now,
    )?;
    apply(
        vault,
        ConsumerChanges {
            added: vec![consumer.clone()],
            removed: Vec::new(),
        },
        now,
    )?;
    Ok((consumer, key))
}

/// Adds a mail relay device's key for `data_source`, bound to the mailbox of
/// `user` (None: the data-source user); it logs in to the relay as that mailbox
/// and fetches no tokens.
pub fn add_relay(
    vault: &mut Vault,
    name: &str,
    data_source: &str,
    user: Option<String>,
    now: DateTime<Utc>,
) -> Result<(Consumer, String), DeskError> {
    let (consumer, key) = prepare(
        vault.data(),
        &ConsumerChanges::default(),
        name,
        data_source,
        user.into_iter().collect(),
        false,
        now,
    )?;
    let consumer = consumer.for_relay();
    apply(
        vault,
        ConsumerChanges {
            added: vec![consumer.clone()],
            removed: Vec::new(),
        },
        now,
    )?;
    Ok((consumer, key))
}

/// The mailbox a relay device logs in as, for lists.
pub fn relay_mailbox(data: &VaultData, consumer: &Consumer) -> Option<String> {
    let source = data
        .data_sources
        .iter()
        .find(|d| d.id == consumer.data_source)?;
    match consumer.relay_user() {
        None => Some(source.account.email.clone()),
        Some(login) => source.mapping(login).map(|m| m.exchange_user.clone()),
    }
}

/// Consumers added and removed in a dialog, stored together when it is confirmed.
#[derive(Debug, Clone, Default)]
pub struct ConsumerChanges {
    pub added: Vec<Consumer>,
    /// Names of stored consumers.
    pub removed: Vec<String>,
}

impl ConsumerChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// A consumer made with its key but not stored yet (see [`apply`]); checked
/// against the stored consumers as `pending` leaves them.
pub fn prepare(
    data: &VaultData,
    pending: &ConsumerChanges,
    name: &str,
    data_source: &str,
    users: Vec<String>,
    all_users: bool,
    now: DateTime<Utc>,
) -> Result<(Consumer, String), DeskError> {
    let name = name.trim();
    crate::text::check_name("The consumer name", name).map_err(VaultError::Invalid)?;
    let stored = data.consumers.iter().filter(|c| {
        !pending
            .removed
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&c.name))
    });
    if stored
        .chain(&pending.added)
        .any(|c| c.name.eq_ignore_ascii_case(name))
    {
        return Err(already_exists(name).into());
    }
    let source = data.data_source(data_source)?;
    for login in &users {
        if source.mapping(login).is_none() {
            return Err(VaultError::NotFound(format!(
                "'{login}' has no mapping in '{}'.",
                source.name
            ))
            .into());
        }
    }
    Ok(Consumer::new(name, source.id, users, all_users, now))
}

fn already_exists(name: &str) -> VaultError {
    VaultError::Invalid(format!(
        "A consumer named '{name}' already exists; remove it first to issue a new key."
    ))
}

/// Stores `changes` in one write: the removals first (a name may be reused), then
/// the additions, each checked again against what the vault holds now.
pub fn apply(
    vault: &mut Vault,
    changes: ConsumerChanges,
    now: DateTime<Utc>,
) -> Result<(), DeskError> {
    if changes.is_empty() {
        return Ok(());
    }
    vault.update(|data| apply_to(data, &changes))?;
    record(vault, &changes, now);
    Ok(())
}

/// The change itself, for a caller that writes more in the same update.
pub(super) fn apply_to(data: &mut VaultData, changes: &ConsumerChanges) -> Result<(), VaultError> {
    for name in &changes.removed {
        data.consumers
            .retain(|c| !c.name.eq_ignore_ascii_case(name.trim()));
    }
    for consumer in &changes.added {
        if data
            .consumers
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&consumer.name))
        {
            return Err(already_exists(&consumer.name));
        }
        if !data
            .data_sources
            .iter()
            .any(|d| d.id == consumer.data_source)
        {
            return Err(VaultError::NotFound(format!(
                "The data source of consumer '{}' was removed meanwhile.",
                consumer.name
            )));
        }
        data.consumers.push(consumer.clone());
    }
    Ok(())
}

pub(super) fn record(vault: &Vault, changes: &ConsumerChanges, now: DateTime<Utc>) {
    let log = AuditLog::in_dir(vault.dir());
    for name in &changes.removed {
        log.record(
            &AuditEntry::new(Operation::Consumer, Outcome::Ok, now)
                .with_detail(format!("removed consumer '{name}'")),
        );
    }
    for consumer in &changes.added {
        let source = vault
            .data()
            .data_sources
            .iter()
            .find(|d| d.id == consumer.data_source)
            .map_or("?", |d| d.name.as_str());
        log.record(
            &AuditEntry::new(Operation::Consumer, Outcome::Ok, now).with_detail(format!(
                "added {} '{}' for data source '{source}'",
                if consumer.relay {
                    "relay device"
                } else {
                    "consumer"
                },
                consumer.name
            )),
        );
    }
}

/// Removes the consumer named `name`; its key stops working at once.
pub fn remove(vault: &mut Vault, name: &str, now: DateTime<Utc>) -> Result<Consumer, DeskError> {
    let removed = vault.update(|data| {
        let index = data
            .consumers
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| VaultError::NotFound(format!("No consumer is named '{name}'.")))?;
        Ok(data.consumers.remove(index))
    })?;
    AuditLog::in_dir(vault.dir()).record(
        &AuditEntry::new(Operation::Consumer, Outcome::Ok, now)
            .with_detail(format!("removed consumer '{}'", removed.name)),
    );
    Ok(removed)
}

/// Why a request for a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No consumer has this key (HTTP 401).
    UnknownKey,
    /// The key is not allowed this data source or user (HTTP 403).
    NotAllowed,
    /// No such data source or user (HTTP 404).
    NotFound,
}

/// Whether `key` belongs to any consumer (for what every consumer may read, such
/// as the gateway's `/metrics` off loopback).
pub fn is_known_key(data: &VaultData, key: &str) -> bool {
    !key.is_empty() && data.consumers.iter().any(|c| !c.relay && c.has_key(key))
}

/// The consumer whose key this is, if it may fetch `user`'s token (None: the
/// data-source user) of the data source named `data_source`.
pub fn authorize<'a>(
    data: &'a VaultData,
    key: &str,
    data_source: &str,
    user: Option<&str>,
) -> Result<&'a Consumer, Refusal> {
    let consumer = data
        .consumers
        .iter()
        .find(|c| c.has_key(key))
        .ok_or(Refusal::UnknownKey)?;
    // A device's relay key logs in to the relay only: a printer's password never
    // hands out access tokens.
    if consumer.relay {
        return Err(Refusal::NotAllowed);
    }
    let source = data
        .data_source(data_source)
        .map_err(|_| Refusal::NotFound)?;
    if source.id != consumer.data_source {
        return Err(Refusal::NotAllowed);
    }
    if let Some(login) = user
        && source.mapping(login).is_none()
    {
        return Err(Refusal::NotFound);
    }
    if !consumer.may_fetch(user) {
        return Err(Refusal::NotAllowed);
    }
    Ok(consumer)
}
