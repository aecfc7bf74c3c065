//! A vault shared in PostgreSQL by every desk and gateway of an organisation:
//! a file vault moved into the database (`vault migrate --to postgresql://…`),
//! another machine joining it (`vault join`), and every face opening it wherever a
//! folder points to it. Moving in is idempotent and resumable: the records are
//! merged per token (the newer revision wins), then the folder points to the
//! database, then the file is renamed so it is never written again.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::DeskError;
use super::model::{KeySource, Vault, VaultError};
use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
use crate::store::pointer::{self, Pointer};

/// What the file vault is renamed to once it lives in the database.
pub use crate::store::pointer::MIGRATED_FILE;
use crate::store::postgres::{PostgresStore, Rotated};

/// The shared vault this folder points to, opened; `None` for a folder of its own.
pub fn open_if_joined(dir: &Path, keys: &KeySource) -> Result<Option<Vault>, DeskError> {
    let Some(pointer) = pointer::read(dir)? else {
        return Ok(None);
    };
    let (store, data) = PostgresStore::open(dir, &pointer.url, keys)?;
    Ok(Some(Vault::with_backend_read(Arc::new(store), data)))
}

/// Refuses to make a file vault in a folder that uses a shared one.
pub fn refuse_if_joined(dir: &Path) -> Result<(), DeskError> {
    match pointer::read(dir)? {
        Some(pointer) => Err(VaultError::Invalid(format!(
            "{} uses the shared vault in {}; it keeps no vault file of its own.",
            dir.display(),
            pointer::without_password(&pointer.url)
        ))
        .into()),
        None => Ok(()),
    }
}

/// What moving a vault into the database did.
#[derive(Debug, Clone)]
pub struct Migrated {
    pub location: String,
    pub data_sources: usize,
    pub tokens: usize,
    /// The database already held this vault's records (an interrupted run).
    pub resumed: bool,
}

/// Moves the file vault in `dir` into the database at `url`, or finishes an
/// interrupted move. Afterwards the folder points to the database and the file
/// is kept as `vault.tdv.migrated`, never written again.
pub fn migrate_to_database(
    dir: &Path,
    url: &str,
    keys: &KeySource,
    now: DateTime<Utc>,
) -> Result<Migrated, DeskError> {
    let clean_url = pointer::without_password(url);
    if let Some(existing) = pointer::read(dir)?
        && existing.url != clean_url
    {
        return Err(VaultError::Invalid(format!(
            "{} already uses the shared vault in {}; move it back first.",
            dir.display(),
            existing.url
        ))
        .into());
    }
    let file_path = Vault::path_in(dir);
    if !file_path.exists() {
        if pointer::read(dir)?.is_some() {
            let vault =
                open_if_joined(dir, keys)?.ok_or(VaultError::NotInitialized(dir.to_path_buf()))?;
            return Ok(report(&vault, true));
        }
        return Err(VaultError::NotInitialized(dir.to_path_buf()).into());
    }
    let file = Vault::open(dir, keys)?;
    // An interrupted earlier run left the vault there: finish it, merging again.
    let resumed = PostgresStore::holds_vault(url)?;
    let store = if resumed {
        PostgresStore::open(dir, url, keys)?.0
    } else {
        PostgresStore::create(dir, url, keys)?.0
    };
    let location = store.describe();
    let machine = store.machine_id();
    let mut shared = Vault::with_backend(Arc::new(store))?;
    shared.import(file.data().clone())?;
    pointer::write(
        dir,
        &Pointer {
            url: clean_url,
            since: now,
            machine,
        },
    )?;
    drop(file);
    std::fs::rename(&file_path, dir.join(pointer::MIGRATED_FILE))
        .map_err(|e| VaultError::io("Could not rename", &file_path, e))?;
    AuditLog::in_dir(dir).record(
        &AuditEntry::new(Operation::Import, Outcome::Ok, now).with_detail(format!(
            "moved the vault into the shared vault in {location}"
        )),
    );
    Ok(report(&shared, resumed))
}

/// Moves the shared vault this folder uses back into a file of its own (the
/// records as the database has them now; the database keeps them for the other
/// machines). Resumable: the pointer goes last, so until then the folder still
/// uses the database.
pub fn migrate_to_file(
    dir: &Path,
    keys: &KeySource,
    now: DateTime<Utc>,
) -> Result<Migrated, DeskError> {
    let Some(pointer) = pointer::read(dir)? else {
        return Err(VaultError::Invalid(format!(
            "{} already keeps its vault in a file of its own.",
            dir.display()
        ))
        .into());
    };
    let shared = open_if_joined(dir, keys)?.ok_or(VaultError::NotInitialized(dir.to_path_buf()))?;
    let migrated = dir.join(MIGRATED_FILE);
    if migrated.exists() {
        let aside = dir.join(format!("{MIGRATED_FILE}-{}", now.format("%Y%m%dT%H%M%SZ")));
        std::fs::rename(&migrated, &aside)
            .map_err(|e| VaultError::io("Could not rename", &migrated, e))?;
    }
    let mut file = match Vault::create(dir, keys, false) {
        Err(VaultError::AlreadyExists(_)) => Vault::open(dir, keys)?,
        other => other?,
    };
    file.import(shared.data().clone())?;
    std::fs::remove_file(pointer::path(dir))
        .map_err(|e| VaultError::io("Could not remove", pointer::path(dir), e))?;
    AuditLog::in_dir(dir).record(
        &AuditEntry::new(Operation::Import, Outcome::Ok, now).with_detail(format!(
            "moved the vault back from the shared vault in {} into a file",
            pointer.url
        )),
    );
    Ok(Migrated {
        location: Vault::path_in(dir).display().to_string(),
        data_sources: file.data().data_sources.len(),
        tokens: file.data().each_token().count(),
        resumed: false,
    })
}

pub(crate) fn report(vault: &Vault, resumed: bool) -> Migrated {
    Migrated {
        location: vault.shared_location().unwrap_or_default(),
        data_sources: vault.data().data_sources.len(),
        tokens: vault.data().each_token().count(),
        resumed,
    }
}

/// Connects this folder to the shared vault at `url` with the vault's passphrase,
/// and keeps the key in this machine's keyring so later opens need none. An
/// empty vault file in the folder (a first start's) is kept aside; one with
/// records is refused.
/// Returns the vault and whether the keyring now holds the key.
pub fn join(
    dir: &Path,
    url: &str,
    keys: &KeySource,
    now: DateTime<Utc>,
) -> Result<(Vault, bool), DeskError> {
    let file_path = Vault::path_in(dir);
    let empty_file = if file_path.exists() {
        // The empty vault a first start made steps aside; one with records would
        // be left behind, so it must move in (merging) instead.
        let file = Vault::open(dir, keys)?;
        let data = file.data();
        if !data.data_sources.is_empty() || !data.consumers.is_empty() {
            return Err(VaultError::Invalid(format!(
                "{} holds a vault of its own with {} data source(s): move it into the database with `vault migrate --to …` (its records are merged there), or join from another folder (--vault-dir).",
                dir.display(),
                data.data_sources.len()
            ))
            .into());
        }
        true
    } else {
        false
    };
    // The database and the passphrase first: a refusal leaves the folder as it was.
    let (store, _) = PostgresStore::open(dir, url, keys)?;
    if empty_file {
        let aside = dir.join(format!(
            "vault.tdv.before-join-{}",
            now.format("%Y%m%dT%H%M%SZ")
        ));
        std::fs::rename(&file_path, &aside)
            .map_err(|e| VaultError::io("Could not rename", &file_path, e))?;
    }
    let remembered = store.remember_machine(keys)?;
    let location = store.describe();
    pointer::write(
        dir,
        &Pointer {
            url: pointer::without_password(url),
            since: now,
            machine: store.machine_id(),
        },
    )?;
    AuditLog::in_dir(dir).record(
        &AuditEntry::new(Operation::Import, Outcome::Ok, now)
            .with_detail(format!("joined the shared vault in {location}")),
    );
    Ok((Vault::with_backend(Arc::new(store))?, remembered))
}

/// Replaces the data key of the shared vault this folder uses, sealing every
/// record again while the other machines keep working (`vault rotate-key`).
/// `keys` must give the vault passphrase: the new key is wrapped under it.
pub fn rotate_key(
    dir: &Path,
    keys: &KeySource,
    wait: std::time::Duration,
    progress: &mut dyn FnMut(String),
    now: DateTime<Utc>,
) -> Result<Rotated, DeskError> {
    let Some(pointer) = pointer::read(dir)? else {
        return Err(VaultError::Invalid(format!(
            "{} keeps its vault in a file, locked by this machine's keyring or its passphrase; `vault rotate-key` replaces the data key of a shared vault.",
            dir.display()
        ))
        .into());
    };
    let (store, _) = PostgresStore::open(dir, &pointer.url, keys)?;
    let rotated = store.rotate_key(keys, wait, progress)?;
    AuditLog::in_dir(dir).record(
        &AuditEntry::new(Operation::RotateKey, Outcome::Ok, now).with_detail(format!(
            "replaced the shared vault's data key in {} (version {}, {} record(s) sealed again, {} machine(s) must join again)",
            store.describe(),
            rotated.version,
            rotated.resealed,
            rotated.dropped.len()
        )),
    );
    Ok(rotated)
}

/// What a connection test found at a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseFound {
    /// Hosts and database (no password).
    pub location: String,
    /// It already holds a shared vault (join it; a move in would resume into it).
    pub holds_vault: bool,
}

/// Connects to the database at `url` once, checks (and brings up) its schema,
/// and says whether it holds a shared vault; nothing of this folder changes.
pub fn test_database(url: &str) -> Result<DatabaseFound, DeskError> {
    let location = crate::store::postgres::Target::parse(url)
        .map_err(VaultError::from)?
        .describe();
    let holds_vault = PostgresStore::holds_vault(url)?;
    Ok(DatabaseFound {
        location,
        holds_vault,
    })
}
