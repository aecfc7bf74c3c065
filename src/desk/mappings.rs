//! Additional users: application users mapped to Exchange users, added, edited and
//! removed under one set of rules whichever face typed them.

use url::Url;
use uuid::Uuid;

use super::DeskError;
use super::rules::{Field, FieldProblem, check_mapping};
use crate::vault::model::{AppUser, DataSource, UserMapping};
use crate::vault::{Vault, VaultData};

/// A mapping as typed: text fields, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingDraft {
    /// The application user's login (looked up in the directory).
    pub login: String,
    pub exchange_user: String,
    /// Empty: the data source's server.
    pub server_url: String,
    /// The mapping being edited; `None` for a new one.
    pub editing: Option<Uuid>,
}

/// The mapping `draft` describes inside `source`, checked; the application user
/// comes from `directory` when known there. An edited mapping keeps its id and token.
pub fn build_mapping(
    source: &DataSource,
    draft: &MappingDraft,
    directory: &[AppUser],
) -> Result<UserMapping, FieldProblem> {
    let login = draft.login.trim();
    let server_url = match draft.server_url.trim() {
        "" => None,
        text => Some(Url::parse(text).map_err(|e| {
            FieldProblem::new(
                Field::MappingServer,
                format!("The server URL is not a URL ({e})."),
            )
        })?),
    };
    let app_user = directory
        .iter()
        .find(|u| u.login.trim().eq_ignore_ascii_case(login))
        .cloned()
        .unwrap_or_else(|| AppUser {
            login: login.to_string(),
            display_name: String::new(),
            email: String::new(),
        });
    let existing = draft
        .editing
        .and_then(|id| source.users.iter().find(|m| m.id == id));
    let mapping = UserMapping {
        id: existing.map(|m| m.id).unwrap_or_else(Uuid::new_v4),
        app_user,
        exchange_user: draft.exchange_user.trim().to_string(),
        server_url,
        token: existing.map(|m| m.token.clone()).unwrap_or_default(),
    };
    check_mapping(source, &mapping)?;
    Ok(mapping)
}

/// Puts `mapping` into `source`: replaces the one with its id, or adds it.
pub fn put(source: &mut DataSource, mapping: UserMapping) {
    match source.users.iter_mut().find(|m| m.id == mapping.id) {
        Some(slot) => *slot = std::sync::Arc::new(mapping),
        None => source.users.push(std::sync::Arc::new(mapping)),
    }
}

/// Maps a user in the stored data source `source_id` (the CLI's `user add
/// --data-source`): the application user joins the directory when new.
pub fn map_user(
    vault: &mut Vault,
    source_id: Uuid,
    user: AppUser,
    draft: &MappingDraft,
) -> Result<UserMapping, DeskError> {
    Ok(vault.update(|data| {
        ensure_in_directory(data, user)?;
        let directory = data.directory.clone();
        let source = source_mut(data, source_id)?;
        let mapping = build_mapping(source, draft, &directory)?;
        put(source, mapping.clone());
        Ok(mapping)
    })?)
}

/// Removes the mapping of `login` from the data source `source_id`.
pub fn remove_mapping(
    vault: &mut Vault,
    source_id: Uuid,
    login: &str,
) -> Result<UserMapping, DeskError> {
    Ok(vault.update(|data| {
        let name = source_mut(data, source_id)?.name.clone();
        data.remove_mapping(&name, login)
    })?)
}

/// Adds `user` to the directory unless a user with that login is there already.
pub fn ensure_in_directory(
    data: &mut VaultData,
    user: AppUser,
) -> Result<AppUser, crate::vault::VaultError> {
    if let Some(known) = data
        .directory
        .iter()
        .find(|u| u.login.trim().eq_ignore_ascii_case(user.login.trim()))
    {
        return Ok(known.clone());
    }
    let user = AppUser {
        login: user.login.trim().to_string(),
        ..user
    };
    data.add_app_user(user.clone())?;
    Ok(user)
}

fn source_mut(data: &mut VaultData, id: Uuid) -> Result<&mut DataSource, crate::vault::VaultError> {
    data.data_sources
        .iter_mut()
        .find(|d| d.id == id)
        .ok_or_else(|| {
            crate::vault::VaultError::NotFound(
                "The data source was removed meanwhile (by another window or process).".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Authority, Cloud, ProviderConfig, Scopes};

    fn source() -> DataSource {
        DataSource::new(
            "Exchange",
            ProviderConfig {
                authority: Authority::microsoft(Cloud::Global, "contoso.onmicrosoft.com"),
                client_id: "11111111-2222-3333-4444-555555555555".into(),
                client_secret: None,
                scopes: Scopes::Graph,
            },
            "sales@contoso.com",
        )
    }

    fn draft(login: &str, exchange: &str) -> MappingDraft {
        MappingDraft {
            login: login.into(),
            exchange_user: exchange.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_draft_becomes_a_checked_mapping_with_the_directory_user() {
        let directory = vec![AppUser {
            login: "USER/jdoe".into(),
            display_name: "Jane Doe".into(),
            email: "jane@contoso.com".into(),
        }];
        let mut exchange = source();
        let mapping = build_mapping(
            &exchange,
            &draft(" user/jdoe ", "jane@contoso.com"),
            &directory,
        )
        .unwrap();
        assert_eq!(mapping.app_user.display_name, "Jane Doe");
        put(&mut exchange, mapping.clone());

        let twin = build_mapping(&exchange, &draft("USER/JDOE", "x@contoso.com"), &directory);
        assert_eq!(twin.unwrap_err().field, Field::AppUser);

        let mut edit = draft("USER/jdoe", "other@contoso.com");
        edit.editing = Some(mapping.id);
        let edited = build_mapping(&exchange, &edit, &directory).unwrap();
        assert_eq!(
            edited.id, mapping.id,
            "an edit keeps the id (and the token)"
        );
        put(&mut exchange, edited);
        assert_eq!(exchange.users.len(), 1);
        assert_eq!(exchange.users[0].exchange_user, "other@contoso.com");

        let mut bad_url = draft("USER/new", "new@contoso.com");
        bad_url.server_url = "not a url".into();
        assert_eq!(
            build_mapping(&exchange, &bad_url, &directory)
                .unwrap_err()
                .field,
            Field::MappingServer
        );
        let empty = build_mapping(&exchange, &draft("USER/new", ""), &directory).unwrap_err();
        assert_eq!(empty.field, Field::ExchangeUser);
        assert!(
            empty.message.starts_with("Enter the e-mail address"),
            "{empty}"
        );
    }
}
