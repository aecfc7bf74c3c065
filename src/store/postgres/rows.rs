//! The vault's records as rows: one for the settings, one per data source (its
//! account and app registration), per additional user, per token, per consumer
//! and per directory user, and one for the discovery cache. A change is stored as
//! the rows it touched, so storing one rotated token writes one row however many
//! tokens the vault holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::vault::{DataSource, TokenRecord, UserMapping, VaultData, VaultError};

/// A row's place: its kind and its id within the vault.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    pub kind: String,
    pub id: String,
}

impl RowKey {
    fn new(kind: &str, id: impl Into<String>) -> Self {
        RowKey {
            kind: kind.to_string(),
            id: id.into(),
        }
    }

    /// The row that holds token `stem` (`TokenId::file_stem`), for its lock.
    pub fn token(stem: &str) -> Self {
        RowKey::new("token", stem)
    }
}

/// A row's JSON with its position among its siblings (data sources and users keep
/// the order they were added in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Placed {
    pos: usize,
    value: Value,
}

pub type Rows = BTreeMap<RowKey, Vec<u8>>;

fn placed(pos: usize, value: &impl Serialize) -> Result<Vec<u8>, VaultError> {
    let value = serde_json::to_value(value).map_err(|e| VaultError::Format(e.to_string()))?;
    serde_json::to_vec(&Placed { pos, value }).map_err(|e| VaultError::Format(e.to_string()))
}

/// The rows of `data`.
pub fn split(data: &VaultData) -> Result<Rows, VaultError> {
    let mut rows = Rows::new();
    rows.insert(RowKey::new("settings", ""), placed(0, &data.settings)?);
    if !data.discovery.is_empty() {
        rows.insert(RowKey::new("discovery", ""), placed(0, &data.discovery)?);
    }
    for (pos, user) in data.directory.iter().enumerate() {
        rows.insert(
            RowKey::new("directory", user.login.to_lowercase()),
            placed(pos, user)?,
        );
    }
    for (pos, consumer) in data.consumers.iter().enumerate() {
        rows.insert(
            RowKey::new("consumer", consumer.id.to_string()),
            placed(pos, consumer)?,
        );
    }
    for (pos, source) in data.data_sources.iter().enumerate() {
        let sid = source.id.simple().to_string();
        let bare = DataSource {
            token: TokenRecord::default(),
            users: Vec::new(),
            ..source.clone()
        };
        rows.insert(RowKey::new("source", sid.clone()), placed(pos, &bare)?);
        rows.insert(RowKey::new("token", sid.clone()), placed(0, &source.token)?);
        for (upos, mapping) in source.users.iter().enumerate() {
            let stem = format!("{sid}.{}", mapping.id.simple());
            let bare = UserMapping {
                token: TokenRecord::default(),
                ..mapping.clone()
            };
            rows.insert(RowKey::new("mapping", stem.clone()), placed(upos, &bare)?);
            rows.insert(RowKey::new("token", stem), placed(0, &mapping.token)?);
        }
    }
    Ok(rows)
}

fn read<T: for<'de> Deserialize<'de>>(
    key: &RowKey,
    bytes: &[u8],
) -> Result<(usize, T), VaultError> {
    let placed: Placed = serde_json::from_slice(bytes)
        .map_err(|e| VaultError::Format(format!("row {}/{}: {e}", key.kind, key.id)))?;
    let value = serde_json::from_value(placed.value)
        .map_err(|e| VaultError::Format(format!("row {}/{}: {e}", key.kind, key.id)))?;
    Ok((placed.pos, value))
}

/// The vault the rows describe, at `generation`. A token row without its data
/// source or mapping (and the reverse) is left out rather than invented.
pub fn join(rows: &Rows, generation: u64) -> Result<VaultData, VaultError> {
    let mut data = VaultData {
        generation,
        ..VaultData::default()
    };
    let mut sources: Vec<(usize, DataSource)> = Vec::new();
    let mut mappings: BTreeMap<String, Vec<(usize, UserMapping)>> = BTreeMap::new();
    let mut directory = Vec::new();
    let mut consumers = Vec::new();
    for (key, bytes) in rows {
        match key.kind.as_str() {
            "settings" => data.settings = read(key, bytes)?.1,
            "discovery" => data.discovery = read(key, bytes)?.1,
            "directory" => directory.push(read(key, bytes)?),
            "consumer" => consumers.push(read(key, bytes)?),
            "source" => sources.push(read(key, bytes)?),
            "mapping" => {
                let source = key.id.split('.').next().unwrap_or_default().to_string();
                mappings.entry(source).or_default().push(read(key, bytes)?);
            }
            _ => {}
        }
    }
    let token = |stem: String| -> Result<TokenRecord, VaultError> {
        let key = RowKey::token(&stem);
        rows.get(&key)
            .map(|bytes| read(&key, bytes).map(|(_, t)| t))
            .unwrap_or_else(|| Ok(TokenRecord::default()))
    };
    sources.sort_by_key(|(pos, _)| *pos);
    for (_, mut source) in sources {
        let sid = source.id.simple().to_string();
        source.token = token(sid.clone())?;
        let mut users = mappings.remove(&sid).unwrap_or_default();
        users.sort_by_key(|(pos, _)| *pos);
        for (_, mut mapping) in users {
            mapping.token = token(format!("{sid}.{}", mapping.id.simple()))?;
            source.users.push(mapping);
        }
        data.data_sources.push(source);
    }
    directory.sort_by_key(|(pos, _)| *pos);
    data.directory = directory.into_iter().map(|(_, u)| u).collect();
    consumers.sort_by_key(|(pos, _)| *pos);
    data.consumers = consumers.into_iter().map(|(_, c)| c).collect();
    Ok(data)
}

/// What a change did to the rows: written (new or changed) and removed.
pub struct Diff {
    pub written: Vec<(RowKey, Vec<u8>)>,
    pub removed: Vec<RowKey>,
}

pub fn diff(before: &Rows, after: &Rows) -> Diff {
    let written = after
        .iter()
        .filter(|(key, bytes)| before.get(*key) != Some(*bytes))
        .map(|(key, bytes)| (key.clone(), bytes.clone()))
        .collect();
    let removed = before
        .keys()
        .filter(|key| !after.contains_key(*key))
        .cloned()
        .collect();
    Diff { written, removed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use crate::identity::{Authority, ProviderConfig, Scopes};
    use crate::vault::AppUser;

    fn sample() -> VaultData {
        let config = ProviderConfig {
            authority: Authority::Issuer {
                url: "https://id.example.test/".parse().expect("url"),
            },
            client_id: "client".into(),
            client_secret: Some(Secret::new("client-secret")),
            scopes: Scopes::Custom("openid offline_access".into()),
        };
        let mut data = VaultData::default();
        for name in ["B", "A"] {
            let mut source = DataSource::new(name, config.clone(), "sales@contoso.com");
            source.token.refresh_token = Some(Secret::new(format!("rt-{name}")));
            for login in ["z", "y"] {
                let mut mapping = UserMapping::new(
                    AppUser {
                        login: login.into(),
                        display_name: login.into(),
                        email: format!("{login}@contoso.com"),
                    },
                    format!("{login}@contoso.com"),
                );
                mapping.token.refresh_token = Some(Secret::new(format!("rt-{name}-{login}")));
                source.users.push(mapping);
            }
            data.data_sources.push(source);
        }
        data.generation = 4;
        data
    }

    #[test]
    fn rows_join_back_into_the_same_vault_in_the_same_order() {
        let data = sample();
        let rows = split(&data).expect("split");
        assert_eq!(rows.keys().filter(|k| k.kind == "token").count(), 6);
        assert_eq!(join(&rows, 4).expect("join"), data);
    }

    #[test]
    fn one_rotated_token_is_one_written_row() {
        let data = sample();
        let before = split(&data).expect("split");
        let mut changed = data.clone();
        changed.data_sources[1].users[0].token.refresh_token = Some(Secret::new("rt-new"));
        changed.data_sources[1].users[0].token.revision += 1;
        let diff = diff(&before, &split(&changed).expect("split"));
        assert_eq!(diff.written.len(), 1);
        assert_eq!(diff.written[0].0.kind, "token");
        assert!(diff.removed.is_empty());
        let mut fewer = data;
        fewer.data_sources.remove(0);
        let diff = super::diff(&before, &split(&fewer).expect("split"));
        assert_eq!(
            diff.removed.len(),
            6,
            "the source, its two users and three tokens"
        );
    }
}
