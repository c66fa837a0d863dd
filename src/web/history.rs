//! Every entry, grouped by day, and deleting one.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::ToSpan;
use jiff::civil::Date;
use maud::{Markup, html};
use serde::Deserialize;

use super::error::PageError;
use super::extract::{Viewer, WebForm};
use super::layout::{self, Section, csrf_field, notice};
use crate::app::AppState;
use crate::domain::{Entry, EntryId, Streaks, Tz, local_date};
use crate::http::mood::{decode_cursor, encode_cursor};
use crate::store::Page;

/// Entries per page of history.
const PAGE_SIZE: u32 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    cursor: Option<String>,
    deleted: Option<String>,
}

/// "Today", "Yesterday", or the date in words.
fn day_name(day: Date, today: Date) -> String {
    if day == today {
        "Today".into()
    } else if Some(day) == today.checked_sub(1.day()).ok() {
        "Yesterday".into()
    } else {
        day.strftime("%A %-d %B %Y").to_string()
    }
}

/// The entry's time of day where it was felt, and that zone when it is not
/// the profile's.
fn time_of(entry: &Entry, profile: &Tz) -> (String, Option<String>) {
    let zone = Tz::parse(&entry.timezone).unwrap_or_else(|_| profile.clone());
    let local = entry.recorded_at.to_zoned_datetime(zone.zone().clone());
    let other = (zone.name() != profile.name()).then(|| zone.name().to_string());
    (local.strftime("%H:%M").to_string(), other)
}

fn entry_item(entry: &Entry, streak: u32, profile: &Tz, actions: bool) -> Markup {
    let (time, zone) = time_of(entry, profile);
    html! {
        li.entry data-id=(entry.id) {
            span.rating class={ "r" (entry.rating) } { (entry.rating) "/10" }
            div.body {
                p.meta {
                    time datetime=(entry.recorded_at) { (time) }
                    @if let Some(zone) = zone { " " span.zone { "(" (zone) ")" } }
                    " · " span.streak { "Day " (streak) " of a streak" }
                }
                @if let Some(note) = &entry.note { p.note { (note) } }
                @if !entry.tags.is_empty() {
                    ul.tags aria-label="Tags" {
                        @for tag in &entry.tags { li.tag { (tag) } }
                    }
                }
                @if actions {
                    p.entry-actions {
                        a.delete href={ "/history/" (entry.id) "/delete" } { "Delete" span.visually-hidden { " the entry of " (time) } }
                    }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, PageError> {
    let cursor = query.cursor.as_deref().and_then(|c| decode_cursor(c).ok());
    let page = state
        .store
        .mood_page(
            viewer.user.id,
            Page {
                limit: Some(PAGE_SIZE),
                cursor,
            },
        )
        .await?;
    let streaks = Streaks::from_days(page.days);
    let today = local_date(state.clock.now(), &viewer.user.timezone);
    let profile = &viewer.user.timezone;

    // By local date, newest first. Entries come in time order, which is not
    // always date order: an entry logged in another zone can fall on a
    // different date than its neighbours.
    let mut by_day: BTreeMap<Reverse<Date>, Vec<&Entry>> = BTreeMap::new();
    for entry in &page.entries {
        by_day
            .entry(Reverse(entry.local_date))
            .or_default()
            .push(entry);
    }
    let days: Vec<(Date, Vec<&Entry>)> = by_day.into_iter().map(|(Reverse(d), e)| (d, e)).collect();
    let deleted = query.deleted.is_some().then_some("Entry deleted.");

    Ok(layout::page(
        "History",
        &viewer,
        Section::History,
        html! {
            h1 { "History" }
            (notice(deleted))
            @if days.is_empty() {
                section.card {
                    p { "No entries yet. " a href="/" { "Log your first mood" } "." }
                }
            }
            @for (day, entries) in &days {
                section.card.day data-date=(day) aria-labelledby={ "day-" (day) } {
                    h2 #{ "day-" (day) } {
                        (day_name(*day, today))
                        " " span.day-streak { "streak " (streaks.streak_on(*day)) }
                    }
                    ul.entries {
                        @for entry in entries {
                            (entry_item(entry, streaks.streak_on(entry.local_date), profile, true))
                        }
                    }
                }
            }
            @if let Some(next) = page.next {
                p.more { a.button href={ "/history?cursor=" (encode_cursor(next)) } { "Older entries" } }
            }
        },
    )
    .into_response())
}

fn parse_id(id: &str) -> Result<EntryId, PageError> {
    id.parse().map_err(|_| PageError::NotFound)
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (entry, days) = state
        .store
        .entry(viewer.user.id, parse_id(&id)?)
        .await?
        .ok_or(PageError::NotFound)?;
    let streak = Streaks::from_days(days).streak_on(entry.local_date);
    let today = local_date(state.clock.now(), &viewer.user.timezone);
    Ok(layout::page(
        "Delete entry",
        &viewer,
        Section::History,
        html! {
            section.card.narrow {
                h1 { "Delete this entry?" }
                p { (day_name(entry.local_date, today)) }
                ul.entries { (entry_item(&entry, streak, &viewer.user.timezone, false)) }
                p { "Deleting it cannot be undone, and may shorten your streak." }
                form.actions method="post" action={ "/history/" (entry.id) "/delete" } {
                    (csrf_field(&viewer.csrf))
                    button.danger type="submit" { "Delete entry" }
                    a.button href="/history" { "Cancel" }
                }
            }
        },
    )
    .into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    WebForm(_): WebForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    if state
        .store
        .delete_entry(viewer.user.id, parse_id(&id)?)
        .await?
    {
        Ok(Redirect::to("/history?deleted=1").into_response())
    } else {
        Err(PageError::NotFound)
    }
}
