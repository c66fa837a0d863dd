//! The account flows that the JSON API and the web app share, so both
//! throttle, hash and open sessions in exactly the same way.

use std::net::IpAddr;

use axum::http::HeaderValue;
use jiff::Timestamp;

use super::{SESSION_COOKIE, Throttled, Token};
use crate::app::{AppState, Settings};
use crate::domain::{NewPassword, Password, Tz, User, Username};
use crate::http::error::{AppError, AppResult};
use crate::store::NewSession;

/// A session just opened.
#[derive(Debug)]
pub struct LoggedIn {
    pub user: User,
    pub token: Token,
    pub expires_at: Timestamp,
}

pub fn throttled(t: Throttled) -> AppError {
    AppError::Throttled {
        retry_after_secs: t.retry_after_secs,
    }
}

/// Creates an account, within the sign-up limit of the client's address.
pub async fn sign_up(
    state: &AppState,
    client: IpAddr,
    username: &Username,
    password: NewPassword,
    timezone: &Tz,
) -> AppResult<User> {
    let now = state.clock.now();
    state
        .throttle
        .signup_attempt(client, now)
        .await?
        .map_err(throttled)?;
    let hash = state.hasher.hash(password.into_password()).await?;
    let user = state
        .store
        .create_user(username, &hash, timezone, now)
        .await?;
    tracing::info!(user = user.id.0, "account created");
    Ok(user)
}

/// Checks a username and password and opens a session. Unknown users and
/// wrong passwords fail alike, in about the same time.
pub async fn log_in(
    state: &AppState,
    client: IpAddr,
    username: &str,
    password: String,
) -> AppResult<LoggedIn> {
    let now = state.clock.now();
    state
        .throttle
        .check_login(username, client, now)
        .await?
        .map_err(throttled)?;

    // A malformed name cannot exist, but costs the same as an unknown one.
    let found = match Username::parse(username) {
        Ok(name) => state.store.credentials(&name).await?,
        Err(_) => None,
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let verified = state.hasher.verify(Password::new(password), hash).await?;
    let Some(user) = user.filter(|_| verified) else {
        // Never the typed name: it may be a password typed in the wrong box.
        tracing::info!(%client, "login failed");
        state.throttle.login_failed(username, client, now).await?;
        return Err(AppError::Unauthorized("Wrong username or password."));
    };
    state.throttle.login_succeeded(username, client).await?;
    open_session(state, user).await
}

/// Opens a new session for `user`, whose credentials were just checked.
pub async fn open_session(state: &AppState, user: User) -> AppResult<LoggedIn> {
    let now = state.clock.now();
    let token = Token::generate()?;
    let expires_at = now + state.settings.session_lifetime;
    state
        .store
        .create_session(
            user.id,
            NewSession {
                token_hash: token.hash(),
                created_at: now,
                expires_at,
            },
        )
        .await?;
    tracing::info!(user = user.id.0, "logged in");
    Ok(LoggedIn {
        user,
        token,
        expires_at,
    })
}

/// Checks the caller's password for a sensitive change. Wrong guesses count
/// as failed logins, so a stolen session cannot brute-force the password.
pub async fn confirm_password(
    state: &AppState,
    user: &User,
    client: IpAddr,
    password: String,
) -> AppResult<()> {
    let username = user.username.as_str();
    let now = state.clock.now();
    state
        .throttle
        .check_login(username, client, now)
        .await?
        .map_err(throttled)?;
    let hash = state.store.password_hash(user.id).await?;
    if !state.hasher.verify(Password::new(password), hash).await? {
        state.throttle.login_failed(username, client, now).await?;
        return Err(AppError::Forbidden("The password is wrong."));
    }
    Ok(())
}

/// The session cookie: HttpOnly so scripts never see it, SameSite=Lax so
/// other sites cannot send it with their forms, `Secure` behind TLS.
pub fn session_cookie(settings: &Settings, token: &Token) -> HeaderValue {
    cookie(
        settings,
        token.expose(),
        settings.session_lifetime.as_secs(),
    )
}

/// Tells the browser to forget the session cookie.
pub fn cleared_cookie(settings: &Settings) -> HeaderValue {
    cookie(settings, "", 0)
}

fn cookie(settings: &Settings, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if settings.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .expect("cookie is visible ASCII")
}
