//! The embedded SQLite store: one database file in WAL mode.

mod threads;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use self::threads::Threads;
use super::StoredCreated;
use super::{
    Created, Cursor, Idempotency, Insert, MoodPage, NewSession, Page, RateKind, Session, Store,
    StoreError, StoreResult, StoreStats, TokenHash,
};
use crate::domain::{DayMood, Entry, EntryId, NewEntry, Run, Tz, User, UserId, Username};

/// How hard a commit tries to reach the disk before the write is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// The commit is in the WAL file when answered: it survives a crash of
    /// the process, not necessarily of the machine.
    Process,
    /// The WAL is fsynced before every answer: survives power loss too.
    Power,
}

#[derive(Debug, Clone)]
pub struct SqliteConfig {
    pub path: PathBuf,
    pub durability: Durability,
    /// Reader connections, each on its own thread.
    pub readers: usize,
}

/// How long a connection waits for a lock another holds.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Bytes of WAL file kept once the WAL restarts.
const WAL_SIZE_LIMIT: i64 = 32 << 20;

/// Migrations in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_revision.sql"),
    include_str!("migrations/0003_streak_runs.sql"),
];

pub struct SqliteStore {
    threads: Threads,
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database, then starts
    /// the connection threads.
    pub fn open(config: &SqliteConfig) -> anyhow::Result<Self> {
        let writer = open_connection(&config.path, config.durability, false)?;
        migrate(&writer)?;
        let readers = (0..config.readers.max(1))
            .map(|_| open_connection(&config.path, config.durability, true))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            threads: Threads::start(writer, readers),
        })
    }

    /// Runs the migrations and returns how many were applied.
    pub fn migrate_only(config: &SqliteConfig) -> anyhow::Result<usize> {
        let conn = open_connection(&config.path, config.durability, false)?;
        migrate(&conn)
    }
}

fn open_connection(
    path: &Path,
    durability: Durability,
    read_only: bool,
) -> anyhow::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| anyhow::anyhow!("cannot open SQLite database {}: {e}", path.display()))?;
    let synchronous = match durability {
        Durability::Process => "NORMAL",
        Durability::Power => "FULL",
    };
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // A WAL that grew (readers kept it from restarting) shrinks back
        // to this when it next restarts, instead of keeping the disk.
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    }
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // 4 MB of page cache per connection keeps hot pages in memory while the
    // whole process stays well under 100 MB.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous};
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -4000;"
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &Connection) -> anyhow::Result<usize> {
    let done: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    anyhow::ensure!(
        done <= MIGRATIONS.len(),
        "the database was written by a newer moodlog (schema version {done})"
    );
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(MIGRATIONS.len() - done)
}

/// Sorts driver errors into "cannot store now", "try again later" and "bug".
fn classify(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    use rusqlite::ffi;
    let extended = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => failure.extended_code,
        _ => 0,
    };
    match e.sqlite_error_code() {
        Some(DiskFull | ReadOnly) => StoreError::Unwritable(e.to_string()),
        // Writing to or growing a file failed: the file system refuses
        // writes (read-only, immutable, out of quota) or the disk fails.
        Some(SystemIoFailure)
            if matches!(
                extended,
                ffi::SQLITE_IOERR_WRITE
                    | ffi::SQLITE_IOERR_FSYNC
                    | ffi::SQLITE_IOERR_DIR_FSYNC
                    | ffi::SQLITE_IOERR_TRUNCATE
                    | ffi::SQLITE_IOERR_SHMSIZE
            ) =>
        {
            StoreError::Unwritable(e.to_string())
        }
        Some(DatabaseBusy | DatabaseLocked | SystemIoFailure | CannotOpen | OutOfMemory) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        classify(e)
    }
}

fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

fn timestamp(micros: i64) -> rusqlite::Result<Timestamp> {
    Timestamp::from_microsecond(micros).map_err(|e| conversion(0, e))
}

fn date(text: &str) -> rusqlite::Result<Date> {
    Date::from_str(text).map_err(|e| conversion(0, e))
}

fn conversion(column: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
}

const USER_COLUMNS: &str = "users.id, users.username, users.timezone, users.created_at";

fn user_from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    let tz: String = row.get(at + 2)?;
    Ok(User {
        id: UserId(row.get(at)?),
        username: Username::from_trusted(row.get(at + 1)?),
        // A zone removed from the tz database falls back to UTC rather than
        // locking its user out.
        timezone: Tz::parse(&tz).unwrap_or_else(|_| Tz::utc()),
        created_at: timestamp(row.get(at + 3)?)?,
    })
}

const ENTRY_COLUMNS: &str = "id, rating, note, tags, recorded_at, timezone, local_date";

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    let tags: String = row.get(3)?;
    Ok(Entry {
        id: EntryId(row.get(0)?),
        rating: row.get(1)?,
        note: row.get(2)?,
        tags: serde_json::from_str(&tags).map_err(|e| conversion(3, e))?,
        recorded_at: timestamp(row.get(4)?)?,
        timezone: row.get(5)?,
        local_date: date(&row.get::<_, String>(6)?)?,
    })
}

fn counted_days(conn: &Connection, user: UserId) -> StoreResult<Vec<Date>> {
    let mut stmt = conn.prepare_cached("SELECT local_date FROM entry_days WHERE user_id = ?1")?;
    let days = stmt
        .query_map([user.0], |r| date(&r.get::<_, String>(0)?))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(days)
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        start: date(&row.get::<_, String>(0)?)?,
        end: date(&row.get::<_, String>(1)?)?,
    })
}

/// The stored run holding `day`, if `day` is counted.
fn run_containing(conn: &Connection, user: UserId, day: Date) -> StoreResult<Option<Run>> {
    let run = conn
        .prepare_cached(
            "SELECT first_day, last_day FROM streak_runs
             WHERE user_id = ?1 AND last_day >= ?2 ORDER BY last_day LIMIT 1",
        )?
        .query_row(params![user.0, day.to_string()], run_from_row)
        .optional()?;
    Ok(run.filter(|r| r.start <= day))
}

/// The user's stored run with the latest days.
fn latest_run(conn: &Connection, user: UserId) -> StoreResult<Option<Run>> {
    Ok(conn
        .prepare_cached(
            "SELECT first_day, last_day FROM streak_runs
             WHERE user_id = ?1 ORDER BY last_day DESC LIMIT 1",
        )?
        .query_row([user.0], run_from_row)
        .optional()?)
}

fn replace_runs(conn: &Connection, user: UserId, gone: &[Run], new: &[Run]) -> StoreResult<()> {
    for run in gone {
        conn.prepare_cached("DELETE FROM streak_runs WHERE user_id = ?1 AND last_day = ?2")?
            .execute(params![user.0, run.end.to_string()])?;
    }
    for run in new {
        conn.prepare_cached(
            "INSERT INTO streak_runs (user_id, last_day, first_day) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![user.0, run.end.to_string(), run.start.to_string()])?;
    }
    Ok(())
}

/// Records that `day` is now counted: it joins the runs either side.
fn count_day(conn: &Connection, user: UserId, day: Date) -> StoreResult<Run> {
    let before = match day.yesterday() {
        Ok(yesterday) => run_containing(conn, user, yesterday)?.filter(|r| r.end == yesterday),
        Err(_) => None,
    };
    let after = match day.tomorrow() {
        Ok(tomorrow) => run_containing(conn, user, tomorrow)?.filter(|r| r.start == tomorrow),
        Err(_) => None,
    };
    let run = Run::joined(before, day, after);
    let gone: Vec<Run> = before.into_iter().chain(after).collect();
    replace_runs(conn, user, &gone, &[run])?;
    Ok(run)
}

/// Records that `day` is no longer counted: its run splits around it.
fn uncount_day(conn: &Connection, user: UserId, day: Date) -> StoreResult<()> {
    let run = run_containing(conn, user, day)?
        .ok_or_else(|| StoreError::Internal(format!("counted day {day} is in no run")))?;
    let parts: Vec<Run> = run.without(day).into_iter().flatten().collect();
    replace_runs(conn, user, &[run], &parts)
}

/// Marks a change to the user's entries (see `Session::revision`).
fn advance_revision(conn: &Connection, user: UserId) -> StoreResult<()> {
    conn.prepare_cached("UPDATE users SET revision = revision + 1 WHERE id = ?1")?
        .execute([user.0])?;
    Ok(())
}

fn replay(
    conn: &Connection,
    user: UserId,
    idempotency: &Idempotency,
) -> StoreResult<Option<Created>> {
    let found: Option<(Vec<u8>, i64, String)> = conn
        .prepare_cached(
            "SELECT fingerprint, created_at, response FROM idempotency_keys
             WHERE user_id = ?1 AND key = ?2",
        )?
        .query_row(params![user.0, idempotency.key.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((fingerprint, created_at, response)) = found else {
        return Ok(None);
    };
    if created_at < micros(idempotency.not_before) {
        // Expired: forget it and treat the request as new.
        conn.prepare_cached("DELETE FROM idempotency_keys WHERE user_id = ?1 AND key = ?2")?
            .execute(params![user.0, idempotency.key.as_str()])?;
        return Ok(None);
    }
    if fingerprint != idempotency.fingerprint {
        return Err(StoreError::IdempotencyMismatch);
    }
    let stored: StoredCreated =
        serde_json::from_str(&response).map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok(Some(stored.into_created()?))
}

fn insert_entry(
    conn: &Connection,
    user: UserId,
    new: NewEntry,
    idempotency: Option<Idempotency>,
    today: Date,
    now: Timestamp,
) -> StoreResult<Insert> {
    if let Some(key) = &idempotency
        && let Some(first) = replay(conn, user, key)?
    {
        return Ok(Insert::Replayed(first));
    }
    let local_date = new.local_date();
    // Never `max(id) + 1`: a deleted entry's id must not be handed out again.
    let id: i64 = conn
        .prepare_cached("UPDATE entry_id_sequence SET last_id = last_id + 1 RETURNING last_id")?
        .query_row([], |r| r.get(0))?;
    let entry = Entry {
        id: EntryId(id),
        rating: new.rating.get(),
        note: new.note.map(|n| n.into_inner()),
        tags: new.tags.into_inner(),
        recorded_at: new.recorded_at,
        timezone: new.timezone.name().to_string(),
        local_date,
    };
    let tags =
        serde_json::to_string(&entry.tags).map_err(|e| StoreError::Internal(e.to_string()))?;
    let day = local_date.to_string();
    conn.prepare_cached(
        "INSERT INTO entries
            (user_id, recorded_at, id, rating, note, tags, timezone, local_date, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        user.0,
        micros(entry.recorded_at),
        id,
        entry.rating,
        entry.note,
        tags,
        entry.timezone,
        day,
        micros(now),
    ])?;
    let entries_that_day: i64 = conn
        .prepare_cached(
            "INSERT INTO entry_days (user_id, local_date, entries) VALUES (?1, ?2, 1)
             ON CONFLICT (user_id, local_date) DO UPDATE SET entries = entries + 1
             RETURNING entries",
        )?
        .query_row(params![user.0, day], |r| r.get(0))?;
    advance_revision(conn, user)?;

    let run = if entries_that_day == 1 {
        count_day(conn, user, local_date)?
    } else {
        run_containing(conn, user, local_date)?
            .ok_or_else(|| StoreError::Internal(format!("counted day {day} is in no run")))?
    };
    let created = Created {
        streak: run.streak_on(local_date),
        current_streak: Run::current(latest_run(conn, user)?, today),
        entry,
    };
    if let Some(key) = idempotency {
        let response = serde_json::to_string(&StoredCreated::from(&created))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        conn.prepare_cached(
            "INSERT INTO idempotency_keys (user_id, key, fingerprint, created_at, response)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            user.0,
            key.key.as_str(),
            &key.fingerprint[..],
            micros(now),
            response
        ])?;
    }
    Ok(Insert::Created(created))
}

fn mood_page(conn: &mut Connection, user: UserId, page: Page) -> StoreResult<MoodPage> {
    // One read transaction, so the page and the days agree.
    let tx = conn.transaction()?;
    // One extra row tells whether there is a next page.
    let limit = page.limit.map_or(i64::MAX, |l| i64::from(l) + 1);
    let mut entries = match page.cursor {
        None => tx
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE user_id = ?1
                 ORDER BY recorded_at DESC, id DESC LIMIT ?2"
            ))?
            .query_map(params![user.0, limit], entry_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        Some(c) => tx
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries
                 WHERE user_id = ?1 AND (recorded_at, id) < (?2, ?3)
                 ORDER BY recorded_at DESC, id DESC LIMIT ?4"
            ))?
            .query_map(
                params![user.0, micros(c.recorded_at), c.id.0, limit],
                entry_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
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
    let days = counted_days(&tx, user)?;
    let revision = tx
        .prepare_cached("SELECT revision FROM users WHERE id = ?1")?
        .query_row([user.0], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    Ok(MoodPage {
        entries,
        days,
        next,
        revision,
    })
}

#[async_trait]
impl Store for SqliteStore {
    /// Both paths must answer: a reader, and the writer (which needs the
    /// database's write lock to open its transaction).
    async fn ping(&self) -> StoreResult<()> {
        fn select_one(conn: &Connection) -> StoreResult<()> {
            conn.prepare_cached("SELECT 1")?.query_row([], |_| Ok(()))?;
            Ok(())
        }
        let read = self.threads.read(|conn| select_one(conn));
        let write = self.threads.write(select_one);
        tokio::try_join!(read, write).map(drop)
    }

    fn stats(&self) -> StoreStats {
        self.threads
            .counters
            .stats("sqlite", self.threads.connections)
    }

    async fn create_user(
        &self,
        username: &Username,
        password_hash: &str,
        timezone: &Tz,
        now: Timestamp,
    ) -> StoreResult<User> {
        let user = User {
            id: UserId(0),
            username: username.clone(),
            timezone: timezone.clone(),
            created_at: now,
        };
        let hash = password_hash.to_string();
        self.threads
            .write(move |conn| {
                // Never `max(id) + 1` (see the migration); a refused
                // sign-up wastes its id.
                let id: i64 = conn
                    .prepare_cached(
                        "UPDATE user_id_sequence SET last_id = last_id + 1 RETURNING last_id",
                    )?
                    .query_row([], |r| r.get(0))?;
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO users (id, username, password_hash, timezone, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (username) DO NOTHING",
                    )?
                    .execute(params![
                        id,
                        user.username.as_str(),
                        hash,
                        user.timezone.name(),
                        micros(user.created_at)
                    ])?;
                if inserted == 0 {
                    return Err(StoreError::UsernameTaken);
                }
                Ok(User {
                    id: UserId(id),
                    ..user
                })
            })
            .await
    }

    async fn credentials(&self, username: &Username) -> StoreResult<Option<(User, String)>> {
        let username = username.as_str().to_string();
        self.threads
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ?1"
                    ))?
                    .query_row([username], |r| Ok((user_from_row(r, 0)?, r.get(4)?)))
                    .optional()?)
            })
            .await
    }

    async fn password_hash(&self, user: UserId) -> StoreResult<Option<String>> {
        self.threads
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT password_hash FROM users WHERE id = ?1")?
                    .query_row([user.0], |r| r.get(0))
                    .optional()?)
            })
            .await
    }

    async fn set_timezone(&self, user: UserId, timezone: &Tz) -> StoreResult<Option<User>> {
        let name = timezone.name().to_string();
        self.threads
            .write(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "UPDATE users SET timezone = ?2, revision = revision + 1
                         WHERE id = ?1 RETURNING {USER_COLUMNS}"
                    ))?
                    .query_row(params![user.0, name], |r| user_from_row(r, 0))
                    .optional()?)
            })
            .await
    }

    async fn set_password(&self, user: UserId, password_hash: &str, keep: i64) -> StoreResult<()> {
        let hash = password_hash.to_string();
        self.threads
            .write(move |conn| {
                conn.prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")?
                    .execute(params![user.0, hash])?;
                conn.prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND id <> ?2")?
                    .execute(params![user.0, keep])?;
                Ok(())
            })
            .await
    }

    async fn delete_user(&self, user: UserId) -> StoreResult<()> {
        self.threads
            .write(move |conn| {
                // Sessions, entries, days and keys go with it (ON DELETE CASCADE).
                conn.prepare_cached("DELETE FROM users WHERE id = ?1")?
                    .execute([user.0])?;
                Ok(())
            })
            .await
    }

    async fn create_session(&self, user: UserId, session: NewSession) -> StoreResult<()> {
        self.threads
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO sessions (user_id, token_hash, created_at, last_used_at, expires_at)
                     VALUES (?1, ?2, ?3, ?3, ?4)",
                )?
                .execute(params![
                    user.0,
                    &session.token_hash.0[..],
                    micros(session.created_at),
                    micros(session.expires_at)
                ])?;
                Ok(())
            })
            .await
    }

    async fn session(&self, token_hash: TokenHash) -> StoreResult<Option<Session>> {
        self.threads
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT sessions.id, sessions.created_at, sessions.last_used_at,
                                sessions.expires_at, {USER_COLUMNS}, users.revision
                         FROM sessions JOIN users ON users.id = sessions.user_id
                         WHERE sessions.token_hash = ?1"
                    ))?
                    .query_row([&token_hash.0[..]], |r| {
                        Ok(Session {
                            id: r.get(0)?,
                            created_at: timestamp(r.get(1)?)?,
                            last_used_at: timestamp(r.get(2)?)?,
                            expires_at: timestamp(r.get(3)?)?,
                            user: user_from_row(r, 4)?,
                            revision: r.get(8)?,
                        })
                    })
                    .optional()?)
            })
            .await
    }

    async fn touch_session(&self, session: i64, now: Timestamp) -> StoreResult<()> {
        self.threads
            .write(move |conn| {
                conn.prepare_cached("UPDATE sessions SET last_used_at = ?2 WHERE id = ?1")?
                    .execute(params![session, micros(now)])?;
                Ok(())
            })
            .await
    }

    async fn delete_session(&self, session: i64) -> StoreResult<()> {
        self.threads
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM sessions WHERE id = ?1")?
                    .execute([session])?;
                Ok(())
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
        self.threads
            .write(move |conn| insert_entry(conn, user, entry, idempotency, today, now))
            .await
    }

    async fn mood_page(&self, user: UserId, page: Page) -> StoreResult<MoodPage> {
        self.threads
            .read(move |conn| mood_page(conn, user, page))
            .await
    }

    async fn entry(&self, user: UserId, id: EntryId) -> StoreResult<Option<(Entry, Vec<Date>)>> {
        self.threads
            .read(move |conn| {
                let tx = conn.transaction()?;
                let entry = tx
                    .prepare_cached(&format!(
                        "SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?1 AND user_id = ?2"
                    ))?
                    .query_row(params![id.0, user.0], entry_from_row)
                    .optional()?;
                match entry {
                    Some(entry) => Ok(Some((entry, counted_days(&tx, user)?))),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn daily_moods(&self, user: UserId, since: Date) -> StoreResult<Vec<DayMood>> {
        // Every zone's offset is under a day, so entries dated `since` or
        // later were recorded after midnight UTC of the day before: that
        // bound turns the query into a range scan of the primary key.
        let earliest = since
            .yesterday()
            .ok()
            .and_then(|d| jiff::tz::TimeZone::UTC.to_timestamp(d.at(0, 0, 0, 0)).ok())
            .map_or(i64::MIN, Timestamp::as_microsecond);
        self.threads
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT local_date, AVG(rating), COUNT(*) FROM entries
                     WHERE user_id = ?1 AND recorded_at >= ?2 AND local_date >= ?3
                     GROUP BY local_date ORDER BY local_date",
                )?;
                let days = stmt
                    .query_map(params![user.0, earliest, since.to_string()], |r| {
                        Ok(DayMood {
                            date: date(&r.get::<_, String>(0)?)?,
                            average: r.get(1)?,
                            entries: r.get(2)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(days)
            })
            .await
    }

    async fn delete_entry(&self, user: UserId, id: EntryId) -> StoreResult<bool> {
        self.threads
            .write(move |conn| {
                let day: Option<String> = conn
                    .prepare_cached(
                        "DELETE FROM entries WHERE id = ?1 AND user_id = ?2 RETURNING local_date",
                    )?
                    .query_row(params![id.0, user.0], |r| r.get(0))
                    .optional()?;
                let Some(day) = day else {
                    return Ok(false);
                };
                let decremented = conn
                    .prepare_cached(
                        "UPDATE entry_days SET entries = entries - 1
                         WHERE user_id = ?1 AND local_date = ?2 AND entries > 1",
                    )?
                    .execute(params![user.0, day])?;
                if decremented == 0 {
                    // The day's last entry: the day is no longer counted.
                    conn.prepare_cached(
                        "DELETE FROM entry_days WHERE user_id = ?1 AND local_date = ?2",
                    )?
                    .execute(params![user.0, day])?;
                    uncount_day(conn, user, date(&day)?)?;
                }
                advance_revision(conn, user)?;
                Ok(true)
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
        self.threads
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT at FROM rate_events WHERE kind = ?1 AND key = ?2 AND at >= ?3
                     ORDER BY at DESC LIMIT ?4",
                )?;
                let rows = stmt
                    .query_map(params![kind.as_str(), key, micros(since), limit], |r| {
                        timestamp(r.get(0)?)
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await
    }

    async fn add_event(&self, kind: RateKind, key: &str, at: Timestamp) -> StoreResult<()> {
        let key = key.to_string();
        self.threads
            .write(move |conn| {
                conn.prepare_cached("INSERT INTO rate_events (kind, key, at) VALUES (?1, ?2, ?3)")?
                    .execute(params![kind.as_str(), key, micros(at)])?;
                Ok(())
            })
            .await
    }

    async fn clear_events(&self, kind: RateKind, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.threads
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM rate_events WHERE kind = ?1 AND key = ?2")?
                    .execute(params![kind.as_str(), key])?;
                Ok(())
            })
            .await
    }

    async fn purge(&self, cutoffs: super::Purge) -> StoreResult<u64> {
        self.threads
            .write(move |conn| {
                let mut n = conn
                    .prepare_cached(
                        "DELETE FROM sessions WHERE expires_at <= ?1 OR last_used_at <= ?2",
                    )?
                    .execute(params![
                        micros(cutoffs.now),
                        micros(cutoffs.sessions_idle_before)
                    ])?;
                n += conn
                    .prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?1")?
                    .execute([micros(cutoffs.keys_before)])?;
                n += conn
                    .prepare_cached("DELETE FROM rate_events WHERE at < ?1")?
                    .execute([micros(cutoffs.events_before)])?;
                Ok(n as u64)
            })
            .await
    }
}
