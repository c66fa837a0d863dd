//! Who is calling: password hashing, session tokens, login throttling and
//! the extractor that turns a request's credentials into the current user.

mod extract;
mod hasher;
mod throttle;
mod token;

pub use extract::{Authenticated, SESSION_COOKIE};
pub use hasher::PasswordHasher;
pub use throttle::{Throttle, Throttled};
pub use token::Token;
