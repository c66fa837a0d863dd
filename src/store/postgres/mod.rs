//! The PostgreSQL store: tokio-postgres clients in a deadpool pool, shared by
//! any number of moodlog instances.
//!
//! Where the SQLite store gets its consistency from having one writer, this
//! one gets it from the database:
//! - Everything that changes a user's entries (the entry, its counted day,
//!   its idempotency key) happens in one transaction that first locks the
//!   user's row (`FOR NO KEY UPDATE`). Those transactions are therefore
//!   serial per user, across instances, exactly like SQLite's writer, so the
//!   counted days stay in step and the streaks an insert returns include
//!   every committed entry. Other users, reads, and writes that only need a
//!   key-share lock on the user (sessions) do not wait.
//! - Each call runs to its end on a task of its own (`PostgresStore::run`),
//!   even when its caller stops waiting; a transaction an error leaves
//!   behind rolls back (tokio-postgres sends ROLLBACK when it is dropped).
//! - Reads that must agree with each other (a page and its days) run in one
//!   REPEATABLE READ, READ ONLY transaction: one snapshot.
//!
//! Times are `timestamptz`, bound as `SystemTime` (microseconds, like the
//! API). Dates are `date`, passed as ISO text (`$1::text::date`) and read
//! back as `date::text`: the driver knows jiff 0.1/0.2 only, and a binary
//! codec of our own would need the `bytes` crate.

mod errors;
mod migrate;
mod pool;

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Object, Pool, Transaction};
use jiff::Timestamp;
use jiff::civil::Date;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{IsolationLevel, Row};

use self::pool::Work;
use super::{
    Counters, Created, Cursor, Idempotency, Insert, MoodPage, NewSession, Page, Purge, RateKind,
    Session, Store, StoreError, StoreResult, StoreStats, StoredCreated, TokenHash,
};
use crate::domain::{DayMood, Entry, EntryId, NewEntry, Run, Tz, User, UserId, Username};

/// How to reach the database and how long to wait for it.
#[derive(Clone)]
pub struct PostgresConfig {
    /// Where to connect (host, port, user, password, dbname, `options`, …).
    pub pg: tokio_postgres::Config,
    /// Most connections held open at once.
    pub pool_size: usize,
    /// Each statement is cancelled by the server after this long
    /// (`statement_timeout`); zero means no limit.
    pub statement_timeout: Duration,
    /// Connecting gives up after this long.
    pub connect_timeout: Duration,
    /// Waiting for a pooled connection gives up after this long.
    pub pool_timeout: Duration,
}

/// Shows where, never the password (nor the user or options).
impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("at", &address(&self.pg))
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("pool_timeout", &self.pool_timeout)
            .finish_non_exhaustive()
    }
}

/// `host:port,…/dbname`, for messages.
pub fn address(pg: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .zip(pg.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!("{}/{}", hosts.join(","), pg.get_dbname().unwrap_or(""))
}

pub struct PostgresStore {
    db: Arc<Db>,
}

/// What a call's task needs: it outlives the call when the caller gives up.
struct Db {
    pool: Pool,
    counters: Counters,
}

impl PostgresStore {
    /// Connects, runs pending migrations, and returns the store. Fails
    /// (with an error that never contains the password) when the server
    /// cannot be reached.
    pub async fn connect(config: &PostgresConfig) -> anyhow::Result<Self> {
        let pool = pool::build(config)?;
        migrate_with(&pool, config).await?;
        Ok(Self {
            db: Arc::new(Db {
                pool,
                counters: Counters::default(),
            }),
        })
    }

    /// Runs pending migrations alone; returns how many were applied.
    pub async fn migrate_only(config: &PostgresConfig) -> anyhow::Result<usize> {
        let pool = pool::build(config)?;
        migrate_with(&pool, config).await
    }

    /// Runs a call on a task of its own, to its end even if the caller
    /// stops waiting (a request timeout drops its future). Otherwise the
    /// connection would go back to the pool with a statement still running
    /// on it, and the next caller would queue behind that. A write that
    /// started thus commits or rolls back as it would have, like a write
    /// queued for the SQLite store's writer; statement_timeout bounds it.
    async fn run<T, F, Fut>(&self, call: F) -> StoreResult<T>
    where
        F: FnOnce(Arc<Db>) -> Fut,
        Fut: Future<Output = StoreResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        match tokio::spawn(call(self.db.clone())).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Unavailable(
                "the runtime is shutting down".into(),
            )),
        }
    }
}

impl Db {
    async fn client(&self, work: Work) -> StoreResult<Object> {
        pool::checkout(&self.pool, &self.counters, work).await
    }

    async fn commit(&self, tx: Transaction<'_>) -> StoreResult<()> {
        tx.commit().await?;
        self.counters.committed(1);
        Ok(())
    }

    /// A transaction that sees one snapshot throughout and writes nothing.
    async fn snapshot(client: &mut Object) -> StoreResult<Transaction<'_>> {
        Ok(client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?)
    }

    /// One statement on its own (it commits by itself).
    async fn write(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        let client = self.client(Work::Write).await?;
        let n = execute(&client, sql, params).await?;
        self.counters.committed(1);
        Ok(n)
    }
}

async fn migrate_with(pool: &Pool, config: &PostgresConfig) -> anyhow::Result<usize> {
    let at = address(&config.pg);
    let mut client = pool.get().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to PostgreSQL at {at}: {}",
            errors::pool_reason(&e)
        )
    })?;
    migrate::run(&mut client)
        .await
        .map_err(|e| e.context(format!("cannot migrate the PostgreSQL database at {at}")))
}

// Statements go through the connection's statement cache: each is parsed
// and planned once per connection.

async fn query(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

async fn query_opt(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Option<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

async fn query_one(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Row> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_one(&statement, params).await?)
}

async fn execute(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<u64> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

fn internal(e: impl fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// A time as bound to `timestamptz`, truncated to the microsecond like
/// the SQLite store's integers, so both backends compare the same values.
fn pg_time(t: Timestamp) -> SystemTime {
    let micros = t.as_microsecond();
    let offset = Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 {
        SystemTime::UNIX_EPOCH + offset
    } else {
        SystemTime::UNIX_EPOCH - offset
    }
}

/// A time only compared with (a cursor, a cutoff, a `since`), brought into
/// PostgreSQL's range: `timestamptz` starts in 4714 BC, jiff in 9999 BC,
/// and no stored time is that early, so the earliest PostgreSQL time means
/// the same in any comparison. (A crafted cursor must not become an error.)
fn pg_bound(t: Timestamp) -> SystemTime {
    /// 4714-11-24T00:00:00Z BC.
    const PG_EARLIEST: Timestamp = Timestamp::constant(-210_866_803_200, 0);
    pg_time(t.max(PG_EARLIEST))
}

fn timestamp(t: SystemTime) -> StoreResult<Timestamp> {
    Timestamp::try_from(t).map_err(internal)
}

/// A `date` read back as text (`DateStyle` is ISO on every connection).
fn date(text: &str) -> StoreResult<Date> {
    Date::from_str(text).map_err(internal)
}

const USER_COLUMNS: &str = "users.id, users.username, users.timezone, users.created_at";

fn user_from_row(row: &Row, at: usize) -> StoreResult<User> {
    let tz: &str = row.try_get(at + 2)?;
    Ok(User {
        id: UserId(row.try_get(at)?),
        username: Username::from_trusted(row.try_get(at + 1)?),
        // A zone removed from the tz database falls back to UTC rather than
        // locking its user out.
        timezone: Tz::parse(tz).unwrap_or_else(|_| Tz::utc()),
        created_at: timestamp(row.try_get(at + 3)?)?,
    })
}

const ENTRY_COLUMNS: &str = "id, rating, note, tags, recorded_at, timezone, local_date::text";

fn entry_from_row(row: &Row) -> StoreResult<Entry> {
    let rating: i16 = row.try_get(1)?;
    Ok(Entry {
        id: EntryId(row.try_get(0)?),
        rating: u8::try_from(rating).map_err(internal)?,
        note: row.try_get(2)?,
        tags: row.try_get(3)?,
        recorded_at: timestamp(row.try_get(4)?)?,
        timezone: row.try_get(5)?,
        local_date: date(row.try_get(6)?)?,
    })
}

fn entries_from_rows(rows: &[Row]) -> StoreResult<Vec<Entry>> {
    rows.iter().map(entry_from_row).collect()
}

async fn counted_days(c: &impl GenericClient, user: UserId) -> StoreResult<Vec<Date>> {
    query(
        c,
        "SELECT local_date::text FROM entry_days WHERE user_id = $1",
        &[&user.0],
    )
    .await?
    .iter()
    .map(|r| date(r.try_get(0)?))
    .collect()
}

/// Makes this transaction the only one changing the user's entries until
/// it ends (see the module comment), and moves the user's revision on
/// (`Session::revision`); a transaction that changes nothing rolls back,
/// taking the new revision with it. The update takes the same row lock as
/// `FOR NO KEY UPDATE`. A missing user is left to the foreign keys to
/// refuse.
async fn lock_user(tx: &Transaction<'_>, user: UserId) -> StoreResult<()> {
    execute(tx, LOCK_USER, &[&user.0]).await?;
    Ok(())
}

const LOCK_USER: &str = "UPDATE users SET revision = revision + 1 WHERE id = $1";

/// Claims the key for this transaction, or returns the first result stored
/// under it.
///
/// The insert comes first, so the outcome never depends on what a read
/// happened to see: if another transaction holds the key uncommitted (the
/// same request retried, maybe on another instance), the unique index makes
/// this one wait until it ends, then see its outcome. (The caller's lock on
/// the user already orders the two; this would hold without it.) A key
/// older than `not_before` is forgotten: the conflicting row is taken over.
/// Either way the row stays locked until this transaction ends.
async fn claim_key(
    tx: &Transaction<'_>,
    user: UserId,
    idempotency: &Idempotency,
    now: Timestamp,
) -> StoreResult<Option<Created>> {
    let key = idempotency.key.as_str();
    let claimed = query_opt(
        tx,
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, created_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, key) DO UPDATE
             SET fingerprint = EXCLUDED.fingerprint,
                 created_at = EXCLUDED.created_at,
                 response = NULL
             WHERE idempotency_keys.created_at < $5
         RETURNING 1",
        &[
            &user.0,
            &key,
            &&idempotency.fingerprint[..],
            &pg_time(now),
            &pg_bound(idempotency.not_before),
        ],
    )
    .await?;
    if claimed.is_some() {
        return Ok(None);
    }
    let first = query_one(
        tx,
        "SELECT fingerprint, response FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        &[&user.0, &key],
    )
    .await?;
    let fingerprint: &[u8] = first.try_get(0)?;
    if fingerprint != idempotency.fingerprint {
        return Err(StoreError::IdempotencyMismatch);
    }
    let Some(Json(response)) = first.try_get::<_, Option<Json<StoredCreated>>>(1)? else {
        return Err(internal(
            "an idempotency key was committed without its response",
        ));
    };
    response.into_created().map(Some)
}

fn run_from_row(row: &Row) -> StoreResult<Run> {
    Ok(Run {
        start: date(row.try_get(0)?)?,
        end: date(row.try_get(1)?)?,
    })
}

const RUN_CONTAINING: &str = "SELECT first_day::text, last_day::text FROM streak_runs
     WHERE user_id = $1 AND last_day >= $2::text::date ORDER BY last_day LIMIT 1";

/// The stored run holding `day`, if `day` is counted (and has a date).
async fn run_containing(
    c: &impl GenericClient,
    user: UserId,
    day: Option<Date>,
) -> StoreResult<Option<Run>> {
    let Some(day) = day else {
        return Ok(None);
    };
    let row = query_opt(c, RUN_CONTAINING, &[&user.0, &day.to_string()]).await?;
    let run = row.as_ref().map(run_from_row).transpose()?;
    Ok(run.filter(|r| r.start <= day))
}

/// Replaces the stored runs `gone` with `new` (at most two of each), in
/// one round trip; deletions go first, as a new run may end where a gone
/// one did.
async fn replace_runs(
    tx: &Transaction<'_>,
    user: UserId,
    gone: &[Run],
    new: &[Run],
) -> StoreResult<()> {
    assert!(
        gone.len() <= 2 && new.len() <= 2,
        "a day touches at most two runs"
    );
    let (delete, insert) = tokio::try_join!(
        tx.prepare_cached(
            "DELETE FROM streak_runs WHERE user_id = $1 AND last_day = $2::text::date"
        ),
        tx.prepare_cached(
            "INSERT INTO streak_runs (user_id, last_day, first_day)
             VALUES ($1, $2::text::date, $3::text::date)",
        ),
    )?;
    let gone: Vec<String> = gone.iter().map(|r| r.end.to_string()).collect();
    let new: Vec<[String; 2]> = new
        .iter()
        .map(|r| [r.end.to_string(), r.start.to_string()])
        .collect();
    let delete_nth = |i: usize| {
        let (delete, end) = (&delete, gone.get(i));
        async move {
            match end {
                Some(end) => tx.execute(delete, &[&user.0, end]).await,
                None => Ok(0),
            }
        }
    };
    let insert_nth = |i: usize| {
        let (insert, run) = (&insert, new.get(i));
        async move {
            match run {
                Some([end, start]) => tx.execute(insert, &[&user.0, end, start]).await,
                None => Ok(0),
            }
        }
    };
    tokio::try_join!(
        biased;
        delete_nth(0),
        delete_nth(1),
        insert_nth(0),
        insert_nth(1),
    )?;
    Ok(())
}

/// Stores the entry and counts its day: the new id, and how many entries
/// the day now has.
const INSERT_ENTRY: &str = "WITH entry AS (
         INSERT INTO entries
             (user_id, recorded_at, rating, note, tags, timezone, local_date, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7::text::date, $8)
         RETURNING id
     ), day AS (
         INSERT INTO entry_days (user_id, local_date, entries) VALUES ($1, $7::text::date, 1)
         ON CONFLICT (user_id, local_date) DO UPDATE SET entries = entry_days.entries + 1
         RETURNING entries
     )
     SELECT (SELECT id FROM entry), (SELECT entries FROM day)";

/// The stored runs around a day, by `which`: 0 the run ending the day
/// before, 1 the first run ending on or after the day, 2 the first ending
/// on or after the day after, 3 the latest run.
const RUNS_AROUND: &str = "(SELECT first_day::text, last_day::text, 0 FROM streak_runs
      WHERE user_id = $1 AND last_day = $2::text::date - 1)
     UNION ALL
     (SELECT first_day::text, last_day::text, 1 FROM streak_runs
      WHERE user_id = $1 AND last_day >= $2::text::date ORDER BY last_day LIMIT 1)
     UNION ALL
     (SELECT first_day::text, last_day::text, 2 FROM streak_runs
      WHERE user_id = $1 AND last_day >= $2::text::date + 1 ORDER BY last_day LIMIT 1)
     UNION ALL
     (SELECT first_day::text, last_day::text, 3 FROM streak_runs
      WHERE user_id = $1 ORDER BY last_day DESC LIMIT 1)";

/// Stores a new entry and counts its day, and answers with the streaks,
/// read from the stored runs around the day: the cost does not grow with
/// the user's history.
///
/// The statements are pipelined: prepared first (from the connection's
/// cache), then sent together in order (`biased`) and answered in order.
/// The server runs them one after another, each in a snapshot that sees
/// the ones before it, so the runs read here reflect every earlier write of
/// this user (the transaction holds the user's row, see `lock_user`, which
/// is sent first when `lock` is set).
async fn add_entry(
    tx: &Transaction<'_>,
    user: UserId,
    new: NewEntry,
    today: Date,
    now: Timestamp,
    lock: bool,
) -> StoreResult<Created> {
    let local_date = new.local_date();
    let day = local_date.to_string();
    let rating = i16::from(new.rating.get());
    let note = new.note.map(|n| n.into_inner());
    let tags = new.tags.into_inner();
    let (lock_user, insert, runs_around) = tokio::try_join!(
        tx.prepare_cached(LOCK_USER),
        tx.prepare_cached(INSERT_ENTRY),
        tx.prepare_cached(RUNS_AROUND),
    )?;
    let recorded_at = pg_time(new.recorded_at);
    let created_at = pg_time(now);
    let timezone = new.timezone.name();
    let (_, inserted, runs) = tokio::try_join!(
        biased;
        async {
            match lock {
                true => tx.execute(&lock_user, &[&user.0]).await,
                false => Ok(0),
            }
        },
        async {
            let params: [&(dyn ToSql + Sync); 8] =
                [&user.0, &recorded_at, &rating, &note, &tags, &timezone, &day, &created_at];
            tx.query_one(&insert, &params).await
        },
        async { tx.query(&runs_around, &[&user.0, &day]).await },
    )?;
    let id: i64 = inserted.try_get(0)?;
    let entries_that_day: i32 = inserted.try_get(1)?;
    let mut around: [Option<Run>; 4] = [None; 4];
    for row in &runs {
        let which: i32 = row.try_get(2)?;
        let slot = usize::try_from(which).ok().and_then(|i| around.get_mut(i));
        *slot.ok_or_else(|| internal("a run around the day out of place"))? =
            Some(run_from_row(row)?);
    }
    let [before, at, after, latest] = around;
    let (run, latest) = if entries_that_day == 1 {
        // A newly counted day: it joins the runs ending the day before and
        // starting the day after.
        let after = after.filter(|r| local_date.tomorrow().ok() == Some(r.start));
        let run = Run::joined(before, local_date, after);
        let gone: Vec<Run> = before.into_iter().chain(after).collect();
        replace_runs(tx, user, &gone, &[run]).await?;
        let latest = latest.filter(|l| l.end > run.end).unwrap_or(run);
        (run, Some(latest))
    } else {
        let run = at
            .filter(|r| r.start <= local_date)
            .ok_or_else(|| internal(format!("counted day {day} is in no run")))?;
        (run, latest)
    };
    Ok(Created {
        streak: run.streak_on(local_date),
        current_streak: Run::current(latest, today),
        entry: Entry {
            id: EntryId(id),
            rating: new.rating.get(),
            note,
            tags,
            recorded_at: new.recorded_at,
            timezone: new.timezone.name().to_string(),
            local_date,
        },
    })
}

#[async_trait]
impl Store for PostgresStore {
    /// A standby answers reads but refuses writes: not ready.
    async fn ping(&self) -> StoreResult<()> {
        self.run(|db| async move {
            let client = db.client(Work::Read).await?;
            let standby: bool = query_one(&client, "SELECT pg_is_in_recovery()", &[])
                .await?
                .try_get(0)?;
            if standby {
                return Err(StoreError::Unavailable(
                    "the server is a read-only standby".into(),
                ));
            }
            Ok(())
        })
        .await
    }

    fn stats(&self) -> StoreStats {
        let connections = self.db.pool.status().size as u64;
        self.db.counters.stats("postgres", connections)
    }

    async fn create_user(
        &self,
        username: &Username,
        password_hash: &str,
        timezone: &Tz,
        now: Timestamp,
    ) -> StoreResult<User> {
        let (username, timezone) = (username.clone(), timezone.clone());
        let password_hash = password_hash.to_string();
        self.run(move |db| async move {
            let client = db.client(Work::Write).await?;
            // ON CONFLICT rather than catching the unique violation: a
            // concurrent sign-up with the same name waits for the first
            // and then inserts nothing.
            let row = query_opt(
                &client,
                "INSERT INTO users (username, password_hash, timezone, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING
                 RETURNING id",
                &[
                    &username.as_str(),
                    &password_hash,
                    &timezone.name(),
                    &pg_time(now),
                ],
            )
            .await?;
            db.counters.committed(1);
            let Some(row) = row else {
                return Err(StoreError::UsernameTaken);
            };
            Ok(User {
                id: UserId(row.try_get(0)?),
                username,
                timezone,
                created_at: now,
            })
        })
        .await
    }

    async fn credentials(&self, username: &Username) -> StoreResult<Option<(User, String)>> {
        let username = username.clone();
        self.run(move |db| async move {
            let client = db.client(Work::Read).await?;
            query_opt(
                &client,
                &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1"),
                &[&username.as_str()],
            )
            .await?
            .map(|r| Ok((user_from_row(&r, 0)?, r.try_get(4)?)))
            .transpose()
        })
        .await
    }

    async fn password_hash(&self, user: UserId) -> StoreResult<Option<String>> {
        self.run(move |db| async move {
            let client = db.client(Work::Read).await?;
            query_opt(
                &client,
                "SELECT password_hash FROM users WHERE id = $1",
                &[&user.0],
            )
            .await?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
        })
        .await
    }

    async fn set_timezone(&self, user: UserId, timezone: &Tz) -> StoreResult<Option<User>> {
        let name = timezone.name().to_string();
        self.run(move |db| async move {
            let client = db.client(Work::Write).await?;
            let row = query_opt(
                &client,
                &format!(
                    "UPDATE users SET timezone = $2, revision = revision + 1
                     WHERE id = $1 RETURNING {USER_COLUMNS}"
                ),
                &[&user.0, &name],
            )
            .await?;
            db.counters.committed(1);
            row.map(|r| user_from_row(&r, 0)).transpose()
        })
        .await
    }

    async fn set_password(&self, user: UserId, password_hash: &str, keep: i64) -> StoreResult<()> {
        let password_hash = password_hash.to_string();
        self.run(move |db| async move {
            let mut client = db.client(Work::Write).await?;
            let tx = client.transaction().await?;
            execute(
                &tx,
                "UPDATE users SET password_hash = $2 WHERE id = $1",
                &[&user.0, &password_hash],
            )
            .await?;
            execute(
                &tx,
                "DELETE FROM sessions WHERE user_id = $1 AND id <> $2",
                &[&user.0, &keep],
            )
            .await?;
            db.commit(tx).await
        })
        .await
    }

    async fn delete_user(&self, user: UserId) -> StoreResult<()> {
        self.run(move |db| async move {
            // Sessions, entries, days and keys go with it (ON DELETE CASCADE).
            db.write("DELETE FROM users WHERE id = $1", &[&user.0])
                .await
                .map(drop)
        })
        .await
    }

    async fn create_session(&self, user: UserId, session: NewSession) -> StoreResult<()> {
        self.run(move |db| async move {
            db.write(
                "INSERT INTO sessions (user_id, token_hash, created_at, last_used_at, expires_at)
                 VALUES ($1, $2, $3, $3, $4)",
                &[
                    &user.0,
                    &&session.token_hash.0[..],
                    &pg_time(session.created_at),
                    &pg_time(session.expires_at),
                ],
            )
            .await
            .map(drop)
        })
        .await
    }

    async fn session(&self, token_hash: TokenHash) -> StoreResult<Option<Session>> {
        self.run(move |db| async move {
            let client = db.client(Work::Read).await?;
            query_opt(
                &client,
                &format!(
                    "SELECT sessions.id, sessions.created_at, sessions.last_used_at,
                            sessions.expires_at, {USER_COLUMNS}, users.revision
                     FROM sessions JOIN users ON users.id = sessions.user_id
                     WHERE sessions.token_hash = $1"
                ),
                &[&&token_hash.0[..]],
            )
            .await?
            .map(|r| {
                Ok(Session {
                    id: r.try_get(0)?,
                    created_at: timestamp(r.try_get(1)?)?,
                    last_used_at: timestamp(r.try_get(2)?)?,
                    expires_at: timestamp(r.try_get(3)?)?,
                    user: user_from_row(&r, 4)?,
                    revision: r.try_get(8)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn touch_session(&self, session: i64, now: Timestamp) -> StoreResult<()> {
        self.run(move |db| async move {
            db.write(
                "UPDATE sessions SET last_used_at = $2 WHERE id = $1",
                &[&session, &pg_time(now)],
            )
            .await
            .map(drop)
        })
        .await
    }

    async fn delete_session(&self, session: i64) -> StoreResult<()> {
        self.run(move |db| async move {
            db.write("DELETE FROM sessions WHERE id = $1", &[&session])
                .await
                .map(drop)
        })
        .await
    }

    async fn insert_entry(
        &self,
        user: UserId,
        entry: NewEntry,
        idempotency: Option<Idempotency>,
        today: Date,
        now: Timestamp,
    ) -> StoreResult<Insert> {
        self.run(move |db| async move {
            let mut client = db.client(Work::Write).await?;
            let tx = client.transaction().await?;
            // A keyed request locks the user and claims its key first; an
            // unkeyed one sends the lock with its other statements.
            if let Some(key) = &idempotency {
                lock_user(&tx, user).await?;
                if let Some(first) = claim_key(&tx, user, key, now).await? {
                    // Nothing to keep; ending the transaction now releases
                    // the user's lock before the answer goes out.
                    tx.rollback().await?;
                    return Ok(Insert::Replayed(first));
                }
            }
            let lock = idempotency.is_none();
            let created = add_entry(&tx, user, entry, today, now, lock).await?;
            if let Some(key) = &idempotency {
                execute(
                    &tx,
                    "UPDATE idempotency_keys SET response = $3 WHERE user_id = $1 AND key = $2",
                    &[
                        &user.0,
                        &key.key.as_str(),
                        &Json(StoredCreated::from(&created)),
                    ],
                )
                .await?;
            }
            db.commit(tx).await?;
            Ok(Insert::Created(created))
        })
        .await
    }

    async fn mood_page(&self, user: UserId, page: Page) -> StoreResult<MoodPage> {
        self.run(move |db| async move {
            let mut client = db.client(Work::Read).await?;
            // One snapshot, so the page and the days agree.
            let tx = Db::snapshot(&mut client).await?;
            // One extra row tells whether there is a next page.
            let limit = page.limit.map_or(i64::MAX, |l| i64::from(l) + 1);
            let rows = match page.cursor {
                None => {
                    query(
                        &tx,
                        &format!(
                            "SELECT {ENTRY_COLUMNS} FROM entries WHERE user_id = $1
                             ORDER BY recorded_at DESC, id DESC LIMIT $2"
                        ),
                        &[&user.0, &limit],
                    )
                    .await?
                }
                Some(c) => {
                    query(
                        &tx,
                        &format!(
                            "SELECT {ENTRY_COLUMNS} FROM entries
                             WHERE user_id = $1 AND (recorded_at, id) < ($2, $3)
                             ORDER BY recorded_at DESC, id DESC LIMIT $4"
                        ),
                        &[&user.0, &pg_bound(c.recorded_at), &c.id.0, &limit],
                    )
                    .await?
                }
            };
            let mut entries = entries_from_rows(&rows)?;
            let days = counted_days(&tx, user).await?;
            let revision = query_opt(&tx, "SELECT revision FROM users WHERE id = $1", &[&user.0])
                .await?
                .map(|r| r.try_get(0))
                .transpose()?
                .unwrap_or(0);
            tx.commit().await?;
            let next = match page.limit {
                Some(limit) if entries.len() > limit as usize => {
                    entries.truncate(limit as usize);
                    entries.last().map(|e| Cursor {
                        recorded_at: e.recorded_at,
                        id: e.id,
                    })
                }
                _ => None,
            };
            Ok(MoodPage {
                entries,
                days,
                next,
                revision,
            })
        })
        .await
    }

    async fn entry(&self, user: UserId, id: EntryId) -> StoreResult<Option<(Entry, Vec<Date>)>> {
        self.run(move |db| async move {
            let mut client = db.client(Work::Read).await?;
            let tx = Db::snapshot(&mut client).await?;
            let row = query_opt(
                &tx,
                &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE id = $1 AND user_id = $2"),
                &[&id.0, &user.0],
            )
            .await?;
            let found = match row {
                Some(row) => Some((entry_from_row(&row)?, counted_days(&tx, user).await?)),
                None => None,
            };
            tx.commit().await?;
            Ok(found)
        })
        .await
    }

    async fn delete_entry(&self, user: UserId, id: EntryId) -> StoreResult<bool> {
        self.run(move |db| async move {
            let mut client = db.client(Work::Write).await?;
            let tx = client.transaction().await?;
            // With the user locked, nobody else changes this day's count
            // between the two statements below.
            lock_user(&tx, user).await?;
            let Some(row) = query_opt(
                &tx,
                "DELETE FROM entries WHERE id = $1 AND user_id = $2 RETURNING local_date::text",
                &[&id.0, &user.0],
            )
            .await?
            else {
                tx.rollback().await?;
                return Ok(false);
            };
            let day: &str = row.try_get(0)?;
            let decremented = execute(
                &tx,
                "UPDATE entry_days SET entries = entries - 1
                 WHERE user_id = $1 AND local_date = $2::text::date AND entries > 1",
                &[&user.0, &day],
            )
            .await?;
            if decremented == 0 {
                // The day's last entry: the day is no longer counted, and
                // its run splits around it.
                execute(
                    &tx,
                    "DELETE FROM entry_days WHERE user_id = $1 AND local_date = $2::text::date",
                    &[&user.0, &day],
                )
                .await?;
                let day = date(day)?;
                let run = run_containing(&tx, user, Some(day))
                    .await?
                    .ok_or_else(|| internal(format!("counted day {day} is in no run")))?;
                let parts: Vec<Run> = run.without(day).into_iter().flatten().collect();
                replace_runs(&tx, user, &[run], &parts).await?;
            }
            db.commit(tx).await?;
            Ok(true)
        })
        .await
    }

    async fn daily_moods(&self, user: UserId, since: Date) -> StoreResult<Vec<DayMood>> {
        // PostgreSQL reads no negative years in ISO text, and no stored
        // date is that early.
        const FIRST_DATE: Date = jiff::civil::date(1, 1, 1);
        // Every zone's offset is under a day, so entries dated `since` or
        // later were recorded after midnight UTC of the day before: that
        // bound turns the query into a range scan of `entries_page`.
        let earliest = since
            .yesterday()
            .ok()
            .and_then(|d| jiff::tz::TimeZone::UTC.to_timestamp(d.at(0, 0, 0, 0)).ok())
            .unwrap_or(Timestamp::MIN);
        let since = since.max(FIRST_DATE).to_string();
        self.run(move |db| async move {
            let client = db.client(Work::Read).await?;
            // The mean over float8 is the sum of the ratings divided by
            // their number in double precision, as SQLite computes it.
            query(
                &client,
                "SELECT local_date::text, avg(rating::float8), count(*) FROM entries
                 WHERE user_id = $1 AND recorded_at >= $2 AND local_date >= $3::text::date
                 GROUP BY local_date ORDER BY entries.local_date",
                &[&user.0, &pg_bound(earliest), &since],
            )
            .await?
            .iter()
            .map(|r| {
                Ok(DayMood {
                    date: date(r.try_get(0)?)?,
                    average: r.try_get(1)?,
                    entries: u32::try_from(r.try_get::<_, i64>(2)?).map_err(internal)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn recent_events(
        &self,
        kind: RateKind,
        key: &str,
        since: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Timestamp>> {
        let key = key.to_string();
        self.run(move |db| async move {
            let client = db.client(Work::Read).await?;
            query(
                &client,
                "SELECT at FROM rate_events WHERE kind = $1 AND key = $2 AND at >= $3
                 ORDER BY at DESC LIMIT $4",
                &[&kind.as_str(), &key, &pg_bound(since), &i64::from(limit)],
            )
            .await?
            .iter()
            .map(|r| timestamp(r.try_get(0)?))
            .collect()
        })
        .await
    }

    async fn add_event(&self, kind: RateKind, key: &str, at: Timestamp) -> StoreResult<()> {
        let key = key.to_string();
        self.run(move |db| async move {
            db.write(
                "INSERT INTO rate_events (kind, key, at) VALUES ($1, $2, $3)",
                &[&kind.as_str(), &key, &pg_time(at)],
            )
            .await
            .map(drop)
        })
        .await
    }

    async fn clear_events(&self, kind: RateKind, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.run(move |db| async move {
            db.write(
                "DELETE FROM rate_events WHERE kind = $1 AND key = $2",
                &[&kind.as_str(), &key],
            )
            .await
            .map(drop)
        })
        .await
    }

    async fn purge(&self, cutoffs: Purge) -> StoreResult<u64> {
        self.run(move |db| async move {
            let mut client = db.client(Work::Write).await?;
            let tx = client.transaction().await?;
            let mut n = execute(
                &tx,
                "DELETE FROM sessions WHERE expires_at <= $1 OR last_used_at <= $2",
                &[
                    &pg_bound(cutoffs.now),
                    &pg_bound(cutoffs.sessions_idle_before),
                ],
            )
            .await?;
            n += execute(
                &tx,
                "DELETE FROM idempotency_keys WHERE created_at < $1",
                &[&pg_bound(cutoffs.keys_before)],
            )
            .await?;
            n += execute(
                &tx,
                "DELETE FROM rate_events WHERE at < $1",
                &[&pg_bound(cutoffs.events_before)],
            )
            .await?;
            db.commit(tx).await?;
            Ok(n)
        })
        .await
    }
}
