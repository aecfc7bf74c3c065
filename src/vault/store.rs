//! The vault on disk: where it lives, how it is read, and how it is written so that
//! a crash at any moment leaves the previous or the new generation, never a torn
//! file, and two processes never lose each other's updates.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::backend::{Backend, Change, TokenGuard};
use super::crypto::{self, Header, KeyKind, VaultKey};
use super::error::VaultError;
use super::keys::KeySource;
use super::model::{FORMAT_VERSION, TokenId, VaultData};
use super::rescue::{self, RescueEntry};
use super::reserve::WriteReservation;
use super::token_lock::{LockFailure, TokenLock};

pub const VAULT_FILE: &str = "vault.tdv";
pub const BACKUP_FILE: &str = "vault.tdv.bak";
pub const LOCK_FILE: &str = "vault.lock";
const TEMP_PREFIX: &str = ".vault.tdv.";
const TEMP_SUFFIX: &str = ".tmp";
/// No vault (or rescue file) is this large; a larger "file" is a device or a mistake.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Room a write may need beyond the current file: a rotated token and a cached
/// access token per renewed record, and some slack.
pub const RESERVE_SLACK: u64 = 64 * 1024;

/// The platform data directory (`~/.local/share/tokendesk`, `%LOCALAPPDATA%\tokendesk\data`,
/// `~/Library/Application Support/tokendesk`) unless one is given. On Windows the
/// local, not the roaming, profile: the vault's key stays in this machine's
/// Credential Manager, so a vault that roamed to another desk would not open.
pub fn resolve_dir(explicit: Option<&Path>) -> Result<PathBuf, VaultError> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    directories::ProjectDirs::from("", "", "tokendesk")
        .map(|dirs| dirs.data_local_dir().to_path_buf())
        .ok_or(VaultError::NoDataDir)
}

/// The encrypted vault file in a folder: its key and header. Every read decrypts
/// the file; every write takes the folder's lock, merges onto the newest file and
/// replaces it atomically, keeping the previous generation as the backup.
pub struct FileStore {
    dir: PathBuf,
    key: VaultKey,
    header: Header,
}

/// Holds the exclusive lock on the vault directory until dropped.
pub(super) struct DirLock(File);

impl DirLock {
    pub(super) fn acquire(dir: &Path) -> Result<Self, VaultError> {
        let path = dir.join(LOCK_FILE);
        let file = open_lock_file(&path)
            .map_err(|e| VaultError::io("Could not open the lock file", &path, e))?;
        file.lock()
            .map_err(|e| VaultError::io("Could not lock", &path, e))?;
        Ok(DirLock(file))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Where the vault file of the folder `dir` is.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(VAULT_FILE)
}

impl FileStore {
    /// Creates an empty vault. Refuses to replace an existing one unless `force`.
    pub fn create(
        dir: &Path,
        keys: &KeySource,
        force: bool,
    ) -> Result<(FileStore, VaultData), VaultError> {
        ensure_dir(dir)?;
        let _lock = DirLock::acquire(dir)?;
        let path = path_in(dir);
        let old_header = if path.exists() {
            if !force {
                return Err(VaultError::AlreadyExists(dir.to_path_buf()));
            }
            fs::read(&path)
                .ok()
                .and_then(|bytes| crypto::parse(&bytes).ok().map(|p| p.header))
        } else {
            None
        };
        let (kind, key_id, key) = keys.new_key()?;
        let header = Header::new(kind, key_id, &key);
        let store = FileStore {
            dir: dir.to_path_buf(),
            key,
            header,
        };
        let data = VaultData {
            generation: 1,
            ..VaultData::default()
        };
        store.write(&data)?;
        if let Some(old) = old_header {
            keys.forget_key(&old);
        }
        Ok((store, data))
    }

    /// Opens an existing vault. Nothing is written, whatever is wrong with the file.
    pub fn open(dir: &Path, keys: &KeySource) -> Result<(FileStore, VaultData), VaultError> {
        super::reserve::remove_stale(dir);
        let path = path_in(dir);
        let bytes = read_file(&path, dir)?;
        let parsed = crypto::parse(&bytes).map_err(|e| match e {
            VaultError::NotAVault => VaultError::NotAVaultFile(path.clone()),
            other => other,
        })?;
        let key = keys.key_for(&parsed.header)?;
        let mut data = decode(&parsed.open(&key)?)?;
        overlay_rescues(dir, &key, &mut data);
        let store = FileStore {
            dir: dir.to_path_buf(),
            key,
            header: parsed.header,
        };
        Ok((store, data))
    }

    /// The next generation: the data on disk with any rescue files merged and
    /// `change` applied; with the rescue files read. Call with the vault lock held.
    fn next_generation(&self, change: Change<'_>) -> Result<(VaultData, Vec<PathBuf>), VaultError> {
        let (mut data, rescued) = self.read_for_write()?;
        change(&mut data)?;
        data.generation += 1;
        data.format_version = FORMAT_VERSION;
        Ok((data, rescued))
    }

    /// The data on disk with any rescue files merged, and the rescue files read.
    fn read_for_write(&self) -> Result<(VaultData, Vec<PathBuf>), VaultError> {
        let mut data = self.read_file_data()?;
        let mut merged = Vec::new();
        for path in rescue::list(&self.dir) {
            if let Some(entries) = rescue::read(&path, &self.key) {
                rescue::apply(&mut data, &entries, true);
                merged.push(path);
            } else {
                tracing::warn!(path = %path.display(), "a rescue file could not be read with this vault's key; it was left in place");
            }
        }
        Ok((data, merged))
    }

    fn read_file_data(&self) -> Result<VaultData, VaultError> {
        let path = path_in(&self.dir);
        let bytes = read_file(&path, &self.dir)?;
        let parsed = crypto::parse(&bytes)?;
        if parsed.header.key_id != self.header.key_id {
            return Err(VaultError::Invalid(
                "The vault was replaced by another process with a new key; open it again.".into(),
            ));
        }
        decode(&parsed.open(&self.key)?)
    }

    pub(super) fn seal(&self, data: &VaultData) -> Result<Vec<u8>, VaultError> {
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(data).map_err(|e| VaultError::Format(e.to_string()))?,
        );
        crypto::seal(&self.header, &self.key, &body)
    }

    fn write(&self, data: &VaultData) -> Result<(), VaultError> {
        let sealed = self.seal(data)?;
        write_atomically(&self.dir, &sealed)
    }

    pub(super) fn from_parts(dir: &Path, key: VaultKey, header: Header) -> FileStore {
        FileStore {
            dir: dir.to_path_buf(),
            key,
            header,
        }
    }
}

impl Backend for FileStore {
    fn folder(&self) -> &Path {
        &self.dir
    }

    fn is_passphrase_protected(&self) -> bool {
        matches!(self.header.key_kind, KeyKind::Passphrase(_))
    }

    fn read(&self) -> Result<VaultData, VaultError> {
        let mut data = self.read_file_data()?;
        overlay_rescues(&self.dir, &self.key, &mut data);
        Ok(data)
    }

    /// Under the vault lock, onto the newest file; changes made by other processes
    /// since this handle read it are kept, never overwritten.
    fn update(&self, change: Change<'_>) -> Result<VaultData, VaultError> {
        let _lock = DirLock::acquire(&self.dir)?;
        let (data, rescued) = self.next_generation(change)?;
        self.write(&data)?;
        remove_merged_rescues(&rescued);
        Ok(data)
    }

    /// Takes the lock and allocates, in the folder, space for a whole new vault
    /// plus `growth` bytes.
    fn reserve_write(&self, growth: u64) -> Result<WriteReservation, VaultError> {
        let _lock = DirLock::acquire(&self.dir)?;
        let current = fs::metadata(path_in(&self.dir))
            .map(|m| m.len())
            .unwrap_or(0);
        WriteReservation::create(&self.dir, current + growth + RESERVE_SLACK)
    }

    /// Keeping the previous generation as the backup is best effort here: the new
    /// tokens matter more than the old copy.
    fn update_reserved(
        &self,
        reservation: &mut WriteReservation,
        change: Change<'_>,
    ) -> Result<VaultData, VaultError> {
        let _lock = DirLock::acquire(&self.dir)?;
        let (data, rescued) = self.next_generation(change)?;
        let sealed = self.seal(&data)?;
        let current = path_in(&self.dir);
        if let Err(error) = keep_backup(&self.dir, &current) {
            tracing::warn!(%error, "the previous vault generation was not kept as the backup");
        }
        reservation.install(&self.dir, &current, &sealed)?;
        remove_merged_rescues(&rescued);
        Ok(data)
    }

    /// A rescue file beside the vault, into the reserved space when it is still
    /// held; the next read uses it and the next write merges it.
    fn write_rescue(
        &self,
        reservation: &mut WriteReservation,
        entries: &[RescueEntry],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<PathBuf, VaultError> {
        let sealed = rescue::seal(&self.header, &self.key, entries)?;
        let path = rescue::new_name(&self.dir, now);
        if reservation.is_armed() {
            reservation.install(&self.dir, &path, &sealed)?;
        } else {
            write_file_durably(&self.dir, &path, &sealed)?;
        }
        Ok(path)
    }

    /// A lock file per token in `locks/`, which the OS releases when its holder dies.
    fn try_lock_token(&self, id: &TokenId) -> Result<TokenGuard, LockFailure> {
        TokenLock::try_acquire(&self.dir, id).map(TokenGuard::new)
    }
}

pub(super) fn read_file(path: &Path, dir: &Path) -> Result<Vec<u8>, VaultError> {
    read_capped(path).map_err(|e| match e {
        VaultError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            VaultError::NotInitialized(dir.to_path_buf())
        }
        other => other,
    })
}

/// Reads a vault-folder file that must be a regular file of sane size: a link to
/// a device or a pipe would otherwise read until memory runs out, or hang.
pub(super) fn read_capped(path: &Path) -> Result<Vec<u8>, VaultError> {
    use std::io::Read;
    let metadata =
        fs::metadata(path).map_err(|e| VaultError::io("Could not read the vault", path, e))?;
    if !metadata.is_file() {
        return Err(VaultError::NotAFile(path.to_path_buf()));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(VaultError::TooLarge(path.to_path_buf()));
    }
    let file = File::open(path).map_err(|e| VaultError::io("Could not read the vault", path, e))?;
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| VaultError::io("Could not read the vault", path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(VaultError::TooLarge(path.to_path_buf()));
    }
    Ok(bytes)
}

/// Uses rescued tokens for reading: the vault file does not hold them yet.
fn overlay_rescues(dir: &Path, key: &VaultKey, data: &mut VaultData) {
    for path in rescue::list(dir) {
        if let Some(entries) = rescue::read(&path, key) {
            rescue::apply(data, &entries, false);
        }
    }
}

fn remove_merged_rescues(paths: &[PathBuf]) {
    for path in paths {
        if let Err(error) = fs::remove_file(path) {
            tracing::warn!(path = %path.display(), %error, "a merged rescue file could not be removed");
        }
    }
}

/// Opens (creating) a lock file readable by this user only.
pub(crate) fn open_lock_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        // Lock files made by earlier versions were 0644.
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(fs::Permissions::from_mode(0o600));
    }
    Ok(file)
}

pub(super) fn decode(body: &[u8]) -> Result<VaultData, VaultError> {
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: u32,
    }
    let version: Version =
        serde_json::from_slice(body).map_err(|e| VaultError::Format(e.to_string()))?;
    if version.format_version > FORMAT_VERSION {
        return Err(VaultError::FutureVersion {
            found: version.format_version.min(u16::MAX as u32) as u16,
            supported: FORMAT_VERSION as u16,
        });
    }
    serde_json::from_slice(body).map_err(|e| VaultError::Format(e.to_string()))
}

fn ensure_dir(dir: &Path) -> Result<(), VaultError> {
    fs::create_dir_all(dir)
        .map_err(|e| VaultError::io("Could not create the vault folder", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

pub(super) fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| VaultError::io("Could not flush the vault folder", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `bytes` to a new file beside `target`, flushes it, renames it over
/// `target` and flushes the folder. Call with the vault lock held.
pub(crate) fn write_file_durably(
    dir: &Path,
    target: &Path,
    bytes: &[u8],
) -> Result<(), VaultError> {
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{}.{:016x}{TEMP_SUFFIX}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut file =
            private_file(&temp).map_err(|e| VaultError::io("Could not create", &temp, e))?;
        file.write_all(bytes)
            .map_err(|e| VaultError::io("Could not write", &temp, e))?;
        file.sync_all()
            .map_err(|e| VaultError::io("Could not flush", &temp, e))?;
        drop(file);
        fs::rename(&temp, target).map_err(|e| VaultError::io("Could not replace", target, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The previous generation becomes the backup (a hard link, so no second copy is
/// written), then the new generation replaces the vault in one rename.
pub(super) fn write_atomically(dir: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let current = path_in(dir);
    keep_backup(dir, &current)?;
    write_file_durably(dir, &current, bytes)
}

/// Makes the current generation the backup, by a hard link where the file system
/// has them (no second copy written).
fn keep_backup(dir: &Path, current: &Path) -> Result<(), VaultError> {
    remove_stale_temp_files(dir);
    if current.exists() {
        let backup = dir.join(BACKUP_FILE);
        let staged = dir.join(format!("{TEMP_PREFIX}backup{TEMP_SUFFIX}"));
        let _ = fs::remove_file(&staged);
        if fs::hard_link(current, &staged).is_err() {
            fs::copy(current, &staged)
                .map_err(|e| VaultError::io("Could not copy the vault to", &staged, e))?;
            File::open(&staged)
                .and_then(|f| f.sync_all())
                .map_err(|e| VaultError::io("Could not flush", &staged, e))?;
        }
        fs::rename(&staged, &backup)
            .map_err(|e| VaultError::io("Could not keep the backup", &backup, e))?;
    }
    Ok(())
}

/// Temp files left by a process that died mid-write. Only called under the lock,
/// when no other writer can be using one.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
}
