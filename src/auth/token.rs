use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::store::TokenHash;

/// The recognisable prefix of moodlog session tokens (useful to secret
/// scanners), followed by 256 random bits in base64url.
const PREFIX: &str = "mlg_";
const RANDOM_BYTES: usize = 32;
const ENCODED_LEN: usize = PREFIX.len() + 43;

/// A session token as handed to the client. Only its hash is stored, and
/// its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = [0u8; RANDOM_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        Ok(Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// Accepts a string presented by a client if it has a token's shape;
    /// anything else cannot be a session and needs no database look-up.
    pub fn parse(value: &str) -> Option<Self> {
        let well_formed = value.len() == ENCODED_LEN
            && value.starts_with(PREFIX)
            && value[PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(value.to_string()))
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_well_formed_and_redacted() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(Token::parse(a.expose()), Some(a.clone()));
        assert!(!format!("{a:?}").contains(&a.expose()[PREFIX.len()..]));
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = Token::generate().unwrap();
        let s = good.expose();
        for bad in [
            "",
            "mlg_",
            &s[1..],
            &format!("{s}x"),
            &s.replace("mlg_", "xyz_"),
            &format!("mlg_{}", "!".repeat(43)),
        ] {
            assert!(Token::parse(bad).is_none(), "{bad:?}");
        }
    }
}
