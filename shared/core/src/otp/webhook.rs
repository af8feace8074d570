//! Webhook events: built and sealed by the use cases, queued, then posted by
//! [`Worker::handle_webhook`] with a signature the receiver checks:
//!
//! `Secure2FA-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//!
//! where `secret` is the project's webhook signing secret (`whsec_...`, as
//! shown once when the webhook is set). Receivers should reject timestamps
//! older than a few minutes and compare in constant time.

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use rand::RngCore;
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use tracing::Instrument;
use zeroize::Zeroizing;

use super::aad::Aad;
use super::{JobOutcome, RetryJob, Subject, Worker, write_log};
use crate::clock::UnixTime;
use crate::crypto::{DataKey, KeyContext};
use crate::ids::{EventId, VerificationId};
use crate::model::{Job, JobAttempt, LogLevel, WebhookJob};
use crate::ports::JobQueue;

pub const SIGNATURE_HEADER: &str = "Secure2FA-Signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventType {
    #[serde(rename = "verification.approved")]
    Approved,
    #[serde(rename = "verification.failed")]
    Failed,
    #[serde(rename = "verification.max_attempts_reached")]
    MaxAttemptsReached,
    #[serde(rename = "verification.expired")]
    Expired,
    #[serde(rename = "delivery.failed")]
    DeliveryFailed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "verification.approved",
            Self::Failed => "verification.failed",
            Self::MaxAttemptsReached => "verification.max_attempts_reached",
            Self::Expired => "verification.expired",
            Self::DeliveryFailed => "delivery.failed",
        }
    }
}

#[derive(Serialize)]
struct Event<'a> {
    id: EventId,
    #[serde(rename = "type")]
    kind: EventType,
    created_at: UnixTime,
    project_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification_id: Option<VerificationId>,
    /// The client's own end-user id: the receiver is the client's backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    data: Value,
}

/// A webhook signing secret: `whsec_` + base64 of 32 random bytes.
pub struct WebhookSecret(Zeroizing<String>);

impl WebhookSecret {
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(Zeroizing::new(format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(b))))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The signature header value for `body` sent at `timestamp`.
pub fn sign_webhook(secret: &str, timestamp: UnixTime, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Seals and queues an event if the project has a webhook. Best effort: a
/// queue failure is reported, not returned, so it never fails the API call.
pub(super) async fn emit(
    queue: &dyn JobQueue,
    about: Subject<'_>,
    key: &DataKey,
    kind: EventType,
    user_id: Option<&str>,
    data: Value,
) {
    let project = about.project;
    if project.webhook.is_none() {
        return;
    }
    let event_id = EventId::generate();
    let event = Event {
        id: event_id,
        kind,
        created_at: about.at,
        project_id: project.id.to_string(),
        verification_id: about.verification_id,
        user_id,
        data,
    };
    let body = match serde_json::to_vec(&event) {
        Ok(b) => Zeroizing::new(b),
        Err(e) => {
            tracing::error!(project_id = %project.id, error = %e, "webhook event could not be encoded");
            return;
        }
    };
    let job = Job::Webhook(WebhookJob {
        project_id: project.id,
        event_id,
        event: key.seal(Aad::job_event(&event_id.to_string()), &body),
    });
    if let Err(e) = queue.enqueue(&job).await {
        tracing::error!(project_id = %project.id, event = kind.as_str(), error = %e, "webhook event could not be queued");
    }
}

impl Worker {
    /// Posts one webhook event. Any non-2xx answer or transport failure is
    /// retried by the queue; the last failure is logged before the job goes
    /// to the dead-letter queue.
    pub async fn handle_webhook(&self, job: &WebhookJob, attempt: JobAttempt) -> Result<JobOutcome, RetryJob> {
        let span = tracing::info_span!("webhook", project_id = %job.project_id, event_id = %job.event_id, attempt = attempt.number);
        self.post_webhook(job, attempt).instrument(span).await
    }

    async fn post_webhook(&self, job: &WebhookJob, attempt: JobAttempt) -> Result<JobOutcome, RetryJob> {
        let retry = RetryJob::new;
        let Some(project) = self.store.project(job.project_id).await.map_err(|e| retry(e.to_string()))? else {
            return Ok(JobOutcome::Dropped("project deleted"));
        };
        let Some(webhook) = &project.webhook else {
            return Ok(JobOutcome::Dropped("webhook removed"));
        };
        let key = self
            .keys
            .get(&KeyContext::project(project.id), &project.data_key)
            .await
            .map_err(|e| retry(e.to_string()))?;
        let pid = project.id.to_string();
        let (Ok(url), Ok(secret), Ok(body)) = (
            key.open_string(Aad::webhook_url(&pid), &webhook.url),
            key.open_string(Aad::webhook_secret(&pid), &webhook.signing_secret),
            key.open(Aad::job_event(&job.event_id.to_string()), &job.event),
        ) else {
            // A key mismatch cannot heal by retrying (e.g. the webhook was replaced).
            tracing::error!("webhook job could not be opened; dropping");
            return Ok(JobOutcome::Dropped("sealed values do not open"));
        };
        let now = self.clock.now();
        let headers = [
            (SIGNATURE_HEADER, sign_webhook(&secret, now, &body)),
            ("Secure2FA-Event-Id", job.event_id.to_string()),
            ("Content-Type", "application/json".to_string()),
        ];
        let failure = match self.webhooks.post(&url, &headers, &body).await {
            Ok(status) if (200..300).contains(&status) => return Ok(JobOutcome::Done),
            Ok(status) => format!("receiver answered HTTP {status}"),
            Err(transport) => transport,
        };
        tracing::warn!(reason = %failure, "webhook delivery failed");
        if attempt.is_final() {
            crate::metrics::count(crate::metrics::WEBHOOKS_DEAD_LETTERED, "webhook");
            write_log(
                self.store.as_ref(),
                Subject::project(&project, now),
                LogLevel::Danger,
                "webhook.failed",
                format!("Webhook event {} not delivered after {} attempts: {failure}", job.event_id, attempt.number),
            )
            .await;
        }
        Err(retry(failure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_timestamp_and_body() {
        let a = sign_webhook("whsec_x", 100, b"{}");
        assert!(a.starts_with("t=100,v1="));
        assert_ne!(a, sign_webhook("whsec_x", 101, b"{}"));
        assert_ne!(a, sign_webhook("whsec_x", 100, b"{ }"));
        assert_ne!(a, sign_webhook("whsec_y", 100, b"{}"));
        // Known answer, computed independently with Python's hmac module.
        assert_eq!(
            sign_webhook("whsec_test", 1700000000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
