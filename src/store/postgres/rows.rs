//! The vault's records as rows: one for the settings, one per data source (its
//! account and app registration), per additional user, per token, per consumer
//! and per directory user, and one for the discovery cache. A change is stored as
//! the rows it touched, so storing one rotated token writes one row however many
//! tokens the vault holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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

fn read<T: for<'de> Deserialize<'de>>(
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

/// The vault the rows describe, at `generation`, the rows in any order. A token
/// row without its data source or mapping (and the reverse) is left out rather
/// than invented.
///
/// Rows are grouped by kind in one pass and tokens found by their id in a hash
/// map; mappings are put in order as pointers. Ordered maps of the rows' keys
/// and sorting the records themselves were most of a 10,000-mapping read.
pub fn join<'a>(
    rows: impl IntoIterator<Item = (&'a RowKey, &'a [u8])>,
    generation: u64,
) -> Result<VaultData, VaultError> {
    let mut data = VaultData {
        generation,
        ..VaultData::default()
    };
    let mut sources: Vec<(usize, DataSource)> = Vec::new();
    let mut mapping_rows: Vec<(&RowKey, &[u8])> = Vec::new();
    let mut token_rows: HashMap<&str, (&RowKey, &[u8])> = HashMap::new();
    let mut directory = Vec::new();
    let mut consumers = Vec::new();
    let mut notifiers = Vec::new();
    let mut notices = Vec::new();
    for (key, bytes) in rows {
        match key.kind.as_str() {
            "settings" => data.settings = read(key, bytes)?.1,
            "discovery" => data.discovery = read(key, bytes)?.1,
            "directory" => directory.push(read(key, bytes)?),
            "consumer" => consumers.push(read(key, bytes)?),
            "notifier" => notifiers.push(read(key, bytes)?),
            "notice" => notices.push(read(key, bytes)?),
            "source" => sources.push(read(key, bytes)?),
            "mapping" => mapping_rows.push((key, bytes)),
            "token" => {
                token_rows.insert(key.id.as_str(), (key, bytes));
            }
            _ => {}
        }
    }
    let token = |stem: &str| -> Result<TokenRecord, VaultError> {
        token_rows
            .get(stem)
            .map(|(key, bytes)| token_record(key, bytes))
            .unwrap_or_else(|| Ok(TokenRecord::default()))
    };
    // Each mapping with its token: most of a large read, so parsed on the
    // machine's cores (the rows were opened that way too).
    let parse = |part: &[(&'a RowKey, &'a [u8])]| {
        part.iter()
            .map(|(key, bytes)| {
                let (pos, mut mapping): (usize, UserMapping) = read(key, bytes)?;
                mapping.token = token(&key.id)?;
                let source = key.id.split('.').next().unwrap_or_default();
                Ok((source, pos, Arc::new(mapping)))
            })
            .collect::<Result<Vec<_>, VaultError>>()
    };
    let parsed = on_cores(&mapping_rows, parse)?;
    let mut mappings: HashMap<&str, Vec<(usize, Arc<UserMapping>)>> = HashMap::new();
    for (source, pos, mapping) in parsed {
        mappings.entry(source).or_default().push((pos, mapping));
    }
    sources.sort_by_key(|(pos, _)| *pos);
    for (_, mut source) in sources {
        let sid = source.id.simple().to_string();
        source.token = token(&sid)?;
        let mut users = mappings.remove(sid.as_str()).unwrap_or_default();
        users.sort_unstable_by_key(|(pos, _)| *pos);
        // Exactly as many places as users: grown by doubling, ten thousand
        // mappings left megabytes of unused room in every gateway's copy.
        source.users.reserve_exact(users.len());
        source
            .users
            .extend(users.into_iter().map(|(_, mapping)| mapping));
        data.data_sources.push(source);
    }
    directory.sort_by_key(|(pos, _)| *pos);
    data.directory = directory.into_iter().map(|(_, u)| u).collect();
    consumers.sort_by_key(|(pos, _)| *pos);
    data.consumers = consumers.into_iter().map(|(_, c)| c).collect();
    notifiers.sort_by_key(|(pos, _)| *pos);
    data.notifiers = notifiers.into_iter().map(|(_, n)| n).collect();
    notices.sort_by_key(|(pos, _)| *pos);
    data.notices = notices.into_iter().map(|(_, n)| n).collect();
    Ok(data)
}

/// A read of this many rows is split over the machine's cores.
pub const PARALLEL_ROWS: usize = 2_000;

/// `work` over `items`, in parts on up to four cores when there are many, the
/// results in the items' order.
pub fn on_cores<I: Sync, T: Send, E: Send>(
    items: &[I],
    work: impl Fn(&[I]) -> Result<Vec<T>, E> + Sync,
) -> Result<Vec<T>, E> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if items.len() < PARALLEL_ROWS || threads < 2 {
        return work(items);
    }
    let chunk = items.len().div_ceil(threads);
    let work = &work;
    let parts: Vec<Result<Vec<T>, E>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || work(part)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(items.len());
    for part in parts {
        all.extend(part?);
    }
    Ok(all)
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
            join(rows.iter().map(|(k, v)| (k, v.as_slice())), 4).expect("join"),
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
