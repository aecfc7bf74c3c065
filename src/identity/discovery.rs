//! Where the device-authorization and token endpoints are: OpenID Connect discovery,
//! with Microsoft's well-known paths as the fallback.

use serde::Deserialize;
use url::Url;

use super::config::{Authority, check_endpoint_url};
use super::error::{ErrorKind, IdentityError};
use super::http::{HttpClient, HttpResponse};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Endpoints {
    /// RFC 8628's endpoint; `None` when the provider offers no device flow.
    #[serde(default)]
    pub device_authorization: Option<Url>,
    /// Where the browser sign-in starts (authorization code + PKCE).
    #[serde(default)]
    pub authorization: Option<Url>,
    /// RFC 9207: the provider puts `iss` into its authorization answers.
    #[serde(default)]
    pub iss_parameter_supported: bool,
    pub token: Url,
    pub userinfo: Option<Url>,
    /// RFC 7009's `revocation_endpoint`, where the provider lists one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Url>,
    pub issuer: Option<String>,
    /// `token_endpoint_auth_methods_supported`, as the provider lists them.
    #[serde(default)]
    pub token_auth_methods: Vec<String>,
    /// False when Microsoft's discovery document could not be read and the
    /// documented paths were used instead.
    pub discovered: bool,
}

/// How a confidential client proves itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749's default).
    Basic,
    /// `client_id` and `client_secret` as form fields.
    Post,
}

impl Endpoints {
    /// `client_secret_post` only when the provider lists it and not basic; basic when
    /// it lists both or neither, as RFC 6749 makes basic the one every server supports.
    pub fn client_auth_method(&self) -> ClientAuthMethod {
        let lists = |m: &str| self.token_auth_methods.iter().any(|x| x == m);
        if lists("client_secret_post") && !lists("client_secret_basic") {
            ClientAuthMethod::Post
        } else {
            ClientAuthMethod::Basic
        }
    }
}

#[derive(Debug, Deserialize)]
struct DiscoveryDocument {
    #[serde(default)]
    issuer: Option<String>,
    token_endpoint: String,
    #[serde(default)]
    device_authorization_endpoint: Option<String>,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    authorization_endpoint: Option<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    revocation_endpoint: Option<String>,
}

pub fn discovery_url(authority: &Authority) -> Result<Url, IdentityError> {
    let base = authority.base_url();
    let url = match authority {
        Authority::Microsoft { .. } => format!("{base}/v2.0/.well-known/openid-configuration"),
        Authority::Issuer { .. } => format!("{base}/.well-known/openid-configuration"),
    };
    parse_endpoint(&url, "discovery URL")
}

/// Microsoft's documented v2.0 endpoints, used when discovery is unreachable.
pub fn microsoft_fallback(authority: &Authority) -> Result<Endpoints, IdentityError> {
    let base = authority.base_url();
    Ok(Endpoints {
        device_authorization: Some(parse_endpoint(
            &format!("{base}/oauth2/v2.0/devicecode"),
            "device code endpoint",
        )?),
        authorization: Some(parse_endpoint(
            &format!("{base}/oauth2/v2.0/authorize"),
            "authorization endpoint",
        )?),
        iss_parameter_supported: false,
        token: parse_endpoint(&format!("{base}/oauth2/v2.0/token"), "token endpoint")?,
        userinfo: None,
        // Microsoft offers no RFC 7009 endpoint.
        revocation: None,
        issuer: None,
        // Microsoft's documented methods.
        token_auth_methods: vec![
            "client_secret_post".into(),
            "private_key_jwt".into(),
            "client_secret_basic".into(),
        ],
        discovered: false,
    })
}

fn parse_endpoint(value: &str, what: &str) -> Result<Url, IdentityError> {
    let url = Url::parse(value).map_err(|e| {
        IdentityError::admin(format!("The {what} '{value}' is not a valid URL ({e})."))
    })?;
    check_endpoint_url(&url).map_err(IdentityError::admin)?;
    Ok(url)
}

pub async fn discover(
    http: &HttpClient,
    authority: &Authority,
) -> Result<Endpoints, IdentityError> {
    let url = discovery_url(authority)?;
    let result = fetch(http, &url).await;
    match (result, authority) {
        (Ok(endpoints), _) => Ok(endpoints),
        // A tenant Microsoft does not know is the admin's to fix; other trouble
        // with the document should not stop a sign-in that the fixed paths can do.
        (Err(error), Authority::Microsoft { .. })
            if error.kind != ErrorKind::AdminAction || error.codes.is_empty() =>
        {
            tracing::warn!(%url, %error, "discovery failed; using Microsoft's documented endpoints");
            microsoft_fallback(authority)
        }
        (Err(error), _) => Err(error),
    }
}

async fn fetch(http: &HttpClient, url: &Url) -> Result<Endpoints, IdentityError> {
    endpoints_from(&http.get(url).await?)
}

/// The endpoints a discovery document names, or what is wrong with it.
pub fn endpoints_from(response: &HttpResponse) -> Result<Endpoints, IdentityError> {
    if !response.is_success() {
        return Err(response.error());
    }
    let document: DiscoveryDocument = response.json("discovery document")?;
    let device_authorization = document
        .device_authorization_endpoint
        .as_deref()
        .map(|u| parse_endpoint(u, "device authorization endpoint"))
        .transpose()?;
    let authorization = document
        .authorization_endpoint
        .as_deref()
        .map(|u| parse_endpoint(u, "authorization endpoint"))
        .transpose()?;
    if device_authorization.is_none() && authorization.is_none() {
        return Err(IdentityError::admin(format!(
            "The provider at {} offers neither the device authorization grant nor a browser sign-in (no device_authorization_endpoint and no authorization_endpoint in its discovery document).",
            response.host()
        )));
    }
    Ok(Endpoints {
        device_authorization,
        authorization,
        iss_parameter_supported: document.authorization_response_iss_parameter_supported,
        token: parse_endpoint(&document.token_endpoint, "token endpoint")?,
        userinfo: document
            .userinfo_endpoint
            .as_deref()
            .map(|u| parse_endpoint(u, "userinfo endpoint"))
            .transpose()?,
        revocation: document
            .revocation_endpoint
            .as_deref()
            .map(|u| parse_endpoint(u, "revocation endpoint"))
            .transpose()?,
        issuer: document.issuer,
        token_auth_methods: document.token_endpoint_auth_methods_supported,
        discovered: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::config::Cloud;

    #[test]
    fn discovery_and_fallback_urls() {
        let ms = Authority::microsoft(Cloud::Global, "contoso.onmicrosoft.com");
        assert_eq!(
            discovery_url(&ms).unwrap().as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        );
        let fallback = microsoft_fallback(&ms).unwrap();
        assert_eq!(
            fallback.token.as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        let issuer = Authority::Issuer {
            url: Url::parse("https://id.example.org/realms/main/").unwrap(),
        };
        assert_eq!(
            discovery_url(&issuer).unwrap().as_str(),
            "https://id.example.org/realms/main/.well-known/openid-configuration"
        );
    }
}
