//! The verification state machine.
//!
//! One record per (project, end user) holds the end user's current code;
//! a new generate replaces it, which is how a newer code supersedes an older
//! one. States:
//!
//! ```text
//!            generate                      verify(correct, in time, attempts left)
//!   (none) ───────────▶ Pending ─────────────────────────────────────────▶ Approved
//!                        │  ▲ verify(wrong): attempts += 1
//!                        └──┘ (until attempts == max_attempts)
//! ```
//! `Expired` and `MaxAttemptsReached` are not stored: they follow from
//! `expires_at` and `attempts` at check time. Every transition is a single
//! conditional write in the store.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::{Mac, Sealed};
use crate::ids::{ProjectId, VerificationId};
use crate::model::UserRef;
use crate::types::Lang;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    Pending,
    Approved,
}

impl VerificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            _ => None,
        }
    }
}

/// Where the delivery of the current code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// A delivery job is on the queue.
    Queued,
    /// A worker holds the delivery until `delivery_lease_until`.
    Claimed,
    /// The provider accepted the message.
    Sent,
    /// Nothing to deliver: a `template_request` (the client sends it itself).
    NotRequired,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Claimed => "claimed",
            Self::Sent => "sent",
            Self::NotRequired => "not_required",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Claimed, Self::Sent, Self::NotRequired].into_iter().find(|d| d.as_str() == s)
    }
}

/// The stored record of an end user and their current code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub project_id: ProjectId,
    pub user_ref: UserRef,
    /// The client's id for the end user, sealed (entity `end_user`).
    pub user_id: Sealed,
    pub verification_id: VerificationId,
    /// Keyed MAC of the code: the code itself is never stored.
    pub code_mac: Mac,
    pub device_mac: Option<Mac>,
    /// Sealed destination (entity `verification`, field `recipient`).
    pub recipient: Sealed,
    /// Requested language; `None`: the template's default.
    pub lang: Option<Lang>,
    pub status: VerificationStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub sent_at: UnixTime,
    pub expires_at: UnixTime,
    pub delivery: DeliveryState,
    pub delivery_lease_until: Option<UnixTime>,
    /// When this end user was first seen in the project.
    pub first_seen: UnixTime,
}

/// Rate limit on sends to one destination (keyed by its blind index) in a
/// fixed window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationLimit {
    pub destination: Mac,
    pub window_start: UnixTime,
    pub window_seconds: u32,
    pub max_sends: u32,
}

impl DestinationLimit {
    pub fn window_end(&self) -> UnixTime {
        self.window_start + self.window_seconds as i64
    }
}

/// A verification to start, and the limits the store checks atomically with it.
#[derive(Debug, Clone)]
pub struct NewVerification {
    pub record: Verification,
    /// Refuse if the previous code for this user was sent less than this ago.
    pub cooldown_seconds: u32,
    /// Count one send against the destination's window; `None` when nothing is sent.
    pub destination_limit: Option<DestinationLimit>,
}

/// Why a code check did not approve, decided from the stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckRejection {
    /// No code for this user, or the code was already used.
    NotFound,
    Expired,
    MaxAttemptsReached,
    DeviceMismatch,
    WrongCode,
}

impl CheckRejection {
    /// Classifies a failed approval. The order matters: a used or missing
    /// code says nothing more; an expired or exhausted code does not reveal
    /// whether the guess was right; the device is checked before the code.
    pub fn classify(record: Option<&Verification>, device_mac: Option<&Mac>, now: UnixTime) -> Self {
        let Some(v) = record else { return Self::NotFound };
        if v.status != VerificationStatus::Pending {
            return Self::NotFound;
        }
        if v.expires_at <= now {
            return Self::Expired;
        }
        if v.attempts >= v.max_attempts {
            return Self::MaxAttemptsReached;
        }
        let device_ok = match (&v.device_mac, device_mac) {
            (None, _) => true,
            (Some(stored), Some(given)) => stored.ct_eq(given),
            (Some(_), None) => false,
        };
        if !device_ok {
            return Self::DeviceMismatch;
        }
        // Everything but the code held, so the code was wrong. (Should the
        // record have changed between the refused write and this read,
        // counting a wrong guess is the safe side.)
        Self::WrongCode
    }

    /// Whether the check counts against `max_attempts`.
    pub fn counts_as_attempt(self) -> bool {
        matches!(self, Self::DeviceMismatch | Self::WrongCode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Verification {
        Verification {
            project_id: ProjectId::generate(),
            user_ref: Mac::from_hex("u".into()),
            user_id: Sealed::from_bytes(vec![]),
            verification_id: VerificationId::generate(),
            code_mac: Mac::from_hex("right".into()),
            device_mac: Some(Mac::from_hex("phone".into())),
            recipient: Sealed::from_bytes(vec![]),
            lang: None,
            status: VerificationStatus::Pending,
            attempts: 0,
            max_attempts: 3,
            sent_at: 100,
            expires_at: 200,
            delivery: DeliveryState::Queued,
            delivery_lease_until: None,
            first_seen: 100,
        }
    }

    fn m(s: &str) -> Mac {
        Mac::from_hex(s.into())
    }

    #[test]
    fn classification_order() {
        let phone = m("phone");
        let mut v = record();
        assert_eq!(CheckRejection::classify(None, None, 150), CheckRejection::NotFound);
        assert_eq!(CheckRejection::classify(Some(&v), Some(&phone), 150), CheckRejection::WrongCode);
        assert_eq!(CheckRejection::classify(Some(&v), None, 150), CheckRejection::DeviceMismatch);
        assert_eq!(CheckRejection::classify(Some(&v), Some(&phone), 200), CheckRejection::Expired);
        v.attempts = 3;
        assert_eq!(CheckRejection::classify(Some(&v), Some(&phone), 150), CheckRejection::MaxAttemptsReached);
        v.status = VerificationStatus::Approved;
        assert_eq!(CheckRejection::classify(Some(&v), Some(&phone), 150), CheckRejection::NotFound);
    }

    #[test]
    fn no_device_at_generate_means_any_device_at_verify() {
        let mut v = record();
        v.device_mac = None;
        assert_eq!(CheckRejection::classify(Some(&v), Some(&m("other")), 150), CheckRejection::WrongCode);
    }
}
