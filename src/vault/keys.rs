//! Where the vault key comes from: 32 random bytes in the OS keyring, or a
//! passphrase stretched with Argon2id. Only the key goes into the keyring: Windows
//! caps a credential at 2,560 bytes, far too small for a set of refresh tokens.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::crypto::{Header, KdfParams, KeyKind, VaultKey};
use super::error::VaultError;
use crate::secret::Secret;

pub const KEYRING_SERVICE: &str = "tokendesk";

/// How to get at a vault's key. Which one is used is written in the vault's header;
/// a new vault uses the passphrase when one was given, the keyring otherwise.
#[derive(Clone)]
pub struct KeySource {
    keyring: Option<Keyring>,
    passphrase: Option<Secret>,
    /// Argon2id cost for vaults and bundles created with a passphrase.
    pub kdf_for_new: KdfParams,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySource")
            .field("keyring", &self.keyring.as_ref().map(|k| k.vendor()))
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl KeySource {
    /// The platform keyring, connected on first use.
    pub fn native() -> Self {
        KeySource {
            keyring: None,
            passphrase: None,
            kdf_for_new: KdfParams::recommended(),
        }
    }

    pub fn with_keyring(keyring: Keyring) -> Self {
        KeySource {
            keyring: Some(keyring),
            ..Self::native()
        }
    }

    pub fn with_passphrase(mut self, passphrase: Secret) -> Self {
        self.passphrase = Some(passphrase);
        self
    }

    pub fn with_kdf(mut self, kdf: KdfParams) -> Self {
        self.kdf_for_new = kdf;
        self
    }

    pub fn has_passphrase(&self) -> bool {
        self.passphrase.is_some()
    }

    /// The key the passphrase gives with these Argon2id settings (a shared vault
    /// keeps its data key wrapped under it).
    pub(crate) fn passphrase_key(&self, kdf: &KdfParams) -> Result<VaultKey, VaultError> {
        let passphrase = self
            .passphrase
            .as_ref()
            .ok_or(VaultError::PassphraseRequired)?;
        kdf.derive(passphrase.expose())
    }

    pub(crate) fn keyring(&self) -> Result<Keyring, VaultError> {
        match &self.keyring {
            Some(keyring) => Ok(keyring.clone()),
            None => Keyring::native(),
        }
    }

    /// A key for a new vault.
    pub(crate) fn new_key(&self) -> Result<(KeyKind, Uuid, VaultKey), VaultError> {
        if let Some(passphrase) = &self.passphrase {
            let kdf = KdfParams {
                salt: rand::random(),
                ..self.kdf_for_new
            };
            let key = kdf.derive(passphrase.expose())?;
            return Ok((KeyKind::Passphrase(kdf), Uuid::new_v4(), key));
        }
        let (id, key) = self.keyring()?.create_key()?;
        Ok((KeyKind::Keyring, id, key))
    }

    /// The key for an existing vault, as its header says.
    pub(crate) fn key_for(&self, header: &Header) -> Result<VaultKey, VaultError> {
        match header.key_kind {
            KeyKind::Keyring => self.keyring()?.load_key(header.key_id),
            KeyKind::Passphrase(kdf) => {
                let passphrase = self
                    .passphrase
                    .as_ref()
                    .ok_or(VaultError::PassphraseRequired)?;
                kdf.derive(passphrase.expose())
            }
        }
    }

    /// Removes a keyring key that no vault uses any more.
    pub(crate) fn forget_key(&self, header: &Header) {
        if header.key_kind == KeyKind::Keyring
            && let Ok(keyring) = self.keyring()
            && let Err(error) = keyring.delete_key(header.key_id)
        {
            tracing::warn!(%error, "could not delete the old vault key from the keyring");
        }
    }
}

/// A credential store holding vault keys.
#[derive(Clone)]
pub struct Keyring {
    store: Arc<CredentialStore>,
}

impl Keyring {
    /// The platform's native store (Windows Credential Manager, macOS Keychain,
    /// Secret Service), made the process default once.
    pub fn native() -> Result<Self, VaultError> {
        if let Err(error) = keyring::Entry::store_status() {
            return Err(VaultError::NoKeyring {
                detail: error.to_string(),
            });
        }
        let store = keyring_core::get_default_store().ok_or_else(|| VaultError::NoKeyring {
            detail: "no credential store was set up".into(),
        })?;
        Ok(Keyring { store })
    }

    pub fn with_store(store: Arc<CredentialStore>) -> Self {
        Keyring { store }
    }

    pub fn vendor(&self) -> String {
        self.store.vendor()
    }

    fn entry(&self, key_id: Uuid) -> Result<Entry, VaultError> {
        self.store
            .build(KEYRING_SERVICE, &format!("vault-key-{key_id}"), None)
            .map_err(|e| keyring_error(&e))
    }

    /// Creates and stores a new key, and reads it back to be sure it is there.
    pub fn create_key(&self) -> Result<(Uuid, VaultKey), VaultError> {
        let key_id = Uuid::new_v4();
        let key: VaultKey = Zeroizing::new(rand::random());
        let entry = self.entry(key_id)?;
        entry
            .set_secret(key.as_ref())
            .map_err(|e| keyring_error(&e))?;
        let back = Zeroizing::new(entry.get_secret().map_err(|e| keyring_error(&e))?);
        if back.as_slice() != key.as_ref() {
            return Err(VaultError::Keyring(
                "the key read back differs from the key stored".into(),
            ));
        }
        Ok((key_id, key))
    }

    pub fn load_key(&self, key_id: Uuid) -> Result<VaultKey, VaultError> {
        let bytes = Zeroizing::new(self.entry(key_id)?.get_secret().map_err(|e| match e {
            keyring_core::Error::NoEntry => VaultError::KeyMissing {
                key_id: key_id.to_string(),
            },
            other => keyring_error(&other),
        })?);
        let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            VaultError::Keyring(format!(
                "the keyring entry holds {} bytes, not a 32-byte key",
                bytes.len()
            ))
        })?;
        Ok(Zeroizing::new(array))
    }

    pub fn delete_key(&self, key_id: Uuid) -> Result<(), VaultError> {
        match self.entry(key_id)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(&e)),
        }
    }
}

fn keyring_error(error: &keyring_core::Error) -> VaultError {
    match error {
        keyring_core::Error::NoStorageAccess(detail)
        | keyring_core::Error::PlatformFailure(detail) => VaultError::NoKeyring {
            detail: detail.to_string(),
        },
        keyring_core::Error::NoDefaultStore => VaultError::NoKeyring {
            detail: "no credential store".into(),
        },
        other => VaultError::Keyring(other.to_string()),
    }
}
