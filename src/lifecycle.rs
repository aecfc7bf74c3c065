//! Redeeming a stored refresh token: the identity engine and the vault together,
//! in the order that loses nothing — the rotated token is durably in the vault
//! before this returns, and the old one is gone from it in the same write.

use crate::identity::naming::{GraphMe, UserInfo};
use url::Url;

use chrono::{DateTime, Utc};

use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};
use crate::clock::Clock;
use crate::identity::{Authority, Cloud};
use crate::identity::{HttpClient, IdentityClient, IdentityError, TokenSet};
use crate::vault::ExchangeServer;
use crate::vault::ops::TokenTarget;
use crate::vault::{Vault, VaultError};

pub use crate::redemption::RedeemError;

use crate::redemption::{Access, CachePolicy, DEFAULT_LOCK_WAIT, Request};

/// Redeems the refresh token of `target` along the guarded path and returns the
/// fresh tokens; the rotated refresh token is durably in the vault before this
/// returns. Another process's renewal of the same token a moment ago serves
/// instead (then nothing is redeemed).
pub async fn redeem(
    vault: &mut Vault,
    client: &IdentityClient,
    target: &TokenTarget,
    clock: &impl Clock,
) -> Result<Access, RedeemError> {
    redeem_for_scope(
        vault,
        client,
        target,
        None,
        // Only a renewal that another process completes while this one waits for the
        // token: Test Connection after a revocation must really try the token.
        CachePolicy::RenewedWhileWaiting,
        clock,
    )
    .await
}

/// [`redeem`] asking for an access token for `scope` (a subset of the grant, or
/// another resource the grant covers) instead of the stored scopes, serving a
/// cached access token when `cache` allows.
pub async fn redeem_for_scope(
    vault: &mut Vault,
    client: &IdentityClient,
    target: &TokenTarget,
    scope: Option<&str>,
    cache: CachePolicy,
    clock: &impl Clock,
) -> Result<Access, RedeemError> {
    let request = Request {
        target,
        scope,
        cache,
        lock_wait: DEFAULT_LOCK_WAIT,
    };
    crate::redemption::redeem(vault, client, request, clock).await
}

pub fn audit_failure(
    operation: Operation,
    target: &TokenTarget,
    error: &IdentityError,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry::new(operation, Outcome::Failed, now)
        .for_target(target)
        .with_error(error.code_label(), error.message.clone())
}

/// Stores the tokens of a finished sign-in for `target` and records it.
pub fn store_sign_in(
    vault: &mut Vault,
    target: &TokenTarget,
    tokens: &TokenSet,
    now: DateTime<Utc>,
) -> Result<(), VaultError> {
    store_sign_in_with(vault, target, tokens, now, |_| Ok(()))
}

/// Stores a finished sign-in after `prepare` (which adds what the vault does not
/// have yet: the data source or the mapping the sign-in was for), in one write.
pub fn store_sign_in_with(
    vault: &mut Vault,
    target: &TokenTarget,
    tokens: &TokenSet,
    now: DateTime<Utc>,
    prepare: impl FnOnce(&mut crate::vault::VaultData) -> Result<(), VaultError>,
) -> Result<(), VaultError> {
    vault.update(|data| {
        prepare(data)?;
        data.token_mut(target)?.store_sign_in(tokens);
        Ok(())
    })?;
    let who = tokens
        .identity
        .as_ref()
        .and_then(|i| i.username.clone().or_else(|| i.email.clone()));
    let mut entry = AuditEntry::new(Operation::SignIn, Outcome::Ok, now).for_target(target);
    if let Some(who) = who {
        entry = entry.with_detail(format!("signed in as {who}"));
    }
    AuditLog::in_dir(vault.dir()).record(&entry);
    Ok(())
}

/// Clear Token: forgets the tokens of `target` (the connection stays suspended until
/// the next sign-in) and records who did it.
pub fn clear(
    vault: &mut Vault,
    target: &TokenTarget,
    now: DateTime<Utc>,
) -> Result<(), VaultError> {
    let by = crate::vault::model::os_user();
    vault.update(|data| data.clear_token(target, &by, now))?;
    AuditLog::in_dir(vault.dir())
        .record(&AuditEntry::new(Operation::Clear, Outcome::Ok, now).for_target(target));
    Ok(())
}

/// Clears several tokens in one vault write: all of them or, when one is unknown,
/// none.
pub fn clear_all(
    vault: &mut Vault,
    targets: &[TokenTarget],
    now: DateTime<Utc>,
) -> Result<(), VaultError> {
    let by = crate::vault::model::os_user();
    vault.update(|data| {
        targets
            .iter()
            .try_for_each(|target| data.clear_token(target, &by, now))
    })?;
    let audit = AuditLog::in_dir(vault.dir());
    for target in targets {
        audit.record(&AuditEntry::new(Operation::Clear, Outcome::Ok, now).for_target(target));
    }
    Ok(())
}

/// Which API Test Connection calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCheck {
    /// Microsoft Graph `GET /v1.0/me`.
    Graph { root: Url },
    /// EWS `GetFolder` on the mailbox root; `online` for Exchange Online (where
    /// Microsoft blocks EWS unless the tenant allows the app).
    Ews { url: Url, online: bool },
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
                .map(|url| ApiCheck::Ews { url, online: true }),
            ExchangeServer::Ews(url) => Some(ApiCheck::Ews {
                url: url.clone(),
                online: false,
            }),
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
    let result = call_api(vault, client, target, check, clock).await;
    let now = clock.now();
    let entry = match &result {
        Ok(account) => AuditEntry::new(Operation::Test, Outcome::Ok, now)
            .for_target(target)
            .with_detail(format!("{} answered for {account}", check.label())),
        Err(RedeemError::Identity(error)) => audit_failure(Operation::Test, target, error, now),
        Err(other) => AuditEntry::new(Operation::Test, Outcome::Failed, now)
            .for_target(target)
            .with_error(None, other.to_string()),
    };
    AuditLog::in_dir(vault.dir()).record(&entry);
    result
}

/// Test Connection the way both front ends press it: connects to the data source's
/// provider, picks the API the target's account lives behind, and tests.
pub async fn test_target(
    vault: &mut Vault,
    http: HttpClient,
    target: &TokenTarget,
    clock: &impl Clock,
) -> Result<String, RedeemError> {
    vault.reload()?;
    let source = vault.data().data_source(&target.data_source)?;
    let (server, api_root) = match &target.app_user {
        Some(login) => {
            let mapping = source.mapping(login).ok_or_else(|| {
                VaultError::NotFound(format!(
                    "'{login}' is not mapped in data source '{}'.",
                    source.name
                ))
            })?;
            match &mapping.server_url {
                Some(url) => (ExchangeServer::Ews(url.clone()), None),
                None => (
                    source.account.server.clone(),
                    source.account.api_root.clone(),
                ),
            }
        }
        None => (
            source.account.server.clone(),
            source.account.api_root.clone(),
        ),
    };
    let config = source.provider.clone();
    let client = crate::redemption::connect(vault, &http, config, clock.now()).await?;
    let check = ApiCheck::for_account(
        &client.config().authority,
        &server,
        api_root.as_ref(),
        client.endpoints().userinfo.as_ref(),
    )
    .ok_or_else(|| RedeemError::Api {
        api: "the provider".into(),
        detail: "its discovery document names no userinfo endpoint to test against".into(),
    })?;
    test_connection(vault, &client, target, &check, clock).await
}

async fn call_api(
    vault: &mut Vault,
    client: &IdentityClient,
    target: &TokenTarget,
    check: &ApiCheck,
    clock: &impl Clock,
) -> Result<String, RedeemError> {
    let expected = vault.data().expected_account(target)?;
    let access = redeem(vault, client, target, clock).await?;
    let token = access.access_token().expose();
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
        ApiCheck::Ews { url, online } => {
            let response = http
                .post_body(
                    url,
                    token,
                    "text/xml; charset=utf-8",
                    GET_FOLDER.to_string(),
                )
                .await?;
            if *online && matches!(response.status, 401 | 403) {
                return Err(RedeemError::EwsBlocked {
                    status: response.status,
                    client_id: client.config().client_id.clone(),
                });
            }
            let body = String::from_utf8_lossy(&response.body);
            if !response.is_success() || !body.contains("ResponseClass=\"Success\"") {
                return Err(api_error(format!(
                    "HTTP {}; GetFolder on msgfolderroot did not succeed",
                    response.status
                )));
            }
            // EWS answers for the token's user; the id_token names that user.
            access
                .identity()
                .into_iter()
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
