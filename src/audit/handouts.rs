//! Hand-outs, counted: the gateway hands out thousands of access tokens a second
//! under load, and one audit line each would rotate every sign-in and consumer
//! entry away within seconds. So hand-outs are tallied in memory per consumer,
//! data source and user per minute, and each finished minute becomes one line in a
//! log of its own (`handouts.jsonl`), which rotates separately from the audit log
//! of administrative events.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::AuditLog;
use crate::vault::ops::TokenTarget;

pub const HANDOUTS_FILE: &str = "handouts.jsonl";

/// One minute's hand-outs of one token to one consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOutCount {
    /// The minute's start.
    pub minute: DateTime<Utc>,
    pub consumer: String,
    pub data_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub count: u64,
}

type Key = (DateTime<Utc>, String, String, Option<String>);

/// The tally of one gateway: counted in memory, written a line per key and minute.
pub struct HandOutTally {
    log: AuditLog,
    counts: Mutex<BTreeMap<Key, u64>>,
}

impl HandOutTally {
    /// The tally that writes beside the vault in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        HandOutTally {
            log: AuditLog {
                path: dir.join(HANDOUTS_FILE),
                max_bytes: super::DEFAULT_MAX_BYTES,
            },
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// One hand-out of `target`'s token to `consumer` at `now`.
    pub fn count(&self, consumer: &str, target: &TokenTarget, now: DateTime<Utc>) {
        let minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
        let key = (
            minute,
            consumer.to_string(),
            target.data_source.clone(),
            target.app_user.clone(),
        );
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(0) += 1;
    }

    /// Writes the minutes that ended before `now` (all of them when `now` is
    /// `None`, at shutdown); returns how many lines were written. A line that
    /// cannot be written (a full disk) is dropped with a warning: the counts are
    /// a record, never a reason to stop handing out or renewing.
    pub fn flush(&self, now: Option<DateTime<Utc>>) -> usize {
        let current = now.map(|n| n.duration_trunc(TimeDelta::minutes(1)).unwrap_or(n));
        let finished: Vec<(Key, u64)> = {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            let keep = match current {
                Some(minute) => counts.split_off(&(minute, String::new(), String::new(), None)),
                None => BTreeMap::new(),
            };
            std::mem::replace(&mut *counts, keep).into_iter().collect()
        };
        let mut written = 0;
        for ((minute, consumer, data_source, user), count) in finished {
            let line = HandOutCount {
                minute,
                consumer,
                data_source,
                user,
                count,
            };
            let Ok(mut bytes) = serde_json::to_vec(&line) else {
                continue;
            };
            bytes.push(b'\n');
            match self.log.append_line(&bytes) {
                Ok(()) => written += 1,
                Err(error) => {
                    tracing::warn!(path = %self.log.path().display(), %error, "hand-out counts not written");
                }
            }
        }
        written
    }

    /// Every counted line of the current file, oldest first.
    pub fn read(&self) -> std::io::Result<Vec<HandOutCount>> {
        self.log.read_lines()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_outs_become_one_line_per_consumer_token_and_minute() {
        let dir = tempfile::tempdir().expect("dir");
        let tally = HandOutTally::in_dir(dir.path());
        let t0 = DateTime::parse_from_rfc3339("2026-12-03T10:00:10Z")
            .expect("time")
            .with_timezone(&Utc);
        let a = TokenTarget::data_source("A");
        let jdoe = TokenTarget::user("A", "USER/jdoe");
        for n in 0..1000 {
            tally.count("Portal", &a, t0 + TimeDelta::milliseconds(n));
        }
        tally.count("Portal", &jdoe, t0);
        tally.count("Portal", &a, t0 + TimeDelta::minutes(1));
        // Only the finished minute is written while the next one runs.
        assert_eq!(tally.flush(Some(t0 + TimeDelta::seconds(65))), 2);
        let lines = tally.read().expect("read");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].count, 1000);
        assert_eq!(lines[0].user, None);
        assert_eq!(lines[1].user.as_deref(), Some("USER/jdoe"));
        // At shutdown the running minute is written too.
        assert_eq!(tally.flush(None), 1);
        assert_eq!(tally.read().expect("read").len(), 3);
        assert_eq!(tally.flush(None), 0);
    }
}
