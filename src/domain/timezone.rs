use jiff::tz::TimeZone;

use super::Invalid;

/// An IANA time zone, known to the bundled tz database.
#[derive(Debug, Clone, PartialEq)]
pub struct Tz {
    name: String,
    zone: TimeZone,
}

impl Tz {
    pub fn parse(name: &str) -> Result<Self, Invalid> {
        // POSIX TZ strings and file paths are not IANA names.
        let plausible = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
        let zone = plausible
            .then(|| jiff::tz::db().get(name).ok())
            .flatten()
            .ok_or_else(|| {
                Invalid::new("is not a known IANA time zone name, e.g. \"Europe/Paris\"")
            })?;
        // The database matches names case-insensitively; keep its spelling.
        let name = zone.iana_name().unwrap_or(name).to_string();
        Ok(Self { name, zone })
    }

    pub fn utc() -> Self {
        Self {
            name: "UTC".into(),
            zone: TimeZone::UTC,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_iana_names_in_canonical_spelling() {
        assert_eq!(
            Tz::parse("America/New_York").unwrap().name(),
            "America/New_York"
        );
        assert_eq!(Tz::parse("europe/paris").unwrap().name(), "Europe/Paris");
        assert_eq!(Tz::parse("UTC").unwrap().name(), "UTC");
    }

    #[test]
    fn refuses_unknown_names() {
        for bad in [
            "",
            "Mars/Olympus",
            "EST5EDT,M3.2.0,M11.1.0",
            "../../etc/passwd",
            "Europe/Paris ",
        ] {
            assert!(Tz::parse(bad).is_err(), "{bad:?}");
        }
    }
}
