//! The checks that catch a wrong tenant, client ID, URL or scope before the
//! provider has to reject it, each problem tied to its field.

use std::fmt;

use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigField {
    Authority,
    Tenant,
    ClientId,
    ClientSecret,
    Scopes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub field: ConfigField,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(field: ConfigField, message: impl Into<String>) -> Self {
        ConfigProblem {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A tenant is a directory GUID, a verified domain, or one of the three
/// multi-tenant aliases.
pub fn validate_tenant(tenant: &str) -> Result<(), String> {
    let tenant = tenant.trim();
    if tenant.is_empty() {
        return Err("Enter the tenant: its directory (tenant) ID, a verified domain such as contoso.onmicrosoft.com, or organizations, common or consumers.".into());
    }
    let lower = tenant.to_ascii_lowercase();
    if matches!(lower.as_str(), "organizations" | "common" | "consumers") {
        return Ok(());
    }
    if looks_like_guid(&lower) {
        return Ok(());
    }
    if lower.chars().all(|c| c.is_ascii_hexdigit() || c == '-') && lower.contains('-') {
        return Err(format!(
            "'{tenant}' is not a valid tenant ID: a directory ID has the form 00000000-0000-0000-0000-000000000000 (Entra admin center › Overview › Tenant ID)."
        ));
    }
    if is_domain_name(&lower) {
        return Ok(());
    }
    Err(format!(
        "'{tenant}' is not a tenant: use the directory (tenant) ID, a verified domain such as contoso.onmicrosoft.com, or organizations, common or consumers."
    ))
}

pub fn looks_like_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

pub fn is_domain_name(value: &str) -> bool {
    let labels: Vec<&str> = value.split('.').collect();
    labels.len() >= 2
        && value.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()) && tld.len() >= 2)
}

pub fn validate_client_id(client_id: &str, microsoft: bool) -> Result<(), String> {
    let client_id = client_id.trim();
    if client_id.is_empty() {
        return Err("Enter the client ID (Application ID) of the app registration.".into());
    }
    if microsoft && !looks_like_guid(&client_id.to_ascii_lowercase()) {
        return Err(format!(
            "'{client_id}' is not an Application (client) ID: Microsoft shows it on the app registration's overview as 00000000-0000-0000-0000-000000000000."
        ));
    }
    Ok(())
}

/// Endpoints must be https; plain http is accepted only for loopback addresses,
/// where nothing leaves the machine.
pub fn check_endpoint_url(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "{url} uses plain http: tokens would cross the network unencrypted. Use https (http is accepted only for 127.0.0.1, ::1 and localhost)."
        )),
        other => Err(format!(
            "{url} is not a web address (scheme '{other}'): use an https URL."
        )),
    }
}

pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

const RESOURCE_LESS_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The resource (API) a Microsoft scope belongs to: the part before the last `/`
/// for `https://host/Scope` or `api://app/scope`, and Microsoft Graph for bare names.
pub fn scope_resource(scope: &str) -> Option<String> {
    if RESOURCE_LESS_SCOPES.contains(&scope.to_ascii_lowercase().as_str()) {
        return None;
    }
    if scope.contains("://") {
        let cut = scope
            .rfind('/')
            .filter(|&i| i > scope.find("://").unwrap_or(0) + 2);
        let resource = match cut {
            Some(i) => &scope[..i],
            None => scope,
        };
        let resource = resource.trim_end_matches('/').to_ascii_lowercase();
        // graph.microsoft.com/.default and bare names are the same resource.
        return Some(resource);
    }
    Some("https://graph.microsoft.com".into())
}

pub fn validate_scopes(scopes: &str, microsoft: bool) -> Result<(), String> {
    let list: Vec<&str> = scopes.split_whitespace().collect();
    if list.is_empty() {
        return Err("Enter at least one scope, and offline_access.".into());
    }
    if !list
        .iter()
        .any(|s| s.eq_ignore_ascii_case("offline_access"))
    {
        return Err("Add offline_access to the scopes: without it the provider issues no refresh token and the connection dies with the first access token (about an hour).".into());
    }
    if microsoft {
        let mut resources: Vec<String> = list.iter().filter_map(|s| scope_resource(s)).collect();
        resources.sort();
        resources.dedup();
        // Bare Graph names count as Graph, so Graph scopes written both ways are one resource.
        if resources.len() > 1 {
            return Err(format!(
                "These scopes name {} different APIs ({}); one token can only be for one API (AADSTS700022). Keep the scopes of one API, plus offline_access, openid and profile.",
                resources.len(),
                resources.join(", ")
            ));
        }
    }
    Ok(())
}
