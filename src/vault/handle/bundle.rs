//! Export bundles: the whole vault sealed with a passphrase of its own, to move it
//! to another machine, and read back there.

use super::super::crypto::{self, Header, KeyKind};
use super::super::error::VaultError;
use super::super::model::VaultData;
use super::super::store::decode;
use super::Vault;
use crate::secret::Secret;

impl Vault {
    /// The whole vault sealed with a passphrase, to move it to another machine.
    pub fn export_bundle(
        &self,
        passphrase: &Secret,
        kdf: crypto::KdfParams,
    ) -> Result<Vec<u8>, VaultError> {
        let kdf = crypto::KdfParams {
            salt: rand::random(),
            ..kdf
        };
        let key = kdf.derive(passphrase.expose())?;
        let header = Header::new(KeyKind::Passphrase(kdf), uuid::Uuid::new_v4(), &key);
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(&*self.data).map_err(|e| VaultError::Format(e.to_string()))?,
        );
        crypto::seal(&header, &key, &body)
    }

    /// Reads an exported bundle.
    pub fn read_bundle(bytes: &[u8], passphrase: &Secret) -> Result<VaultData, VaultError> {
        let parsed = crypto::parse(bytes)?;
        let KeyKind::Passphrase(kdf) = parsed.header.key_kind else {
            return Err(VaultError::Invalid(
                "This is a vault file, not an exported bundle; copy it with its keyring key or export it first.".into(),
            ));
        };
        decode(&parsed.open(&kdf.derive(passphrase.expose())?)?)
    }

    /// Merges an imported bundle into the vault: per token the newer record wins,
    /// so an old export never brings back a refresh token rotated away since; what
    /// only this vault has stays (the previous generation is the backup).
    pub fn import(
        &mut self,
        imported: VaultData,
    ) -> Result<super::super::restore::RestoreReport, VaultError> {
        let mut report = super::super::restore::RestoreReport::default();
        self.update(|data| {
            let current = std::mem::take(data);
            *data = super::super::restore::merge_import(imported, current, &mut report);
            Ok(())
        })?;
        Ok(report)
    }
}
