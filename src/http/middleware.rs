//! Cross-cutting middleware: request ids, the request timeout and the
//! security headers.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::AppError;
use crate::app::AppState;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A random per-process prefix and a counter: unique, and cheap to make.
static PREFIX: LazyLock<String> = LazyLock::new(|| {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
});
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Keeps a caller's `X-Request-Id` if it is short and plain (so it is safe
/// to log), otherwise makes one; echoes it on the response.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let keep = req.headers().get(&REQUEST_ID).is_some_and(|v| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= 64
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    });
    if !keep {
        let id = format!("{}-{}", *PREFIX, COUNTER.fetch_add(1, Ordering::Relaxed));
        req.headers_mut().insert(
            REQUEST_ID.clone(),
            HeaderValue::from_str(&id).expect("hex and digits"),
        );
    }
    let id = req.headers()[&REQUEST_ID].clone();
    let mut response = next.run(req).await;
    response.headers_mut().insert(REQUEST_ID.clone(), id);
    response
}

/// Answers 503 instead of hanging when a request (usually its database
/// work) takes longer than the request timeout.
pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.settings.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => AppError::Unavailable("request timed out".into()).into_response(),
    }
}

/// HSTS for a year: browsers then never try plain HTTP for this host.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// `nosniff` everywhere; on everything but the static docs assets also
/// `no-store` (unless the response set its own caching: responses carry
/// personal data or credentials) and a Content-Security-Policy that lets
/// nothing load or frame the response. When browsers reach moodlog over
/// TLS (an https `--public-url`; the proxy in front terminates TLS),
/// `Strict-Transport-Security` too.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_docs = req.uri().path().starts_with("/docs");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if state.settings.secure_cookies() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    if is_docs {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                 object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ),
        );
    } else {
        // The web app's pages and assets set their own.
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(
                "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ));
    }
    response
}
