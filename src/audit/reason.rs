//! `X-Audit-Reason` texts are free text written by staff ("early return due
//! to a threat to the family"): they are sealed before they are stored, never
//! kept in plaintext. A reason about one defender is sealed under that
//! defender's data key, so erasing the defender shreds it too; the auditor
//! still sees that a reason was given. Other reasons are sealed under the
//! keyring's reason key.
//!
//! Stored form (inside the hashed event): `sealed:v1:k:<base64>` or
//! `sealed:v1:d:<data key id>:<base64>`, bound to the event's id.

use std::sync::Arc;

use uuid::Uuid;
use zeroize::Zeroizing;

use super::chain::AuditKeys;
use crate::crypto::DataKey;

/// The longest reason a caller may give, in characters.
pub(crate) const MAX_CHARS: usize = 500;

const GENERAL: &str = "sealed:v1:k:";
const DEFENDER: &str = "sealed:v1:d:";

fn aad(event_id: Uuid) -> String {
    format!("audit_events.reason:{event_id}")
}

/// The key a reason is sealed under.
#[derive(Clone)]
enum Under {
    General,
    Defender { key_id: Uuid, key: DataKey },
}

/// A caller's reason, in memory only until it is sealed into an event.
#[derive(Clone)]
pub(crate) struct Reason {
    text: Arc<Zeroizing<String>>,
    under: Under,
}

impl std::fmt::Debug for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reason([redacted])")
    }
}

impl Reason {
    pub(crate) fn new(text: String) -> Self {
        Self {
            text: Arc::new(Zeroizing::new(text)),
            under: Under::General,
        }
    }

    /// The same text, to be sealed under a defender's data key.
    pub(crate) fn about_defender(&self, key_id: Uuid, key: &DataKey) -> Self {
        Self {
            text: self.text.clone(),
            under: Under::Defender {
                key_id,
                key: key.clone(),
            },
        }
    }

    /// The stored form of this reason in the event `event_id`.
    pub(crate) fn seal(&self, keys: &AuditKeys, event_id: Uuid) -> String {
        match &self.under {
            Under::General => format!(
                "{GENERAL}{}",
                keys.reason_key()
                    .encrypt(self.text.as_bytes(), &aad(event_id))
            ),
            Under::Defender { key_id, key } => format!(
                "{DEFENDER}{key_id}:{}",
                key.encrypt(self.text.as_bytes(), &aad(event_id))
            ),
        }
    }
}

/// A stored reason, parsed.
pub(crate) enum Stored<'a> {
    General(&'a str),
    Defender(Uuid, &'a str),
    /// Written before reasons were sealed.
    Plain(&'a str),
}

pub(crate) fn parse(stored: &str) -> Stored<'_> {
    if let Some(rest) = stored.strip_prefix(GENERAL) {
        return Stored::General(rest);
    }
    if let Some((id, sealed)) = stored
        .strip_prefix(DEFENDER)
        .and_then(|rest| rest.split_once(':'))
    {
        if let Ok(id) = id.parse() {
            return Stored::Defender(id, sealed);
        }
    }
    Stored::Plain(stored)
}

/// Opens a sealed reason with its key; `None` if it does not open.
pub(crate) fn open(key: &DataKey, event_id: Uuid, sealed: &str) -> Option<String> {
    let bytes = key.decrypt(sealed, &aad(event_id)).ok()?;
    String::from_utf8(bytes.to_vec()).ok()
}
