use std::fmt;

use zxcvbn::Score;

use super::{Invalid, char_len};

/// A password as typed by the user. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password accepted for a new account or a password change: 8–256 code
/// points, no composition rules, never truncated, and not guessable.
#[derive(Debug, Clone)]
pub struct NewPassword(Password);

/// zxcvbn's "safely unguessable" level: resists online guessing and slows an
/// offline attack on the argon2id hash. Common passwords, keyboard walks,
/// dictionary words with substitutions and the username itself score lower.
const MIN_SCORE: Score = Score::Three;

impl NewPassword {
    /// The cheap part of `parse`: 8–256 code points.
    pub fn check_length(value: &str) -> Result<(), Invalid> {
        let len = char_len(value);
        if len < 8 {
            return Err(Invalid::new("must be at least 8 characters long"));
        }
        if len > 256 {
            return Err(Invalid::new("must be at most 256 characters long"));
        }
        Ok(())
    }

    /// Checks length, then strength. The strength estimate takes up to tens
    /// of milliseconds for long inputs: call it off the async workers.
    pub fn parse(value: String, username: &str) -> Result<Self, Invalid> {
        Self::check_length(&value)?;
        let estimate = zxcvbn::zxcvbn(&value, &[username, "moodlog", "mood", "log"]);
        if estimate.score() < MIN_SCORE {
            let mut message = String::from("is too easy to guess");
            if let Some(warning) = estimate.feedback().and_then(|f| f.warning()) {
                message.push_str(&format!(" ({warning})"));
            }
            message.push_str("; a few uncommon words together make a strong password");
            return Err(Invalid(message));
        }
        Ok(Self(Password(value)))
    }

    pub fn into_password(self) -> Password {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let p = Password::new("hunter2-secret".into());
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn refuses_short_and_long() {
        assert!(NewPassword::parse("a1!".into(), "alice").is_err());
        let long: String = "violet tugboat simmers quietly "
            .chars()
            .cycle()
            .take(257)
            .collect();
        let err = NewPassword::parse(long.clone(), "alice").unwrap_err();
        assert!(err.0.contains("at most 256"), "{err}");
        let max: String = long.chars().take(256).collect();
        assert!(NewPassword::parse(max, "alice").is_ok());
    }

    #[test]
    fn counts_code_points_not_bytes() {
        // 7 code points but 21 bytes: too short.
        let err = NewPassword::parse("水曜日の猫が踊".into(), "alice").unwrap_err();
        assert!(err.0.contains("at least 8"), "{err}");
        // 256 two-byte code points (512 bytes) are within the limit.
        let wide: String = "ñandú violeta ".chars().cycle().take(256).collect();
        assert!(NewPassword::parse(wide, "alice").is_ok());
    }

    #[test]
    fn refuses_common_and_guessable() {
        for weak in [
            "password",
            "password1",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
            "alice2024!",
        ] {
            let err = NewPassword::parse(weak.into(), "alice").unwrap_err();
            assert!(err.0.contains("too easy to guess"), "{weak}: {err}");
        }
    }

    #[test]
    fn accepts_a_passphrase() {
        assert!(NewPassword::parse("violet tugboat simmers quietly".into(), "alice").is_ok());
    }
}
