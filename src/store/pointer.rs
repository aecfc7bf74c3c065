//! The folder of a machine that uses a shared vault keeps only a pointer to the
//! database (`shared-vault.json`, readable by this user only, never a password),
//! beside the audit spool and the gateway's socket. Every command, the window and
//! the gateway in that folder then use the database.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::vault::VaultError;

pub const POINTER_FILE: &str = "shared-vault.json";
/// What `vault migrate` renames the file vault to: kept, never written again.
pub const MIGRATED_FILE: &str = "vault.tdv.migrated";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    /// The libpq connection string, without a password.
    pub url: String,
    pub since: chrono::DateTime<chrono::Utc>,
    /// This machine's keyring key for the vault (its wrapping is tried first:
    /// with many machines joined, trying each key in the keyring costs a
    /// round trip to the keyring each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<uuid::Uuid>,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(POINTER_FILE)
}

pub fn read(dir: &Path) -> Result<Option<Pointer>, VaultError> {
    let path = path(dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| VaultError::Corrupt(format!("{} cannot be read ({e})", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(VaultError::io("Could not read", &path, e)),
    }
}

pub fn write(dir: &Path, pointer: &Pointer) -> Result<(), VaultError> {
    let bytes =
        serde_json::to_vec_pretty(pointer).map_err(|e| VaultError::Format(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|e| VaultError::io("Could not create", dir, e))?;
    crate::vault::store::write_file_durably(dir, &path(dir), &bytes)
}

/// `url` without its password (the password comes from PGPASSWORD or a passfile).
pub fn without_password(url: &str) -> String {
    if let Ok(mut parsed) = url::Url::parse(url)
        && matches!(parsed.scheme(), "postgresql" | "postgres")
    {
        let _ = parsed.set_password(None);
        return parsed.to_string();
    }
    url.split_whitespace()
        .filter(|part| !part.starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_never_keeps_a_password() {
        assert_eq!(
            without_password(
                "postgresql://td:hunter2@db1,db2/vault?target_session_attrs=read-write"
            ),
            "postgresql://td@db1,db2/vault?target_session_attrs=read-write"
        );
        assert_eq!(
            without_password("host=db1 user=td password=hunter2 dbname=vault"),
            "host=db1 user=td dbname=vault"
        );
    }
}
