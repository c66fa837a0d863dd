//! Failures of the web app, shown to people as pages in plain words (never
//! as problem+json, a stack or a database message).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::layout;
use crate::http::error::AppError;

#[derive(Debug)]
pub enum PageError {
    /// Not signed in (or the session ended): go and sign in.
    SignIn,
    /// Not a form of ours, or sent from another site.
    Forged,
    /// A form body that is not form-encoded, or lacks fields.
    BadForm,
    NotFound,
    App(AppError),
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        Self::App(AppError::Internal(e))
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::App(e.into())
    }
}

/// What to tell a person about a failed request, in words for people.
pub fn message(e: &AppError) -> String {
    match e {
        AppError::Throttled { retry_after_secs } => {
            let minutes = retry_after_secs.div_ceil(60);
            if minutes <= 1 {
                "Too many attempts. Try again in a minute.".into()
            } else {
                format!("Too many attempts. Try again in {minutes} minutes.")
            }
        }
        AppError::Unauthorized(why) | AppError::Forbidden(why) | AppError::Conflict(why) => {
            (*why).into()
        }
        AppError::Validation(errors) => errors
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join(" "),
        AppError::Unavailable(_) => {
            "moodlog cannot reach its database right now. Please try again in a moment.".into()
        }
        AppError::Unwritable(_) => {
            "moodlog cannot save anything right now: its storage is full or read-only. Nothing was saved; please try again later.".into()
        }
        AppError::PayloadTooLarge => "That was too much text to send at once.".into(),
        AppError::BodyTimeout => "The form took too long to arrive. Please try again.".into(),
        _ => "Something went wrong on our side. Please try again.".into(),
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            Self::SignIn => return Redirect::to("/sign-in").into_response(),
            Self::Forged => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form has expired or came from another site. Go back, reload the page and try again."
                    .to_string(),
            ),
            Self::BadForm => (
                StatusCode::BAD_REQUEST,
                "Form not understood",
                "That form could not be read. Go back, reload the page and try again.".to_string(),
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here. It may have been deleted.".to_string(),
            ),
            Self::App(e) => {
                let status = e.status();
                let text = message(&e);
                // Logged (and kept out of the page) as the API would log it.
                let logged = e.into_response();
                let retry_after = logged.headers().get(header::RETRY_AFTER).cloned();
                let title = status.canonical_reason().unwrap_or("Error");
                let mut page = (status, layout::bare(title, text.as_str())).into_response();
                if let Some(value) = retry_after {
                    page.headers_mut().insert(header::RETRY_AFTER, value);
                }
                return page;
            }
        };
        (status, layout::bare(title, &text)).into_response()
    }
}
