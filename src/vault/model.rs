//! What the vault holds: data sources with their Exchange account and additional
//! users, the directory of application users, the tokens, and the settings.
//! Serialized with serde inside the encrypted file; `FORMAT_VERSION` lets later
//! releases migrate older bodies.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::identity::ProviderConfig;

/// Said when a token that came back from a backup is refused.
pub const RESTORED_HINT: &str = "This token came back from a backup and had probably been used already: sign in again (Request MS365 Refresh Token).";

/// Version of the serialized body (not of the file header).
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultData {
    pub format_version: u32,
    /// Bumped by every save; lets a reader notice that another process changed the vault.
    pub generation: u64,
    #[serde(default)]
    pub data_sources: Vec<DataSource>,
    #[serde(default)]
    pub directory: Vec<AppUser>,
    #[serde(default)]
    pub settings: Settings,
    /// Providers' discovery documents, reused for a day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discovery: Vec<super::discovery_cache::CachedDiscovery>,
    /// Applications that fetch access tokens from the gateway (keys hashed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<super::consumers::Consumer>,
    /// Channels that tell admins about tokens without the window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifiers: Vec<super::notifiers::Notifier>,
    /// What each notifier was last told, per token (and the digest's day).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<super::notifiers::Notice>,
}

impl Default for VaultData {
    fn default() -> Self {
        VaultData {
            format_version: FORMAT_VERSION,
            generation: 0,
            data_sources: Vec::new(),
            directory: Vec::new(),
            settings: Settings::default(),
            discovery: Vec::new(),
            consumers: Vec::new(),
            notifiers: Vec::new(),
            notices: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub reminder_days: i64,
    pub forced_renewal_days: i64,
    /// Microsoft's refresh tokens die this many days after their last use.
    pub inactivity_window_days: i64,
    /// What consumers (the `token` command) print when no valid token exists,
    /// like ASSURE's StatusMessage.
    pub consumer_status_message: String,
    /// The keep-alive redeems a token once its last redemption is this old.
    pub keepalive_age_days: i64,
    /// Whether the open desktop app renews due tokens by itself.
    pub keepalive_in_app: bool,
    /// How often the open desktop app runs the keep-alive.
    pub keepalive_interval_hours: i64,
    /// The window's language ("en", "de"); none follows the OS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl Settings {
    /// What consumers are told while their token is missing, until an admin words it.
    pub const DEFAULT_CONSUMER_MESSAGE: &'static str = "The Microsoft 365 connection is not available at the moment. Please try again later or contact your administrator.";

    /// What is wrong with these settings, one sentence per problem.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=365).contains(&self.inactivity_window_days) {
            problems.push("The inactivity window must be between 1 and 365 days.".to_string());
        }
        if self.forced_renewal_days < 1 {
            problems.push("Forced renewal needs at least 1 day.".to_string());
        }
        if self.reminder_days <= self.forced_renewal_days {
            problems.push(
                "Reminders must start earlier than forced renewal (more days before expiry)."
                    .to_string(),
            );
        }
        if self.reminder_days >= self.inactivity_window_days {
            problems.push("Reminders must start inside the inactivity window.".to_string());
        }
        if !(1..=60).contains(&self.keepalive_age_days)
            || self.keepalive_age_days >= self.inactivity_window_days
        {
            problems.push(
                "The keep-alive age must be 1 to 60 days and shorter than the inactivity window."
                    .to_string(),
            );
        }
        if !(1..=24).contains(&self.keepalive_interval_hours) {
            problems.push("The keep-alive runs every 1 to 24 hours.".to_string());
        }
        if self.consumer_status_message.trim().is_empty() {
            problems.push("Consumers need a status message to show.".to_string());
        }
        problems
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reminder_days: 30,
            forced_renewal_days: 10,
            inactivity_window_days: 90,
            consumer_status_message: Settings::DEFAULT_CONSUMER_MESSAGE.into(),
            keepalive_age_days: 7,
            keepalive_in_app: true,
            keepalive_interval_hours: 4,
            language: None,
        }
    }
}

/// Which API the Exchange account is reached through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", content = "url", rename_all = "snake_case")]
pub enum ExchangeServer {
    /// Exchange Online at the cloud's EWS endpoint.
    #[default]
    Office365,
    /// An explicit EWS endpoint (on-premises or hybrid).
    Ews(Url),
    /// Microsoft Graph.
    Graph,
}

impl ExchangeServer {
    pub fn label(&self) -> String {
        match self {
            ExchangeServer::Office365 => "Office365".into(),
            ExchangeServer::Ews(url) => url.to_string(),
            ExchangeServer::Graph => "Microsoft Graph".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeAccount {
    /// Sign-in e-mail address or UPN of the data-source user.
    pub email: String,
    #[serde(default)]
    pub server: ExchangeServer,
    /// Replaces the cloud's API host for Test Connection (a proxy; the tests'
    /// loopback provider): Graph is called at `{api_root}/v1.0/me`, Exchange Online's
    /// EWS at `{api_root}/EWS/Exchange.asmx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_root: Option<Url>,
    /// The mail server this mailbox submits through with XOAUTH2 (`host:port`;
    /// port 465 is implicit TLS, any other STARTTLS). Microsoft's default,
    /// `smtp.office365.com:587`, when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_upstream: Option<String>,
    /// The IMAP server this mailbox is read from through the relay (`host:port`;
    /// port 993 is implicit TLS, any other STARTTLS). Microsoft's default,
    /// `outlook.office365.com:993`, when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_upstream: Option<String>,
    /// The certificate authority (PEM) the mail servers' certificates are checked
    /// against, in place of the system's trust store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_ca: Option<String>,
}

/// When a provider's refresh tokens die, as the admin configured it for a provider
/// that does not say so in its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRule {
    pub days: u32,
    pub counted_from: RuleStart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleStart {
    /// From the last use (an idle timeout: every renewal restarts it).
    LastUse,
    /// From the sign-in (a fixed lifetime: renewals do not extend it).
    SignIn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    pub id: Uuid,
    pub name: String,
    pub provider: ProviderConfig,
    pub account: ExchangeAccount,
    /// The refresh-token lifetime rule for a provider that does not state one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_rule: Option<RefreshRule>,
    /// The browser sign-in's redirect URI as registered with the provider
    /// (`http://127.0.0.1[:port]/path`, `http://localhost…`); `None`: the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    #[serde(default)]
    pub token: TokenRecord,
    /// Each mapping behind its own `Arc`: a copy of the records (the gateway's
    /// snapshot, a handle's copy-on-write) shares every mapping it does not
    /// change, so storing one rotated token copies one mapping, not ten thousand.
    #[serde(default)]
    pub users: Vec<Arc<UserMapping>>,
}

impl DataSource {
    pub fn new(
        name: impl Into<String>,
        provider: ProviderConfig,
        email: impl Into<String>,
    ) -> Self {
        DataSource {
            id: Uuid::new_v4(),
            name: name.into(),
            provider,
            account: ExchangeAccount {
                email: email.into(),
                server: ExchangeServer::Office365,
                api_root: None,
                smtp_upstream: None,
                imap_upstream: None,
                upstream_ca: None,
            },
            refresh_rule: None,
            redirect_uri: None,
            token: TokenRecord::default(),
            users: Vec::new(),
        }
    }

    /// The URLs Test Connection sends this data source's access tokens to.
    pub fn account_urls(&self) -> impl Iterator<Item = &Url> {
        let ews = match &self.account.server {
            ExchangeServer::Ews(url) => Some(url),
            _ => None,
        };
        ews.into_iter()
            .chain(self.account.api_root.iter())
            .chain(self.users.iter().filter_map(|m| m.server_url.as_ref()))
    }

    pub fn mapping(&self, app_login: &str) -> Option<&UserMapping> {
        self.users
            .iter()
            .find(|m| m.app_user.login.eq_ignore_ascii_case(app_login.trim()))
            .map(|m| &**m)
    }

    /// Adds a mapping at the end.
    pub fn push_user(&mut self, mapping: UserMapping) {
        self.users.push(Arc::new(mapping));
    }

    /// The mapping at `index`, to change (copied first if a copy of the records
    /// still shares it).
    pub fn user_mut(&mut self, index: usize) -> &mut UserMapping {
        Arc::make_mut(&mut self.users[index])
    }

    /// Every mapping, to change: each one shared with a copy is copied, so use it
    /// where every mapping changes.
    pub fn users_mut(&mut self) -> impl Iterator<Item = &mut UserMapping> {
        self.users.iter_mut().map(Arc::make_mut)
    }

    pub fn mapping_mut(&mut self, app_login: &str) -> Option<&mut UserMapping> {
        self.users
            .iter_mut()
            .find(|m| m.app_user.login.eq_ignore_ascii_case(app_login.trim()))
            .map(Arc::make_mut)
    }
}

/// An application (Intrexx) user as the application knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppUser {
    /// Login name or path, e.g. `USER/jdoe`.
    pub login: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub email: String,
}

/// A row of the Additional users tab: an application user mapped to an Exchange user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMapping {
    pub id: Uuid,
    pub app_user: AppUser,
    /// UPN or e-mail address of the Exchange user.
    pub exchange_user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<Url>,
    #[serde(default)]
    pub token: TokenRecord,
}

impl UserMapping {
    pub fn new(app_user: AppUser, exchange_user: impl Into<String>) -> Self {
        UserMapping {
            id: Uuid::new_v4(),
            app_user,
            exchange_user: exchange_user.into(),
            server_url: None,
            token: TokenRecord::default(),
        }
    }
}

pub use super::token_record::*;

/// The OS user to record in audit fields.
pub fn os_user() -> String {
    whoami::username()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::TokenSet;
    use crate::identity::{Authority, Cloud, Scopes};
    use crate::secret::Secret;
    use chrono::Utc;

    pub(crate) fn sample() -> VaultData {
        let provider = ProviderConfig {
            authority: Authority::microsoft(Cloud::Global, "contoso.onmicrosoft.com"),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: Some(Secret::new("s3cret")),
            scopes: Scopes::Graph,
        };
        let mut source = DataSource::new("Exchange", provider, "sales@contoso.com");
        source.token.refresh_token = Some(Secret::new("rt-1"));
        source.token.obtained_at = Some(Utc::now());
        let app_user = AppUser {
            login: "USER/jdoe".into(),
            display_name: "Jane Doe".into(),
            email: "jane@contoso.com".into(),
        };
        let mut mapping = UserMapping::new(app_user.clone(), "jane@contoso.com");
        mapping.server_url =
            Some(Url::parse("https://mail.contoso.com/EWS/Exchange.asmx").unwrap());
        source.push_user(mapping);
        VaultData {
            data_sources: vec![source],
            directory: vec![app_user],
            ..VaultData::default()
        }
    }

    #[test]
    fn round_trip_of_every_type() {
        let data = sample();
        let json = serde_json::to_vec(&data).unwrap();
        let back: VaultData = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn rotation_keeps_or_replaces() {
        let mut record = TokenRecord {
            refresh_token: Some(Secret::new("old")),
            ..Default::default()
        };
        let now = Utc::now();
        let mut tokens = TokenSet {
            access_token: Secret::new("at"),
            access_expires_at: now,
            refresh_token: None,
            scope: None,
            identity: None,
            obtained_at: now,
            refresh_expires_in: None,
        };
        record.store_refresh(&tokens, None);
        assert_eq!(record.refresh_token, Some(Secret::new("old")));
        tokens.refresh_token = Some(Secret::new("new"));
        record.store_refresh(&tokens, None);
        assert_eq!(record.refresh_token, Some(Secret::new("new")));
        assert_eq!(record.last_redeemed_at, Some(now));
    }

    #[test]
    fn clear_forgets_tokens_and_records_who() {
        let mut record = sample().data_sources[0].token.clone();
        record.clear("admin", Utc::now());
        assert!(record.refresh_token.is_none() && record.access.is_none());
        assert_eq!(record.cleared.as_ref().unwrap().by, "admin");
    }
}
