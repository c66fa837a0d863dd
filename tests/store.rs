//! The `Store` contract, exercised directly: bookkeeping that HTTP tests
//! only see indirectly (counted days, purging, cascades, idempotency), and
//! what only shows with several instances on one database or with a
//! database that goes away.
//!
//! `MOODLOG_TEST_BACKEND` picks the backend of every test that goes through
//! `open()`: `sqlite` (the default) or `postgres` (the server is named by
//! `MOODLOG_TEST_POSTGRES_URL`; see `common/postgres.rs`). Tests of
//! PostgreSQL's own machinery run in the `postgres` run only.

#[path = "common/postgres.rs"]
mod postgres_support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use moodlog::domain::{
    EntryId, IdempotencyKey, NewEntry, Rating, Streaks, Tags, Tz, UserId, Username,
};
use moodlog::store::postgres::{PostgresConfig, PostgresStore};
use moodlog::store::sqlite::{Durability, SqliteConfig, SqliteStore};
use moodlog::store::{
    Cursor, Idempotency, Insert, NewSession, Page, Purge, RateKind, Store, StoreError, TokenHash,
};
use postgres_support::{TestSchema, fresh_schema};
use proptest::prelude::*;
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

fn backend() -> Backend {
    match std::env::var("MOODLOG_TEST_BACKEND").as_deref() {
        Err(_) | Ok("" | "sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => panic!("MOODLOG_TEST_BACKEND must be sqlite or postgres, not {other:?}"),
    }
}

/// One test's database, on the backend of this run; dropping it deletes it.
enum TestDb {
    Sqlite(TempDir),
    Postgres(TestSchema),
}

impl TestDb {
    async fn new() -> Self {
        match backend() {
            Backend::Sqlite => Self::Sqlite(tempfile::tempdir().unwrap()),
            Backend::Postgres => Self::Postgres(fresh_schema().await),
        }
    }

    /// A store on this database. Each call opens another, as another
    /// moodlog instance sharing the database would.
    async fn open(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(dir) => Arc::new(
                SqliteStore::open(&SqliteConfig {
                    path: dir.path().join("store.db"),
                    durability: Durability::Process,
                    readers: 2,
                })
                .unwrap(),
            ),
            Self::Postgres(schema) => Arc::new(
                PostgresStore::connect(&pg_config(&schema.url))
                    .await
                    .unwrap(),
            ),
        }
    }
}

/// A fresh database and a store on it.
async fn open() -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new().await;
    let store = db.open().await;
    (db, store)
}

fn pg_config(url: &str) -> PostgresConfig {
    PostgresConfig {
        pg: url.parse().unwrap(),
        pool_size: 4,
        statement_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        pool_timeout: Duration::from_secs(5),
    }
}

/// A schema for a test of PostgreSQL's own machinery, or None (the test
/// passes having done nothing) in a run for another backend.
async fn postgres_only() -> Option<TestSchema> {
    match backend() {
        Backend::Postgres => Some(fresh_schema().await),
        Backend::Sqlite => {
            eprintln!("not run: MOODLOG_TEST_BACKEND is not postgres");
            None
        }
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

async fn user(store: &dyn Store, name: &str) -> UserId {
    store
        .create_user(
            &Username::parse(name).unwrap(),
            "hash",
            &Tz::utc(),
            t("2026-01-01T00:00:00Z"),
        )
        .await
        .unwrap()
        .id
}

fn entry_on(date: Date) -> NewEntry {
    entry_at(
        jiff::tz::TimeZone::UTC
            .to_timestamp(date.at(12, 0, 0, 0))
            .unwrap(),
    )
}

fn entry_at(recorded_at: Timestamp) -> NewEntry {
    NewEntry {
        rating: Rating::new(5).unwrap(),
        note: None,
        tags: Tags::default(),
        recorded_at,
        timezone: Tz::utc(),
    }
}

async fn insert(store: &dyn Store, user: UserId, date: Date) -> EntryId {
    match store
        .insert_entry(user, entry_on(date), None, date, t("2026-06-01T00:00:00Z"))
        .await
        .unwrap()
    {
        Insert::Created(c) => c.entry.id,
        Insert::Replayed(_) => panic!("no key, no replay"),
    }
}

async fn days(store: &dyn Store, user: UserId) -> BTreeSet<Date> {
    store
        .mood_page(user, Page::default())
        .await
        .unwrap()
        .days
        .into_iter()
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    Insert(i64),
    /// Deletes the n-th live entry (modulo their number).
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0i64..12).prop_map(Op::Insert),
        any::<usize>().prop_map(Op::Delete)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// After any sequence of inserts and deletes, the counted days are
    /// exactly the dates of the entries that remain, and each insert
    /// answers the streaks of all of them (from the runs the store keeps).
    #[test]
    fn counted_days_follow_the_entries(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (_db, store) = open().await;
            let alice = user(&*store, "alice").await;
            let start = jiff::civil::date(2024, 2, 25);
            let mut live: Vec<(EntryId, Date)> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(n) => {
                        let date = start + SignedDuration::from_hours(24 * n);
                        let today = start + SignedDuration::from_hours(24 * (n % 5 + 3));
                        let Insert::Created(c) = store
                            .insert_entry(alice, entry_on(date), None, today, t("2026-06-01T00:00:00Z"))
                            .await
                            .unwrap()
                        else {
                            panic!("no key, no replay");
                        };
                        live.push((c.entry.id, date));
                        let all = Streaks::from_days(live.iter().map(|(_, d)| *d));
                        assert_eq!(c.streak, all.streak_on(date), "streak on {date}");
                        assert_eq!(c.current_streak, all.current(today), "current on {today}");
                    }
                    Op::Delete(i) if !live.is_empty() => {
                        let (id, _) = live.remove(i % live.len());
                        assert!(store.delete_entry(alice, id).await.unwrap());
                        assert!(!store.delete_entry(alice, id).await.unwrap(), "deleted twice");
                    }
                    Op::Delete(_) => {}
                }
                let expected: BTreeSet<Date> = live.iter().map(|(_, d)| *d).collect();
                assert_eq!(days(&*store, alice).await, expected);
            }
        });
    }
}

#[tokio::test]
async fn deleting_a_user_takes_everything_of_theirs_and_nothing_else() {
    let (_db, store) = open().await;
    let (alice, bob) = (user(&*store, "alice").await, user(&*store, "bob").await);
    let day = jiff::civil::date(2026, 3, 1);
    let alices = insert(&*store, alice, day).await;
    let bobs = insert(&*store, bob, day).await;
    for (who, byte) in [(alice, 1u8), (bob, 2u8)] {
        store
            .create_session(
                who,
                NewSession {
                    token_hash: TokenHash([byte; 32]),
                    created_at: t("2026-03-01T00:00:00Z"),
                    expires_at: t("2099-01-01T00:00:00Z"),
                },
            )
            .await
            .unwrap();
    }

    store.delete_user(alice).await.unwrap();

    assert!(store.session(TokenHash([1; 32])).await.unwrap().is_none());
    assert!(store.entry(alice, alices).await.unwrap().is_none());
    assert!(days(&*store, alice).await.is_empty());
    assert!(
        store
            .credentials(&Username::parse("alice").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.session(TokenHash([2; 32])).await.unwrap().is_some());
    assert!(store.entry(bob, bobs).await.unwrap().is_some());
    // The name is free again.
    user(&*store, "alice").await;
}

#[tokio::test]
async fn purge_deletes_only_what_has_expired() {
    let (_db, store) = open().await;
    let alice = user(&*store, "alice").await;
    let now = t("2026-03-10T00:00:00Z");
    let sessions = [
        (1u8, "2026-03-09T00:00:00Z", "2026-03-09T12:00:00Z"), // past its lifetime
        (2, "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z"),   // idle since Feb 1
        (3, "2026-03-09T00:00:00Z", "2026-04-01T00:00:00Z"),   // fresh
    ];
    for (byte, created, expires) in sessions {
        store
            .create_session(
                alice,
                NewSession {
                    token_hash: TokenHash([byte; 32]),
                    created_at: t(created),
                    expires_at: t(expires),
                },
            )
            .await
            .unwrap();
    }
    for at in ["2026-03-09T00:00:00Z", "2026-03-09T23:30:00Z"] {
        store
            .add_event(RateKind::Signup, "127.0.0.1", t(at))
            .await
            .unwrap();
    }
    let key = |k: &str| Idempotency {
        key: IdempotencyKey::parse(k).unwrap(),
        fingerprint: [7; 32],
        not_before: t("2026-01-01T00:00:00Z"),
    };
    let day = jiff::civil::date(2026, 3, 8);
    for (k, at) in [
        ("old", "2026-03-08T00:00:00Z"),
        ("new", "2026-03-09T12:00:00Z"),
    ] {
        store
            .insert_entry(alice, entry_on(day), Some(key(k)), day, t(at))
            .await
            .unwrap();
    }

    let purged = store
        .purge(Purge {
            now,
            sessions_idle_before: now - SignedDuration::from_hours(7 * 24),
            keys_before: now - SignedDuration::from_hours(24),
            events_before: now - SignedDuration::from_hours(1),
        })
        .await
        .unwrap();
    assert_eq!(purged, 2 + 1 + 1, "two sessions, one key, one event");

    assert!(store.session(TokenHash([1; 32])).await.unwrap().is_none());
    assert!(store.session(TokenHash([2; 32])).await.unwrap().is_none());
    assert!(store.session(TokenHash([3; 32])).await.unwrap().is_some());
    let events = store
        .recent_events(RateKind::Signup, "127.0.0.1", t("2026-01-01T00:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(events, vec![t("2026-03-09T23:30:00Z")]);
    // The purged key is forgotten: the same request makes a new entry...
    assert!(matches!(
        store
            .insert_entry(alice, entry_on(day), Some(key("old")), day, now)
            .await
            .unwrap(),
        Insert::Created(_)
    ));
    // ...while the kept one still replays.
    assert!(matches!(
        store
            .insert_entry(alice, entry_on(day), Some(key("new")), day, now)
            .await
            .unwrap(),
        Insert::Replayed(_)
    ));
}

#[tokio::test]
async fn usernames_are_unique_and_a_new_password_ends_the_other_sessions() {
    let (_db, store) = open().await;
    let alice = user(&*store, "alice").await;
    let again = store
        .create_user(
            &Username::parse("alice").unwrap(),
            "hash",
            &Tz::utc(),
            t("2026-01-02T00:00:00Z"),
        )
        .await;
    assert!(matches!(again, Err(StoreError::UsernameTaken)), "{again:?}");

    let mut ids = Vec::new();
    for byte in 1u8..=3 {
        store
            .create_session(
                alice,
                NewSession {
                    token_hash: TokenHash([byte; 32]),
                    created_at: t("2026-03-01T00:00:00Z"),
                    expires_at: t("2099-01-01T00:00:00Z"),
                },
            )
            .await
            .unwrap();
        ids.push(
            store
                .session(TokenHash([byte; 32]))
                .await
                .unwrap()
                .unwrap()
                .id,
        );
    }
    store.set_password(alice, "new hash", ids[1]).await.unwrap();
    assert_eq!(
        store.password_hash(alice).await.unwrap().as_deref(),
        Some("new hash")
    );
    assert!(store.session(TokenHash([1; 32])).await.unwrap().is_none());
    assert!(store.session(TokenHash([2; 32])).await.unwrap().is_some());
    assert!(store.session(TokenHash([3; 32])).await.unwrap().is_none());

    let paris = Tz::parse("Europe/Paris").unwrap();
    let updated = store.set_timezone(alice, &paris).await.unwrap().unwrap();
    assert_eq!(updated.timezone.name(), "Europe/Paris");
    assert!(
        store
            .set_timezone(UserId(alice.0 + 1000), &paris)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_replay_is_the_first_result_unchanged() {
    let (_db, store) = open().await;
    let (alice, bob) = (user(&*store, "alice").await, user(&*store, "bob").await);
    let key = |fingerprint: u8, not_before: &str| Idempotency {
        key: IdempotencyKey::parse("retry-me").unwrap(),
        fingerprint: [fingerprint; 32],
        not_before: t(not_before),
    };
    let (mar1, mar2) = (jiff::civil::date(2026, 3, 1), jiff::civil::date(2026, 3, 2));
    let first_at = t("2026-03-02T13:00:00Z");
    let Insert::Created(first) = store
        .insert_entry(
            alice,
            entry_on(mar2),
            Some(key(1, "2026-01-01T00:00:00Z")),
            mar2,
            first_at,
        )
        .await
        .unwrap()
    else {
        panic!("a new key replayed");
    };
    assert_eq!((first.streak, first.current_streak), (1, 1));

    // Back-filling Mar 1 would now make the streak 2, and the first entry
    // is even deleted...
    insert(&*store, alice, mar1).await;
    assert!(store.delete_entry(alice, first.entry.id).await.unwrap());
    // ...but a retry gets the first answer as it was.
    let replay = store
        .insert_entry(
            alice,
            entry_on(mar2),
            Some(key(1, "2026-01-01T00:00:00Z")),
            mar2,
            first_at,
        )
        .await
        .unwrap();
    assert_eq!(replay, Insert::Replayed(first.clone()));

    let other_body = store
        .insert_entry(
            alice,
            entry_on(mar2),
            Some(key(2, "2026-01-01T00:00:00Z")),
            mar2,
            first_at,
        )
        .await;
    assert!(
        matches!(other_body, Err(StoreError::IdempotencyMismatch)),
        "{other_body:?}"
    );

    // Keys are per user.
    assert!(matches!(
        store
            .insert_entry(
                bob,
                entry_on(mar2),
                Some(key(1, "2026-01-01T00:00:00Z")),
                mar2,
                first_at
            )
            .await
            .unwrap(),
        Insert::Created(_)
    ));

    // Once older than `not_before`, the key is forgotten: the same request,
    // even with another body, makes a new entry, which retries then replay.
    let later = t("2026-03-04T00:00:00Z");
    let Insert::Created(second) = store
        .insert_entry(
            alice,
            entry_on(mar2),
            Some(key(3, "2026-03-03T00:00:00Z")),
            mar2,
            later,
        )
        .await
        .unwrap()
    else {
        panic!("an expired key replayed");
    };
    assert!(second.entry.id > first.entry.id, "ids are never reused");
    assert_eq!(second.streak, 2, "Mar 1 and Mar 2");
    assert_eq!(
        store
            .insert_entry(
                alice,
                entry_on(mar2),
                Some(key(3, "2026-03-03T00:00:00Z")),
                mar2,
                later
            )
            .await
            .unwrap(),
        Insert::Replayed(second)
    );
}

#[tokio::test]
async fn entry_ids_are_never_reused() {
    let (_db, store) = open().await;
    let alice = user(&*store, "alice").await;
    let day = jiff::civil::date(2026, 3, 1);
    insert(&*store, alice, day).await;
    let newest = insert(&*store, alice, day).await;
    assert!(store.delete_entry(alice, newest).await.unwrap());
    assert!(insert(&*store, alice, day).await > newest);
}

#[tokio::test]
async fn pages_run_newest_first_and_cover_every_entry_once() {
    let (_db, store) = open().await;
    let (alice, bob) = (user(&*store, "alice").await, user(&*store, "bob").await);
    // Two pairs recorded at the same instant: the id breaks the tie.
    let times = [
        "2026-03-01T08:00:00Z",
        "2026-03-01T08:00:00Z",
        "2026-03-02T08:00:00Z",
        "2026-02-27T08:00:00Z",
        "2026-03-02T08:00:00Z",
    ];
    for at in times {
        store
            .insert_entry(
                alice,
                entry_at(t(at)),
                None,
                jiff::civil::date(2026, 3, 2),
                t(at),
            )
            .await
            .unwrap();
    }
    insert(&*store, bob, jiff::civil::date(2026, 3, 5)).await;

    let all = store.mood_page(alice, Page::default()).await.unwrap();
    assert!(all.next.is_none());
    let order: Vec<(Timestamp, EntryId)> =
        all.entries.iter().map(|e| (e.recorded_at, e.id)).collect();
    let mut expected = order.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(order, expected, "newest first, then the highest id");
    assert_eq!(order.len(), times.len(), "and never bob's");
    let days: BTreeSet<Date> = all.days.iter().copied().collect();
    assert_eq!(days.len(), 3);

    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .mood_page(
                alice,
                Page {
                    limit: Some(2),
                    cursor,
                },
            )
            .await
            .unwrap();
        assert!(page.entries.len() <= 2);
        assert_eq!(page.days.len(), 3, "every page has every day");
        paged.extend(page.entries.iter().map(|e| (e.recorded_at, e.id)));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, order);
}

#[tokio::test]
async fn daily_moods_average_each_day_from_a_date_on() {
    let (_db, store) = open().await;
    let alice = user(&*store, "alice").await;
    let rated = |at: &str, rating: i64| NewEntry {
        rating: Rating::new(rating).unwrap(),
        ..entry_at(t(at))
    };
    for (at, rating) in [
        ("2026-02-28T12:00:00Z", 9), // before `since`
        ("2026-03-01T01:00:00Z", 1),
        ("2026-03-01T12:00:00Z", 1),
        ("2026-03-01T23:00:00Z", 2),
        ("2026-03-03T12:00:00Z", 7),
    ] {
        store
            .insert_entry(
                alice,
                rated(at, rating),
                None,
                jiff::civil::date(2026, 3, 3),
                t(at),
            )
            .await
            .unwrap();
    }
    let moods = store
        .daily_moods(alice, jiff::civil::date(2026, 3, 1))
        .await
        .unwrap();
    let got: Vec<(Date, f64, u32)> = moods
        .iter()
        .map(|d| (d.date, d.average, d.entries))
        .collect();
    assert_eq!(
        got,
        vec![
            (jiff::civil::date(2026, 3, 1), 4.0 / 3.0, 3),
            (jiff::civil::date(2026, 3, 3), 7.0, 1),
        ]
    );
}

#[tokio::test]
async fn times_round_trip_to_the_microsecond() {
    let (_db, store) = open().await;
    let name = Username::parse("alice").unwrap();
    let alice = store
        .create_user(
            &name,
            "hash",
            &Tz::utc(),
            t("2026-03-01T12:34:56.789012345Z"),
        )
        .await
        .unwrap()
        .id;
    let (found, _) = store.credentials(&name).await.unwrap().unwrap();
    assert_eq!(
        found.created_at,
        t("2026-03-01T12:34:56.789012Z"),
        "kept to the microsecond, the rest dropped"
    );

    // Around both epochs (1970 for jiff, 2000 for PostgreSQL), and a
    // microsecond apart.
    let moments = [
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:00.000001Z",
        "1999-12-31T23:59:59.999999Z",
        "2000-01-01T00:00:00.000001Z",
        "2026-03-01T12:34:56.123456Z",
        "2026-03-01T12:34:56.123457Z",
    ];
    let today = jiff::civil::date(2026, 3, 1);
    for at in moments {
        let Insert::Created(created) = store
            .insert_entry(alice, entry_at(t(at)), None, today, t(at))
            .await
            .unwrap()
        else {
            panic!("no key, no replay");
        };
        assert_eq!(created.entry.recorded_at, t(at));
        let (stored, _) = store.entry(alice, created.entry.id).await.unwrap().unwrap();
        assert_eq!(stored, created.entry);
    }
    // One entry per page: each cursor tells apart entries a microsecond apart.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .mood_page(
                alice,
                Page {
                    limit: Some(1),
                    cursor,
                },
            )
            .await
            .unwrap();
        seen.extend(page.entries.iter().map(|e| e.recorded_at));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<Timestamp> = moments.iter().rev().map(|m| t(m)).collect();
    assert_eq!(seen, expected);

    store
        .create_session(
            alice,
            NewSession {
                token_hash: TokenHash([9; 32]),
                created_at: t("2026-03-01T00:00:00.000001Z"),
                expires_at: t("2026-04-01T00:00:00.999999Z"),
            },
        )
        .await
        .unwrap();
    let session = store.session(TokenHash([9; 32])).await.unwrap().unwrap();
    assert_eq!(session.created_at, t("2026-03-01T00:00:00.000001Z"));
    assert_eq!(session.last_used_at, t("2026-03-01T00:00:00.000001Z"));
    assert_eq!(session.expires_at, t("2026-04-01T00:00:00.999999Z"));
    store
        .touch_session(session.id, t("2026-03-02T00:00:00.123456Z"))
        .await
        .unwrap();
    let session = store.session(TokenHash([9; 32])).await.unwrap().unwrap();
    assert_eq!(session.last_used_at, t("2026-03-02T00:00:00.123456Z"));

    let at = t("2026-03-01T00:00:00.654321Z");
    store.add_event(RateKind::Signup, "k", at).await.unwrap();
    let since = |s| store.recent_events(RateKind::Signup, "k", t(s), 10);
    assert_eq!(
        since("2026-03-01T00:00:00.654321Z").await.unwrap(),
        vec![at]
    );
    assert!(
        since("2026-03-01T00:00:00.654322Z")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn ping_and_stats_name_the_backend() {
    let (_db, store) = open().await;
    store.ping().await.unwrap();
    user(&*store, "alice").await;
    let stats = store.stats();
    let expected = match backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(stats.backend, expected);
    assert!(stats.connections >= 1);
    assert!(stats.commits >= 1 && stats.committed_writes >= 1);
}

/// Retries of one request reaching two instances at once make one entry:
/// one call creates it, every other replays exactly its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_on_two_instances_make_one_entry() {
    let db = TestDb::new().await;
    let instances = [db.open().await, db.open().await];
    let alice = user(&*instances[0], "alice").await;
    let day = jiff::civil::date(2026, 3, 1);
    let rounds = 8u8;
    for round in 0..rounds {
        let key = Idempotency {
            key: IdempotencyKey::parse(&format!("key-{round}")).unwrap(),
            fingerprint: [round; 32],
            not_before: t("2026-01-01T00:00:00Z"),
        };
        let mut calls = JoinSet::new();
        for i in 0..6 {
            let (store, key) = (instances[i % 2].clone(), key.clone());
            calls.spawn(async move {
                store
                    .insert_entry(
                        alice,
                        entry_on(day),
                        Some(key),
                        day,
                        t("2026-03-01T12:00:00Z"),
                    )
                    .await
                    .unwrap()
            });
        }
        let (mut created, mut replayed) = (Vec::new(), Vec::new());
        while let Some(result) = calls.join_next().await {
            match result.unwrap() {
                Insert::Created(c) => created.push(c),
                Insert::Replayed(c) => replayed.push(c),
            }
        }
        assert_eq!(created.len(), 1, "round {round}: {created:?}");
        for r in &replayed {
            assert_eq!(r, &created[0]);
        }
    }
    let page = instances[1]
        .mood_page(alice, Page::default())
        .await
        .unwrap();
    assert_eq!(page.entries.len(), usize::from(rounds));

    // Likewise one sign-up wins a name.
    let mut signups = JoinSet::new();
    for i in 0..6 {
        let store = instances[i % 2].clone();
        signups.spawn(async move {
            store
                .create_user(
                    &Username::parse("bob").unwrap(),
                    "hash",
                    &Tz::utc(),
                    t("2026-03-01T00:00:00Z"),
                )
                .await
        });
    }
    let mut won = 0;
    while let Some(result) = signups.join_next().await {
        match result.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::UsernameTaken) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(won, 1);
}

/// Inserts and deletes for one user, at once and through two instances,
/// leave the counted days exactly the days of the remaining entries; and
/// the streaks an insert returns include every entry committed before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_for_one_user_keep_the_counted_days() {
    let db = TestDb::new().await;
    concurrent_writes([db.open().await, db.open().await], 3).await;
}

/// The same with every transaction slowed where a race would show: at
/// commit (after an insert read the days for its streaks) and between
/// decrementing a day's count and deleting it. The windows are too short
/// to hit otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_for_one_user_keep_the_counted_days_when_slow() {
    let Some(schema) = postgres_only().await else {
        return;
    };
    let instances: [Arc<dyn Store>; 2] = [
        Arc::new(
            PostgresStore::connect(&pg_config(&schema.url))
                .await
                .unwrap(),
        ),
        Arc::new(
            PostgresStore::connect(&pg_config(&schema.url))
                .await
                .unwrap(),
        ),
    ];
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql
                 AS $$ BEGIN PERFORM pg_sleep(TG_ARGV[0]::float8); RETURN NULL; END $$;
             CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT OR DELETE ON entries
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_down(0.01);
             CREATE TRIGGER slow_count AFTER UPDATE ON entry_days
                 FOR EACH STATEMENT EXECUTE FUNCTION slow_down(0.03);",
        )
        .await
        .unwrap();
    concurrent_writes(instances.clone(), 2).await;

    // A day's last entry goes while another is added to that day: the day
    // must stay counted.
    let who = user(&*instances[0], "dora").await;
    let day = jiff::civil::date(2026, 3, 1);
    for _ in 0..4 {
        let last = insert(&*instances[0], who, day).await;
        let store = instances[0].clone();
        let deleting = tokio::spawn(async move { store.delete_entry(who, last).await.unwrap() });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let added = insert(&*instances[1], who, day).await;
        assert!(deleting.await.unwrap());
        assert_eq!(days(&*instances[0], who).await, BTreeSet::from([day]));
        assert!(instances[1].delete_entry(who, added).await.unwrap());
        assert!(days(&*instances[0], who).await.is_empty());
    }
}

async fn concurrent_writes(instances: [Arc<dyn Store>; 2], rounds: usize) {
    let start = jiff::civil::date(2026, 3, 1);
    let day = move |n: i64| start + SignedDuration::from_hours(24 * n);
    let now = t("2026-06-01T00:00:00Z");
    for round in 0..rounds {
        let who = user(&*instances[0], &format!("user{round}")).await;

        // One entry on each of six days, all at once: whichever commits
        // last must have seen the other five.
        let inserts = |dates: Vec<Date>| {
            let mut calls = JoinSet::new();
            for (i, date) in dates.into_iter().enumerate() {
                let store = instances[i % 2].clone();
                calls.spawn(async move {
                    match store
                        .insert_entry(who, entry_on(date), None, day(5), now)
                        .await
                        .unwrap()
                    {
                        Insert::Created(c) => c,
                        Insert::Replayed(_) => panic!("no key, no replay"),
                    }
                });
            }
            calls.join_all()
        };
        let first = inserts((0..6).map(day).collect()).await;
        let longest_seen = first.iter().map(|c| c.current_streak).max();
        assert_eq!(
            longest_seen,
            Some(6),
            "the last insert to commit saw all six days"
        );
        // Then two more on each day.
        let more = inserts((0..12).map(|i| day(i % 6)).collect()).await;
        let entries: Vec<(EntryId, Date)> = first
            .iter()
            .chain(&more)
            .map(|c| (c.entry.id, c.entry.local_date))
            .collect();
        let expected: BTreeSet<Date> = (0..6).map(day).collect();
        assert_eq!(days(&*instances[1], who).await, expected);

        // Every entry of days 0 and 1 goes while days 0, 2 and 7 get new ones.
        let mut calls = JoinSet::new();
        for &(id, date) in entries.iter().filter(|(_, d)| *d < day(2)) {
            let store = instances[id.0 as usize % 2].clone();
            calls.spawn(async move {
                assert!(store.delete_entry(who, id).await.unwrap(), "{date}");
            });
        }
        for (i, date) in [day(0), day(0), day(0), day(2), day(2), day(7)]
            .into_iter()
            .enumerate()
        {
            let store = instances[i % 2].clone();
            calls.spawn(async move {
                store
                    .insert_entry(who, entry_on(date), None, date, now)
                    .await
                    .unwrap();
            });
        }
        while let Some(result) = calls.join_next().await {
            result.unwrap();
        }
        let expected: BTreeSet<Date> = [0, 2, 3, 4, 5, 7].into_iter().map(day).collect();
        let page = instances[0].mood_page(who, Page::default()).await.unwrap();
        assert_eq!(page.entries.len(), 18 - 6 + 6);
        let entry_days: BTreeSet<Date> = page.entries.iter().map(|e| e.local_date).collect();
        assert_eq!(entry_days, expected);
        assert_eq!(page.days.iter().copied().collect::<BTreeSet<_>>(), expected);
    }
}

// PostgreSQL's own machinery: connecting, migrating, failing and recovering.

/// Nothing listens on port 1: the connection is refused at once.
#[tokio::test]
async fn an_unreachable_server_fails_fast_without_showing_the_password() {
    let config = PostgresConfig {
        pg: "postgres://moodlog:hunter2-secret@127.0.0.1:1/moodlog"
            .parse()
            .unwrap(),
        pool_size: 2,
        statement_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(2),
        pool_timeout: Duration::from_secs(2),
    };
    let started = Instant::now();
    let Err(error) = PostgresStore::connect(&config).await else {
        panic!("connected to a closed port");
    };
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let shown = format!("{error} | {error:#} | {error:?} | {config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("127.0.0.1:1"), "says where: {shown}");

    let Err(error) = PostgresStore::migrate_only(&config).await else {
        panic!("migrated through a closed port");
    };
    assert!(!format!("{error:#} {error:?}").contains("hunter2"));
}

/// A server that accepts connections but never answers (hung, or a
/// half-dead proxy): connecting gives up after `connect_timeout`.
#[tokio::test]
async fn a_server_that_never_answers_fails_fast() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let config = PostgresConfig {
        pg: format!("postgres://moodlog:hunter2-secret@127.0.0.1:{port}/moodlog")
            .parse()
            .unwrap(),
        pool_size: 2,
        statement_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        pool_timeout: Duration::from_secs(1),
    };
    let started = Instant::now();
    let Err(error) = PostgresStore::connect(&config).await else {
        panic!("connected to a server that never answers");
    };
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!format!("{error:#} {error:?}").contains("hunter2"));
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_at_once_migrate_once() {
    let Some(schema) = postgres_only().await else {
        return;
    };
    let config = pg_config(&schema.url);
    let mut starts = JoinSet::new();
    for _ in 0..6 {
        let config = config.clone();
        starts.spawn(async move { PostgresStore::migrate_only(&config).await.unwrap() });
    }
    let mut applied = Vec::new();
    while let Some(result) = starts.join_next().await {
        applied.push(result.unwrap());
    }
    applied.sort();
    // One instance ran every migration; the others found them done.
    assert_eq!(applied[..5], [0; 5]);
    assert!(applied[5] >= 2, "{applied:?}");
    let store = PostgresStore::connect(&config).await.unwrap();
    user(&store, "alice").await;
    assert_eq!(PostgresStore::migrate_only(&config).await.unwrap(), 0);
}

#[tokio::test]
async fn a_statement_over_its_time_is_cancelled_as_unavailable() {
    let Some(schema) = postgres_only().await else {
        return;
    };
    let store = PostgresStore::connect(&PostgresConfig {
        statement_timeout: Duration::from_millis(300),
        ..pg_config(&schema.url)
    })
    .await
    .unwrap();
    let alice = user(&store, "alice").await;
    // Another session holds alice's row.
    let (locker, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    locker
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM users WHERE id = {} FOR UPDATE",
            alice.0
        ))
        .await
        .unwrap();

    let paris = Tz::parse("Europe/Paris").unwrap();
    let started = Instant::now();
    let error = store.set_timezone(alice, &paris).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    locker.batch_execute("ROLLBACK").await.unwrap();
    assert!(store.set_timezone(alice, &paris).await.unwrap().is_some());
}

/// The database vanishes (a relay in front of it is cut, closing every
/// connection and the port): calls fail fast as Unavailable. It comes back:
/// the same store serves again, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_fails_fast_and_is_found_again() {
    let Some(schema) = postgres_only().await else {
        return;
    };
    let direct: tokio_postgres::Config = schema.url.parse().unwrap();
    let mut relay = Relay::start(server_address(&direct).await).await;
    let mut via_relay = tokio_postgres::Config::new();
    via_relay
        .host("127.0.0.1")
        .port(relay.addr.port())
        .user(direct.get_user().unwrap())
        .dbname(direct.get_dbname().unwrap())
        .options(direct.get_options().unwrap());
    if let Some(password) = direct.get_password() {
        via_relay.password(password);
    }
    let store = PostgresStore::connect(&PostgresConfig {
        pg: via_relay,
        pool_size: 2,
        statement_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        pool_timeout: Duration::from_secs(1),
    })
    .await
    .unwrap();
    let name = Username::parse("alice").unwrap();
    user(&store, "alice").await;
    store.ping().await.unwrap();

    relay.cut().await;
    for _ in 0..3 {
        let started = Instant::now();
        let error = store.credentials(&name).await.unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));

    relay.restore().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(error) = store.ping().await {
        assert!(Instant::now() < deadline, "still down: {error:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(store.credentials(&name).await.unwrap().is_some());
}

async fn server_address(config: &tokio_postgres::Config) -> SocketAddr {
    let tokio_postgres::config::Host::Tcp(host) = &config.get_hosts()[0] else {
        panic!("the relay test needs a TCP address for PostgreSQL");
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .unwrap()
        .next()
        .unwrap()
}

/// A TCP relay to the PostgreSQL server that a test can cut and restore.
struct Relay {
    addr: SocketAddr,
    target: SocketAddr,
    running: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut relay = Self {
            addr: listener.local_addr().unwrap(),
            target,
            running: None,
        };
        relay.run(listener);
        relay
    }

    fn run(&mut self, listener: TcpListener) {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(relay(listener, self.target, stopped));
        self.running = Some((stop, task));
    }

    /// Closes the port and every relayed connection before it returns.
    async fn cut(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            task.await.unwrap();
        }
    }

    /// Listens on the same port again.
    async fn restore(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.run(listener);
    }
}

async fn relay(listener: TcpListener, target: SocketAddr, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((mut inbound, _)) = accepted else { break };
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }
    }
    connections.shutdown().await;
}

/// Bounds far outside any stored time (a crafted cursor, say) select
/// nothing or everything, never fail: PostgreSQL's times start in 4714 BC,
/// jiff's in 9999 BC.
#[tokio::test]
async fn extreme_bounds_are_bounds_not_errors() {
    let (_db, store) = open().await;
    let alice = user(&*store, "alice").await;
    let day = jiff::civil::date(2026, 3, 1);
    insert(&*store, alice, day).await;
    store
        .add_event(RateKind::Signup, "k", t("2026-03-01T00:00:00Z"))
        .await
        .unwrap();

    for earliest in [
        Timestamp::MIN,
        t("-004713-11-24T00:00:00Z"),
        t("-004713-11-23T23:59:59.999999Z"),
    ] {
        let page = store
            .mood_page(
                alice,
                Page {
                    limit: Some(10),
                    cursor: Some(Cursor {
                        recorded_at: earliest,
                        id: EntryId(i64::MAX),
                    }),
                },
            )
            .await
            .unwrap();
        assert!(page.entries.is_empty() && page.next.is_none());
        assert_eq!(
            store
                .recent_events(RateKind::Signup, "k", earliest, 10)
                .await
                .unwrap()
                .len(),
            1
        );
    }
    let page = store
        .mood_page(
            alice,
            Page {
                limit: Some(10),
                cursor: Some(Cursor {
                    recorded_at: Timestamp::MAX,
                    id: EntryId(i64::MAX),
                }),
            },
        )
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 1);
    let moods = store.daily_moods(alice, Date::MIN).await.unwrap();
    assert_eq!(moods.len(), 1);
    assert!(
        store
            .daily_moods(alice, Date::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    let purged = store
        .purge(Purge {
            now: Timestamp::MIN,
            sessions_idle_before: Timestamp::MIN,
            keys_before: Timestamp::MIN,
            events_before: Timestamp::MIN,
        })
        .await
        .unwrap();
    assert_eq!(purged, 0);
}

/// A caller that stops waiting (a request timeout) neither leaves its
/// connection busy for the next caller nor cuts its write short: the write
/// finishes once it can, as a write queued for SQLite's writer does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_caller_gave_up_still_finishes() {
    let Some(schema) = postgres_only().await else {
        return;
    };
    let store = PostgresStore::connect(&pg_config(&schema.url))
        .await
        .unwrap();
    let alice = user(&store, "alice").await;
    let (locker, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    locker
        .batch_execute("BEGIN; LOCK TABLE entries IN EXCLUSIVE MODE")
        .await
        .unwrap();

    let day = jiff::civil::date(2026, 3, 1);
    let write = store.insert_entry(alice, entry_on(day), None, day, t("2026-03-01T13:00:00Z"));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), write)
            .await
            .is_err(),
        "the write should be waiting on the lock"
    );
    let started = Instant::now();
    store.ping().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    locker.batch_execute("ROLLBACK").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while days(&store, alice).await.is_empty() {
        assert!(Instant::now() < deadline, "the write never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = store.mood_page(alice, Page::default()).await.unwrap();
    assert_eq!(page.entries.len(), 1);
}

/// A database written before runs were kept gets them from its counted
/// days when it is migrated: inserts then answer the streaks of the days
/// stored before the upgrade.
#[tokio::test]
async fn runs_are_built_from_the_days_counted_before_the_upgrade() {
    const DAYS: &str = "INSERT INTO users (id, username, password_hash, timezone, created_at)
            VALUES (1, 'alice', 'hash', 'UTC', CREATED);
        INSERT INTO entry_days (user_id, local_date, entries) VALUES
            (1, '2026-03-01', 1), (1, '2026-03-02', 2), (1, '2026-03-03', 1),
            (1, '2026-03-05', 1), (1, '2026-03-06', 1), (1, '2026-02-20', 1);";
    let db = TestDb::new().await;
    match &db {
        TestDb::Sqlite(dir) => {
            let conn = rusqlite::Connection::open(dir.path().join("store.db")).unwrap();
            conn.execute_batch(include_str!("../src/store/sqlite/migrations/0001_init.sql"))
                .unwrap();
            conn.execute_batch(include_str!(
                "../src/store/sqlite/migrations/0002_revision.sql"
            ))
            .unwrap();
            conn.execute_batch(&DAYS.replace("CREATED", "0")).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
        }
        TestDb::Postgres(schema) => {
            let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client
                .batch_execute(include_str!(
                    "../src/store/postgres/migrations/0001_init.sql"
                ))
                .await
                .unwrap();
            client
                .batch_execute(include_str!(
                    "../src/store/postgres/migrations/0002_revision.sql"
                ))
                .await
                .unwrap();
            client
                .batch_execute(
                    "CREATE TABLE schema_migrations (
                         version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
                     INSERT INTO schema_migrations (version) VALUES (1), (2);",
                )
                .await
                .unwrap();
            client
                .batch_execute(&DAYS.replace("CREATED", "now()").replace(
                    "VALUES (1, 'alice'",
                    "OVERRIDING SYSTEM VALUE VALUES (1, 'alice'",
                ))
                .await
                .unwrap();
        }
    }
    let store = db.open().await;
    let alice = UserId(1);
    let day = |d: i8| jiff::civil::date(2026, 3, d);
    let insert = |date: Date, today: Date| {
        let store = store.clone();
        async move {
            match store
                .insert_entry(
                    alice,
                    entry_on(date),
                    None,
                    today,
                    t("2026-06-01T00:00:00Z"),
                )
                .await
                .unwrap()
            {
                Insert::Created(c) => c,
                Insert::Replayed(_) => panic!("no key, no replay"),
            }
        }
    };
    // The gap on the 4th joins 1–3 and 5–6.
    let c = insert(day(4), day(6)).await;
    assert_eq!((c.streak, c.current_streak), (4, 6));
    // A day inside a stored run, and a day after it.
    let c = insert(day(2), day(6)).await;
    assert_eq!((c.streak, c.current_streak), (2, 6));
    let c = insert(day(7), day(7)).await;
    assert_eq!((c.streak, c.current_streak), (7, 7));
    let days: Vec<Date> = store.mood_page(alice, Page::default()).await.unwrap().days;
    assert_eq!(Streaks::from_days(days).longest(), 7);
}
