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

/// Why an `X-Audit-Reason` header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderRefusal {
    /// Longer than [`MAX_CHARS`] as sent.
    TooLong,
    /// Neither visible ASCII nor `UTF-8''` and percent-encoded UTF-8, or it
    /// holds a control character once decoded.
    Invalid,
}

/// The prefix of a reason sent percent-encoded (RFC 8187's `ext-value`,
/// without a language): `UTF-8''co%C3%B6rdinator%20vroeg%20erom`.
const EXTENDED: &str = "utf-8''";

/// An `X-Audit-Reason` header's text: visible ASCII as sent, or UTF-8 sent
/// as RFC 8187 does for parameters (`UTF-8''` and the percent-encoded bytes,
/// the charset in any case), so that "coördinator" can be said. Blank is
/// none. The limit is on the header as sent.
pub(crate) fn from_header(value: &[u8]) -> Result<Option<String>, HeaderRefusal> {
    if value.len() > MAX_CHARS {
        return Err(HeaderRefusal::TooLong);
    }
    let sent = std::str::from_utf8(value).map_err(|_| HeaderRefusal::Invalid)?;
    if !sent
        .bytes()
        .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b))
    {
        return Err(HeaderRefusal::Invalid);
    }
    let text = match sent.get(..EXTENDED.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(EXTENDED) => {
            let encoded = &sent[EXTENDED.len()..];
            // RFC 8187 sends every other byte encoded: a space or a stray
            // `%` is a client's mistake, not text to guess at
            let well_formed = encoded.bytes().enumerate().all(|(i, b)| match b {
                b'%' => encoded
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.bytes().all(|d| d.is_ascii_hexdigit())),
                _ => b.is_ascii_graphic(),
            });
            if !well_formed {
                return Err(HeaderRefusal::Invalid);
            }
            let decoded = percent_encoding::percent_decode_str(encoded)
                .decode_utf8()
                .map_err(|_| HeaderRefusal::Invalid)?;
            if decoded.chars().any(|c| c.is_control() && c != '\t') {
                return Err(HeaderRefusal::Invalid);
            }
            decoded.into_owned()
        }
        _ => sent.to_owned(),
    };
    Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
}

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

#[cfg(test)]
mod header_tests {
    use super::*;

    #[test]
    fn ascii_is_taken_as_sent_and_utf8_in_its_rfc_8187_form() {
        assert_eq!(
            from_header(b" asked by the family "),
            Ok(Some("asked by the family".to_owned()))
        );
        assert_eq!(
            from_header(b"UTF-8''co%C3%B6rdinator%20vroeg%20erom"),
            Ok(Some("coördinator vroeg erom".to_owned()))
        );
        assert_eq!(
            from_header(b"utf-8''%E2%80%9Cgevaar%E2%80%9D"),
            Ok(Some("\u{201c}gevaar\u{201d}".to_owned()))
        );
        assert_eq!(from_header(b"   "), Ok(None));
        assert_eq!(from_header(b"UTF-8''%20"), Ok(None));
    }

    #[test]
    fn malformed_encodings_control_characters_and_raw_bytes_are_refused() {
        for bad in [
            &b"UTF-8''%C3"[..],         // a byte sequence cut short
            b"UTF-8''%ZZ",              // not hexadecimal
            b"UTF-8''50%",              // a stray percent sign
            b"UTF-8''two words",        // a space not encoded
            b"UTF-8''%0Aforged%20line", // a line break, decoded
            b"co\xc3\xb6rdinator",      // raw UTF-8 bytes
            b"line\x01",                // a control character
        ] {
            assert_eq!(from_header(bad), Err(HeaderRefusal::Invalid), "{bad:?}");
        }
        assert_eq!(
            from_header(&[b'a'; MAX_CHARS]).map(|t| t.map(|t| t.len())),
            Ok(Some(MAX_CHARS))
        );
        assert_eq!(
            from_header(&[b'a'; MAX_CHARS + 1]),
            Err(HeaderRefusal::TooLong)
        );
    }
}
