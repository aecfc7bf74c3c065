//! The vault on disk: where it lives, how it is read, and how it is written so that
//! a crash at any moment leaves the previous or the new generation, never a torn
//! file, and two processes never lose each other's updates.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::crypto::{self, Header, KeyKind, VaultKey};
use super::error::VaultError;
use super::keys::KeySource;
use super::model::{FORMAT_VERSION, VaultData};
use crate::secret::Secret;

pub const VAULT_FILE: &str = "vault.tdv";
pub const BACKUP_FILE: &str = "vault.tdv.bak";
pub const LOCK_FILE: &str = "vault.lock";
const TEMP_PREFIX: &str = ".vault.tdv.";
const TEMP_SUFFIX: &str = ".tmp";

/// The platform data directory (`~/.local/share/tokendesk`, `%APPDATA%\tokendesk\data`,
/// `~/Library/Application Support/tokendesk`) unless one is given.
pub fn resolve_dir(explicit: Option<&Path>) -> Result<PathBuf, VaultError> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    directories::ProjectDirs::from("", "", "tokendesk")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or(VaultError::NoDataDir)
}

/// An open vault: its key, its header and the data as last read or written.
pub struct Vault {
    dir: PathBuf,
    key: VaultKey,
    header: Header,
    data: VaultData,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("dir", &self.dir)
            .field("generation", &self.data.generation)
            .finish_non_exhaustive()
    }
}

/// Holds the exclusive lock on the vault directory until dropped.
struct DirLock(File);

impl DirLock {
    fn acquire(dir: &Path) -> Result<Self, VaultError> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
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

impl Vault {
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(VAULT_FILE)
    }

    pub fn exists(dir: &Path) -> bool {
        Self::path_in(dir).exists()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn data(&self) -> &VaultData {
        &self.data
    }

    pub fn generation(&self) -> u64 {
        self.data.generation
    }

    pub fn is_passphrase_protected(&self) -> bool {
        matches!(self.header.key_kind, KeyKind::Passphrase(_))
    }

    /// Creates an empty vault. Refuses to replace an existing one unless `force`.
    pub fn create(dir: &Path, keys: &KeySource, force: bool) -> Result<Vault, VaultError> {
        ensure_dir(dir)?;
        let _lock = DirLock::acquire(dir)?;
        let path = Self::path_in(dir);
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
        let mut vault = Vault {
            dir: dir.to_path_buf(),
            key,
            header,
            data: VaultData::default(),
        };
        vault.data.generation = 1;
        vault.write(&vault.data)?;
        if let Some(old) = old_header {
            keys.forget_key(&old);
        }
        Ok(vault)
    }

    /// Opens an existing vault. Nothing is written, whatever is wrong with the file.
    pub fn open(dir: &Path, keys: &KeySource) -> Result<Vault, VaultError> {
        let path = Self::path_in(dir);
        let bytes = read_file(&path, dir)?;
        let parsed = crypto::parse(&bytes).map_err(|e| match e {
            VaultError::NotAVault => VaultError::NotAVaultFile(path.clone()),
            other => other,
        })?;
        let key = keys.key_for(&parsed.header)?;
        let data = decode(&parsed.open(&key)?)?;
        Ok(Vault {
            dir: dir.to_path_buf(),
            key,
            header: parsed.header,
            data,
        })
    }

    /// Opens the vault, creating it first when none exists (the first command that
    /// writes creates it).
    pub fn open_or_create(dir: &Path, keys: &KeySource) -> Result<Vault, VaultError> {
        match Self::open(dir, keys) {
            Err(VaultError::NotInitialized(_)) => match Self::create(dir, keys, false) {
                // Another process created it meanwhile.
                Err(VaultError::AlreadyExists(_)) => Self::open(dir, keys),
                other => other,
            },
            other => other,
        }
    }

    /// Reads the file again. Returns true when another process changed it.
    pub fn reload(&mut self) -> Result<bool, VaultError> {
        let fresh = self.read_current()?;
        let changed = fresh.generation != self.data.generation;
        self.data = fresh;
        Ok(changed)
    }

    /// Applies `change` to the newest data on disk under the vault lock and writes
    /// the result durably before returning. Changes made by other processes since
    /// this vault was read are kept, never overwritten.
    pub fn update<T>(
        &mut self,
        change: impl FnOnce(&mut VaultData) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let _lock = DirLock::acquire(&self.dir)?;
        let mut data = self.read_current()?;
        let result = change(&mut data)?;
        data.generation += 1;
        data.format_version = FORMAT_VERSION;
        self.write(&data)?;
        self.data = data;
        Ok(result)
    }

    fn read_current(&self) -> Result<VaultData, VaultError> {
        let path = Self::path_in(&self.dir);
        let bytes = read_file(&path, &self.dir)?;
        let parsed = crypto::parse(&bytes)?;
        if parsed.header.key_id != self.header.key_id {
            return Err(VaultError::Invalid(
                "The vault was replaced by another process with a new key; open it again.".into(),
            ));
        }
        decode(&parsed.open(&self.key)?)
    }

    fn write(&self, data: &VaultData) -> Result<(), VaultError> {
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(data).map_err(|e| VaultError::Format(e.to_string()))?,
        );
        let sealed = crypto::seal(&self.header, &self.key, &body)?;
        write_atomically(&self.dir, &sealed)
    }

    /// Puts the previous generation back. The current file is kept beside it as
    /// `vault.tdv.damaged` in case support wants to look at it.
    pub fn restore_backup(dir: &Path, keys: &KeySource) -> Result<Vault, VaultError> {
        let _lock = DirLock::acquire(dir)?;
        let backup_path = dir.join(BACKUP_FILE);
        let bytes = match fs::read(&backup_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VaultError::NoBackup(dir.to_path_buf()));
            }
            Err(e) => return Err(VaultError::io("Could not read the backup", backup_path, e)),
        };
        let parsed = crypto::parse(&bytes)?;
        let key = keys.key_for(&parsed.header)?;
        let data = decode(&parsed.open(&key)?)?;
        let current = Self::path_in(dir);
        if current.exists() {
            let damaged = dir.join(format!("{VAULT_FILE}.damaged"));
            fs::copy(&current, &damaged).map_err(|e| {
                VaultError::io("Could not keep a copy of the current vault at", damaged, e)
            })?;
        }
        write_file_durably(dir, &current, &bytes)?;
        Ok(Vault {
            dir: dir.to_path_buf(),
            key,
            header: parsed.header,
            data,
        })
    }

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
            serde_json::to_vec(&self.data).map_err(|e| VaultError::Format(e.to_string()))?,
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

    /// Replaces the contents with an imported bundle (the previous generation stays
    /// as the backup).
    pub fn import(&mut self, imported: VaultData) -> Result<(), VaultError> {
        self.update(|data| {
            let generation = data.generation;
            *data = imported;
            data.generation = generation;
            Ok(())
        })
    }
}

fn read_file(path: &Path, dir: &Path) -> Result<Vec<u8>, VaultError> {
    fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => VaultError::NotInitialized(dir.to_path_buf()),
        _ => VaultError::io("Could not read the vault", path, e),
    })
}

fn decode(body: &[u8]) -> Result<VaultData, VaultError> {
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

fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn sync_dir(dir: &Path) -> Result<(), VaultError> {
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
fn write_file_durably(dir: &Path, target: &Path, bytes: &[u8]) -> Result<(), VaultError> {
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
fn write_atomically(dir: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    remove_stale_temp_files(dir);
    let current = Vault::path_in(dir);
    if current.exists() {
        let backup = dir.join(BACKUP_FILE);
        let staged = dir.join(format!("{TEMP_PREFIX}backup{TEMP_SUFFIX}"));
        let _ = fs::remove_file(&staged);
        if fs::hard_link(&current, &staged).is_err() {
            fs::copy(&current, &staged)
                .map_err(|e| VaultError::io("Could not copy the vault to", &staged, e))?;
            File::open(&staged)
                .and_then(|f| f.sync_all())
                .map_err(|e| VaultError::io("Could not flush", &staged, e))?;
        }
        fs::rename(&staged, &backup)
            .map_err(|e| VaultError::io("Could not keep the backup", &backup, e))?;
    }
    write_file_durably(dir, &current, bytes)
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
