//! What can go wrong with the shared vault's database, said for an admin; the
//! driver's errors carry only their text (never a password).

use crate::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("The database connection string cannot be used: {detail}.")]
    Url { detail: String },
    #[error("Could not reach the shared vault's database {target}: {detail}")]
    Connect { target: String, detail: String },
    #[error(
        "The shared vault's database has schema version {found}, newer than this tokendesk knows ({known}). Update tokendesk on this machine; nothing was written."
    )]
    FutureSchema { found: i32, known: i32 },
    #[error(
        "The database holds no shared vault yet: create one with `tokendesk vault migrate --to …`."
    )]
    NoVault,
    #[error("The database already holds a shared vault; join it instead of creating another.")]
    VaultExists,
    #[error(
        "Neither this machine's keyring nor the passphrase opens the shared vault's key. Give the vault's passphrase (TOKENDESK_PASSPHRASE or --passphrase-file)."
    )]
    NoKey,
    #[error(
        "The shared vault's key was replaced (`tokendesk vault rotate-key`) while this machine was away, and its keyring holds only the old one. Give the vault's passphrase once (TOKENDESK_PASSPHRASE or --passphrase-file), or join again: `tokendesk vault join …`."
    )]
    KeyRotatedAway,
    #[error("The shared vault's database answered with an error: {0}")]
    Sql(String),
    #[error("The database did not answer in time ({0}).")]
    Stopped(String),
    #[error("{0}")]
    Records(String),
}

impl From<VaultError> for StoreError {
    fn from(error: VaultError) -> Self {
        StoreError::Records(error.to_string())
    }
}

/// The driver's error without anything but its text (it never holds a password).
pub(crate) fn plain(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        // The driver's own words name the step ("error performing TLS handshake");
        // the reason (an untrusted certificate, a refused connection) is its source.
        None => {
            let mut said = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !said.contains(&cause_text) {
                    said.push_str(": ");
                    said.push_str(&cause_text);
                }
                source = cause.source();
            }
            said
        }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        StoreError::Sql(plain(&error))
    }
}

impl From<StoreError> for VaultError {
    fn from(error: StoreError) -> Self {
        VaultError::Invalid(error.to_string())
    }
}
