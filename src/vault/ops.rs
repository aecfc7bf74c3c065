//! Changes to the vault's data with the checks an admin expects: unique names, real
//! e-mail addresses, one mapping per application user.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::VaultError;
use super::model::{AppUser, DataSource, TokenId, TokenRecord, UserMapping, VaultData};
use super::rules::{check_app_user, check_data_source, check_mapping};

pub use super::target::{TokenOwner, TokenTarget, validate_email};

impl VaultData {
    pub fn data_source(&self, name: &str) -> Result<&DataSource, VaultError> {
        self.data_sources
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| not_found(name, self))
    }

    pub fn data_source_mut(&mut self, name: &str) -> Result<&mut DataSource, VaultError> {
        let known = self.names();
        self.data_sources
            .iter_mut()
            .find(|d| d.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| not_found_in(name, &known))
    }

    fn names(&self) -> Vec<String> {
        self.data_sources.iter().map(|d| d.name.clone()).collect()
    }

    pub fn add_data_source(&mut self, mut source: DataSource) -> Result<(), VaultError> {
        if self.data_sources.iter().any(|d| d.id == source.id) {
            return Err(VaultError::Invalid(format!(
                "The data source '{}' is already in the vault.",
                source.name.trim()
            )));
        }
        check_data_source(&self.data_sources, &source)?;
        source.name = source.name.trim().to_string();
        self.data_sources.push(source);
        Ok(())
    }

    /// Adds `source`, or replaces the data source with its id. The stored tokens are
    /// kept: tokens change only through sign-in, renewal and Clear Token.
    pub fn upsert_data_source(&mut self, mut source: DataSource) -> Result<(), VaultError> {
        let Some(index) = self.data_sources.iter().position(|d| d.id == source.id) else {
            return self.add_data_source(source);
        };
        check_data_source(&self.data_sources, &source)?;
        let existing = &self.data_sources[index];
        source.token = existing.token.clone();
        for mapping in source.users.iter_mut() {
            if let Some(old) = existing.users.iter().find(|m| m.id == mapping.id) {
                Arc::make_mut(mapping).token = old.token.clone();
            }
        }
        source.name = source.name.trim().to_string();
        self.data_sources[index] = source;
        Ok(())
    }

    pub fn remove_data_source(&mut self, name: &str) -> Result<DataSource, VaultError> {
        let index = self
            .data_sources
            .iter()
            .position(|d| d.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| not_found(name, self))?;
        Ok(self.data_sources.remove(index))
    }

    pub fn add_mapping(
        &mut self,
        data_source: &str,
        mapping: UserMapping,
    ) -> Result<(), VaultError> {
        let source = self.data_source_mut(data_source)?;
        if source.users.iter().any(|m| m.id == mapping.id) {
            return Err(VaultError::Invalid(format!(
                "This mapping is already in '{}'.",
                source.name
            )));
        }
        check_mapping(source, &mapping)?;
        source.users.push(Arc::new(mapping));
        Ok(())
    }

    pub fn remove_mapping(
        &mut self,
        data_source: &str,
        app_login: &str,
    ) -> Result<UserMapping, VaultError> {
        let source = self.data_source_mut(data_source)?;
        let index = source
            .users
            .iter()
            .position(|m| m.app_user.login.eq_ignore_ascii_case(app_login.trim()))
            .ok_or_else(|| {
                VaultError::NotFound(format!(
                    "'{app_login}' has no mapping in '{}'.",
                    source.name
                ))
            })?;
        Ok(Arc::unwrap_or_clone(source.users.remove(index)))
    }

    pub fn add_app_user(&mut self, user: AppUser) -> Result<(), VaultError> {
        if user.login.trim().is_empty() {
            return Err(VaultError::Invalid(
                "An application user needs a login.".into(),
            ));
        }
        check_app_user(&user).map_err(VaultError::Invalid)?;
        if !user.email.trim().is_empty() {
            validate_email(&user.email).map_err(VaultError::Invalid)?;
        }
        if self
            .directory
            .iter()
            .any(|u| u.login.eq_ignore_ascii_case(user.login.trim()))
        {
            return Err(VaultError::Invalid(format!(
                "The user '{}' is already in the directory.",
                user.login
            )));
        }
        self.directory.push(user);
        Ok(())
    }

    pub fn remove_app_user(&mut self, login: &str) -> Result<AppUser, VaultError> {
        let index = self
            .directory
            .iter()
            .position(|u| u.login.eq_ignore_ascii_case(login.trim()))
            .ok_or_else(|| {
                VaultError::NotFound(format!("'{login}' is not in the user directory."))
            })?;
        Ok(self.directory.remove(index))
    }

    /// Adds users from an import; all or nothing.
    pub fn import_app_users(&mut self, users: Vec<AppUser>) -> Result<usize, VaultError> {
        // A set of known logins: a search per row made large imports quadratic.
        let mut known: std::collections::HashSet<String> = self
            .directory
            .iter()
            .map(|u| u.login.to_lowercase())
            .collect();
        for user in &users {
            check_app_user(user).map_err(VaultError::Invalid)?;
            if !known.insert(user.login.to_lowercase()) {
                return Err(VaultError::Invalid(format!(
                    "The user '{}' is already in the directory; nothing was imported.",
                    user.login
                )));
            }
        }
        let count = users.len();
        self.directory.extend(users);
        Ok(count)
    }

    pub fn token(&self, target: &TokenTarget) -> Result<&TokenRecord, VaultError> {
        let source = self.data_source(&target.data_source)?;
        match &target.app_user {
            None => Ok(&source.token),
            Some(login) => source.mapping(login).map(|m| &m.token).ok_or_else(|| {
                VaultError::NotFound(format!("'{login}' has no mapping in '{}'.", source.name))
            }),
        }
    }

    /// The token and who it belongs to.
    pub fn owner(&self, target: &TokenTarget) -> Result<TokenOwner<'_>, VaultError> {
        let source = self.data_source(&target.data_source)?;
        let mapping = match &target.app_user {
            None => None,
            Some(login) => Some(source.mapping(login).ok_or_else(|| {
                VaultError::NotFound(format!("'{login}' has no mapping in '{}'.", source.name))
            })?),
        };
        Ok(TokenOwner { source, mapping })
    }

    pub fn token_mut(&mut self, target: &TokenTarget) -> Result<&mut TokenRecord, VaultError> {
        let source = self.data_source_mut(&target.data_source)?;
        let name = source.name.clone();
        match &target.app_user {
            None => Ok(&mut source.token),
            Some(login) => source
                .mapping_mut(login)
                .map(|m| &mut m.token)
                .ok_or_else(|| {
                    VaultError::NotFound(format!("'{login}' has no mapping in '{name}'."))
                }),
        }
    }

    /// The id of a named token: names are resolved once, at the edge; everything
    /// that stores a result goes by id, so a rename meanwhile loses nothing.
    pub fn token_id(&self, target: &TokenTarget) -> Result<TokenId, VaultError> {
        let source = self.data_source(&target.data_source)?;
        let mapping = match &target.app_user {
            None => None,
            Some(login) => Some(
                source
                    .mapping(login)
                    .ok_or_else(|| {
                        VaultError::NotFound(format!(
                            "'{login}' has no mapping in '{}'.",
                            source.name
                        ))
                    })?
                    .id,
            ),
        };
        Ok(TokenId {
            source: source.id,
            mapping,
        })
    }

    /// The token with this id and its owner, if both still exist.
    pub fn token_by_id(&self, id: &TokenId) -> Option<TokenOwner<'_>> {
        let source = self.data_sources.iter().find(|d| d.id == id.source)?;
        let mapping = match id.mapping {
            None => None,
            Some(mapping) => Some(&**source.users.iter().find(|m| m.id == mapping)?),
        };
        Some(TokenOwner { source, mapping })
    }

    pub fn token_by_id_mut(&mut self, id: &TokenId) -> Option<&mut TokenRecord> {
        let source = self.data_sources.iter_mut().find(|d| d.id == id.source)?;
        match id.mapping {
            None => Some(&mut source.token),
            Some(mapping) => source
                .users
                .iter_mut()
                .find(|m| m.id == mapping)
                .map(|m| &mut Arc::make_mut(m).token),
        }
    }

    /// Makes token `id`'s mapping the very one `other` holds when that one is this
    /// mapping with `record` as its token: an equal copy is then held once (a
    /// handle takes the store's copy of a record it just wrote or read instead of
    /// making its own). False, and nothing changed, otherwise.
    pub fn share_mapping(&mut self, other: &VaultData, id: &TokenId, record: &TokenRecord) -> bool {
        let Some(mapping) = id.mapping else {
            return false;
        };
        let Some(theirs) = other
            .data_sources
            .iter()
            .find(|d| d.id == id.source)
            .and_then(|d| d.users.iter().find(|m| m.id == mapping))
        else {
            return false;
        };
        if theirs.token != *record {
            return false;
        }
        let Some(ours) = self
            .data_sources
            .iter_mut()
            .find(|d| d.id == id.source)
            .and_then(|d| d.users.iter_mut().find(|m| m.id == mapping))
        else {
            return false;
        };
        if Arc::ptr_eq(ours, theirs) {
            return true;
        }
        // Every field but the token, named, so a new field is not left out.
        let UserMapping {
            id: _,
            app_user,
            exchange_user,
            server_url,
            token: _,
        } = &**theirs;
        if ours.app_user != *app_user
            || ours.exchange_user != *exchange_user
            || ours.server_url != *server_url
        {
            return false;
        }
        *ours = theirs.clone();
        true
    }

    /// Every token record by id, in one pass (for writes that store many results).
    pub fn records_by_id_mut(&mut self) -> std::collections::HashMap<TokenId, &mut TokenRecord> {
        let mut records = std::collections::HashMap::new();
        for source in self.data_sources.iter_mut() {
            let source_id = source.id;
            records.insert(
                TokenId {
                    source: source_id,
                    mapping: None,
                },
                &mut source.token,
            );
            for mapping in source.users.iter_mut() {
                records.insert(
                    TokenId {
                        source: source_id,
                        mapping: Some(mapping.id),
                    },
                    &mut Arc::make_mut(mapping).token,
                );
            }
        }
        records
    }

    /// The Exchange user a token belongs to.
    pub fn expected_account(&self, target: &TokenTarget) -> Result<String, VaultError> {
        let source = self.data_source(&target.data_source)?;
        match &target.app_user {
            None => Ok(source.account.email.clone()),
            Some(login) => source
                .mapping(login)
                .map(|m| m.exchange_user.clone())
                .ok_or_else(|| {
                    VaultError::NotFound(format!("'{login}' has no mapping in '{}'.", source.name))
                }),
        }
    }

    /// Every token with its owner, data-source users first, in one pass: looking
    /// each target up again would cost a search per token.
    pub fn each_token(&self) -> impl Iterator<Item = TokenOwner<'_>> {
        self.data_sources.iter().flat_map(|source| {
            std::iter::once(TokenOwner {
                source,
                mapping: None,
            })
            .chain(source.users.iter().map(move |mapping| TokenOwner {
                source,
                mapping: Some(mapping),
            }))
        })
    }

    /// Every token in the vault with its target, data-source users first.
    pub fn all_targets(&self) -> Vec<TokenTarget> {
        let mut targets = Vec::new();
        for source in &self.data_sources {
            targets.push(TokenTarget::data_source(&source.name));
            for mapping in &source.users {
                targets.push(TokenTarget::user(&source.name, &mapping.app_user.login));
            }
        }
        targets
    }

    pub fn clear_token(
        &mut self,
        target: &TokenTarget,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), VaultError> {
        self.token_mut(target)?.clear(by, now);
        Ok(())
    }
}

/// Every URL that will receive an access token: https, or http on loopback only —
/// the same check the token endpoints pass.
fn not_found(name: &str, data: &VaultData) -> VaultError {
    not_found_in(name, &data.names())
}

fn not_found_in(name: &str, known: &[String]) -> VaultError {
    if known.is_empty() {
        VaultError::NotFound(format!(
            "There is no data source '{name}': the vault has none yet."
        ))
    } else {
        VaultError::NotFound(format!(
            "There is no data source '{name}'. Known: {}.",
            known.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Authority, Cloud, ProviderConfig, Scopes};

    fn provider() -> ProviderConfig {
        ProviderConfig {
            authority: Authority::microsoft(Cloud::Global, "contoso.onmicrosoft.com"),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: None,
            scopes: Scopes::Graph,
        }
    }

    fn app(login: &str) -> AppUser {
        AppUser {
            login: login.into(),
            display_name: login.into(),
            email: String::new(),
        }
    }

    #[test]
    fn emails() {
        for ok in [
            "jane@contoso.com",
            "j.doe+x@mail.contoso.de",
            "SALES@CONTOSO.ONMICROSOFT.COM",
        ] {
            assert!(validate_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "jane",
            "jane@",
            "@contoso.com",
            "jane@contoso",
            "ja ne@contoso.com",
            "a..b@c.com",
            "jane@@contoso.com",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn data_sources_and_mappings_are_checked() {
        let mut data = VaultData::default();
        data.add_data_source(DataSource::new("Exchange", provider(), "sales@contoso.com"))
            .unwrap();
        let err = data
            .add_data_source(DataSource::new("exchange", provider(), "sales@contoso.com"))
            .unwrap_err();
        assert!(err.to_string().contains("already exists"));
        assert!(
            data.add_data_source(DataSource::new("Other", provider(), "not-mail"))
                .is_err()
        );

        data.add_mapping(
            "Exchange",
            UserMapping::new(app("USER/jdoe"), "jane@contoso.com"),
        )
        .unwrap();
        let err = data
            .add_mapping(
                "Exchange",
                UserMapping::new(app("user/JDOE"), "x@contoso.com"),
            )
            .unwrap_err();
        assert!(err.to_string().contains("already mapped"));
        let err = data
            .add_mapping("Exchange", UserMapping::new(app("USER/x"), "nope"))
            .unwrap_err();
        assert!(err.to_string().contains("not an e-mail address"));
        let err = data
            .add_mapping("Nope", UserMapping::new(app("USER/y"), "y@contoso.com"))
            .unwrap_err();
        assert!(err.to_string().contains("Known: Exchange"));

        assert_eq!(data.all_targets().len(), 2);
        assert_eq!(
            data.expected_account(&TokenTarget::user("Exchange", "USER/jdoe"))
                .unwrap(),
            "jane@contoso.com"
        );
        data.remove_mapping("Exchange", "user/jdoe").unwrap();
        assert_eq!(data.all_targets().len(), 1);
    }

    #[test]
    fn import_is_all_or_nothing() {
        let mut data = VaultData::default();
        data.add_app_user(app("a")).unwrap();
        assert!(data.import_app_users(vec![app("b"), app("A")]).is_err());
        assert_eq!(data.directory.len(), 1);
        assert_eq!(data.import_app_users(vec![app("b"), app("c")]).unwrap(), 2);
    }
}
