use super::{Invalid, char_len};

/// A username: 3–32 of `a-z 0-9 _ . -`, with ASCII letters folded to lower
/// case first so that `Alice` and `alice` name the same account. Nothing is
/// trimmed, and anything else (spaces, non-ASCII) is refused, which also rules
/// out look-alike names built from other scripts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let len = char_len(raw);
        if !(3..=32).contains(&len) {
            return Err(Invalid::new("must be 3 to 32 characters long"));
        }
        let folded = raw.to_ascii_lowercase();
        if let Some(bad) = folded
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | '-'))
        {
            return Err(Invalid(format!(
                "may only contain letters a-z, digits 0-9, '_', '.' and '-' (found {bad:?})"
            )));
        }
        Ok(Self(folded))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from the store, which were parsed on the way in.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_ascii_case() {
        assert_eq!(Username::parse("Alice").unwrap().as_str(), "alice");
        assert_eq!(Username::parse("a.b-c_9").unwrap().as_str(), "a.b-c_9");
    }

    #[test]
    fn enforces_length_in_code_points() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse(&"a".repeat(33)).is_err());
    }

    #[test]
    fn refuses_spaces_non_ascii_and_look_alikes() {
        for bad in [
            " alice",
            "alice ",
            "al ice",
            "älice",
            "аlice",
            "ａlice",
            "al\u{0}ce",
            "al@ce",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
