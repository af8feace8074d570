//! Delivery receipts: what a provider reports about a message after it
//! accepted it, normalized across providers.
//!
//! A receipt only moves a delivery forward ([`ReceiptStatus::rank`]): a late
//! `sent` never overwrites `delivered`, and the same receipt twice changes
//! nothing, so providers' retries and out-of-order callbacks are harmless.

use std::fmt;

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
}

impl DeliveryRef {
    /// Longest encoded form accepted by [`DeliveryRef::parse`].
    pub const MAX_LEN: usize = 200;

    /// `<project id>-<verification id>-<user ref>`: letters, digits, `_`
    /// and `-` only (SES message tags allow nothing else).
    pub fn encode(&self) -> String {
        format!("{}-{}-{}", self.project_id, self.verification_id, self.user_ref.as_str())
    }

    pub fn parse(s: &str) -> Option<Self> {
        if s.len() > Self::MAX_LEN {
            return None;
        }
        let mut parts = s.splitn(3, '-');
        let project_id = ProjectId::parse(parts.next()?).ok()?;
        let verification_id = VerificationId::parse(parts.next()?).ok()?;
        let user_ref = parts.next()?;
        if user_ref.is_empty() || !user_ref.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Self { project_id, verification_id, user_ref: UserRef::from_hex(user_ref.to_owned()) })
    }
}

impl fmt::Display for DeliveryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
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
            user_ref: UserRef::from_hex("ab".repeat(32)),
        };
        let s = r.encode();
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "{s}");
        assert_eq!(DeliveryRef::parse(&s), Some(r.clone()));
        for bad in ["", "x", &s.replacen("prj_", "cli_", 1), &format!("{s}-"), &format!("{s}zz"), &"a".repeat(300)] {
            assert_eq!(DeliveryRef::parse(bad), None, "{bad}");
        }
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
