//! Signing up, in and out, and the settings page.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{PageError, message};
use super::extract::{Csrf, Viewer, WebForm};
use super::layout::{self, Section, alert, csrf_field, field_error, notice, timezone_select};
use crate::app::AppState;
use crate::auth::ClientAddr;
use crate::auth::account::{self, LoggedIn};
use crate::domain::{Invalid, NewPassword, Tz, Username};
use crate::http::error::AppError;

/// Sends the browser to `/` with a new session cookie.
fn signed_in(state: &AppState, logged_in: &LoggedIn) -> Response {
    (
        [(
            header::SET_COOKIE,
            account::session_cookie(&state.settings, &logged_in.token),
        )],
        Redirect::to("/"),
    )
        .into_response()
}

/// The page for a failed form: its status, and `Retry-After` when throttled.
fn failed(error: &AppError, page: Markup, cookie: Option<HeaderValue>) -> Response {
    let mut response = (error.status(), page).into_response();
    if let AppError::Throttled { retry_after_secs } = error {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
    }
    with_cookie(response, cookie)
}

fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    deleted: Option<String>,
}

fn sign_in_page(csrf: &Csrf, username: &str, error: Option<&str>, note: Option<&str>) -> Markup {
    layout::public(
        "Log in",
        html! {
            section.card.narrow {
                h1 { "Log in" }
                (notice(note))
                (alert(error))
                form.stack method="post" action="/sign-in" {
                    (csrf_field(csrf))
                    label for="username" { "Username" }
                    input #username name="username" type="text" value=(username) required
                        autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="256";
                    label for="password" { "Password" }
                    input #password name="password" type="password" required
                        autocomplete="current-password" maxlength="1024";
                    button.primary type="submit" { "Log in" }
                }
                p { "New here? " a href="/sign-up" { "Create an account" } }
            }
        },
    )
}

pub async fn sign_in_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<SignInQuery>,
) -> Result<Response, PageError> {
    let (csrf, cookie) = Csrf::for_visitor(&headers, &state.settings)?;
    let note = query
        .deleted
        .is_some()
        .then_some("Your account has been deleted.");
    Ok(with_cookie(
        sign_in_page(&csrf, "", None, note).into_response(),
        cookie,
    ))
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    WebForm(form): WebForm<SignInForm>,
) -> Result<Response, PageError> {
    let result = if form.username.is_empty() || form.password.is_empty() {
        Err(AppError::invalid(
            "username",
            "Enter your username and password.",
        ))
    } else {
        account::log_in(&state, client, &form.username, form.password).await
    };
    match result {
        Ok(logged_in) => Ok(signed_in(&state, &logged_in)),
        Err(e) => {
            let (csrf, cookie) = Csrf::for_visitor(&headers, &state.settings)?;
            let page = sign_in_page(&csrf, &form.username, Some(&message(&e)), None);
            Ok(failed(&e, page, cookie))
        }
    }
}

/// What a sign-up form said, kept to show it again after an error.
#[derive(Debug, Default, Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    timezone: Option<String>,
}

#[derive(Debug, Default)]
struct SignUpErrors {
    username: Option<String>,
    password: Option<String>,
    timezone: Option<String>,
}

fn sign_up_page(
    csrf: &Csrf,
    form: &SignUpForm,
    errors: &SignUpErrors,
    error: Option<&str>,
) -> Markup {
    let timezone = form.timezone.as_deref().unwrap_or("UTC");
    layout::public(
        "Sign up",
        html! {
            section.card.narrow {
                h1 { "Sign up" }
                p.lead { "Log how you feel each day and watch your streak grow." }
                (alert(error))
                form.stack method="post" action="/sign-up" {
                    (csrf_field(csrf))
                    label for="username" { "Username" }
                    input #username name="username" type="text" value=(form.username) required
                        minlength="3" maxlength="32" autocomplete="username" autocapitalize="none"
                        spellcheck="false" aria-describedby="username-hint username-error"
                        aria-invalid=[errors.username.is_some().then_some("true")];
                    p.hint #username-hint { "3–32 characters: letters a–z, digits, _ . -" }
                    (field_error("username-error", errors.username.as_deref()))
                    label for="password" { "Password" }
                    input #password name="password" type="password" required minlength="8"
                        maxlength="256" autocomplete="new-password"
                        aria-describedby="password-hint password-error"
                        aria-invalid=[errors.password.is_some().then_some("true")];
                    p.hint #password-hint { "At least 8 characters. A few uncommon words together make a strong password." }
                    (field_error("password-error", errors.password.as_deref()))
                    (timezone_select("timezone", timezone, form.timezone.is_none()))
                    (field_error("timezone-error", errors.timezone.as_deref()))
                    button.primary type="submit" { "Sign up" }
                }
                p { "Already have an account? " a href="/sign-in" { "Log in" } }
            }
        },
    )
}

pub async fn sign_up_form(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (csrf, cookie) = Csrf::for_visitor(&headers, &state.settings)?;
    let page = sign_up_page(
        &csrf,
        &SignUpForm::default(),
        &SignUpErrors::default(),
        None,
    );
    Ok(with_cookie(page.into_response(), cookie))
}

fn labelled(field: &str, e: Invalid) -> String {
    format!("{field} {e}.")
}

pub async fn sign_up(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    WebForm(form): WebForm<SignUpForm>,
) -> Result<Response, PageError> {
    let mut errors = SignUpErrors::default();
    let username = Username::parse(&form.username)
        .map_err(|e| errors.username = Some(labelled("Username", e)))
        .ok();
    let timezone = Tz::parse(form.timezone.as_deref().unwrap_or("UTC"))
        .map_err(|e| errors.timezone = Some(labelled("Time zone", e)))
        .ok();
    let password = match NewPassword::check_length(&form.password) {
        Err(e) => Err(e),
        Ok(()) => {
            let name = username
                .as_ref()
                .map_or(form.username.clone(), |u| u.as_str().to_string());
            state.hasher.check_new(form.password.clone(), name).await?
        }
    }
    .map_err(|e| errors.password = Some(labelled("Password", e)))
    .ok();

    let result = match (username, password, timezone) {
        (Some(username), Some(password), Some(timezone)) => {
            match account::sign_up(&state, client, &username, password, &timezone).await {
                Ok(user) => account::open_session(&state, user).await,
                Err(e @ AppError::Conflict(_)) => {
                    errors.username = Some(message(&e));
                    Err(e)
                }
                Err(e) => Err(e),
            }
        }
        _ => Err(AppError::Validation(Vec::new())),
    };
    match result {
        Ok(logged_in) => Ok(signed_in(&state, &logged_in)),
        Err(e) => {
            let text = match &e {
                AppError::Validation(_) => [&errors.username, &errors.password, &errors.timezone]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
                other => message(other),
            };
            let (csrf, cookie) = Csrf::for_visitor(&headers, &state.settings)?;
            let page = sign_up_page(&csrf, &form, &errors, Some(&text));
            Ok(failed(&e, page, cookie))
        }
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(_): WebForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    state.store.delete_session(viewer.session_id).await?;
    Ok((
        [(header::SET_COOKIE, account::cleared_cookie(&state.settings))],
        Redirect::to("/sign-in"),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct SettingsQuery {
    saved: Option<String>,
}

fn settings_page(
    viewer: &Viewer,
    timezone: &str,
    timezone_error: Option<&str>,
    delete_error: Option<&str>,
    saved: bool,
) -> Markup {
    layout::page(
        "Settings",
        viewer,
        Section::Settings,
        html! {
            h1 { "Settings" }
            section.card aria-labelledby="tz-heading" {
                h2 #tz-heading { "Time zone" }
                p { "Your days, and so your streak, follow this time zone. Entries keep the date they were logged on." }
                (notice(saved.then_some("Time zone saved.")))
                (alert(timezone_error))
                form.stack method="post" action="/settings/timezone" {
                    (csrf_field(&viewer.csrf))
                    (timezone_select("timezone", timezone, false))
                    button.primary type="submit" { "Save time zone" }
                }
            }
            section.card aria-labelledby="data-heading" {
                h2 #data-heading { "Your data" }
                p { "Download every entry you have logged, with its streak." }
                p.actions {
                    a.button href="/mood/export?format=csv" download { "Download CSV" }
                    a.button href="/mood/export?format=json" download { "Download JSON" }
                }
            }
            section.card.danger aria-labelledby="delete-heading" {
                h2 #delete-heading { "Delete account" }
                p { "This deletes your account and every entry at once. It cannot be undone; download your data first if you want to keep it." }
                (alert(delete_error))
                form.stack method="post" action="/settings/delete-account" {
                    (csrf_field(&viewer.csrf))
                    label for="delete-password" { "Password" }
                    input #delete-password name="password" type="password" required
                        autocomplete="current-password" maxlength="1024";
                    button.danger type="submit" { "Delete account" }
                }
            }
        },
    )
}

pub async fn settings(
    viewer: Viewer,
    Query(query): Query<SettingsQuery>,
) -> Result<Response, PageError> {
    let timezone = viewer.user.timezone.name().to_string();
    Ok(settings_page(&viewer, &timezone, None, None, query.saved.is_some()).into_response())
}

#[derive(Debug, Deserialize)]
pub struct TimezoneForm {
    #[serde(default)]
    timezone: String,
}

pub async fn save_timezone(
    State(state): State<AppState>,
    viewer: Viewer,
    WebForm(form): WebForm<TimezoneForm>,
) -> Result<Response, PageError> {
    match Tz::parse(&form.timezone) {
        Ok(tz) => {
            state
                .store
                .set_timezone(viewer.user.id, &tz)
                .await?
                .ok_or(PageError::SignIn)?;
            Ok(Redirect::to("/settings?saved=1").into_response())
        }
        Err(e) => {
            let text = labelled("Time zone", e);
            let page = settings_page(&viewer, &form.timezone, Some(&text), None, false);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DeleteAccountForm {
    #[serde(default)]
    password: String,
}

pub async fn delete_account(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    viewer: Viewer,
    WebForm(form): WebForm<DeleteAccountForm>,
) -> Result<Response, PageError> {
    let confirmed = account::confirm_password(&state, &viewer.user, client, form.password).await;
    if let Err(e) = confirmed {
        let timezone = viewer.user.timezone.name().to_string();
        let page = settings_page(&viewer, &timezone, None, Some(&message(&e)), false);
        return Ok(failed(&e, page, None));
    }
    state.store.delete_user(viewer.user.id).await?;
    tracing::info!(user = viewer.user.id.0, "account deleted");
    Ok((
        [(header::SET_COOKIE, account::cleared_cookie(&state.settings))],
        Redirect::to("/sign-in?deleted=1"),
    )
        .into_response())
}
