//! The applications that fetch access tokens from the gateway: added with a key
//! shown once, listed, removed, and recognised by their key.

use chrono::{DateTime, Utc};

use super::DeskError;
use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
use crate::vault::consumers::Consumer;
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
    let name = name.trim();
    crate::text::check_name("The consumer name", name).map_err(VaultError::Invalid)?;
    let created = vault.update(|data| {
        if data
            .consumers
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(name))
        {
            return Err(VaultError::Invalid(format!(
                "A consumer named '{name}' already exists; remove it first to issue a new key."
            )));
        }
        let source = data.data_source(data_source)?;
        for login in &users {
            if source.mapping(login).is_none() {
                return Err(VaultError::NotFound(format!(
                    "'{login}' has no mapping in '{}'.",
                    source.name
                )));
            }
        }
        let (consumer, key) = Consumer::new(name, source.id, users, all_users, now);
        data.consumers.push(consumer.clone());
        Ok((consumer, key))
    })?;
    AuditLog::in_dir(vault.dir()).record(
        &AuditEntry::new(Operation::Consumer, Outcome::Ok, now).with_detail(format!(
            "added consumer '{name}' for data source '{data_source}'"
        )),
    );
    Ok(created)
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
    !key.is_empty() && data.consumers.iter().any(|c| c.has_key(key))
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
