//! What every vault command needs: where the vault is and how to unlock it.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::desk::model::{KeySource, Secret, Vault, VaultError};
use crate::desk::{DeskError, vault_file};

pub struct Context {
    pub vault_dir: PathBuf,
    passphrase_file: Option<PathBuf>,
}

impl Context {
    pub fn new(
        vault_dir: Option<PathBuf>,
        passphrase_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        Ok(Context {
            vault_dir: vault_file::resolve_dir(vault_dir.as_deref()).map_err(|e| e.to_string())?,
            passphrase_file,
        })
    }

    /// The passphrase from --passphrase-file or TOKENDESK_PASSPHRASE, if either is given.
    fn given_passphrase(&self) -> Result<Option<Secret>, String> {
        if let Some(path) = &self.passphrase_file {
            let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                format!("Could not read the passphrase file {}: {e}", path.display())
            })?);
            let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
            if line.is_empty() {
                return Err(format!("The passphrase file {} is empty.", path.display()));
            }
            return Ok(Some(Secret::new(line)));
        }
        Ok(vault_file::passphrase_from_environment())
    }

    fn keys(&self) -> Result<KeySource, String> {
        let keys = KeySource::native();
        Ok(match self.given_passphrase()? {
            Some(passphrase) => keys.with_passphrase(passphrase),
            None => keys,
        })
    }

    /// Opens the vault; asks for the passphrase in a terminal when it needs one.
    pub fn open(&self) -> Result<Vault, String> {
        self.with_prompt(|keys| vault_file::open(&self.vault_dir, keys))
    }

    /// Opens the vault, creating it when none exists yet.
    pub fn open_or_create(&self) -> Result<Vault, String> {
        self.with_prompt(|keys| vault_file::open_or_create(&self.vault_dir, keys))
    }

    pub fn passphrase_file(&self) -> Option<&std::path::Path> {
        self.passphrase_file.as_deref()
    }

    pub fn key_source(&self) -> Result<KeySource, String> {
        self.keys()
    }

    /// Runs `open` with the keys given; asks for the passphrase in a terminal
    /// when it needs one.
    pub fn with_prompt<T>(
        &self,
        mut open: impl FnMut(&KeySource) -> Result<T, DeskError>,
    ) -> Result<T, String> {
        let keys = self.keys()?;
        match open(&keys) {
            Err(DeskError::Vault(VaultError::PassphraseRequired))
                if std::io::stdin().is_terminal() =>
            {
                let passphrase = prompt("Vault passphrase: ")?;
                open(&keys.with_passphrase(passphrase)).map_err(|e| e.to_string())
            }
            other => other.map_err(|e| e.to_string()),
        }
    }
}

pub fn prompt(text: &str) -> Result<Secret, String> {
    rpassword::prompt_password(text)
        .map(Secret::new)
        .map_err(|e| format!("Could not read the passphrase: {e}"))
}
