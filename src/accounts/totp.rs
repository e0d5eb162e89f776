//! TOTP (RFC 6238): SHA-1, 6 digits, 30-second steps, one step of skew either
//! way. A code is accepted once: its step must be later than the last step used.

use totp_rs::{Algorithm, Secret, TOTP};
use zeroize::Zeroizing;

pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: usize = 6;

fn totp(secret: &[u8], account: &str) -> Option<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECONDS,
        secret.to_vec(),
        Some("Casedesk".to_owned()),
        account.to_owned(),
    )
    .ok()
}

/// A fresh 160-bit secret.
pub fn new_secret() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(crate::crypto::random_bytes::<20>().to_vec())
}

pub fn base32(secret: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(Secret::Raw(secret.to_vec()).to_encoded().to_string())
}

/// The `otpauth://` URI for authenticator apps.
pub fn uri(secret: &[u8], account: &str) -> Option<Zeroizing<String>> {
    totp(secret, account).map(|t| Zeroizing::new(t.get_url()))
}

/// The code of a step.
pub fn code_at(secret: &[u8], unix_seconds: u64) -> Option<String> {
    totp(secret, "x").map(|t| t.generate(unix_seconds))
}

/// The step a code belongs to, if it is valid at `unix_seconds` (within one
/// step of skew) and later than `last_used`.
pub fn matching_step(
    secret: &[u8],
    code: &str,
    unix_seconds: u64,
    last_used: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, "x")?;
    let now_step = (unix_seconds / STEP_SECONDS) as i64;
    let mut found = None;
    for step in [now_step - 1, now_step, now_step + 1] {
        if step < 0 {
            continue;
        }
        let expected = t.generate(step as u64 * STEP_SECONDS);
        if crate::crypto::constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found.filter(|s| last_used.is_none_or(|l| *s > l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_once_and_within_skew() {
        let secret = new_secret();
        let t = 1_800_000_000_u64;
        let code = code_at(&secret, t).unwrap();
        let step = matching_step(&secret, &code, t, None).unwrap();
        assert_eq!(step, (t / 30) as i64);
        assert_eq!(
            matching_step(&secret, &code, t, Some(step)),
            None,
            "single use"
        );
        assert!(
            matching_step(&secret, &code, t + 30, None).is_some(),
            "one step late"
        );
        assert!(
            matching_step(&secret, &code, t + 90, None).is_none(),
            "too late"
        );
        assert!(matching_step(&secret, "12345", t, None).is_none());
        assert!(uri(&secret, "ana@example.org")
            .unwrap()
            .starts_with("otpauth://totp/"));
    }
}
