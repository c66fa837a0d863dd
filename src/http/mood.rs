//! Mood entries and streaks.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::error::{AppError, AppResult, FieldError, Problem};
use super::json::{Fields, JsonBody, integer, owned_string, string, string_array};
use super::mood_cache::MoodBody;
use super::openapi::{BodyErrors, CrossSite, Unauthenticated, Unavailable};
use super::users::UserView;
use crate::app::{AppState, IDEMPOTENCY_WINDOW};
use crate::auth::Authenticated;
use crate::domain::{
    Entry, EntryId, IdempotencyKey, Invalid, NewEntry, Note, Rating, Streaks, Tags, Tz, User,
    check_recorded_at, local_date,
};
use crate::store::{Created, Cursor, Idempotency, Insert, Page};

/// A mood entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    /// Opaque identifier.
    pub id: String,
    /// 1 (worst) to 10 (best).
    #[schema(minimum = 1, maximum = 10)]
    pub rating: u8,
    /// Always present; `null` when there is no note.
    #[schema(required = true)]
    pub note: Option<String>,
    pub tags: Vec<String>,
    /// When the mood was felt, in UTC.
    #[schema(format = DateTime)]
    pub recorded_at: String,
    /// The IANA zone where the mood was felt.
    pub timezone: String,
    /// The date of `recorded_at` in `timezone`, fixed when the entry was written.
    #[schema(format = Date)]
    pub local_date: String,
    /// Consecutive logged days ending on `local_date`.
    pub streak: u32,
}

impl EntryView {
    fn new(entry: Entry, streak: u32) -> Self {
        Self {
            id: entry.id.to_string(),
            rating: entry.rating,
            note: entry.note,
            tags: entry.tags,
            recorded_at: entry.recorded_at.to_string(),
            timezone: entry.timezone,
            local_date: entry.local_date.to_string(),
            streak,
        }
    }

    fn with_streaks(entry: Entry, streaks: &Streaks) -> Self {
        let streak = streaks.streak_on(entry.local_date);
        Self::new(entry, streak)
    }
}

/// The entry just written, with the user's current streak.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedView {
    #[serde(flatten)]
    pub entry: EntryView,
    /// The user's current streak after this entry.
    pub current_streak: u32,
}

/// The caller's entries and streaks.
#[derive(Debug, Serialize, ToSchema)]
pub struct MoodListView {
    /// Consecutive logged days ending today or yesterday (0 if neither is logged).
    pub current_streak: u32,
    /// The longest run of consecutive logged days ever.
    pub longest_streak: u32,
    /// Whether today has an entry.
    pub logged_today: bool,
    /// Today's date in the profile's time zone.
    #[schema(format = Date)]
    pub today: String,
    /// The profile's time zone.
    pub timezone: String,
    /// Newest first (by `recorded_at`, then `id`).
    pub entries: Vec<EntryView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[allow(dead_code)] // Documents the request body in the OpenAPI.
mod bodies {
    use utoipa::ToSchema;

    use crate::http::openapi::{Tag, TimeZoneName};

    #[derive(ToSchema)]
    pub struct NewMood {
        /// 1 (worst) to 10 (best); an integer (`5.0` and `"5"` are refused).
        #[schema(minimum = 1, maximum = 10)]
        pub rating: i64,
        /// At most 2000 characters; U+0000 is refused.
        #[schema(max_length = 2000, pattern = "^[^\\u0000]*$")]
        pub note: Option<String>,
        /// At most 10 tags of 1–32 characters each.
        #[schema(max_items = 10)]
        pub tags: Option<Vec<Tag>>,
        /// RFC 3339 with an offset (at most 9 fractional digits); default
        /// now. Not before 1970, not more than 5 minutes ahead.
        #[schema(format = DateTime,
            pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$")]
        pub recorded_at: Option<String>,
        /// Where the mood was felt; default the profile's time zone.
        pub timezone: Option<TimeZoneName>,
    }

    /// What `GET /mood/export` answers.
    #[derive(ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub enum ExportFormat {
        Json,
        Csv,
    }
}
pub use bodies::{ExportFormat, NewMood};

/// Today in the profile's time zone.
fn today(user: &User, now: Timestamp) -> Date {
    local_date(now, &user.timezone)
}

/// Log a mood.
///
/// With an `Idempotency-Key`, a retry of the same request within 24 hours
/// answers the first response again (with `Idempotent-Replayed: true`) and
/// stores nothing new; the same key with a different body is refused (422).
#[utoipa::path(post, path = "/mood", tag = "mood", request_body = NewMood,
    security(("bearer" = []), ("cookie" = [])),
    // HTTP drops the whitespace around a header value before the handler
    // sees it, so the 1–255 characters are counted without it (the pattern
    // says so; a maxLength would count it). Whitespace before the value is
    // left out of the pattern: HTTP clients refuse to send it.
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1,
        pattern = "^[!-~]([\\t -~]{0,253}[!-~])?[\\t ]*$",
        description = "Unique per request: 1–255 characters of visible ASCII, spaces and tabs, \
            not counting whitespace after the value (which is not part of the key)")),
    responses(
        (status = 201, description = "Stored", body = CreatedView,
            headers(
                ("Location" = String, description = "The new entry's URL"),
                ("Idempotent-Replayed" = String, description = "`true` when this repeats the answer to an earlier request with the same key"),
            )),
        BodyErrors,
        Unauthenticated,
        CrossSite,
        (status = 422, description = "Invalid fields, or a reused idempotency key", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    ))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> AppResult<Response> {
    let now = state.clock.now();
    let (entry, key) = parse_new_mood(&body, &headers, now, &auth.user.timezone)?;
    let idempotency = key.map(|key| Idempotency {
        key,
        // serde_json's maps are ordered, so equal JSON values serialise equally.
        fingerprint: Sha256::digest(body.to_string().as_bytes()).into(),
        not_before: now - IDEMPOTENCY_WINDOW,
    });
    let outcome = state
        .store
        .insert_entry(
            auth.user.id,
            entry,
            idempotency,
            today(&auth.user, now),
            now,
        )
        .await?;
    let (created, replayed) = match outcome {
        Insert::Created(c) => (c, false),
        Insert::Replayed(c) => (c, true),
    };
    let Created {
        entry,
        streak,
        current_streak,
    } = created;
    let location = HeaderValue::from_str(&format!("/mood/{}", entry.id)).expect("ASCII");
    let mut response = (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(CreatedView {
            entry: EntryView::new(entry, streak),
            current_streak,
        }),
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Reads a `POST /mood` request: the fields of its JSON body (every invalid
/// one reported at once, with the `Idempotency-Key` header's problem among
/// them) into a `NewEntry`, at `now`, for a user whose profile is in
/// `profile_zone`. Public so that the fuzzer (fuzz/) runs exactly this.
pub fn parse_new_mood(
    body: &serde_json::Value,
    headers: &HeaderMap,
    now: Timestamp,
    profile_zone: &Tz,
) -> AppResult<(NewEntry, Option<IdempotencyKey>)> {
    let mut f = Fields::of(body)?;
    let rating = f.required("rating", |v| {
        integer(v)
            .map_err(|_| Invalid::new("must be an integer from 1 to 10"))
            .and_then(Rating::new)
    });
    let note = f.optional("note", |v| owned_string(v).and_then(Note::parse));
    let tags = f.optional("tags", |v| string_array(v).and_then(Tags::parse));
    let recorded_at = f.optional("recorded_at", |v| {
        let text = string(v)?;
        let at = text.parse::<Timestamp>().map_err(|_| {
            Invalid::new("must be an RFC 3339 time with an offset, e.g. 2026-03-01T21:30:00+01:00")
        })?;
        check_recorded_at(at, now)
    });
    let timezone = f.optional("timezone", |v| string(v).and_then(Tz::parse));
    let key = match headers.get("idempotency-key") {
        None => Some(None),
        Some(value) => {
            let parsed = value
                .to_str()
                .map_err(|_| Invalid::new("must be visible ASCII"))
                .and_then(IdempotencyKey::parse);
            f.record("Idempotency-Key", parsed).map(Some)
        }
    };
    let (Some(rating), Some(note), Some(tags), Some(recorded_at), Some(timezone), Some(key), true) =
        (rating, note, tags, recorded_at, timezone, key, f.is_clean())
    else {
        return Err(f.into_error());
    };

    let entry = NewEntry {
        rating,
        note,
        tags: tags.unwrap_or_default(),
        recorded_at: recorded_at.unwrap_or(now),
        timezone: timezone.unwrap_or_else(|| profile_zone.clone()),
    };
    Ok((entry, key))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–1000; without it, every entry is returned.
    // Parsed by hand (to answer 422, not 400), but documented as what it is.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn parse_limit(text: &str) -> Result<u32, Invalid> {
    text.parse::<u32>()
        .ok()
        .filter(|l| (1..=1000).contains(l))
        .ok_or_else(|| Invalid::new("must be an integer from 1 to 1000"))
}

pub(crate) fn encode_cursor(c: Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", c.recorded_at.as_microsecond(), c.id))
}

pub(crate) fn decode_cursor(text: &str) -> Result<Cursor, Invalid> {
    let invalid = || Invalid::new("is not a cursor from `next_cursor`");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
    let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok(Cursor {
        recorded_at: micros
            .parse()
            .ok()
            .and_then(|m| Timestamp::from_microsecond(m).ok())
            .ok_or_else(invalid)?,
        id: id.parse().map_err(|_| invalid())?,
    })
}

fn parse_query<T: serde::de::DeserializeOwned>(uri: &Uri) -> AppResult<T> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(q)| q)
        .map_err(|e| AppError::invalid("query", e.body_text()))
}

/// The caller's entries, newest first, with streaks.
///
/// Returns every entry unless `limit` is given; the streak figures always
/// cover all entries.
///
/// Each answer carries a strong `ETag`. A client that keeps its own copy
/// (the responses are `Cache-Control: no-store`, so HTTP caches do not) can
/// send it back in `If-None-Match` and gets `304 Not Modified`, with no
/// body, while nothing it would show has changed.
#[utoipa::path(get, path = "/mood", tag = "mood", params(ListQuery,
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer for this URL")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Entries and streaks", body = MoodListView,
            headers(("ETag" = String, description = "Validator of this body"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag was sent",
            headers(("ETag" = String, description = "The same validator"))),
        Unauthenticated,
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    uri: Uri,
) -> AppResult<Response> {
    let query: ListQuery = parse_query(&uri)?;
    let limit = query.limit.as_deref().map(parse_limit).transpose();
    let cursor = query.cursor.as_deref().map(decode_cursor).transpose();
    let page = match (limit, cursor) {
        (Ok(limit), Ok(cursor)) => Page { limit, cursor },
        (limit, cursor) => {
            let errors = [("limit", limit.err()), ("cursor", cursor.err())]
                .into_iter()
                .filter_map(|(field, e)| e.map(|e| FieldError::new(field, e.0)))
                .collect();
            return Err(AppError::Validation(errors));
        }
    };
    let today = today(&auth.user, state.clock.now());
    let cache = &state.mood_cache;
    let body = match cache.get(auth.user.id, &page, auth.revision, today) {
        Some(body) => body,
        None => {
            let read = state.store.mood_page(auth.user.id, page).await?;
            let streaks = Streaks::from_days(read.days);
            let view = MoodListView {
                current_streak: streaks.current(today),
                longest_streak: streaks.longest(),
                logged_today: streaks.is_counted(today),
                today: today.to_string(),
                timezone: auth.user.timezone.name().to_string(),
                entries: read
                    .entries
                    .into_iter()
                    .map(|e| EntryView::with_streaks(e, &streaks))
                    .collect(),
                next_cursor: read.next.map(encode_cursor),
            };
            let json = serde_json::to_vec(&view).map_err(anyhow::Error::from)?;
            let body = Arc::new(MoodBody::new(read.revision, today, json));
            cache.put(auth.user.id, &page, Arc::clone(&body));
            body
        }
    };
    let etag = (header::ETAG, body.etag.clone());
    if none_match(&headers, &body.etag) {
        return Ok((StatusCode::NOT_MODIFIED, [etag]).into_response());
    }
    let json = HeaderValue::from_static("application/json");
    Ok(([(header::CONTENT_TYPE, json), etag], body.json.clone()).into_response())
}

/// Whether `If-None-Match` lists `etag` (or is `*`), by the weak comparison
/// RFC 9110 prescribes for it.
fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours)
}

const NOT_FOUND: AppError = AppError::NotFound("No such entry.");

/// One entry.
#[utoipa::path(get, path = "/mood/{id}", tag = "mood",
    params(("id" = String, Path, description = "The entry's id")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The entry", body = EntryView),
        Unauthenticated,
        (status = 404, description = "No such entry (or another user's)", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    ))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<EntryView>> {
    let id: EntryId = id.parse().map_err(|_| NOT_FOUND)?;
    let (entry, days) = state
        .store
        .entry(auth.user.id, id)
        .await?
        .ok_or(NOT_FOUND)?;
    Ok(Json(EntryView::with_streaks(
        entry,
        &Streaks::from_days(days),
    )))
}

/// Delete an entry; streaks are recomputed without it.
#[utoipa::path(delete, path = "/mood/{id}", tag = "mood",
    params(("id" = String, Path, description = "The entry's id")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Deleted"),
        Unauthenticated,
        CrossSite,
        (status = 404, description = "No such entry (or another user's)", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    ))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id: EntryId = id.parse().map_err(|_| NOT_FOUND)?;
    if state.store.delete_entry(auth.user.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(NOT_FOUND)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `json` (default) or `csv`.
    // Parsed by hand (to answer 422, not 400), but documented as what it is.
    #[param(value_type = Option<ExportFormat>)]
    format: Option<String>,
}

/// All of the caller's data as a JSON export.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportView {
    #[schema(format = DateTime)]
    pub exported_at: String,
    pub user: UserView,
    pub current_streak: u32,
    pub longest_streak: u32,
    /// Newest first.
    pub entries: Vec<EntryView>,
}

/// Download every entry with its streak, as JSON or CSV.
///
/// The CSV has a header row (`id,recorded_at,local_date,timezone,rating,note,tags,streak`),
/// RFC 4180 quoting, and tags as a JSON array.
#[utoipa::path(get, path = "/mood/export", tag = "mood", params(ExportQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The download",
            content(
                (ExportView = "application/json"),
                (String = "text/csv"),
            ),
            headers(("Content-Disposition" = String, description = "attachment; filename=..."))),
        Unauthenticated,
        (status = 422, description = "Unknown format", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    ))]
pub async fn export(
    State(state): State<AppState>,
    auth: Authenticated,
    uri: Uri,
) -> AppResult<Response> {
    let query: ExportQuery = parse_query(&uri)?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(AppError::invalid("format", "must be `json` or `csv`")),
    };
    let page = state.store.mood_page(auth.user.id, Page::default()).await?;
    let streaks = Streaks::from_days(page.days);
    let now = state.clock.now();
    let today = today(&auth.user, now);
    let entries: Vec<EntryView> = page
        .entries
        .into_iter()
        .map(|e| EntryView::with_streaks(e, &streaks))
        .collect();
    let stem = format!("moodlog-{}-{today}", auth.user.username.as_str());
    let (content_type, extension, body) = if csv {
        ("text/csv; charset=utf-8", "csv", to_csv(&entries)?)
    } else {
        let export = ExportView {
            exported_at: now.to_string(),
            user: UserView::from(&auth.user),
            current_streak: streaks.current(today),
            longest_streak: streaks.longest(),
            entries,
        };
        let body = serde_json::to_vec_pretty(&export).map_err(anyhow::Error::from)?;
        ("application/json", "json", body)
    };
    let disposition = format!("attachment; filename=\"{stem}.{extension}\"");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).expect("usernames are ASCII"),
            ),
        ],
        body,
    )
        .into_response())
}

fn to_csv(entries: &[EntryView]) -> AppResult<Vec<u8>> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    out.write_record([
        "id",
        "recorded_at",
        "local_date",
        "timezone",
        "rating",
        "note",
        "tags",
        "streak",
    ])
    .map_err(anyhow::Error::from)?;
    for e in entries {
        let tags = serde_json::to_string(&e.tags).map_err(anyhow::Error::from)?;
        out.write_record([
            e.id.as_str(),
            &e.recorded_at,
            &e.local_date,
            &e.timezone,
            &e.rating.to_string(),
            e.note.as_deref().unwrap_or(""),
            &tags,
            &e.streak.to_string(),
        ])
        .map_err(anyhow::Error::from)?;
    }
    out.into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))
}
