//! The HTTP interface: routes, handlers, errors and the OpenAPI document.

pub mod error;
pub mod json;
pub mod metrics;
mod middleware;
pub(crate) mod mood;
pub mod mood_cache;
pub mod openapi;
mod ops;
pub mod server;
mod users;

use axum::Router;
use axum::http::Request;
use axum::routing::{get, post};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

pub use mood::parse_new_mood;
pub use openapi::ApiDoc;

use self::error::AppError;
use crate::app::AppState;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/users", post(users::sign_up))
        .route("/login", post(users::login))
        .route("/logout", post(users::logout))
        .route(
            "/me",
            get(users::me)
                .patch(users::update_me)
                .delete(users::delete_me),
        )
        .route("/me/password", post(users::change_password))
        .route("/mood", post(mood::create).get(mood::list))
        .route("/mood/export", get(mood::export))
        .route("/mood/{id}", get(mood::get).delete(mood::delete))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);

    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            let id = req
                .headers()
                .get(&middleware::REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            // The path only: queries may carry cursors, never worth logging.
            tracing::info_span!("request", id, method = %req.method(), path = req.uri().path())
        })
        .on_request(())
        .on_response(DefaultOnResponse::new().level(Level::INFO));

    Router::new()
        .merge(api)
        .merge(crate::web::router())
        .merge(
            SwaggerUi::new("/docs")
                .url("/openapi.json", ApiDoc::openapi())
                // Swagger UI otherwise shows a badge image fetched from
                // validator.swagger.io: every asset must come from us.
                .config(utoipa_swagger_ui::Config::default().validator_url("none")),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::body_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .layer(trace)
        .layer(axum::middleware::from_fn(middleware::request_id))
        .with_state(state)
}

/// Browsers get a page, everybody else problem details.
async fn not_found(headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        crate::web::not_found().into_response()
    } else {
        AppError::NotFound("There is nothing at this path.").into_response()
    }
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
