//! Who signed in, when the id_token does not say: OIDC Core lets a provider put the
//! claims only in the userinfo response, and Microsoft's userinfo names no account
//! for a user without a mail attribute, where Graph's `/me` still gives the UPN.

use serde::Deserialize;
use url::Url;

use super::config::{Cloud, scope_resource};
use super::http::HttpClient;
use super::token::TokenSet;
use crate::secret::Secret;

/// The claims of a userinfo answer that name an account.
#[derive(Deserialize)]
pub(crate) struct UserInfo {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// The fields of Microsoft Graph's `GET /v1.0/me` that name an account.
#[derive(Deserialize)]
pub(crate) struct GraphMe {
    /// The account's object ID (the id_token's `oid`).
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "userPrincipalName", default)]
    pub upn: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(rename = "displayName", default)]
    pub display_name: Option<String>,
}

/// Where to ask, and with which token.
pub(crate) struct Naming<'a> {
    pub http: &'a HttpClient,
    pub userinfo: Option<&'a Url>,
    /// Microsoft Graph's root, for a Microsoft authority only.
    pub graph_root: Option<&'a Url>,
    /// The scopes the access token was granted (or asked for, when the answer did not say).
    pub scope: &'a str,
}

/// Fills in the account name from userinfo, then (Microsoft) from Graph `/me`. When
/// neither can answer, the identity says exactly why, so nobody is told "another
/// account" for the right one.
pub(crate) async fn name_account(naming: &Naming<'_>, tokens: &mut TokenSet) {
    if tokens.identity.as_ref().is_some_and(|i| i.names_account()) {
        return;
    }
    let mut identity = tokens.identity.take().unwrap_or_default();
    let access_token = &tokens.access_token;
    let mut reasons = Vec::new();
    match userinfo(naming, access_token).await {
        Ok(info) if identity.sub.is_some() && info.sub.is_some() && info.sub != identity.sub => {
            // OIDC Core 5.3.2: a userinfo answer for another subject is not used.
            reasons.push(
                "the userinfo endpoint answered for another subject than the id_token".into(),
            );
        }
        Ok(info) => {
            identity.username = safe(info.preferred_username);
            identity.email = safe(info.email);
            identity.name = identity.name.or(safe(info.name));
            identity.sub = identity.sub.or(safe(info.sub));
            if identity.names_account() {
                identity.named_by = Some("userinfo".into());
            } else {
                reasons.push(
                    "the userinfo answer names no account (no preferred_username or email)".into(),
                );
            }
        }
        Err(reason) => reasons.push(reason),
    }
    if !identity.names_account()
        && let Some(root) = naming.graph_root
    {
        match graph_me(naming, root, access_token).await {
            Ok(me) if identity.oid.is_some() && me.id.is_some() && me.id != identity.oid => {
                reasons
                    .push("Microsoft Graph answered for another account than the id_token".into());
            }
            Ok(me) => {
                identity.username = safe(me.upn);
                identity.email = safe(me.mail);
                identity.name = identity.name.or(safe(me.display_name));
                identity.oid = identity.oid.or(safe(me.id));
                if identity.names_account() {
                    identity.named_by = Some("Microsoft Graph".into());
                } else {
                    reasons.push("Microsoft Graph's profile names no account".into());
                }
            }
            Err(reason) => reasons.push(reason),
        }
    }
    if !identity.names_account() {
        identity.unnamed_reason = Some(reasons.join("; "));
    }
    tokens.identity = Some(identity);
}

fn safe(value: Option<String>) -> Option<String> {
    value.map(|v| crate::text::escape(&v))
}

async fn userinfo(naming: &Naming<'_>, access_token: &Secret) -> Result<UserInfo, String> {
    let Some(url) = naming.userinfo else {
        return Err(
            "the id_token names no account and the provider has no userinfo endpoint".into(),
        );
    };
    let response = naming
        .http
        .get_bearer(url, access_token.expose())
        .await
        .map_err(|e| format!("the userinfo endpoint could not be asked ({e})"))?;
    if !response.is_success() {
        let hint = if naming.graph_root.is_some() {
            ""
        } else {
            "; the token is probably for another resource than the provider's userinfo"
        };
        return Err(format!(
            "the id_token names no account and the userinfo endpoint refused the access token (HTTP {}){hint}",
            response.status,
        ));
    }
    response
        .json::<UserInfo>("userinfo answer")
        .map_err(|e| e.message)
}

async fn graph_me(
    naming: &Naming<'_>,
    root: &Url,
    access_token: &Secret,
) -> Result<GraphMe, String> {
    if !is_graph_token(naming.scope) {
        return Err(other_resource(naming.scope));
    }
    let url = root
        .join("v1.0/me")
        .map_err(|e| format!("Microsoft Graph's address is not valid ({e})"))?;
    let response = naming
        .http
        .get_bearer(&url, access_token.expose())
        .await
        .map_err(|e| format!("Microsoft Graph could not be asked ({e})"))?;
    if !response.is_success() {
        return Err(format!(
            "Microsoft Graph /me refused the access token too (HTTP {})",
            response.status
        ));
    }
    response
        .json::<GraphMe>("Graph profile")
        .map_err(|e| e.message)
}

/// Whether an access token for these scopes is one Graph takes: a Graph scope, or
/// only `openid profile email offline_access` (for which Microsoft issues a Graph token).
fn is_graph_token(scope: &str) -> bool {
    let resources: Vec<String> = scope
        .split_whitespace()
        .filter_map(scope_resource)
        .collect();
    resources.is_empty()
        || resources.iter().any(|resource| {
            Cloud::ALL
                .iter()
                .any(|cloud| resource.eq_ignore_ascii_case(cloud.graph_root()))
        })
}

/// Why a Microsoft token for another API cannot name its account.
fn other_resource(scope: &str) -> String {
    let resource = scope
        .split_whitespace()
        .find_map(scope_resource)
        .unwrap_or_else(|| "another API".into());
    format!(
        "the access token is for {} (scopes: {}), which neither the userinfo endpoint nor Microsoft Graph accepts",
        crate::text::escape(&resource),
        crate::text::escape(scope)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_tokens_are_told_from_tokens_for_other_apis() {
        assert!(is_graph_token("openid profile offline_access"));
        assert!(is_graph_token("User.Read Mail.Read offline_access"));
        assert!(is_graph_token(
            "https://graph.microsoft.us/Mail.Read offline_access"
        ));
        assert!(!is_graph_token(
            "https://outlook.office365.com/EWS.AccessAsUser.All offline_access"
        ));
    }

    #[test]
    fn a_refusal_names_the_resource_the_token_is_for() {
        let ews = "https://outlook.office365.com/EWS.AccessAsUser.All offline_access";
        let reason = other_resource(ews);
        assert!(
            reason.contains("is for https://outlook.office365.com (scopes: "),
            "{reason}"
        );
        assert!(
            reason.contains("neither the userinfo endpoint nor Microsoft Graph accepts"),
            "{reason}"
        );
    }
}
