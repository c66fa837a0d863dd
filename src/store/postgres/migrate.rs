//! Schema migrations, safe to run from several instances starting at once.

use anyhow::Context;
use tokio_postgres::Client;

use super::errors::describe;

/// Migrations in order; `schema_migrations` records which have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_revision.sql"),
    include_str!("migrations/0003_streak_runs.sql"),
];

/// First key of the advisory lock that serialises migrations ("mood").
const LOCK_CLASS: i32 = 0x6d6f_6f64;

/// Runs the pending migrations in one transaction; returns how many ran.
///
/// The transaction first takes an advisory lock, so a second instance
/// starting at the same time waits, then finds the work done. The lock's
/// second key is the schema's name: instances of different schemas (tests
/// in parallel) do not wait for each other.
pub(super) async fn run(client: &mut Client) -> anyhow::Result<usize> {
    let tx = client.transaction().await.map_err(pg)?;
    // A migration may rewrite a large table, and waiting for another
    // instance's migration is expected: the per-statement limit meant for
    // requests does not apply here.
    tx.batch_execute("SET LOCAL statement_timeout = 0")
        .await
        .map_err(pg)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))",
        &[&LOCK_CLASS],
    )
    .await
    .map_err(pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    integer     PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(pg)
    .context("cannot create schema_migrations (does the search_path name an existing schema?)")?;
    let done: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(pg)?;
    let done = usize::try_from(done).context("negative schema version")?;
    anyhow::ensure!(
        done <= MIGRATIONS.len(),
        "the database was written by a newer moodlog (schema version {done})"
    );
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let version = i32::try_from(i + 1)?;
        tx.batch_execute(sql)
            .await
            .map_err(pg)
            .with_context(|| format!("migration {version} failed"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)?;
    Ok(MIGRATIONS.len() - done)
}

/// The driver's error with its causes: its own `Display` says only "db error".
fn pg(e: tokio_postgres::Error) -> anyhow::Error {
    anyhow::anyhow!(describe(&e))
}
