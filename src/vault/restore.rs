//! Restore backup without bringing back used refresh tokens.
//!
//! The backup is the previous generation, so its refresh tokens may already have
//! been redeemed and rotated; a provider that detects replay revokes the whole
//! grant when one is sent again. So the restore keeps, per token, whichever record
//! is newer (the current file's, when it can be read), never drops a token that
//! only one side has, marks tokens that may be stale, and keeps every replaced file.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::Vault;
use super::crypto;
use super::error::VaultError;
use super::keys::KeySource;
use super::model::{FORMAT_VERSION, TokenId, TokenRecord, VaultData};
use super::store::{self, BACKUP_FILE, DirLock, VAULT_FILE};

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct RestoreReport {
    /// Tokens whose newer record from the current file was kept.
    pub kept_newer: usize,
    /// Tokens that came back from the backup and may have been used since.
    pub possibly_stale: usize,
    /// Where the replaced file was kept, if there was one.
    pub damaged_copy: Option<PathBuf>,
    /// Whether the current file could be read (then nothing newer was lost).
    pub current_was_readable: bool,
}

impl Vault {
    /// Puts the backup generation back, merged with the current file as described
    /// in the module documentation. A current file that opens fine is replaced
    /// only with `confirmed`.
    pub fn restore_backup(
        dir: &Path,
        keys: &KeySource,
        confirmed: bool,
        now: DateTime<Utc>,
    ) -> Result<(Vault, RestoreReport), VaultError> {
        let _lock = DirLock::acquire(dir)?;
        let backup_path = dir.join(BACKUP_FILE);
        let bytes = match store::read_capped(&backup_path) {
            Ok(bytes) => bytes,
            Err(VaultError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(VaultError::NoBackup(dir.to_path_buf()));
            }
            Err(other) => return Err(other),
        };
        let parsed = crypto::parse(&bytes)?;
        let key = keys.key_for(&parsed.header)?;
        let backup = store::decode(&parsed.open(&key)?)?;
        let current_path = dir.join(VAULT_FILE);
        let current_bytes = store::read_file(&current_path, dir).ok();
        let current = current_bytes
            .as_deref()
            .and_then(|bytes| crypto::parse(bytes).ok())
            .filter(|p| p.header.key_id == parsed.header.key_id)
            .and_then(|p| p.open(&key).ok())
            .and_then(|body| store::decode(&body).ok());
        if current.is_some() && !confirmed {
            return Err(VaultError::RestoreOfHealthyVault);
        }
        let mut report = RestoreReport {
            current_was_readable: current.is_some(),
            ..RestoreReport::default()
        };
        let merged = merge(backup, current, now, &mut report);
        if current_path.exists() {
            let copy = dir.join(format!(
                "{VAULT_FILE}.damaged-{}",
                now.format("%Y%m%dT%H%M%S%.3fZ")
            ));
            fs::copy(&current_path, &copy).map_err(|e| {
                VaultError::io("Could not keep a copy of the current vault at", &copy, e)
            })?;
            report.damaged_copy = Some(copy);
        }
        let store = store::FileStore::from_parts(dir, key, parsed.header);
        let sealed = store.seal(&merged)?;
        let mut vault = Vault::from_store(store, merged);
        // The backup stays as it is: rotating it would make the damaged file the
        // backup, and a second restore would then have nothing to restore.
        store::write_file_durably(dir, &current_path, &sealed)?;
        vault.reload()?;
        Ok((vault, report))
    }
}

/// The backup with every token replaced by the current file's when that one is
/// newer, and with what only the current file has added back.
pub(super) fn merge(
    backup: VaultData,
    current: Option<VaultData>,
    now: DateTime<Utc>,
    report: &mut RestoreReport,
) -> VaultData {
    let generation = backup
        .generation
        .max(current.as_ref().map_or(0, |c| c.generation))
        + 1;
    let mut merged = merge_records(backup, current, Some(now), report);
    merged.generation = generation;
    merged
}

/// An imported bundle merged into this vault the same way: per token the newer
/// record wins (by revision), so importing an old export never brings back a
/// refresh token the provider has since rotated away; what only this vault has
/// stays. A token only the bundle has is new here, not stale.
pub(super) fn merge_import(
    imported: VaultData,
    current: VaultData,
    report: &mut RestoreReport,
) -> VaultData {
    let generation = current.generation;
    let mut merged = merge_records(imported, Some(current), None, report);
    merged.generation = generation;
    merged
}

/// `backup`'s records, each replaced by `current`'s when that one is as new or
/// newer, plus what only `current` has. With `restored_at`, the backup's tokens
/// that were not replaced are marked as possibly used since.
fn merge_records(
    mut backup: VaultData,
    current: Option<VaultData>,
    restored_at: Option<DateTime<Utc>>,
    report: &mut RestoreReport,
) -> VaultData {
    let mut newer: HashMap<TokenId, TokenRecord> = HashMap::new();
    if let Some(current) = &current {
        for owner in current.each_token() {
            newer.insert(owner.id(), owner.record().clone());
        }
    }
    let mut seen = Vec::new();
    for (id, record) in backup.records_by_id_mut() {
        seen.push(id);
        match newer.get(&id) {
            Some(current) if current.revision >= record.revision => {
                *record = current.clone();
                report.kept_newer += 1;
            }
            // The current file's record is older (cannot happen unless edited by
            // hand) or missing: the backup's token may have been used since.
            _ if record.refresh_token.is_some() && restored_at.is_some() => {
                record.restored_at = restored_at;
                report.possibly_stale += 1;
            }
            _ => {}
        }
    }
    if let Some(current) = current {
        // Data sources and mappings added after the backup keep their tokens.
        for source in current.data_sources {
            match backup.data_sources.iter_mut().find(|d| d.id == source.id) {
                None => backup.data_sources.push(source),
                Some(existing) => {
                    for mapping in source.users {
                        if !existing.users.iter().any(|m| m.id == mapping.id) {
                            existing.users.push(mapping);
                        }
                    }
                }
            }
        }
        for user in current.directory {
            if !backup.directory.iter().any(|u| u.login == user.login) {
                backup.directory.push(user);
            }
        }
        // So do consumers added since: their keys are in applications already.
        for consumer in current.consumers {
            if !backup.consumers.iter().any(|c| c.id == consumer.id) {
                backup.consumers.push(consumer);
            }
        }
        // And notifiers, with what they were told, so nothing is announced twice.
        for notifier in current.notifiers {
            if !backup.notifiers.iter().any(|n| n.id == notifier.id) {
                backup.notifiers.push(notifier);
            }
        }
        for notice in current.notices {
            backup
                .notices
                .retain(|n| !(n.notifier == notice.notifier && n.subject == notice.subject));
            backup.notices.push(notice);
        }
    }
    backup.format_version = FORMAT_VERSION;
    backup
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::vault::model::{DataSource, UserMapping};

    fn source() -> DataSource {
        let provider = crate::identity::ProviderConfig {
            authority: crate::identity::Authority::microsoft(
                crate::identity::Cloud::Global,
                "contoso.onmicrosoft.com",
            ),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: None,
            scopes: crate::identity::Scopes::Graph,
        };
        DataSource::new("Exchange", provider, "sales@contoso.com")
    }

    #[test]
    fn an_old_export_imported_again_keeps_the_rotated_tokens_and_the_new_consumers() {
        let mut exported = source();
        exported.token.refresh_token = Some(Secret::new("rt-exported"));
        exported.token.revision = 3;
        let bundle = VaultData {
            generation: 40,
            data_sources: vec![exported.clone()],
            ..VaultData::default()
        };
        let mut current = bundle.clone();
        current.generation = 12;
        current.data_sources[0].token.refresh_token = Some(Secret::new("rt-rotated"));
        current.data_sources[0].token.revision = 9;
        let (consumer, _key) = crate::vault::consumers::Consumer::new(
            "Portal",
            current.data_sources[0].id,
            Vec::new(),
            false,
            Utc::now(),
        );
        current.consumers.push(consumer);
        let mut report = RestoreReport::default();
        let merged = merge_import(bundle.clone(), current, &mut report);
        assert_eq!(
            merged.data_sources[0].token.refresh_token,
            Some(Secret::new("rt-rotated")),
            "the provider retired the exported token when it rotated"
        );
        assert_eq!(merged.data_sources[0].token.restored_at, None);
        assert_eq!((report.kept_newer, report.possibly_stale), (1, 0));
        assert_eq!(merged.consumers.len(), 1, "the consumer added since stays");
        assert_eq!(merged.generation, 12, "this vault's own count goes on");

        // Onto an empty vault (another machine), the bundle's tokens are new there.
        let mut report = RestoreReport::default();
        let moved = merge_import(bundle, VaultData::default(), &mut report);
        assert_eq!(moved.data_sources[0].token, exported.token);
        assert_eq!(report.possibly_stale, 0);
    }

    #[test]
    fn newer_tokens_win_and_nothing_only_one_side_has_is_dropped() {
        let mut old = source();
        old.token.refresh_token = Some(Secret::new("rt-used"));
        old.token.revision = 4;
        let mut backup = VaultData {
            generation: 7,
            data_sources: vec![old.clone()],
            ..VaultData::default()
        };
        let mut current = backup.clone();
        current.generation = 8;
        current.data_sources[0].token.refresh_token = Some(Secret::new("rt-new"));
        current.data_sources[0].token.revision = 5;
        let added = UserMapping::new(
            crate::vault::AppUser {
                login: "USER/new".into(),
                display_name: String::new(),
                email: String::new(),
            },
            "new@contoso.com",
        );
        current.data_sources[0].push_user(added);
        let mut report = RestoreReport::default();
        let merged = merge(backup.clone(), Some(current), Utc::now(), &mut report);
        assert_eq!(
            merged.data_sources[0].token.refresh_token,
            Some(Secret::new("rt-new"))
        );
        assert_eq!(
            merged.data_sources[0].users.len(),
            1,
            "the new mapping stays"
        );
        assert_eq!(merged.generation, 9);
        assert_eq!((report.kept_newer, report.possibly_stale), (1, 0));

        // Without a readable current file every backup token may be stale.
        backup.generation = 7;
        let mut report = RestoreReport::default();
        let merged = merge(backup, None, Utc::now(), &mut report);
        assert!(merged.data_sources[0].token.restored_at.is_some());
        assert_eq!(report.possibly_stale, 1);
    }
}
