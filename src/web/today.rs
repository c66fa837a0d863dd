//! The home page: the streak, the form to log a mood, and the charts.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::ToSpan;
use jiff::civil::Date;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::charts::{self, ChartSize};
use super::error::{PageError, message};
use super::extract::{Viewer, WebForm};
use super::layout::{self, Section, alert, csrf_field, notice};
use crate::app::{AppState, IDEMPOTENCY_WINDOW};
use crate::domain::{
    DayMood, EntryId, IdempotencyKey, Invalid, NewEntry, Note, Rating, Streaks, Tags, Tz,
    local_date,
};
use crate::http::error::AppError;
use crate::store::{Idempotency, Insert, Page};

/// The chart ranges offered, in days.
const RANGES: [i64; 3] = [30, 90, 365];
/// The calendar shows at least this many days, so it reads as a calendar
/// even when the chart shows a month.
const CALENDAR_MIN_DAYS: i64 = 26 * 7;
const COMPACT_CALENDAR_DAYS: i64 = 13 * 7;

#[derive(Debug, Default, Deserialize)]
pub struct TodayQuery {
    range: Option<String>,
    logged: Option<String>,
}

/// What the log form said, kept to show it again after an error.
#[derive(Debug, Default, Deserialize)]
pub struct LogForm {
    rating: Option<String>,
    #[serde(default)]
    note: String,
    #[serde(default)]
    tags: String,
    timezone: Option<String>,
    idempotency_key: Option<String>,
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<TodayQuery>,
) -> Result<Response, PageError> {
    let range = query
        .range
        .as_deref()
        .and_then(|r| r.parse().ok())
        .filter(|r| RANGES.contains(r))
        .unwrap_or(RANGES[0]);
    let logged = match query.logged.as_deref().map(str::parse::<EntryId>) {
        Some(Ok(id)) => state.store.entry(viewer.user.id, id).await?,
        _ => None,
    };
    let flash = logged.map(|(entry, days)| {
        let streaks = Streaks::from_days(days);
        let today = local_date(state.clock.now(), &viewer.user.timezone);
        format!(
            "Logged {}/10. Your streak is {}.",
            entry.rating,
            plural(streaks.current(today), "day", "days")
        )
    });
    let markup = render(
        &state,
        &viewer,
        range,
        flash.as_deref(),
        None,
        &LogForm::default(),
    )
    .await?;
    Ok(markup.into_response())
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    range: i64,
    flash: Option<&str>,
    error: Option<&str>,
    form: &LogForm,
) -> Result<Markup, PageError> {
    let user = &viewer.user;
    let today = local_date(state.clock.now(), &user.timezone);
    let latest = state
        .store
        .mood_page(
            user.id,
            Page {
                limit: Some(1),
                cursor: None,
            },
        )
        .await?;
    let streaks = Streaks::from_days(latest.days);
    let current = streaks.current(today);
    let logged_today = streaks.is_counted(today);

    let chart_from = days_before(today, range - 1);
    let calendar_from = days_before(today, range.max(CALENDAR_MIN_DAYS) - 1);
    // A phone shows a quarter: the full calendar's squares would be specks.
    let compact_calendar_from = days_before(today, COMPACT_CALENDAR_DAYS - 1);
    let daily = state
        .store
        .daily_moods(user.id, chart_from.min(calendar_from))
        .await?;
    let in_chart: Vec<DayMood> = daily
        .iter()
        .copied()
        .filter(|d| d.date >= chart_from && d.date <= today)
        .collect();
    let key = new_idempotency_key()?;

    Ok(layout::page(
        "Today",
        viewer,
        Section::Today,
        html! {
            h1.visually-hidden { "Today" }
            section.card.streak aria-label="Streak" {
                div.stat.current {
                    p.figure {
                        span.value #current-streak { (current) }
                        " " span.unit { (if current == 1 { "day" } else { "days" }) }
                    }
                    p.label { "Current streak" }
                }
                div.stat {
                    p.figure {
                        span.value #longest-streak { (streaks.longest()) }
                        " " span.unit { (if streaks.longest() == 1 { "day" } else { "days" }) }
                    }
                    p.label { "Longest streak" }
                }
                p #today-status .(if logged_today { "done" } else { "pending" }) {
                    @if logged_today { "Logged today" } @else { "Not logged yet today" }
                }
                @if current > 0 && !logged_today {
                    p #streak-nudge { "Log today to keep your " (current) "-day streak." }
                }
            }
            (notice(flash))
            section.card aria-labelledby="log-heading" {
                h2 #log-heading { "Log a mood" }
                (alert(error))
                (log_form(viewer, form, &key))
            }
            section.card aria-labelledby="chart-heading" {
                div.chart-head {
                    h2 #chart-heading { "Mood over time" }
                    nav.ranges aria-label="Chart range" {
                        @for r in RANGES {
                            a href={ "/?range=" (r) } aria-current=[(r == range).then_some("page")] { (r) " days" }
                        }
                    }
                }
                // One drawing per screen size, the other hidden by the
                // stylesheet: SVG text shrinks with the drawing.
                figure #mood-chart .wide {
                    (PreEscaped(charts::mood_chart(&in_chart, chart_from, today, ChartSize::Wide)))
                }
                figure #mood-chart-compact .compact {
                    (PreEscaped(charts::mood_chart(&in_chart, chart_from, today, ChartSize::Compact)))
                }
                p.caption { "Daily average rating (1 worst, 10 best), last " (range) " days." }
                details {
                    summary { "Show data" }
                    @if in_chart.is_empty() {
                        p { "No entries in these " (range) " days." }
                    } @else {
                        table {
                            thead { tr { th scope="col" { "Day" } th scope="col" { "Average" } th scope="col" { "Entries" } } }
                            tbody {
                                @for d in in_chart.iter().rev() {
                                    tr { td { (d.date) } td { (format!("{:.1}", d.average)) } td { (d.entries) } }
                                }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="calendar-heading" {
                h2 #calendar-heading { "Logged days" }
                figure #calendar .wide {
                    (PreEscaped(charts::heat_map(&daily, calendar_from, today)))
                }
                figure #calendar-compact .compact {
                    (PreEscaped(charts::heat_map(&daily, compact_calendar_from, today)))
                }
                p.caption { "Each square is a day; coloured days have entries, from orange (low) to green (high)." }
            }
        },
    ))
}

fn days_before(day: Date, days: i64) -> Date {
    day.checked_sub(days.days()).unwrap_or(Date::MIN)
}

/// A fresh key per rendered form: submitting the same form twice (a double
/// tap, or a retry after the connection dropped) stores one entry.
fn new_idempotency_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn log_form(viewer: &Viewer, form: &LogForm, key: &str) -> Markup {
    let chosen = form.rating.as_deref();
    html! {
        form.log method="post" action="/entries" {
            (csrf_field(&viewer.csrf))
            input type="hidden" name="idempotency_key" value=(form.idempotency_key.as_deref().unwrap_or(key));
            input type="hidden" name="timezone" value=(form.timezone.as_deref().unwrap_or(""));
            fieldset.rating {
                legend { "How do you feel?" span.hint { " 1 is the worst, 10 the best" } }
                div.scale {
                    @for n in 1..=10u8 {
                        // The radio covers its label, invisible: the whole
                        // square is the target, and it stays a native radio
                        // for keyboards and screen readers.
                        label class={ "r" (n) } {
                            input type="radio" name="rating" value=(n)
                                required[n == 1] checked[chosen == Some(n.to_string().as_str())];
                            span { (n) }
                        }
                    }
                }
            }
            div.optional {
                label for="note" { "Note (optional)" }
                textarea #note name="note" rows="2" maxlength=(Note::MAX_CHARS) { (form.note) }
                label for="tags" { "Tags (optional)" }
                input #tags name="tags" type="text" value=(form.tags) autocomplete="off"
                    placeholder="e.g. work, slept well" aria-describedby="tags-hint";
                p.hint #tags-hint { "Separate tags with commas; up to 10." }
            }
            button.primary.big type="submit" { "Log mood" }
        }
    }
}

/// The entry a log form describes, or what is wrong with it.
fn parse_entry(form: &LogForm, viewer: &Viewer, now: jiff::Timestamp) -> Result<NewEntry, String> {
    let rating = form
        .rating
        .as_deref()
        .and_then(|r| r.parse::<i64>().ok())
        .and_then(|r| Rating::new(r).ok())
        .ok_or("Choose a rating from 1 to 10.")?;
    let note = match form.note.trim() {
        "" => None,
        _ => Some(Note::parse(form.note.clone()).map_err(|e| format!("The note {e}."))?),
    };
    let tags: Vec<String> = form
        .tags
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    let tags = Tags::parse(tags).map_err(|e: Invalid| format!("Tags: {e}."))?;
    // The browser's zone, where the person is now; the profile's when the
    // page had no script to tell, or the browser named an unknown zone.
    let timezone = form
        .timezone
        .as_deref()
        .and_then(|tz| Tz::parse(tz).ok())
        .unwrap_or_else(|| viewer.user.timezone.clone());
    Ok(NewEntry {
        rating,
        note,
        tags,
        recorded_at: now,
        timezone,
    })
}

pub async fn log(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<LogForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let entry = match parse_entry(&form, &viewer, now) {
        Ok(entry) => entry,
        Err(text) => {
            let page = render(&state, &viewer, RANGES[0], None, Some(&text), &form).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let idempotency = form
        .idempotency_key
        .as_deref()
        .and_then(|k| IdempotencyKey::parse(k).ok())
        .map(|key| Idempotency {
            key,
            fingerprint: fingerprint(&form),
            not_before: now - IDEMPOTENCY_WINDOW,
        });
    let today = local_date(now, &viewer.user.timezone);
    let outcome = state
        .store
        .insert_entry(viewer.user.id, entry, idempotency, today, now)
        .await;
    let created = match outcome {
        Ok(Insert::Created(c) | Insert::Replayed(c)) => c,
        Err(e) => {
            let e = AppError::from(e);
            let text = match e {
                // A reused key with other content: the form was edited and
                // sent again from a stale page.
                AppError::Validation(_) => {
                    "This form was already used. Your mood was not logged again; reload and try again."
                        .to_string()
                }
                ref other => message(other),
            };
            let page = render(&state, &viewer, RANGES[0], None, Some(&text), &form).await?;
            return Ok((e.status(), page).into_response());
        }
    };
    Ok(Redirect::to(&format!("/?logged={}", created.entry.id)).into_response())
}

/// What makes two submissions of a log form the same request.
fn fingerprint(form: &LogForm) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in [
        form.rating.as_deref().unwrap_or(""),
        &form.note,
        &form.tags,
        form.timezone.as_deref().unwrap_or(""),
    ] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}
