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
use crate::model::{DeliveryReceipt, UserRef};
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
    /// The provider refused it for good, or every retry failed: the code
    /// goes out through the project's fallback channel, if it has one.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Claimed => "claimed",
            Self::Sent => "sent",
            Self::NotRequired => "not_required",
            Self::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Claimed, Self::Sent, Self::NotRequired, Self::Failed].into_iter().find(|d| d.as_str() == s)
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
    /// The provider's id of the message that carried this code, once sent.
    pub provider_message_id: Option<String>,
    /// When this end user was first seen in the project.
    pub first_seen: UnixTime,
    /// The furthest delivery receipt of the message that carried this code.
    pub receipt: Option<DeliveryReceipt>,
    /// The code's delivery moved to the project's fallback channel (at most
    /// once per code: see [`crate::ports::VerificationStore::start_fallback`]).
    pub fallback: bool,
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

/// What a delivery claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The caller now holds the delivery until its lease ends; `fallback`:
    /// send it through the project's fallback channel.
    Claimed { fallback: bool },
    /// Another worker holds it until `until` (or held it and died): retry
    /// after that, never drop, or a code whose first worker crashed would
    /// never be sent.
    Held { until: UnixTime },
    /// Nothing to deliver any more: superseded, expired, used, or sent.
    Gone,
}

impl ClaimOutcome {
    /// Explains a refused claim of verification `id` from the record as
    /// the refused write found it.
    pub fn refused(record: Option<&Verification>, id: VerificationId, now: UnixTime) -> Self {
        match record {
            Some(v)
                if v.verification_id == id
                    && v.status == VerificationStatus::Pending
                    && v.expires_at > now
                    && v.delivery == DeliveryState::Claimed =>
            {
                // A lease that elapsed would have been taken over, so this
                // one still runs; `now + 1` guards a record without a lease.
                Self::Held { until: v.delivery_lease_until.unwrap_or(now + 1).max(now + 1) }
            }
            _ => Self::Gone,
        }
    }
}

/// What the store did with one code check. Counting and comparing happen in
/// the same conditional write, so no guess is ever compared without being
/// counted: concurrent guesses cannot exceed `max_attempts` comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The check was counted against `max_attempts` and compared: the record
    /// after the write, `Approved` when code and device matched.
    Counted(Verification),
    /// Neither counted nor compared (no current code, already used, expired
    /// or out of attempts): the record as the refused write found it.
    Refused(Option<Verification>),
}

/// The answer to a check, decided from what the store did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckVerdict {
    Approved,
    WrongCode {
        attempts_left: u32,
    },
    DeviceMismatch {
        attempts_left: u32,
    },
    /// No code for this user, or the code was already used.
    NotFound,
    Expired,
    MaxAttemptsReached,
}

impl Verification {
    /// Whether `given` satisfies the device bound at generate (none bound:
    /// any device, or none, will do).
    pub fn device_matches(&self, given: Option<&Mac>) -> bool {
        match (&self.device_mac, given) {
            (None, _) => true,
            (Some(stored), Some(given)) => stored.ct_eq(given),
            (Some(_), None) => false,
        }
    }
}

impl CheckOutcome {
    /// The verdict. A counted check that did not approve was a wrong device
    /// (reported first: it says nothing about the code) or a wrong code. A
    /// refused one is explained from the record as it was, without saying
    /// whether the guess was right.
    pub fn verdict(&self, device_mac: Option<&Mac>, now: UnixTime) -> CheckVerdict {
        match self {
            Self::Counted(v) if v.status == VerificationStatus::Approved => CheckVerdict::Approved,
            Self::Counted(v) => {
                let attempts_left = v.max_attempts.saturating_sub(v.attempts);
                if v.device_matches(device_mac) {
                    CheckVerdict::WrongCode { attempts_left }
                } else {
                    CheckVerdict::DeviceMismatch { attempts_left }
                }
            }
            Self::Refused(None) => CheckVerdict::NotFound,
            Self::Refused(Some(v)) if v.status != VerificationStatus::Pending => CheckVerdict::NotFound,
            Self::Refused(Some(v)) if v.expires_at <= now => CheckVerdict::Expired,
            // Refused while pending and unexpired: out of attempts (the
            // store's condition has no other reason to refuse).
            Self::Refused(Some(_)) => CheckVerdict::MaxAttemptsReached,
        }
    }

    /// The record the verdict is about, if any.
    pub fn record(&self) -> Option<&Verification> {
        match self {
            Self::Counted(v) => Some(v),
            Self::Refused(v) => v.as_ref(),
        }
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
            provider_message_id: None,
            first_seen: 100,
            receipt: None,
            fallback: false,
        }
    }

    fn m(s: &str) -> Mac {
        Mac::from_hex(s.into())
    }

    #[test]
    fn verdicts() {
        let phone = m("phone");
        let mut v = record();
        v.attempts = 1;
        let counted = |v: &Verification| CheckOutcome::Counted(v.clone());
        assert_eq!(counted(&v).verdict(Some(&phone), 150), CheckVerdict::WrongCode { attempts_left: 2 });
        assert_eq!(counted(&v).verdict(None, 150), CheckVerdict::DeviceMismatch { attempts_left: 2 });
        assert_eq!(counted(&v).verdict(Some(&m("laptop")), 150), CheckVerdict::DeviceMismatch { attempts_left: 2 });
        v.status = VerificationStatus::Approved;
        assert_eq!(counted(&v).verdict(Some(&phone), 150), CheckVerdict::Approved);

        let refused = |v: &Verification| CheckOutcome::Refused(Some(v.clone()));
        assert_eq!(CheckOutcome::Refused(None).verdict(None, 150), CheckVerdict::NotFound);
        assert_eq!(refused(&v).verdict(Some(&phone), 150), CheckVerdict::NotFound, "already used");
        v.status = VerificationStatus::Pending;
        assert_eq!(refused(&v).verdict(Some(&phone), 200), CheckVerdict::Expired);
        v.attempts = 3;
        assert_eq!(refused(&v).verdict(Some(&phone), 150), CheckVerdict::MaxAttemptsReached);
    }

    #[test]
    fn no_device_at_generate_means_any_device_at_verify() {
        let mut v = record();
        v.device_mac = None;
        assert!(v.device_matches(Some(&m("other"))));
        assert!(v.device_matches(None));
        v.attempts = 1;
        assert_eq!(
            CheckOutcome::Counted(v).verdict(Some(&m("other")), 150),
            CheckVerdict::WrongCode { attempts_left: 2 }
        );
    }
}
