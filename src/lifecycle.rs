//! Redeeming a stored refresh token: the identity engine and the vault together,
//! in the order that loses nothing — the rotated token is durably in the vault
//! before this returns, and the old one is gone from it in the same write.

use serde::Deserialize;
use url::Url;

use crate::clock::Clock;
use crate::identity::{Authority, Cloud};
use crate::identity::{IdentityClient, IdentityError, TokenSet};
use crate::vault::ExchangeServer;
use crate::vault::ops::TokenTarget;
use crate::vault::{Vault, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error("The token works, but {api} refused the call: {detail}")]
    Api { api: String, detail: String },
    #[error(
        "The token belongs to {actual}, but this connection is configured for {expected}. Request a new token signed in as {expected}."
    )]
    WrongAccount { expected: String, actual: String },
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

/// Which API Test Connection calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCheck {
    /// Microsoft Graph `GET /v1.0/me`.
    Graph { root: Url },
    /// EWS `GetFolder` on the mailbox root.
    Ews { url: Url },
    /// The provider's OpenID `userinfo_endpoint`.
    UserInfo { url: Url },
}

impl ApiCheck {
    /// The API of a data source: from its account's server and the cloud, with the
    /// account's `api_root` override; for other providers their userinfo endpoint.
    pub fn for_account(
        authority: &Authority,
        server: &ExchangeServer,
        api_root: Option<&Url>,
        userinfo: Option<&Url>,
    ) -> Option<ApiCheck> {
        let cloud = match authority {
            Authority::Issuer { .. } => {
                return userinfo.map(|url| ApiCheck::UserInfo { url: url.clone() });
            }
            Authority::Microsoft { cloud, .. } => *cloud,
        };
        let root = |default: fn(Cloud) -> &'static str| -> Option<Url> {
            match api_root {
                Some(url) => Some(url.clone()),
                None => Url::parse(default(cloud)).ok(),
            }
        };
        match server {
            ExchangeServer::Graph => root(Cloud::graph_root).map(|root| ApiCheck::Graph { root }),
            ExchangeServer::Office365 => root(Cloud::exchange_root)
                .and_then(|r| r.join("EWS/Exchange.asmx").ok())
                .map(|url| ApiCheck::Ews { url }),
            ExchangeServer::Ews(url) => Some(ApiCheck::Ews { url: url.clone() }),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            ApiCheck::Graph { .. } => "Microsoft Graph",
            ApiCheck::Ews { .. } => "Exchange Web Services",
            ApiCheck::UserInfo { .. } => "the provider's userinfo endpoint",
        }
    }
}

const GET_FOLDER: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header>
  <soap:Body>
    <m:GetFolder>
      <m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
      <m:FolderIds><t:DistinguishedFolderId Id="msgfolderroot"/></m:FolderIds>
    </m:GetFolder>
  </soap:Body>
</soap:Envelope>"#;

#[derive(Deserialize)]
struct GraphMe {
    #[serde(rename = "userPrincipalName", default)]
    upn: Option<String>,
    #[serde(default)]
    mail: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// Test Connection: redeems the refresh token (storing the rotated one), calls the
/// API with the new access token and checks that the mailbox is the configured one.
/// Returns the account the API answered for.
pub async fn test_connection(
    vault: &mut Vault,
    client: &IdentityClient,
    target: &TokenTarget,
    check: &ApiCheck,
    clock: &impl Clock,
) -> Result<String, RedeemError> {
    let expected = vault.data().expected_account(target)?;
    let tokens = redeem(vault, client, target, clock).await?;
    let token = tokens.access_token.expose();
    let http = client.http();
    let api_error = |detail: String| RedeemError::Api {
        api: check.label().into(),
        detail,
    };
    let accounts: Vec<String> = match check {
        ApiCheck::Graph { root } => {
            let url = root.join("v1.0/me").map_err(|e| api_error(e.to_string()))?;
            let response = http.get_bearer(&url, token).await?;
            if !response.is_success() {
                return Err(api_error(format!("HTTP {} from {url}", response.status)));
            }
            let me: GraphMe = response.json("Graph profile")?;
            me.upn.into_iter().chain(me.mail).collect()
        }
        ApiCheck::UserInfo { url } => {
            let response = http.get_bearer(url, token).await?;
            if !response.is_success() {
                return Err(api_error(format!("HTTP {} from {url}", response.status)));
            }
            let info: UserInfo = response.json("userinfo answer")?;
            info.preferred_username
                .into_iter()
                .chain(info.email)
                .collect()
        }
        ApiCheck::Ews { url } => {
            let response = http
                .post_body(
                    url,
                    token,
                    "text/xml; charset=utf-8",
                    GET_FOLDER.to_string(),
                )
                .await?;
            let body = String::from_utf8_lossy(&response.body);
            if !response.is_success() || !body.contains("ResponseClass=\"Success\"") {
                return Err(api_error(format!(
                    "HTTP {}; GetFolder on msgfolderroot did not succeed",
                    response.status
                )));
            }
            // EWS answers for the token's user; the id_token names that user.
            tokens
                .identity
                .iter()
                .flat_map(|i| i.username.clone().into_iter().chain(i.email.clone()))
                .collect()
        }
    };
    match accounts
        .iter()
        .find(|a| a.trim().eq_ignore_ascii_case(expected.trim()))
    {
        Some(account) => Ok(account.clone()),
        None => Err(RedeemError::WrongAccount {
            expected,
            actual: accounts
                .first()
                .cloned()
                .unwrap_or_else(|| "an unnamed account".into()),
        }),
    }
}
