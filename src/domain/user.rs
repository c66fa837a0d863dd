use jiff::Timestamp;

use super::{Tz, Username};

/// The store's identifier of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// An account's profile.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub timezone: Tz,
    pub created_at: Timestamp,
}
