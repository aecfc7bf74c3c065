//! Settings › Vault in the worker: a connection test, and moving the vault into
//! a shared database or back into a file, after which the vault is opened again
//! where it now is. All of it off the UI thread.

use chrono::{DateTime, Utc};

use crate::desk::model::{KeySource, Vault, VaultError};
use crate::desk::{self, DeskError};

use super::worker::{Event, Reporter};

pub(super) async fn test(url: String, reporter: &Reporter) {
    let found = tokio::task::spawn_blocking(move || desk::shared_vault::test_database(&url))
        .await
        .unwrap_or_else(|e| Err(DeskError::Vault(VaultError::Invalid(e.to_string()))));
    reporter.send(Event::DatabaseTested(found));
}

pub(super) async fn move_vault(
    slot: &mut Option<Vault>,
    dir: std::path::PathBuf,
    keys: Option<KeySource>,
    to: Option<String>,
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
        let moved = match &to {
            Some(url) => desk::shared_vault::migrate_to_database(&dir, url, &keys, now),
            None => desk::shared_vault::migrate_to_file(&dir, &keys, now),
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
