//! The database schema, versioned: each migration is a readable SQL file in
//! `migrations/`, applied in one transaction under an advisory lock the first time
//! a binary meets a database older than itself, and recorded. A database whose
//! schema is newer than the binary knows is refused before anything is written.

use tokio_postgres::Client;

use super::StoreError;

/// Every migration this binary knows, in order: (version, name, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "records", include_str!("migrations/0001_records.sql")),
    (
        2,
        "presence and audit",
        include_str!("migrations/0002_presence_audit.sql"),
    ),
    (
        3,
        "key versions",
        include_str!("migrations/0003_key_versions.sql"),
    ),
];

/// The newest schema this binary writes.
pub fn newest() -> i32 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// Brings the schema up to this binary's version, or refuses a newer one.
pub async fn ensure(client: &mut Client) -> Result<i32, StoreError> {
    let transaction = client.transaction().await?;
    // One binary migrates at a time; the others wait here, then find it done.
    transaction
        .execute("SELECT pg_advisory_xact_lock(7361836297)", &[])
        .await?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS tokendesk_schema (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 applied_by text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
    let found: i32 = transaction
        .query_one(
            "SELECT coalesce(max(version), 0) FROM tokendesk_schema",
            &[],
        )
        .await?
        .get(0);
    if found > newest() {
        return Err(StoreError::FutureSchema {
            found,
            known: newest(),
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > found) {
        transaction.batch_execute(sql).await?;
        transaction
            .execute(
                "INSERT INTO tokendesk_schema (version, name, applied_by) VALUES ($1, $2, $3)",
                &[
                    version,
                    name,
                    &format!("tokendesk {}", env!("CARGO_PKG_VERSION")),
                ],
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(newest())
}
