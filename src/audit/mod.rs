//! The audit log: one JSON line per sign-in, renewal, test, clear, import and export,
//! appended beside the vault. It answers "who renewed what, when, and did it work"
//! without ever holding a token or a secret — entries are built from names, codes and
//! admin messages only.

pub mod handouts;
pub mod spool;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::vault::ops::TokenTarget;

pub const AUDIT_FILE: &str = "audit.jsonl";
/// A log grows to this size before it is rotated to `audit.jsonl.1`.
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;
/// Rotated generations kept: `audit.jsonl.1` … `audit.jsonl.5`.
pub const KEPT_GENERATIONS: u32 = 5;
/// The audit never takes the last of the disk: it writes only while this much
/// stays free beyond twice the vault file, which the next renewal needs.
pub const DISK_FLOOR: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    SignIn,
    Renew,
    Test,
    Clear,
    Import,
    Export,
    /// The gateway handed an access token to a consumer.
    HandOut,
    /// A consumer key was added or removed.
    Consumer,
    /// Rotated tokens were kept in a rescue file (the vault could not take them,
    /// or it went back to an older generation).
    Rescue,
    /// The shared vault's data key was replaced (`vault rotate-key`).
    RotateKey,
    /// A notifier was added or removed, or a notification sent or not.
    Notify,
    /// A device's session through the mail relay.
    Relay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub os_user: String,
    pub operation: Operation,
    /// Which face did it: "desk", "gateway" or "cli" (entries of older versions
    /// have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<String>,
    /// The application user of a mapping; absent for the data-source user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// An admin-readable sentence (an error message or what was imported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEntry {
    pub fn new(operation: Operation, outcome: Outcome, at: DateTime<Utc>) -> Self {
        AuditEntry {
            at,
            os_user: crate::vault::model::os_user(),
            operation,
            face: Some(face().to_string()),
            data_source: None,
            user: None,
            outcome,
            error_code: None,
            detail: None,
        }
    }

    pub fn for_target(mut self, target: &TokenTarget) -> Self {
        self.data_source = Some(target.data_source.clone());
        self.user = target.app_user.clone();
        self
    }

    pub fn with_error(mut self, code: Option<String>, message: impl Into<String>) -> Self {
        self.error_code = code;
        self.detail = Some(message.into());
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

static FACE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Names the face this process runs as ("desk", "gateway"), for its audit entries;
/// a process that never says is a command ("cli").
pub fn set_face(face: &'static str) {
    let _ = FACE.set(face);
}

fn face() -> &'static str {
    FACE.get().copied().unwrap_or("cli")
}

#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    max_bytes: u64,
}

impl AuditLog {
    /// The log that belongs to the vault in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        AuditLog {
            path: dir.join(AUDIT_FILE),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry. The operation it records has already happened, so a log
    /// that cannot be written is reported as a warning and never undoes the work.
    pub fn record(&self, entry: &AuditEntry) {
        if let Err(error) = self.append(entry) {
            tracing::warn!(path = %self.path.display(), %error, "could not write the audit log");
        }
    }

    fn append(&self, entry: &AuditEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.append_line(&line)
    }

    /// Appends one line, rotating first when it would grow the log past its size;
    /// refuses when the disk is nearly full, so the log never takes the room the
    /// vault's next write needs.
    pub(crate) fn append_line(&self, line: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent()
            && !room_for_audit(dir, line.len() as u64)
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "the disk is nearly full: the audit entry was dropped so that the vault keeps room for its next write",
            ));
        }
        let file = open_private_append(&self.path)?;
        // Several processes (the GUI, a scheduled renew, a script asking for a token)
        // write here; the lock keeps rotation and lines from interleaving.
        file.lock()?;
        let file = if file.metadata()?.len() + line.len() as u64 > self.max_bytes
            && file.metadata()?.len() > 0
        {
            self.rotate()?;
            let fresh = open_private_append(&self.path)?;
            fresh.lock()?;
            drop(file);
            fresh
        } else {
            file
        };
        (&file).write_all(line)?;
        file.unlock()
    }

    fn rotate(&self) -> std::io::Result<()> {
        let generation = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        let _ = fs::remove_file(generation(KEPT_GENERATIONS));
        for n in (1..KEPT_GENERATIONS).rev() {
            if generation(n).exists() {
                fs::rename(generation(n), generation(n + 1))?;
            }
        }
        fs::rename(&self.path, generation(1))
    }

    /// Every entry of the current log (not the rotated ones), oldest first.
    pub fn read(&self) -> std::io::Result<Vec<AuditEntry>> {
        self.read_lines()
    }

    /// Every line of the current log that reads as a `T`, oldest first.
    pub(crate) fn read_lines<T: for<'de> Deserialize<'de>>(&self) -> std::io::Result<Vec<T>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }
}

/// Whether `dir`'s disk keeps [`DISK_FLOOR`] plus twice the vault file free after
/// `bytes` more.
#[cfg(unix)]
fn room_for_audit(dir: &Path, bytes: u64) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return true;
    };
    // SAFETY: statvfs fills the zeroed struct for a NUL-terminated path.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return true;
    }
    let free = (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64);
    let vault = fs::metadata(crate::vault::Vault::path_in(dir))
        .map(|m| m.len())
        .unwrap_or(0);
    free >= DISK_FLOOR + 2 * vault + bytes
}

#[cfg(not(unix))]
fn room_for_audit(_dir: &Path, _bytes: u64) -> bool {
    true
}

/// The log names users and data sources: readable by this OS user only.
fn open_private_append(path: &Path) -> std::io::Result<fs::File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> AuditEntry {
        AuditEntry::new(Operation::Renew, Outcome::Ok, Utc::now())
            .for_target(&TokenTarget::user("Exchange", format!("USER/{n}")))
    }

    #[test]
    fn entries_are_json_lines_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::in_dir(dir.path());
        log.record(&entry(1));
        log.record(
            &AuditEntry::new(Operation::Test, Outcome::Failed, Utc::now())
                .with_error(Some("AADSTS50173".into()), "The grant was revoked."),
        );
        let read = log.read().unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].user.as_deref(), Some("USER/1"));
        assert_eq!(read[1].error_code.as_deref(), Some("AADSTS50173"));
        let text = fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| l.starts_with("{\"at\":")));
    }

    #[test]
    fn the_log_rotates_by_size_and_keeps_five_generations() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::in_dir(dir.path()).with_max_bytes(1_000);
        for n in 0..200 {
            log.record(&entry(n));
        }
        assert!(fs::metadata(log.path()).unwrap().len() <= 1_000);
        for n in 1..=KEPT_GENERATIONS {
            let rotated = dir.path().join(format!("{AUDIT_FILE}.{n}"));
            assert!(rotated.exists(), "{} missing", rotated.display());
            assert!(fs::metadata(&rotated).unwrap().len() <= 1_000);
        }
        assert!(!dir.path().join(format!("{AUDIT_FILE}.6")).exists());
        // The newest entry is in the current file.
        assert_eq!(
            log.read().unwrap().last().unwrap().user.as_deref(),
            Some("USER/199")
        );
    }
}
