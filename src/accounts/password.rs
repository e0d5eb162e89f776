//! Password hashing: argon2id with explicit parameters (at least OWASP's
//! minimum: 19 MiB, 2 iterations, 1 lane), stored as PHC strings, computed on
//! blocking threads with a bound on concurrent hashes so that a flood of
//! logins cannot starve other requests.

use std::sync::Arc;

use argon2::{
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use rand::rngs::OsRng;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// Memory cost in KiB (19 MiB).
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed")]
    Failed,
}

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).map_err(|_| HashError::Failed)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// A hash of a random password: verified against when the e-mail is
    /// unknown, so that an unknown e-mail costs the same as a wrong password.
    dummy: Arc<String>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Result<Self, HashError> {
        let random = Zeroizing::new(crate::crypto::one_time_password().to_string());
        let dummy = hash_now(&random)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(dummy),
        })
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Failed)?;
        let password = Zeroizing::new(password.to_owned());
        tokio::task::spawn_blocking(move || hash_now(&password))
            .await
            .map_err(|_| HashError::Failed)?
    }

    /// Verifies `password` against `phc`, or against the dummy hash when
    /// there is no account, always doing the same work.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let exists = phc.is_some();
        let phc = phc.map_or_else(|| self.dummy.as_str().to_owned(), str::to_owned);
        let password = Zeroizing::new(password.to_owned());
        let ok = tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            argon2()
                .map(|a| a.verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        ok && exists
    }
}

fn hash_now(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| HashError::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_phc_argon2id_with_owasp_parameters() {
        let h = Hasher::new(2).unwrap();
        let phc = h.hash("correct horse battery staple").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify("correct horse battery staple", Some(&phc)).await);
        assert!(!h.verify("wrong horse battery staple", Some(&phc)).await);
        assert!(!h.verify("correct horse battery staple", None).await);
    }
}
