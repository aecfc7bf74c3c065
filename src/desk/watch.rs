//! Seeing what other processes and machines change in the vault, for every face
//! that stays open (the gateway, the window): a stamp that tells one version of
//! the store from another without reading it — the vault file's size, time and
//! identity, or a shared vault's generation in the database — so a face reads the
//! vault again only when it changed, and knows when the database stopped answering.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::vault::Vault;
pub use crate::vault::backend::Presence;

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

/// How often a face that stays open says it is here (the others count it for a
/// minute), and how often a window asks who else is.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(15);
pub const LIST_EVERY: Duration = Duration::from_secs(5);
/// How often the audit spool is sent to a shared vault's audit log.
pub const SHIP_EVERY: Duration = Duration::from_secs(2);

/// Tells the other machines of a shared vault that this face is here, and asks
/// who else is, each at its own pace (nothing for a file vault).
pub struct Announcer {
    face: &'static str,
    announced: Option<Instant>,
    listed: Option<Instant>,
    shipped: Option<Instant>,
}

impl Announcer {
    /// `face`: "desk" for the window, "gateway" for `tokendesk serve`.
    pub fn new(face: &'static str) -> Self {
        Announcer {
            face,
            announced: None,
            listed: None,
            shipped: None,
        }
    }

    /// Says this process is here, and sends the audit spool on, each when it is
    /// time again.
    pub fn announce(&mut self, vault: &Vault) {
        if vault.shared_location().is_none() {
            return;
        }
        if due(self.shipped, SHIP_EVERY) {
            match vault.ship_audit() {
                Ok(_) => self.shipped = Some(Instant::now()),
                Err(error) => tracing::debug!(%error, "the audit spool waits for the database"),
            }
        }
        if due(self.announced, ANNOUNCE_EVERY) {
            match vault.announce(self.face) {
                Ok(()) => self.announced = Some(Instant::now()),
                Err(error) => tracing::debug!(%error, "could not say this process is here"),
            }
        }
    }

    /// The other desks and gateways seen in the last minute, when it is time to
    /// ask again.
    pub fn others(&mut self, vault: &Vault) -> Option<Vec<Presence>> {
        if vault.shared_location().is_none() || !due(self.listed, LIST_EVERY) {
            return None;
        }
        let present = vault.present(self.face).ok()?;
        self.listed = Some(Instant::now());
        Some(present)
    }
}

fn due(last: Option<Instant>, every: Duration) -> bool {
    last.is_none_or(|at| at.elapsed() >= every)
}

/// Names the face this process runs as ("desk", "gateway") in its audit entries
/// and its presence.
pub fn set_face(face: &'static str) {
    crate::audit::set_face(face);
}
