//! The only place that touches keys and randomness: random tokens, hashes of
//! tokens, constant-time comparison, and AEAD encryption under the master key.
//!
//! Token entropy: 32 bytes from the operating system's CSPRNG (256 bits).

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use rand::{rngs::OsRng, Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Fills `N` bytes from the OS random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0_u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A new bearer token (`<prefix>_` + 256 random bits, base64url) and the
/// SHA-256 hash under which it is stored.
pub fn new_token(prefix: &str) -> (Zeroizing<String>, String) {
    let token = Zeroizing::new(format!(
        "{prefix}_{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    ));
    let hash = sha256_hex(token.as_bytes());
    (token, hash)
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The webhook signature: HMAC-SHA256 under `secret` of `<timestamp>.<body>`,
/// hex. Receivers compute the same over the raw body and compare in constant time.
pub fn webhook_signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A one-time password: 20 characters from an alphabet without look-alikes
/// (about 115 bits), long enough for the password policy.
pub fn one_time_password() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = OsRng;
    let text: String = (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    Zeroizing::new(text)
}

/// A 256-bit AES-GCM key, zeroised when dropped. The master key wraps the
/// data keys and the blind-index key and encrypts TOTP secrets; each
/// defender's data key encrypts that defender's protected values.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

/// A data key: the same kind of key, unwrapped from the database.
pub type DataKey = MasterKey;

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("expected the base64 of exactly 32 random bytes")]
    Malformed,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a stored secret could not be decrypted (wrong key, or the value was altered or moved)")]
pub struct DecryptError;

impl MasterKey {
    pub fn generate() -> Self {
        Self(Zeroizing::new(random_bytes::<32>()))
    }

    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let mut bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::Malformed)?;
        let key: Result<[u8; 32], _> = bytes.as_slice().try_into();
        bytes.zeroize();
        key.map(|k| Self(Zeroizing::new(k)))
            .map_err(|_| KeyError::Malformed)
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.as_ref()))
    }

    /// AES-256-GCM with a random 96-bit nonce; `aad` binds the ciphertext to
    /// its row and column. Returns base64(nonce || ciphertext).
    pub fn encrypt(&self, plaintext: &[u8], aad: &str) -> String {
        let cipher = Aes256Gcm::new(self.0.as_ref().into());
        let nonce_bytes = random_bytes::<12>();
        let nonce = Nonce::from_slice(&nonce_bytes);
        // Encryption with a valid key and nonce cannot fail for inputs this size.
        let ciphertext = cipher
            .encrypt(
                nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(12 + ciphertext.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ciphertext);
        STANDARD.encode(out)
    }

    /// Wraps another key under this one.
    pub fn wrap(&self, key: &MasterKey, aad: &str) -> String {
        self.encrypt(key.0.as_ref(), aad)
    }

    /// Unwraps a key wrapped by [`MasterKey::wrap`].
    pub fn unwrap_key(&self, wrapped: &str, aad: &str) -> Result<MasterKey, DecryptError> {
        let bytes = self.decrypt(wrapped, aad)?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| DecryptError)?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// A keyed blind index: HMAC-SHA256 of `value` under this key, hex.
    /// Equal values give equal indexes; the index reveals nothing without the key.
    pub fn blind_index(&self, value: &str) -> String {
        self.hmac_hex(value.as_bytes())
    }

    /// HMAC-SHA256 of `data` under this key, hex (64 characters).
    pub fn hmac_hex(&self, data: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref()) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }

    /// A key from its 32 bytes (as unsealed from the keyring).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key's 32 bytes, to seal it under another key.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn decrypt(&self, stored: &str, aad: &str) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let bytes = STANDARD.decode(stored).map_err(|_| DecryptError)?;
        if bytes.len() < 12 + 16 {
            return Err(DecryptError);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let cipher = Aes256Gcm::new(self.0.as_ref().into());
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| DecryptError)
    }
}

/// An Ed25519 signing key (the audit checkpoints'), zeroised when dropped.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

impl SigningKey {
    pub fn generate() -> Self {
        Self::from_seed(&random_bytes::<32>())
    }

    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key, base64: what an auditor pins to check signatures.
    pub fn public_key(&self) -> String {
        STANDARD.encode(self.0.verifying_key().to_bytes())
    }

    /// An Ed25519 signature of `message`, base64.
    pub fn sign(&self, message: &[u8]) -> String {
        use ed25519_dalek::Signer;
        STANDARD.encode(self.0.sign(message).to_bytes())
    }
}

/// Whether `signature` (base64) is an Ed25519 signature of `message` by the
/// public key `public_key` (base64). Malformed input is simply not valid.
pub fn signature_valid(public_key: &str, message: &[u8], signature: &str) -> bool {
    let (Ok(key), Ok(sig)) = (STANDARD.decode(public_key), STANDARD.decode(signature)) else {
        return false;
    };
    let (Ok(key), Ok(sig)) = (
        <[u8; 32]>::try_from(key.as_slice()),
        <[u8; 64]>::try_from(sig.as_slice()),
    ) else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else {
        return false;
    };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_message_and_key() {
        let key = SigningKey::generate();
        let sig = key.sign(b"checkpoint 7");
        assert!(signature_valid(&key.public_key(), b"checkpoint 7", &sig));
        assert!(!signature_valid(&key.public_key(), b"checkpoint 8", &sig));
        assert!(!signature_valid(
            &SigningKey::generate().public_key(),
            b"checkpoint 7",
            &sig
        ));
        assert!(!signature_valid("not base64", b"checkpoint 7", &sig));
        let again = SigningKey::from_seed(&key.seed());
        assert_eq!(again.public_key(), key.public_key());
    }

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, ha) = new_token("cds");
        let (b, _) = new_token("cds");
        assert_ne!(*a, *b);
        assert!(a.len() >= 4 + 43);
        assert_eq!(ha, sha256_hex(a.as_bytes()));
        assert!(!ha.contains(a.as_str()));
    }

    #[test]
    fn aead_binds_to_associated_data() {
        let key = MasterKey::generate();
        let sealed = key.encrypt(b"secret", "staff.totp_secret:1");
        assert_eq!(
            key.decrypt(&sealed, "staff.totp_secret:1")
                .unwrap()
                .as_slice(),
            b"secret"
        );
        assert!(key.decrypt(&sealed, "staff.totp_secret:2").is_err());
        assert!(MasterKey::generate()
            .decrypt(&sealed, "staff.totp_secret:1")
            .is_err());
    }

    #[test]
    fn master_key_parsing() {
        let key = MasterKey::generate();
        assert!(MasterKey::from_base64(&key.to_base64()).is_ok());
        assert_eq!(
            MasterKey::from_base64("c2hvcnQ=").unwrap_err(),
            KeyError::Malformed
        );
        assert!(one_time_password().len() == 20);
    }
}
