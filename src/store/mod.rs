//! Persistence behind one trait, with one implementation per database
//! engine. SQL and driver types stay inside the engine's module.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::domain::{
    DayMood, Entry, EntryId, IdempotencyKey, NewEntry, Tz, User, UserId, Username,
};

/// What can go wrong in a store call, as far as callers need to know.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The username is taken.
    #[error("username is taken")]
    UsernameTaken,
    /// The idempotency key was used before with a different request body.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// The database cannot be reached or did not answer in time; worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database answers but cannot store anything now: its disk is full
    /// or it is read-only. Reads go on; worth retrying later.
    #[error("database cannot store: {0}")]
    Unwritable(String),
    /// Anything else: a bug or corruption. Logged, never shown to clients.
    #[error("database error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// SHA-256 of a session token; the token itself is never stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// A stored session with its owner.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user: User,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    /// The user's revision: it moves on with every change to their entries
    /// or profile, so it tells whether a cached `GET /mood` body is current.
    pub revision: i64,
}

/// A new session to store.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: TokenHash,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Where a page of entries starts: just after this entry in newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub recorded_at: Timestamp,
    pub id: EntryId,
}

/// Which entries to read: newest first, after `cursor` if given, at most
/// `limit` if given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Page {
    pub limit: Option<u32>,
    pub cursor: Option<Cursor>,
}

/// A page of entries, newest first, with every day the user logged (for
/// the streaks, which always cover all entries). `next` is set when a
/// limited page left entries out.
#[derive(Debug, Clone)]
pub struct MoodPage {
    pub entries: Vec<Entry>,
    pub days: Vec<Date>,
    pub next: Option<Cursor>,
    /// The user's revision as of the same read (see `Session::revision`).
    pub revision: i64,
}

/// An entry with the streak figures computed in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub entry: Entry,
    pub streak: u32,
    pub current_streak: u32,
}

/// The result of `insert_entry`.
#[derive(Debug, Clone, PartialEq)]
pub enum Insert {
    /// A new entry was stored.
    Created(Created),
    /// The idempotency key was used before with the same request: this is
    /// the first request's result, unchanged; nothing new was stored.
    Replayed(Created),
}

/// The idempotency key of a request and a fingerprint of its body.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub fingerprint: [u8; 32],
    /// Keys used before this instant are forgotten.
    pub not_before: Timestamp,
}

/// Kinds of events counted for throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKind {
    /// A failed password check for one username from one client.
    LoginPairFailure,
    /// A failed password check from one client, any username.
    LoginClientFailure,
    /// A sign-up attempt from one client.
    Signup,
}

impl RateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginPairFailure => "login_pair",
            Self::LoginClientFailure => "login_client",
            Self::Signup => "signup",
        }
    }
}

/// What `Store::purge` deletes: whatever is older than these instants.
#[derive(Debug, Clone, Copy)]
pub struct Purge {
    /// Sessions whose absolute expiry is at or before this.
    pub now: Timestamp,
    /// Sessions last used at or before this.
    pub sessions_idle_before: Timestamp,
    pub keys_before: Timestamp,
    pub events_before: Timestamp,
}

/// Counters of the database's work, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    pub backend: &'static str,
    pub connections: u64,
    pub queued_reads: u64,
    pub queued_writes: u64,
    pub commits: u64,
    pub committed_writes: u64,
}

/// The counters behind `StoreStats`, kept by each backend.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Calls waiting for a connection (or a thread), by kind.
    pub queued_reads: std::sync::atomic::AtomicU64,
    pub queued_writes: std::sync::atomic::AtomicU64,
    /// Transactions committed, and the writes in them (SQLite commits
    /// several writes at once; PostgreSQL one per transaction).
    pub commits: std::sync::atomic::AtomicU64,
    pub committed_writes: std::sync::atomic::AtomicU64,
}

impl Counters {
    /// One transaction with `writes` writes in it was committed.
    pub(crate) fn committed(&self, writes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.commits.fetch_add(1, Relaxed);
        self.committed_writes.fetch_add(writes, Relaxed);
    }

    pub(crate) fn stats(&self, backend: &'static str, connections: u64) -> StoreStats {
        use std::sync::atomic::Ordering::Relaxed;
        StoreStats {
            backend,
            connections,
            queued_reads: self.queued_reads.load(Relaxed),
            queued_writes: self.queued_writes.load(Relaxed),
            commits: self.commits.load(Relaxed),
            committed_writes: self.committed_writes.load(Relaxed),
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database can serve reads and writes.
    async fn ping(&self) -> StoreResult<()>;

    fn stats(&self) -> StoreStats;

    async fn create_user(
        &self,
        username: &Username,
        password_hash: &str,
        timezone: &Tz,
        now: Timestamp,
    ) -> StoreResult<User>;
    /// The account and its password hash.
    async fn credentials(&self, username: &Username) -> StoreResult<Option<(User, String)>>;
    async fn password_hash(&self, user: UserId) -> StoreResult<Option<String>>;
    async fn set_timezone(&self, user: UserId, timezone: &Tz) -> StoreResult<Option<User>>;
    /// Replaces the password hash and ends every session but `keep`.
    async fn set_password(&self, user: UserId, password_hash: &str, keep: i64) -> StoreResult<()>;
    /// Deletes the account with its sessions, entries and keys.
    async fn delete_user(&self, user: UserId) -> StoreResult<()>;

    async fn create_session(&self, user: UserId, session: NewSession) -> StoreResult<()>;
    async fn session(&self, token_hash: TokenHash) -> StoreResult<Option<Session>>;
    async fn touch_session(&self, session: i64, now: Timestamp) -> StoreResult<()>;
    async fn delete_session(&self, session: i64) -> StoreResult<()>;

    /// Stores an entry, or replays the first result for a known key.
    /// `today` is the user's today, for `current_streak`.
    async fn insert_entry(
        &self,
        user: UserId,
        entry: NewEntry,
        idempotency: Option<Idempotency>,
        today: Date,
        now: Timestamp,
    ) -> StoreResult<Insert>;
    async fn mood_page(&self, user: UserId, page: Page) -> StoreResult<MoodPage>;
    /// One entry and every day the user logged.
    async fn entry(&self, user: UserId, id: EntryId) -> StoreResult<Option<(Entry, Vec<Date>)>>;
    /// Whether the entry existed (and belonged to `user`).
    async fn delete_entry(&self, user: UserId, id: EntryId) -> StoreResult<bool>;
    /// The mean rating and number of entries of each local date from
    /// `since` on, oldest first: what the charts draw.
    async fn daily_moods(&self, user: UserId, since: Date) -> StoreResult<Vec<DayMood>>;

    /// The newest `limit` events of a kind and key at or after `since`, newest first.
    async fn recent_events(
        &self,
        kind: RateKind,
        key: &str,
        since: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Timestamp>>;
    async fn add_event(&self, kind: RateKind, key: &str, at: Timestamp) -> StoreResult<()>;
    async fn clear_events(&self, kind: RateKind, key: &str) -> StoreResult<()>;

    /// Deletes expired sessions, forgotten idempotency keys and old events;
    /// returns how many rows went.
    async fn purge(&self, cutoffs: Purge) -> StoreResult<u64>;
}

/// The first result of an idempotent request, as both backends keep it (as
/// JSON) for its retries.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredCreated {
    id: i64,
    rating: u8,
    note: Option<String>,
    tags: Vec<String>,
    /// Unix microseconds.
    recorded_at: i64,
    timezone: String,
    local_date: String,
    streak: u32,
    current_streak: u32,
}

impl From<&Created> for StoredCreated {
    fn from(c: &Created) -> Self {
        Self {
            id: c.entry.id.0,
            rating: c.entry.rating,
            note: c.entry.note.clone(),
            tags: c.entry.tags.clone(),
            recorded_at: c.entry.recorded_at.as_microsecond(),
            timezone: c.entry.timezone.clone(),
            local_date: c.entry.local_date.to_string(),
            streak: c.streak,
            current_streak: c.current_streak,
        }
    }
}

impl StoredCreated {
    pub(crate) fn into_created(self) -> StoreResult<Created> {
        let corrupt = |what: &str| StoreError::Internal(format!("stored result: bad {what}"));
        Ok(Created {
            entry: Entry {
                id: EntryId(self.id),
                rating: self.rating,
                note: self.note,
                tags: self.tags,
                recorded_at: Timestamp::from_microsecond(self.recorded_at)
                    .map_err(|_| corrupt("recorded_at"))?,
                timezone: self.timezone,
                local_date: self.local_date.parse().map_err(|_| corrupt("local_date"))?,
            },
            streak: self.streak,
            current_streak: self.current_streak,
        })
    }
}
