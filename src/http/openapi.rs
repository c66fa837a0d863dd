//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use super::error::Problem;
use super::{error, mood, ops, users};

// Responses that many endpoints share, documented once. They describe what
// `AppError` renders; no handler constructs them.

/// The body of a request was refused before its fields were read.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub enum BodyErrors {
    #[response(
        status = 400,
        description = "The body is not valid JSON",
        content_type = "application/problem+json"
    )]
    Malformed(Problem),
    #[response(
        status = 413,
        description = "The body is larger than 64 KiB",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    #[response(
        status = 415,
        description = "The body is not `application/json`",
        content_type = "application/problem+json"
    )]
    NotJson(Problem),
}

/// No, bad, expired or revoked credentials.
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(status = 401, description = "Not logged in: no, bad, expired or revoked credentials",
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer`")))]
pub struct Unauthenticated(Problem);

/// A write authenticated by the session cookie alone, from another origin.
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "A cookie-authenticated write from another origin",
    content_type = "application/problem+json"
)]
pub struct CrossSite(Problem);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "moodlog",
        description = "Record how you feel and keep a streak. Errors are RFC 9457 problem details \
            (`application/problem+json`). Authenticate with `Authorization: Bearer TOKEN` from \
            `POST /login`, or with the session cookie it sets; cookie-authenticated writes from \
            another origin are refused (403). Every response to an authenticated request carries \
            `Cache-Control: no-store`.",
    ),
    paths(
        users::sign_up, users::login, users::logout, users::me, users::update_me,
        users::change_password, users::delete_me,
        mood::create, mood::list, mood::export, mood::get, mood::delete,
        ops::healthz, ops::readyz, ops::metrics,
    ),
    components(schemas(error::Problem, error::FieldError)),
    modifiers(&Security),
    tags(
        (name = "accounts", description = "Sign-up, sessions and the profile"),
        (name = "mood", description = "Mood entries and streaks"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}
