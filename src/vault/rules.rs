//! The one set of rules a data source and a mapping must meet before they are
//! stored, whichever face typed them: each problem names the field to fix.

use uuid::Uuid;

use super::model::{AppUser, DataSource, UserMapping};
use super::ops::validate_email;
use crate::identity::config::{ConfigField, check_endpoint_url};

/// The field an admin must change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Provider(ConfigField),
    /// The Exchange account (e-mail address or UPN) of the data-source user.
    Account,
    /// The EWS URL or API root of the Exchange account tab.
    ServerAddress,
    /// The application user of a mapping.
    AppUser,
    /// The Exchange user of a mapping.
    ExchangeUser,
    /// A mapping's own server URL.
    MappingServer,
    /// The browser sign-in's redirect URI.
    RedirectUri,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldProblem {
    pub field: Field,
    pub message: String,
}

impl FieldProblem {
    pub fn new(field: Field, message: impl Into<String>) -> Self {
        FieldProblem {
            field,
            message: message.into(),
        }
    }
}

/// Checks `source` as it would be stored beside `others` (the vault's data sources;
/// the one with the same id is the one it replaces), every mapping included.
pub fn check_data_source(others: &[DataSource], source: &DataSource) -> Result<(), FieldProblem> {
    let name = source.name.trim();
    if name.is_empty() {
        return Err(FieldProblem::new(
            Field::Name,
            "Give the data source a name.",
        ));
    }
    crate::text::check_name("The data source name", name)
        .map_err(|m| FieldProblem::new(Field::Name, m))?;
    if others
        .iter()
        .any(|d| d.id != source.id && d.name.trim().eq_ignore_ascii_case(name))
    {
        return Err(FieldProblem::new(
            Field::Name,
            format!("A data source named '{name}' already exists."),
        ));
    }
    if let Some(problem) = source.provider.validate().into_iter().next() {
        return Err(FieldProblem::new(
            Field::Provider(problem.field),
            problem.message,
        ));
    }
    validate_email(&source.account.email).map_err(|m| FieldProblem::new(Field::Account, m))?;
    for url in source.account_urls() {
        check_endpoint_url(url).map_err(|m| FieldProblem::new(Field::ServerAddress, m))?;
    }
    if let Some(uri) = &source.redirect_uri {
        crate::identity::browser::RedirectUri::parse(uri)
            .map_err(|m| FieldProblem::new(Field::RedirectUri, m))?;
    }
    for mapping in &source.users {
        check_mapping(source, mapping)?;
    }
    Ok(())
}

/// Checks `mapping` as it would be stored in `source` (replacing the mapping with
/// the same id, if any).
pub fn check_mapping(source: &DataSource, mapping: &UserMapping) -> Result<(), FieldProblem> {
    let login = mapping.app_user.login.trim();
    if login.is_empty() {
        return Err(FieldProblem::new(
            Field::AppUser,
            "Choose the application user to map.",
        ));
    }
    check_app_user(&mapping.app_user).map_err(|m| FieldProblem::new(Field::AppUser, m))?;
    validate_email(&mapping.exchange_user)
        .map_err(|m| FieldProblem::new(Field::ExchangeUser, m))?;
    if let Some(url) = &mapping.server_url {
        check_endpoint_url(url).map_err(|m| FieldProblem::new(Field::MappingServer, m))?;
    }
    if mapping_conflict(source, login, Some(mapping.id)) {
        return Err(FieldProblem::new(
            Field::AppUser,
            format!(
                "The application user '{login}' is already mapped in '{}'; edit that mapping instead.",
                source.name.trim()
            ),
        ));
    }
    Ok(())
}

/// Whether another mapping than `except` already maps `login`.
fn mapping_conflict(source: &DataSource, login: &str, except: Option<Uuid>) -> bool {
    source
        .users
        .iter()
        .any(|m| Some(m.id) != except && m.app_user.login.trim().eq_ignore_ascii_case(login))
}

/// Logins and display names end up in terminals, CSV exports and the window.
pub fn check_app_user(user: &AppUser) -> Result<(), String> {
    crate::text::check_name("The login", &user.login)?;
    crate::text::check_name("The display name", &user.display_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Authority, Cloud, ProviderConfig, Scopes};

    fn source(name: &str) -> DataSource {
        DataSource::new(
            name,
            ProviderConfig {
                authority: Authority::microsoft(Cloud::Global, "contoso.onmicrosoft.com"),
                client_id: "11111111-2222-3333-4444-555555555555".into(),
                client_secret: None,
                scopes: Scopes::Graph,
            },
            "sales@contoso.com",
        )
    }

    fn mapping(login: &str, exchange: &str) -> UserMapping {
        UserMapping::new(
            AppUser {
                login: login.into(),
                display_name: String::new(),
                email: String::new(),
            },
            exchange,
        )
    }

    #[test]
    fn a_saved_data_source_has_its_mappings_checked_too() {
        let mut exchange = source("Exchange");
        exchange.push_user(mapping("USER/a", "a@contoso.com"));
        assert_eq!(check_data_source(&[], &exchange), Ok(()));
        exchange.push_user(mapping("user/A", "b@contoso.com"));
        let problem = check_data_source(&[], &exchange).unwrap_err();
        assert_eq!(problem.field, Field::AppUser);
        assert!(problem.message.contains("already mapped"), "{problem}");
        exchange.users.pop();
        exchange.push_user(mapping("USER/b", "not an address"));
        assert_eq!(
            check_data_source(&[], &exchange).unwrap_err().field,
            Field::ExchangeUser
        );
    }

    #[test]
    fn each_problem_names_its_field() {
        let existing = source("Exchange");
        let mut copy = source(" exchange ");
        assert_eq!(
            check_data_source(std::slice::from_ref(&existing), &copy)
                .unwrap_err()
                .field,
            Field::Name
        );
        copy.id = existing.id;
        assert_eq!(check_data_source(&[existing], &copy), Ok(()), "itself");
        let mut nameless = source("");
        assert_eq!(
            check_data_source(&[], &nameless).unwrap_err().field,
            Field::Name
        );
        nameless.name = "B".into();
        nameless.account.email = String::new();
        let problem = check_data_source(&[], &nameless).unwrap_err();
        assert_eq!(problem.field, Field::Account);
        assert!(!problem.message.contains("''"), "{problem}");
        nameless.account.email = "sales@contoso.com".into();
        nameless.provider.client_id = "not a guid".into();
        assert_eq!(
            check_data_source(&[], &nameless).unwrap_err().field,
            Field::Provider(ConfigField::ClientId)
        );
    }

    #[test]
    fn a_mapping_may_keep_its_own_login_when_edited() {
        let mut exchange = source("Exchange");
        let first = mapping("USER/a", "a@contoso.com");
        exchange.push_user(first.clone());
        let mut edited = first.clone();
        edited.exchange_user = "other@contoso.com".into();
        assert_eq!(check_mapping(&exchange, &edited), Ok(()));
        let twin = mapping("USER/A", "a@contoso.com");
        assert_eq!(
            check_mapping(&exchange, &twin).unwrap_err().field,
            Field::AppUser
        );
        let nobody = mapping(" ", "a@contoso.com");
        assert!(
            check_mapping(&exchange, &nobody)
                .unwrap_err()
                .message
                .contains("Choose the application user")
        );
    }
}
