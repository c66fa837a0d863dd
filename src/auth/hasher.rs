use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::{Invalid, NewPassword, Password};

/// argon2id with OWASP's recommended minimum: 19 MiB, two passes, one lane.
fn params() -> Params {
    Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters")
}

/// Hashes and verifies passwords on the blocking pool, at most `permits` at
/// a time, so a login flood neither starves the async workers nor grows
/// memory without bound.
///
/// Each hash needs 19 MiB of working memory. Allocating it per hash lets
/// glibc keep the freed areas in per-thread arenas (a login flood grew the
/// process to ~470 MB), so each permit owns one area, allocated on first use
/// and reused: memory stays at `permits` × 19 MiB, and no hash pays for
/// faulting in fresh pages.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Working memory for the hashes in flight; never more areas than permits.
    areas: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Verified against when the user does not exist, so that an unknown
    /// username costs the same time as a wrong password.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> anyhow::Result<Self> {
        let mut random = [0u8; 24];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        let dummy = Password::new(base64_of(&random));
        let mut area = Vec::new();
        let dummy_hash = hash_with(&mut area, &dummy)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            areas: Arc::new(Mutex::new(vec![area])),
            dummy_hash: dummy_hash.into(),
        })
    }

    pub async fn hash(&self, password: Password) -> anyhow::Result<String> {
        self.run_with_area(move |area| hash_with(area, &password))
            .await?
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) it
    /// does the same work and answers `false`.
    pub async fn verify(&self, password: Password, hash: Option<String>) -> anyhow::Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .run_with_area(move |area| verify_with(area, &password, &hash))
            .await??;
        Ok(known && matches)
    }

    /// Checks a new password's strength (`NewPassword::parse`) on the
    /// blocking pool, within the same bound as hashing.
    pub async fn check_new(
        &self,
        password: String,
        username: String,
    ) -> anyhow::Result<Result<NewPassword, Invalid>> {
        let permit = Arc::clone(&self.permits).acquire_owned().await?;
        Ok(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            NewPassword::parse(password, &username)
        })
        .await?)
    }

    /// Runs `f` on the blocking pool with a permit and a working area.
    ///
    /// The blocking task holds the permit until it has given the area back:
    /// a request that is cancelled meanwhile (its client went away) must
    /// not let another hash start, or another area be allocated, while its
    /// own hash still runs.
    async fn run_with_area<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let permit = Arc::clone(&self.permits).acquire_owned().await?;
        let areas = Arc::clone(&self.areas);
        Ok(tokio::task::spawn_blocking(move || {
            let mut area = lock(&areas).pop().unwrap_or_default();
            let out = f(&mut area);
            lock(&areas).push(area);
            drop(permit);
            out
        })
        .await?)
    }
}

fn lock(areas: &Mutex<Vec<Vec<Block>>>) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
    // The list is only pushed to and popped from; a panic cannot leave it
    // half-changed.
    areas.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `area` grown to the `blocks` the parameters need.
fn blocks<'a>(area: &'a mut Vec<Block>, params: &Params) -> &'a mut [Block] {
    if area.len() < params.block_count() {
        area.resize(params.block_count(), Block::default());
    }
    &mut area[..params.block_count()]
}

fn hash_with(area: &mut Vec<Block>, password: &Password) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let params = params();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            &salt,
            &mut out,
            blocks(area, &params),
        )
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("{e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("{e}"))?),
    };
    Ok(phc.to_string())
}

/// Recomputes the stored hash's output with its own parameters and compares
/// in constant time (`Output`'s equality).
fn verify_with(area: &mut Vec<Block>, password: &Password, stored: &str) -> anyhow::Result<bool> {
    let bad = |e: argon2::password_hash::Error| anyhow::anyhow!("bad stored hash: {e}");
    let stored = PasswordHash::new(stored).map_err(bad)?;
    let algorithm = Algorithm::try_from(stored.algorithm).map_err(bad)?;
    let version = match stored.version {
        Some(v) => Version::try_from(v).map_err(|e| anyhow::anyhow!("bad stored hash: {e}"))?,
        None => Version::default(),
    };
    let params = Params::try_from(&stored).map_err(bad)?;
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        anyhow::bail!("bad stored hash: no salt or output");
    };
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(bad)?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let actual = Output::init_with(expected.len(), |out| {
        argon2
            .hash_password_into_with_memory(
                password.expose().as_bytes(),
                salt,
                out,
                blocks(area, &params),
            )
            .map_err(Into::into)
    })
    .map_err(bad)?;
    Ok(actual == expected)
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_argon2id_at_owasp_parameters() {
        let hasher = PasswordHasher::new(1).unwrap();
        let hash = hasher
            .hash(Password::new("violet tugboat".into()))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify(Password::new("violet tugboat".into()), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(Password::new("violet tugboaT".into()), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let hasher = PasswordHasher::new(1).unwrap();
        assert!(
            !hasher
                .verify(Password::new("anything at all".into()), None)
                .await
                .unwrap()
        );
    }

    /// Hashes stored by the crate's own `PasswordHasher` (and by other
    /// parameters) verify here, and ours verify there: the reused working
    /// memory changes nothing in the format.
    #[tokio::test]
    async fn agrees_with_the_argon2_crate_in_both_directions() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(1).unwrap();
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        for params in [params(), Params::new(8 * 1024, 3, 1, None).unwrap()] {
            let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(b"violet tugboat", &salt)
                .unwrap()
                .to_string();
            assert!(
                hasher
                    .verify(Password::new("violet tugboat".into()), Some(theirs.clone()))
                    .await
                    .unwrap(),
                "{theirs}"
            );
            assert!(
                !hasher
                    .verify(Password::new("violet tugboaT".into()), Some(theirs))
                    .await
                    .unwrap()
            );
        }
        let ours = hasher
            .hash(Password::new("violet tugboat".into()))
            .await
            .unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"violet tugboat", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"violet tugboaT", &parsed)
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_an_error_not_a_match() {
        let hasher = PasswordHasher::new(1).unwrap();
        for stored in ["", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ", "plain"] {
            assert!(
                hasher
                    .verify(Password::new("x".into()), Some(stored.into()))
                    .await
                    .is_err(),
                "{stored:?}"
            );
        }
    }

    /// Hashes whose callers gave up still hold their permit until they
    /// finish, so however many are cancelled, no more than `permits` areas
    /// are ever allocated.
    #[tokio::test]
    async fn cancelled_hashes_keep_their_permit_and_allocate_no_extra_area() {
        let hasher = PasswordHasher::new(2).unwrap();
        for _ in 0..6 {
            let call = hasher.hash(Password::new("violet tugboat".into()));
            // Started, then dropped long before argon2 is done.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(1), call).await;
        }
        // Wait for everything that was started to finish.
        let _all = hasher.permits.acquire_many(2).await.unwrap();
        assert!(
            lock(&hasher.areas).len() <= 2,
            "{} areas",
            lock(&hasher.areas).len()
        );
    }
}
