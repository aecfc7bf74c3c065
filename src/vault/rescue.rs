//! Rescue files: where a rotated refresh token goes when the vault itself cannot be
//! written. Encrypted with the vault's key, written into space reserved before the
//! provider was asked, and merged by the next read and the next write of the vault.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::crypto::{self, Header, VaultKey};
use super::error::VaultError;
use super::model::{TokenId, VaultData};
use crate::secret::Secret;

pub const RESCUE_PREFIX: &str = "rescue-";
pub const RESCUE_SUFFIX: &str = ".tdr";

/// One token's newest refresh token, and the record revision it replaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RescueEntry {
    pub id: TokenId,
    pub based_on: u64,
    pub refresh_token: Secret,
    pub redeemed_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct RescueBody {
    entries: Vec<RescueEntry>,
}

/// Rescue files in the vault folder, oldest first.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(RESCUE_PREFIX) && name.ends_with(RESCUE_SUFFIX)
        })
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths
}

/// A new rescue file name: time-ordered, unique.
pub fn new_name(dir: &Path, now: DateTime<Utc>) -> PathBuf {
    dir.join(format!(
        "{RESCUE_PREFIX}{}-{:08x}{RESCUE_SUFFIX}",
        now.format("%Y%m%dT%H%M%S%.3fZ"),
        rand::random::<u32>()
    ))
}

pub fn seal(
    header: &Header,
    key: &VaultKey,
    entries: &[RescueEntry],
) -> Result<Vec<u8>, VaultError> {
    let body = zeroize::Zeroizing::new(
        serde_json::to_vec(&RescueBody {
            entries: entries.to_vec(),
        })
        .map_err(|e| VaultError::Format(e.to_string()))?,
    );
    crypto::seal(header, key, &body)
}

/// The entries of one rescue file; `None` when it does not belong to this vault's
/// key or cannot be read (it is then left alone).
pub fn read(path: &Path, key: &VaultKey) -> Option<Vec<RescueEntry>> {
    let bytes = super::store::read_capped(path).ok()?;
    let parsed = crypto::parse(&bytes).ok()?;
    let body = parsed.open(key).ok()?;
    let body: RescueBody = serde_json::from_slice(&body).ok()?;
    Some(body.entries)
}

/// Applies rescued tokens to records that are still at the revision they replace;
/// a record changed since (cleared, signed in again) keeps its newer state.
/// `persisting` is false for a read: the records are then marked at risk, since
/// the rescued token is not yet in the vault file.
pub fn apply(data: &mut VaultData, entries: &[RescueEntry], persisting: bool) -> usize {
    let mut applied = 0;
    for entry in entries {
        let Some(record) = data.token_by_id_mut(&entry.id) else {
            continue;
        };
        if record.revision != entry.based_on {
            continue;
        }
        record.refresh_token = Some(entry.refresh_token.clone());
        record.last_redeemed_at = Some(entry.redeemed_at);
        record.revision = entry.based_on + 1;
        record.at_risk = !persisting;
        applied += 1;
    }
    applied
}
