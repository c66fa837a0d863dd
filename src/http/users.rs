//! Accounts and sessions: sign-up, login, logout and the caller's profile.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{AppError, AppResult, Problem};
use super::json::{Fields, JsonBody, owned_string, string};
use super::openapi::{BodyErrors, CrossSite, Unauthenticated, Unavailable};
use crate::app::AppState;
use crate::auth::account::{self, LoggedIn};
use crate::auth::{Authenticated, ClientAddr};
use crate::domain::{NewPassword, Tz, User, Username};

/// An account's profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Opaque identifier.
    pub id: String,
    pub username: String,
    /// IANA time zone name; "today" and streaks follow it.
    pub timezone: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.0.to_string(),
            username: user.username.as_str().to_string(),
            timezone: user.timezone.name().to_string(),
            created_at: user.created_at.to_string(),
        }
    }
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginView {
    /// Send as `Authorization: Bearer TOKEN`.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// When the session ends at the latest (it also ends after 7 days unused).
    #[schema(format = DateTime)]
    pub expires_at: String,
}

#[allow(dead_code)] // Documents the request bodies in the OpenAPI.
mod bodies {
    use utoipa::ToSchema;

    use crate::http::openapi::TimeZoneName;

    #[derive(ToSchema)]
    pub struct SignUp {
        /// 3–32 of `a-z 0-9 _ . -`; ASCII letters are folded to lower case.
        #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]{3,32}$")]
        pub username: String,
        /// 8–256 characters; common and guessable passwords are refused.
        #[schema(min_length = 8, max_length = 256)]
        pub password: String,
        /// Default `UTC`.
        pub timezone: Option<TimeZoneName>,
    }

    #[derive(ToSchema)]
    pub struct Login {
        pub username: String,
        pub password: String,
    }

    #[derive(ToSchema)]
    pub struct UpdateProfile {
        /// Omit or `null` to keep the current one.
        pub timezone: Option<TimeZoneName>,
    }

    #[derive(ToSchema)]
    pub struct ChangePassword {
        pub current_password: String,
        /// 8–256 characters; common and guessable passwords are refused.
        #[schema(min_length = 8, max_length = 256)]
        pub new_password: String,
    }

    #[derive(ToSchema)]
    pub struct DeleteAccount {
        pub password: String,
    }
}
pub use bodies::*;

/// Reads a new password from field `name`: its length here, its strength
/// (slow) on the blocking pool.
async fn new_password(
    state: &AppState,
    f: &mut Fields<'_>,
    name: &str,
    username: String,
) -> AppResult<Option<NewPassword>> {
    let Some(password) = f.required(name, |v| {
        let p = owned_string(v)?;
        NewPassword::check_length(&p).map(|()| p)
    }) else {
        return Ok(None);
    };
    Ok(f.record(name, state.hasher.check_new(password, username).await?))
}

/// Sign up.
#[utoipa::path(post, path = "/users", tag = "accounts", request_body = SignUp,
    responses(
        (status = 201, description = "Account created", body = UserView),
        BodyErrors,
        (status = 409, description = "Username taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or a weak password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ups from this address", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        Unavailable,
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    JsonBody(body): JsonBody,
) -> AppResult<Response> {
    let mut f = Fields::of(&body)?;
    let username = f.required("username", |v| string(v).and_then(Username::parse));
    let timezone = f.optional("timezone", |v| string(v).and_then(Tz::parse));
    // Checked against the name as typed when it is invalid, so that every
    // invalid field is reported at once.
    let name = username.as_ref().map_or_else(
        || body["username"].as_str().unwrap_or_default().to_string(),
        |n| n.as_str().to_string(),
    );
    let password = new_password(&state, &mut f, "password", name).await?;
    let (Some(username), Some(password), Some(timezone), true) =
        (username, password, timezone, f.is_clean())
    else {
        return Err(f.into_error());
    };

    let user = account::sign_up(
        &state,
        client,
        &username,
        password,
        &timezone.unwrap_or_else(Tz::utc),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, "/me")],
        Json(UserView::from(&user)),
    )
        .into_response())
}

/// Log in.
///
/// Answers a token and sets an HttpOnly session cookie for the same session.
/// After 5 consecutive failures for one username from one address within 15
/// minutes, that pair is refused (429) until 15 minutes after the last failure.
#[utoipa::path(post, path = "/login", tag = "accounts", request_body = Login,
    responses(
        (status = 200, description = "Logged in", body = LoginView,
            headers(("Set-Cookie" = String, description = "The session cookie"))),
        BodyErrors,
        (status = 401, description = "Wrong username or password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        Unavailable,
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    JsonBody(body): JsonBody,
) -> AppResult<Response> {
    let mut f = Fields::of(&body)?;
    let username = f.required("username", owned_string);
    let password = f.required("password", owned_string);
    let (Some(username), Some(password), true) = (username, password, f.is_clean()) else {
        return Err(f.into_error());
    };
    let LoggedIn {
        token, expires_at, ..
    } = account::log_in(&state, client, &username, password).await?;
    let cookie = account::session_cookie(&state.settings, &token);
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(LoginView {
            token: token.expose().to_string(),
            token_type: "Bearer",
            expires_at: expires_at.to_string(),
        }),
    )
        .into_response())
}

/// Log out: the token and cookie stop working at once.
#[utoipa::path(post, path = "/logout", tag = "accounts",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Logged out"),
        Unauthenticated,
        CrossSite,
        Unavailable,
    ))]
pub async fn logout(State(state): State<AppState>, auth: Authenticated) -> AppResult<Response> {
    state.store.delete_session(auth.session_id).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, account::cleared_cookie(&state.settings))],
    )
        .into_response())
}

/// The caller's profile.
#[utoipa::path(get, path = "/me", tag = "accounts",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The profile", body = UserView),
        Unauthenticated,
        Unavailable,
    ))]
pub async fn me(auth: Authenticated) -> Json<UserView> {
    Json(UserView::from(&auth.user))
}

/// Change the profile's time zone.
///
/// Entries keep the local date they were given when written; "today" and
/// `current_streak` follow the new zone from now on.
#[utoipa::path(patch, path = "/me", tag = "accounts", request_body = UpdateProfile,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The updated profile", body = UserView),
        BodyErrors,
        Unauthenticated,
        CrossSite,
        (status = 422, description = "Unknown time zone", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    ))]
pub async fn update_me(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonBody(body): JsonBody,
) -> AppResult<Json<UserView>> {
    let mut f = Fields::of(&body)?;
    let timezone = f.optional("timezone", |v| string(v).and_then(Tz::parse));
    let (Some(timezone), true) = (timezone, f.is_clean()) else {
        return Err(f.into_error());
    };
    let user = match timezone {
        None => auth.user,
        Some(tz) => state
            .store
            .set_timezone(auth.user.id, &tz)
            .await?
            .ok_or(AppError::Unauthorized("The account no longer exists."))?,
    };
    Ok(Json(UserView::from(&user)))
}

/// Change the password; every other session of the account ends.
#[utoipa::path(post, path = "/me/password", tag = "accounts", request_body = ChangePassword,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Password changed; other sessions ended"),
        BodyErrors,
        Unauthenticated,
        (status = 403, description = "Wrong current password, or a cross-site cookie request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing fields or a weak new password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        Unavailable,
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    auth: Authenticated,
    JsonBody(body): JsonBody,
) -> AppResult<StatusCode> {
    let mut f = Fields::of(&body)?;
    let current = f.required("current_password", owned_string);
    let name = auth.user.username.as_str().to_string();
    let new = new_password(&state, &mut f, "new_password", name).await?;
    let (Some(current), Some(new), true) = (current, new, f.is_clean()) else {
        return Err(f.into_error());
    };
    account::confirm_password(&state, &auth.user, client, current).await?;
    let hash = state.hasher.hash(new.into_password()).await?;
    state
        .store
        .set_password(auth.user.id, &hash, auth.session_id)
        .await?;
    tracing::info!(user = auth.user.id.0, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

/// Delete the account with all its entries and sessions.
#[utoipa::path(delete, path = "/me", tag = "accounts", request_body = DeleteAccount,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Account deleted; the username is free again"),
        BodyErrors,
        Unauthenticated,
        (status = 403, description = "Wrong password (nothing deleted), or a cross-site cookie request", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        Unavailable,
    ))]
pub async fn delete_me(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    auth: Authenticated,
    JsonBody(body): JsonBody,
) -> AppResult<Response> {
    let mut f = Fields::of(&body)?;
    let password = f.required("password", owned_string);
    let (Some(password), true) = (password, f.is_clean()) else {
        return Err(f.into_error());
    };
    account::confirm_password(&state, &auth.user, client, password).await?;
    state.store.delete_user(auth.user.id).await?;
    tracing::info!(user = auth.user.id.0, "account deleted");
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, account::cleared_cookie(&state.settings))],
    )
        .into_response())
}
