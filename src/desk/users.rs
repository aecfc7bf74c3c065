//! The directory of application users: added one by one, removed, or imported from
//! a CSV file (all or nothing, with the line of every problem).

use chrono::{DateTime, Utc};

use super::DeskError;
use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
use crate::vault::model::AppUser;
use crate::vault::{Vault, VaultError};

pub use crate::vault::csv_import::{parse_users, parse_users_with_progress};

/// Adds `user` to the directory unless a user with that login is already there;
/// returns the directory's user.
pub fn add(vault: &mut Vault, user: AppUser) -> Result<AppUser, DeskError> {
    Ok(vault.update(|data| super::mappings::ensure_in_directory(data, user))?)
}

/// Removes `login` from the directory (its mappings stay until removed).
pub fn remove(vault: &mut Vault, login: &str) -> Result<AppUser, DeskError> {
    Ok(vault.update(|data| data.remove_app_user(login))?)
}

/// Adds imported users, all or nothing, and records where they came from.
pub fn import(
    vault: &mut Vault,
    users: Vec<AppUser>,
    from: &str,
    now: DateTime<Utc>,
) -> Result<usize, DeskError> {
    let count = vault.update(|data| data.import_app_users(users))?;
    AuditLog::in_dir(vault.dir()).record(
        &AuditEntry::new(Operation::Import, Outcome::Ok, now)
            .with_detail(format!("imported {count} user(s) from {from}")),
    );
    Ok(count)
}

/// The largest CSV file read: far beyond any directory (200,000 users take ~15 MB).
pub const MAX_CSV_BYTES: u64 = 256 * 1024 * 1024;

/// A CSV file's users, every row checked, for a preview; nothing is written. A
/// path that is not a regular file, or is larger than any directory, is refused
/// with a sentence.
pub fn preview_file(path: &std::path::Path) -> Result<Vec<AppUser>, DeskError> {
    let io = |e: std::io::Error| VaultError::io("Could not read", path, e);
    let metadata = std::fs::metadata(path).map_err(io)?;
    if !metadata.is_file() {
        return Err(VaultError::NotAFile(path.to_path_buf()).into());
    }
    if metadata.len() > MAX_CSV_BYTES {
        return Err(VaultError::TooLarge(path.to_path_buf()).into());
    }
    let bytes = std::fs::read(path).map_err(io)?;
    Ok(parse_users(&bytes)?)
}

/// A CSV file's bytes as users, every row checked.
pub fn parse(bytes: &[u8], progress: impl FnMut(u64)) -> Result<Vec<AppUser>, VaultError> {
    parse_users_with_progress(bytes, progress)
}
