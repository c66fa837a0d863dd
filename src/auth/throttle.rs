//! Login and sign-up throttling. The counts live in the store, so every
//! instance in front of one database sees the same figures.

use std::net::IpAddr;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::store::{RateKind, Store, StoreResult};

/// Failed logins for one username from one client before it is locked.
const PAIR_FAILURES: usize = 5;
/// Failed logins from one client, any usernames, per window.
const CLIENT_FAILURES: usize = 100;
const LOGIN_WINDOW: SignedDuration = SignedDuration::from_mins(15);
const SIGNUP_WINDOW: SignedDuration = SignedDuration::from_hours(1);

/// A refusal, with how long until the client may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_secs: u64,
}

impl Throttled {
    fn until(at: Timestamp, now: Timestamp) -> Self {
        let secs = now.duration_until(at).as_secs_f64().ceil().max(1.0);
        Self {
            retry_after_secs: secs as u64,
        }
    }
}

#[derive(Clone)]
pub struct Throttle {
    store: Arc<dyn Store>,
    /// Sign-ups per client per hour; 0 turns the limit off.
    signup_limit: u32,
}

/// The earliest event time that still counts in a window ending at `now`.
/// An event counts while `now < at + window`, so a client that waits the
/// `Retry-After` it was given is let through; `recent_events` includes
/// `since` itself, and times are whole microseconds.
fn window_start(now: Timestamp, window: SignedDuration) -> Timestamp {
    now - window + SignedDuration::from_micros(1)
}

/// Usernames are keyed as typed, folded like `Username` folds them, so that
/// malformed names are throttled too; hashed, so that whatever a client
/// typed (64 KiB of it, or control characters) makes a short, plain key.
fn pair_key(username: &str, client: IpAddr) -> String {
    let digest = Sha256::digest(username.to_ascii_lowercase().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{client}\n{hex}")
}

impl Throttle {
    pub fn new(store: Arc<dyn Store>, signup_limit: u32) -> Self {
        Self {
            store,
            signup_limit,
        }
    }

    /// Whether a login for `username` from `client` may go ahead. A locked
    /// pair stays locked even for the right password: the lock is what stops
    /// guessing, so it must not answer whether a guess was right.
    pub async fn check_login(
        &self,
        username: &str,
        client: IpAddr,
        now: Timestamp,
    ) -> StoreResult<Result<(), Throttled>> {
        // Five consecutive failures within 15 minutes lock the pair until
        // 15 minutes after the last of them.
        let pair = self
            .store
            .recent_events(
                RateKind::LoginPairFailure,
                &pair_key(username, client),
                now - LOGIN_WINDOW * 2,
                PAIR_FAILURES as u32,
            )
            .await?;
        if let [last, .., first] = pair[..]
            && pair.len() == PAIR_FAILURES
            && first + LOGIN_WINDOW >= last
            && now < last + LOGIN_WINDOW
        {
            return Ok(Err(Throttled::until(last + LOGIN_WINDOW, now)));
        }
        let client_failures = self
            .store
            .recent_events(
                RateKind::LoginClientFailure,
                &client.to_string(),
                window_start(now, LOGIN_WINDOW),
                CLIENT_FAILURES as u32,
            )
            .await?;
        if client_failures.len() == CLIENT_FAILURES {
            let oldest = client_failures[CLIENT_FAILURES - 1];
            return Ok(Err(Throttled::until(oldest + LOGIN_WINDOW, now)));
        }
        Ok(Ok(()))
    }

    pub async fn login_failed(
        &self,
        username: &str,
        client: IpAddr,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.store
            .add_event(RateKind::LoginPairFailure, &pair_key(username, client), now)
            .await?;
        self.store
            .add_event(RateKind::LoginClientFailure, &client.to_string(), now)
            .await
    }

    /// A success resets the pair's count (not the client's).
    pub async fn login_succeeded(&self, username: &str, client: IpAddr) -> StoreResult<()> {
        self.store
            .clear_events(RateKind::LoginPairFailure, &pair_key(username, client))
            .await
    }

    /// Counts a sign-up attempt from `client` unless the hourly limit is
    /// reached. Attempts for taken names count too, so the 409 cannot be
    /// used to enumerate accounts quickly.
    pub async fn signup_attempt(
        &self,
        client: IpAddr,
        now: Timestamp,
    ) -> StoreResult<Result<(), Throttled>> {
        if self.signup_limit == 0 {
            return Ok(Ok(()));
        }
        let key = client.to_string();
        let recent = self
            .store
            .recent_events(
                RateKind::Signup,
                &key,
                window_start(now, SIGNUP_WINDOW),
                self.signup_limit,
            )
            .await?;
        if recent.len() >= self.signup_limit as usize {
            let oldest = recent[recent.len() - 1];
            return Ok(Err(Throttled::until(oldest + SIGNUP_WINDOW, now)));
        }
        self.store.add_event(RateKind::Signup, &key, now).await?;
        Ok(Ok(()))
    }

    /// How far back the store must keep events for these rules.
    pub fn retention() -> SignedDuration {
        SIGNUP_WINDOW.max(LOGIN_WINDOW * 2)
    }
}
