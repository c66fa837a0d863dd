//! The page shell and the pieces every page shares. maud escapes every
//! interpolated value, so user input can never become markup.

use std::sync::LazyLock;

use maud::{DOCTYPE, Markup, html};

use super::assets;
use super::extract::{Csrf, Viewer};

/// Which section of the app a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Today,
    History,
    Settings,
}

impl Section {
    const ALL: [(Section, &'static str, &'static str); 3] = [
        (Section::Today, "/", "Today"),
        (Section::History, "/history", "History"),
        (Section::Settings, "/settings", "Settings"),
    ];
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · moodlog" }
            link rel="icon" type="image/svg+xml" href=(assets::url("icon.svg"));
            link rel="stylesheet" href=(assets::url("app.css"));
            script src=(assets::url("app.js")) defer {}
        }
    }
}

/// A page of a signed-in person, with the navigation.
pub fn page(title: &str, viewer: &Viewer, section: Section, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { (logo()) "moodlog" }
                    nav aria-label="Main" {
                        ul {
                            @for (s, href, label) in Section::ALL {
                                li {
                                    a href=(href) aria-current=[(s == section).then_some("page")] { (label) }
                                }
                            }
                        }
                    }
                    form.sign-out method="post" action="/sign-out" {
                        (csrf_field(&viewer.csrf))
                        span.who { (viewer.user.username.as_str()) }
                        button.link type="submit" { "Log out" }
                    }
                }
                main #main tabindex="-1" { (main) }
            }
        }
    }
}

/// A page for visitors who are not signed in.
pub fn public(title: &str, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.public {
                header.top {
                    a.brand href="/" { (logo()) "moodlog" }
                }
                main #main tabindex="-1" { (main) }
            }
        }
    }
}

/// A page that only says what went wrong.
pub fn bare(title: &str, text: &str) -> Markup {
    public(
        title,
        html! {
            section.card.narrow {
                h1 { (title) }
                p.error role="alert" { (text) }
                p { a href="/" { "Back to moodlog" } }
            }
        },
    )
}

fn logo() -> Markup {
    html! { img.logo src=(assets::url("icon.svg")) alt="" width="28" height="28"; }
}

pub fn csrf_field(csrf: &Csrf) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf.as_str()); }
}

/// The error of a failed form, announced to screen readers.
pub fn alert(message: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = message {
            p.error role="alert" tabindex="-1" { (message) }
        }
    }
}

/// A confirmation, announced politely.
pub fn notice(message: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = message {
            p.notice role="status" { (message) }
        }
    }
}

/// A field's own error, next to it and tied to it by `aria-describedby`.
pub fn field_error(id: &str, message: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = message {
            p.field-error id=(id) { (message) }
        }
    }
}

static ZONES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut zones: Vec<String> = jiff::tz::db()
        .available()
        .map(|name| name.as_str().to_string())
        // Only the region/city names people pick from; the database's
        // legacy aliases (EST5EDT, …) would only clutter the list.
        .filter(|name| name == "UTC" || (name.contains('/') && !name.starts_with("Etc/")))
        .collect();
    zones.sort();
    zones
});

/// A select of every time zone. With `detect`, the page's script picks the
/// browser's zone (without script, `selected` stays).
pub fn timezone_select(id: &str, selected: &str, detect: bool) -> Markup {
    html! {
        label for=(id) { "Time zone" }
        select id=(id) name="timezone" data-detect-timezone[detect] autocomplete="off" {
            @if !ZONES.iter().any(|z| z == selected) {
                option value=(selected) selected { (selected) }
            }
            @for zone in ZONES.iter() {
                option value=(zone) selected[zone == selected] { (zone) }
            }
        }
    }
}
