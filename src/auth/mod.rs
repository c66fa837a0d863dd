//! Who is calling: password hashing, session tokens, login throttling and
//! the extractor that turns a request's credentials into the current user.

pub mod account;
mod client;
mod extract;
mod hasher;
mod throttle;
mod token;

pub use client::{ClientAddr, IpBlock};
pub use extract::{Authenticated, SESSION_COOKIE, cookie, is_cross_site, session_cookie};
pub use hasher::PasswordHasher;
pub use throttle::{Throttle, Throttled};
pub use token::Token;
