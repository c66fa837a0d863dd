//! Cross-cutting middleware: request ids, the body and request timeouts
//! and the security headers.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as _, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

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
/// work) takes longer than the request timeout; 408 if it was still
/// waiting for the client's body then (a request timeout shorter than the
/// body timeout must not blame the server).
pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let body = req.extensions().get::<BodyProgress>().cloned();
    match tokio::time::timeout(state.settings.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) if body.is_some_and(|b| b.waiting_for_client()) => {
            AppError::BodyTimeout.into_response()
        }
        Err(_) => AppError::Unavailable("request timed out".into()).into_response(),
    }
}

/// HSTS for a year: browsers then never try plain HTTP for this host.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Gives a request's body `--body-timeout`, from the end of its headers, to
/// arrive in full; past it, reading the body fails with [`BodyTimedOut`]
/// (answered 408, see `http::json::limited_body`). hyper's header timeout
/// stops at the headers, and without this a client sending its body a byte
/// at a time would hold the request until the request timeout, blamed on
/// the server.
pub async fn body_timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Most bodies are empty, or already here in full: no timer for them.
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let progress = BodyProgress::default();
    let deadline = Instant::now() + state.settings.body_timeout;
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(progress.clone());
    let body = Body::new(TimedBody {
        inner: body,
        deadline,
        sleep: None,
        progress,
    });
    next.run(Request::from_parts(parts, body)).await
}

/// The body did not arrive within the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// Whether a request's handler is waiting for more of its body.
#[derive(Debug, Clone, Default)]
struct BodyProgress(Arc<AtomicBool>);

impl BodyProgress {
    fn waiting_for_client(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

struct TimedBody {
    inner: Body,
    deadline: Instant,
    /// Made the first time the body has to wait.
    sleep: Option<Pin<Box<Sleep>>>,
    progress: BodyProgress,
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.progress.0.store(false, Ordering::Relaxed);
                // A body whose bytes are ready whenever it is polled never
                // reaches the timer below: the clock is checked here too.
                if frame.is_some() && Instant::now() >= this.deadline {
                    return Poll::Ready(Some(Err(BodyTimedOut.into())));
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                this.progress.0.store(true, Ordering::Relaxed);
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimedOut.into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

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
