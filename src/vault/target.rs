//! Which token an action is about (a data source's user or one additional user),
//! who owns it, and the e-mail check every owner's account passes.

use super::model::{DataSource, TokenId, TokenRecord, UserMapping};
use crate::identity::config::is_domain_name;

/// Which token: the data-source user's, or one additional user's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenTarget {
    pub data_source: String,
    /// The application user's login; `None` for the data-source user.
    pub app_user: Option<String>,
}

impl TokenTarget {
    pub fn data_source(name: impl Into<String>) -> Self {
        TokenTarget {
            data_source: name.into(),
            app_user: None,
        }
    }

    pub fn user(name: impl Into<String>, app_user: impl Into<String>) -> Self {
        TokenTarget {
            data_source: name.into(),
            app_user: Some(app_user.into()),
        }
    }
}

impl std::fmt::Display for TokenTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.app_user {
            Some(user) => write!(f, "{} › {user}", self.data_source),
            None => f.write_str(&self.data_source),
        }
    }
}

/// A token and who it belongs to: a data source's user, or one of its mappings.
#[derive(Debug, Clone, Copy)]
pub struct TokenOwner<'a> {
    pub source: &'a DataSource,
    pub mapping: Option<&'a UserMapping>,
}

impl<'a> TokenOwner<'a> {
    pub fn record(&self) -> &'a TokenRecord {
        self.mapping.map_or(&self.source.token, |m| &m.token)
    }

    /// The Exchange user who signs in for this token.
    pub fn account(&self) -> &'a str {
        self.mapping
            .map_or(self.source.account.email.as_str(), |m| {
                m.exchange_user.as_str()
            })
    }

    pub fn id(&self) -> TokenId {
        TokenId {
            source: self.source.id,
            mapping: self.mapping.map(|m| m.id),
        }
    }

    pub fn target(&self) -> TokenTarget {
        match self.mapping {
            Some(m) => TokenTarget::user(&self.source.name, &m.app_user.login),
            None => TokenTarget::data_source(&self.source.name),
        }
    }
}

/// An e-mail address or UPN: `local@domain.tld`.
pub fn validate_email(value: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(
            "Enter the e-mail address or user principal name (like jane.doe@contoso.com).".into(),
        );
    }
    let problem = || {
        format!(
            "'{value}' is not an e-mail address or user principal name (like jane.doe@contoso.com)."
        )
    };
    let (local, domain) = value.split_once('@').ok_or_else(problem)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok || !is_domain_name(&domain.to_ascii_lowercase()) {
        return Err(problem());
    }
    Ok(())
}
