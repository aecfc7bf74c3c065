//! The vault as its rows describe it: the rows of a full read grouped by kind and
//! joined into records, on the machine's cores when there are thousands.

use std::collections::HashMap;
use std::sync::Arc;

use super::rows::{RowKey, read, token_record};
use crate::vault::{DataSource, TokenRecord, UserMapping, VaultData, VaultError};

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
