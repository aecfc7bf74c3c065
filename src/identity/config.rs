//! What a data source knows about its identity provider, and the checks that catch
//! a wrong value before Microsoft has to reject it.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::Secret;

pub use super::validate::*;

/// The Microsoft national clouds tokendesk knows the hosts of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    #[default]
    Global,
    UsGov,
    China,
}

impl Cloud {
    pub const ALL: [Cloud; 3] = [Cloud::Global, Cloud::UsGov, Cloud::China];

    pub fn login_host(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov => "https://login.microsoftonline.us",
            Cloud::China => "https://login.partner.microsoftonline.cn",
        }
    }

    pub fn graph_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    pub fn exchange_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://outlook.office365.com",
            Cloud::UsGov => "https://outlook.office365.us",
            Cloud::China => "https://partner.outlook.cn",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Cloud::Global => "Global (login.microsoftonline.com)",
            Cloud::UsGov => "US Government (login.microsoftonline.us)",
            Cloud::China => "China (login.partner.microsoftonline.cn)",
        }
    }
}

impl std::str::FromStr for Cloud {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "global" | "public" | "worldwide" => Ok(Cloud::Global),
            "usgov" | "us-gov" | "gcc-high" | "dod" => Ok(Cloud::UsGov),
            "china" | "cn" => Ok(Cloud::China),
            other => Err(format!(
                "unknown cloud '{other}': use global, usgov or china"
            )),
        }
    }
}

/// Who issues the tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Authority {
    /// The Microsoft identity platform. `login_host` replaces the cloud's host; it
    /// exists for proxies in front of the login host and for the loopback test provider.
    Microsoft {
        cloud: Cloud,
        tenant: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        login_host: Option<Url>,
    },
    /// Any standards-compliant OpenID provider, found by discovery under this issuer.
    Issuer { url: Url },
}

impl Authority {
    pub fn microsoft(cloud: Cloud, tenant: impl Into<String>) -> Self {
        Authority::Microsoft {
            cloud,
            tenant: tenant.into(),
            login_host: None,
        }
    }

    pub fn is_microsoft(&self) -> bool {
        matches!(self, Authority::Microsoft { .. })
    }

    pub fn cloud(&self) -> Option<Cloud> {
        match self {
            Authority::Microsoft { cloud, .. } => Some(*cloud),
            Authority::Issuer { .. } => None,
        }
    }

    /// The short form an admin reads in tables: the tenant, or the issuer's host.
    /// The issuer as an admin typed it (scheme, host, port, path); the tenant for Microsoft.
    pub fn issuer_display(&self) -> String {
        match self {
            Authority::Microsoft { tenant, .. } => tenant.clone(),
            Authority::Issuer { url } => url.as_str().trim_end_matches('/').to_string(),
        }
    }

    pub fn display_name(&self) -> String {
        match self {
            Authority::Microsoft { tenant, .. } => tenant.clone(),
            Authority::Issuer { url } => url.host_str().unwrap_or(url.as_str()).to_string(),
        }
    }

    /// `{host}/{tenant}` for Microsoft, the issuer otherwise, without trailing slash.
    pub fn base_url(&self) -> String {
        match self {
            Authority::Microsoft {
                cloud,
                tenant,
                login_host,
            } => {
                let host = login_host
                    .as_ref()
                    .map(|u| u.as_str().trim_end_matches('/').to_string())
                    .unwrap_or_else(|| cloud.login_host().to_string());
                format!("{host}/{}", tenant.trim())
            }
            Authority::Issuer { url } => url.as_str().trim_end_matches('/').to_string(),
        }
    }
}

/// Which API the tokens are for. The presets expand per cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "preset", content = "scopes", rename_all = "snake_case")]
pub enum Scopes {
    /// Exchange Web Services. Exchange Online began blocking EWS on 2026-10-01.
    Ews,
    /// Microsoft Graph: mail, calendar and the signed-in user's profile.
    Graph,
    Custom(String),
}

pub const GRAPH_SCOPE_NAMES: [&str; 5] = [
    "Mail.ReadWrite",
    "Mail.Send",
    "Calendars.ReadWrite",
    "MailboxSettings.Read",
    "User.Read",
];

impl Scopes {
    /// The space-separated scope string sent to the provider.
    pub fn to_scope_string(&self, cloud: Option<Cloud>) -> String {
        let cloud = cloud.unwrap_or_default();
        match self {
            Scopes::Ews => format!(
                "{}/EWS.AccessAsUser.All offline_access openid profile",
                cloud.exchange_root()
            ),
            Scopes::Graph => {
                let root = cloud.graph_root();
                let mut parts: Vec<String> = GRAPH_SCOPE_NAMES
                    .iter()
                    .map(|name| format!("{root}/{name}"))
                    .collect();
                parts.extend(["offline_access", "openid", "profile"].map(String::from));
                parts.join(" ")
            }
            Scopes::Custom(scopes) => scopes.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Scopes::Ews => "Exchange EWS",
            Scopes::Graph => "Microsoft Graph",
            Scopes::Custom(_) => "Custom scopes",
        }
    }
}

/// Everything needed to talk to one identity provider for one app registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderConfig {
    pub authority: Authority,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    pub scopes: Scopes,
}

impl ProviderConfig {
    pub fn scope_string(&self) -> String {
        self.scopes.to_scope_string(self.authority.cloud())
    }

    /// The client secret, only when one is really set: Microsoft rejects a secret
    /// from a public client (AADSTS700025), so an empty field must send nothing.
    pub fn effective_client_secret(&self) -> Option<&Secret> {
        self.client_secret
            .as_ref()
            .filter(|secret| !secret.expose().trim().is_empty())
    }

    /// Every problem with this configuration, each tied to the field an admin must change.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        match &self.authority {
            Authority::Microsoft {
                tenant, login_host, ..
            } => {
                if let Err(message) = validate_tenant(tenant) {
                    problems.push(ConfigProblem::new(ConfigField::Tenant, message));
                }
                if let Some(host) = login_host
                    && let Err(message) = check_endpoint_url(host)
                {
                    problems.push(ConfigProblem::new(ConfigField::Authority, message));
                }
            }
            Authority::Issuer { url } => {
                if let Err(message) = check_endpoint_url(url) {
                    problems.push(ConfigProblem::new(ConfigField::Authority, message));
                }
            }
        }
        if let Err(message) = validate_client_id(&self.client_id, self.authority.is_microsoft()) {
            problems.push(ConfigProblem::new(ConfigField::ClientId, message));
        }
        let scopes = self.scope_string();
        if let Err(message) = validate_scopes(&scopes, self.authority.is_microsoft()) {
            problems.push(ConfigProblem::new(ConfigField::Scopes, message));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(authority: Authority, client_id: &str, scopes: Scopes) -> ProviderConfig {
        ProviderConfig {
            authority,
            client_id: client_id.into(),
            client_secret: None,
            scopes,
        }
    }

    const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

    #[test]
    fn tenants() {
        for ok in [
            "organizations",
            "Common",
            "consumers",
            "contoso.onmicrosoft.com",
            "contoso.de",
            "7d548d61-6361-4a6e-85e6-509e2c05d05e",
        ] {
            assert!(validate_tenant(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "contoso",
            "7d548d61-6361-4a6e-85e6",
            "con toso.com",
            "x.1",
        ] {
            assert!(validate_tenant(bad).is_err(), "{bad}");
        }
        assert!(
            validate_tenant("7d548d61-6361")
                .unwrap_err()
                .contains("tenant ID")
        );
    }

    #[test]
    fn presets_expand_per_cloud() {
        let ews = Scopes::Ews.to_scope_string(Some(Cloud::Global));
        assert_eq!(
            ews,
            "https://outlook.office365.com/EWS.AccessAsUser.All offline_access openid profile"
        );
        let graph_us = Scopes::Graph.to_scope_string(Some(Cloud::UsGov));
        assert!(graph_us.contains("https://graph.microsoft.us/Mail.ReadWrite"));
        assert!(graph_us.contains("offline_access"));
        for cloud in Cloud::ALL {
            for scopes in [Scopes::Ews, Scopes::Graph] {
                assert!(validate_scopes(&scopes.to_scope_string(Some(cloud)), true).is_ok());
            }
        }
    }

    #[test]
    fn scope_checks() {
        let err =
            validate_scopes("https://graph.microsoft.com/User.Read openid", true).unwrap_err();
        assert!(err.contains("offline_access"));
        let err = validate_scopes(
            "https://graph.microsoft.com/User.Read https://outlook.office365.com/EWS.AccessAsUser.All offline_access",
            true,
        )
        .unwrap_err();
        assert!(err.contains("AADSTS700022"));
        assert!(
            validate_scopes(
                "User.Read Mail.Send https://graph.microsoft.com/Mail.Read offline_access",
                true
            )
            .is_ok()
        );
        // Other providers know nothing of Microsoft resources.
        assert!(validate_scopes("read write offline_access", false).is_ok());
    }

    #[test]
    fn endpoints_must_be_https_except_loopback() {
        for ok in [
            "https://login.example.com",
            "http://127.0.0.1:8080",
            "http://[::1]:9/x",
            "http://localhost/",
        ] {
            assert!(check_endpoint_url(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        let err = check_endpoint_url(&Url::parse("http://idp.example.com").unwrap()).unwrap_err();
        assert!(err.contains("https"));
        assert!(check_endpoint_url(&Url::parse("ftp://idp.example.com").unwrap()).is_err());
    }

    #[test]
    fn whole_config_reports_each_field() {
        let bad = config(
            Authority::microsoft(Cloud::Global, "contoso"),
            " ",
            Scopes::Custom("User.Read".into()),
        );
        let fields: Vec<ConfigField> = bad.validate().iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            vec![
                ConfigField::Tenant,
                ConfigField::ClientId,
                ConfigField::Scopes
            ]
        );
        let good = config(
            Authority::microsoft(Cloud::China, "contoso.partner.onmschina.cn"),
            CLIENT,
            Scopes::Graph,
        );
        assert!(good.validate().is_empty());
        let issuer = config(
            Authority::Issuer {
                url: Url::parse("http://idp.example.org/realms/x").unwrap(),
            },
            "my-client",
            Scopes::Custom("openid offline_access".into()),
        );
        assert_eq!(issuer.validate()[0].field, ConfigField::Authority);
    }

    #[test]
    fn empty_secret_is_not_sent() {
        let mut cfg = config(
            Authority::microsoft(Cloud::Global, "common"),
            CLIENT,
            Scopes::Ews,
        );
        cfg.client_secret = Some(Secret::new("  "));
        assert!(cfg.effective_client_secret().is_none());
        cfg.client_secret = Some(Secret::new("s3cr3t"));
        assert!(cfg.effective_client_secret().is_some());
    }

    #[test]
    fn authority_base_urls() {
        assert_eq!(
            Authority::microsoft(Cloud::UsGov, "contoso.us").base_url(),
            "https://login.microsoftonline.us/contoso.us"
        );
        let local = Authority::Microsoft {
            cloud: Cloud::Global,
            tenant: "common".into(),
            login_host: Some(Url::parse("http://127.0.0.1:4000/").unwrap()),
        };
        assert_eq!(local.base_url(), "http://127.0.0.1:4000/common");
    }
}
