//! `POST /otp/generate`.
//!
//! Hot path (DESIGN §8): 1 read (the project by public key), the end user's
//! verification with the destination counter (one conditional write each on
//! DynamoDB, one transaction locally), then the queue send and the log write
//! at once. No key-vault call once the project's data key is cached.

use serde::Serialize;
use tracing::Instrument;

use super::aad::Aad;
use super::request::{GenerateRequest, parse_generate};
use super::{Admission, OpenProject, OtpService, Subject, check_iat, write_log};
use crate::clock::UnixTime;
use crate::crypto::{DataKey, payload};
use crate::error::{GenerateError, Internal, RequestError};
use crate::ids::VerificationId;
use crate::model::{
    ChannelMethod, DeliveryJob, DeliveryState, DeliveryStep, DestinationLimit, Job, LogLevel, NewVerification,
    ProjectSettings, Verification, VerificationStatus,
};
use crate::ports::StartError;
use crate::render::{RenderLimits, RenderVars, render_with_limits};
use crate::types::{Email, OtpCode, PhoneNumber, Recipient};

/// What generate did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generated {
    /// The code is on its way.
    Queued { verification_id: VerificationId, channel: ChannelMethod, expires_at: UnixTime },
    /// `template_request`: nothing sent; the rendered message, encrypted
    /// like a request (AES-256-GCM, AAD = public key).
    Template { verification_id: VerificationId, expires_at: UnixTime, encrypted_data: String },
}

#[derive(Serialize)]
struct TemplateResponsePlaintext<'a> {
    code: &'a str,
    subject: &'a str,
    body: &'a str,
    lang: &'a str,
    verification_id: VerificationId,
    expires_at: UnixTime,
}

impl OtpService {
    /// `public_key` and `encrypted_data` as posted (DESIGN §4).
    pub async fn generate(&self, public_key: &str, encrypted_data: &str) -> Result<Generated, GenerateError> {
        let open = self.open_project::<GenerateError>(public_key).await?;
        let span =
            tracing::info_span!("generate", project_id = %open.project.id, verification_id = tracing::field::Empty);
        async move {
            let now = self.clock.now();
            match self.generate_opened(&open, encrypted_data, now).await {
                Ok(outcome) => Ok(outcome),
                Err(e) => {
                    let failed_on_our_side = e.is_failure_on_our_side();
                    self.log_rejection(
                        &open,
                        "otp.generate_rejected",
                        "Generate",
                        e.kind(),
                        &e,
                        failed_on_our_side,
                        now,
                    )
                    .await;
                    Err(e)
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn generate_opened(
        &self,
        open: &OpenProject,
        encrypted_data: &str,
        now: UnixTime,
    ) -> Result<Generated, GenerateError> {
        let (plain, answer_key) = open.decrypt(encrypted_data)?;
        let r: GenerateRequest = parse_generate(&plain)?;
        check_iat(r.iat, now)?;
        let project = &open.project;
        // Counted once the request is known to come from the project's backend.
        self.quotas.admit(project.id, project.settings.quota, now).await?;
        let recipient = match project.channel_method {
            ChannelMethod::Email => Recipient::Email(Email::parse(&r.to).map_err(RequestError::from)?),
            ChannelMethod::Sms => Recipient::Phone(PhoneNumber::parse(&r.to).map_err(RequestError::from)?),
        };
        let key = &open.key;
        let settings = project.settings;
        let user_ref = key.blind_index("end_user", r.user_id.as_str());
        let verification_id = VerificationId::generate();
        tracing::Span::current().record("verification_id", tracing::field::display(verification_id));
        let vid = verification_id.to_string();
        let code = OtpCode::generate(settings.code_length);
        let expires_at = now + settings.expiration_seconds as i64;

        let end_user_aad_id = format!("{}/{}", project.id, user_ref.as_str());
        let record = Verification {
            project_id: project.id,
            user_ref: user_ref.clone(),
            user_id: key.seal_str(Aad::end_user_id(&end_user_aad_id), r.user_id.as_str()),
            verification_id,
            code_mac: key.mac("otp_code", &[user_ref.as_str(), code.expose()]),
            device_mac: r.device.as_ref().map(|d| key.mac("device", &[user_ref.as_str(), d.as_str()])),
            recipient: key.seal_str(Aad::verification_recipient(&vid), recipient.as_str()),
            lang: r.lang.clone(),
            status: VerificationStatus::Pending,
            attempts: 0,
            max_attempts: settings.max_attempts,
            sent_at: now,
            expires_at,
            delivery: if r.template_request { DeliveryState::NotRequired } else { DeliveryState::Queued },
            delivery_lease_until: None,
            provider_message_id: None,
            first_seen: now,
            receipt: None,
            fallback: false,
        };

        if r.template_request {
            return self.generate_template(open, answer_key, record, &code, r.lang.as_ref(), now).await;
        }

        let new = NewVerification {
            record,
            cooldown_seconds: settings.resend_cooldown_seconds,
            destination_limit: Some(destination_limit(key, &settings, &recipient, now)),
        };
        self.start(&new, now).await?;

        let job = Job::Delivery(DeliveryJob {
            project_id: project.id,
            user_ref: user_ref.clone(),
            verification_id,
            code: key.seal_str(Aad::job_code(&vid), code.expose()),
            recipient: key.seal_str(Aad::job_recipient(&vid), recipient.as_str()),
            lang: new.record.lang.clone(),
            step: DeliveryStep::Send,
        });
        // The queue send and the log write are independent: made at once,
        // the call waits for one round trip instead of two. Should the
        // send fail, the code is cancelled and a second entry says so.
        let logged = write_log(
            self.store.as_ref(),
            Subject::project(project, now).user(&user_ref).verification(verification_id),
            LogLevel::Info,
            "otp.generated",
            format!("Code generated for {} delivery", project.channel_method.as_str()),
        );
        let (queued, ()) = futures::join!(self.queue.enqueue(&job), logged);
        if let Err(e) = queued {
            // The code can never be delivered: cancel it so that the caller's
            // retry is not refused by the resend cooldown.
            if let Err(cancel) = self.store.cancel_verification(project.id, &user_ref, verification_id, now).await {
                tracing::error!(error = %cancel, "could not cancel an undeliverable code");
            }
            return Err(e.into());
        }
        Ok(Generated::Queued { verification_id, channel: project.channel_method, expires_at })
    }

    async fn start(&self, new: &NewVerification, now: UnixTime) -> Result<(), GenerateError> {
        self.store.start_verification(new, now).await.map_err(|e| match e {
            StartError::Cooldown { retry_after } => GenerateError::Cooldown { retry_after_seconds: retry_after.max(1) },
            StartError::DestinationLimit { retry_after } => {
                GenerateError::DestinationLimit { retry_after_seconds: retry_after.max(1) }
            }
            StartError::Store(e) => e.into(),
        })
    }

    /// `template_request`: the client sends the message itself. The code is
    /// stored (as a MAC) for verify exactly as for a delivered one.
    async fn generate_template(
        &self,
        open: &OpenProject,
        answer_key: &crate::types::SecretKey,
        record: Verification,
        code: &OtpCode,
        lang: Option<&crate::types::Lang>,
        now: UnixTime,
    ) -> Result<Generated, GenerateError> {
        let project = &open.project;
        let template = self
            .store
            .template(project.client_id, project.template_id)
            .await?
            .ok_or_else(|| Internal(format!("template of {} is missing", project.id)))?;
        let lang = lang.cloned().unwrap_or_else(|| template.default_lang.clone());
        let (used_lang, version) =
            template.version_for(&lang).ok_or_else(|| Internal(format!("template {} has no versions", template.id)))?;
        let vars = RenderVars {
            code: code.expose(),
            expires_in_seconds: project.settings.expiration_seconds,
            project_name: &project.title,
        };
        let limits = RenderLimits::for_method(project.channel_method);
        let rendered =
            render_with_limits(template.format, version, &vars, limits).map_err(|e| Internal(e.to_string()))?;

        let mut record = record;
        record.lang = Some(used_lang.clone());
        let (verification_id, expires_at, user_ref) =
            (record.verification_id, record.expires_at, record.user_ref.clone());
        let new = NewVerification {
            record,
            cooldown_seconds: project.settings.resend_cooldown_seconds,
            destination_limit: None,
        };
        self.start(&new, now).await?;

        let plaintext = serde_json::to_vec(&TemplateResponsePlaintext {
            code: code.expose(),
            subject: &rendered.subject,
            body: &rendered.body,
            lang: used_lang.as_str(),
            verification_id,
            expires_at,
        })
        .map_err(|e| Internal(e.to_string()))?;
        write_log(
            self.store.as_ref(),
            Subject::project(project, now).user(&user_ref).verification(verification_id),
            LogLevel::Info,
            "otp.generated",
            "Code generated for a template request (not sent by us)".into(),
        )
        .await;
        Ok(Generated::Template {
            verification_id,
            expires_at,
            encrypted_data: payload::seal(answer_key, &open.public_key, &plaintext),
        })
    }

    /// Leaves a trace of a refused call on the project's log, within the
    /// per-minute allowance (see [`super::RejectionSampler`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn log_rejection(
        &self,
        open: &OpenProject,
        event: &str,
        what: &str,
        kind: &str,
        e: &(dyn std::fmt::Display + Sync),
        failed_on_our_side: bool,
        now: UnixTime,
    ) {
        let Admission::Log { unlogged } = self.rejections.admit(open.project.id, now) else { return };
        let (level, message) = if failed_on_our_side {
            (LogLevel::Danger, format!("{what} failed: internal error"))
        } else {
            (LogLevel::Warning, format!("{what} refused ({kind}): {e}"))
        };
        let message = match unlogged {
            0 => message,
            n => format!("{message} ({n} more refused calls in an earlier minute were counted, not logged)"),
        };
        write_log(self.store.as_ref(), Subject::project(&open.project, now), level, event, message).await;
    }
}

/// The send limit of `recipient` in the project's current window: keyed by
/// the destination's blind index, so the counter holds no address.
pub(super) fn destination_limit(
    key: &DataKey,
    settings: &ProjectSettings,
    recipient: &Recipient,
    now: UnixTime,
) -> DestinationLimit {
    let window = settings.send_window_seconds as i64;
    DestinationLimit {
        destination: key.blind_index("destination", &recipient.canonical()),
        window_start: now - now.rem_euclid(window),
        window_seconds: settings.send_window_seconds,
        max_sends: settings.sends_per_destination,
    }
}
