//! Serialized `GET /mood` bodies, kept per account and page.
//!
//! A body is reused while the user's revision and their today are what they
//! were when it was written. Every change to a user's entries or profile
//! moves the revision on in the database, in the transaction that makes the
//! change, and the session lookup every request makes anyway reads it: so a
//! body is never served after a write has been acknowledged, on any
//! instance, and a hit costs no query beyond the session's.
//!
//! Entries are keyed by the account's id, which neither backend ever hands
//! out again, and bounded by their bytes; a size of 0 turns the cache off.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::body::Bytes;
use axum::http::HeaderValue;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::civil::Date;
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use crate::domain::UserId;
use crate::store::Page;

/// Bytes counted for an entry besides its body: key, validator, bookkeeping.
const OVERHEAD: u64 = 160;

/// A serialized `GET /mood` body and what it is valid for.
#[derive(Debug)]
pub struct MoodBody {
    revision: i64,
    today: Date,
    pub json: Bytes,
    /// A strong validator: a digest of `json`.
    pub etag: HeaderValue,
}

impl MoodBody {
    /// The body of the page read at `revision`, computed on `today`.
    pub fn new(revision: i64, today: Date, json: Vec<u8>) -> Self {
        let digest = Sha256::digest(&json);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..18]));
        Self {
            revision,
            today,
            json: Bytes::from(json),
            etag: HeaderValue::from_str(&etag).expect("base64url is a valid header value"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    user: i64,
    limit: Option<u32>,
    /// `(recorded_at in µs, id)` of the cursor.
    cursor: Option<(i64, i64)>,
}

impl Key {
    fn new(user: UserId, page: &Page) -> Self {
        Self {
            user: user.0,
            limit: page.limit,
            cursor: page
                .cursor
                .map(|c| (c.recorded_at.as_microsecond(), c.id.0)),
        }
    }
}

#[derive(Clone)]
struct ByLength;

impl Weighter<Key, Arc<MoodBody>> for ByLength {
    fn weight(&self, _key: &Key, body: &Arc<MoodBody>) -> u64 {
        body.json.len() as u64 + OVERHEAD
    }
}

/// The cache, shared by every request of this instance.
pub struct MoodCache {
    bodies: Option<Cache<Key, Arc<MoodBody>, ByLength>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl MoodCache {
    /// A cache holding at most `bytes` of bodies (0: none).
    pub fn new(bytes: u64) -> Self {
        let bodies = (bytes > 0).then(|| {
            // Sized for bodies of a few KiB; it grows if they are smaller.
            let items = usize::try_from(bytes / 4096).unwrap_or(usize::MAX).max(16);
            Cache::with_weighter(items, bytes, ByLength)
        });
        Self {
            bodies,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The body for this page if it was written at `revision` on `today`.
    pub fn get(
        &self,
        user: UserId,
        page: &Page,
        revision: i64,
        today: Date,
    ) -> Option<Arc<MoodBody>> {
        let bodies = self.bodies.as_ref()?;
        let found = bodies
            .get(&Key::new(user, page))
            .filter(|b| b.revision == revision && b.today == today);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Relaxed);
        found
    }

    pub fn put(&self, user: UserId, page: &Page, body: Arc<MoodBody>) {
        if let Some(bodies) = &self.bodies {
            bodies.insert(Key::new(user, page), body);
        }
    }

    /// Lookups answered from the cache and not, since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Relaxed), self.misses.load(Relaxed))
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.bodies.as_ref().map_or(0, Cache::weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const TODAY: Date = date(2026, 11, 24);

    #[test]
    fn a_body_serves_only_its_revision_day_account_and_page() {
        let cache = MoodCache::new(1 << 20);
        let alice = UserId(1);
        let page = Page::default();
        cache.put(
            alice,
            &page,
            Arc::new(MoodBody::new(7, TODAY, b"{}".to_vec())),
        );

        assert!(cache.get(alice, &page, 7, TODAY).is_some());
        assert!(
            cache.get(alice, &page, 8, TODAY).is_none(),
            "a newer revision"
        );
        assert!(
            cache
                .get(alice, &page, 7, TODAY.tomorrow().unwrap())
                .is_none(),
            "a new day"
        );
        let limited = Page {
            limit: Some(50),
            cursor: None,
        };
        assert!(
            cache.get(alice, &limited, 7, TODAY).is_none(),
            "another page"
        );
        assert!(
            cache.get(UserId(2), &page, 7, TODAY).is_none(),
            "another user"
        );
        assert_eq!(cache.counts(), (1, 4));
    }

    #[test]
    fn size_zero_keeps_nothing_and_the_size_bounds_the_bytes() {
        let off = MoodCache::new(0);
        let page = Page::default();
        off.put(
            UserId(1),
            &page,
            Arc::new(MoodBody::new(1, TODAY, b"{}".to_vec())),
        );
        assert!(off.get(UserId(1), &page, 1, TODAY).is_none());

        let small = MoodCache::new(64 * 1024);
        for id in 0..100 {
            let body = MoodBody::new(1, TODAY, vec![b' '; 4000]);
            small.put(UserId(id), &page, Arc::new(body));
        }
        assert!(small.bytes() <= 64 * 1024, "{}", small.bytes());
        assert!(small.bytes() > 0);
    }

    #[test]
    fn the_etag_is_a_quoted_digest_of_the_body() {
        let a = MoodBody::new(1, TODAY, b"{\"a\":1}".to_vec());
        let b = MoodBody::new(2, TODAY, b"{\"a\":1}".to_vec());
        let c = MoodBody::new(1, TODAY, b"{\"a\":2}".to_vec());
        assert_eq!(a.etag, b.etag, "the same bytes, the same tag");
        assert_ne!(a.etag, c.etag);
        let tag = a.etag.to_str().unwrap();
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() == 26,
            "{tag}"
        );
    }
}
