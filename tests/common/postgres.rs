//! A PostgreSQL schema of its own for one test, dropped when the test ends.
//!
//! Test crates share no code, so each includes this file with `#[path]`,
//! which is relative to the directory of the file declaring the module:
//! - from `tests/store.rs`: `#[path = "common/postgres.rs"] mod postgres_support;`
//! - from `tests/api/support.rs`: `#[path = "../common/postgres.rs"] mod postgres_support;`
//!
//! The server is `MOODLOG_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). A server that cannot be
//! reached fails the test: a PostgreSQL run that silently tested nothing
//! would be worse than a red one.

// Each including crate uses its own part of this file.
#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

pub const URL_VAR: &str = "MOODLOG_TEST_POSTGRES_URL";
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Connecting, and each statement here, give up after this long.
const PATIENCE: Duration = Duration::from_secs(10);

/// A schema named `moodlog_test_<random hex>` in the test database.
pub struct TestSchema {
    /// The server's URL with `options=-c search_path=<name>`: everything a
    /// store creates through it lands in this schema. Good for `moodlog serve
    /// --database-url` and for `tokio_postgres::Config::from_str`.
    pub url: String,
    pub name: String,
    base_url: String,
}

/// The URL of the server the tests use.
pub fn base_url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// Creates a fresh, empty schema; panics (failing the test) when PostgreSQL
/// cannot be reached.
pub async fn fresh_schema() -> TestSchema {
    let base_url = base_url();
    let now = unix_seconds();
    let name = format!("moodlog_test_{now}_{}", random_hex(8));
    let url = with_search_path(&base_url, &name);
    let client = connect(&base_url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is needed for this test but cannot be reached at {} \
             (set {URL_VAR} to a postgres:// URL of a running server): {e}",
            shown(&base_url)
        )
    });
    sweep_abandoned(&client, now).await;
    tokio::time::timeout(
        PATIENCE,
        client.batch_execute(&format!("CREATE SCHEMA {name}")),
    )
    .await
    .map_err(|_| "timed out".to_string())
    .and_then(|r| r.map_err(|e| error_text(&e)))
    .unwrap_or_else(|e| panic!("cannot create the test schema {name}: {e}"));
    TestSchema {
        url,
        name,
        base_url,
    }
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Schemas whose test process was killed (so never dropped its schema) are
/// swept once per test process: their names carry their creation time, and
/// no test runs for hours. Best effort: a failure here fails no test.
async fn sweep_abandoned(client: &tokio_postgres::Client, now: u64) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SWEPT.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let Ok(rows) = client
        .query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'moodlog\\_test\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let created = name
            .strip_prefix("moodlog_test_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        // Names without a time are from before this scheme: abandoned too.
        if created.is_none_or(|t| now.saturating_sub(t) > 3 * 3600) {
            let _ = client
                .batch_execute(&format!(
                    "SET lock_timeout = '1s'; DROP SCHEMA IF EXISTS {name} CASCADE"
                ))
                .await;
        }
    }
}

/// Dropping cannot await, and may happen on a runtime that is shutting
/// down, or with none: the schema is dropped from a thread of its own with
/// its own runtime, and waited for a bounded time. A schema that cannot be
/// dropped is reported and left behind rather than hanging the test.
impl Drop for TestSchema {
    fn drop(&mut self) {
        let (base_url, name) = (self.base_url.clone(), self.name.clone());
        let (done, result) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("drop-test-schema".into())
            .spawn(move || {
                let outcome = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
                    .and_then(|runtime| runtime.block_on(drop_schema(&base_url, &name)));
                let _ = done.send(outcome);
            });
        let outcome = match spawned {
            Ok(_) => result
                .recv_timeout(PATIENCE + Duration::from_secs(5))
                .unwrap_or_else(|_| Err("timed out".into())),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = outcome {
            eprintln!("could not drop the test schema {}: {e}", self.name);
        }
    }
}

async fn drop_schema(base_url: &str, name: &str) -> Result<(), String> {
    let work = async {
        let client = connect(base_url).await?;
        // A session still in a transaction on the schema's tables would make
        // the drop wait: one whose test panicked mid-way, or whose ROLLBACK
        // is queued on a runtime that is blocked in this very drop. The
        // schema is this test's alone, so those sessions are ended.
        client
            .execute(
                "SELECT pg_terminate_backend(l.pid)
                 FROM pg_locks l
                 JOIN pg_class c ON c.oid = l.relation
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()",
                &[&name],
            )
            .await
            .map_err(|e| error_text(&e))?;
        client
            .batch_execute(&format!(
                "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {name} CASCADE"
            ))
            .await
            .map_err(|e| error_text(&e))
    };
    tokio::time::timeout(PATIENCE, work)
        .await
        .map_err(|_| "timed out".to_string())?
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| format!("{URL_VAR} is not a postgres:// URL: {e}"))?;
    config.connect_timeout(PATIENCE);
    let (client, connection) =
        tokio::time::timeout(PATIENCE, config.connect(tokio_postgres::NoTls))
            .await
            .map_err(|_| "timed out connecting".to_string())?
            .map_err(|e| error_text(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// `url` plus `options=-c search_path=<schema>`, percent-encoded.
pub fn with_search_path(url: &str, schema: &str) -> String {
    assert!(
        url.starts_with("postgres://") || url.starts_with("postgresql://"),
        "{URL_VAR} must be a postgres:// URL"
    );
    assert!(
        !url.contains("options="),
        "{URL_VAR} must not set `options`: the tests set the search_path through it"
    );
    let separator = if url.contains('?') { '&' } else { '?' };
    // ' ' and '=' are the only characters here that need encoding.
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// The URL without its password, for messages.
fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// The driver's error with its causes: its own `Display` may say only "db error".
fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn random_hex(bytes: usize) -> String {
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random).expect("OS randomness");
    random.iter().map(|b| format!("{b:02x}")).collect()
}
