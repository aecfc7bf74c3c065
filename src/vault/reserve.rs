//! Room for the next vault write, taken before a provider is asked for anything.
//!
//! A provider that rotates refresh tokens invalidates the old one the moment it
//! answers; if the vault cannot then be written, the grant is gone. So before a
//! redemption the vault folder must prove it can take the write: the lock can be
//! taken, a file can be created there, and the disk space for a whole new vault is
//! allocated to that file. The write (or, failing that, the rescue file) then goes
//! into the space already held.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::error::VaultError;

pub(super) const RESERVE_PREFIX: &str = ".vault.reserve.";
const RESERVE_SUFFIX: &str = ".tmp";
/// A reservation older than this was left by a process that died.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// A file in the vault folder holding enough allocated space for one vault write.
/// Removed when dropped unless it was installed under its final name.
#[derive(Debug)]
pub struct WriteReservation {
    path: PathBuf,
    file: Option<File>,
    bytes: u64,
}

impl WriteReservation {
    /// Creates the file and allocates `bytes` for it. Fails when the folder is
    /// read-only, the disk is full, or the path cannot hold a file.
    pub(super) fn create(dir: &Path, bytes: u64) -> Result<WriteReservation, VaultError> {
        remove_stale(dir);
        let path = dir.join(format!(
            "{RESERVE_PREFIX}{}.{:016x}{RESERVE_SUFFIX}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let file = super::store::private_file(&path).map_err(|e| {
            VaultError::io(
                "The vault folder cannot take a new file, so nothing was sent to the provider",
                &path,
                e,
            )
        })?;
        let reservation = WriteReservation {
            path,
            file: Some(file),
            bytes,
        };
        if let Some(file) = &reservation.file
            && let Err(e) = allocate(file, bytes)
        {
            return Err(VaultError::io(
                "There is no room for the next vault write, so nothing was sent to the provider",
                &reservation.path,
                e,
            ));
        }
        Ok(reservation)
    }

    /// For a store whose writes are transactions (a database): no space to hold,
    /// since the store's own commit is all or nothing; it is never armed.
    pub fn transactional() -> WriteReservation {
        WriteReservation {
            path: PathBuf::new(),
            file: None,
            bytes: 0,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether the space is still held (not yet used by a write).
    pub fn is_armed(&self) -> bool {
        self.file.is_some()
    }

    /// Writes `bytes` into the held space, flushes them and renames the file to
    /// `target`. The reservation is used up afterwards, whatever the outcome of the
    /// rename; a failed write leaves it armed for another try.
    pub(super) fn install(
        &mut self,
        dir: &Path,
        target: &Path,
        bytes: &[u8],
    ) -> Result<(), VaultError> {
        let Some(file) = self.file.as_mut() else {
            return Err(VaultError::Invalid(
                "internal: the space reserved for this write was already used".into(),
            ));
        };
        let written = (|| -> std::io::Result<()> {
            file.seek(SeekFrom::Start(0))?;
            file.write_all(bytes)?;
            file.set_len(bytes.len() as u64)?;
            file.sync_all()
        })();
        written.map_err(|e| VaultError::io("Could not write", &self.path, e))?;
        // Until the rename succeeds the space stays held (for a rescue file).
        fs::rename(&self.path, target)
            .map_err(|e| VaultError::io("Could not replace", target, e))?;
        self.file = None;
        super::store::sync_dir(dir)
    }
}

impl Drop for WriteReservation {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Allocates real blocks (not a sparse file): `posix_fallocate` where the OS has it,
/// otherwise by writing zeros.
fn allocate(file: &File, bytes: u64) -> std::io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        use std::os::fd::AsRawFd;
        let length = libc::off_t::try_from(bytes).unwrap_or(libc::off_t::MAX);
        // SAFETY: the descriptor is open for writing for the duration of the call.
        let code = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, length) };
        match code {
            0 => return Ok(()),
            libc::EOPNOTSUPP | libc::EINVAL => {}
            code => return Err(std::io::Error::from_raw_os_error(code)),
        }
    }
    write_zeros(file, bytes)
}

fn write_zeros(mut file: &File, bytes: u64) -> std::io::Result<()> {
    let chunk = [0u8; 64 * 1024];
    let mut left = bytes;
    file.seek(SeekFrom::Start(0))?;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.flush()
}

/// Whether the process that made a reservation named `name` is gone (a SIGKILL
/// between reserving and writing leaves its file behind).
fn owner_is_gone(name: &str) -> bool {
    let Some(pid) = name
        .strip_prefix(RESERVE_PREFIX)
        .and_then(|rest| rest.split('.').next())
        .and_then(|pid| pid.parse::<u32>().ok())
    else {
        return false;
    };
    if pid == std::process::id() {
        return false;
    }
    process_is_gone(pid)
}

#[cfg(unix)]
fn process_is_gone(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    !alive && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn process_is_gone(_pid: u32) -> bool {
    false
}

/// Reservations of processes that died before using them: at once when their
/// process is gone, else after an hour.
pub(super) fn remove_stale(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(RESERVE_PREFIX) && name.ends_with(RESERVE_SUFFIX)) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old || owner_is_gone(&name) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_space_and_installs_under_the_final_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut reservation = WriteReservation::create(dir.path(), 100_000).unwrap();
        assert!(reservation.is_armed());
        let held = fs::metadata(&reservation.path).unwrap().len();
        assert_eq!(held, 100_000);
        let target = dir.path().join("out");
        reservation.install(dir.path(), &target, b"hello").unwrap();
        assert!(!reservation.is_armed());
        assert_eq!(fs::read(&target).unwrap(), b"hello");
        drop(reservation);
        assert_eq!(
            fs::read(&target).unwrap(),
            b"hello",
            "drop leaves the installed file"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_reservation_of_a_dead_process_is_removed_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let left = dir
            .path()
            .join(format!("{RESERVE_PREFIX}{dead}.00ff{RESERVE_SUFFIX}"));
        let mine = dir.path().join(format!(
            "{RESERVE_PREFIX}{}.00ff{RESERVE_SUFFIX}",
            std::process::id()
        ));
        fs::write(&left, b"x").unwrap();
        fs::write(&mine, b"x").unwrap();
        remove_stale(dir.path());
        assert!(!left.exists(), "the dead process's reservation goes");
        assert!(mine.exists(), "a live one stays");
    }

    #[test]
    fn an_unused_reservation_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let reservation = WriteReservation::create(dir.path(), 10).unwrap();
        let path = reservation.path.clone();
        drop(reservation);
        assert!(!path.exists());
    }

    #[test]
    fn a_folder_that_cannot_take_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-there");
        let error = WriteReservation::create(&missing, 10).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("nothing was sent to the provider"),
            "{error}"
        );
    }
}
