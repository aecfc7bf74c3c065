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

#[cfg(test)]
pub type Rows = BTreeMap<RowKey, Vec<u8>>;

fn placed(pos: usize, value: &impl Serialize) -> Result<Vec<u8>, VaultError> {
    let value = serde_json::to_value(value).map_err(|e| VaultError::Format(e.to_string()))?;
    serde_json::to_vec(&Placed { pos, value }).map_err(|e| VaultError::Format(e.to_string()))
}

/// The rows of `data`, all of them: the reference the record comparison is
/// tested against.
#[cfg(test)]
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
    for (pos, notifier) in data.notifiers.iter().enumerate() {
        rows.insert(
            RowKey::new("notifier", notifier.id.simple().to_string()),
            placed(pos, notifier)?,
        );
    }
    for (pos, notice) in data.notices.iter().enumerate() {
        rows.insert(RowKey::new("notice", notice.row_id()), placed(pos, notice)?);
    }
    for (pos, source) in data.data_sources.iter().enumerate() {
        let sid = source.id.simple().to_string();
        rows.insert(
            RowKey::new("source", sid.clone()),
            placed(pos, &bare_source(source))?,
        );
        rows.insert(RowKey::new("token", sid.clone()), placed(0, &source.token)?);
        for (upos, mapping) in source.users.iter().enumerate() {
            let stem = format!("{sid}.{}", mapping.id.simple());
            rows.insert(
                RowKey::new("mapping", stem.clone()),
                placed(upos, &bare_mapping(mapping))?,
            );
            rows.insert(RowKey::new("token", stem), placed(0, &mapping.token)?);
        }
    }
    Ok(rows)
}

/// A row read straight into its record (one parse, no intermediate JSON tree).
#[derive(Deserialize)]
struct PlacedAs<T> {
    pos: usize,
    value: T,
}

pub(super) fn read<T: for<'de> Deserialize<'de>>(
    key: &RowKey,
    bytes: &[u8],
) -> Result<(usize, T), VaultError> {
    let placed: PlacedAs<T> = serde_json::from_slice(bytes)
        .map_err(|e| VaultError::Format(format!("row {}/{}: {e}", key.kind, key.id)))?;
    Ok((placed.pos, placed.value))
}

/// A token row's record.
pub fn token_record(key: &RowKey, bytes: &[u8]) -> Result<TokenRecord, VaultError> {
    Ok(read::<TokenRecord>(key, bytes)?.1)
}

/// A token record's row (token rows have no place among siblings).
pub fn token_row(record: &TokenRecord) -> Result<Vec<u8>, VaultError> {
    placed(0, record)
}

fn bare_source(source: &DataSource) -> DataSource {
    DataSource {
        id: source.id,
        name: source.name.clone(),
        provider: source.provider.clone(),
        account: source.account.clone(),
        refresh_rule: source.refresh_rule,
        redirect_uri: source.redirect_uri.clone(),
        token: TokenRecord::default(),
        users: Vec::new(),
    }
}

fn same_source(a: &DataSource, b: &DataSource) -> bool {
    a.id == b.id
        && a.name == b.name
        && a.provider == b.provider
        && a.account == b.account
        && a.refresh_rule == b.refresh_rule
        && a.redirect_uri == b.redirect_uri
}

fn bare_mapping(mapping: &UserMapping) -> UserMapping {
    UserMapping {
        id: mapping.id,
        app_user: mapping.app_user.clone(),
        exchange_user: mapping.exchange_user.clone(),
        server_url: mapping.server_url.clone(),
        token: TokenRecord::default(),
    }
}

fn same_mapping(a: &UserMapping, b: &UserMapping) -> bool {
    a.id == b.id
        && a.app_user == b.app_user
        && a.exchange_user == b.exchange_user
        && a.server_url == b.server_url
}

/// Items by their row id, with their place.
fn by_id<T>(items: &[T], id: impl Fn(&T) -> String) -> BTreeMap<String, (usize, &T)> {
    items
        .iter()
        .enumerate()
        .map(|(pos, item)| (id(item), (pos, item)))
        .collect()
}

/// Rows of one kind, compared by id and place; only those that differ are
/// serialized.
fn compare<T: Serialize>(
    kind: &str,
    before: BTreeMap<String, (usize, &T)>,
    after: BTreeMap<String, (usize, &T)>,
    same: impl Fn(&T, &T) -> bool,
    out: &mut Diff,
) -> Result<(), VaultError> {
    for (id, (pos, value)) in &after {
        let unchanged = before
            .get(id)
            .is_some_and(|(old_pos, old)| old_pos == pos && same(old, value));
        if !unchanged {
            out.written
                .push((RowKey::new(kind, id.clone()), placed(*pos, *value)?));
        }
    }
    for id in before.keys().filter(|id| !after.contains_key(*id)) {
        out.removed.push(RowKey::new(kind, id.clone()));
    }
    Ok(())
}

/// What changed from `before` to `after`, row by row, comparing the records
/// themselves: only changed rows are serialized, so storing one rotated token
/// costs one row's work plus a comparison, not a serialization of the vault.
pub fn changed(before: &VaultData, after: &VaultData) -> Result<Diff, VaultError> {
    let mut out = Diff {
        written: Vec::new(),
        removed: Vec::new(),
    };
    if before.settings != after.settings {
        out.written
            .push((RowKey::new("settings", ""), placed(0, &after.settings)?));
    }
    if before.discovery != after.discovery {
        if after.discovery.is_empty() {
            out.removed.push(RowKey::new("discovery", ""));
        } else {
            out.written
                .push((RowKey::new("discovery", ""), placed(0, &after.discovery)?));
        }
    }
    let login = |u: &crate::vault::AppUser| u.login.to_lowercase();
    compare(
        "directory",
        by_id(&before.directory, login),
        by_id(&after.directory, login),
        |a, b| a == b,
        &mut out,
    )?;
    let consumer = |c: &crate::vault::consumers::Consumer| c.id.to_string();
    compare(
        "consumer",
        by_id(&before.consumers, consumer),
        by_id(&after.consumers, consumer),
        |a, b| a == b,
        &mut out,
    )?;
    let notifier = |n: &crate::vault::notifiers::Notifier| n.id.simple().to_string();
    compare(
        "notifier",
        by_id(&before.notifiers, notifier),
        by_id(&after.notifiers, notifier),
        |a, b| a == b,
        &mut out,
    )?;
    let notice = |n: &crate::vault::notifiers::Notice| n.row_id();
    compare(
        "notice",
        by_id(&before.notices, notice),
        by_id(&after.notices, notice),
        |a, b| a == b,
        &mut out,
    )?;
    let source_id = |s: &DataSource| s.id.simple().to_string();
    let (old_sources, new_sources) = (
        by_id(&before.data_sources, source_id),
        by_id(&after.data_sources, source_id),
    );
    for (sid, (pos, source)) in &new_sources {
        let old = old_sources.get(sid).map(|(p, s)| (*p, *s));
        if !old.is_some_and(|(p, s)| p == *pos && same_source(s, source)) {
            out.written.push((
                RowKey::new("source", sid.clone()),
                placed(*pos, &bare_source(source))?,
            ));
        }
        if old.is_none_or(|(_, s)| s.token != source.token) {
            out.written
                .push((RowKey::token(sid), placed(0, &source.token)?));
        }
        let stem = |m: &std::sync::Arc<UserMapping>| format!("{sid}.{}", m.id.simple());
        // The usual change leaves the users where they were (a token rotated):
        // then each is compared with its counterpart in place, and only a changed
        // one costs more than a comparison.
        if let Some((_, old_source)) = old
            && old_source.users.len() == source.users.len()
            && old_source
                .users
                .iter()
                .zip(&source.users)
                .all(|(a, b)| a.id == b.id)
        {
            for (upos, (was, mapping)) in old_source.users.iter().zip(&source.users).enumerate() {
                if !same_mapping(was, mapping) {
                    out.written.push((
                        RowKey::new("mapping", stem(mapping)),
                        placed(upos, &bare_mapping(mapping))?,
                    ));
                }
                if was.token != mapping.token {
                    out.written
                        .push((RowKey::token(&stem(mapping)), placed(0, &mapping.token)?));
                }
            }
            continue;
        }
        let old_users = old.map(|(_, s)| by_id(&s.users, stem)).unwrap_or_default();
        let new_users = by_id(&source.users, stem);
        for (stem, (upos, mapping)) in &new_users {
            let was = old_users.get(stem);
            if !was.is_some_and(|(p, m)| p == upos && same_mapping(m, mapping)) {
                out.written.push((
                    RowKey::new("mapping", stem.clone()),
                    placed(*upos, &bare_mapping(mapping))?,
                ));
            }
            if was.is_none_or(|(_, m)| m.token != mapping.token) {
                out.written
                    .push((RowKey::token(stem), placed(0, &mapping.token)?));
            }
        }
        for stem in old_users.keys().filter(|k| !new_users.contains_key(*k)) {
            out.removed.push(RowKey::new("mapping", stem.clone()));
            out.removed.push(RowKey::token(stem));
        }
    }
    for (sid, (_, source)) in old_sources
        .iter()
        .filter(|(k, _)| !new_sources.contains_key(*k))
    {
        out.removed.push(RowKey::new("source", sid.clone()));
        out.removed.push(RowKey::token(sid));
        for mapping in &source.users {
            let stem = format!("{sid}.{}", mapping.id.simple());
            out.removed.push(RowKey::new("mapping", stem.clone()));
            out.removed.push(RowKey::token(&stem));
        }
    }
    Ok(out)
}

/// What a change did to the rows: written (new or changed) and removed.
pub struct Diff {
    pub written: Vec<(RowKey, Vec<u8>)>,
    pub removed: Vec<RowKey>,
}

#[cfg(test)]
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
                source.push_user(mapping);
            }
            data.data_sources.push(source);
        }
        for name in ["ops", "admins"] {
            let notifier = crate::vault::notifiers::Notifier {
                id: uuid::Uuid::new_v4(),
                name: name.into(),
                channel: crate::vault::notifiers::Channel::Webhook {
                    url: Secret::new(format!("https://hooks.example.com/{name}")),
                    format: crate::vault::notifiers::WebhookFormat::Slack,
                },
                created_at: chrono::Utc::now(),
                failing: None,
            };
            data.notices.push(crate::vault::notifiers::Notice {
                notifier: notifier.id,
                subject: "digest".into(),
                said: "2026-12-04".into(),
                at: chrono::Utc::now(),
            });
            data.notifiers.push(notifier);
        }
        data.generation = 4;
        data
    }

    #[test]
    fn rows_join_back_into_the_same_vault_in_the_same_order() {
        let data = sample();
        let rows = split(&data).expect("split");
        assert_eq!(rows.keys().filter(|k| k.kind == "token").count(), 6);
        assert_eq!(
            super::super::join::join(rows.iter().map(|(k, v)| (k, v.as_slice())), 4).expect("join"),
            data
        );
    }

    /// The record comparison finds exactly what comparing every serialized row finds.
    #[test]
    fn comparing_records_finds_what_comparing_rows_finds() {
        let data = sample();
        let mut after = data.clone();
        after.data_sources[0].user_mut(1).token.revision += 1;
        after.data_sources[0].user_mut(0).exchange_user = "moved@contoso.com".into();
        after.data_sources[1].users.remove(0);
        after.data_sources[1].name = "A2".into();
        after.settings.keepalive_interval_hours += 1;
        after.notices[0].said = "2026-12-05".into();
        after.notices.remove(1);
        after.notifiers[1].name = "team".into();
        let mut by_rows = diff(
            &split(&data).expect("split"),
            &split(&after).expect("split"),
        );
        let mut by_records = changed(&data, &after).expect("changed");
        for d in [&mut by_rows, &mut by_records] {
            d.written.sort();
            d.removed.sort();
        }
        assert_eq!(by_records.written, by_rows.written);
        assert_eq!(by_records.removed, by_rows.removed);
    }

    #[test]
    fn one_rotated_token_is_one_written_row() {
        let data = sample();
        let before = split(&data).expect("split");
        let mut changed = data.clone();
        changed.data_sources[1].user_mut(0).token.refresh_token = Some(Secret::new("rt-new"));
        changed.data_sources[1].user_mut(0).token.revision += 1;
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
