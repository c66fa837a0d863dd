//! Sorting driver and pool errors into "try again later" and "bug".
//!
//! Messages end up in logs, so they are built from parts that never carry
//! user data: an error's DETAIL (which quotes the offending row, mood notes
//! included) is left out, and the connection settings (with the password)
//! are never formatted.

use std::error::Error;

use deadpool_postgres::{PoolError, TimeoutType};

use crate::store::StoreError;

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        classify(&e)
    }
}

pub(super) fn classify(e: &tokio_postgres::Error) -> StoreError {
    // disk_full, and read_only_sql_transaction (a standby after a failover):
    // the server answers but cannot store anything now.
    if e.code()
        .is_some_and(|s| matches!(s.code(), "53100" | "25006"))
    {
        return StoreError::Unwritable(describe(e));
    }
    let transient = match e.code() {
        Some(state) => is_transient(state.code()),
        // No answer from the server: the connection broke or never was.
        None => e.is_closed() || has_io_cause(e),
    };
    if transient {
        StoreError::Unavailable(describe(e))
    } else {
        StoreError::Internal(describe(e))
    }
}

/// SQLSTATEs that say the server is gone, going, overloaded or too slow, or
/// that the same call is likely to succeed when tried again.
fn is_transient(state: &str) -> bool {
    state.starts_with("08") // connection_exception
        || state.starts_with("53") // insufficient_resources: too many connections, memory
        || matches!(
            state,
            "57014" // query_canceled: statement_timeout fired
                | "57P01" // admin_shutdown
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now: starting up or in recovery
                | "55P03" // lock_not_available: lock_timeout fired
                | "40001" // serialization_failure
                | "40P01" // deadlock_detected
        )
}

fn has_io_cause(e: &tokio_postgres::Error) -> bool {
    let mut cause = e.source();
    while let Some(c) = cause {
        if c.is::<std::io::Error>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Getting a connection failed: whatever the reason (refused, timed out,
/// authentication, missing database), the database cannot be used now.
pub(super) fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::NoRuntimeSpecified => StoreError::Internal(pool_reason(&e)),
        e => StoreError::Unavailable(pool_reason(&e)),
    }
}

pub(super) fn pool_reason(e: &PoolError) -> String {
    match e {
        PoolError::Timeout(TimeoutType::Wait) => {
            "timed out waiting for a free database connection".into()
        }
        PoolError::Timeout(TimeoutType::Create) => "timed out connecting to the database".into(),
        PoolError::Timeout(TimeoutType::Recycle) => {
            "timed out checking a pooled database connection".into()
        }
        PoolError::Backend(e) => describe(e),
        PoolError::Closed => "the connection pool is closed".into(),
        PoolError::PostCreateHook(e) => e.to_string(),
        PoolError::NoRuntimeSpecified => e.to_string(),
    }
}

/// The error and its causes on one line, e.g. `error connecting to server:
/// Connection refused (os error 111)`; for a server error, its message and
/// SQLSTATE.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_states() {
        for state in ["08006", "53300", "57014", "57P01", "57P03", "40P01"] {
            assert!(is_transient(state), "{state}");
        }
        for state in ["23505", "23503", "42P01", "22021", "XX000"] {
            assert!(!is_transient(state), "{state}");
        }
    }
}
