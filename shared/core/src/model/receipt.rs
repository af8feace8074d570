//! Delivery receipts: what a provider reports about a message after it
//! accepted it, normalized across providers.
//!
//! A receipt only moves a delivery forward ([`ReceiptStatus::rank`]): a late
//! `sent` never overwrites `delivered`, and the same receipt twice changes
//! nothing, so providers' retries and out-of-order callbacks are harmless.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::ids::{ProjectId, VerificationId};
use crate::model::UserRef;

/// Where a message stands according to its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// The provider handed the message on (to the carrier, to the receiving server).
    Sent,
    /// The handset or the receiving mail server took it.
    Delivered,
    /// The provider or the carrier gave up (SMS undelivered, email dropped).
    Failed,
    /// The receiving mail server refused it.
    Bounced,
    /// The recipient marked it as spam.
    Complained,
}

impl ReceiptStatus {
    pub const ALL: [ReceiptStatus; 5] = [Self::Sent, Self::Delivered, Self::Failed, Self::Bounced, Self::Complained];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Bounced => "bounced",
            Self::Complained => "complained",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// How far along a delivery this status is. A stored receipt is replaced
    /// only by one of a higher rank: `sent` < `delivered` < `failed` =
    /// `bounced` < `complained`. A failure after `delivered` is kept (a
    /// carrier's late verdict is the more informative one); a complaint
    /// follows a delivery and overrides everything.
    pub fn rank(self) -> u8 {
        match self {
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Failed | Self::Bounced => 3,
            Self::Complained => 4,
        }
    }

    /// Whether this status means the code did not reach the end user.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Bounced)
    }
}

/// The furthest receipt stored on a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReceipt {
    pub status: ReceiptStatus,
    /// The provider's reason for a failure (its error code and words), never
    /// the recipient. At most [`DeliveryReceipt::MAX_REASON`] characters.
    pub reason: Option<String>,
    /// When we recorded it.
    pub at: UnixTime,
}

impl DeliveryReceipt {
    pub const MAX_REASON: usize = 200;

    /// A receipt with its reason cut to [`Self::MAX_REASON`] printable characters.
    pub fn new(status: ReceiptStatus, reason: Option<&str>, at: UnixTime) -> Self {
        let reason = reason
            .map(|r| r.chars().filter(|c| !c.is_control()).take(Self::MAX_REASON).collect::<String>())
            .filter(|r| !r.trim().is_empty());
        Self { status, reason, at }
    }
}

/// Which verification a message carried: attached to every message we send
/// (as the provider's metadata, custom argument, tag or callback URL) and
/// handed back in the provider's receipts, so a receipt finds its record
/// without an index. Carries no secret: a project id, a verification id and
/// the end user's blind index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRef {
    pub project_id: ProjectId,
    pub verification_id: VerificationId,
    pub user_ref: UserRef,
    /// The message went through the project's fallback channel. Said by
    /// the message itself, because a provider's account-wide webhook may
    /// post both channels' receipts to one channel's endpoint.
    pub fallback: bool,
}

impl DeliveryRef {
    /// Length of [`DeliveryRef::encode`]'s output.
    pub const ENCODED_LEN: usize = 66;

    /// The project id, the verification id and the end user's blind index
    /// (16 bytes each) and the route (one byte) in base64url without
    /// padding: 66 characters of letters, digits, `-` and `_`, within what
    /// every provider keeps (Postmark's 80-character metadata values, SES's
    /// tag alphabet). `None` if the blind index is not 16 bytes of hex
    /// (never, for ours).
    pub fn encode(&self) -> Option<String> {
        use base64::Engine as _;
        let user: [u8; 16] = hex::decode(self.user_ref.as_str()).ok()?.try_into().ok()?;
        let mut raw = Vec::with_capacity(49);
        raw.extend_from_slice(&self.project_id.to_bytes());
        raw.extend_from_slice(&self.verification_id.to_bytes());
        raw.extend_from_slice(&user);
        raw.push(u8::from(self.fallback));
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
    }

    pub fn parse(s: &str) -> Option<Self> {
        use base64::Engine as _;
        if s.len() != Self::ENCODED_LEN {
            return None;
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()?;
        let part = |i: usize| -> Option<[u8; 16]> { raw.get(i * 16..(i + 1) * 16)?.try_into().ok() };
        let fallback = match raw.get(48) {
            Some(0) => false,
            Some(1) => true,
            _ => return None,
        };
        Some(Self {
            project_id: ProjectId::from_bytes(part(0)?),
            verification_id: VerificationId::from_bytes(part(1)?),
            user_ref: UserRef::from_hex(hex::encode(part(2)?)),
            fallback,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_survives_its_encoding_and_nothing_else_parses() {
        let r = DeliveryRef {
            project_id: ProjectId::generate(),
            verification_id: VerificationId::generate(),
            user_ref: UserRef::from_hex("0a1b2c3d4e5f60718293a4b5c6d7e8f9".into()),
            fallback: true,
        };
        let s = r.encode().unwrap();
        assert_eq!(s.len(), DeliveryRef::ENCODED_LEN);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "{s}");
        assert_eq!(DeliveryRef::parse(&s), Some(r.clone()));
        for bad in ["", "x", &s[1..], &format!("{s}A"), &s.replacen(&s[..1], "*", 1), &"a".repeat(300)] {
            assert_eq!(DeliveryRef::parse(bad), None, "{bad}");
        }
        let primary = DeliveryRef { fallback: false, ..r.clone() };
        assert_eq!(DeliveryRef::parse(&primary.encode().unwrap()), Some(primary));
        let long = DeliveryRef { user_ref: UserRef::from_hex("ab".repeat(32)), ..r };
        assert_eq!(long.encode(), None, "only 16-byte blind indexes are ours");
    }

    #[test]
    fn receipts_only_move_forward() {
        use ReceiptStatus::*;
        assert!(Sent.rank() < Delivered.rank());
        assert!(Delivered.rank() < Failed.rank());
        assert_eq!(Failed.rank(), Bounced.rank());
        assert!(Bounced.rank() < Complained.rank());
        for s in ReceiptStatus::ALL {
            assert_eq!(ReceiptStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_reason_is_bounded_and_printable() {
        let r = DeliveryReceipt::new(ReceiptStatus::Failed, Some(&format!("bad\nline{}", "x".repeat(500))), 1);
        let reason = r.reason.unwrap();
        assert_eq!(reason.chars().count(), DeliveryReceipt::MAX_REASON);
        assert!(!reason.contains('\n'));
        assert_eq!(DeliveryReceipt::new(ReceiptStatus::Sent, Some(" "), 1).reason, None);
    }
}
