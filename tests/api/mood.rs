//! Mood entries, streaks, paging, idempotency and export, over HTTP.
//!
//! Every test sets the server's clock before signing anyone up, so dates are
//! deterministic (and sessions are never older than the clock).

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const NOW: &str = "2026-03-10T12:00:00Z";

/// An application whose clock reads `now`.
async fn app_at(now: &str) -> TestApp {
    let app = TestApp::spawn().await;
    app.set_now(now);
    app
}

fn ts(value: &Value) -> Timestamp {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .parse()
        .unwrap_or_else(|e| panic!("not an RFC 3339 time: {value}: {e}"))
}

/// Noon UTC on `date`.
fn noon(date: &str) -> String {
    format!("{date}T12:00:00Z")
}

/// Logs a mood at noon UTC on `date`; returns the created entry.
async fn log_on(app: &TestApp, token: &str, date: &str) -> Value {
    app.mood(token, json!({"rating": 5, "recorded_at": noon(date)}))
        .await
}

fn entries(list: &Value) -> &Vec<Value> {
    list["entries"].as_array().expect("entries array")
}

fn ids(list: &Value) -> Vec<String> {
    entries(list)
        .iter()
        .map(|e| e["id"].as_str().expect("string id").to_string())
        .collect()
}

/// `(local_date, streak)` of each entry, in the order listed.
fn days_and_streaks(list: &Value) -> Vec<(String, u64)> {
    entries(list)
        .iter()
        .map(|e| {
            (
                e["local_date"].as_str().expect("local_date").to_string(),
                e["streak"].as_u64().expect("streak"),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, u64)]) -> Vec<(String, u64)> {
    expected.iter().map(|(d, s)| (d.to_string(), *s)).collect()
}

async fn count(app: &TestApp, token: &str) -> usize {
    entries(&app.moods(token).await).len()
}

async fn send(app: &TestApp, method: Method, path: &str, token: &str) -> Response {
    app.authed(method, path, token)
        .send()
        .await
        .expect("request")
}

/// A POST /mood with a raw body and an optional content type.
async fn post_raw(
    app: &TestApp,
    token: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut request = app.authed(Method::POST, "/mood", token).body(body);
    if let Some(ct) = content_type {
        request = request.header(CONTENT_TYPE, ct);
    }
    request.send().await.expect("request")
}

/// A POST /mood with an `Idempotency-Key` and a raw JSON body.
async fn post_keyed(
    app: &TestApp,
    token: &str,
    key: &str,
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let response = app
        .authed(Method::POST, "/mood", token)
        .header("idempotency-key", key)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

fn assert_entry_shape(entry: &Value) {
    let keys: BTreeSet<&str> = entry
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "id",
        "rating",
        "note",
        "tags",
        "recorded_at",
        "timezone",
        "local_date",
        "streak",
    ]
    .into();
    assert_eq!(keys, expected, "{entry}");
    assert!(entry["id"].is_string(), "{entry}");
}

// ---------------------------------------------------------------- POST /mood

#[tokio::test]
async fn post_returns_201_with_location_and_the_full_entry() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let response = app
        .post_mood(
            &token,
            json!({"rating": 7, "note": "fine", "tags": ["work", "Calm"],
                   "recorded_at": "2026-03-10T09:15:00+01:00", "timezone": "Europe/Paris"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().expect("id is a string");
    assert_eq!(location, format!("/mood/{id}"));
    assert_eq!(created["rating"], 7);
    assert_eq!(created["note"], "fine");
    assert_eq!(created["tags"], json!(["work", "Calm"]));
    assert_eq!(
        ts(&created["recorded_at"]),
        "2026-03-10T08:15:00Z".parse().unwrap()
    );
    assert_eq!(created["timezone"], "Europe/Paris");
    assert_eq!(created["local_date"], "2026-03-10");
    assert_eq!(created["streak"], 1);
    assert_eq!(created["current_streak"], 1);

    // The Location answers with the same entry (without current_streak).
    let (status, fetched) = app.get_json(&location, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_entry_shape(&fetched);
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("current_streak");
    assert_eq!(fetched, expected);
    let list = app.moods(&token).await;
    assert_eq!(entries(&list), &vec![expected]);
}

#[tokio::test]
async fn post_defaults_note_tags_time_and_zone() {
    let app = app_at(NOW).await;
    let token = app.user_in("alice", Some("Asia/Tokyo")).await;
    let created = app.mood(&token, json!({"rating": 3})).await;
    let mut shape = created.clone();
    shape.as_object_mut().unwrap().remove("current_streak");
    assert_entry_shape(&shape);
    assert_eq!(created["note"], Value::Null);
    assert_eq!(created["tags"], json!([]));
    assert_eq!(ts(&created["recorded_at"]), NOW.parse().unwrap());
    assert_eq!(created["timezone"], "Asia/Tokyo");
    // 12:00 UTC is 21:00 in Tokyo: still Mar 10.
    assert_eq!(created["local_date"], "2026-03-10");

    // Explicit nulls mean the same as omitted fields.
    let created = app
        .mood(
            &token,
            json!({"rating": 4, "note": null, "tags": null, "recorded_at": null, "timezone": null}),
        )
        .await;
    assert_eq!(created["note"], Value::Null);
    assert_eq!(created["tags"], json!([]));
    assert_eq!(ts(&created["recorded_at"]), NOW.parse().unwrap());
    assert_eq!(created["timezone"], "Asia/Tokyo");
}

#[tokio::test]
async fn post_accepts_the_edges_of_every_range() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    for body in [
        json!({"rating": 1}),
        json!({"rating": 10}),
        json!({"rating": 5, "note": ""}),
        json!({"rating": 5, "note": "x".repeat(2000)}),
        // Lengths count code points, not bytes: 2000 'é' are 4000 bytes.
        json!({"rating": 5, "note": "é".repeat(2000)}),
        json!({"rating": 5, "tags": []}),
        json!({"rating": 5, "tags": vec!["t"; 10]}),
        json!({"rating": 5, "tags": ["x".repeat(32), "é".repeat(32), "🙂".repeat(32)]}),
        json!({"rating": 5, "recorded_at": "2026-03-10T12:05:00Z"}),
        json!({"rating": 5, "recorded_at": "1970-01-01T00:00:00Z"}),
    ] {
        let created = app.mood(&token, body.clone()).await;
        for field in ["rating", "note", "tags"] {
            if let Some(sent) = body.get(field) {
                assert_eq!(&created[field], sent, "{field} is stored as given");
            }
        }
    }
    assert_eq!(count(&app, &token).await, 10);
}

#[tokio::test]
async fn invalid_fields_are_422_naming_the_field_and_nothing_is_stored() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let cases = [
        (json!({"rating": 0}), "rating"),
        (json!({"rating": 11}), "rating"),
        (json!({"rating": -1}), "rating"),
        (json!({"rating": 5.0}), "rating"),
        (json!({"rating": 5.5}), "rating"),
        (json!({"rating": "5"}), "rating"),
        (json!({"rating": true}), "rating"),
        (json!({}), "rating"),
        (json!({"rating": null}), "rating"),
        (json!({"note": "no rating"}), "rating"),
        (json!({"rating": 5, "note": "x".repeat(2001)}), "note"),
        (json!({"rating": 5, "note": "é".repeat(2001)}), "note"),
        (json!({"rating": 5, "note": 42}), "note"),
        (json!({"rating": 5, "note": "nul \u{0}"}), "note"),
        (json!({"rating": 5, "tags": ["nul\u{0}"]}), "tags"),
        (json!({"rating": 5, "tags": vec!["t"; 11]}), "tags"),
        (json!({"rating": 5, "tags": ["ok", ""]}), "tags"),
        (json!({"rating": 5, "tags": ["x".repeat(33)]}), "tags"),
        (json!({"rating": 5, "tags": ["é".repeat(33)]}), "tags"),
        (json!({"rating": 5, "tags": "work"}), "tags"),
        (json!({"rating": 5, "tags": {"work": true}}), "tags"),
        (json!({"rating": 5, "tags": [1, 2]}), "tags"),
        (
            json!({"rating": 5, "recorded_at": "2026-03-10T12:05:01Z"}),
            "recorded_at",
        ),
        (
            json!({"rating": 5, "recorded_at": "2027-01-01T00:00:00Z"}),
            "recorded_at",
        ),
        (
            json!({"rating": 5, "recorded_at": "1969-12-31T23:59:59Z"}),
            "recorded_at",
        ),
        (
            json!({"rating": 5, "recorded_at": "yesterday"}),
            "recorded_at",
        ),
        (
            json!({"rating": 5, "recorded_at": "2026-03-10"}),
            "recorded_at",
        ),
        (
            json!({"rating": 5, "recorded_at": "2026-03-10T10:00:00"}),
            "recorded_at",
        ),
        (
            json!({"rating": 5, "recorded_at": 1773136800}),
            "recorded_at",
        ),
        (
            json!({"rating": 5, "timezone": "Mars/Olympus_Mons"}),
            "timezone",
        ),
        (
            json!({"rating": 5, "timezone": "EST5EDT,M3.2.0,M11.1.0"}),
            "timezone",
        ),
        (json!({"rating": 5, "timezone": ""}), "timezone"),
        (json!({"rating": 5, "timezone": 5}), "timezone"),
    ];
    for (body, field) in cases {
        let response = app.post_mood(&token, body.clone()).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let fields = error_fields(&problem);
        assert!(fields.contains(&field.to_string()), "{body}: {problem}");
        for error in problem["errors"].as_array().unwrap() {
            assert!(error["message"].is_string(), "{problem}");
        }
    }
    assert_eq!(count(&app, &token).await, 0, "nothing was stored");
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let response = app
        .post_mood(
            &token,
            json!({"rating": 0, "note": "x".repeat(2001), "tags": [""], "recorded_at": "soon", "timezone": "Nowhere"}),
        )
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: BTreeSet<String> = error_fields(&problem).into_iter().collect();
    let expected: BTreeSet<String> = ["rating", "note", "tags", "recorded_at", "timezone"]
        .map(String::from)
        .into();
    assert_eq!(fields, expected, "{problem}");
    assert_eq!(count(&app, &token).await, 0);
}

#[tokio::test]
async fn malformed_bodies_get_400_415_413_and_store_nothing() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;

    for bad in [r#"{"rating": 5,"#, "rating=5", "", r#"{"rating": 5}}"#] {
        let response = post_raw(&app, &token, Some("application/json"), bad).await;
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }

    let response = post_raw(&app, &token, None, r#"{"rating": 5}"#).await;
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let response = post_raw(&app, &token, Some(content_type), r#"{"rating": 5}"#).await;
        assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
    // A JSON type with parameters is still JSON.
    let response = post_raw(
        &app,
        &token,
        Some("application/json; charset=utf-8"),
        r#"{"rating": 5}"#,
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // Over 64 KiB is 413, even though the note alone would be a 422.
    let big = json!({"rating": 5, "note": "x".repeat(64 * 1024)}).to_string();
    let response = post_raw(&app, &token, Some("application/json"), big).await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    // A JSON value that is not an object is well-formed but invalid.
    let response = post_raw(&app, &token, Some("application/json"), "[5]").await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;

    assert_eq!(
        count(&app, &token).await,
        1,
        "only the valid request stored anything"
    );
}

#[tokio::test]
async fn every_mood_endpoint_requires_authentication() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let created = app.mood(&token, json!({"rating": 5})).await;
    let entry = format!("/mood/{}", created["id"].as_str().unwrap());
    let endpoints = [
        (Method::POST, "/mood".to_string()),
        (Method::GET, "/mood".to_string()),
        (Method::GET, entry.clone()),
        (Method::DELETE, entry.clone()),
        (Method::GET, "/mood/export?format=csv".to_string()),
        (Method::GET, "/mood/export?format=json".to_string()),
    ];
    for (method, path) in &endpoints {
        let anonymous = app
            .request(method.clone(), path)
            .json(&json!({"rating": 5}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            anonymous.headers()["www-authenticate"],
            "Bearer",
            "{method} {path}"
        );
        assert_problem(anonymous, StatusCode::UNAUTHORIZED).await;

        let bogus = app
            .authed(method.clone(), path, "not-a-real-token")
            .json(&json!({"rating": 5}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            bogus.headers()["www-authenticate"],
            "Bearer",
            "{method} {path}"
        );
        assert_problem(bogus, StatusCode::UNAUTHORIZED).await;
    }
    // Nothing was created or deleted by the refused requests.
    let list = app.moods(&token).await;
    assert_eq!(
        ids(&list),
        vec![created["id"].as_str().unwrap().to_string()]
    );
}

// ---------------------------------------------------------------- local_date

#[tokio::test]
async fn local_date_is_the_date_in_the_entry_zone() {
    let app = app_at(NOW).await;
    let ny = app.user_in("nyc", Some("America/New_York")).await;
    let utc = app.user("london").await;
    let late = "2026-03-01T23:30:00-05:00";

    // 23:30 in New York on Mar 1 is already Mar 2 in UTC.
    let entry = app
        .mood(&ny, json!({"rating": 5, "recorded_at": late}))
        .await;
    assert_eq!(entry["timezone"], "America/New_York");
    assert_eq!(entry["local_date"], "2026-03-01");
    assert_eq!(
        ts(&entry["recorded_at"]),
        "2026-03-02T04:30:00Z".parse().unwrap()
    );

    // The same instant for a UTC profile is Mar 2...
    let entry = app
        .mood(&utc, json!({"rating": 5, "recorded_at": late}))
        .await;
    assert_eq!(entry["timezone"], "UTC");
    assert_eq!(entry["local_date"], "2026-03-02");

    // ...unless the entry names its own zone, which overrides the profile's.
    let entry = app
        .mood(
            &utc,
            json!({"rating": 5, "recorded_at": late, "timezone": "America/New_York"}),
        )
        .await;
    assert_eq!(entry["timezone"], "America/New_York");
    assert_eq!(entry["local_date"], "2026-03-01");
    let entry = app
        .mood(
            &ny,
            json!({"rating": 5, "recorded_at": "2026-03-01T20:00:00Z", "timezone": "Asia/Tokyo"}),
        )
        .await;
    assert_eq!(entry["timezone"], "Asia/Tokyo");
    assert_eq!(entry["local_date"], "2026-03-02");

    let (status, fetched) = app
        .get_json(&format!("/mood/{}", entry["id"].as_str().unwrap()), &ny)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["local_date"], "2026-03-02");
    assert_eq!(fetched["timezone"], "Asia/Tokyo");
}

#[tokio::test]
async fn a_profile_time_zone_change_moves_today_but_not_existing_entries() {
    // 23:45 on Mar 1 in New York; already Mar 2 in UTC.
    let app = app_at("2026-03-02T04:45:00Z").await;
    let token = app.user_in("nyc", Some("America/New_York")).await;
    app.mood(
        &token,
        json!({"rating": 5, "recorded_at": "2026-03-01T23:30:00-05:00"}),
    )
    .await;
    let list = app.moods(&token).await;
    assert_eq!(list["today"], "2026-03-01");
    assert_eq!(list["timezone"], "America/New_York");
    assert_eq!(list["logged_today"], true);
    assert_eq!(list["current_streak"], 1);
    let id = entries(&list)[0]["id"].as_str().unwrap().to_string();

    let response = app
        .authed(Method::PATCH, "/me", &token)
        .json(&json!({"timezone": "UTC"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let list = app.moods(&token).await;
    assert_eq!(
        list["today"], "2026-03-02",
        "today follows the new profile zone"
    );
    assert_eq!(list["timezone"], "UTC");
    assert_eq!(
        entries(&list)[0]["local_date"],
        "2026-03-01",
        "the entry did not move"
    );
    assert_eq!(entries(&list)[0]["timezone"], "America/New_York");
    assert_eq!(list["logged_today"], false);
    assert_eq!(
        list["current_streak"], 1,
        "yesterday keeps the streak alive"
    );
    let (_, fetched) = app.get_json(&format!("/mood/{id}"), &token).await;
    assert_eq!(fetched["local_date"], "2026-03-01");

    // New entries default to the new profile zone.
    let created = app.mood(&token, json!({"rating": 6})).await;
    assert_eq!(created["timezone"], "UTC");
    assert_eq!(created["local_date"], "2026-03-02");
    assert_eq!(created["streak"], 2);
    assert_eq!(created["current_streak"], 2);
}

// ---------------------------------------------------------------- streaks

#[tokio::test]
async fn streaks_follow_the_api_example() {
    let app = app_at("2026-03-05T18:00:00Z").await;
    let token = app.user("alice").await;
    let mut created = Vec::new();
    for date in ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-05"] {
        let entry = log_on(&app, &token, date).await;
        created.push((
            entry["streak"].as_u64().unwrap(),
            entry["current_streak"].as_u64().unwrap(),
        ));
    }
    // Streaks 1, 2, 3, 1; the run Mar 1–3 is not current on Mar 5.
    assert_eq!(created, vec![(1, 0), (2, 0), (3, 0), (1, 1)]);

    // A second entry on Mar 3 has the same streak; the day counts once.
    let second = app
        .mood(
            &token,
            json!({"rating": 2, "recorded_at": "2026-03-03T20:00:00Z"}),
        )
        .await;
    assert_eq!(second["streak"], 3);
    assert_eq!(second["current_streak"], 1);

    let list = app.moods(&token).await;
    assert_eq!(
        days_and_streaks(&list),
        pairs(&[
            ("2026-03-05", 1),
            ("2026-03-03", 3),
            ("2026-03-03", 3),
            ("2026-03-02", 2),
            ("2026-03-01", 1),
        ])
    );
    assert_eq!(list["current_streak"], 1);
    assert_eq!(list["longest_streak"], 3);
    assert_eq!(list["logged_today"], true);
    assert_eq!(list["today"], "2026-03-05");
    assert_eq!(list["timezone"], "UTC");
    assert_eq!(list["next_cursor"], Value::Null);
}

#[tokio::test]
async fn an_empty_history_has_zero_streaks() {
    let app = app_at(NOW).await;
    let token = app.user_in("alice", Some("Pacific/Auckland")).await;
    let list = app.moods(&token).await;
    assert_eq!(
        list,
        json!({"current_streak": 0, "longest_streak": 0, "logged_today": false,
               "today": "2026-03-11", "timezone": "Pacific/Auckland",
               "entries": [], "next_cursor": null})
    );
}

#[tokio::test]
async fn current_streak_lives_through_yesterday_and_then_drops_to_zero() {
    let app = app_at("2026-03-03T12:00:00Z").await;
    let token = app.user("alice").await;
    for date in ["2026-03-01", "2026-03-02", "2026-03-03"] {
        log_on(&app, &token, date).await;
    }
    let figures = |list: &Value| {
        (
            list["today"].as_str().unwrap().to_string(),
            list["current_streak"].as_u64().unwrap(),
            list["longest_streak"].as_u64().unwrap(),
            list["logged_today"].as_bool().unwrap(),
        )
    };
    let cases = [
        ("2026-03-03T12:00:00Z", "2026-03-03", 3, true),
        ("2026-03-04T00:00:00Z", "2026-03-04", 3, false),
        ("2026-03-04T23:59:59Z", "2026-03-04", 3, false),
        ("2026-03-05T00:00:00Z", "2026-03-05", 0, false),
        ("2026-03-09T00:00:00Z", "2026-03-09", 0, false),
    ];
    for (now, today, current, logged_today) in cases {
        app.set_now(now);
        let list = app.moods(&token).await;
        assert_eq!(
            figures(&list),
            (today.to_string(), current, 3, logged_today),
            "at {now}"
        );
        // Entries keep their own streaks whatever the day.
        assert_eq!(
            days_and_streaks(&list),
            pairs(&[("2026-03-03", 3), ("2026-03-02", 2), ("2026-03-01", 1)])
        );
    }
    // Logging again after the gap starts a new run.
    let entry = app.mood(&token, json!({"rating": 5})).await;
    assert_eq!(entry["local_date"], "2026-03-09");
    assert_eq!(entry["streak"], 1);
    assert_eq!(entry["current_streak"], 1);
    let list = app.moods(&token).await;
    assert_eq!(figures(&list), ("2026-03-09".to_string(), 1, 3, true));
}

#[tokio::test]
async fn today_and_the_current_streak_follow_the_profile_zone() {
    let app = app_at("2026-03-05T04:00:00Z").await;
    let token = app.user_in("nyc", Some("America/New_York")).await;
    for date in ["2026-03-01", "2026-03-02", "2026-03-03"] {
        app.mood(
            &token,
            json!({"rating": 5, "recorded_at": format!("{date}T12:00:00-05:00")}),
        )
        .await;
    }
    // 23:00 on Mar 4 in New York (already Mar 5 in UTC): Mar 3 is yesterday.
    let list = app.moods(&token).await;
    assert_eq!(list["today"], "2026-03-04");
    assert_eq!(list["current_streak"], 3);
    // Midnight in New York: Mar 3 is now two days ago.
    app.set_now("2026-03-05T05:00:00Z");
    let list = app.moods(&token).await;
    assert_eq!(list["today"], "2026-03-05");
    assert_eq!(list["current_streak"], 0);
    assert_eq!(list["longest_streak"], 3);
}

#[tokio::test]
async fn a_day_later_than_today_counts_as_the_current_run() {
    let app = app_at("2026-03-03T11:00:00Z").await;
    let token = app.user("alice").await;
    log_on(&app, &token, "2026-03-02").await;
    // Kiritimati is UTC+14: 11:00 UTC on Mar 3 is 01:00 on Mar 4 there.
    let ahead = app
        .mood(
            &token,
            json!({"rating": 8, "timezone": "Pacific/Kiritimati"}),
        )
        .await;
    assert_eq!(ahead["local_date"], "2026-03-04");
    assert_eq!(ahead["streak"], 1);
    assert_eq!(ahead["current_streak"], 1);
    let list = app.moods(&token).await;
    assert_eq!(list["today"], "2026-03-03");
    assert_eq!(list["logged_today"], false);
    // The latest counted day (Mar 4) is later than today: its streak is current.
    assert_eq!(list["current_streak"], 1);
    assert_eq!(list["longest_streak"], 1);

    // Filling today joins everything into one run of three.
    let today = app.mood(&token, json!({"rating": 6})).await;
    assert_eq!(today["local_date"], "2026-03-03");
    assert_eq!(today["streak"], 2);
    assert_eq!(today["current_streak"], 3);
    let list = app.moods(&token).await;
    assert_eq!(list["logged_today"], true);
    assert_eq!(list["current_streak"], 3);
    assert_eq!(list["longest_streak"], 3);
}

#[tokio::test]
async fn back_filling_a_missed_day_joins_two_runs() {
    let app = app_at("2026-03-04T18:00:00Z").await;
    let token = app.user("alice").await;
    for date in ["2026-03-01", "2026-03-02"] {
        log_on(&app, &token, date).await;
    }
    let latest = log_on(&app, &token, "2026-03-04").await;
    let latest_path = format!("/mood/{}", latest["id"].as_str().unwrap());
    assert_eq!(latest["streak"], 1);
    let (_, fetched) = app.get_json(&latest_path, &token).await;
    assert_eq!(fetched["streak"], 1);
    let list = app.moods(&token).await;
    assert_eq!(list["current_streak"], 1);
    assert_eq!(list["longest_streak"], 2);

    // Back-fill Mar 3 (made offline, posted now).
    let filled = log_on(&app, &token, "2026-03-03").await;
    assert_eq!(filled["streak"], 3);
    assert_eq!(filled["current_streak"], 4);

    let (_, fetched) = app.get_json(&latest_path, &token).await;
    assert_eq!(
        fetched["streak"], 4,
        "the later entry's streak is recomputed"
    );
    let list = app.moods(&token).await;
    assert_eq!(
        days_and_streaks(&list),
        pairs(&[
            ("2026-03-04", 4),
            ("2026-03-03", 3),
            ("2026-03-02", 2),
            ("2026-03-01", 1)
        ])
    );
    assert_eq!(list["current_streak"], 4);
    assert_eq!(list["longest_streak"], 4);
}

#[tokio::test]
async fn deleting_an_entry_splits_a_run_but_a_day_with_another_entry_still_counts() {
    let app = app_at("2026-03-04T18:00:00Z").await;
    let token = app.user("alice").await;
    let mut by_date = BTreeMap::new();
    for date in ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"] {
        let entry = log_on(&app, &token, date).await;
        by_date.insert(date, entry["id"].as_str().unwrap().to_string());
    }
    // A second entry on Mar 2.
    let extra = app
        .mood(
            &token,
            json!({"rating": 1, "recorded_at": "2026-03-02T20:00:00Z"}),
        )
        .await;

    // Deleting one of Mar 2's two entries leaves the day counted.
    let response = send(
        &app,
        Method::DELETE,
        &format!("/mood/{}", by_date["2026-03-02"]),
        &token,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let list = app.moods(&token).await;
    assert_eq!(
        days_and_streaks(&list),
        pairs(&[
            ("2026-03-04", 4),
            ("2026-03-03", 3),
            ("2026-03-02", 2),
            ("2026-03-01", 1)
        ])
    );

    // Deleting the last entry of Mar 2 splits the run.
    let response = send(
        &app,
        Method::DELETE,
        &format!("/mood/{}", extra["id"].as_str().unwrap()),
        &token,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let list = app.moods(&token).await;
    assert_eq!(
        days_and_streaks(&list),
        pairs(&[("2026-03-04", 2), ("2026-03-03", 1), ("2026-03-01", 1)])
    );
    assert_eq!(list["current_streak"], 2);
    assert_eq!(list["longest_streak"], 2);
    let (_, fetched) = app
        .get_json(&format!("/mood/{}", by_date["2026-03-04"]), &token)
        .await;
    assert_eq!(fetched["streak"], 2);

    // Deleting today's only entry: yesterday keeps a streak of 1 alive.
    let response = send(
        &app,
        Method::DELETE,
        &format!("/mood/{}", by_date["2026-03-04"]),
        &token,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let list = app.moods(&token).await;
    assert_eq!(list["logged_today"], false);
    assert_eq!(list["current_streak"], 1);
    assert_eq!(list["longest_streak"], 1);
}

#[tokio::test]
async fn the_order_of_posting_never_matters() {
    let app = app_at("2026-03-05T18:00:00Z").await;
    let times = [
        "2026-03-01T09:00:00Z",
        "2026-03-02T09:00:00Z",
        "2026-03-03T09:00:00Z",
        "2026-03-03T15:00:00Z",
        "2026-03-05T09:00:00Z",
    ];
    let mut lists = Vec::new();
    for (name, order) in [
        ("forward", [0, 1, 2, 3, 4]),
        ("shuffled", [4, 2, 0, 3, 1]),
        ("backward", [4, 3, 2, 1, 0]),
    ] {
        let token = app.user(name).await;
        for i in order {
            app.mood(&token, json!({"rating": i + 1, "recorded_at": times[i]}))
                .await;
        }
        let mut list = app.moods(&token).await;
        // Ids differ between users; everything else must be the same.
        for entry in list["entries"].as_array_mut().unwrap() {
            entry.as_object_mut().unwrap().remove("id");
        }
        lists.push(list);
    }
    assert_eq!(lists[0], lists[1]);
    assert_eq!(lists[0], lists[2]);
    assert_eq!(
        days_and_streaks(&lists[0]),
        pairs(&[
            ("2026-03-05", 1),
            ("2026-03-03", 3),
            ("2026-03-03", 3),
            ("2026-03-02", 2),
            ("2026-03-01", 1),
        ])
    );
}

#[tokio::test]
async fn runs_cross_month_and_year_ends() {
    let app = app_at("2026-03-02T12:00:00Z").await;
    let token = app.user("alice").await;
    let dates = [
        "2025-12-30",
        "2025-12-31",
        "2026-01-01",
        "2026-01-02",
        "2026-01-31",
        "2026-02-01",
        // 2026 is not a leap year: Feb 28 and Mar 1 are consecutive.
        "2026-02-27",
        "2026-02-28",
        "2026-03-01",
        "2026-03-02",
    ];
    let mut streaks = Vec::new();
    for date in dates {
        streaks.push(log_on(&app, &token, date).await["streak"].as_u64().unwrap());
    }
    assert_eq!(streaks, vec![1, 2, 3, 4, 1, 2, 1, 2, 3, 4]);
    let list = app.moods(&token).await;
    assert_eq!(list["current_streak"], 4);
    assert_eq!(list["longest_streak"], 4);
    let mut listed = days_and_streaks(&list);
    listed.reverse();
    let expected: Vec<(String, u64)> = dates.iter().map(|d| d.to_string()).zip(streaks).collect();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn leap_day_is_an_ordinary_day() {
    let app = app_at("2024-03-01T12:00:00Z").await;
    let leap = app.user("leap").await;
    let gap = app.user("gap").await;
    let mut streaks = Vec::new();
    for date in ["2024-02-28", "2024-02-29", "2024-03-01"] {
        streaks.push(log_on(&app, &leap, date).await["streak"].as_u64().unwrap());
    }
    assert_eq!(streaks, vec![1, 2, 3]);
    let list = app.moods(&leap).await;
    assert_eq!(list["current_streak"], 3);
    assert_eq!(list["longest_streak"], 3);
    assert_eq!(list["today"], "2024-03-01");

    // In 2024, Feb 28 and Mar 1 are not consecutive.
    log_on(&app, &gap, "2024-02-28").await;
    let entry = log_on(&app, &gap, "2024-03-01").await;
    assert_eq!(entry["streak"], 1);
    let list = app.moods(&gap).await;
    assert_eq!(
        days_and_streaks(&list),
        pairs(&[("2024-03-01", 1), ("2024-02-28", 1)])
    );
    assert_eq!(list["current_streak"], 1);
    assert_eq!(list["longest_streak"], 1);
}

#[tokio::test]
async fn daylight_saving_weeks_in_new_york_are_seven_days() {
    // 23:00 on Mar 11 in New York (EDT); already Mar 12 in UTC.
    let app = app_at("2026-03-12T03:00:00Z").await;
    let spring = app.user_in("spring", Some("America/New_York")).await;
    // 00:30 local every day around the spring-forward night (Mar 8, 02:00):
    // UTC-5 before it, UTC-4 after. A fixed offset would misdate some.
    let entries_utc = [
        ("2026-03-05T05:30:00Z", "2026-03-05"),
        ("2026-03-06T05:30:00Z", "2026-03-06"),
        ("2026-03-07T05:30:00Z", "2026-03-07"),
        ("2026-03-08T05:30:00Z", "2026-03-08"),
        ("2026-03-09T03:30:00Z", "2026-03-08"), // 23:30 EDT on Mar 8
        ("2026-03-09T04:30:00Z", "2026-03-09"),
        ("2026-03-10T04:30:00Z", "2026-03-10"),
        ("2026-03-11T04:30:00Z", "2026-03-11"),
    ];
    let mut got = Vec::new();
    for (at, _) in entries_utc {
        let entry = app
            .mood(&spring, json!({"rating": 5, "recorded_at": at}))
            .await;
        got.push((
            entry["local_date"].as_str().unwrap().to_string(),
            entry["streak"].as_u64().unwrap(),
        ));
    }
    assert_eq!(
        got,
        pairs(&[
            ("2026-03-05", 1),
            ("2026-03-06", 2),
            ("2026-03-07", 3),
            ("2026-03-08", 4),
            ("2026-03-08", 4),
            ("2026-03-09", 5),
            ("2026-03-10", 6),
            ("2026-03-11", 7),
        ])
    );
    let list = app.moods(&spring).await;
    assert_eq!(list["today"], "2026-03-11");
    assert_eq!(list["logged_today"], true);
    assert_eq!(list["current_streak"], 7);
    assert_eq!(list["longest_streak"], 7);

    // The fall-back week (Nov 1, 02:00): 23:30 local, UTC-4 then UTC-5.
    app.set_now("2026-11-05T12:00:00Z");
    let fall = app.user_in("fall", Some("America/New_York")).await;
    let mut got = Vec::new();
    for at in [
        "2026-10-30T03:30:00Z",
        "2026-10-31T03:30:00Z",
        "2026-11-01T03:30:00Z",
        "2026-11-02T04:30:00Z",
        "2026-11-03T04:30:00Z",
        "2026-11-04T04:30:00Z",
        "2026-11-05T04:30:00Z",
    ] {
        let entry = app
            .mood(&fall, json!({"rating": 5, "recorded_at": at}))
            .await;
        got.push((
            entry["local_date"].as_str().unwrap().to_string(),
            entry["streak"].as_u64().unwrap(),
        ));
    }
    assert_eq!(
        got,
        pairs(&[
            ("2026-10-29", 1),
            ("2026-10-30", 2),
            ("2026-10-31", 3),
            ("2026-11-01", 4),
            ("2026-11-02", 5),
            ("2026-11-03", 6),
            ("2026-11-04", 7),
        ])
    );
    let list = app.moods(&fall).await;
    assert_eq!(list["today"], "2026-11-05");
    assert_eq!(list["logged_today"], false);
    assert_eq!(list["current_streak"], 7);
}

// ---------------------------------------------------------------- GET /mood

/// Orders canonical decimal ids numerically (and anything else consistently).
fn id_key(id: &str) -> (usize, &str) {
    (id.len(), id)
}

#[tokio::test]
async fn list_is_newest_first_by_recorded_at_then_id() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let times = [
        "2026-03-05T10:00:00Z",
        "2026-03-01T10:00:00Z",
        "2026-03-09T10:00:00Z",
        "2026-03-05T10:00:00Z",
        "2026-03-05T09:59:59.999999Z",
        "2026-03-05T10:00:00Z",
        "2026-03-05T10:00:00.000001Z",
    ];
    for (i, at) in times.iter().enumerate() {
        app.mood(&token, json!({"rating": i + 1, "recorded_at": at}))
            .await;
    }
    let list = app.moods(&token).await;
    let listed: Vec<(Timestamp, String)> = entries(&list)
        .iter()
        .map(|e| (ts(&e["recorded_at"]), e["id"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(listed.len(), times.len());
    for pair in listed.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.0 > b.0 || (a.0 == b.0 && id_key(&a.1) > id_key(&b.1)),
            "not newest first: {listed:?}"
        );
    }
    let ratings: Vec<u64> = entries(&list)
        .iter()
        .map(|e| e["rating"].as_u64().unwrap())
        .collect();
    // By time: Mar 9, then 10:00:00.000001, then the three at 10:00 (newest
    // id first), then 09:59:59.999999, then Mar 1.
    assert_eq!(ratings, vec![3, 7, 6, 4, 1, 5, 2]);
}

#[tokio::test]
async fn list_returns_every_entry_without_a_limit() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let base: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let total = 1005;
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in (0..total).collect::<Vec<i64>>().chunks(201) {
        let (client, url, token, chunk) = (
            app.client.clone(),
            app.url("/mood"),
            token.clone(),
            chunk.to_vec(),
        );
        tasks.spawn(async move {
            for i in chunk {
                let at = base + SignedDuration::from_mins(i * 90);
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"rating": i % 10 + 1, "recorded_at": at.to_string()}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let list = app.moods(&token).await;
    assert_eq!(
        entries(&list).len(),
        total as usize,
        "more than any page size"
    );
    assert_eq!(list["next_cursor"], Value::Null);
    let unique: BTreeSet<String> = ids(&list).into_iter().collect();
    assert_eq!(unique.len(), total as usize);

    // The largest page is 1000, followed by the rest.
    let (status, page) = app.get_json("/mood?limit=1000", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entries(&page).len(), 1000);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let (status, rest) = app
        .get_json(&format!("/mood?limit=1000&cursor={cursor}"), &token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entries(&rest).len(), 5);
    assert_eq!(rest["next_cursor"], Value::Null);
    let paged: Vec<String> = ids(&page).into_iter().chain(ids(&rest)).collect();
    assert_eq!(paged, ids(&list));
}

/// Walks every page of `limit` entries; returns the pages.
async fn walk_pages(app: &TestApp, token: &str, limit: usize) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut path = format!("/mood?limit={limit}");
    loop {
        let (status, page) = app.get_json(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert!(entries(&page).len() <= limit);
        let next = page["next_cursor"].as_str().map(str::to_string);
        pages.push(page);
        match next {
            Some(cursor) => path = format!("/mood?limit={limit}&cursor={cursor}"),
            None => break,
        }
        assert!(pages.len() <= 100, "paging does not end");
    }
    pages
}

/// The ids on each page of `limit` entries.
async fn walk(app: &TestApp, token: &str, limit: usize) -> Vec<Vec<String>> {
    walk_pages(app, token, limit)
        .await
        .iter()
        .map(ids)
        .collect()
}

#[tokio::test]
async fn paging_visits_every_entry_once_in_order() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    // 21 entries over a few days, with several sharing one instant.
    for i in 0..21 {
        let at = match i % 3 {
            0 => "2026-03-08T08:00:00Z".to_string(),
            _ => format!("2026-03-0{}T{:02}:00:00Z", 1 + i % 7, i),
        };
        app.mood(&token, json!({"rating": 5, "recorded_at": at}))
            .await;
    }
    let all = ids(&app.moods(&token).await);
    assert_eq!(all.len(), 21);
    for limit in [1, 2, 5, 7, 20, 21, 22, 1000] {
        let pages = walk(&app, &token, limit).await;
        let flat: Vec<String> = pages.concat();
        assert_eq!(flat, all, "limit {limit}");
        // Full pages until the last; no empty page at the end.
        assert_eq!(pages.len(), 21usize.div_ceil(limit), "limit {limit}");
        for page in &pages[..pages.len() - 1] {
            assert_eq!(page.len(), limit);
        }
    }
}

#[tokio::test]
async fn a_page_carries_streak_figures_of_all_entries() {
    let app = app_at("2026-03-04T18:00:00Z").await;
    let token = app.user("alice").await;
    for date in [
        "2026-02-20",
        "2026-02-21",
        "2026-02-22",
        "2026-02-23",
        "2026-03-03",
        "2026-03-04",
    ] {
        log_on(&app, &token, date).await;
    }
    let full = app.moods(&token).await;
    let (status, first) = app.get_json("/mood?limit=1", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entries(&first).len(), 1);
    for field in [
        "current_streak",
        "longest_streak",
        "logged_today",
        "today",
        "timezone",
    ] {
        assert_eq!(first[field], full[field], "{field}");
    }
    assert_eq!(first["longest_streak"], 4, "from entries not on this page");
    assert_eq!(first["current_streak"], 2);
    // Each entry on every page has the streak it has in the full list, and
    // every page has the same figures.
    let pages = walk_pages(&app, &token, 2).await;
    assert_eq!(pages.len(), 3);
    let mut paged = Vec::new();
    for page in &pages {
        for field in [
            "current_streak",
            "longest_streak",
            "logged_today",
            "today",
            "timezone",
        ] {
            assert_eq!(page[field], full[field], "{field}");
        }
        paged.extend(days_and_streaks(page));
    }
    assert_eq!(paged, days_and_streaks(&full));
    assert_eq!(
        paged,
        pairs(&[
            ("2026-03-04", 2),
            ("2026-03-03", 1),
            ("2026-02-23", 4),
            ("2026-02-22", 3),
            ("2026-02-21", 2),
            ("2026-02-20", 1),
        ])
    );
}

async fn first_cursor(app: &TestApp, token: &str, limit: usize) -> String {
    let (_, page) = app.get_json(&format!("/mood?limit={limit}"), token).await;
    page["next_cursor"].as_str().expect("cursor").to_string()
}

#[tokio::test]
async fn paging_survives_deleting_the_entry_a_cursor_points_at() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    for day in 1..=6 {
        log_on(&app, &token, &format!("2026-03-0{day}")).await;
    }
    let all = ids(&app.moods(&token).await);
    let (_, first) = app.get_json("/mood?limit=2", &token).await;
    assert_eq!(ids(&first), all[..2].to_vec());
    let cursor = first["next_cursor"].as_str().unwrap();
    let response = send(&app, Method::DELETE, &format!("/mood/{}", all[1]), &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, second) = app
        .get_json(&format!("/mood?limit=10&cursor={cursor}"), &token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&second), all[2..].to_vec());
}

#[tokio::test]
async fn bad_limit_or_cursor_is_422() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    log_on(&app, &token, "2026-03-01").await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("cursor=garbage!", "cursor"),
        ("cursor=abc", "cursor"),
        ("cursor=", "cursor"),
        ("limit=5&cursor=%00%01", "cursor"),
        // Valid base64 of text that is not a cursor.
        ("cursor=aGVsbG8gd29ybGQ", "cursor"),
    ] {
        let response = send(&app, Method::GET, &format!("/mood?{query}"), &token).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            error_fields(&problem).contains(&field.to_string()),
            "{query}: {problem}"
        );
    }
    // Both wrong at once: both reported.
    let response = send(&app, Method::GET, "/mood?limit=0&cursor=zzz", &token).await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: BTreeSet<String> = error_fields(&problem).into_iter().collect();
    assert_eq!(fields, ["cursor".to_string(), "limit".to_string()].into());
}

#[tokio::test]
async fn users_never_see_each_others_entries() {
    let app = app_at(NOW).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    for day in 1..=4 {
        log_on(&app, &alice, &format!("2026-03-0{day}")).await;
    }
    let bobs = app
        .mood(
            &bob,
            json!({"rating": 2, "note": "bob only", "recorded_at": noon("2026-03-02")}),
        )
        .await;

    let list = app.moods(&bob).await;
    assert_eq!(ids(&list), vec![bobs["id"].as_str().unwrap().to_string()]);
    assert_eq!(
        list["longest_streak"], 1,
        "alice's days do not count for bob"
    );
    assert_eq!(count(&app, &alice).await, 4);
    assert!(
        !entries(&app.moods(&alice).await)
            .iter()
            .any(|e| e["note"] == "bob only")
    );

    // Alice's cursor does not open her entries to Bob.
    let cursor = first_cursor(&app, &alice, 1).await;
    let (status, page) = app.get_json(&format!("/mood?cursor={cursor}"), &bob).await;
    assert_eq!(status, StatusCode::OK);
    for entry in entries(&page) {
        assert_eq!(entry["id"], bobs["id"]);
    }
}

// ---------------------------------------------------------------- /mood/{id}

#[tokio::test]
async fn get_one_entry_with_its_streak() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    log_on(&app, &token, "2026-03-08").await;
    let created = app
        .mood(&token, json!({"rating": 9, "note": "sunny", "tags": ["outside"], "recorded_at": noon("2026-03-09")}))
        .await;
    let (status, entry) = app
        .get_json(
            &format!("/mood/{}", created["id"].as_str().unwrap()),
            &token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_entry_shape(&entry);
    assert_eq!(entry["id"], created["id"]);
    assert_eq!(entry["rating"], 9);
    assert_eq!(entry["note"], "sunny");
    assert_eq!(entry["tags"], json!(["outside"]));
    assert_eq!(entry["local_date"], "2026-03-09");
    assert_eq!(entry["timezone"], "UTC");
    assert_eq!(entry["streak"], 2);
    let listed = entries(&app.moods(&token).await)[0].clone();
    assert_eq!(entry, listed);
}

#[tokio::test]
async fn another_users_entry_is_404_for_get_and_delete() {
    let app = app_at(NOW).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let entry = app
        .mood(&alice, json!({"rating": 7, "note": "private"}))
        .await;
    let path = format!("/mood/{}", entry["id"].as_str().unwrap());

    let response = send(&app, Method::GET, &path, &bob).await;
    let problem = assert_problem(response, StatusCode::NOT_FOUND).await;
    assert!(!problem.to_string().contains("private"));
    let response = send(&app, Method::DELETE, &path, &bob).await;
    assert_problem(response, StatusCode::NOT_FOUND).await;

    // Same answer as for an id that does not exist at all.
    let missing = send(&app, Method::GET, "/mood/987654321", &bob).await;
    let missing = assert_problem(missing, StatusCode::NOT_FOUND).await;
    let response = send(&app, Method::GET, &path, &bob).await;
    assert_eq!(
        assert_problem(response, StatusCode::NOT_FOUND).await,
        missing
    );

    // Still there for its owner.
    let (status, fetched) = app.get_json(&path, &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["note"], "private");
    assert_eq!(count(&app, &alice).await, 1);
}

#[tokio::test]
async fn unknown_or_malformed_ids_are_404() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let entry = app.mood(&token, json!({"rating": 5})).await;
    let id = entry["id"].as_str().unwrap();
    for bad in [
        "987654321".to_string(),
        "0".to_string(),
        "-1".to_string(),
        "abc".to_string(),
        format!("0{id}"),
        format!("{id}.0"),
        format!("{id}%20"),
        "99999999999999999999999".to_string(),
        "%F0%9F%99%82".to_string(),
    ] {
        for method in [Method::GET, Method::DELETE] {
            let response = send(&app, method.clone(), &format!("/mood/{bad}"), &token).await;
            assert_problem(response, StatusCode::NOT_FOUND).await;
        }
    }
    assert_eq!(count(&app, &token).await, 1);
}

#[tokio::test]
async fn delete_is_204_then_the_entry_is_gone() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let keep = app.mood(&token, json!({"rating": 5})).await;
    let gone = app.mood(&token, json!({"rating": 6})).await;
    let path = format!("/mood/{}", gone["id"].as_str().unwrap());

    let response = send(&app, Method::DELETE, &path, &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.text().await.unwrap().is_empty());

    assert_problem(
        send(&app, Method::GET, &path, &token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        send(&app, Method::DELETE, &path, &token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let list = app.moods(&token).await;
    assert_eq!(ids(&list), vec![keep["id"].as_str().unwrap().to_string()]);
}

#[tokio::test]
async fn ids_of_deleted_entries_are_never_reused() {
    let app = app_at(NOW).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let first = app.mood(&alice, json!({"rating": 5})).await;
    let deleted = app.mood(&alice, json!({"rating": 6})).await;
    let path = format!("/mood/{}", deleted["id"].as_str().unwrap());
    assert_eq!(
        send(&app, Method::DELETE, &path, &alice).await.status(),
        StatusCode::NO_CONTENT
    );

    // Neither the owner's nor anyone else's next entry takes the old id,
    // so an old link (or an idempotent replay's Location) never names a
    // different entry.
    let next = app.mood(&alice, json!({"rating": 7})).await;
    let bobs = app.mood(&bob, json!({"rating": 8})).await;
    for entry in [&next, &bobs] {
        assert_ne!(entry["id"], deleted["id"]);
        assert_ne!(entry["id"], first["id"]);
    }
    assert_ne!(next["id"], bobs["id"]);
    assert_problem(
        send(&app, Method::GET, &path, &alice).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        send(&app, Method::GET, &path, &bob).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

// ---------------------------------------------------------------- Idempotency-Key

#[tokio::test]
async fn a_retry_with_the_same_key_replays_the_first_response() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let body = r#"{"rating": 6, "note": "retry me", "tags": ["net"]}"#;
    let (status, headers, first) = post_keyed(&app, &token, "key-1", body).await;
    assert_eq!(status, StatusCode::CREATED);
    let created: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(created["note"], "retry me");

    // Later, after another entry changed the streak figures, the retry
    // still answers exactly what the first request answered.
    app.clock.advance(SignedDuration::from_hours(1));
    app.mood(
        &token,
        json!({"rating": 1, "recorded_at": noon("2026-03-09")}),
    )
    .await;
    for _ in 0..2 {
        let (status, retry_headers, retry) = post_keyed(&app, &token, "key-1", body).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(retry, first, "identical body");
        assert_eq!(retry_headers["location"], headers["location"]);
    }
    assert_eq!(count(&app, &token).await, 2, "the retries created nothing");
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let (status, _, _) = post_keyed(&app, &token, "key-1", r#"{"rating": 6}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    for other in [
        r#"{"rating": 7}"#,
        r#"{"rating": 6, "note": "changed"}"#,
        r#"{"rating": 6, "tags": []}"#,
    ] {
        let (status, headers, body) = post_keyed(&app, &token, "key-1", other).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{other}");
        assert_eq!(headers["content-type"], "application/problem+json");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error_fields(&problem), vec!["Idempotency-Key".to_string()]);
    }
    let list = app.moods(&token).await;
    assert_eq!(entries(&list).len(), 1);
    assert_eq!(entries(&list)[0]["rating"], 6);
}

#[tokio::test]
async fn bodies_are_compared_as_json_values() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let (status, _, first) = post_keyed(
        &app,
        &token,
        "key-1",
        r#"{"rating": 6, "note": "x", "tags": ["a", "b"], "timezone": "Europe/Oslo"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // Keys in another order, other whitespace: the same JSON value.
    let (status, _, again) = post_keyed(
        &app,
        &token,
        "key-1",
        "{\n  \"timezone\":\"Europe/Oslo\",\"tags\":[\"a\",\"b\"],\n\"note\":\"x\",  \"rating\":6}",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again, first);
    // Array order is part of the value.
    let (status, _, _) = post_keyed(
        &app,
        &token,
        "key-1",
        r#"{"rating": 6, "note": "x", "tags": ["b", "a"], "timezone": "Europe/Oslo"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app, &token).await, 1);
}

#[tokio::test]
async fn idempotency_keys_are_per_user() {
    let app = app_at(NOW).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (status, _, a) = post_keyed(&app, &alice, "shared", r#"{"rating": 6}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, b) = post_keyed(&app, &bob, "shared", r#"{"rating": 6}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    let (a, b): (Value, Value) = (
        serde_json::from_str(&a).unwrap(),
        serde_json::from_str(&b).unwrap(),
    );
    assert_ne!(
        a["id"], b["id"],
        "Bob got his own entry, not Alice's replay"
    );
    // Another body under the same key is fine for another user.
    let (status, _, _) = post_keyed(&app, &bob, "other", r#"{"rating": 2}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = post_keyed(&app, &alice, "other", r#"{"rating": 9}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(count(&app, &alice).await, 2);
    assert_eq!(count(&app, &bob).await, 2);
}

#[tokio::test]
async fn idempotency_key_length_is_1_to_255() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    for bad in [String::new(), "k".repeat(256), "k".repeat(1000)] {
        let (status, _, body) = post_keyed(&app, &token, &bad, r#"{"rating": 6}"#).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "key of {} chars",
            bad.len()
        );
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert!(
            error_fields(&problem).contains(&"Idempotency-Key".to_string()),
            "{problem}"
        );
    }
    assert_eq!(count(&app, &token).await, 0);
    for good in ["k".to_string(), "k".repeat(255)] {
        let (status, _, _) = post_keyed(&app, &token, &good, r#"{"rating": 6}"#).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _, _) = post_keyed(&app, &token, &good, r#"{"rating": 6}"#).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(count(&app, &token).await, 2);
}

#[tokio::test]
async fn a_refused_request_does_not_use_up_its_key() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let (status, _, _) = post_keyed(&app, &token, "key-1", r#"{"rating": 60}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) = post_keyed(&app, &token, "key-1", r#"{"rating": 6}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(count(&app, &token).await, 1);
}

#[tokio::test]
async fn keys_are_forgotten_after_24_hours() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let body = r#"{"rating": 6}"#;
    let (_, _, first) = post_keyed(&app, &token, "daily", body).await;

    app.clock
        .advance(SignedDuration::from_hours(23) + SignedDuration::from_mins(59));
    let (status, _, replay) = post_keyed(&app, &token, "daily", body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(replay, first, "still within 24 hours");
    assert_eq!(count(&app, &token).await, 1);

    app.clock
        .advance(SignedDuration::from_mins(1) + SignedDuration::from_secs(1));
    let (status, _, fresh) = post_keyed(&app, &token, "daily", body).await;
    assert_eq!(status, StatusCode::CREATED);
    let (first, fresh): (Value, Value) = (
        serde_json::from_str(&first).unwrap(),
        serde_json::from_str(&fresh).unwrap(),
    );
    assert_ne!(fresh["id"], first["id"], "a new entry");
    assert_eq!(
        ts(&fresh["recorded_at"]),
        "2026-03-11T12:00:01Z".parse().unwrap()
    );
    assert_eq!(fresh["streak"], 2);
    assert_eq!(count(&app, &token).await, 2);

    // The key now belongs to the new request: retries replay it...
    let (_, _, again) = post_keyed(&app, &token, "daily", body).await;
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), fresh);
    // ...and a forgotten key may also come back with another body.
    app.clock.advance(SignedDuration::from_hours(25));
    let (status, _, _) = post_keyed(&app, &token, "daily", r#"{"rating": 2}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(count(&app, &token).await, 3);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_entry() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (client, url, token) = (app.client.clone(), app.url("/mood"), token.clone());
        tasks.spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", "at-once")
                .json(&json!({"rating": 4, "note": "once"}))
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        });
    }
    let mut bodies = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let (status, body) = done.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        bodies.insert(body);
    }
    assert_eq!(bodies.len(), 1, "every answer is the same: {bodies:?}");
    let list = app.moods(&token).await;
    assert_eq!(entries(&list).len(), 1);
    let answered: Value = serde_json::from_str(bodies.first().unwrap()).unwrap();
    assert_eq!(entries(&list)[0]["id"], answered["id"]);
}

// ---------------------------------------------------------------- export

const TRICKY_NOTE: &str = "She said \"hi, there\",\nthen left;\r\nok";

/// Alice (with notes that need quoting) and Bob, whose entry must never leak.
async fn export_fixture(app: &TestApp) -> String {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.mood(&alice, json!({"rating": 3, "note": TRICKY_NOTE, "tags": ["a,b", "say \"x\""], "recorded_at": noon("2026-03-08")}))
        .await;
    app.mood(
        &alice,
        json!({"rating": 8, "recorded_at": noon("2026-03-09")}),
    )
    .await;
    app.mood(
        &alice,
        json!({"rating": 9, "note": "plain", "timezone": "Asia/Tokyo"}),
    )
    .await;
    app.mood(&bob, json!({"rating": 1, "note": "bob's secret"}))
        .await;
    alice
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn csv_export_is_an_rfc_4180_download_of_every_entry() {
    let app = app_at(NOW).await;
    let alice = export_fixture(&app).await;
    let response = send(&app, Method::GET, "/mood/export?format=csv", &alice).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").starts_with("text/csv"));
    let disposition = header(&response, "content-disposition");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains("filename="), "{disposition}");
    assert!(
        disposition.trim_end_matches('"').ends_with(".csv"),
        "{disposition}"
    );
    assert_eq!(header(&response, "cache-control"), "no-store");
    let text = response.text().await.unwrap();

    // RFC 4180: CRLF after the header, fields with quotes doubled.
    let first_line = text.split("\r\n").next().unwrap();
    assert!(!first_line.contains('\n'), "header row ends with CRLF");
    assert!(
        text.contains("\"She said \"\"hi, there\"\",\nthen left;\r\nok\""),
        "{text}"
    );
    assert!(!text.contains("bob's secret"));

    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    for column in [
        "id",
        "rating",
        "note",
        "tags",
        "recorded_at",
        "timezone",
        "local_date",
        "streak",
    ] {
        assert!(
            headers.contains(&column.to_string()),
            "{column} in {headers:?}"
        );
    }
    let rows: Vec<BTreeMap<String, String>> = reader
        .records()
        .map(|r| {
            headers
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect();

    let list = app.moods(&alice).await;
    assert_eq!(rows.len(), entries(&list).len());
    let by_id: BTreeMap<String, &BTreeMap<String, String>> =
        rows.iter().map(|r| (r["id"].clone(), r)).collect();
    assert_eq!(by_id.len(), 3);
    for entry in entries(&list) {
        let row = by_id[entry["id"].as_str().unwrap()];
        assert_eq!(row["rating"], entry["rating"].to_string());
        assert_eq!(row["note"], entry["note"].as_str().unwrap_or(""));
        assert_eq!(row["local_date"], entry["local_date"].as_str().unwrap());
        assert_eq!(row["timezone"], entry["timezone"].as_str().unwrap());
        assert_eq!(row["streak"], entry["streak"].to_string());
        assert_eq!(
            row["recorded_at"].parse::<Timestamp>().unwrap(),
            ts(&entry["recorded_at"])
        );
        // Tags are one column holding a JSON array (documented in the OpenAPI).
        let tags: Value = serde_json::from_str(&row["tags"]).expect("tags as JSON");
        assert_eq!(tags, entry["tags"]);
    }
    let tricky = rows.iter().find(|r| r["rating"] == "3").unwrap();
    assert_eq!(tricky["note"], TRICKY_NOTE);
    assert_eq!(tricky["streak"], "1");
    assert!(
        rows.iter().any(|r| r["streak"] == "3"),
        "Mar 8, 9, 10: {rows:?}"
    );
}

#[tokio::test]
async fn json_export_has_every_entry_with_its_streak() {
    let app = app_at(NOW).await;
    let alice = export_fixture(&app).await;
    let response = send(&app, Method::GET, "/mood/export?format=json", &alice).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").starts_with("application/json"));
    let disposition = header(&response, "content-disposition");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(
        disposition.trim_end_matches('"').ends_with(".json"),
        "{disposition}"
    );
    let export: Value = response.json().await.unwrap();
    let list = app.moods(&alice).await;
    let exported = export["entries"].as_array().expect("entries");
    assert_eq!(exported, entries(&list));
    assert_eq!(exported.len(), 3);
    assert!(!export.to_string().contains("bob's secret"));
    assert_eq!(export["current_streak"], list["current_streak"]);
    assert_eq!(export["longest_streak"], 3);
}

#[tokio::test]
async fn unknown_export_formats_are_422() {
    let app = app_at(NOW).await;
    let alice = export_fixture(&app).await;
    for query in ["format=xml", "format=CSV", "format="] {
        let response = send(&app, Method::GET, &format!("/mood/export?{query}"), &alice).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            error_fields(&problem),
            vec!["format".to_string()],
            "{query}"
        );
    }
}

#[tokio::test]
async fn an_empty_export_still_has_its_header_row() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let response = send(&app, Method::GET, "/mood/export?format=csv", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert!(reader.headers().unwrap().iter().any(|h| h == "streak"));
    assert_eq!(reader.records().count(), 0);
}

// ---------------------------------------------------------------- concurrency

#[tokio::test]
async fn fifty_concurrent_posts_are_all_stored() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50u64 {
        let (client, url, token) = (app.client.clone(), app.url("/mood"), token.clone());
        tasks.spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"rating": i % 10 + 1, "note": format!("n{i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            let body: Value = response.json().await.unwrap();
            (
                body["id"].as_str().unwrap().to_string(),
                body["note"].as_str().unwrap().to_string(),
            )
        });
    }
    let mut created = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (id, note) = done.unwrap();
        assert!(created.insert(id, note).is_none(), "duplicate id");
    }
    assert_eq!(created.len(), 50);
    let list = app.moods(&token).await;
    let listed: BTreeMap<String, String> = entries(&list)
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["note"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(listed, created);
    assert_eq!(list["current_streak"], 1);
}

// ---------------------------------------------------------------- caching and ETags

/// `GET path` with `If-None-Match: etag`: status, ETag and body.
async fn get_if_none_match(
    app: &TestApp,
    path: &str,
    token: &str,
    etag: Option<&str>,
) -> (StatusCode, String, String) {
    let mut request = app.authed(Method::GET, path, token);
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, etag, response.text().await.expect("body"))
}

#[tokio::test]
async fn an_unchanged_list_answers_304_to_its_etag_and_every_change_moves_the_tag() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    let first = log_on(&app, &token, "2026-03-09").await;

    let (status, tag, body) = get_if_none_match(&app, "/mood", &token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag:?}");
    let (status, again, empty) = get_if_none_match(&app, "/mood", &token, Some(&tag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(again, tag);
    assert_eq!(empty, "");
    // Weak comparison, lists and `*` all match; another tag does not.
    for header in [format!("W/{tag}"), format!("\"x\", {tag}"), "*".to_string()] {
        let (status, ..) = get_if_none_match(&app, "/mood", &token, Some(&header)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{header}");
    }
    let (status, _, same) = get_if_none_match(&app, "/mood", &token, Some("\"x\"")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same, body);

    // A new entry, a deletion, a new profile zone and a new day each change
    // what the list shows, and so its tag: the tag held before each change
    // then gets the new body.
    let changed =
        |what: &'static str, (status, new_tag, body): (StatusCode, String, String), old: &str| {
            assert_eq!(status, StatusCode::OK, "{what}");
            assert_ne!(new_tag, old, "{what}");
            (new_tag, serde_json::from_str::<Value>(&body).expect("JSON"))
        };
    let second = log_on(&app, &token, "2026-03-10").await;
    let id = second["id"].as_str().unwrap().to_string();
    let (posted, list) = changed(
        "post",
        get_if_none_match(&app, "/mood", &token, Some(&tag)).await,
        &tag,
    );
    assert_eq!(entries(&list).len(), 2);
    assert_eq!(list["current_streak"], 2);

    let deleted = send(&app, Method::DELETE, &format!("/mood/{id}"), &token).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (after_delete, list) = changed(
        "delete",
        get_if_none_match(&app, "/mood", &token, Some(&posted)).await,
        &posted,
    );
    assert_eq!(ids(&list), vec![first["id"].as_str().unwrap().to_string()]);
    assert_eq!(
        after_delete, tag,
        "the tag is a digest of the body, which is back to the first"
    );

    let patched = app
        .authed(Method::PATCH, "/me", &token)
        .json(&json!({"timezone": "Pacific/Kiritimati"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let (zoned, list) = changed(
        "zone",
        get_if_none_match(&app, "/mood", &token, Some(&tag)).await,
        &tag,
    );
    assert_eq!(list["timezone"], "Pacific/Kiritimati");
    assert_eq!(list["today"], "2026-03-11", "UTC+14 is already tomorrow");

    app.clock.advance(SignedDuration::from_hours(24));
    let (_, list) = changed(
        "day",
        get_if_none_match(&app, "/mood", &token, Some(&zoned)).await,
        &zoned,
    );
    assert_eq!(list["today"], "2026-03-12");
    assert_eq!(list["current_streak"], 0);
}

#[tokio::test]
async fn cached_lists_follow_every_write_and_stay_per_user_and_per_page() {
    let app = app_at(NOW).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut expected = Vec::new();
    for day in 1..=6 {
        // Read (and so cache) every view before each write.
        let all = app.moods(&alice).await;
        assert_eq!(entries(&all).len(), expected.len());
        let (status, page) = app.get_json("/mood?limit=2", &alice).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(entries(&page).len(), expected.len().min(2));
        assert_eq!(count(&app, &bob).await, 0, "bob's list is his own");
        let entry = log_on(&app, &alice, &format!("2026-03-0{day}")).await;
        expected.insert(0, entry["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids(&app.moods(&alice).await), expected);
    let (_, page) = app.get_json("/mood?limit=2", &alice).await;
    assert_eq!(ids(&page), expected[..2]);
    assert_eq!(entries(&app.moods(&bob).await).len(), 0);
    // The same URL with Bob's token never gets Alice's tag or body.
    let (_, alice_tag, _) = get_if_none_match(&app, "/mood", &alice, None).await;
    let (status, bob_tag, body) = get_if_none_match(&app, "/mood", &bob, Some(&alice_tag)).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(bob_tag, alice_tag);
    assert!(!body.contains("2026-03-01"), "{body}");
}

#[tokio::test]
async fn a_recreated_account_never_sees_the_deleted_ones_cached_list() {
    let app = app_at(NOW).await;
    let token = app.user("alice").await;
    app.mood(
        &token,
        json!({"rating": 3, "note": "private", "recorded_at": noon("2026-03-09")}),
    )
    .await;
    let (_, tag, body) = get_if_none_match(&app, "/mood", &token, None).await;
    assert!(body.contains("private"));
    let deleted = app
        .authed(Method::DELETE, "/me", &token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    // On SQLite the new account may well get the same id.
    let again = app.user("alice").await;
    let (status, new_tag, body) = get_if_none_match(&app, "/mood", &again, Some(&tag)).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(new_tag, tag);
    assert!(!body.contains("private"), "{body}");
    assert_eq!(entries(&serde_json::from_str(&body).unwrap()).len(), 0);
}
