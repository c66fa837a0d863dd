//! Pure types and rules: no I/O, no async. Inputs are parsed into these types
//! at the edge, so the rest of the code never handles an unchecked value.

mod mood;
mod password;
mod streak;
mod timezone;
mod user;
mod username;

pub use mood::{
    DayMood, Entry, EntryId, IdempotencyKey, NewEntry, Note, Rating, Tags, check_recorded_at,
    local_date,
};
pub use password::{NewPassword, Password};
pub use streak::{Run, Streaks};
pub use timezone::Tz;
pub use user::{User, UserId};
pub use username::Username;

/// Why a value was refused; the message is shown to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Length in Unicode code points, which is how the API counts characters.
pub(crate) fn char_len(s: &str) -> usize {
    s.chars().count()
}
