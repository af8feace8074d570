//! `POST /otp/verify`.
//!
//! Approve path: 1 read (project), 1 conditional update that checks code,
//! state, attempts, device and expiry at once, 1 log write. Wrong code: the
//! refused update returns the old record (no extra read), then 1 conditional
//! increment of the attempt counter, then the log: 3 writes.

use serde::Serialize;
use serde_json::json;
use tracing::Instrument;

use super::request::parse_verify;
use super::webhook::{EventType, emit};
use super::{EncryptedRequest, OpenProject, OtpService, Subject, check_iat, write_log};
use crate::clock::UnixTime;
use crate::crypto::Mac;
use crate::error::ApiError;
use crate::ids::VerificationId;
use crate::model::{CheckRejection, LogLevel, UserRef, Verification};
use crate::types::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyStatus {
    Approved,
    InvalidCode,
    Expired,
    MaxAttemptsReached,
    DeviceMismatch,
    NotFound,
}

impl VerifyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::InvalidCode => "invalid_code",
            Self::Expired => "expired",
            Self::MaxAttemptsReached => "max_attempts_reached",
            Self::DeviceMismatch => "device_mismatch",
            Self::NotFound => "not_found",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyOutcome {
    pub status: VerifyStatus,
    /// Checks left for the current code, after an `invalid_code` or `device_mismatch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_id: Option<VerificationId>,
}

impl OtpService {
    pub async fn verify(&self, req: &EncryptedRequest) -> Result<VerifyOutcome, ApiError> {
        let open = self.open_project(&req.public_key).await?;
        let span =
            tracing::info_span!("verify", project_id = %open.project.id, verification_id = tracing::field::Empty);
        async move {
            let now = self.clock.now();
            match self.verify_opened(&open, req, now).await {
                Ok(outcome) => Ok(outcome),
                Err(e) => {
                    self.log_rejection(&open, "otp.verify_rejected", "Verify", &e, now).await;
                    Err(e)
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn verify_opened(
        &self,
        open: &OpenProject,
        req: &EncryptedRequest,
        now: UnixTime,
    ) -> Result<VerifyOutcome, ApiError> {
        let r = parse_verify(&open.decrypt(&req.encrypted_data)?)?;
        check_iat(r.iat, now)?;
        let (project, key) = (&open.project, &open.key);
        let user_ref = key.blind_index("end_user", r.user_id.as_str());
        let code_mac = key.mac("otp_code", &[user_ref.as_str(), r.code.expose()]);
        let device_mac = r.device.as_ref().map(|d| key.mac("device", &[user_ref.as_str(), d.as_str()]));

        let refused = match self.store.approve(project.id, &user_ref, &code_mac, device_mac.as_ref(), now).await? {
            Ok(v) => {
                let outcome = VerifyOutcome {
                    status: VerifyStatus::Approved,
                    attempts_left: None,
                    verification_id: Some(v.verification_id),
                };
                self.after_check(open, &user_ref, &r.user_id, Some(&v), &outcome, now).await;
                return Ok(outcome);
            }
            Err(previous) => previous,
        };

        let (outcome, record) = self.refuse(open, &user_ref, device_mac.as_ref(), refused, now).await?;
        self.after_check(open, &user_ref, &r.user_id, record.as_ref(), &outcome, now).await;
        Ok(outcome)
    }

    /// Decides the answer for a refused approval, counting the attempt when
    /// the check was a real guess (wrong code or wrong device).
    async fn refuse(
        &self,
        open: &OpenProject,
        user_ref: &UserRef,
        device_mac: Option<&Mac>,
        mut record: Option<Verification>,
        now: UnixTime,
    ) -> Result<(VerifyOutcome, Option<Verification>), ApiError> {
        // A second round only happens if the record changed under us (a new
        // code superseded it, or concurrent guesses used the last attempts).
        for round in 0..2 {
            let rejection = CheckRejection::classify(record.as_ref(), device_mac, now);
            let status = match rejection {
                CheckRejection::NotFound => VerifyStatus::NotFound,
                CheckRejection::Expired => VerifyStatus::Expired,
                CheckRejection::MaxAttemptsReached => VerifyStatus::MaxAttemptsReached,
                CheckRejection::DeviceMismatch => VerifyStatus::DeviceMismatch,
                CheckRejection::WrongCode => VerifyStatus::InvalidCode,
            };
            let vid = record.as_ref().map(|v| v.verification_id);
            let counted = rejection.counts_as_attempt();
            let Some(v) = record.as_ref().filter(|_| counted && round == 0) else {
                let attempts_left =
                    record.as_ref().filter(|_| counted).map(|v| v.max_attempts.saturating_sub(v.attempts));
                return Ok((VerifyOutcome { status, attempts_left, verification_id: vid }, record));
            };
            match self.store.record_failed_attempt(open.project.id, user_ref, v.verification_id, now).await? {
                Ok(used) => {
                    let mut v = v.clone();
                    v.attempts = used;
                    let left = v.max_attempts.saturating_sub(used);
                    return Ok((VerifyOutcome { status, attempts_left: Some(left), verification_id: vid }, Some(v)));
                }
                Err(changed) => record = changed,
            }
        }
        unreachable!("the second round always returns")
    }

    /// The log entry and webhook event for a finished check.
    async fn after_check(
        &self,
        open: &OpenProject,
        user_ref: &UserRef,
        user_id: &UserId,
        record: Option<&Verification>,
        outcome: &VerifyOutcome,
        now: UnixTime,
    ) {
        let project = &open.project;
        let left = outcome.attempts_left;
        let (level, event, message, webhook) = match outcome.status {
            VerifyStatus::Approved => {
                (LogLevel::Success, "otp.approved", "Code approved".to_string(), Some(EventType::Approved))
            }
            VerifyStatus::InvalidCode if left == Some(0) => (
                LogLevel::Danger,
                "otp.max_attempts_reached",
                "Wrong code; no attempts left".to_string(),
                Some(EventType::MaxAttemptsReached),
            ),
            VerifyStatus::InvalidCode => (
                LogLevel::Warning,
                "otp.invalid_code",
                format!("Wrong code; {} attempt(s) left", left.unwrap_or(0)),
                Some(EventType::Failed),
            ),
            VerifyStatus::DeviceMismatch => (
                LogLevel::Warning,
                "otp.device_mismatch",
                format!("Code checked from another device; {} attempt(s) left", left.unwrap_or(0)),
                Some(if left == Some(0) { EventType::MaxAttemptsReached } else { EventType::Failed }),
            ),
            VerifyStatus::Expired => (
                LogLevel::Warning,
                "otp.expired",
                "Code checked after it expired".to_string(),
                Some(EventType::Expired),
            ),
            VerifyStatus::MaxAttemptsReached => {
                (LogLevel::Danger, "otp.max_attempts_reached", "Check refused: no attempts left".to_string(), None)
            }
            VerifyStatus::NotFound => {
                (LogLevel::Warning, "otp.not_found", "Verify: no pending code for this user".to_string(), None)
            }
        };
        let mut about = Subject::project(project, now).user(user_ref);
        if let Some(v) = record {
            tracing::Span::current().record("verification_id", tracing::field::display(v.verification_id));
            about = about.verification(v.verification_id);
        }
        write_log(self.store.as_ref(), about, level, event, message).await;
        if let Some(kind) = webhook {
            let data = json!({ "status": outcome.status.as_str(), "attempts_left": left });
            emit(self.queue.as_ref(), about, &open.key, kind, Some(user_id.as_str()), data).await;
        }
    }
}
