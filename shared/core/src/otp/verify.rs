//! `POST /otp/verify`.
//!
//! Every path: 1 read (the project), 1 conditional update that counts the
//! check and compares it at once (refused when the code is used, expired or
//! out of attempts, in which case the store returns the record as it was, so
//! explaining the refusal costs no extra read), and 1 log write: 2 writes.

use serde_json::json;
use tracing::Instrument;

use super::request::parse_verify;
use super::webhook::{EventType, emit};
use super::{OpenProject, OtpService, Subject, check_iat, write_log};
use crate::clock::UnixTime;
use crate::error::VerifyError;
use crate::ids::VerificationId;
use crate::model::{CheckVerdict, LogLevel, UserRef, Verification};
use crate::types::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub status: VerifyStatus,
    /// Checks left for the current code, after an `invalid_code` or `device_mismatch`.
    pub attempts_left: Option<u32>,
    pub verification_id: Option<VerificationId>,
}

impl OtpService {
    /// `public_key` and `encrypted_data` as posted (DESIGN §4).
    pub async fn verify(&self, public_key: &str, encrypted_data: &str) -> Result<VerifyOutcome, VerifyError> {
        let open = self.open_project::<VerifyError>(public_key).await?;
        let span =
            tracing::info_span!("verify", project_id = %open.project.id, verification_id = tracing::field::Empty);
        async move {
            let now = self.clock.now();
            match self.verify_opened(&open, encrypted_data, now).await {
                Ok(outcome) => Ok(outcome),
                Err(e) => {
                    let failed_on_our_side = e.is_failure_on_our_side();
                    self.log_rejection(&open, "otp.verify_rejected", "Verify", e.kind(), &e, failed_on_our_side, now)
                        .await;
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
        encrypted_data: &str,
        now: UnixTime,
    ) -> Result<VerifyOutcome, VerifyError> {
        let r = parse_verify(&open.decrypt(encrypted_data)?.0)?;
        check_iat(r.iat, now)?;
        let (project, key) = (&open.project, &open.key);
        // Counted once the request is known to come from the project's backend.
        self.quotas.admit(project.id, project.settings.quota, now).await?;
        let user_ref = key.blind_index("end_user", r.user_id.as_str());
        let code_mac = key.mac("otp_code", &[user_ref.as_str(), r.code.expose()]);
        let device_mac = r.device.as_ref().map(|d| key.mac("device", &[user_ref.as_str(), d.as_str()]));

        let outcome = self.store.check_code(project.id, &user_ref, &code_mac, device_mac.as_ref(), now).await?;
        let (status, attempts_left) = match outcome.verdict(device_mac.as_ref(), now) {
            CheckVerdict::Approved => (VerifyStatus::Approved, None),
            CheckVerdict::WrongCode { attempts_left } => (VerifyStatus::InvalidCode, Some(attempts_left)),
            CheckVerdict::DeviceMismatch { attempts_left } => (VerifyStatus::DeviceMismatch, Some(attempts_left)),
            CheckVerdict::NotFound => (VerifyStatus::NotFound, None),
            CheckVerdict::Expired => (VerifyStatus::Expired, None),
            CheckVerdict::MaxAttemptsReached => (VerifyStatus::MaxAttemptsReached, None),
        };
        let record = outcome.record();
        let answer = VerifyOutcome { status, attempts_left, verification_id: record.map(|v| v.verification_id) };
        self.after_check(open, &user_ref, &r.user_id, record, &answer, now).await;
        Ok(answer)
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
