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
