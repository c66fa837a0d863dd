use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use super::{Invalid, Tz, char_len};

/// How someone feels: 1 (worst) to 10 (best).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rating(u8);

impl Rating {
    pub fn new(value: i64) -> Result<Self, Invalid> {
        match u8::try_from(value) {
            Ok(v @ 1..=10) => Ok(Self(v)),
            _ => Err(Invalid::new("must be an integer from 1 to 10")),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// Text is stored as given, but no database keeps U+0000 in text alike
/// (PostgreSQL refuses it), so it is refused at the edge.
const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// A free-text note of at most 2000 code points, stored as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note(String);

impl Note {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(value: String) -> Result<Self, Invalid> {
        if char_len(&value) > Self::MAX_CHARS {
            return Err(Invalid::new("must be at most 2000 characters long"));
        }
        if value.contains('\0') {
            return Err(Invalid::new(NUL_REFUSED));
        }
        Ok(Self(value))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Up to 10 tags of 1–32 code points each, stored and returned as given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tags(Vec<String>);

impl Tags {
    pub const MAX_TAGS: usize = 10;
    pub const MAX_TAG_CHARS: usize = 32;

    pub fn parse(values: Vec<String>) -> Result<Self, Invalid> {
        if values.len() > Self::MAX_TAGS {
            return Err(Invalid::new("must have at most 10 tags"));
        }
        if let Some(bad) = values
            .iter()
            .position(|t| !(1..=Self::MAX_TAG_CHARS).contains(&char_len(t)))
        {
            return Err(Invalid(format!(
                "tag {bad} must be 1 to 32 characters long"
            )));
        }
        if let Some(bad) = values.iter().position(|t| t.contains('\0')) {
            return Err(Invalid(format!("tag {bad} {NUL_REFUSED}")));
        }
        Ok(Self(values))
    }

    pub fn into_inner(self) -> Vec<String> {
        self.0
    }
}

/// When a mood was felt: not before 1970 and not more than five minutes
/// ahead of the server's clock (clients' clocks drift a little).
pub fn check_recorded_at(at: Timestamp, now: Timestamp) -> Result<Timestamp, Invalid> {
    if at < Timestamp::UNIX_EPOCH {
        return Err(Invalid::new("must not be before 1970-01-01T00:00:00Z"));
    }
    if at > now + SignedDuration::from_mins(5) {
        return Err(Invalid::new(
            "must not be more than 5 minutes in the future",
        ));
    }
    // Stored with microsecond precision.
    Ok(Timestamp::from_microsecond(at.as_microsecond()).expect("within Timestamp's range"))
}

/// The calendar date of `at` in `tz`: the day an entry counts for.
pub fn local_date(at: Timestamp, tz: &Tz) -> Date {
    tz.zone().to_datetime(at).date()
}

/// A client-chosen key that makes a `POST /mood` safe to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        if !(1..=255).contains(&char_len(value)) {
            return Err(Invalid::new("must be 1 to 255 characters long"));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The store's identifier of an entry; opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub i64);

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for EntryId {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        // Only canonical decimal forms, so one entry has exactly one id.
        let canonical = !s.is_empty()
            && s.len() <= 19
            && s.bytes().all(|b| b.is_ascii_digit())
            && !(s.len() > 1 && s.starts_with('0'));
        canonical
            .then(|| s.parse().ok())
            .flatten()
            .map(EntryId)
            .ok_or_else(|| Invalid::new("is not an entry id"))
    }
}

/// A validated entry, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub rating: Rating,
    pub note: Option<Note>,
    pub tags: Tags,
    pub recorded_at: Timestamp,
    pub timezone: Tz,
}

impl NewEntry {
    pub fn local_date(&self) -> Date {
        local_date(self.recorded_at, &self.timezone)
    }
}

/// A stored entry. `local_date` was fixed when it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: EntryId,
    pub rating: u8,
    pub note: Option<String>,
    pub tags: Vec<String>,
    pub recorded_at: Timestamp,
    pub timezone: String,
    pub local_date: Date,
}

/// One day's entries, summarised for charts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayMood {
    pub date: Date,
    /// Mean rating of the day's entries, 1.0..=10.0.
    pub average: f64,
    pub entries: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn rating_bounds() {
        assert!(Rating::new(0).is_err());
        assert_eq!(Rating::new(1).unwrap().get(), 1);
        assert_eq!(Rating::new(10).unwrap().get(), 10);
        assert!(Rating::new(11).is_err());
        assert!(Rating::new(-3).is_err());
        assert!(Rating::new(i64::MAX).is_err());
    }

    #[test]
    fn note_and_tag_limits_count_code_points() {
        assert!(Note::parse("é".repeat(2000)).is_ok());
        assert!(Note::parse("é".repeat(2001)).is_err());
        assert!(Tags::parse(vec!["x".repeat(32)]).is_ok());
        assert!(Tags::parse(vec!["x".repeat(33)]).is_err());
        assert!(Tags::parse(vec![String::new()]).is_err());
        assert!(Tags::parse(vec!["t".into(); 10]).is_ok());
        assert!(Tags::parse(vec!["t".into(); 11]).is_err());
    }

    #[test]
    fn nul_characters_are_refused_in_notes_and_tags() {
        assert!(Note::parse("a\0b".into()).is_err());
        assert!(Note::parse("tab\tand\nnewline are fine".into()).is_ok());
        let err = Tags::parse(vec!["ok".into(), "b\0".into()]).unwrap_err();
        assert_eq!(err.0, "tag 1 must not contain the NUL character (U+0000)");
    }

    #[test]
    fn recorded_at_bounds() {
        let now = ts("2026-03-01T12:00:00Z");
        assert!(check_recorded_at(ts("2026-03-01T12:05:00Z"), now).is_ok());
        assert!(check_recorded_at(ts("2026-03-01T12:05:01Z"), now).is_err());
        assert!(check_recorded_at(ts("1970-01-01T00:00:00Z"), now).is_ok());
        assert!(check_recorded_at(ts("1969-12-31T23:59:59Z"), now).is_err());
        let truncated = check_recorded_at(ts("2026-03-01T10:00:00.123456789Z"), now).unwrap();
        assert_eq!(truncated, ts("2026-03-01T10:00:00.123456Z"));
    }

    #[test]
    fn local_date_uses_the_entry_zone() {
        let ny = Tz::parse("America/New_York").unwrap();
        // 23:30 local on Mar 1 is already Mar 2 in UTC.
        let at = ts("2026-03-01T23:30:00-05:00");
        assert_eq!(local_date(at, &ny), date(2026, 3, 1));
        assert_eq!(local_date(at, &Tz::utc()), date(2026, 3, 2));
        // Across the spring-forward night (Mar 8 2026 in New York).
        assert_eq!(
            local_date(ts("2026-03-09T03:30:00Z"), &ny),
            date(2026, 3, 8)
        );
        // Kiritimati is UTC+14: early UTC morning is already the next day.
        let kiri = Tz::parse("Pacific/Kiritimati").unwrap();
        assert_eq!(
            local_date(ts("2026-12-31T10:00:00Z"), &kiri),
            date(2027, 1, 1)
        );
    }

    #[test]
    fn entry_ids_are_canonical_decimals() {
        assert_eq!("42".parse::<EntryId>().unwrap(), EntryId(42));
        for bad in ["", "042", "-1", "4x", "99999999999999999999", " 4"] {
            assert!(bad.parse::<EntryId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn idempotency_key_length() {
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }
}
