//! Redeeming a stored refresh token: the identity engine and the vault together,
//! in the order that loses nothing — the rotated token is durably in the vault
//! before this returns, and the old one is gone from it in the same write.

use crate::clock::Clock;
use crate::identity::{IdentityClient, IdentityError, TokenSet};
use crate::vault::ops::TokenTarget;
use crate::vault::{Vault, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error(
        "{0} has no refresh token: request one with Request MS365 Refresh Token (tokendesk sign-in)."
    )]
    NoToken(TokenTarget),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Redeems the refresh token of `target` and stores the answer: a rotated refresh
/// token replaces the old one, the access token is cached, the redemption restarts
/// the inactivity window. A failure is recorded on the token; only a failure that
/// says the token is dead changes its state.
pub async fn redeem(
    vault: &mut Vault,
    client: &IdentityClient,
    target: &TokenTarget,
    clock: &impl Clock,
) -> Result<TokenSet, RedeemError> {
    // Read the newest token from disk: another process may have rotated it.
    vault.reload()?;
    let record = vault.data().token(target)?;
    let refresh_token = record
        .refresh_token
        .clone()
        .ok_or_else(|| RedeemError::NoToken(target.clone()))?;
    match client.refresh(&refresh_token, None, clock.now()).await {
        Ok(tokens) => {
            vault.update(|data| {
                data.token_mut(target)?.store_refresh(&tokens);
                Ok(())
            })?;
            Ok(tokens)
        }
        Err(error) => {
            let now = clock.now();
            vault.update(|data| {
                data.token_mut(target)?.store_error(&error, now);
                Ok(())
            })?;
            Err(RedeemError::Identity(error))
        }
    }
}
