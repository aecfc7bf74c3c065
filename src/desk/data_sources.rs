//! Data sources: an app registration plus the Exchange account it connects, saved
//! and removed under one set of rules (every mapping checked on every save).

use uuid::Uuid;

use super::DeskError;
use crate::identity::Scopes;
use crate::vault::model::{DataSource, ExchangeServer};
use crate::vault::{Vault, VaultData, VaultError};

/// Saves `source`: adds it, or replaces the stored one with its id. Stored tokens
/// are kept; they change only through sign-in, renewal and Clear Token.
pub fn save(vault: &mut Vault, source: DataSource) -> Result<(), DeskError> {
    Ok(vault.update(|data| data.upsert_data_source(source))?)
}

/// Adds a new data source; a name already in use is refused.
pub fn add(vault: &mut Vault, source: DataSource) -> Result<(), DeskError> {
    Ok(vault.update(|data| data.add_data_source(source))?)
}

/// What goes with a data source when it is removed: its additional users (with
/// their tokens) and the consumers that fetch from it (their keys stop working).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub name: String,
    /// "application user · Exchange user", in the order the dialog lists them.
    pub users: Vec<String>,
    pub consumers: Vec<String>,
}

/// The question a confirmation asks before [`remove`].
pub fn removal(data: &VaultData, id: Uuid) -> Option<Removal> {
    let source = data.data_sources.iter().find(|d| d.id == id)?;
    Some(Removal {
        name: source.name.clone(),
        users: source
            .users
            .iter()
            .map(|m| format!("{} · {}", m.app_user.login, m.exchange_user))
            .collect(),
        consumers: data
            .consumers
            .iter()
            .filter(|c| c.data_source == id)
            .map(|c| c.name.clone())
            .collect(),
    })
}

/// Removes the data source `id` with its additional users and their tokens, and
/// the consumers that fetch from it (a consumer of a data source that is gone
/// could only ever be refused).
pub fn remove(vault: &mut Vault, id: Uuid) -> Result<Removal, DeskError> {
    Ok(vault.update(|data| {
        let removed = removal(data, id).ok_or_else(|| {
            VaultError::NotFound(
                "The data source was removed meanwhile (by another window or process).".into(),
            )
        })?;
        data.data_sources.retain(|d| d.id != id);
        data.consumers.retain(|c| c.data_source != id);
        Ok(removed)
    })?)
}

/// The id of the data source an admin named (the CLI's edge: names are resolved
/// here, once, case-insensitively).
pub fn id_by_name(data: &VaultData, name: &str) -> Result<Uuid, DeskError> {
    Ok(data.data_source(name)?.id)
}

/// The Exchange server a new data source talks to: an on-premises EWS URL when
/// given, Graph for the Graph preset, Exchange Online's EWS otherwise.
pub fn server_for(scopes: &Scopes, ews_url: Option<url::Url>) -> ExchangeServer {
    match (ews_url, scopes) {
        (Some(url), _) => ExchangeServer::Ews(url),
        (None, Scopes::Graph) => ExchangeServer::Graph,
        (None, _) => ExchangeServer::Office365,
    }
}

/// What [`edit`] changed, for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub name: String,
    /// The fields that differ, in the order the dialog shows them.
    pub fields: Vec<&'static str>,
    /// Stored refresh tokens issued under a provider, app registration or account
    /// that changed: the provider will refuse them, so someone signs in again.
    pub tokens_from_before: usize,
}

/// Changes a data source's settings (every rule of a save applies), keeping its
/// tokens and its additional users as stored: an admin fixes a typo without
/// losing a grant.
pub fn edit(vault: &mut Vault, source: DataSource) -> Result<Edited, DeskError> {
    Ok(vault.update(|data| {
        let stored = data
            .data_sources
            .iter()
            .find(|d| d.id == source.id)
            .ok_or_else(|| {
                VaultError::NotFound(
                    "The data source was removed meanwhile (by another window or process).".into(),
                )
            })?;
        let (old, new) = (stored, &source);
        let checks: [(&'static str, bool); 13] = [
            ("name", old.name != new.name.trim()),
            ("provider", old.provider.authority != new.provider.authority),
            (
                "client ID",
                old.provider.client_id != new.provider.client_id,
            ),
            (
                "client secret",
                old.provider
                    .client_secret
                    .as_ref()
                    .map(crate::Secret::expose)
                    != new
                        .provider
                        .client_secret
                        .as_ref()
                        .map(crate::Secret::expose),
            ),
            ("scopes", old.provider.scopes != new.provider.scopes),
            ("account", old.account.email != new.account.email),
            ("Exchange server", old.account.server != new.account.server),
            ("API root", old.account.api_root != new.account.api_root),
            (
                "SMTP server",
                old.account.smtp_upstream != new.account.smtp_upstream,
            ),
            (
                "IMAP server",
                old.account.imap_upstream != new.account.imap_upstream,
            ),
            (
                "mail servers' CA",
                old.account.upstream_ca != new.account.upstream_ca,
            ),
            (
                "refresh-token lifetime",
                old.refresh_rule != new.refresh_rule,
            ),
            ("redirect URI", old.redirect_uri != new.redirect_uri),
        ];
        let fields: Vec<&'static str> = checks
            .into_iter()
            .filter_map(|(field, changed)| changed.then_some(field))
            .collect();
        let registration = fields.contains(&"provider") || fields.contains(&"client ID");
        let tokens_from_before = if registration {
            usize::from(old.token.has_refresh_token())
                + old
                    .users
                    .iter()
                    .filter(|m| m.token.has_refresh_token())
                    .count()
        } else if fields.contains(&"account") {
            usize::from(old.token.has_refresh_token())
        } else {
            0
        };
        let edited = Edited {
            name: new.name.trim().to_string(),
            fields,
            tokens_from_before,
        };
        // The users as stored, not as the caller read them: a mapping added
        // meanwhile by another window stays.
        let mut source = source;
        source.users = old.users.clone();
        data.upsert_data_source(source)?;
        Ok(edited)
    })?)
}
