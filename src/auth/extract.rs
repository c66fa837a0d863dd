use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use super::Token;
use crate::app::AppState;
use crate::domain::User;
use crate::http::error::AppError;
use crate::store::StoreError;

pub const SESSION_COOKIE: &str = "moodlog_session";

/// The caller, authenticated by `Authorization: Bearer` or the session cookie.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub session_id: i64,
    /// The user's data revision when the session was read (`Session::revision`).
    pub revision: i64,
}

/// How often a session's last-use time is written: idle expiry is only as
/// precise as this, and most requests then cost no write at all.
const TOUCH_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_mins(1);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let (presented, by_cookie) = match parts.headers.get(header::AUTHORIZATION) {
            Some(value) => (bearer(value.to_str().unwrap_or("")), false),
            None => (session_cookie(&parts.headers), true),
        };
        let Some(presented) = presented else {
            return Err(AppError::Unauthorized(
                "Log in and send the token as `Authorization: Bearer TOKEN`.",
            ));
        };
        if by_cookie && changes_state(&parts.method) && is_cross_site(&parts.headers, state) {
            return Err(AppError::Forbidden(
                "Cross-site requests authenticated by the session cookie are refused.",
            ));
        }
        let Some(token) = Token::parse(presented) else {
            return Err(AppError::Unauthorized("The token is not valid."));
        };
        let Some(session) = state.store.session(token.hash()).await? else {
            return Err(AppError::Unauthorized(
                "The token is not valid, or was revoked.",
            ));
        };
        let now = state.clock.now();
        let settings = &state.settings;
        if now >= session.expires_at || now >= session.last_used_at + settings.session_idle_timeout
        {
            state.store.delete_session(session.id).await?;
            return Err(AppError::Unauthorized(
                "The session has expired; log in again.",
            ));
        }
        if now >= session.last_used_at + TOUCH_EVERY {
            match state.store.touch_session(session.id, now).await {
                Ok(()) => {}
                // A database that cannot store anything must not stop
                // reads: the last-use time is written by a later request.
                Err(StoreError::Unwritable(why)) => {
                    tracing::warn!(error = %why, "session last-use time not written");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Self {
            user: session.user,
            session_id: session.id,
            revision: session.revision,
        })
    }
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// A cookie's value, if the request carries it.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A browser marks where a request comes from with `Sec-Fetch-Site` and
/// `Origin`; requests without either (non-browser clients) pass.
pub fn is_cross_site(headers: &HeaderMap, state: &AppState) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    match headers.get(header::ORIGIN) {
        None => false,
        Some(origin) => {
            Some(origin.as_bytes()) != state.origin_of(headers).as_deref().map(str::as_bytes)
        }
    }
}
