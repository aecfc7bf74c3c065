//! One lock per token, across processes: a file in `<vault>/locks/` locked with the
//! OS's advisory file lock, which the OS drops when the holder dies (even by
//! SIGKILL). Renewing data source A never makes a request for data source B wait,
//! and a waiter gives up after a bounded time, naming who holds the lock.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{TokenId, VaultError};

pub const LOCK_DIR: &str = "locks";
const POLL: Duration = Duration::from_millis(25);

/// Held while one process redeems one token; released when dropped.
#[derive(Debug)]
pub struct TokenLock {
    file: File,
}

/// Why a lock could not be had.
#[derive(Debug)]
pub enum LockFailure {
    /// Another process holds it; what it wrote about itself.
    Busy {
        holder: String,
    },
    Io(VaultError),
}

impl TokenLock {
    pub fn path(vault_dir: &Path, id: &TokenId) -> PathBuf {
        vault_dir
            .join(LOCK_DIR)
            .join(format!("{}.lock", id.file_stem()))
    }

    /// Takes the lock now or reports who holds it.
    pub fn try_acquire(vault_dir: &Path, id: &TokenId) -> Result<TokenLock, LockFailure> {
        let path = Self::path(vault_dir, id);
        let file = open(&path).map_err(LockFailure::Io)?;
        match file.try_lock() {
            Ok(()) => {
                let lock = TokenLock { file };
                lock.describe_holder();
                Ok(lock)
            }
            Err(fs::TryLockError::WouldBlock) => Err(LockFailure::Busy {
                holder: read_holder(&path),
            }),
            Err(fs::TryLockError::Error(e)) => Err(LockFailure::Io(VaultError::io(
                "Could not lock the token",
                &path,
                e,
            ))),
        }
    }

    /// Waits up to `wait` for the lock.
    pub async fn acquire(
        vault_dir: &Path,
        id: &TokenId,
        wait: Duration,
    ) -> Result<TokenLock, LockFailure> {
        let started = Instant::now();
        loop {
            match Self::try_acquire(vault_dir, id) {
                Err(LockFailure::Busy { holder }) if started.elapsed() >= wait => {
                    return Err(LockFailure::Busy { holder });
                }
                Err(LockFailure::Busy { .. }) => tokio::time::sleep(POLL).await,
                other => return other,
            }
        }
    }

    /// Writes who holds the lock, for the message a waiter shows.
    fn describe_holder(&self) {
        let command: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with("--") || a == "--due" || a == "--all")
            .take(2)
            .collect();
        let text = format!(
            "process {} (tokendesk {}) since {}",
            std::process::id(),
            command.join(" "),
            chrono::Local::now().format("%H:%M:%S")
        );
        let mut file = &self.file;
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = file.write_all(text.as_bytes());
    }
}

impl Drop for TokenLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn open(path: &Path) -> Result<File, VaultError> {
    if let Some(dir) = path.parent()
        && !dir.is_dir()
    {
        fs::create_dir_all(dir)
            .map_err(|e| VaultError::io("Could not create the lock folder", dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        }
    }
    super::store::open_lock_file(path)
        .map_err(|e| VaultError::io("Could not open the token's lock", path, e))
}

fn read_holder(path: &Path) -> String {
    let mut text = String::new();
    let _ = File::open(path).and_then(|f| f.take(256).read_to_string(&mut text));
    let text = crate::text::escape(text.trim());
    if text.is_empty() {
        "another tokendesk process".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> TokenId {
        TokenId {
            source: uuid::Uuid::new_v4(),
            mapping: None,
        }
    }

    #[tokio::test]
    async fn one_holder_per_token_and_others_are_free() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (id(), id());
        let held = TokenLock::try_acquire(dir.path(), &a).unwrap();
        assert!(
            TokenLock::try_acquire(dir.path(), &b).is_ok(),
            "another token is free"
        );
        let started = Instant::now();
        match TokenLock::acquire(dir.path(), &a, Duration::from_millis(200)).await {
            Err(LockFailure::Busy { holder }) => {
                assert!(holder.contains(&std::process::id().to_string()), "{holder}")
            }
            other => panic!("expected busy, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(held);
        assert!(TokenLock::try_acquire(dir.path(), &a).is_ok());
    }
}
