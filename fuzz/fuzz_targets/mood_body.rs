//! Arbitrary bytes as a `POST /mood` request, read exactly as the handler
//! reads it: the `JsonBody` extractor (content type, 64 KiB limit, JSON
//! syntax), then `parse_new_mood` (the fields into a `NewEntry`, and the
//! `Idempotency-Key` header).
//!
//! Input: the body, or `K:` + a header value + `\n` + the body, which sends
//! that value as `Idempotency-Key`.
//!
//! Checked: nothing panics; a refusal is a 4xx (never a 5xx); an accepted
//! body holds the domain's invariants (rating 1–10, note of at most 2000
//! characters, at most 10 tags of 1–32 characters, no U+0000, `recorded_at`
//! from 1970 to now + 5 minutes in whole microseconds, a known time zone, a
//! key of 1–255 characters) and is stored as given.
#![no_main]

use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use jiff::{SignedDuration, Timestamp};
use libfuzzer_sys::fuzz_target;
use moodlog::domain::Tz;
use moodlog::http::error::AppError;
use moodlog::http::json::{BODY_LIMIT, JsonBody};
use moodlog::http::parse_new_mood;
use serde_json::Value;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
});
static PROFILE_ZONE: LazyLock<Tz> = LazyLock::new(|| Tz::parse("Europe/Paris").unwrap());
const NOW: &str = "2026-03-10T12:00:00Z";

fuzz_target!(|data: &[u8]| {
    let (key, body) = split_key(data);
    let mut headers = HeaderMap::new();
    if let Some(key) = key.and_then(|k| HeaderValue::from_bytes(k).ok()) {
        headers.insert("idempotency-key", key);
    }

    // The extractor, on a request as the router hands it over.
    let mut request = Request::new(Body::from(body.to_vec()));
    request.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let json = match RUNTIME.block_on(JsonBody::from_request(request, &())) {
        Ok(JsonBody(value)) => {
            assert!(body.len() <= BODY_LIMIT);
            value
        }
        Err(e) => {
            match e {
                AppError::PayloadTooLarge => assert!(body.len() > BODY_LIMIT),
                AppError::BadJson(_) => assert!(body.len() <= BODY_LIMIT),
                other => panic!("the body was refused with {other:?}"),
            }
            return;
        }
    };

    let now: Timestamp = NOW.parse().unwrap();
    match parse_new_mood(&json, &headers, now, &PROFILE_ZONE) {
        Ok((entry, key)) => check_accepted(&json, &headers, now, entry, key),
        Err(e) => assert!(
            e.status().is_client_error(),
            "refused with {e:?} ({})",
            e.status()
        ),
    }
});

fn split_key(data: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match data.strip_prefix(b"K:") {
        Some(rest) => match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (Some(&rest[..end]), &rest[end + 1..]),
            None => (Some(rest), &[]),
        },
        None => (None, data),
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn check_accepted(
    json: &Value,
    headers: &HeaderMap,
    now: Timestamp,
    entry: moodlog::domain::NewEntry,
    key: Option<moodlog::domain::IdempotencyKey>,
) {
    let field = |name: &str| json.get(name).filter(|v| !v.is_null());

    // Rating: the integer sent, 1 to 10.
    let rating = entry.rating.get();
    assert!((1..=10).contains(&rating), "rating {rating}");
    assert_eq!(
        field("rating").and_then(Value::as_i64),
        Some(i64::from(rating))
    );

    // Note: as sent, at most 2000 characters, no NUL.
    let note = entry.note.clone().map(|n| n.into_inner());
    assert_eq!(note.as_deref(), field("note").and_then(Value::as_str));
    if let Some(note) = &note {
        assert!(chars(note) <= 2000 && !note.contains('\0'));
    }

    // Tags: as sent, in order, at most 10 of 1–32 characters, no NUL.
    let tags = entry.tags.clone().into_inner();
    let sent: Vec<&str> = field("tags")
        .map(|t| {
            t.as_array()
                .expect("tags were an array")
                .iter()
                .map(|t| t.as_str().expect("tags were strings"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(tags, sent);
    assert!(tags.len() <= 10);
    for tag in &tags {
        assert!(
            (1..=32).contains(&chars(tag)) && !tag.contains('\0'),
            "{tag:?}"
        );
    }

    // recorded_at: the instant sent (to the microsecond), or now; from 1970
    // to five minutes ahead.
    let at = entry.recorded_at;
    assert!(at >= Timestamp::UNIX_EPOCH, "{at}");
    assert!(at <= now + SignedDuration::from_mins(5), "{at}");
    assert_eq!(at.subsec_nanosecond() % 1000, 0, "{at}");
    match field("recorded_at") {
        None => assert_eq!(at, now),
        Some(sent) => {
            let sent: Timestamp = sent.as_str().unwrap().parse().unwrap();
            assert_eq!(at.as_microsecond(), sent.as_microsecond());
        }
    }

    // The zone: a known one, the one sent or else the profile's.
    let zone = entry.timezone.name().to_string();
    assert_eq!(Tz::parse(&zone).unwrap().name(), zone);
    match field("timezone") {
        None => assert_eq!(zone, PROFILE_ZONE.name()),
        Some(sent) => assert!(sent.as_str().unwrap().eq_ignore_ascii_case(&zone)),
    }
    // Its local date exists (the stores key streaks by it).
    let _ = entry.local_date();

    // The key: the header, 1–255 characters.
    match (key, headers.get("idempotency-key")) {
        (None, None) => {}
        (Some(key), Some(sent)) => {
            assert_eq!(key.as_str(), sent.to_str().unwrap());
            assert!((1..=255).contains(&chars(key.as_str())));
        }
        (key, sent) => panic!("key {key:?} from header {sent:?}"),
    }
}
