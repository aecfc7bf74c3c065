//! The one error every desk action returns. Each face turns it into its own words:
//! the CLI into a message and an exit code, the window into translated text.

use crate::identity::IdentityError;
use crate::redemption::RedeemError;
use crate::schedule::ScheduleError;
use crate::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Redeem(#[from] RedeemError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// A value an admin typed, tied to its field.
    #[error("{0}")]
    Invalid(super::rules::FieldProblem),
    /// A sign-in answered for someone other than the token's configured account.
    #[error(
        "{who} signed in, but {target} is configured for {expected}. Nothing was stored. Sign in again as {expected}."
    )]
    OtherAccount {
        who: String,
        target: String,
        expected: String,
    },
    /// A sign-in whose provider named nobody: not "another account".
    #[error(
        "The provider did not name the account that signed in ({reason}), so tokendesk cannot check that it is {expected}. Nothing was stored."
    )]
    Unnamed {
        reason: String,
        expected: String,
        subject: Option<String>,
    },
    #[error(
        "Neither the keep-alive schedule nor the gateway service could open this vault on its own: it is protected by a passphrase and tokendesk was not started with --passphrase-file. Start tokendesk with --passphrase-file FILE (a file only you can read) and install it again."
    )]
    ScheduleNeedsPassphraseFile,
    #[error("Could not find the tokendesk program itself: {0}")]
    OwnProgram(String),
}

impl DeskError {
    /// The provider or the network failed for now (or another process held the
    /// token): the next try may work.
    pub fn is_transient(&self) -> bool {
        match self {
            DeskError::Redeem(e) => e.is_transient(),
            DeskError::Identity(e) => e.kind == crate::identity::ErrorKind::Transient,
            _ => false,
        }
    }

    /// How long the provider asked callers to wait (its Retry-After), if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            DeskError::Redeem(RedeemError::Identity(e)) | DeskError::Identity(e) => e.retry_after,
            _ => None,
        }
    }

    /// The vault could not be read or written (not: a name it does not know, a
    /// value it refuses).
    pub fn is_vault_failure(&self) -> bool {
        match self {
            DeskError::Vault(e) => !matches!(
                e,
                VaultError::NotFound(_) | VaultError::Invalid(_) | VaultError::Field(_)
            ),
            DeskError::Redeem(e) => {
                matches!(e, RedeemError::Vault(_) | RedeemError::NotWritable(_))
            }
            _ => false,
        }
    }

    /// Exchange Online refused EWS: switching the data source to Graph is the way out.
    pub fn ews_blocked(&self) -> bool {
        matches!(self, DeskError::Redeem(RedeemError::EwsBlocked { .. }))
    }
}

impl From<super::rules::FieldProblem> for DeskError {
    fn from(problem: super::rules::FieldProblem) -> Self {
        DeskError::Invalid(problem)
    }
}
