//! Delivery receipts: a provider's status callback, checked, normalized and
//! stored on the verification it is about.
//!
//! A callback reaches `POST /receipts/<provider>/<client id>/<channel id>`
//! ([`receipts_path`](super::receipts_path)). The channel's credentials (or
//! its receipts secret, for providers that sign nothing) prove it comes from
//! the provider ([`ReceiptReader`], implemented per provider in
//! `secure2fa-providers`). Each receipt names its verification through the
//! [`DeliveryRef`] we attached to the message; it is stored only if that
//! verification belongs to a project of the channel's client that sends
//! through this channel, and only if it moves the delivery forward
//! ([`VerificationStore::record_receipt`]): a duplicate, a replay or a late
//! lesser receipt changes nothing and logs nothing. A failure or a bounce
//! is logged and emits a `delivery.failed` webhook event.
//!
//! [`VerificationStore::record_receipt`]: crate::ports::VerificationStore::record_receipt

use std::fmt;
use std::sync::Arc;

use rand::RngCore as _;
use serde_json::json;

use super::aad::Aad;
use super::webhook::{EventType, emit};
use super::{Subject, write_log};
use crate::clock::{Clock, UnixTime};
use crate::crypto::{DataKeyCache, KeyContext};
use crate::error::{Internal, ReceiptsError};
use crate::ids::{ChannelId, ClientId};
use crate::model::{DeliveryReceipt, DeliveryRef, LogLevel, ProviderKind, ReceiptStatus};
use crate::ports::{JobQueue, ProviderCredentials, Store};

/// Most bytes a receipt callback may carry; the HTTP layer refuses more
/// before reading them.
pub const MAX_RECEIPT_BODY: usize = 256 * 1024;
/// Most receipts one callback may carry.
pub const MAX_RECEIPTS_PER_CALLBACK: usize = 100;

/// A status callback as the HTTP layer received it.
pub struct ReceiptCallback {
    /// The public URL the provider called: the deployment's public base URL
    /// followed by the path and query of the request (what Twilio and Plivo
    /// sign).
    pub url: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl fmt::Debug for ReceiptCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies name recipients; the URL may carry basic-auth secrets.
        f.debug_struct("ReceiptCallback").field("body_bytes", &self.body.len()).finish_non_exhaustive()
    }
}

/// One receipt, normalized by the provider's reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderReceipt {
    /// The provider's id of the message.
    pub message_id: String,
    /// What we attached to the message, handed back; `None` for a message
    /// we did not tag (sent before receipts existed, or by someone else).
    pub reference: Option<DeliveryRef>,
    pub status: ReceiptStatus,
    /// The provider's error code and words, never the recipient.
    pub reason: Option<String>,
}

/// Why a provider's reader refused a callback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("receipt signature or credentials do not check")]
    Unauthentic,
    #[error("malformed receipt: {0}")]
    Malformed(String),
    #[error("provider {0} sends no receipts here")]
    Unsupported(&'static str),
}

/// Checks a callback's authenticity as its provider documents, and reads
/// its receipts (events that are no delivery outcome are left out).
pub trait ReceiptReader: Send + Sync {
    fn read(
        &self,
        provider: ProviderKind,
        credentials: &ProviderCredentials,
        receipt_secret: &str,
        callback: &ReceiptCallback,
        now: UnixTime,
    ) -> Result<Vec<ProviderReceipt>, ReceiptError>;
}

/// What one callback did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiptsOutcome {
    /// Receipts that moved a delivery forward.
    pub recorded: usize,
    /// Receipts that changed nothing: duplicates, late lesser ones, or
    /// about messages that are not this channel's client's current codes.
    pub ignored: usize,
}

/// The receipts use case.
#[derive(Clone)]
pub struct Receipts {
    pub store: Arc<dyn Store>,
    pub keys: Arc<DataKeyCache>,
    pub queue: Arc<dyn JobQueue>,
    pub clock: Arc<dyn Clock>,
    pub reader: Arc<dyn ReceiptReader>,
}

impl Receipts {
    /// Handles one callback to `/receipts/<provider>/<client>/<channel>`.
    pub async fn ingest(
        &self,
        provider: &str,
        client: &str,
        channel: &str,
        callback: &ReceiptCallback,
    ) -> Result<ReceiptsOutcome, ReceiptsError> {
        let (Some(provider), Ok(client_id), Ok(channel_id)) =
            (ProviderKind::parse(provider), client.parse::<ClientId>(), channel.parse::<ChannelId>())
        else {
            return Err(ReceiptsError::NotFound);
        };
        let client = self.store.client(client_id).await?.ok_or(ReceiptsError::NotFound)?;
        let channel = self.store.channel(client_id, channel_id).await?.ok_or(ReceiptsError::NotFound)?;
        if channel.provider != provider {
            return Err(ReceiptsError::NotFound);
        }
        let key = self.keys.get(&KeyContext::client(client.id), &client.data_key).await?;
        let cid = channel.id.to_string();
        let credentials = key
            .open(Aad::channel_credentials(&cid), &channel.credentials)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .map(ProviderCredentials)
            .ok_or_else(|| Internal(format!("credentials of {cid} cannot be opened")))?;
        let secret = match &channel.receipt_secret {
            Some(sealed) => key
                .open_string(Aad::channel_receipt_secret(&cid), sealed)
                .map_err(|_| Internal(format!("receipt secret of {cid} cannot be opened")))?
                .to_string(),
            // A channel from before receipts: a secret nobody knows, so a
            // callback relying on one is refused, never matched by "".
            None => unguessable(),
        };
        let now = self.clock.now();
        let mut receipts = self.reader.read(provider, &credentials, &secret, callback, now)?;
        receipts.truncate(MAX_RECEIPTS_PER_CALLBACK);

        let mut outcome = ReceiptsOutcome::default();
        for receipt in receipts {
            if self.record(&channel, &receipt, now).await? {
                outcome.recorded += 1;
            } else {
                outcome.ignored += 1;
            }
        }
        Ok(outcome)
    }

    /// Stores one receipt if it is about a current code of a project of the
    /// channel's client that sends through this channel. `true` if stored.
    async fn record(
        &self,
        channel: &crate::model::Channel,
        receipt: &ProviderReceipt,
        now: UnixTime,
    ) -> Result<bool, ReceiptsError> {
        let Some(reference) = &receipt.reference else { return Ok(false) };
        let Some(project) = self.store.project(reference.project_id).await? else { return Ok(false) };
        if project.client_id != channel.client_id {
            return Ok(false);
        }
        // The endpoint must be one of the project's channels; which of the
        // two carried the message, the message says (one provider account's
        // webhook may serve both).
        let project_channel = project.channel_id == channel.id;
        if !project_channel && project.fallback.is_none_or(|f| f.channel_id != channel.id) {
            return Ok(false);
        }
        let fallback = reference.fallback;
        let stored = DeliveryReceipt::new(receipt.status, receipt.reason.as_deref(), now);
        let recorded = self
            .store
            .record_receipt(
                project.id,
                &reference.user_ref,
                reference.verification_id,
                fallback,
                &receipt.message_id,
                &stored,
            )
            .await?;
        if recorded.is_none() {
            return Ok(false);
        }
        let status = receipt.status;
        let about = Subject::project(&project, now).user(&reference.user_ref).verification(reference.verification_id);
        let level = match status {
            ReceiptStatus::Sent => LogLevel::Info,
            ReceiptStatus::Delivered => LogLevel::Success,
            ReceiptStatus::Complained => LogLevel::Warning,
            ReceiptStatus::Failed | ReceiptStatus::Bounced => LogLevel::Danger,
        };
        let because = stored.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        write_log(
            self.store.as_ref(),
            about,
            level,
            &format!("delivery.{}", status.as_str()),
            format!("Receipt from {}: {}{because}", channel.provider.as_str(), status.as_str()),
        )
        .await;
        if status.is_failure() {
            crate::metrics::count(crate::metrics::DELIVERIES_FAILED, channel.provider.as_str());
            let key = self.keys.get(&KeyContext::project(project.id), &project.data_key).await?;
            let data = json!({
                "provider": channel.provider.as_str(),
                "status": status.as_str(),
                "reason": stored.reason,
                "source": "receipt",
                "fallback": fallback,
            });
            emit(self.queue.as_ref(), about, &key, EventType::DeliveryFailed, None, data).await;
        }
        Ok(true)
    }
}

/// 32 random bytes in hex: a stand-in secret that nothing presents.
fn unguessable() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}
