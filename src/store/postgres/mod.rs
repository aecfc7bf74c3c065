//! The shared vault: one vault in PostgreSQL for every desk and gateway of an
//! organisation, behind the same `vault::Backend` as the file.
//! - One row per record (`rows.rs`), each sealed with the vault's data key and
//!   bound to its place and revision (`seal.rs`); the data key only wrapped.
//! - A change is one transaction under the vault row's lock: the rows changed since
//!   this process last read are fetched, the change applied, and only the rows it
//!   touched written, each compare-and-swapped on its revision.
//! - A token's lock is a lease row, renewed while its holder lives and gone at
//!   most 30 s after it died; the revision checks of the guarded path fence a
//!   holder whose lease lapsed. No transaction stays open across a provider call.
//! - Rotated tokens that cannot reach the database go to a rescue file in this
//!   machine's folder, sealed with the data key, and are merged at the next write.
//!
//! The driver is async; the `Backend` interface is not. The store runs its own
//! small runtime, and each call waits for its answer on a channel, so it can be
//! called from plain threads and from inside the callers' runtimes alike.

mod connect;
mod rows;
mod schema;
mod seal;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use connect::Target;
pub use schema::newest as newest_schema;

use crate::vault::backend::{Backend, Change, TokenGuard};
use crate::vault::crypto::{Header, KdfParams, KeyKind, VaultKey};
use crate::vault::rescue::{self, RescueEntry};
use crate::vault::reserve::WriteReservation;
use crate::vault::token_lock::LockFailure;
use crate::vault::{KeySource, TokenId, VaultData, VaultError};
use rows::{RowKey, Rows};

/// A token lock's lease: renewed every third of it while the holder lives.
pub const LEASE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("The database connection string cannot be used: {detail}.")]
    Url { detail: String },
    #[error("Could not reach the shared vault's database {target}: {detail}")]
    Connect { target: String, detail: String },
    #[error(
        "The shared vault's database has schema version {found}, newer than this tokendesk knows ({known}). Update tokendesk on this machine; nothing was written."
    )]
    FutureSchema { found: i32, known: i32 },
    #[error(
        "The database holds no shared vault yet: create one with `tokendesk vault migrate --to …`."
    )]
    NoVault,
    #[error("The database already holds a shared vault; join it instead of creating another.")]
    VaultExists,
    #[error(
        "Neither this machine's keyring nor the passphrase opens the shared vault's key. Give the vault's passphrase (TOKENDESK_PASSPHRASE or --passphrase-file)."
    )]
    NoKey,
    #[error("The shared vault's database answered with an error: {0}")]
    Sql(String),
    #[error("The database did not answer in time ({0}).")]
    Stopped(String),
    #[error("{0}")]
    Records(String),
}

impl From<VaultError> for StoreError {
    fn from(error: VaultError) -> Self {
        StoreError::Records(error.to_string())
    }
}

/// The driver's error without anything but its text (it never holds a password).
pub(crate) fn plain(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        StoreError::Sql(plain(&error))
    }
}

impl From<StoreError> for VaultError {
    fn from(error: StoreError) -> Self {
        VaultError::Invalid(error.to_string())
    }
}

/// The rows as this process last read them, with their revisions.
#[derive(Default)]
struct Cache {
    generation: u64,
    rows: Rows,
    revisions: BTreeMap<RowKey, i64>,
    /// Rows whose seal did not open (tampered or swapped): named, never served.
    refused: BTreeMap<RowKey, String>,
    /// The records the rows make, while no other process changed any since.
    joined: Option<VaultData>,
}

struct Shared {
    target: Target,
    vault: Uuid,
    key: VaultKey,
    client: tokio::sync::Mutex<Option<Client>>,
    cache: Mutex<Cache>,
}

pub struct PostgresStore {
    folder: PathBuf,
    shared: Arc<Shared>,
    runtime: Arc<OwnRuntime>,
    passphrase_protected: bool,
}

/// The store's own runtime. Dropped without waiting for its tasks, so a store
/// may be dropped inside the caller's runtime (which a plain runtime forbids).
pub(crate) struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for OwnRuntime {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("the runtime lives until drop")
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

fn runtime() -> Result<OwnRuntime, StoreError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tokendesk-store")
        .enable_all()
        .build()
        .map(|runtime| OwnRuntime(Some(runtime)))
        .map_err(|e| StoreError::Stopped(e.to_string()))
}

/// Runs `work` on the store's runtime and waits for it, from any thread.
fn run<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    work: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (answer, wait) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = answer.send(work.await);
    });
    wait.recv_timeout(Duration::from_secs(120))
        .map_err(|e| StoreError::Stopped(e.to_string()))?
}

impl Shared {
    /// The connection, opened again when it was lost.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, StoreError> {
        let mut client = self.client.lock().await;
        if client.as_ref().is_none_or(Client::is_closed) {
            let mut fresh = self.target.connect().await?;
            schema::ensure(&mut fresh).await?;
            *client = Some(fresh);
        }
        Ok(client)
    }

    fn open_row(&self, key: &RowKey, revision: i64, sealed: &[u8]) -> Option<Vec<u8>> {
        seal::open_row(&self.key, self.vault, &key.kind, &key.id, revision, sealed)
            .map(|p| p.to_vec())
    }

    /// Brings the cache up to the database's generation with the rows changed since.
    async fn catch_up(
        &self,
        db: &impl tokio_postgres::GenericClient,
        generation: u64,
    ) -> Result<(), StoreError> {
        let since = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .generation;
        if generation == since {
            return Ok(());
        }
        let changed = db
            .query(
                "SELECT kind, id, revision, sealed FROM tokendesk_records WHERE vault = $1 AND changed_in > $2",
                &[&self.vault, &i64::try_from(since).unwrap_or(i64::MAX)],
            )
            .await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if generation < cache.generation {
            // A database restored from an older backup: read everything again.
            *cache = Cache::default();
        }
        for row in changed {
            let key = RowKey {
                kind: row.get(0),
                id: row.get(1),
            };
            let revision: i64 = row.get(2);
            let sealed: Option<Vec<u8>> = row.get(3);
            cache.refused.remove(&key);
            match sealed {
                None => {
                    cache.rows.remove(&key);
                    cache.revisions.insert(key, revision);
                }
                Some(sealed) => match self.open_row(&key, revision, &sealed) {
                    Some(plain) => {
                        cache.rows.insert(key.clone(), plain);
                        cache.revisions.insert(key, revision);
                    }
                    None => {
                        tracing::error!(kind = %key.kind, id = %key.id, "a shared-vault row does not open with the vault's key: tampered with or swapped; it is not served");
                        cache.rows.remove(&key);
                        cache.revisions.insert(key.clone(), revision);
                        cache.refused.insert(
                            key.clone(),
                            format!("the {} record {} was changed outside tokendesk (its seal does not open); it is not used", key.kind, key.id),
                        );
                    }
                },
            }
        }
        cache.generation = generation;
        cache.joined = None;
        Ok(())
    }

    /// The vault's generation as the database has it now.
    async fn generation(&self) -> Result<u64, StoreError> {
        let guard = self.client().await?;
        let db = guard
            .as_ref()
            .ok_or_else(|| StoreError::Stopped("no connection".into()))?;
        let generation: i64 = db
            .query_one(
                "SELECT generation FROM tokendesk_vault WHERE id = $1",
                &[&self.vault],
            )
            .await?
            .get(0);
        Ok(u64::try_from(generation).unwrap_or(0))
    }

    async fn read(&self) -> Result<VaultData, StoreError> {
        let generation = self.generation().await?;
        let guard = self.client().await?;
        let db = guard
            .as_ref()
            .ok_or_else(|| StoreError::Stopped("no connection".into()))?;
        self.catch_up(db, generation).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(joined) = &cache.joined {
            return Ok(joined.clone());
        }
        let joined = rows::join(&cache.rows, cache.generation)?;
        cache.joined = Some(joined.clone());
        Ok(joined)
    }

    /// One change in one transaction under the vault row's lock. The newest records
    /// go to the caller, which applies its change on its own thread and sends the
    /// result back (`None`: the change refused, nothing is written).
    async fn update(
        &self,
        newest: std::sync::mpsc::SyncSender<Result<VaultData, StoreError>>,
        changed: tokio::sync::oneshot::Receiver<Option<VaultData>>,
    ) -> Result<Option<VaultData>, StoreError> {
        let mut guard = match self.client().await {
            Ok(guard) => guard,
            Err(e) => {
                let _ = newest.send(Err(StoreError::Stopped(e.to_string())));
                return Err(e);
            }
        };
        let db = guard
            .as_mut()
            .ok_or_else(|| StoreError::Stopped("no connection".into()))?;
        let transaction = db.transaction().await?;
        let locked = async {
            let generation: i64 = transaction
                .query_one(
                    "SELECT generation FROM tokendesk_vault WHERE id = $1 FOR UPDATE",
                    &[&self.vault],
                )
                .await?
                .get(0);
            self.catch_up(&transaction, u64::try_from(generation).unwrap_or(0))
                .await?;
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let before = match cache.joined.take() {
                Some(joined) => joined,
                None => rows::join(&cache.rows, cache.generation)?,
            };
            Ok::<_, StoreError>((generation, before))
        }
        .await;
        let (generation, before) = match locked {
            Ok((generation, before)) => {
                let _ = newest.send(Ok(before.clone()));
                (generation, before)
            }
            Err(e) => {
                let _ = newest.send(Err(StoreError::Stopped(e.to_string())));
                return Err(e);
            }
        };
        let Ok(Some(mut data)) = changed.await else {
            // Refused by the change (or its caller gone): the transaction rolls back.
            return Ok(None);
        };
        let next = generation + 1;
        data.generation = u64::try_from(next).unwrap_or(0);
        let diff = rows::changed(&before, &data)?;
        let mut written = Vec::new();
        for (key, plain) in &diff.written {
            let old = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .revisions
                .get(key)
                .copied();
            let revision = old.unwrap_or(0) + 1;
            let sealed =
                seal::seal_row(&self.key, self.vault, &key.kind, &key.id, revision, plain)?;
            let stored = transaction
                .execute(
                    "INSERT INTO tokendesk_records (vault, kind, id, revision, changed_in, sealed)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (vault, kind, id) DO UPDATE
                       SET revision = EXCLUDED.revision, changed_in = EXCLUDED.changed_in, sealed = EXCLUDED.sealed
                       WHERE tokendesk_records.revision = $7",
                    &[&self.vault, &key.kind, &key.id, &revision, &next, &sealed, &old.unwrap_or(0)],
                )
                .await?;
            if stored != 1 {
                return Err(StoreError::Sql(format!(
                    "the {} record {} changed under this write; nothing was stored",
                    key.kind, key.id
                )));
            }
            written.push((key.clone(), revision, plain.clone()));
        }
        let mut removed = Vec::new();
        for key in &diff.removed {
            let old = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .revisions
                .get(key)
                .copied()
                .unwrap_or(0);
            transaction
                .execute(
                    "UPDATE tokendesk_records SET revision = $4, changed_in = $5, sealed = NULL
                     WHERE vault = $1 AND kind = $2 AND id = $3",
                    &[&self.vault, &key.kind, &key.id, &(old + 1), &next],
                )
                .await?;
            removed.push((key.clone(), old + 1));
        }
        transaction
            .execute(
                "UPDATE tokendesk_vault SET generation = $2 WHERE id = $1",
                &[&self.vault, &next],
            )
            .await?;
        transaction
            .execute(
                "SELECT pg_notify('tokendesk_changes', $1)",
                &[&next.to_string()],
            )
            .await?;
        transaction.commit().await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for (key, revision, plain) in written {
            cache.rows.insert(key.clone(), plain);
            cache.revisions.insert(key, revision);
        }
        for (key, revision) in removed {
            cache.rows.remove(&key);
            cache.revisions.insert(key, revision);
        }
        cache.generation = data.generation;
        cache.joined = Some(data.clone());
        Ok(Some(data))
    }
}

impl PostgresStore {
    /// Creates the shared vault in the database at `url`, empty, its data key
    /// wrapped under the passphrase of `keys` and under this machine's keyring.
    pub fn create(
        folder: &Path,
        url: &str,
        keys: &KeySource,
    ) -> Result<(Self, VaultData), VaultError> {
        let target = Target::parse(url)?;
        let runtime = Arc::new(runtime()?);
        let vault = Uuid::new_v4();
        let key: VaultKey = zeroize::Zeroizing::new(rand::random());
        let kdf = KdfParams {
            salt: rand::random(),
            ..keys.kdf_for_new
        };
        let passphrase = keys.passphrase_key(&kdf)?;
        let mut wrapped = vec![(
            "passphrase".to_string(),
            seal::wrap_key(&passphrase, vault, "passphrase", &key)?,
        )];
        if let Ok((machine, machine_key)) = keys.keyring().and_then(|k| k.create_key()) {
            let holder = format!("machine:{machine}");
            wrapped.push((
                holder.clone(),
                seal::wrap_key(&machine_key, vault, &holder, &key)?,
            ));
        }
        let kdf_json = kdf_json(&kdf);
        let connect_target = target.clone();
        run(&runtime, async move {
            let mut client = connect_target.connect().await?;
            schema::ensure(&mut client).await?;
            let transaction = client.transaction().await?;
            transaction
                .execute("LOCK TABLE tokendesk_vault IN EXCLUSIVE MODE", &[])
                .await?;
            let existing: i64 = transaction
                .query_one("SELECT count(*) FROM tokendesk_vault", &[])
                .await?
                .get(0);
            if existing > 0 {
                return Err(StoreError::VaultExists);
            }
            transaction
                .execute(
                    "INSERT INTO tokendesk_vault (id, generation, kdf) VALUES ($1, 0, $2)",
                    &[&vault, &kdf_json],
                )
                .await?;
            for (holder, bytes) in &wrapped {
                transaction
                    .execute(
                        "INSERT INTO tokendesk_keys (vault, holder, wrapped) VALUES ($1, $2, $3)",
                        &[&vault, holder, bytes],
                    )
                    .await?;
            }
            transaction.commit().await?;
            Ok(())
        })?;
        let store = PostgresStore::with(folder, target, vault, key, runtime, true);
        let data = store.update(&mut |_| Ok(()))?;
        Ok((store, data))
    }

    /// Opens the shared vault in the database at `url` with this machine's keyring
    /// key or the passphrase of `keys`.
    pub fn open(
        folder: &Path,
        url: &str,
        keys: &KeySource,
    ) -> Result<(Self, VaultData), VaultError> {
        let target = Target::parse(url)?;
        let runtime = Arc::new(runtime()?);
        let connect_target = target.clone();
        let (vault, kdf, wrapped) = run(&runtime, async move {
            let mut client = connect_target.connect().await?;
            schema::ensure(&mut client).await?;
            let row = client
                .query_opt("SELECT id, kdf FROM tokendesk_vault LIMIT 1", &[])
                .await?
                .ok_or(StoreError::NoVault)?;
            let vault: Uuid = row.get(0);
            let kdf: serde_json::Value = row.get(1);
            let wrapped: Vec<(String, Vec<u8>)> = client
                .query(
                    "SELECT holder, wrapped FROM tokendesk_keys WHERE vault = $1",
                    &[&vault],
                )
                .await?
                .into_iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            Ok((vault, kdf, wrapped))
        })?;
        let key = unwrap_data_key(keys, vault, &kdf, &wrapped)?;
        let store = PostgresStore::with(folder, target, vault, key, runtime, true);
        let data = store.read()?;
        Ok((store, data))
    }

    fn with(
        folder: &Path,
        target: Target,
        vault: Uuid,
        key: VaultKey,
        runtime: Arc<OwnRuntime>,
        passphrase_protected: bool,
    ) -> Self {
        PostgresStore {
            folder: folder.to_path_buf(),
            shared: Arc::new(Shared {
                target,
                vault,
                key,
                client: tokio::sync::Mutex::new(None),
                cache: Mutex::new(Cache::default()),
            }),
            runtime,
            passphrase_protected,
        }
    }

    /// Wraps the data key for this machine's keyring too, so that opening the
    /// vault here needs no passphrase from now on. False when there is no keyring.
    pub fn remember_machine(&self, keys: &KeySource) -> Result<bool, VaultError> {
        let Ok((machine, machine_key)) = keys.keyring().and_then(|k| k.create_key()) else {
            return Ok(false);
        };
        let holder = format!("machine:{machine}");
        let wrapped = seal::wrap_key(&machine_key, self.shared.vault, &holder, &self.shared.key)?;
        let shared = self.shared.clone();
        run(&self.runtime, async move {
            let guard = shared.client().await?;
            let db = guard
                .as_ref()
                .ok_or_else(|| StoreError::Stopped("no connection".into()))?;
            db.execute(
                "INSERT INTO tokendesk_keys (vault, holder, wrapped) VALUES ($1, $2, $3)",
                &[&shared.vault, &holder, &wrapped],
            )
            .await?;
            Ok(())
        })?;
        Ok(true)
    }

    /// The hosts and database, for the window and messages (no password).
    pub fn describe(&self) -> String {
        self.shared.target.describe()
    }

    /// Records whose seal did not open: named here, never served.
    pub fn refused_records(&self) -> Vec<String> {
        self.shared
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .refused
            .values()
            .cloned()
            .collect()
    }

    /// This folder's rescue files, as entries, and their paths.
    fn rescues(&self) -> (Vec<RescueEntry>, Vec<PathBuf>) {
        let mut entries = Vec::new();
        let mut paths = Vec::new();
        for path in rescue::list(&self.folder) {
            if let Some(found) = rescue::read(&path, &self.shared.key) {
                entries.extend(found);
                paths.push(path);
            }
        }
        (entries, paths)
    }
}

fn kdf_json(kdf: &KdfParams) -> serde_json::Value {
    use base64::Engine;
    serde_json::json!({
        "algorithm": "argon2id",
        "m_cost_kib": kdf.m_cost_kib,
        "t_cost": kdf.t_cost,
        "p_cost": kdf.p_cost,
        "salt": base64::engine::general_purpose::STANDARD.encode(kdf.salt),
    })
}

fn kdf_from(json: &serde_json::Value) -> Option<KdfParams> {
    use base64::Engine;
    let salt = base64::engine::general_purpose::STANDARD
        .decode(json["salt"].as_str()?)
        .ok()?;
    Some(KdfParams {
        m_cost_kib: u32::try_from(json["m_cost_kib"].as_u64()?).ok()?,
        t_cost: u32::try_from(json["t_cost"].as_u64()?).ok()?,
        p_cost: u32::try_from(json["p_cost"].as_u64()?).ok()?,
        salt: salt.try_into().ok()?,
    })
}

/// The data key: through this machine's keyring when it holds one of the machine
/// keys, else through the passphrase.
fn unwrap_data_key(
    keys: &KeySource,
    vault: Uuid,
    kdf: &serde_json::Value,
    wrapped: &[(String, Vec<u8>)],
) -> Result<VaultKey, VaultError> {
    if let Ok(keyring) = keys.keyring() {
        for (holder, bytes) in wrapped {
            let Some(id) = holder
                .strip_prefix("machine:")
                .and_then(|id| id.parse::<Uuid>().ok())
            else {
                continue;
            };
            if let Ok(machine_key) = keyring.load_key(id)
                && let Some(key) = seal::unwrap_key(&machine_key, vault, holder, bytes)
            {
                return Ok(key);
            }
        }
    }
    let kdf = kdf_from(kdf).ok_or_else(|| {
        VaultError::Corrupt("the shared vault's passphrase settings cannot be read".into())
    })?;
    let passphrase = keys
        .passphrase_key(&kdf)
        .map_err(|_| VaultError::from(StoreError::NoKey))?;
    wrapped
        .iter()
        .filter(|(holder, _)| holder == "passphrase")
        .find_map(|(holder, bytes)| seal::unwrap_key(&passphrase, vault, holder, bytes))
        .ok_or(VaultError::WrongPassphrase)
}

impl Backend for PostgresStore {
    fn folder(&self) -> &Path {
        &self.folder
    }

    fn newest_generation(&self) -> Result<Option<u64>, VaultError> {
        let shared = self.shared.clone();
        Ok(Some(run(&self.runtime, async move {
            shared.generation().await
        })?))
    }

    fn shared_location(&self) -> Option<String> {
        Some(self.describe())
    }

    fn is_passphrase_protected(&self) -> bool {
        self.passphrase_protected
    }

    fn read(&self) -> Result<VaultData, VaultError> {
        let shared = self.shared.clone();
        let mut data = run(&self.runtime, async move { shared.read().await })?;
        let (entries, _) = self.rescues();
        rescue::apply(&mut data, &entries, false);
        Ok(data)
    }

    fn update(&self, change: Change<'_>) -> Result<VaultData, VaultError> {
        let (entries, paths) = self.rescues();
        let (newest_tx, newest) = std::sync::mpsc::sync_channel(1);
        let (changed, changed_rx) = tokio::sync::oneshot::channel();
        let (done_tx, done) = std::sync::mpsc::sync_channel(1);
        let shared = self.shared.clone();
        self.runtime.spawn(async move {
            let _ = done_tx.send(shared.update(newest_tx, changed_rx).await);
        });
        let stopped = |e: std::sync::mpsc::RecvTimeoutError| {
            VaultError::from(StoreError::Stopped(e.to_string()))
        };
        let mut data = newest
            .recv_timeout(Duration::from_secs(120))
            .map_err(stopped)??;
        // Rescued rotations first, then the change, on this thread.
        rescue::apply(&mut data, &entries, true);
        let refused = change(&mut data).err();
        let _ = changed.send(refused.is_none().then_some(data));
        let stored = done
            .recv_timeout(Duration::from_secs(120))
            .map_err(stopped)??;
        if let Some(refused) = refused {
            return Err(refused);
        }
        let stored = stored.ok_or_else(|| {
            VaultError::from(StoreError::Stopped("the change was not stored".into()))
        })?;
        for path in paths {
            let _ = std::fs::remove_file(path);
        }
        Ok(stored)
    }

    /// A transaction is all or nothing: there is no space to hold beforehand.
    fn reserve_write(&self, _growth: u64) -> Result<WriteReservation, VaultError> {
        Ok(WriteReservation::transactional())
    }

    fn update_reserved(
        &self,
        _reservation: &mut WriteReservation,
        change: Change<'_>,
    ) -> Result<VaultData, VaultError> {
        self.update(change)
    }

    /// The database could not take a rotated token: it waits in this machine's
    /// folder, sealed with the data key, for the next write.
    fn write_rescue(
        &self,
        _reservation: &mut WriteReservation,
        entries: &[RescueEntry],
        now: DateTime<Utc>,
    ) -> Result<PathBuf, VaultError> {
        let header = Header::new(KeyKind::Keyring, self.shared.vault, &self.shared.key);
        let sealed = rescue::seal(&header, &self.shared.key, entries)?;
        let path = rescue::new_name(&self.folder, now);
        std::fs::create_dir_all(&self.folder)
            .map_err(|e| VaultError::io("Could not create", &self.folder, e))?;
        crate::vault::store::write_file_durably(&self.folder, &path, &sealed)?;
        Ok(path)
    }

    fn try_lock_token(&self, id: &TokenId) -> Result<TokenGuard, LockFailure> {
        let stem = id.file_stem();
        let holder = format!(
            "{} on {} (pid {}, #{:08x})",
            crate::vault::model::os_user(),
            whoami::fallible::hostname().unwrap_or_else(|_| "this machine".into()),
            std::process::id(),
            rand::random::<u32>()
        );
        let shared = self.shared.clone();
        let (token, me) = (stem.clone(), holder.clone());
        let taken = run(&self.runtime, async move {
            let guard = shared.client().await?;
            let db = guard
                .as_ref()
                .ok_or_else(|| StoreError::Stopped("no connection".into()))?;
            let lease = format!("{} seconds", LEASE.as_secs());
            let won = db
                .query_opt(
                    "INSERT INTO tokendesk_locks (vault, token, holder, expires_at)
                     VALUES ($1, $2, $3, now() + $4::text::interval)
                     ON CONFLICT (vault, token) DO UPDATE
                       SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                       WHERE tokendesk_locks.expires_at < now()
                     RETURNING holder",
                    &[&shared.vault, &token, &me, &lease],
                )
                .await?;
            if won.is_some() {
                return Ok(None);
            }
            let holder: Option<String> = db
                .query_opt(
                    "SELECT holder FROM tokendesk_locks WHERE vault = $1 AND token = $2",
                    &[&shared.vault, &token],
                )
                .await?
                .map(|r| r.get(0));
            Ok(Some(holder.unwrap_or_else(|| "another process".into())))
        })
        .map_err(|e| LockFailure::Io(e.into()))?;
        if let Some(holder) = taken {
            return Err(LockFailure::Busy { holder });
        }
        Ok(TokenGuard::new(Lease::hold(
            self.shared.clone(),
            self.runtime.clone(),
            stem,
            holder,
        )))
    }
}

/// A held token lease: renewed in the background, released when dropped.
struct Lease {
    shared: Arc<Shared>,
    runtime: Arc<OwnRuntime>,
    token: String,
    holder: String,
    renewing: CancellationToken,
}

impl Lease {
    fn hold(shared: Arc<Shared>, runtime: Arc<OwnRuntime>, token: String, holder: String) -> Self {
        let renewing = CancellationToken::new();
        let (task_shared, task_token, task_holder, stop) = (
            shared.clone(),
            token.clone(),
            holder.clone(),
            renewing.clone(),
        );
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(LEASE / 3) => {}
                }
                let Ok(guard) = task_shared.client().await else {
                    continue;
                };
                if let Some(db) = guard.as_ref() {
                    let lease = format!("{} seconds", LEASE.as_secs());
                    let _ = db
                        .execute(
                            "UPDATE tokendesk_locks SET expires_at = now() + $4::text::interval
                             WHERE vault = $1 AND token = $2 AND holder = $3",
                            &[&task_shared.vault, &task_token, &task_holder, &lease],
                        )
                        .await;
                }
            }
        });
        Lease {
            shared,
            runtime,
            token,
            holder,
            renewing,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewing.cancel();
        let (shared, token, holder) =
            (self.shared.clone(), self.token.clone(), self.holder.clone());
        // Only its own lease: one that lapsed and was taken over stays the other's.
        let _ = run(&self.runtime, async move {
            let guard = shared.client().await?;
            if let Some(db) = guard.as_ref() {
                db.execute(
                    "DELETE FROM tokendesk_locks WHERE vault = $1 AND token = $2 AND holder = $3",
                    &[&shared.vault, &token, &holder],
                )
                .await?;
            }
            Ok(())
        });
    }
}
