//! The database failing under the server: answers are 503 problem details
//! within the request timeout, and service recovers by itself.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

/// Another client holding the database's write lock, so that writes wait:
/// SQLite's own lock, or on PostgreSQL an EXCLUSIVE lock on the entries
/// table. Reads go on in both.
enum Intruder {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl Intruder {
    async fn hold_write_lock(app: &TestApp) -> Self {
        match &app.schema {
            None => {
                let conn = rusqlite::Connection::open(app.dir.path().join("moodlog.db")).unwrap();
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                Self::Sqlite(conn)
            }
            Some(schema) => {
                let (client, connection) =
                    tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
                        .await
                        .unwrap();
                tokio::spawn(connection);
                client
                    .batch_execute("BEGIN; LOCK TABLE entries IN EXCLUSIVE MODE")
                    .await
                    .unwrap();
                Self::Postgres(client)
            }
        }
    }

    async fn release(self) {
        match self {
            Self::Sqlite(conn) => conn.execute_batch("ROLLBACK").unwrap(),
            Self::Postgres(client) => client.batch_execute("ROLLBACK").await.unwrap(),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_database_gives_503_within_the_timeout_then_recovers() {
    let app = TestApp::spawn_with(|c| c.request_timeout = Duration::from_millis(800)).await;
    let token = app.user("alice").await;
    app.mood(&token, json!({"rating": 5})).await;

    // Another process takes the write lock and holds it.
    let intruder = Intruder::hold_write_lock(&app).await;

    let started = Instant::now();
    let response = app.post_mood(&token, json!({"rating": 6})).await;
    let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered in {:?}",
        started.elapsed()
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        !detail.contains("SQL") && !detail.contains(".db"),
        "leaks internals: {detail}"
    );

    // SQLite's readiness check writes, so it sees the lock; PostgreSQL's
    // server still answers, which is what readiness asks.
    let response = app.request(Method::GET, "/readyz").send().await.unwrap();
    match backend() {
        Backend::Sqlite => {
            assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        }
        Backend::Postgres => assert_eq!(response.status(), StatusCode::OK),
    }

    // Reads do not need the lock and go on being served.
    let list = app.moods(&token).await;
    assert!(!list["entries"].as_array().unwrap().is_empty());

    intruder.release().await;

    // Recovery without a restart (the writer may first finish its queue).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = app.request(Method::GET, "/readyz").send().await.unwrap();
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "never became ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let created = app.mood(&token, json!({"rating": 7})).await;
    assert_eq!(created["rating"], 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_finishes_requests_in_flight() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;

    // Hold the write lock so that a POST stays in flight.
    let intruder = Intruder::hold_write_lock(&app).await;
    let pending = tokio::spawn(
        app.client
            .post(app.url("/mood"))
            .bearer_auth(&token)
            .json(&json!({"rating": 8}))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !pending.is_finished(),
        "the request should be waiting on the lock"
    );

    let url = app.url("/healthz");
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !stopping.is_finished(),
        "stopped before the request finished"
    );

    intruder.release().await;
    let response = pending.await.unwrap().expect("answered, not cut off");
    assert_eq!(response.status(), StatusCode::CREATED);
    stopping.await.unwrap();

    // Stopped: new connections are refused.
    assert!(reqwest::get(url).await.is_err());
}
