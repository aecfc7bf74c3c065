//! Everything a redemption can end in besides fresh tokens, each said so that an
//! admin knows whether the grant is safe and what to do.

use std::path::PathBuf;

use crate::identity::IdentityError;
use crate::vault::VaultError;
use crate::vault::ops::TokenTarget;

#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error("The token works, but {api} refused the call: {detail}")]
    Api { api: String, detail: String },
    #[error(
        "The token works, but Exchange Online refused EWS (HTTP {status}). Exchange Online blocks EWS since 2026-10-01 unless the tenant allows it: an Exchange admin runs Set-OrganizationConfig -EWSEnabled $true and adds this app's client ID ({client_id}) to -EwsAllowedAppIDs. EWS in Exchange Online ends for good on 2027-04-01: switch this data source's API to Microsoft Graph (General tab, or data-source add --preset graph)."
    )]
    EwsBlocked { status: u16, client_id: String },
    #[error(
        "The token belongs to {actual}, but this connection is configured for {expected}. Request a new token signed in as {expected}."
    )]
    WrongAccount { expected: String, actual: String },
    #[error(
        "{0} has no refresh token: request one with Request MS365 Refresh Token (tokendesk sign-in)."
    )]
    NoToken(TokenTarget),
    #[error(
        "{target} is being renewed by {holder}; gave up after waiting {waited_seconds} s. The token is safe; try again in a minute."
    )]
    Busy {
        target: TokenTarget,
        holder: String,
        waited_seconds: u64,
    },
    #[error(
        "The vault cannot be written ({0}), so tokendesk did not ask the provider: the stored token is unchanged and still valid. Free disk space or fix the vault folder's permissions, then try again."
    )]
    NotWritable(VaultError),
    #[error(
        "{target} was cleared or signed in again while its token was being renewed; the newer state was kept and the renewal's result discarded."
    )]
    Superseded { target: TokenTarget },
    #[error(
        "The provider issued a new refresh token for {target}, but the vault could not be written ({cause}). The new token is safe in the rescue file {}; tokendesk uses it from there and stores it at the next successful save. Free disk space or fix the folder now.",
        .rescue.display()
    )]
    Rescued {
        target: TokenTarget,
        rescue: PathBuf,
        cause: VaultError,
    },
    #[error(
        "TOKEN AT RISK: the provider issued a new refresh token for {target}, but neither the vault nor a rescue file could be written ({cause}). The old token may already be retired by the provider. Free disk space and run `tokendesk renew --data-source …` again at once; if that fails with invalid_grant, sign in again."
    )]
    AtRisk {
        target: TokenTarget,
        cause: VaultError,
    },
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl RedeemError {
    /// Whether the stored token may be unusable now (a new sign-in may be needed).
    pub fn needs_sign_in(&self) -> bool {
        match self {
            RedeemError::Identity(e) => e.kind.invalidates_token(),
            RedeemError::NoToken(_) | RedeemError::WrongAccount { .. } => true,
            _ => false,
        }
    }

    /// Whether trying again later may work without anyone acting.
    pub fn is_transient(&self) -> bool {
        match self {
            RedeemError::Identity(e) => e.kind == crate::identity::ErrorKind::Transient,
            RedeemError::Busy { .. } => true,
            _ => false,
        }
    }
}
