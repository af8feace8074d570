//! The delivery worker: renders the project's template in the requested
//! language and sends it through the channel's provider.
//!
//! Exactly-once is impossible with an external provider; what holds here:
//! - a job for a superseded, expired, approved or already sent code is dropped;
//! - a job delivered twice (SQS is at-least-once) sends once: the worker first
//!   *claims* the delivery with a conditional write and a lease;
//! - a worker that dies mid-send leaves a lease that expires, so the queue's
//!   retry (or a redrive from the dead-letter queue) can claim it again;
//! - a provider call is cut at [`SEND_DEADLINE`], well inside the lease;
//! - once the provider accepted, the job ends even if recording `sent`
//!   fails (after retries): a lost state costs nothing, a resend a duplicate.
//!
//! Writes (DESIGN §8, at most 2): the claim, then either `sent`, or the
//! claim's release for a retry, or, when retries are exhausted or the
//! failure is permanent, a danger log entry.

use std::time::Duration;

use serde_json::json;
use tracing::Instrument;

use super::aad::Aad;
use super::webhook::{EventType, emit};
use super::{JobOutcome, RetryJob, Subject, Worker, write_log};
use crate::crypto::KeyContext;
use crate::model::{ChannelMethod, ClaimOutcome, DeliveryJob, DeliveryState, JobAttempt, LogLevel};
use crate::ports::{OutgoingMessage, ProviderCredentials, SendError};
use crate::render::{RenderLimits, RenderVars, render_with_limits};
use crate::types::{Email, PhoneNumber, Recipient};

/// How long a claim protects a delivery in progress.
///
/// The relation that keeps codes from being lost or sent twice:
/// worker run time (a provider call is cut at [`SEND_DEADLINE`], 10 s, the
/// delivery Lambda's `Timeout` is 20 s) < this lease (30 s) < the queue's
/// visibility timeout (SQS
/// `VisibilityTimeout` 60 s in `template.yaml`; the local job table's lease,
/// 60 s). A worker that dies after claiming has lost its lease before the
/// queue hands the job out again, so the redelivery sends the code; a job
/// seen while the lease still runs is retried after it, never dropped. The
/// test `delivery_lease_sits_between_function_timeout_and_visibility`
/// checks `template.yaml` against this constant.
pub const DELIVERY_LEASE_SECONDS: u32 = 30;

/// Longest a provider call may take, whatever the provider's own timeouts
/// add up to (an SMTP conversation has several steps, each with its own):
/// a send cut here is released for a retry while the lease still holds, so
/// a slow provider (or a tenant's SMTP host that stalls on purpose) cannot
/// make the lease run out under a send and the code go out twice.
pub const SEND_DEADLINE: Duration = Duration::from_secs(10);
const _: () = assert!(SEND_DEADLINE.as_secs() + 10 <= DELIVERY_LEASE_SECONDS as u64);

/// Tries of the `sent` write after the provider accepted, and the pause
/// before each retry.
const SENT_WRITE_RETRIES: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(500)];

impl Worker {
    pub async fn handle_delivery(&self, job: &DeliveryJob, attempt: JobAttempt) -> Result<JobOutcome, RetryJob> {
        let span = tracing::info_span!(
            "delivery",
            project_id = %job.project_id,
            verification_id = %job.verification_id,
            attempt = attempt.number,
        );
        self.deliver(job, attempt).instrument(span).await
    }

    async fn deliver(&self, job: &DeliveryJob, attempt: JobAttempt) -> Result<JobOutcome, RetryJob> {
        let retry = |e: &dyn std::fmt::Display| RetryJob::new(e.to_string());
        let store = self.store.as_ref();

        // Reads first, so a failure here needs no write to undo.
        let Some(project) = store.project(job.project_id).await.map_err(|e| retry(&e))? else {
            return Ok(JobOutcome::Dropped("project deleted"));
        };
        let Some(channel) = store.channel(project.client_id, project.channel_id).await.map_err(|e| retry(&e))? else {
            return Ok(JobOutcome::Dropped("channel deleted"));
        };
        let Some(template) = store.template(project.client_id, project.template_id).await.map_err(|e| retry(&e))?
        else {
            return Ok(JobOutcome::Dropped("template deleted"));
        };
        let Some(client) = store.client(project.client_id).await.map_err(|e| retry(&e))? else {
            return Ok(JobOutcome::Dropped("client deleted"));
        };
        let key = self.keys.get(&KeyContext::project(project.id), &project.data_key).await.map_err(|e| retry(&e))?;
        let client_key =
            self.keys.get(&KeyContext::client(client.id), &client.data_key).await.map_err(|e| retry(&e))?;

        let vid = job.verification_id.to_string();
        let opened = (
            key.open_string(Aad::job_code(&vid), &job.code),
            key.open_string(Aad::job_recipient(&vid), &job.recipient),
            client_key.open(Aad::channel_credentials(&channel.id.to_string()), &channel.credentials),
        );
        let (Ok(code), Ok(to), Ok(credentials)) = opened else {
            tracing::error!("delivery job or channel credentials could not be opened; dropping");
            return Ok(JobOutcome::Dropped("sealed values do not open"));
        };
        let recipient = match channel.method {
            ChannelMethod::Email => Email::parse(&to).map(Recipient::Email),
            ChannelMethod::Sms => PhoneNumber::parse(&to).map(Recipient::Phone),
        };
        let (Ok(recipient), Ok(credentials)) = (recipient, serde_json::from_slice(&credentials)) else {
            return Ok(JobOutcome::Dropped("recipient does not fit the channel"));
        };

        let now = self.clock.now();
        let claimed_until = now + DELIVERY_LEASE_SECONDS as i64;
        let claim = store
            .claim_delivery(project.id, &job.user_ref, job.verification_id, now, DELIVERY_LEASE_SECONDS)
            .await
            .map_err(|e| retry(&e))?;
        match claim {
            ClaimOutcome::Claimed => {}
            ClaimOutcome::Gone => return Ok(JobOutcome::Dropped("superseded, expired or already delivered")),
            // Another worker's claim (or the claim of one that died, or whose
            // release failed): try again once it has ended.
            ClaimOutcome::Held { until } => {
                return Err(RetryJob {
                    reason: "another delivery attempt holds the lease".into(),
                    not_before_seconds: (until - now).clamp(1, DELIVERY_LEASE_SECONDS as i64) as u32 + 1,
                });
            }
        }

        let lang = job.lang.clone().unwrap_or_else(|| template.default_lang.clone());
        let rendered = template.version_for(&lang).ok_or_else(|| "template has no versions".to_string()).and_then(
            |(_, version)| {
                let vars = RenderVars {
                    code: &code,
                    expires_in_seconds: project.settings.expiration_seconds,
                    project_name: &project.title,
                };
                render_with_limits(template.format, version, &vars, RenderLimits::for_method(channel.method))
                    .map_err(|e| e.to_string())
            },
        );
        let result = match rendered {
            Ok(r) => {
                let message =
                    OutgoingMessage { to: recipient, subject: r.subject, body: r.body, format: template.format, tracking: None };
                let credentials = ProviderCredentials(credentials);
                let sending = self.sender.send(channel.provider, &credentials, &message);
                match tokio::time::timeout(self.send_deadline, sending).await {
                    Ok(result) => result,
                    Err(_) => Err(SendError::Transient(format!(
                        "{}: no answer within {} ms",
                        channel.provider.as_str(),
                        self.send_deadline.as_millis()
                    ))),
                }
            }
            Err(reason) => Err(SendError::Permanent(reason)),
        };

        let finish = |state, message_id: Option<String>| async move {
            let (user_ref, id) = (&job.user_ref, job.verification_id);
            store.finish_delivery(project.id, user_ref, id, claimed_until, state, message_id.as_deref()).await
        };
        let (reason, permanent, not_before) = match result {
            Ok(sent) => {
                tracing::info!(provider = channel.provider.as_str(), provider_message_id = ?sent.provider_message_id, "delivered");
                // If this write fails the lease still stops duplicates for a
                // while; a retry after it would resend the same code.
                let message_id = sent.provider_message_id.filter(|id| plausible_message_id(id));
                // The provider has the message: from here on, a retry of the
                // job would send the code a second time. So the write is
                // retried here, and if it still fails the job ends anyway
                // (the claim then just runs out; only a duplicate of this
                // job could still send again).
                let mut written = finish(DeliveryState::Sent, message_id.clone()).await;
                for pause in SENT_WRITE_RETRIES {
                    if written.is_ok() {
                        break;
                    }
                    tokio::time::sleep(pause).await;
                    written = finish(DeliveryState::Sent, message_id.clone()).await;
                }
                if let Err(e) = written {
                    tracing::error!(error = %e, "delivered, but the sent state could not be stored; not retrying the send");
                }
                return Ok(JobOutcome::Done);
            }
            Err(SendError::Transient(reason)) => (reason, false, 0),
            Err(SendError::Throttled { reason, retry_after_seconds }) => (reason, false, retry_after_seconds),
            Err(SendError::Permanent(reason)) => (reason, true, 0),
        };
        tracing::warn!(provider = channel.provider.as_str(), %reason, permanent, "delivery failed");
        if !permanent && !attempt.is_final() {
            finish(DeliveryState::Queued, None).await.map_err(|e| retry(&e))?;
            return Err(RetryJob { reason, not_before_seconds: not_before });
        }
        crate::metrics::count(crate::metrics::DELIVERIES_FAILED, channel.provider.as_str());
        let about = Subject::project(&project, now).user(&job.user_ref).verification(job.verification_id);
        write_log(
            store,
            about,
            LogLevel::Danger,
            "delivery.failed",
            format!("Delivery via {} failed after {} attempt(s): {reason}", channel.provider.as_str(), attempt.number),
        )
        .await;
        let data = json!({ "provider": channel.provider.as_str(), "reason": reason, "attempts": attempt.number });
        emit(self.queue.as_ref(), about, &key, EventType::DeliveryFailed, None, data).await;
        if permanent { Ok(JobOutcome::Done) } else { Err(RetryJob::new(reason)) }
    }
}

/// A provider's message id worth storing: what a provider answers is not
/// ours to trust, so an id is kept only when it is short printable ASCII.
fn plausible_message_id(id: &str) -> bool {
    (1..=200).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}
