//! The vault as a file: where it is, opening, creating, restoring the backup
//! generation, and moving its contents in and out as an encrypted bundle. Every
//! face opens the vault here and hands the handle back to the other desk actions.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::DeskError;
use super::model::{KeySource, RestoreReport, Secret, Vault, VaultData};
use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
use crate::vault::crypto::KdfParams;

/// No export bundle is larger than the largest vault file.
pub const MAX_BUNDLE_BYTES: u64 = crate::vault::store::MAX_FILE_BYTES;

/// The vault folder: the one given, else TOKENDESK_VAULT_DIR, else the platform's.
pub fn resolve_dir(explicit: Option<&Path>) -> Result<PathBuf, DeskError> {
    Ok(crate::vault::store::resolve_dir(explicit)?)
}

pub fn open(dir: &Path, keys: &KeySource) -> Result<Vault, DeskError> {
    if let Some(shared) = super::shared_vault::open_if_joined(dir, keys)? {
        return Ok(shared);
    }
    Ok(Vault::open(dir, keys)?)
}

pub fn open_or_create(dir: &Path, keys: &KeySource) -> Result<Vault, DeskError> {
    if let Some(shared) = super::shared_vault::open_if_joined(dir, keys)? {
        return Ok(shared);
    }
    Ok(Vault::open_or_create(dir, keys)?)
}

pub fn create(dir: &Path, keys: &KeySource, force: bool) -> Result<Vault, DeskError> {
    super::shared_vault::refuse_if_joined(dir)?;
    Ok(Vault::create(dir, keys, force)?)
}

/// Brings back the backup generation, keeping each token's newer state.
pub fn restore_backup(
    dir: &Path,
    keys: &KeySource,
    confirmed: bool,
    now: DateTime<Utc>,
) -> Result<(Vault, RestoreReport), DeskError> {
    Ok(Vault::restore_backup(dir, keys, confirmed, now)?)
}

/// The passphrase given in the environment for a vault (never on the command line).
pub fn passphrase_from_environment() -> Option<Secret> {
    crate::hardening::env_passphrase()
}

/// The passphrase given in the environment for an export bundle.
pub fn bundle_passphrase_from_environment() -> Option<Secret> {
    crate::hardening::env_bundle_passphrase()
}

/// The vault's contents encrypted with the bundle passphrase; the export is audited.
pub fn export(vault: &Vault, passphrase: &Secret, to: &Path) -> Result<Vec<u8>, DeskError> {
    let bundle = vault.export_bundle(passphrase, KdfParams::recommended())?;
    audit(
        vault.dir(),
        Operation::Export,
        format!(
            "exported {} data source(s) to {}",
            vault.data().data_sources.len(),
            to.display()
        ),
    );
    Ok(bundle)
}

/// Decrypts an export bundle; nothing is written.
pub fn read_bundle(bytes: &[u8], passphrase: &Secret) -> Result<VaultData, DeskError> {
    Ok(Vault::read_bundle(bytes, passphrase)?)
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub data_sources: usize,
    /// Tokens whose record in this vault was newer than the bundle's, and stayed.
    pub kept_newer: usize,
}

/// Merges a bundle into the vault, per token the newer record (the previous
/// contents become the backup generation); the import is audited.
pub fn import(vault: &mut Vault, imported: VaultData, from: &Path) -> Result<Imported, DeskError> {
    let data_sources = imported.data_sources.len();
    let report = vault.import(imported)?;
    audit(
        vault.dir(),
        Operation::Import,
        format!(
            "imported {data_sources} data source(s) from {}; kept {} newer token(s) of this vault",
            from.display(),
            report.kept_newer
        ),
    );
    Ok(Imported {
        data_sources,
        kept_newer: report.kept_newer,
    })
}

/// How many rescue files lie beside the vault in `dir`.
pub fn rescue_files(dir: &Path) -> usize {
    crate::vault::rescue::list(dir).len()
}

/// The vault file of the folder `dir`.
pub fn vault_path(dir: &Path) -> PathBuf {
    Vault::path_in(dir)
}

/// The socket a gateway serving this vault listens on (`tokendesk serve`).
pub fn gateway_socket(dir: &Path) -> PathBuf {
    dir.join("gateway.sock")
}

/// Windows' equivalent of the socket: a named pipe per vault folder,
/// `\\.\pipe\tokendesk-<first 16 hex digits of SHA-256 of the folder>`.
pub fn gateway_pipe_name(dir: &Path) -> String {
    let folder = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let folder = folder.to_string_lossy().to_lowercase();
    let digest = ring::digest::digest(&ring::digest::SHA256, folder.as_bytes());
    let hex: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(r"\\.\pipe\tokendesk-{hex}")
}

/// Whether a gateway serves the vault in `dir`: its socket answers (on Windows:
/// its pipe exists).
pub fn gateway_serving(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        std::os::unix::net::UnixStream::connect(gateway_socket(dir)).is_ok()
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::Foundation::{ERROR_SEM_TIMEOUT, GetLastError};
        use windows_sys::Win32::System::Pipes::WaitNamedPipeW;
        let name: Vec<u16> = gateway_pipe_name(dir)
            .encode_utf16()
            .chain(Some(0))
            .collect();
        // SAFETY: a NUL-terminated name; waits at most 1 ms and opens nothing.
        unsafe { WaitNamedPipeW(name.as_ptr(), 1) != 0 || GetLastError() == ERROR_SEM_TIMEOUT }
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
        false
    }
}

fn audit(dir: &Path, operation: Operation, detail: String) {
    AuditLog::in_dir(dir)
        .record(&AuditEntry::new(operation, Outcome::Ok, Utc::now()).with_detail(detail));
}

/// What became of a store that went back to an older generation.
#[derive(Debug, Clone)]
pub struct RollbackReport {
    pub seen: u64,
    pub found: u64,
    /// Tokens whose newer refresh token went into the rescue file.
    pub rescued: usize,
    pub rescue_file: Option<PathBuf>,
    /// Tokens the older store no longer has at all (added after its backup).
    pub missing: Vec<String>,
}

impl RollbackReport {
    /// One paragraph for an admin (the gateway's /healthz, the log).
    pub fn message(&self) -> String {
        let mut text = format!(
            "The vault went back from generation {} to {} while tokendesk was using it (restored by a backup tool?). Nothing from the older copy was sent to the provider.",
            self.seen, self.found
        );
        if let Some(path) = &self.rescue_file {
            text.push_str(&format!(
                " The newer refresh tokens of {} token(s) were kept in the rescue file {}; tokendesk uses them from there and stores them at the next save.",
                self.rescued,
                path.display()
            ));
        }
        if !self.missing.is_empty() {
            text.push_str(&format!(
                " The older copy lacks {} token(s) that existed since: {}. Sign them in again, or restore the newer vault file.",
                self.missing.len(),
                self.missing.join(", ")
            ));
        }
        text
    }
}

/// The store went back to an older generation while this process knew `newest`:
/// every refresh token of `newest` that the store lost goes into a rescue file
/// (so no older token is ever sent to a provider again), the event goes into the
/// audit log, and the store as it is now, with the rescue, becomes the vault.
pub fn rescue_rollback(
    vault: &mut Vault,
    newest: &VaultData,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RollbackReport, DeskError> {
    use crate::vault::rescue::RescueEntry;
    let found = vault.read_store()?;
    let mut entries = Vec::new();
    let mut missing = Vec::new();
    for owner in newest.each_token() {
        let Some(refresh) = owner.record().refresh_token.as_ref() else {
            continue;
        };
        match found.token_by_id(&owner.id()) {
            // Only a record this process holds newer than the store's is rescued:
            // where the store's is as new or newer, its token is the one to keep,
            // and putting ours over it would send a rotated-away token later.
            Some(old)
                if old.record().revision < owner.record().revision
                    && old.record().refresh_token.as_ref() != Some(refresh) =>
            {
                entries.push(RescueEntry {
                    id: owner.id(),
                    based_on: old.record().revision,
                    refresh_token: refresh.clone(),
                    redeemed_at: owner.record().last_redeemed_at.unwrap_or(now),
                });
            }
            Some(_) => {}
            None => missing.push(owner.target().to_string()),
        }
    }
    let rescue_file = if entries.is_empty() {
        None
    } else {
        let mut reservation = vault.reserve_write(0)?;
        Some(vault.write_rescue(&mut reservation, &entries, now)?)
    };
    let report = RollbackReport {
        seen: newest.generation,
        found: found.generation,
        rescued: entries.len(),
        rescue_file,
        missing,
    };
    crate::audit::AuditLog::in_dir(vault.dir()).record(
        &crate::audit::AuditEntry::new(
            crate::audit::Operation::Rescue,
            crate::audit::Outcome::Failed,
            now,
        )
        .with_detail(report.message()),
    );
    vault.accept_rollback()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Authority, ProviderConfig, Scopes};
    use crate::vault::DataSource;

    /// A "rollback" whose store is in truth newer than the records this process
    /// held (a late read, say) rescues nothing: putting the older refresh token
    /// over the store's newer one would send a rotated-away token later.
    #[test]
    fn a_store_newer_than_the_records_held_keeps_its_tokens() {
        let dir = tempfile::tempdir().expect("dir");
        let keys = KeySource::native()
            .with_passphrase(Secret::new("rescue"))
            .with_kdf(KdfParams::with_cost(64, 1, 1));
        let mut vault = Vault::create(dir.path(), &keys, false).expect("vault");
        let provider = ProviderConfig {
            authority: Authority::Issuer {
                url: url::Url::parse("https://id.example.test").expect("url"),
            },
            client_id: "app".into(),
            client_secret: None,
            scopes: Scopes::Custom("openid offline_access".into()),
        };
        let mut source = DataSource::new("A", provider, "someone@example.test");
        source.token.refresh_token = Some(Secret::new("older"));
        vault
            .update(|data| data.add_data_source(source))
            .expect("add");
        let held = vault.shared_data();
        let id = held.each_token().next().expect("token").id();
        // Another handle of this process stores the rotation.
        let mut other = vault.another_handle();
        other
            .update(|data| {
                let record = data.token_by_id_mut(&id).expect("record");
                record.refresh_token = Some(Secret::new("newer"));
                record.revision += 1;
                Ok(())
            })
            .expect("rotate");

        let report = rescue_rollback(&mut vault, &held, Utc::now()).expect("rescue");
        assert_eq!(report.rescued, 0);
        assert!(report.rescue_file.is_none());
        let stored = vault.read_store().expect("read");
        let token = stored.token_by_id(&id).expect("record");
        assert_eq!(
            token.record().refresh_token.as_ref().map(Secret::expose),
            Some("newer")
        );
    }
}
