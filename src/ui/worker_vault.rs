//! Settings › Vault in the worker: a connection test, and moving the vault into
//! a shared database or back into a file, after which the vault is opened again
//! where it now is. All of it off the UI thread.

use chrono::{DateTime, Utc};

use crate::desk::model::{KeySource, Secret, Vault, VaultError};
use crate::desk::{self, DeskError};

use super::worker::{Event, Reporter};

pub(super) async fn test(url: String, reporter: &Reporter) {
    let found = tokio::task::spawn_blocking(move || desk::shared_vault::test_database(&url))
        .await
        .unwrap_or_else(|e| Err(DeskError::Vault(VaultError::Invalid(e.to_string()))));
    reporter.send(Event::DatabaseTested(found));
}

/// Where Settings › Vault moves this folder's vault.
pub enum VaultMove {
    /// Into the database at this URL (merging into a vault already there).
    IntoDatabase(String),
    /// Use the shared vault already at this URL, opened with its passphrase.
    Join { url: String, passphrase: Secret },
    /// Back into a file on this computer.
    BackToFile,
}

pub(super) async fn move_vault(
    slot: &mut Option<Vault>,
    dir: std::path::PathBuf,
    keys: Option<KeySource>,
    to: VaultMove,
    now: DateTime<Utc>,
    reporter: &Reporter,
) {
    let Some(keys) = keys else {
        reporter.send(Event::VaultMoved(Err(DeskError::Vault(
            VaultError::Invalid("The vault is not open.".into()),
        ))));
        return;
    };
    // The move reads the vault where it is now; this handle would only hold it open.
    *slot = None;
    let moved = tokio::task::spawn_blocking(move || {
        let moved = match to {
            VaultMove::IntoDatabase(url) => {
                desk::shared_vault::migrate_to_database(&dir, &url, &keys, now)
            }
            VaultMove::Join { url, passphrase } => {
                desk::shared_vault::join(&dir, &url, &keys.clone().with_passphrase(passphrase), now)
                    .map(|(vault, _)| desk::shared_vault::report(&vault, false))
            }
            VaultMove::BackToFile => desk::shared_vault::migrate_to_file(&dir, &keys, now),
        };
        // Open it again where it is now (or where it still is, when the move failed).
        let reopened = desk::vault_file::open_or_create(&dir, &keys);
        (moved, reopened)
    })
    .await;
    match moved {
        Ok((moved, reopened)) => {
            match reopened {
                Ok(vault) => {
                    let data = vault.data().clone();
                    *slot = Some(vault);
                    reporter.send(Event::VaultOpened(Ok(data)));
                }
                Err(error) => reporter.send(Event::Failed(error)),
            }
            reporter.send(Event::VaultMoved(moved));
        }
        Err(e) => reporter.send(Event::VaultMoved(Err(DeskError::Vault(
            VaultError::Invalid(e.to_string()),
        )))),
    }
}
