//! Request bodies: content type, size limit, JSON syntax, then field-by-field
//! parsing into domain types with every invalid field reported at once.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value};

use super::error::{AppError, AppResult, FieldError};
use super::middleware::BodyTimedOut;
use crate::domain::Invalid;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A request body that is JSON (by content type and by syntax) and at most
/// `BODY_LIMIT` bytes. Nesting is bounded by serde_json's recursion limit.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> AppResult<Self> {
        if !is_json(req.headers()) {
            return Err(AppError::UnsupportedMediaType);
        }
        let bytes = limited_body(req).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| AppError::BadJson(e.to_string()))
    }
}

/// The body, if it is at most `BODY_LIMIT` bytes.
pub async fn limited_body(req: Request) -> AppResult<axum::body::Bytes> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
        return Err(AppError::PayloadTooLarge);
    }
    match Limited::new(req.into_body(), BODY_LIMIT).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(AppError::PayloadTooLarge),
        Err(e) if caused_by::<BodyTimedOut>(&*e) => Err(AppError::BodyTimeout),
        Err(_) => Err(AppError::BadJson("the body could not be read".into())),
    }
}

/// Whether `E` is anywhere in the chain of `e`'s sources (axum wraps body
/// errors in its own).
fn caused_by<E: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<E>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// `application/json` or any `+json` type, with or without parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads the fields of a JSON object, collecting every problem.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn of(body: &'a Value) -> AppResult<Self> {
        match body {
            Value::Object(map) => Ok(Self {
                map,
                errors: Vec::new(),
            }),
            _ => Err(AppError::invalid("body", "must be a JSON object")),
        }
    }

    /// A field that must be present and not `null`.
    pub fn required<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&'a Value) -> Result<T, Invalid>,
    ) -> Option<T> {
        match self.map.get(name) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
            Some(value) => self.record(name, parse(value)),
        }
    }

    /// A field that may be absent or `null` (`Some(None)`); `None` if invalid.
    pub fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&'a Value) -> Result<T, Invalid>,
    ) -> Option<Option<T>> {
        match self.map.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(value) => self.record(name, parse(value)).map(Some),
        }
    }

    /// Records the outcome of parsing field `name`.
    pub fn record<T>(&mut self, name: &str, parsed: Result<T, Invalid>) -> Option<T> {
        parsed
            .map_err(|invalid| self.errors.push(FieldError::new(name, invalid.0)))
            .ok()
    }

    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn into_error(self) -> AppError {
        AppError::Validation(self.errors)
    }
}

pub fn string(value: &Value) -> Result<&str, Invalid> {
    value
        .as_str()
        .ok_or_else(|| Invalid::new("must be a string"))
}

pub fn owned_string(value: &Value) -> Result<String, Invalid> {
    string(value).map(str::to_string)
}

pub fn integer(value: &Value) -> Result<i64, Invalid> {
    // `5.0` and `"5"` are not integers.
    value
        .as_i64()
        .ok_or_else(|| Invalid::new("must be an integer"))
}

pub fn string_array(value: &Value) -> Result<Vec<String>, Invalid> {
    let items = value
        .as_array()
        .ok_or_else(|| Invalid::new("must be an array of strings"))?;
    items
        .iter()
        .map(|item| owned_string(item).map_err(|_| Invalid::new("must be an array of strings")))
        .collect()
}
