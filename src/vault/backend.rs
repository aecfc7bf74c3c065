//! Where a vault's records live and how writers take turns, behind one interface.
//! `FileStore` (the encrypted file in a folder, `store.rs`) is the one built. A
//! shared store on an existing database (PostgreSQL, next) implements this trait
//! and is handed to [`Vault::with_backend`]; everything above the handle — the
//! guarded redemption path, the keep-alive, `desk`, the window, the CLI and the
//! gateway — then runs on it unchanged.
//!
//! What an implementation must keep, because the guarded path relies on it:
//! - `update` applies the change to the newest records (never to a stale copy)
//!   and stores the next generation durably before it returns;
//! - `reserve_write` fails, before anything is sent to a provider, when the next
//!   write could not be taken; `update_reserved` then cannot fail for lack of room;
//! - `try_lock_token` is exclusive across every process (and machine) sharing the
//!   store, and the lock goes when its holder dies;
//! - `write_rescue` keeps rotated refresh tokens the records could not take,
//!   where the next `read` finds them.
//!
//! [`Vault::with_backend`]: super::Vault::with_backend

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::error::VaultError;
use super::model::{TokenId, VaultData};
use super::rescue::RescueEntry;
use super::reserve::WriteReservation;
use super::token_lock::LockFailure;

/// A change to the records, applied under the store's write lock.
pub type Change<'a> = &'a mut dyn FnMut(&mut VaultData) -> Result<(), VaultError>;

/// Held while one process redeems one token; the lock goes when this is dropped.
pub struct TokenGuard {
    _held: Box<dyn Send + Sync>,
}

impl TokenGuard {
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        TokenGuard {
            _held: Box::new(held),
        }
    }
}

impl std::fmt::Debug for TokenGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenGuard")
    }
}

pub trait Backend: Send + Sync {
    /// This machine's folder for the vault's local files: the audit log and the
    /// gateway's socket (for the file store, also the vault itself).
    fn folder(&self) -> &Path;
    /// Whether opening it takes a passphrase (a scheduled job then needs the file).
    fn is_passphrase_protected(&self) -> bool;
    /// The newest records, with rescued rotations applied.
    fn read(&self) -> Result<VaultData, VaultError>;
    /// Applies `change` to the newest records and stores the next generation;
    /// returns what was stored.
    fn update(&self, change: Change<'_>) -> Result<VaultData, VaultError>;
    /// Proves the next write can be taken, before anything irreversible happens.
    fn reserve_write(&self, growth: u64) -> Result<WriteReservation, VaultError>;
    /// [`Backend::update`] into the space reserved earlier.
    fn update_reserved(
        &self,
        reservation: &mut WriteReservation,
        change: Change<'_>,
    ) -> Result<VaultData, VaultError>;
    /// Keeps rotated refresh tokens the records could not take.
    fn write_rescue(
        &self,
        reservation: &mut WriteReservation,
        entries: &[RescueEntry],
        now: DateTime<Utc>,
    ) -> Result<PathBuf, VaultError>;
    /// Takes the lock of one token now, or says who holds it.
    fn try_lock_token(&self, id: &TokenId) -> Result<TokenGuard, LockFailure>;
    /// The store's newest generation, asked cheaply, for stores whose changes a
    /// process cannot see in a file's metadata (a database); `None` otherwise.
    fn newest_generation(&self) -> Result<Option<u64>, VaultError> {
        Ok(None)
    }
    /// Where the records are, for people: the database's hosts, or `None` for a
    /// folder's file.
    fn shared_location(&self) -> Option<String> {
        None
    }
}
