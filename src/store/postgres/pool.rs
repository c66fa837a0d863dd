//! Connections: a deadpool of tokio-postgres clients, set up so that a
//! database that is down or overloaded makes calls fail within a bounded
//! time, and so that the pool heals by itself once the server is back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::PostgresConfig;
use super::errors::pool_error;
use crate::store::{Counters, StoreResult};

pub(super) fn build(config: &PostgresConfig) -> anyhow::Result<Pool> {
    let mut pg = config.pg.clone();
    // Covers the TCP connect to each address; `create_timeout` below covers
    // the whole handshake (a server that accepts but never answers).
    pg.connect_timeout(config.connect_timeout);
    pg.options(session_options(pg.get_options(), config.statement_timeout));
    if pg.get_application_name().is_none() {
        // Names moodlog's sessions in pg_stat_activity.
        pg.application_name("moodlog");
    }
    // `Fast` recycling drops a connection whose socket has closed (the
    // server restarted, or the network dropped it) without a round trip per
    // checkout; a connection that broke unnoticed fails its next call as
    // Unavailable and is dropped on its return.
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(config.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.pool_timeout))
        .create_timeout(Some(config.connect_timeout))
        .recycle_timeout(Some(config.connect_timeout))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot set up the PostgreSQL connection pool: {e}"))
}

/// Server settings for every connection, sent in the start-up packet (no
/// round trip, and in force before the first statement). They come after
/// the URL's own `options`, so they win.
fn session_options(url_options: Option<&str>, statement_timeout: Duration) -> String {
    // Rounded up: a sub-millisecond timeout must not become 0, which
    // PostgreSQL reads as "no timeout".
    let millis = statement_timeout.as_micros().div_ceil(1000);
    // Our transactions never wait on the client between statements, so one
    // left idle this long belongs to an instance that died or was cut off
    // mid-write: end it, or its row locks would keep that user's writes
    // failing on every other instance until TCP notices (hours).
    // `date::text` is read back as YYYY-MM-DD whatever the server's default.
    let ours = format!(
        "-c statement_timeout={millis} -c idle_in_transaction_session_timeout={millis} -c DateStyle=ISO"
    );
    match url_options {
        Some(theirs) if !theirs.trim().is_empty() => format!("{theirs} {ours}"),
        _ => ours,
    }
}

/// What a call will do with its connection, for the queue gauges.
#[derive(Debug, Clone, Copy)]
pub(super) enum Work {
    Read,
    Write,
}

/// A connection from the pool, counted as queued while it is awaited.
pub(super) async fn checkout(pool: &Pool, counters: &Counters, work: Work) -> StoreResult<Object> {
    let queue = match work {
        Work::Read => &counters.queued_reads,
        Work::Write => &counters.queued_writes,
    };
    let _queued = Queued::enter(queue);
    pool.get().await.map_err(pool_error)
}

/// Leaves the queue when dropped, also when the caller gives up waiting
/// (a request timeout drops the future).
struct Queued<'a>(&'a AtomicU64);

impl<'a> Queued<'a> {
    fn enter(queue: &'a AtomicU64) -> Self {
        queue.fetch_add(1, Ordering::Relaxed);
        Self(queue)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_options_append_to_the_urls() {
        let second = Duration::from_secs(1);
        assert_eq!(
            session_options(None, second),
            "-c statement_timeout=1000 -c idle_in_transaction_session_timeout=1000 -c DateStyle=ISO"
        );
        assert_eq!(
            session_options(Some("-c search_path=s1"), Duration::from_micros(1)),
            "-c search_path=s1 -c statement_timeout=1 -c idle_in_transaction_session_timeout=1 -c DateStyle=ISO"
        );
        assert_eq!(
            session_options(Some(""), Duration::ZERO),
            "-c statement_timeout=0 -c idle_in_transaction_session_timeout=0 -c DateStyle=ISO"
        );
    }
}
