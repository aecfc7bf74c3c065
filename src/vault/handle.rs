//! An open vault: the records as last read or written, over the store that keeps
//! them (`Backend`; the encrypted file in a folder unless another is given). Every
//! layer above works with this handle and never with the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::backend::{Backend, Presence, Records, TokenGuard, TokenMap};
use super::error::VaultError;
use super::keys::KeySource;
use super::model::{TokenId, VaultData};
use super::rescue::RescueEntry;
use super::reserve::WriteReservation;
use super::store::{self, FileStore};
use super::token_lock::LockFailure;

mod bundle;
#[cfg(test)]
mod reads;

/// How often a waiter looks at a busy token lock again.
const LOCK_POLL: Duration = Duration::from_millis(25);

pub struct Vault {
    store: Arc<dyn Backend>,
    /// Shared with whoever asked for [`Vault::shared_data`] (the gateway serves
    /// from it): a change copies the records only while someone still holds them,
    /// so a gateway keeps one copy of a large vault, not two.
    data: Arc<VaultData>,
    /// The newest generation any handle of this process has read or written: a
    /// store found older than this, by a read that began after it was seen, went
    /// backwards (a restored file), and its tokens are never sent to a provider
    /// (shared with `another_handle`).
    newest_seen: Arc<AtomicU64>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("folder", &self.store.folder())
            .field("generation", &self.data.generation)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Where the vault file of the folder `dir` is.
    pub fn path_in(dir: &Path) -> PathBuf {
        store::path_in(dir)
    }

    pub fn exists(dir: &Path) -> bool {
        Self::path_in(dir).exists()
    }

    /// Creates an empty vault file in `dir`. Refuses to replace one unless `force`.
    pub fn create(dir: &Path, keys: &KeySource, force: bool) -> Result<Vault, VaultError> {
        let (store, data) = FileStore::create(dir, keys, force)?;
        Ok(Vault::from_store(store, data))
    }

    /// Opens the vault file in `dir`. Nothing is written, whatever is wrong with it.
    pub fn open(dir: &Path, keys: &KeySource) -> Result<Vault, VaultError> {
        let (store, data) = FileStore::open(dir, keys)?;
        Ok(Vault::from_store(store, data))
    }

    /// Opens the vault, creating it first when none exists (the first command that
    /// writes creates it).
    pub fn open_or_create(dir: &Path, keys: &KeySource) -> Result<Vault, VaultError> {
        match Self::open(dir, keys) {
            Err(VaultError::NotInitialized(_)) => match Self::create(dir, keys, false) {
                // Another process created it meanwhile.
                Err(VaultError::AlreadyExists(_)) => Self::open(dir, keys),
                other => other,
            },
            other => other,
        }
    }

    /// A vault kept by another store (a shared database, say): read once now.
    pub fn with_backend(store: Arc<dyn Backend>) -> Result<Vault, VaultError> {
        let data = store.read()?;
        Ok(Vault::new(store, data))
    }

    /// A vault on `store` whose records were just read from it (`data`), so
    /// they are not read a second time.
    pub fn with_backend_read(store: Arc<dyn Backend>, data: VaultData) -> Vault {
        Vault::new(store, data)
    }

    pub(super) fn from_store(store: FileStore, data: VaultData) -> Vault {
        Vault::new(Arc::new(store), data)
    }

    fn new(store: Arc<dyn Backend>, data: VaultData) -> Vault {
        Vault {
            store,
            newest_seen: Arc::new(AtomicU64::new(data.generation)),
            data: Arc::new(data),
        }
    }

    /// The newest generation seen before a read begins. A read is judged against
    /// this, not against what is newest when it ends: another handle of this
    /// process may write while the read runs, and a read that began before that
    /// write is late, not a store gone back. (Taken as a rollback, it once put the
    /// older refresh tokens in memory into a rescue file over the newer ones.)
    fn floor(&self) -> u64 {
        self.newest_seen.load(Ordering::SeqCst)
    }

    /// Notes a generation read by a read that began at `floor`; refuses one older
    /// than what was seen before the read began.
    fn seen(&self, floor: u64, generation: u64) -> Result<(), VaultError> {
        self.newest_seen.fetch_max(generation, Ordering::SeqCst);
        if generation < floor {
            return Err(VaultError::RolledBack {
                seen: floor,
                found: generation,
            });
        }
        Ok(())
    }

    /// The folder of this vault's local files (audit log, locks, gateway socket).
    pub fn dir(&self) -> &Path {
        self.store.folder()
    }

    pub fn data(&self) -> &VaultData {
        &self.data
    }

    /// The records as this handle holds them, without a copy; a later change of
    /// this handle leaves them as they are.
    pub fn shared_data(&self) -> Arc<VaultData> {
        self.data.clone()
    }

    pub fn generation(&self) -> u64 {
        self.data.generation
    }

    /// A second handle on this vault for work that runs beside the first (a Test
    /// Connection while the admin saves): every write re-reads the store under its
    /// lock and every redemption locks its token, so handles in one process never
    /// overwrite each other, just as separate processes do not.
    pub fn another_handle(&self) -> Vault {
        Vault {
            store: self.store.clone(),
            data: self.data.clone(),
            newest_seen: self.newest_seen.clone(),
        }
    }

    /// Takes the records of `other` (a handle made by [`Vault::another_handle`])
    /// when they are at least as new: after a keep-alive run or a redemption on a
    /// second handle, the first then shares its records instead of keeping the
    /// older copy of every token that changed.
    pub fn adopt(&mut self, other: &Vault) {
        if Arc::ptr_eq(&self.store, &other.store) && other.data.generation >= self.data.generation {
            self.data = other.data.clone();
        }
    }

    /// A handle on this vault's store that holds no records, for a watcher that
    /// only asks the store's generation and says it is here: a second copy of
    /// every record would cost a large vault's gateway its size again.
    pub fn watcher(&self) -> Vault {
        Vault {
            store: self.store.clone(),
            data: Arc::default(),
            newest_seen: self.newest_seen.clone(),
        }
    }

    /// The store's newest generation when it can say so without a full read (a
    /// database); `None` for the file, whose changes show in its metadata.
    pub fn newest_generation(&self) -> Result<Option<u64>, VaultError> {
        self.store.newest_generation()
    }

    /// The database the records live in, for a shared vault.
    pub fn shared_location(&self) -> Option<String> {
        self.store.shared_location()
    }

    /// Tells the other machines of a shared vault that this process, as `face`, is here.
    pub fn announce(&self, face: &str) -> Result<(), VaultError> {
        self.store.announce(face)
    }

    /// Sends this machine's audit spool to a shared vault's audit log.
    pub fn ship_audit(&self) -> Result<usize, VaultError> {
        self.store.ship_audit()
    }

    /// The other processes that used a shared vault in the last minute.
    pub fn present(&self, face: &str) -> Result<Vec<Presence>, VaultError> {
        self.store.present(face)
    }

    pub fn is_passphrase_protected(&self) -> bool {
        self.store.is_passphrase_protected()
    }

    /// Reads the store again. Returns true when another process changed it.
    /// A store that went back to an older generation is refused (the records in
    /// memory stay as they were): see [`Vault::accept_rollback`].
    pub fn reload(&mut self) -> Result<bool, VaultError> {
        let before = self.data.generation;
        if self.catch_up()? {
            return Ok(self.data.generation != before);
        }
        let floor = self.floor();
        let fresh = self.store.read()?;
        self.seen(floor, fresh.generation)?;
        let changed = fresh.generation != self.data.generation;
        self.data = Arc::new(fresh);
        Ok(changed)
    }

    /// Takes what other processes stored since, where the store tells that
    /// cheaply (a shared store's rows changed since, put in place); false, and
    /// nothing read, where only a whole read would tell (a file).
    pub fn catch_up(&mut self) -> Result<bool, VaultError> {
        let floor = self.floor();
        let Some(records) = self.store.read_since(self.data.generation)? else {
            return Ok(false);
        };
        let ids: Vec<TokenId> = match &records {
            Records::Tokens { records, .. } => records.keys().copied().collect(),
            Records::Whole(_) => Vec::new(),
        };
        self.take(records, &ids, Some(floor))?;
        Ok(true)
    }

    /// Reads just the token records `ids` again (a store that keeps records apart
    /// reads only those; the file reads everything). A record that is gone now
    /// is gone from this handle too.
    pub fn reload_tokens(&mut self, ids: &[TokenId]) -> Result<(), VaultError> {
        let floor = self.floor();
        let records = self.store.read_tokens(ids)?;
        self.take(records, ids, Some(floor))
    }

    /// Applies `change` to the newest of the token records `ids` (those that still
    /// exist) and stores them, into space reserved earlier. Only these records are
    /// read and written where the store keeps records apart.
    pub fn update_tokens_reserved<T>(
        &mut self,
        reservation: &mut WriteReservation,
        ids: &[TokenId],
        change: impl FnOnce(&mut TokenMap) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let mut change = Some(change);
        let mut result = None;
        let records = self.store.update_tokens(reservation, ids, &mut |records| {
            let change = change.take().ok_or_else(|| {
                VaultError::Invalid("A vault change was applied twice; nothing was stored.".into())
            })?;
            result = Some(change(records)?);
            Ok(())
        })?;
        self.take(records, ids, None)?;
        result.ok_or_else(|| {
            VaultError::Invalid("The store did not apply the change; nothing was stored.".into())
        })
    }

    /// Takes what a record-level read (begun at `read`'s floor) or write brought.
    /// Token records are put in their places; the handle's generation moves on
    /// only when nothing else can have changed in between, so a later `reload`
    /// still sees other changes.
    fn take(
        &mut self,
        records: Records,
        ids: &[TokenId],
        read: Option<u64>,
    ) -> Result<(), VaultError> {
        match records {
            Records::Whole(data) => {
                if let Some(floor) = read {
                    self.seen(floor, data.generation)?;
                } else {
                    self.newest_seen
                        .fetch_max(data.generation, Ordering::SeqCst);
                }
                self.data = Arc::new(*data);
            }
            Records::Tokens {
                based_on,
                generation,
                mut records,
                snapshot,
            } => {
                match read {
                    Some(floor) => self.seen(floor, generation)?,
                    None => {
                        self.newest_seen.fetch_max(generation, Ordering::SeqCst);
                    }
                }
                if let Some(snapshot) = &snapshot
                    && snapshot.generation == generation
                    && self.data.generation == based_on
                    && ids
                        .iter()
                        .all(|id| snapshot.token_by_id(id).map(|o| o.record()) == records.get(id))
                {
                    // What this handle held plus these records is exactly the
                    // store's copy: share it rather than copy into our own. (The
                    // records just read or written must be the copy's own: a row
                    // changed behind the generation's back is taken as read.)
                    self.data = snapshot.clone();
                    return Ok(());
                }
                if ids.is_empty() && based_on == generation {
                    // Nothing changed: the records stay shared as they are.
                    return Ok(());
                }
                let mut complete = true;
                let data = Arc::make_mut(&mut self.data);
                for id in ids {
                    let record = records.remove(id);
                    // A record as this handle holds it already stays shared with
                    // every other holder: a re-read before a redemption mostly
                    // finds the records unchanged, and copying each one's mapping
                    // was a keep-alive's largest peak.
                    if let (Some(owner), Some(record)) = (data.token_by_id(id), &record)
                        && owner.record() == record
                    {
                        continue;
                    }
                    // The store's copy of this mapping, when it is ours with this
                    // record, is taken rather than copied into our own.
                    if let (Some(store), Some(record)) = (&snapshot, &record)
                        && data.share_mapping(store, id, record)
                    {
                        continue;
                    }
                    match (data.token_by_id_mut(id), record) {
                        (Some(place), Some(record)) => *place = record,
                        (None, None) => {}
                        // Added or removed elsewhere: only a whole read tells.
                        _ => complete = false,
                    }
                }
                if !complete {
                    let floor = self.floor();
                    let fresh = self.store.read()?;
                    self.seen(floor, fresh.generation)?;
                    self.data = Arc::new(fresh);
                } else if based_on == data.generation {
                    data.generation = generation;
                }
            }
        }
        Ok(())
    }

    /// The records as the store holds them now, even when it went backwards.
    pub fn read_store(&self) -> Result<VaultData, VaultError> {
        self.store.read()
    }

    /// After a rollback was reported and the newer tokens rescued: the store as it
    /// is now becomes the newest generation this process knows.
    pub fn accept_rollback(&mut self) -> Result<(), VaultError> {
        let fresh = self.store.read()?;
        self.newest_seen.store(fresh.generation, Ordering::SeqCst);
        self.data = Arc::new(fresh);
        Ok(())
    }

    /// Applies `change` to the newest records and stores them durably before
    /// returning. Changes made by other processes since this handle read the vault
    /// are kept, never overwritten.
    pub fn update<T>(
        &mut self,
        change: impl FnOnce(&mut VaultData) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let mut once = Once::new(change);
        self.data = Arc::new(self.store.update(&mut |data| once.apply(data))?);
        self.newest_seen
            .fetch_max(self.data.generation, Ordering::SeqCst);
        once.result()
    }

    /// Checks, before anything irreversible happens elsewhere, that the vault can
    /// take its next write (the lock, and room for a whole new vault plus `growth`
    /// bytes, allocated now).
    pub fn reserve_write(&self, growth: u64) -> Result<WriteReservation, VaultError> {
        self.store.reserve_write(growth)
    }

    /// [`Vault::update`] writing into space reserved earlier, so a disk that filled
    /// up meanwhile cannot refuse it.
    pub fn update_reserved<T>(
        &mut self,
        reservation: &mut WriteReservation,
        change: impl FnOnce(&mut VaultData) -> Result<T, VaultError>,
    ) -> Result<T, VaultError> {
        let mut once = Once::new(change);
        self.data = Arc::new(
            self.store
                .update_reserved(reservation, &mut |data| once.apply(data))?,
        );
        self.newest_seen
            .fetch_max(self.data.generation, Ordering::SeqCst);
        once.result()
    }

    /// Keeps rotated refresh tokens the vault could not take where the next read
    /// finds them (a rescue file beside the vault).
    pub fn write_rescue(
        &self,
        reservation: &mut WriteReservation,
        entries: &[RescueEntry],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<PathBuf, VaultError> {
        self.store.write_rescue(reservation, entries, now)
    }

    /// The lock of one token, now or with who holds it.
    pub fn try_lock_token(&self, id: &TokenId) -> Result<TokenGuard, LockFailure> {
        self.store.try_lock_token(id)
    }

    /// The lock of one token, waiting up to `wait` for its holder.
    pub async fn lock_token(
        &self,
        id: &TokenId,
        wait: Duration,
    ) -> Result<TokenGuard, LockFailure> {
        let started = Instant::now();
        loop {
            match self.try_lock_token(id) {
                Err(LockFailure::Busy { holder }) if started.elapsed() >= wait => {
                    return Err(LockFailure::Busy { holder });
                }
                Err(LockFailure::Busy { .. }) => tokio::time::sleep(LOCK_POLL).await,
                other => return other,
            }
        }
    }
}

/// A change given as `FnOnce` with a result, run through the store's `FnMut`.
struct Once<F, T> {
    change: Option<F>,
    result: Option<T>,
}

impl<F, T> Once<F, T>
where
    F: FnOnce(&mut VaultData) -> Result<T, VaultError>,
{
    fn new(change: F) -> Self {
        Once {
            change: Some(change),
            result: None,
        }
    }

    fn apply(&mut self, data: &mut VaultData) -> Result<(), VaultError> {
        let change = self.change.take().ok_or_else(|| {
            VaultError::Invalid("A vault change was applied twice; nothing was stored.".into())
        })?;
        self.result = Some(change(data)?);
        Ok(())
    }

    fn result(self) -> Result<T, VaultError> {
        self.result.ok_or_else(|| {
            VaultError::Invalid("The store did not apply the change; nothing was stored.".into())
        })
    }
}
