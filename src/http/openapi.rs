//! The OpenAPI document, generated from the handlers' annotations.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};

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
        status = 408,
        description = "The body did not arrive within the body timeout (`--body-timeout`); the connection is closed",
        content_type = "application/problem+json"
    )]
    TimedOut(Problem),
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

/// A time zone in a request body: any name of the bundled tz database,
/// listed, so that a client (or a test generator) knows the accepted set.
/// Answers carry a plain string, so that a newer database never breaks an
/// older client.
pub struct TimeZoneName;

impl PartialSchema for TimeZoneName {
    fn schema() -> RefOr<Schema> {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.as_str().to_string())
            .collect();
        names.sort();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An IANA time zone name, e.g. `Europe/Paris`; matched without regard to case, \
                 answered in the database's spelling.",
            ))
            .enum_values(Some(names))
            .into()
    }
}

impl ToSchema for TimeZoneName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TimeZoneName")
    }
}

/// One tag of a new entry: 1–32 characters, no NUL.
pub struct Tag;

impl PartialSchema for Tag {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(32))
            .pattern(Some(NO_NUL))
            .into()
    }
}

impl ToSchema for Tag {}

/// Text is stored as given, except U+0000, which is refused (422).
pub const NO_NUL: &str = "^[^\\u0000]*$";

/// The database did not answer within the request timeout (or at all).
#[allow(dead_code)]
#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "The database is unavailable; try again shortly",
    content_type = "application/problem+json"
)]
pub struct Unavailable(Problem);

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
    components(schemas(error::Problem, error::FieldError, TimeZoneName, mood::ExportFormat)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Tz;

    #[test]
    fn every_listed_time_zone_is_accepted() {
        let RefOr::T(Schema::Object(schema)) = TimeZoneName::schema() else {
            panic!("an inline schema");
        };
        let names = schema.enum_values.expect("a list of names");
        assert!(names.len() > 300, "{}", names.len());
        for name in names {
            let name = name.as_str().expect("a string");
            assert_eq!(
                Tz::parse(name).map(|tz| tz.name().to_string()),
                Ok(name.to_string())
            );
        }
    }
}
