//! One error type for every handler, rendered as RFC 9457 problem details.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The JSON field (or header, or query parameter) at fault.
    pub field: String,
    /// What is wrong with it, in words for people.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem details body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The HTTP status's reason phrase.
    pub title: &'static str,
    pub status: u16,
    /// What went wrong in this request.
    pub detail: String,
    /// Only on 422: each invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("malformed JSON: {0}")]
    BadJson(String),
    #[error("authentication required: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("request body too slow")]
    BodyTimeout,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("throttled for {retry_after_secs}s")]
    Throttled { retry_after_secs: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("database cannot store: {0}")]
    Unwritable(String),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadJson(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Unwritable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadJson(why) => format!("The request body is not valid JSON: {why}."),
            Self::Unauthorized(why)
            | Self::Forbidden(why)
            | Self::NotFound(why)
            | Self::Conflict(why) => (*why).to_string(),
            Self::MethodNotAllowed => "This path does not take that method.".into(),
            Self::PayloadTooLarge => "The request body is larger than 64 KiB.".into(),
            Self::BodyTimeout => {
                "The request body took too long to arrive; nothing was done. Send it again.".into()
            }
            Self::UnsupportedMediaType => {
                "This endpoint takes a JSON body: send Content-Type: application/json.".into()
            }
            Self::Validation(errors) => match errors.as_slice() {
                [one] => format!("`{}` {}.", one.field, one.message),
                _ => format!("{} fields are invalid; see `errors`.", errors.len()),
            },
            Self::Throttled { retry_after_secs } => {
                format!("Too many attempts; try again in {retry_after_secs} seconds.")
            }
            // Never the cause: it may name files, SQL or hosts.
            Self::Unavailable(_) => "The database is unavailable; try again shortly.".into(),
            Self::Unwritable(_) => {
                "The database cannot store anything right now (its disk is full or read-only), so nothing was saved. Reading still works; try again later.".into()
            }
            Self::Internal(_) => "Something went wrong on our side; it has been logged.".into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UsernameTaken => Self::Conflict("That username is taken."),
            StoreError::IdempotencyMismatch => Self::invalid(
                "Idempotency-Key",
                "was already used with a different request body",
            ),
            StoreError::Unavailable(why) => Self::Unavailable(why),
            StoreError::Unwritable(why) => Self::Unwritable(why),
            StoreError::Internal(why) => Self::Internal(anyhow::anyhow!(why)),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(e) => tracing::error!(error = %format!("{e:#}"), "request failed"),
            Self::Unavailable(why) => tracing::warn!(error = %why, "database unavailable"),
            Self::Unwritable(why) => tracing::warn!(error = %why, "database cannot store writes"),
            _ => {}
        }
        let body = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail(),
            errors: match self {
                Self::Validation(ref errors) => Some(errors.clone()),
                _ => None,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Throttled { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            // The rest of the body may still be on its way: it cannot be
            // told apart from a next request, so the connection ends here.
            Self::BodyTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}
