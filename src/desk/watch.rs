//! Seeing what other processes and machines change in the vault, for every face
//! that stays open (the gateway, the window): a stamp that tells one version of
//! the store from another without reading it — the vault file's size, time and
//! identity, or a shared vault's generation in the database — so a face reads the
//! vault again only when it changed, and knows when the database stopped answering.

use std::path::Path;
use std::time::SystemTime;

use crate::vault::Vault;

/// One version of the store, as cheaply as it can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stamp {
    File {
        len: u64,
        modified: Option<SystemTime>,
        id: u64,
        rescues: usize,
    },
    Missing(std::io::ErrorKind),
    /// A shared vault's generation in the database.
    Generation(u64),
    /// The database did not answer, and why (no password in it).
    Unreachable(String),
}

impl Stamp {
    /// Why the shared vault's database cannot be reached now, if it cannot.
    pub fn unreachable(&self) -> Option<&str> {
        match self {
            Stamp::Unreachable(why) => Some(why),
            _ => None,
        }
    }
}

/// The stamp of `vault`'s store now: one small query for a shared vault, file
/// metadata otherwise.
pub fn look(vault: &Vault) -> Stamp {
    if vault.shared_location().is_some() {
        return match vault.newest_generation() {
            Ok(generation) => Stamp::Generation(generation.unwrap_or(0)),
            Err(error) => Stamp::Unreachable(error.to_string()),
        };
    }
    file_stamp(vault.dir())
}

/// The stamp of the vault file in `dir`.
pub fn file_stamp(dir: &Path) -> Stamp {
    let path = super::vault_file::vault_path(dir);
    match std::fs::metadata(&path) {
        Ok(meta) => Stamp::File {
            len: meta.len(),
            modified: meta.modified().ok(),
            id: file_id(&meta),
            rescues: super::vault_file::rescue_files(dir),
        },
        Err(e) => Stamp::Missing(e.kind()),
    }
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino()
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> u64 {
    0
}
