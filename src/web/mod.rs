//! The web app people use in a browser: server-rendered pages that work
//! without script, a small script that makes them smoother, and charts
//! drawn as SVG on the server.

mod account;
mod assets;
mod charts;
mod error;
mod extract;
mod history;
mod layout;
mod today;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};

use crate::app::AppState;

/// The page for a path nobody serves.
pub fn not_found() -> impl axum::response::IntoResponse {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        )],
        error::PageError::NotFound,
    )
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(today::page))
        .route("/entries", post(today::log))
        .route("/history", get(history::page))
        .route(
            "/history/{id}/delete",
            get(history::confirm_delete).post(history::delete),
        )
        .route("/settings", get(account::settings))
        .route("/settings/timezone", post(account::save_timezone))
        .route("/settings/delete-account", post(account::delete_account))
        .route(
            "/sign-in",
            get(account::sign_in_form).post(account::sign_in),
        )
        .route(
            "/sign-up",
            get(account::sign_up_form).post(account::sign_up),
        )
        .route("/sign-out", post(account::sign_out))
        .route("/assets/{name}", get(assets::serve))
        .layer(axum::middleware::from_fn(page_policy))
}

/// Pages may load our own scripts, styles and images, send forms and
/// requests to us only, and be framed by nobody. No inline script or style
/// is allowed, so injected markup could not run even if it got through.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

async fn page_policy(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    // Not `no-referrer`: under it a browser sends `Origin: null` with the
    // pages' own form posts, which the cross-site check must refuse.
    // `same-origin` still tells other sites nothing.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
