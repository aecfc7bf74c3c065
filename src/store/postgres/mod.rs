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

mod calls;
mod catch_up;
mod connect;
mod error;
mod join;
mod keys;
mod lease;
mod presence;
mod rotate;
mod rows;
mod runtime;
mod schema;
mod seal;
mod shared;
mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use connect::Target;
pub use error::StoreError;
pub(crate) use error::plain;
pub use rotate::Rotated;
pub use schema::newest as newest_schema;

use keys::{KeySet, kdf_json, machine_holder, machine_label, open_keys};
use lease::Lease;
use runtime::{OwnRuntime, run};
use shared::{Cache, Shared};

use crate::vault::backend::{self, Backend, Change, Presence, Records, TokenChange, TokenGuard};
use crate::vault::crypto::{Header, KdfParams, KeyKind, VaultKey};
use crate::vault::rescue::{self, RescueEntry};
use crate::vault::reserve::WriteReservation;
use crate::vault::token_lock::LockFailure;
use crate::vault::{KeySource, TokenId, VaultData, VaultError};

/// A token lock's lease: renewed every third of it while the holder lives.
pub const LEASE: Duration = Duration::from_secs(30);

pub struct PostgresStore {
    folder: PathBuf,
    shared: Arc<Shared>,
    runtime: Arc<OwnRuntime>,
    passphrase_protected: bool,
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
        let runtime = Arc::new(runtime::new_runtime()?);
        let vault = Uuid::new_v4();
        let key: VaultKey = zeroize::Zeroizing::new(rand::random());
        let kdf = KdfParams {
            salt: rand::random(),
            ..keys.kdf_for_new
        };
        let passphrase = keys.passphrase_key(&kdf)?;
        let mut wrapped = vec![(
            "passphrase".to_string(),
            seal::wrap_key(&passphrase, vault, "passphrase", 1, &key)?,
        )];
        let mut set = KeySet::first(key.clone());
        if let Ok((machine, machine_key)) = keys.keyring().and_then(|k| k.create_key()) {
            let holder = machine_holder(machine);
            wrapped.push((
                holder.clone(),
                seal::wrap_key(&machine_key, vault, &holder, 1, &key)?,
            ));
            set.machine = Some((machine, machine_key));
        }
        let label = machine_label(folder);
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
                        "INSERT INTO tokendesk_keys (vault, holder, key_version, wrapped, label)
                         VALUES ($1, $2, 1, $3, $4)",
                        &[&vault, holder, bytes, &label],
                    )
                    .await?;
            }
            transaction.commit().await?;
            Ok(())
        })?;
        let store = PostgresStore::with(folder, target, vault, set, runtime, true);
        let data = store.update(&mut |_| Ok(()))?;
        Ok((store, data))
    }

    /// Whether the database at `url` already holds a shared vault (an earlier,
    /// perhaps interrupted, move into it).
    pub fn holds_vault(url: &str) -> Result<bool, VaultError> {
        let target = Target::parse(url)?;
        let runtime = runtime::new_runtime()?;
        Ok(run(&runtime, async move {
            let mut client = target.connect().await?;
            schema::ensure(&mut client).await?;
            let count: i64 = client
                .query_one("SELECT count(*) FROM tokendesk_vault", &[])
                .await?
                .get(0);
            Ok(count > 0)
        })?)
    }

    /// Opens the shared vault in the database at `url` with this machine's keyring
    /// key or the passphrase of `keys`.
    pub fn open(
        folder: &Path,
        url: &str,
        keys: &KeySource,
    ) -> Result<(Self, VaultData), VaultError> {
        let target = Target::parse(url)?;
        let runtime = Arc::new(runtime::new_runtime()?);
        let connect_target = target.clone();
        let (client, vault, current, kdf, wrapped) = run(&runtime, async move {
            let mut client = connect_target.connect().await?;
            schema::ensure(&mut client).await?;
            let row = client
                .query_opt(
                    "SELECT id, key_version, kdf FROM tokendesk_vault LIMIT 1",
                    &[],
                )
                .await?
                .ok_or(StoreError::NoVault)?;
            let vault: Uuid = row.get(0);
            let wrapped = keys::wrappings(&client, vault).await?;
            let (current, kdf) = (row.get(1), row.get::<_, serde_json::Value>(2));
            Ok((client, vault, current, kdf, wrapped))
        })?;
        let hint = crate::store::pointer::read(folder)
            .ok()
            .flatten()
            .and_then(|p| p.machine);
        let set = open_keys(keys, hint, vault, current, &kdf, &wrapped)?;
        let store = PostgresStore::with(folder, target, vault, set, runtime, true);
        // The connection that found the vault serves its first read too.
        if let Ok(mut slot) = store.shared.client.try_lock() {
            *slot = Some(client);
        }
        let data = store.read()?;
        Ok((store, data))
    }

    fn with(
        folder: &Path,
        target: Target,
        vault: Uuid,
        keys: KeySet,
        runtime: Arc<OwnRuntime>,
        passphrase_protected: bool,
    ) -> Self {
        PostgresStore {
            folder: folder.to_path_buf(),
            shared: Arc::new(Shared {
                target,
                folder: folder.to_path_buf(),
                vault,
                keys: Mutex::new(keys),
                client: tokio::sync::Mutex::new(None),
                cache: Mutex::new(Cache::default()),
                unwrapped_warned: std::sync::atomic::AtomicI32::new(-1),
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
        let holder = machine_holder(machine);
        let (version, key) = self.current_key()?;
        let wrapped = seal::wrap_key(&machine_key, self.shared.vault, &holder, version, &key)?;
        let label = machine_label(&self.folder);
        let shared = self.shared.clone();
        run(&self.runtime, async move {
            let db = shared.client().await?;
            db.execute(
                "INSERT INTO tokendesk_keys (vault, holder, key_version, wrapped, label)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&shared.vault, &holder, &version, &wrapped, &label],
            )
            .await?;
            Ok(())
        })?;
        self.shared.key_set().machine = Some((machine, machine_key));
        Ok(true)
    }

    /// This machine's keyring key for the vault, when it has one.
    pub fn machine_id(&self) -> Option<Uuid> {
        self.shared.key_set().machine.as_ref().map(|(id, _)| *id)
    }

    /// The data key new records are sealed with, and its version.
    fn current_key(&self) -> Result<(i32, VaultKey), VaultError> {
        self.shared
            .key_set()
            .current()
            .ok_or_else(|| StoreError::KeyRotatedAway.into())
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
        // A rescue file written before a `vault rotate-key` is sealed with an
        // older version of the key: every version held is tried.
        let keys = self.shared.key_set().all();
        for path in rescue::list(&self.folder) {
            if let Some(found) = keys.iter().find_map(|key| rescue::read(&path, key)) {
                entries.extend(found);
                paths.push(path);
            }
        }
        (entries, paths)
    }
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

    fn announce(&self, face: &str) -> Result<(), VaultError> {
        let shared = self.shared.clone();
        let face = face.to_string();
        Ok(run(
            &self.runtime,
            async move { shared.announce(&face).await },
        )?)
    }

    fn ship_audit(&self) -> Result<usize, VaultError> {
        let shared = self.shared.clone();
        let folder = self.folder.clone();
        Ok(run(&self.runtime, async move {
            shared.ship_audit(&folder).await
        })?)
    }

    fn present(&self, face: &str) -> Result<Vec<Presence>, VaultError> {
        let shared = self.shared.clone();
        let face = face.to_string();
        Ok(run(
            &self.runtime,
            async move { shared.present(&face).await },
        )?)
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
        let shared = self.shared.clone();
        let stored = self.two_phase(
            move |newest, changed| async move { shared.update(newest, changed).await },
            |data| {
                // Rescued rotations first, then the change, on this thread.
                rescue::apply(data, &entries, true);
                change(data)
            },
        )?;
        for path in paths {
            let _ = std::fs::remove_file(path);
        }
        Ok(stored)
    }

    fn read_since(&self, generation: u64) -> Result<Option<Records>, VaultError> {
        if !self.rescues().0.is_empty() {
            // Rescued rotations are merged into the whole vault.
            return Ok(None);
        }
        let shared = self.shared.clone();
        Ok(run(
            &self.runtime,
            async move { shared.read_since(generation).await },
        )?
        .map(|(now, records, snapshot)| Records::Tokens {
            based_on: generation,
            generation: now,
            records,
            snapshot,
        }))
    }

    fn read_tokens(&self, ids: &[TokenId]) -> Result<Records, VaultError> {
        let (entries, _) = self.rescues();
        if !entries.is_empty() {
            // Rescued rotations are merged into the whole vault.
            return Ok(Records::Whole(Box::new(self.read()?)));
        }
        let shared = self.shared.clone();
        let asked = ids.to_vec();
        let (generation, records) = run(
            &self.runtime,
            async move { shared.read_tokens(&asked).await },
        )?;
        Ok(Records::Tokens {
            based_on: generation,
            generation,
            records,
            snapshot: Some(self.shared.snapshot()),
        })
    }

    fn update_tokens(
        &self,
        reservation: &mut WriteReservation,
        ids: &[TokenId],
        change: TokenChange<'_>,
    ) -> Result<Records, VaultError> {
        let (entries, _) = self.rescues();
        if !entries.is_empty() {
            // The next whole write merges the rescued rotations and removes the files.
            return backend::whole_update_tokens(self, reservation, ids, change);
        }
        let shared = self.shared.clone();
        let asked = ids.to_vec();
        let written = self.two_phase(
            move |newest, changed| async move { shared.update_tokens(asked, newest, changed).await },
            |records| change(records),
        )?;
        Ok(Records::Tokens {
            based_on: written.based_on,
            generation: written.generation,
            records: written.records,
            snapshot: Some(self.shared.snapshot()),
        })
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
        let (_, key) = self.current_key()?;
        let header = Header::new(KeyKind::Keyring, self.shared.vault, &key);
        let sealed = rescue::seal(&header, &key, entries)?;
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
            let db = shared.client().await?;
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
