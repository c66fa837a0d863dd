//! The `Store` contract, exercised directly: bookkeeping that HTTP tests
//! only see indirectly (counted days, purging, cascades).

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use moodlog::domain::{EntryId, IdempotencyKey, NewEntry, Rating, Tags, Tz, UserId, Username};
use moodlog::store::sqlite::{Durability, SqliteConfig, SqliteStore};
use moodlog::store::{Idempotency, Insert, NewSession, Page, Purge, RateKind, Store, TokenHash};
use proptest::prelude::*;
use tempfile::TempDir;

fn open() -> (TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteConfig {
        path: dir.path().join("store.db"),
        durability: Durability::Process,
        readers: 2,
    })
    .unwrap();
    (dir, Arc::new(store))
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
    NewEntry {
        rating: Rating::new(5).unwrap(),
        note: None,
        tags: Tags::default(),
        recorded_at: jiff::tz::TimeZone::UTC
            .to_timestamp(date.at(12, 0, 0, 0))
            .unwrap(),
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
    /// exactly the dates of the entries that remain.
    #[test]
    fn counted_days_follow_the_entries(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (_dir, store) = open();
            let alice = user(&*store, "alice").await;
            let start = jiff::civil::date(2024, 2, 25);
            let mut live: Vec<(EntryId, Date)> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(n) => {
                        let date = start + SignedDuration::from_hours(24 * n);
                        live.push((insert(&*store, alice, date).await, date));
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
    let (_dir, store) = open();
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
    let (_dir, store) = open();
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
