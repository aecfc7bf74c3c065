//! The data key's wrappings: the passphrase's Argon2id settings as stored in the
//! database, and finding the key through this machine's keyring or the passphrase.

use uuid::Uuid;

use super::{StoreError, seal};
use crate::vault::crypto::{KdfParams, VaultKey};
use crate::vault::{KeySource, VaultError};

pub(super) fn kdf_json(kdf: &KdfParams) -> serde_json::Value {
    use base64::Engine;
    serde_json::json!({
        "algorithm": "argon2id",
        "m_cost_kib": kdf.m_cost_kib,
        "t_cost": kdf.t_cost,
        "p_cost": kdf.p_cost,
        "salt": base64::engine::general_purpose::STANDARD.encode(kdf.salt),
    })
}

fn kdf_from(json: &serde_json::Value) -> Option<KdfParams> {
    use base64::Engine;
    let salt = base64::engine::general_purpose::STANDARD
        .decode(json["salt"].as_str()?)
        .ok()?;
    Some(KdfParams {
        m_cost_kib: u32::try_from(json["m_cost_kib"].as_u64()?).ok()?,
        t_cost: u32::try_from(json["t_cost"].as_u64()?).ok()?,
        p_cost: u32::try_from(json["p_cost"].as_u64()?).ok()?,
        salt: salt.try_into().ok()?,
    })
}

/// The data key: through this machine's keyring when it holds one of the machine
/// keys, else through the passphrase.
pub(super) fn unwrap_data_key(
    keys: &KeySource,
    vault: Uuid,
    kdf: &serde_json::Value,
    wrapped: &[(String, Vec<u8>)],
) -> Result<VaultKey, VaultError> {
    if let Ok(keyring) = keys.keyring() {
        for (holder, bytes) in wrapped {
            let Some(id) = holder
                .strip_prefix("machine:")
                .and_then(|id| id.parse::<Uuid>().ok())
            else {
                continue;
            };
            if let Ok(machine_key) = keyring.load_key(id)
                && let Some(key) = seal::unwrap_key(&machine_key, vault, holder, bytes)
            {
                return Ok(key);
            }
        }
    }
    let kdf = kdf_from(kdf).ok_or_else(|| {
        VaultError::Corrupt("the shared vault's passphrase settings cannot be read".into())
    })?;
    let passphrase = keys
        .passphrase_key(&kdf)
        .map_err(|_| VaultError::from(StoreError::NoKey))?;
    wrapped
        .iter()
        .filter(|(holder, _)| holder == "passphrase")
        .find_map(|(holder, bytes)| seal::unwrap_key(&passphrase, vault, holder, bytes))
        .ok_or(VaultError::WrongPassphrase)
}
