//! Who is looking at a page, and form bodies that are checked against
//! cross-site request forgery before a handler sees them.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::error::PageError;
use crate::app::{AppState, Settings};
use crate::auth::{Authenticated, cookie, is_cross_site, session_cookie};
use crate::domain::User;
use crate::http::error::AppError;
use crate::http::json::limited_body;

/// The signed-in person; pages that need one send everybody else to the
/// sign-in page.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    pub session_id: i64,
    /// The token for this session's forms.
    pub csrf: Csrf,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let auth = Authenticated::from_request_parts(parts, state)
            .await
            .map_err(|e| match e {
                AppError::Unauthorized(_) => PageError::SignIn,
                // The only refusal of a valid session: a cross-site write.
                AppError::Forbidden(_) => PageError::Forged,
                other => PageError::App(other),
            })?;
        let csrf = session_cookie(&parts.headers)
            .map(Csrf::derive)
            // Signed in by an Authorization header: no cookie, so no form
            // of this browser could be forged into using it.
            .unwrap_or_else(|| Csrf::derive(""));
        Ok(Self {
            user: auth.user,
            session_id: auth.session_id,
            csrf,
        })
    }
}

/// Keys the CSRF token of visitors who are not signed in (the sign-in and
/// sign-up forms), so that another site cannot sign a browser in to an
/// account of its choosing.
const VISITOR_COOKIE: &str = "moodlog_visitor";

/// A form's anti-forgery token: a hash of a secret only this browser holds
/// (its session token, or before signing in its visitor cookie). Another
/// site can make the browser send the cookie, but cannot read it, so it
/// cannot know the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Csrf(String);

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csrf(..)")
    }
}

impl Csrf {
    fn derive(secret: &str) -> Self {
        let digest = Sha256::new()
            .chain_update(b"moodlog form token\n")
            .chain_update(secret.as_bytes())
            .finalize();
        Self(URL_SAFE_NO_PAD.encode(digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token of the request's browser, keyed by the session cookie when
    /// there is one; otherwise by the visitor cookie, with a `Set-Cookie`
    /// for a new one when the browser has none yet.
    pub fn for_visitor(
        headers: &HeaderMap,
        settings: &Settings,
    ) -> anyhow::Result<(Self, Option<HeaderValue>)> {
        if let Some(secret) = secret_of(headers) {
            return Ok((Self::derive(secret), None));
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        let secret = URL_SAFE_NO_PAD.encode(bytes);
        let secure = if settings.secure_cookies() {
            "; Secure"
        } else {
            ""
        };
        let cookie = HeaderValue::from_str(&format!(
            "{VISITOR_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict{secure}"
        ))
        .expect("base64url is visible ASCII");
        Ok((Self::derive(&secret), Some(cookie)))
    }

    /// Compares in constant time, so timing reveals nothing of the token.
    fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn secret_of(headers: &HeaderMap) -> Option<&str> {
    session_cookie(headers)
        .or_else(|| cookie(headers, VISITOR_COOKIE))
        .filter(|s| !s.is_empty())
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// An `application/x-www-form-urlencoded` body of at most 64 KiB, sent from
/// one of our own pages: same origin, carrying the browser's form token.
pub struct WebForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for WebForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|e| e.trim() == "application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(PageError::BadForm);
        }
        if is_cross_site(req.headers(), state) {
            return Err(PageError::Forged);
        }
        let expected = secret_of(req.headers()).map(Csrf::derive);
        let bytes = limited_body(req).await.map_err(PageError::App)?;
        let presented = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
            .ok()
            .and_then(|f| f.csrf);
        match (expected, presented) {
            (Some(expected), Some(presented)) if expected.matches(&presented) => {}
            _ => return Err(PageError::Forged),
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(WebForm)
            .map_err(|_| PageError::BadForm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_per_secret_and_compare_exactly() {
        let a = Csrf::derive("secret-a");
        assert_eq!(a, Csrf::derive("secret-a"));
        assert_ne!(a, Csrf::derive("secret-b"));
        assert!(a.matches(a.as_str()));
        assert!(!a.matches(&a.as_str()[1..]));
        assert!(!a.matches(""));
        assert!(!format!("{a:?}").contains(a.as_str()));
    }
}
