//! Where a vault's records live and how writers take turns, behind one interface.
//! Two stores implement it: the encrypted file in a folder (`store.rs`) and the
//! shared vault in PostgreSQL (`crate::store::postgres`), handed to
//! [`Vault::with_backend`]; everything above the handle — the guarded redemption
//! path, the keep-alive, `desk`, the window, the CLI and the gateway — runs on
//! either unchanged.
//!
//! Token records, the ones that change every hour, also have a record-level path
//! (`read_tokens`, `update_tokens`): a store that keeps records apart (a row each)
//! reads and writes just those, so storing one rotated token costs the same with
//! ten tokens or ten thousand. A store that keeps the vault whole (the file) takes
//! the default, which goes through `read` and `update_reserved`.
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
use super::model::{TokenId, TokenRecord, VaultData};
use super::rescue::RescueEntry;
use super::reserve::WriteReservation;
use super::token_lock::LockFailure;

/// A change to the records, applied under the store's write lock.
pub type Change<'a> = &'a mut dyn FnMut(&mut VaultData) -> Result<(), VaultError>;

/// Some token records by id (those that exist), for a change at record level.
pub type TokenMap = std::collections::BTreeMap<TokenId, TokenRecord>;

/// A change to some token records, applied under the store's write lock to the
/// newest of them.
pub type TokenChange<'a> = &'a mut dyn FnMut(&mut TokenMap) -> Result<(), VaultError>;

/// What a record-level read or write brought back.
#[derive(Debug)]
pub enum Records {
    /// The whole vault (a store that keeps it whole).
    Whole(Box<VaultData>),
    /// Just the token records asked for: as they are at `generation`, which
    /// followed `based_on` (equal for a read or a write that changed nothing).
    Tokens {
        based_on: u64,
        generation: u64,
        records: TokenMap,
        /// The store's own records, when it keeps them (the shared vault's
        /// cache), at their own generation: a handle that was at `based_on`,
        /// when they are at `generation` and its `records` are the copy's own,
        /// takes them whole; otherwise it takes each mapping of the copy that
        /// holds the record it read or wrote. Either way one rotated mapping is
        /// held once per process, not once per handle.
        snapshot: Option<std::sync::Arc<VaultData>>,
    },
}

/// Another process that used a shared store in the last minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub machine: String,
    /// "desk", "gateway" or "cli".
    pub face: String,
    pub seconds_ago: i64,
}

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
    /// The newest of the token records `ids`.
    fn read_tokens(&self, _ids: &[TokenId]) -> Result<Records, VaultError> {
        Ok(Records::Whole(Box::new(self.read()?)))
    }
    /// Applies `change` to the newest of the token records `ids` and stores them
    /// durably, into the space reserved earlier.
    fn update_tokens(
        &self,
        reservation: &mut WriteReservation,
        ids: &[TokenId],
        change: TokenChange<'_>,
    ) -> Result<Records, VaultError> {
        whole_update_tokens(self, reservation, ids, change)
    }
    /// What changed since `generation`, when the store can say it as token records
    /// alone (a database whose other changes were all rotations); `None` when only
    /// a whole read tells. A gateway watching a large shared vault then takes the
    /// other gateway's rotations without building every record anew.
    fn read_since(&self, _generation: u64) -> Result<Option<Records>, VaultError> {
        Ok(None)
    }
    /// The store's newest generation, asked cheaply, for stores whose changes a
    /// process cannot see in a file's metadata (a database); `None` otherwise.
    fn newest_generation(&self) -> Result<Option<u64>, VaultError> {
        Ok(None)
    }
    /// Says that this process, as `face`, uses the store now (a shared store keeps
    /// a row; a file has no one to tell).
    fn announce(&self, _face: &str) -> Result<(), VaultError> {
        Ok(())
    }
    /// Sends what this machine's audit spool holds to a shared store's audit log;
    /// how many lines went (a file store's log is the local file itself).
    fn ship_audit(&self) -> Result<usize, VaultError> {
        Ok(0)
    }
    /// The other processes that used the store in the last minute.
    fn present(&self, _face: &str) -> Result<Vec<Presence>, VaultError> {
        Ok(Vec::new())
    }
    /// Where the records are, for people: the database's hosts, or `None` for a
    /// folder's file.
    fn shared_location(&self) -> Option<String> {
        None
    }
}

/// [`Backend::update_tokens`] through the whole vault: the records are taken out,
/// changed, and put back in their places.
pub fn whole_update_tokens<B: Backend + ?Sized>(
    store: &B,
    reservation: &mut WriteReservation,
    ids: &[TokenId],
    change: TokenChange<'_>,
) -> Result<Records, VaultError> {
    let data = store.update_reserved(reservation, &mut |data| {
        let mut taken: TokenMap = ids
            .iter()
            .filter_map(|id| Some((*id, data.token_by_id_mut(id)?.clone())))
            .collect();
        change(&mut taken)?;
        for (id, record) in taken {
            if let Some(place) = data.token_by_id_mut(&id) {
                *place = record;
            }
        }
        Ok(())
    })?;
    Ok(Records::Whole(Box::new(data)))
}
