//! The local audit file as the spool of a shared vault's audit log: lines not
//! yet shipped to the database are found after a mark kept beside the file
//! (`audit.shipped`: the file's identity and the offset shipped up to), so a
//! database that was away receives them later, and a line shipped twice is
//! stored once (its place is its key). One rotation between two shipments is
//! followed into `audit.jsonl.1`.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AUDIT_FILE;

const MARK_FILE: &str = "audit.shipped";
/// At most this much of the spool is shipped at once.
const MAX_BATCH: u64 = 256 * 1024;

/// One line of the spool on its way to the database.
#[derive(Debug, Clone)]
pub struct SpoolLine {
    /// Its place in the spool ("file identity:offset"), unique per spool.
    pub place: String,
    pub at: DateTime<Utc>,
    pub entry: serde_json::Value,
}

/// How far the spool was shipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    file: u64,
    offset: u64,
}

/// The lines of the spool in `dir` not shipped yet, and the mark after them.
pub fn pending(dir: &Path) -> std::io::Result<(Vec<SpoolLine>, Mark)> {
    let mark = read_mark(dir);
    let current = dir.join(AUDIT_FILE);
    let Some(current_id) = identity(&current) else {
        return Ok((Vec::new(), mark));
    };
    let mut lines = Vec::new();
    let mut from = mark.offset;
    if mark.file != current_id && mark.file != 0 {
        // Rotated since: the rest of the old file first, if it is still there.
        let rotated = PathBuf::from(format!("{}.1", current.display()));
        if identity(&rotated) == Some(mark.file) {
            read_from(&rotated, mark.file, mark.offset, &mut lines)?;
        }
        from = 0;
    }
    let offset = read_from(&current, current_id, from, &mut lines)?;
    Ok((
        lines,
        Mark {
            file: current_id,
            offset,
        },
    ))
}

/// Remembers that everything before `mark` is in the database.
pub fn shipped(dir: &Path, mark: Mark) -> std::io::Result<()> {
    let text = serde_json::to_vec(&mark).map_err(std::io::Error::other)?;
    let temporary = dir.join(format!("{MARK_FILE}.tmp"));
    fs::write(&temporary, text)?;
    fs::rename(temporary, dir.join(MARK_FILE))
}

fn read_mark(dir: &Path) -> Mark {
    fs::read(dir.join(MARK_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Complete lines of `path` from `offset` on (at most a batch); returns the
/// offset after the last complete line read.
fn read_from(
    path: &Path,
    id: u64,
    offset: u64,
    lines: &mut Vec<SpoolLine>,
) -> std::io::Result<u64> {
    let mut file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    let offset = if offset > len { 0 } else { offset };
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.take(MAX_BATCH).read_to_end(&mut bytes)?;
    let mut at = offset;
    let mut rest = bytes.as_slice();
    while let Some(end) = rest.iter().position(|b| *b == b'\n') {
        let line = &rest[..end];
        if let Ok(entry) = serde_json::from_slice::<serde_json::Value>(line) {
            let when = entry
                .get("at")
                .and_then(|v| v.as_str())
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map_or_else(Utc::now, |v| v.with_timezone(&Utc));
            lines.push(SpoolLine {
                place: format!("{id:x}:{at}"),
                at: when,
                entry,
            });
        }
        at += end as u64 + 1;
        rest = &rest[end + 1..];
    }
    Ok(at)
}

/// What tells this file from the one that replaced it at rotation.
fn identity(path: &Path) -> Option<u64> {
    let meta = fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(meta.ino().max(1))
    }
    #[cfg(not(unix))]
    {
        let created = meta.created().ok()?;
        let nanos = created
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some((nanos as u64).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEntry, AuditLog, Operation, Outcome};

    #[test]
    fn lines_are_shipped_once_and_a_rotation_is_followed() {
        let dir = tempfile::tempdir().expect("dir");
        let log = AuditLog::in_dir(dir.path()).with_max_bytes(400);
        let entry = |n: usize| {
            AuditEntry::new(Operation::Renew, Outcome::Ok, Utc::now()).with_detail(format!("n{n}"))
        };
        log.record(&entry(1));
        log.record(&entry(2));
        let (lines, mark) = pending(dir.path()).expect("pending");
        assert_eq!(lines.len(), 2);
        shipped(dir.path(), mark).expect("mark");
        assert!(pending(dir.path()).expect("pending").0.is_empty());
        // Enough lines to rotate the 400-byte log once: none is lost or repeated.
        for n in 3..5 {
            log.record(&entry(n));
        }
        let (lines, _) = pending(dir.path()).expect("pending");
        let details: Vec<String> = lines
            .iter()
            .map(|l| l.entry["detail"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(dir.path().join("audit.jsonl.1").exists());
        assert_eq!(details, vec!["n3".to_string(), "n4".to_string()]);
        let unique: std::collections::HashSet<&String> = lines.iter().map(|l| &l.place).collect();
        assert_eq!(unique.len(), lines.len());
    }
}
