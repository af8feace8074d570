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
//! failure is permanent, a danger log entry (or, with a fallback channel,
//! the move to it: see below).
//!
//! **Failover.** A project may name a fallback channel (same method). When
//! the delivery through its channel fails for good (a permanent refusal, or
//! the last retry), the worker moves it from its own claim to the fallback
//! with [`VerificationStore::start_fallback`]: one conditional write that
//! succeeds once per code and counts a send against the destination's
//! limit. The fallback's send is then a job of its own (one provider call
//! per run keeps every run inside the lease). An SMS sent with a status
//! callback that its provider signs, on a project with a fallback, also
//! queues a [`DeliveryStep::AwaitReceipt`] job delayed by the fallback's
//! `after_seconds`: if no `delivered` receipt has come by then, the same
//! move happens and that job sends through the fallback. Every job ends in
//! a claim, which sends a moved delivery exactly once: a duplicate or a
//! retry finds it claimed (retry later) or sent (drop).
//!
//! [`VerificationStore::start_fallback`]: crate::ports::VerificationStore::start_fallback

use std::time::Duration;

use serde_json::json;
use tracing::Instrument;

use super::aad::Aad;
use super::generate::destination_limit;
use super::webhook::{EventType, emit};
use super::{JobOutcome, RetryJob, Subject, Worker, write_log};
use crate::clock::UnixTime;
use crate::crypto::{DataKey, KeyContext};
use crate::model::{
    Channel, ChannelMethod, ClaimOutcome, DeliveryJob, DeliveryRef, DeliveryState, DeliveryStep, Job, JobAttempt,
    LogLevel, Project, Template,
};
use crate::ports::{OutgoingMessage, ProviderCredentials, SendError, StartError, Tracking};
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
            step = ?job.step,
        );
        self.deliver(job, attempt).instrument(span).await
    }

    async fn deliver(&self, job: &DeliveryJob, attempt: JobAttempt) -> Result<JobOutcome, RetryJob> {
        let parts = match self.load(job).await? {
            Ok(parts) => parts,
            Err(dropped) => return Ok(dropped),
        };
        let now = self.clock.now();
        if job.step == DeliveryStep::AwaitReceipt {
            // No `delivered` receipt by now: move to the fallback, unless the
            // receipt came, the code is used or superseded, or it moved
            // already. Either way, the claim below decides: a delivery moved
            // by an earlier try of this job whose send failed is still queued
            // on the fallback, and is sent now.
            self.fail_over(&parts, job, now, None, &parts.no_receipt()).await?;
        }
        let mut fallback = match self.claim(job, now).await? {
            Ok(fallback) => fallback,
            Err(outcome) => return outcome,
        };
        if job.step == DeliveryStep::AwaitReceipt && !fallback {
            // The check is queued only after the primary took the message, so
            // a claim on the primary means that send's `sent` write was lost:
            // record it (never send through the primary again), then decide
            // as the check does.
            let (user_ref, id, until) = (&job.user_ref, job.verification_id, now + DELIVERY_LEASE_SECONDS as i64);
            let sent = self.store.finish_delivery(job.project_id, user_ref, id, until, DeliveryState::Sent, None);
            sent.await.map_err(|e| RetryJob::new(e.to_string()))?;
            if !self.fail_over(&parts, job, now, None, &parts.no_receipt()).await? {
                return Ok(JobOutcome::Dropped("delivered, superseded or already on the fallback"));
            }
            fallback = match self.claim(job, now).await? {
                Ok(true) => true,
                Ok(false) => return Ok(JobOutcome::Dropped("the delivery is not on the fallback")),
                Err(outcome) => return outcome,
            };
        }
        let channel = match (fallback, &parts.fallback_channel) {
            (false, _) => &parts.channel,
            (true, Some(channel)) => channel,
            (true, None) => {
                // Not reachable while a project cannot change its fallback
                // (the channel is linked): said loudly all the same.
                let about = parts.subject(job, now);
                let said = "Delivery via the fallback failed: its channel no longer exists".to_owned();
                write_log(self.store.as_ref(), about, LogLevel::Danger, "delivery.failed", said).await;
                return Ok(JobOutcome::Dropped("fallback channel removed"));
            }
        };
        let claimed_until = now + DELIVERY_LEASE_SECONDS as i64;
        let finish = |state, message_id: Option<String>| async move {
            let (user_ref, id) = (&job.user_ref, job.verification_id);
            self.store.finish_delivery(job.project_id, user_ref, id, claimed_until, state, message_id.as_deref()).await
        };
        let (reason, permanent, not_before) = match self.send(&parts, job, channel, fallback).await {
            Ok(Sent { message_id, awaits_receipt }) => {
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
                if !fallback && awaits_receipt {
                    self.await_receipt(&parts, job).await;
                }
                return Ok(JobOutcome::Done);
            }
            Err(SendError::Transient(reason)) => (reason, false, 0),
            Err(SendError::Throttled { reason, retry_after_seconds }) => (reason, false, retry_after_seconds),
            Err(SendError::Permanent(reason)) => (reason, true, 0),
        };
        tracing::warn!(provider = channel.provider.as_str(), %reason, permanent, fallback, "delivery failed");
        if !permanent && !attempt.is_final() {
            finish(DeliveryState::Queued, None).await.map_err(|e| RetryJob::new(e.to_string()))?;
            return Err(RetryJob { reason, not_before_seconds: not_before });
        }
        let failed_via = format!("{} after {} attempt(s): {reason}", channel.provider.as_str(), attempt.number);
        if !fallback && parts.project.fallback.is_some() {
            // Given up on the project's channel: the fallback's turn, moved
            // from this worker's claim in one write. Its send is a job of its
            // own (fresh retries, one provider call per run, within the
            // lease); should queueing it fail, this job's retry claims the
            // moved delivery and sends it.
            if self.fail_over(&parts, job, self.clock.now(), Some(claimed_until), &failed_via).await? {
                let send = Job::Delivery(DeliveryJob { step: DeliveryStep::Send, ..job.clone() });
                let mut queued = self.queue.enqueue(&send).await;
                for pause in SENT_WRITE_RETRIES {
                    if queued.is_ok() {
                        break;
                    }
                    tokio::time::sleep(pause).await;
                    queued = self.queue.enqueue(&send).await;
                }
                if let Err(e) = queued {
                    // This job's retry sends the moved code; on its last
                    // attempt it is dead-lettered, and a redrive sends it.
                    let said = "The fallback's send could not be queued: the job is retried, or redrive it from the \
                                dead-letter queue"
                        .to_owned();
                    write_log(
                        self.store.as_ref(),
                        parts.subject(job, now),
                        LogLevel::Danger,
                        "delivery.fallback",
                        said,
                    )
                    .await;
                    return Err(RetryJob::new(e.to_string()));
                }
                return Ok(JobOutcome::Done);
            }
        }
        crate::metrics::count(crate::metrics::DELIVERIES_FAILED, channel.provider.as_str());
        let about = parts.subject(job, now);
        write_log(
            self.store.as_ref(),
            about,
            LogLevel::Danger,
            "delivery.failed",
            format!("Delivery via {failed_via}"),
        )
        .await;
        let data = json!({
            "provider": channel.provider.as_str(),
            "reason": reason,
            "attempts": attempt.number,
            "fallback": fallback,
        });
        emit(self.queue.as_ref(), about, &parts.key, EventType::DeliveryFailed, None, data).await;
        if permanent { Ok(JobOutcome::Done) } else { Err(RetryJob::new(reason)) }
    }

    /// Reads what a delivery needs and opens its sealed values. Reads only,
    /// so a failure here needs no write to undo. `Ok(Err(_))`: nothing to do.
    async fn load(&self, job: &DeliveryJob) -> Result<Result<Parts, JobOutcome>, RetryJob> {
        let retry = |e: &dyn std::fmt::Display| RetryJob::new(e.to_string());
        let store = self.store.as_ref();
        let dropped = |why| Ok(Err(JobOutcome::Dropped(why)));
        let Some(project) = store.project(job.project_id).await.map_err(|e| retry(&e))? else {
            return dropped("project deleted");
        };
        let Some(channel) = store.channel(project.client_id, project.channel_id).await.map_err(|e| retry(&e))? else {
            return dropped("channel deleted");
        };
        let fallback_channel = match project.fallback {
            Some(f) => store.channel(project.client_id, f.channel_id).await.map_err(|e| retry(&e))?,
            None => None,
        };
        let Some(template) = store.template(project.client_id, project.template_id).await.map_err(|e| retry(&e))?
        else {
            return dropped("template deleted");
        };
        let Some(client) = store.client(project.client_id).await.map_err(|e| retry(&e))? else {
            return dropped("client deleted");
        };
        let key = self.keys.get(&KeyContext::project(project.id), &project.data_key).await.map_err(|e| retry(&e))?;
        let client_key =
            self.keys.get(&KeyContext::client(client.id), &client.data_key).await.map_err(|e| retry(&e))?;
        let vid = job.verification_id.to_string();
        let (Ok(code), Ok(to)) = (
            key.open_string(Aad::job_code(&vid), &job.code),
            key.open_string(Aad::job_recipient(&vid), &job.recipient),
        ) else {
            tracing::error!("delivery job could not be opened; dropping");
            return dropped("sealed values do not open");
        };
        let recipient = match project.channel_method {
            ChannelMethod::Email => Email::parse(&to).map(Recipient::Email),
            ChannelMethod::Sms => PhoneNumber::parse(&to).map(Recipient::Phone),
        };
        let Ok(recipient) = recipient else {
            return dropped("recipient does not fit the channel");
        };
        Ok(Ok(Parts {
            project,
            channel,
            fallback_channel,
            template,
            key,
            client_key,
            code: code.to_string(),
            recipient,
        }))
    }

    /// Claims the delivery: `Ok(Ok(fallback))` when this worker holds it,
    /// `Ok(Err(outcome))` when the job should end with `outcome`.
    async fn claim(
        &self,
        job: &DeliveryJob,
        now: UnixTime,
    ) -> Result<Result<bool, Result<JobOutcome, RetryJob>>, RetryJob> {
        let claim = self
            .store
            .claim_delivery(job.project_id, &job.user_ref, job.verification_id, now, DELIVERY_LEASE_SECONDS)
            .await
            .map_err(|e| RetryJob::new(e.to_string()))?;
        Ok(match claim {
            ClaimOutcome::Claimed { fallback } => Ok(fallback),
            ClaimOutcome::Gone => Err(Ok(JobOutcome::Dropped("superseded, expired or already delivered"))),
            // Another worker's claim (or the claim of one that died, or whose
            // release failed): try again once it has ended.
            ClaimOutcome::Held { until } => Err(Err(RetryJob {
                reason: "another delivery attempt holds the lease".into(),
                not_before_seconds: (until - now).clamp(1, DELIVERY_LEASE_SECONDS as i64) as u32 + 1,
            })),
        })
    }

    /// Renders the code's message and hands it to `channel`'s provider,
    /// within [`SEND_DEADLINE`]. The provider's message id, if plausible.
    async fn send(
        &self,
        parts: &Parts,
        job: &DeliveryJob,
        channel: &Channel,
        fallback: bool,
    ) -> Result<Sent, SendError> {
        let Parts { project, template, .. } = parts;
        let credentials = parts
            .client_key
            .open(Aad::channel_credentials(&channel.id.to_string()), &channel.credentials)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or_else(|| SendError::Permanent("channel credentials could not be opened".into()))?;
        let lang = job.lang.clone().unwrap_or_else(|| template.default_lang.clone());
        let (_, version) =
            template.version_for(&lang).ok_or_else(|| SendError::Permanent("template has no versions".into()))?;
        let vars = RenderVars {
            code: &parts.code,
            expires_in_seconds: project.settings.expiration_seconds,
            project_name: &project.title,
        };
        let rendered = render_with_limits(template.format, version, &vars, RenderLimits::for_method(channel.method))
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let reference = DeliveryRef {
            project_id: project.id,
            verification_id: job.verification_id,
            user_ref: job.user_ref.clone(),
            fallback,
        }
        .encode();
        let tracking = reference.map(|reference| Tracking {
            status_callback: self.public_url.as_deref().map(|base| {
                format!("{base}{}?ref={reference}", receipts_path(channel.provider, channel.client_id, channel.id))
            }),
            reference,
        });
        let message = OutgoingMessage {
            to: parts.recipient.clone(),
            subject: rendered.subject,
            body: rendered.body,
            format: template.format,
            tracking,
        };
        // Worth waiting for a `delivered` receipt only if one can come: the
        // provider was given our callback URL and can sign its callbacks.
        let awaits_receipt = message.tracking.as_ref().is_some_and(|t| t.status_callback.is_some())
            && crate::providers::signs_status_callbacks(channel.provider, &credentials);
        let credentials = ProviderCredentials(credentials);
        let sending = self.sender.send(channel.provider, &credentials, &message);
        let sent = match tokio::time::timeout(self.send_deadline, sending).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(SendError::Transient(format!(
                    "{}: no answer within {} ms",
                    channel.provider.as_str(),
                    self.send_deadline.as_millis()
                )));
            }
        };
        tracing::info!(provider = channel.provider.as_str(), provider_message_id = ?sent.provider_message_id, "delivered");
        Ok(Sent { message_id: sent.provider_message_id.filter(|id| plausible_message_id(id)), awaits_receipt })
    }

    /// Moves the delivery to the project's fallback channel (once per code,
    /// counted against the destination's limit) and logs why. `Ok(false)`:
    /// nothing to move (no fallback, delivered, superseded, moved already).
    async fn fail_over(
        &self,
        parts: &Parts,
        job: &DeliveryJob,
        now: UnixTime,
        claimed_until: Option<UnixTime>,
        why: &str,
    ) -> Result<bool, RetryJob> {
        let (Some(fallback), Some(channel)) = (parts.project.fallback, &parts.fallback_channel) else {
            return Ok(false);
        };
        let limit = destination_limit(&parts.key, &parts.project.settings, &parts.recipient, now);
        let (project, user) = (job.project_id, &job.user_ref);
        let moved =
            self.store.start_fallback(project, user, job.verification_id, now, claimed_until, Some(&limit)).await;
        let about = parts.subject(job, now);
        match moved {
            Ok(true) => {
                write_log(
                    self.store.as_ref(),
                    about,
                    LogLevel::Warning,
                    "delivery.fallback",
                    format!(
                        "Delivery via {why}; sending the same code through fallback channel {}",
                        fallback.channel_id
                    ),
                )
                .await;
                tracing::info!(fallback_provider = channel.provider.as_str(), "failing over");
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(StartError::DestinationLimit { .. } | StartError::Cooldown { .. }) => {
                write_log(
                    self.store.as_ref(),
                    about,
                    LogLevel::Danger,
                    "delivery.fallback_refused",
                    format!("Delivery via {why}; the fallback was not used: the destination's send limit is reached"),
                )
                .await;
                Ok(false)
            }
            Err(StartError::Store(e)) => Err(RetryJob::new(e.to_string())),
        }
    }

    /// After an SMS went out on a project with a fallback: queues the check
    /// for its `delivered` receipt. Best effort: without it, the fallback
    /// is used on a failure only.
    async fn await_receipt(&self, parts: &Parts, job: &DeliveryJob) {
        let Some(fallback) = parts.project.fallback else { return };
        let check = Job::Delivery(DeliveryJob { step: DeliveryStep::AwaitReceipt, ..job.clone() });
        if let Err(e) = self.queue.enqueue_after(&check, fallback.after_seconds).await {
            tracing::error!(error = %e, "the receipt check could not be queued; the fallback will not wait for it");
        }
    }
}

/// What a provider did with a code's message.
struct Sent {
    message_id: Option<String>,
    /// A `delivered` receipt can come back (see [`Worker::send`]).
    awaits_receipt: bool,
}

/// Everything a delivery job needs, read and opened once.
struct Parts {
    project: Project,
    channel: Channel,
    fallback_channel: Option<Channel>,
    template: Template,
    key: std::sync::Arc<DataKey>,
    client_key: std::sync::Arc<DataKey>,
    code: String,
    recipient: Recipient,
}

impl Parts {
    fn subject<'a>(&'a self, job: &'a DeliveryJob, now: UnixTime) -> super::Subject<'a> {
        Subject::project(&self.project, now).user(&job.user_ref).verification(job.verification_id)
    }
    /// Why a receipt check fails over.
    fn no_receipt(&self) -> String {
        format!("no delivered receipt within {} s", self.project.fallback.map_or(0, |f| f.after_seconds))
    }
}

/// Where a provider posts the receipts of a channel's messages, below the
/// deployment's public URL. The receipts endpoint serves exactly this path.
pub fn receipts_path(
    provider: crate::model::ProviderKind,
    client: crate::ids::ClientId,
    channel: crate::ids::ChannelId,
) -> String {
    format!("/receipts/{}/{client}/{channel}", provider.as_str())
}

/// A provider's message id worth storing: what a provider answers is not
/// ours to trust, so an id is kept only when it is short printable ASCII.
fn plausible_message_id(id: &str) -> bool {
    (1..=200).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}
