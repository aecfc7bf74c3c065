//! The data key's versions and wrappings: which versions this process holds, and
//! how it got them (this machine's keyring key, the passphrase), so it can follow
//! a `vault rotate-key` run while it keeps working.
//!
//! Wrappings in `tokendesk_keys`, each for one version of the data key:
//! - `passphrase`: under the vault passphrase (Argon2id, settings in the vault row);
//! - `machine:<id>`: under one machine's keyring key `<id>`;
//! - `previous`: under the version before (only while a rotation runs);
//! - `retired`: the version before, under this one (kept, so what the old key
//!   sealed still opens; the old key opens nothing new).

use std::collections::BTreeMap;

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

pub(super) fn kdf_from(json: &serde_json::Value) -> Option<KdfParams> {
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

/// One row of `tokendesk_keys`.
pub(super) struct Wrapping {
    pub holder: String,
    pub version: i32,
    pub bytes: Vec<u8>,
}

/// Every wrapping of the vault's keys.
pub(super) async fn wrappings(
    db: &impl tokio_postgres::GenericClient,
    vault: Uuid,
) -> Result<Vec<Wrapping>, StoreError> {
    Ok(db
        .query(
            "SELECT holder, key_version, wrapped FROM tokendesk_keys WHERE vault = $1",
            &[&vault],
        )
        .await?
        .into_iter()
        .map(|r| Wrapping {
            holder: r.get(0),
            version: r.get(1),
            bytes: r.get(2),
        })
        .collect())
}

/// The holder name of a machine's keyring key.
pub(super) fn machine_holder(id: Uuid) -> String {
    format!("machine:{id}")
}

/// Who this machine is, for the admin reading which machines must join again.
pub(super) fn machine_label(folder: &std::path::Path) -> String {
    format!(
        "{} on {}, {}",
        crate::vault::model::os_user(),
        whoami::fallible::hostname().unwrap_or_else(|_| "this machine".into()),
        folder.display()
    )
}

/// The versions of the data key this process holds, and what opens newer ones.
#[derive(Default)]
pub(super) struct KeySet {
    /// The version new writes are sealed with, as last seen in the vault row.
    pub current: i32,
    known: BTreeMap<i32, VaultKey>,
    /// This machine's keyring key that opened the vault (renews its wrapping).
    pub machine: Option<(Uuid, VaultKey)>,
    /// The passphrase's key, when the passphrase opened the vault.
    passphrase: Option<VaultKey>,
}

impl KeySet {
    /// A new vault's: version 1, this key.
    pub fn first(key: VaultKey) -> Self {
        let mut set = KeySet {
            current: 1,
            ..KeySet::default()
        };
        set.insert(1, key);
        set
    }

    pub fn key(&self, version: i32) -> Option<&VaultKey> {
        self.known.get(&version)
    }

    /// The current version and its key, when this process holds it.
    pub fn current(&self) -> Option<(i32, VaultKey)> {
        self.known
            .get(&self.current)
            .map(|key| (self.current, key.clone()))
    }

    /// Every version held with its key.
    pub fn versions(&self) -> Vec<(i32, VaultKey)> {
        self.known.iter().map(|(v, k)| (*v, k.clone())).collect()
    }

    /// Every version held, newest first (rescue files sealed with an older key).
    pub fn all(&self) -> Vec<VaultKey> {
        self.known.values().rev().cloned().collect()
    }

    pub fn insert(&mut self, version: i32, key: VaultKey) {
        self.known.insert(version, key);
    }

    pub fn passphrase(&self) -> Option<&VaultKey> {
        self.passphrase.as_ref()
    }

    /// Takes every version the wrappings give with what this process holds:
    /// its machine key, its passphrase key, and the chains between versions.
    pub fn unlock(&mut self, vault: Uuid, wrappings: &[Wrapping]) {
        for wrapping in wrappings {
            let opened = match (&self.machine, &self.passphrase) {
                (Some((id, key)), _) if wrapping.holder == machine_holder(*id) => Some(key),
                (_, Some(key)) if wrapping.holder == "passphrase" => Some(key),
                _ => None,
            }
            .and_then(|key| {
                seal::unwrap_key(
                    key,
                    vault,
                    &wrapping.holder,
                    wrapping.version,
                    &wrapping.bytes,
                )
            });
            if let Some(key) = opened {
                self.known.insert(wrapping.version, key);
            }
        }
        self.follow_chains(vault, wrappings);
    }

    fn follow_chains(&mut self, vault: Uuid, wrappings: &[Wrapping]) {
        loop {
            let mut found = Vec::new();
            for wrapping in wrappings {
                let (from, to) = match wrapping.holder.as_str() {
                    "previous" => (wrapping.version - 1, wrapping.version),
                    "retired" => (wrapping.version, wrapping.version - 1),
                    _ => continue,
                };
                if self.known.contains_key(&to) {
                    continue;
                }
                if let Some(key) = self.known.get(&from).and_then(|key| {
                    seal::unwrap_key(
                        key,
                        vault,
                        &wrapping.holder,
                        wrapping.version,
                        &wrapping.bytes,
                    )
                }) {
                    found.push((to, key));
                }
            }
            if found.is_empty() {
                return;
            }
            self.known.extend(found);
        }
    }

    /// The wrapping this machine lacks for the current version, made.
    pub fn missing_machine_wrapping(
        &self,
        vault: Uuid,
    ) -> Result<Option<(String, Vec<u8>)>, VaultError> {
        let (Some((id, machine_key)), Some((version, key))) = (&self.machine, self.current())
        else {
            return Ok(None);
        };
        let holder = machine_holder(*id);
        Ok(Some((
            holder.clone(),
            seal::wrap_key(machine_key, vault, &holder, version, &key)?,
        )))
    }
}

/// The data key's versions, opened through this machine's keyring when it holds
/// one of the machine keys, else through the passphrase.
pub(super) fn open_keys(
    keys: &KeySource,
    hint: Option<Uuid>,
    vault: Uuid,
    current: i32,
    kdf: &serde_json::Value,
    wrappings: &[Wrapping],
) -> Result<KeySet, VaultError> {
    let mut set = KeySet {
        current,
        ..KeySet::default()
    };
    // A machine key whose wrapping a rotation dropped: once the passphrase has
    // opened the vault, the new key is wrapped for it again.
    let mut machine_seen = None;
    if let Ok(keyring) = keys.keyring() {
        // This folder's own machine key first (the pointer names it).
        let mut machines: Vec<Uuid> = wrappings
            .iter()
            .filter_map(|w| w.holder.strip_prefix("machine:")?.parse().ok())
            .collect();
        machines.sort_by_key(|id| (Some(*id) != hint, *id));
        machines.dedup();
        for id in machines {
            let Ok(machine_key) = keyring.load_key(id) else {
                continue;
            };
            machine_seen = Some((id, machine_key.clone()));
            let mut trial = KeySet {
                current,
                machine: Some((id, machine_key)),
                ..KeySet::default()
            };
            trial.unlock(vault, wrappings);
            if trial.current().is_some() {
                return Ok(trial);
            }
        }
    }
    let kdf = kdf_from(kdf).ok_or_else(|| {
        VaultError::Corrupt("the shared vault's passphrase settings cannot be read".into())
    })?;
    let passphrase = keys.passphrase_key(&kdf).map_err(|_| {
        VaultError::from(if machine_seen.is_some() {
            StoreError::KeyRotatedAway
        } else {
            StoreError::NoKey
        })
    })?;
    set.passphrase = Some(passphrase);
    set.machine = machine_seen;
    set.unlock(vault, wrappings);
    if set.current().is_none() {
        return Err(VaultError::WrongPassphrase);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn wrapped(
        under: &VaultKey,
        vault: Uuid,
        holder: &str,
        version: i32,
        key: &VaultKey,
    ) -> Wrapping {
        Wrapping {
            holder: holder.into(),
            version,
            bytes: seal::wrap_key(under, vault, holder, version, key).expect("wrap"),
        }
    }

    #[test]
    fn a_machine_follows_a_rotation_and_opens_what_the_old_key_sealed() {
        let vault = Uuid::from_u128(7);
        let (v1, v2) = (Zeroizing::new([1u8; 32]), Zeroizing::new([2u8; 32]));
        let machine = Zeroizing::new([9u8; 32]);
        let id = Uuid::from_u128(9);
        let mut set = KeySet {
            current: 2,
            machine: Some((id, machine.clone())),
            ..KeySet::default()
        };
        // Only the first version is wrapped for this machine; the rotation's chain
        // gives the second, and the retired wrapping keeps the first.
        set.unlock(
            vault,
            &[
                wrapped(&machine, vault, &machine_holder(id), 1, &v1),
                wrapped(&v1, vault, "previous", 2, &v2),
            ],
        );
        assert_eq!(set.current().map(|(v, k)| (v, *k)), Some((2, *v2)));
        let (holder, bytes) = set
            .missing_machine_wrapping(vault)
            .expect("wrap")
            .expect("a wrapping for version 2");
        // After the rotation only the new wrappings are left.
        let mut later = KeySet {
            current: 2,
            machine: Some((id, machine)),
            ..KeySet::default()
        };
        later.unlock(
            vault,
            &[
                Wrapping {
                    holder,
                    version: 2,
                    bytes,
                },
                wrapped(&v2, vault, "retired", 2, &v1),
            ],
        );
        assert_eq!(later.key(1).map(|k| **k), Some(*v1));
        assert_eq!(later.all().len(), 2);
        // The old key alone opens nothing of the new.
        let mut old_only = KeySet {
            current: 2,
            ..KeySet::default()
        };
        old_only.insert(1, v1.clone());
        old_only.unlock(vault, &[wrapped(&v2, vault, "retired", 2, &v1)]);
        assert!(old_only.current().is_none());
    }
}
