//! The OTP use cases: [`OtpService::generate`] and [`OtpService::verify`] for
//! the public API, and the background handlers [`Worker::handle_delivery`] and
//! [`Worker::handle_webhook`] that SQS Lambdas and local pollers call.

mod aad;
mod delivery;
mod generate;
mod receipts;
mod rejections;
mod request;
mod verify;
mod webhook;

use std::sync::Arc;

use crate::clock::{Clock, UnixTime};
use crate::crypto::KeyError;
use crate::crypto::{DataKey, DataKeyCache, KeyContext, payload};
use crate::error::{Internal, RequestError};
use crate::ids::{LogId, VerificationId};
use crate::model::{Job, JobAttempt, LogEntry, LogLevel, Project, UserRef};
use crate::ports::StoreError;
use crate::ports::{JobQueue, LogStore, MessageSender, Store, WebhookPoster};
use crate::quota::QuotaGate;
use crate::types::{PublicKey, SecretKey};

pub use aad::Aad;
pub use delivery::{DELIVERY_LEASE_SECONDS, SEND_DEADLINE, receipts_path};
pub use generate::Generated;
pub use receipts::{
    MAX_RECEIPT_BODY, MAX_RECEIPTS_PER_CALLBACK, ProviderReceipt, ReceiptCallback, ReceiptError, ReceiptReader,
    Receipts, ReceiptsOutcome,
};
pub use rejections::{Admission, LOGGED_PER_MINUTE, RejectionSampler};
pub use verify::{VerifyOutcome, VerifyStatus};
pub use webhook::{EventType, SIGNATURE_HEADER, WebhookSecret, sign_webhook};

/// The public API's use cases, over the ports.
#[derive(Clone)]
pub struct OtpService {
    pub store: Arc<dyn Store>,
    pub keys: Arc<DataKeyCache>,
    pub queue: Arc<dyn JobQueue>,
    pub clock: Arc<dyn Clock>,
    pub quotas: Arc<dyn QuotaGate>,
    rejections: Arc<RejectionSampler>,
}

/// Background job handlers, over the ports.
#[derive(Clone)]
pub struct Worker {
    pub store: Arc<dyn Store>,
    pub keys: Arc<DataKeyCache>,
    pub queue: Arc<dyn JobQueue>,
    pub sender: Arc<dyn MessageSender>,
    pub webhooks: Arc<dyn WebhookPoster>,
    pub clock: Arc<dyn Clock>,
    /// Longest a provider call may take ([`SEND_DEADLINE`] unless a test
    /// shortens it).
    pub send_deadline: std::time::Duration,
    /// The deployment's public base URL (no trailing `/`), for the status
    /// callback URLs of providers that take one per message; `None`: none
    /// is set, those providers send no receipts.
    pub public_url: Option<String>,
}

/// How a job ended when it needs no retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Nothing to do any more (superseded, already delivered, project gone).
    Dropped(&'static str),
}

/// The job should be retried (and dead-lettered once retries run out).
#[derive(Debug, thiserror::Error)]
#[error("job will be retried: {reason}")]
pub struct RetryJob {
    pub reason: String,
    /// Do not retry sooner than this many seconds (a lease still held).
    pub not_before_seconds: u32,
}

impl RetryJob {
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), not_before_seconds: 0 }
    }

    /// Seconds until the next try: the backoff for `attempt`, or longer if
    /// the job asked for it.
    pub fn delay_seconds(&self, attempt: JobAttempt) -> u32 {
        attempt.retry_delay_seconds().max(self.not_before_seconds)
    }
}

impl Worker {
    /// Runs one job of either queue: the one dispatch both the SQS Lambdas
    /// and the local pollers call.
    pub async fn handle(&self, job: &Job, attempt: JobAttempt) -> Result<JobOutcome, RetryJob> {
        match job {
            Job::Delivery(j) => self.handle_delivery(j, attempt).await,
            Job::Webhook(j) => self.handle_webhook(j, attempt).await,
        }
    }
}

/// A project with its data key and payload secret, opened for one request.
pub(crate) struct OpenProject {
    pub project: Project,
    pub key: Arc<DataKey>,
    pub secret: SecretKey,
    /// The secret key before the last rotation, while its overlap lasts.
    pub previous: Option<SecretKey>,
    pub public_key: PublicKey,
}

impl OpenProject {
    /// The plaintext of a request's `encrypted_data`, opened with the
    /// current secret key or, during a rotation's overlap, the previous one,
    /// with the key that opened it (an answer is sealed with that key).
    pub fn decrypt(&self, encrypted_data: &str) -> Result<(Vec<u8>, &SecretKey), RequestError> {
        let refused = |e| match e {
            payload::PayloadError::Malformed => RequestError::Malformed,
            payload::PayloadError::Unauthentic => RequestError::Unauthenticated,
        };
        match (payload::open(&self.secret, &self.public_key, encrypted_data), &self.previous) {
            (Ok(plain), _) => Ok((plain, &self.secret)),
            (Err(payload::PayloadError::Unauthentic), Some(previous)) => {
                let plain = payload::open(previous, &self.public_key, encrypted_data).map_err(refused)?;
                Ok((plain, previous))
            }
            (Err(e), _) => Err(refused(e)),
        }
    }
}

/// Refuses a request whose `iat` is outside the allowed window.
pub(crate) fn check_iat(iat: UnixTime, now: UnixTime) -> Result<(), RequestError> {
    if payload::iat_is_fresh(iat, now) { Ok(()) } else { Err(RequestError::Stale) }
}

impl OtpService {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<DataKeyCache>,
        queue: Arc<dyn JobQueue>,
        clock: Arc<dyn Clock>,
        quotas: Arc<dyn QuotaGate>,
    ) -> Self {
        Self { store, keys, queue, clock, quotas, rejections: Arc::default() }
    }

    /// Looks the project up by public key and opens its keys. Unknown and
    /// malformed public keys are reported exactly like a bad payload.
    async fn open_project<E>(&self, public_key: &str) -> Result<OpenProject, E>
    where
        E: From<RequestError> + From<StoreError> + From<KeyError> + From<Internal>,
    {
        let public_key = PublicKey::parse(public_key).map_err(|_| RequestError::Unauthenticated)?;
        let project =
            self.store.project_by_public_key(public_key.as_str()).await?.ok_or(RequestError::Unauthenticated)?;
        // A disabled client's projects answer like unknown keys.
        let ctx = KeyContext::project(project.id);
        let (client, key) =
            futures::join!(self.store.client(project.client_id), self.keys.get(&ctx, &project.data_key));
        if client?.is_none_or(|c| c.disabled) {
            return Err(RequestError::Unauthenticated.into());
        }
        let key = key?;
        let open = |sealed| {
            key.open(Aad::project_secret_key(&project.id.to_string()), sealed)
                .ok()
                .and_then(|raw| <[u8; 32]>::try_from(raw.as_slice()).ok())
                .map(SecretKey::from_bytes)
                .ok_or_else(|| Internal(format!("secret key of {} cannot be opened", project.id)))
        };
        let secret = open(&project.secret_key)?;
        let previous = match (&project.previous_secret_key, project.previous_secret_until) {
            (Some(sealed), Some(until)) if self.clock.now() < until => Some(open(sealed)?),
            _ => None,
        };
        Ok(OpenProject { project, key, secret, previous, public_key })
    }
}

/// What a log entry or webhook event is about: a project, and possibly one
/// of its end users and verifications, at a time.
#[derive(Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub project: &'a Project,
    pub user_ref: Option<&'a UserRef>,
    pub verification_id: Option<VerificationId>,
    pub at: UnixTime,
}

impl<'a> Subject<'a> {
    pub fn project(project: &'a Project, at: UnixTime) -> Self {
        Self { project, user_ref: None, verification_id: None, at }
    }
    pub fn user(self, user_ref: &'a UserRef) -> Self {
        Self { user_ref: Some(user_ref), ..self }
    }
    pub fn verification(self, id: VerificationId) -> Self {
        Self { verification_id: Some(id), ..self }
    }
}

/// Writes an audit entry. Best effort: the audit trail must not turn a
/// completed verification into an error for the caller, so a failure is
/// reported to tracing instead.
pub(crate) async fn write_log(logs: &dyn LogStore, about: Subject<'_>, level: LogLevel, event: &str, message: String) {
    let project = about.project;
    let entry = LogEntry {
        id: LogId::generate(),
        client_id: project.client_id,
        project_id: Some(project.id),
        user_ref: about.user_ref.cloned(),
        verification_id: about.verification_id,
        level,
        event: event.to_owned(),
        message,
        created_at: about.at,
    };
    if let Err(e) = logs.append_log(&entry).await {
        tracing::error!(project_id = %project.id, event, error = %e, "failed to write log entry");
        crate::metrics::count(crate::metrics::LOG_WRITES_DROPPED, event);
    }
}
