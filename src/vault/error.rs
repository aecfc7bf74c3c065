//! Everything that can go wrong with the vault, each with what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "No OS keyring is reachable to hold the vault key ({detail}). Either start a Secret Service in this session (gnome-keyring, KWallet or KeePassXC; on a server: `dbus-run-session` with `gnome-keyring-daemon --unlock`), or protect the vault with a passphrase instead: set TOKENDESK_PASSPHRASE or pass --passphrase-file FILE."
    )]
    NoKeyring { detail: String },

    #[error(
        "The vault's key ({key_id}) is not in this machine's keyring. The vault was created on another machine or under another user, or the keyring entry was deleted. Import an exported bundle instead (`tokendesk vault import`), or start over with `tokendesk vault init --force`."
    )]
    KeyMissing { key_id: String },

    #[error(
        "The key in the keyring does not open this vault: it belongs to another vault. The file was left untouched."
    )]
    WrongKey,

    #[error("Wrong passphrase: it does not open this vault. The file was left untouched.")]
    WrongPassphrase,

    #[error(
        "This vault is protected by a passphrase. Set TOKENDESK_PASSPHRASE, pass --passphrase-file FILE, or run in a terminal to be asked."
    )]
    PassphraseRequired,

    #[error(
        "The vault file is truncated (a write was cut off or the disk is full). It was left untouched; `tokendesk vault restore-backup` brings back the previous generation."
    )]
    Truncated,

    #[error(
        "The vault file is damaged: {0}. It was left untouched; `tokendesk vault restore-backup` brings back the previous generation."
    )]
    Corrupt(String),

    #[error("{} is not a tokendesk vault. It was left untouched; check --vault-dir / TOKENDESK_HOME.", .0.display())]
    NotAVaultFile(PathBuf),

    #[error("The file is not a tokendesk vault.")]
    NotAVault,

    #[error("{} is not a regular file (a device, a pipe or a folder); tokendesk reads only regular files there. It was left untouched.", .0.display())]
    NotAFile(PathBuf),

    #[error("{} is larger than any vault tokendesk writes (256 MiB); it was not read and left untouched.", .0.display())]
    TooLarge(PathBuf),

    #[error(
        "The vault was written by a newer tokendesk (file format {found}; this version reads up to {supported}). Update tokendesk; the file was left untouched."
    )]
    FutureVersion { found: u16, supported: u16 },

    #[error("No vault exists yet in {}. Run `tokendesk vault init`, or add a data source, to create one.", .0.display())]
    NotInitialized(PathBuf),

    #[error("A vault already exists in {}; add --force to replace it (its data would be lost).", .0.display())]
    AlreadyExists(PathBuf),

    #[error(
        "The current vault opens fine. Restoring the backup brings back the previous generation's settings, while every token keeps its newest state; confirm to go ahead (tokendesk vault restore-backup --yes)."
    )]
    RestoreOfHealthyVault,

    #[error("There is no backup in {} yet: one is kept from the second save on.", .0.display())]
    NoBackup(PathBuf),

    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("The keyring refused the vault key: {0}")]
    Keyring(String),

    #[error(
        "No platform data directory is known for this user; pass --vault-dir or set TOKENDESK_HOME."
    )]
    NoDataDir,

    #[error("The vault contents could not be read: {0}. The file was left untouched.")]
    Format(String),

    #[error("{0}")]
    Invalid(String),

    /// A value that breaks a rule of [`super::rules`], tied to the field to fix.
    #[error("{0}")]
    Field(#[from] super::rules::FieldProblem),

    #[error("{0}")]
    NotFound(String),

    #[error(
        "The vault went back from generation {seen} to {found} while tokendesk was using it (a file restored by a backup tool?). Nothing was sent to the provider from the older copy: its refresh tokens may already be rotated away, and sending one again could make the provider revoke the grant."
    )]
    RolledBack { seen: u64, found: u64 },
}

impl VaultError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VaultError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
