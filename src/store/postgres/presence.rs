//! Who else uses the shared vault: a row per process (machine, face, pid),
//! refreshed while it runs, for the windows' status strip. Rows a day old go.

use super::StoreError;
use super::shared::Shared;
use crate::vault::backend::Presence;

/// This machine's name as the other machines see it.
pub(super) fn machine() -> String {
    whoami::fallible::hostname().unwrap_or_else(|_| "unknown machine".into())
}

fn pid() -> i32 {
    i32::try_from(std::process::id()).unwrap_or(i32::MAX)
}

impl Shared {
    pub(super) async fn announce(&self, face: &str) -> Result<(), StoreError> {
        let db = self.client().await?;
        db.execute(
            "INSERT INTO tokendesk_presence (vault, machine, face, pid) VALUES ($1, $2, $3, $4)
             ON CONFLICT (vault, machine, face, pid) DO UPDATE SET seen_at = now()",
            &[&self.vault, &machine(), &face, &pid()],
        )
        .await?;
        db.execute(
            "DELETE FROM tokendesk_presence WHERE vault = $1 AND seen_at < now() - interval '1 day'",
            &[&self.vault],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn present(&self, face: &str) -> Result<Vec<Presence>, StoreError> {
        let db = self.client().await?;
        let rows = db
            .query(
                "SELECT machine, face, extract(epoch FROM now() - max(seen_at))::bigint
                 FROM tokendesk_presence
                 WHERE vault = $1 AND seen_at > now() - interval '1 minute'
                   AND NOT (machine = $2 AND face = $3 AND pid = $4)
                 GROUP BY machine, face ORDER BY face, machine",
                &[&self.vault, &machine(), &face, &pid()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| Presence {
                machine: row.get(0),
                face: row.get(1),
                seconds_ago: row.get(2),
            })
            .collect())
    }
}

impl Shared {
    /// Ships the lines of this machine's audit spool in `folder` that the database
    /// does not have yet; the spool keeps them while the database is away.
    pub(super) async fn ship_audit(&self, folder: &std::path::Path) -> Result<usize, StoreError> {
        let (lines, mark) = crate::audit::spool::pending(folder)
            .map_err(|e| StoreError::Stopped(format!("the audit spool: {e}")))?;
        if lines.is_empty() {
            return Ok(0);
        }
        let spool = format!("{}:{}", machine(), folder.display());
        let places: Vec<&str> = lines.iter().map(|l| l.place.as_str()).collect();
        let times: Vec<chrono::DateTime<chrono::Utc>> = lines.iter().map(|l| l.at).collect();
        let entries: Vec<&serde_json::Value> = lines.iter().map(|l| &l.entry).collect();
        let db = self.client().await?;
        db.execute(
            "INSERT INTO tokendesk_audit (vault, spool, line, machine, at, entry)
             SELECT $1, $2, t.line, $3, t.at, t.entry
             FROM unnest($4::text[], $5::timestamptz[], $6::jsonb[]) AS t(line, at, entry)
             ON CONFLICT (vault, spool, line) DO NOTHING",
            &[&self.vault, &spool, &machine(), &places, &times, &entries],
        )
        .await?;
        crate::audit::spool::shipped(folder, mark)
            .map_err(|e| StoreError::Stopped(format!("the audit spool: {e}")))?;
        Ok(lines.len())
    }
}
