//! Ports: what the domain needs from the outside world. Each has an embedded
//! adapter (`secure2fa-local`) and an AWS adapter (`secure2fa-aws`), and one
//! contract test suite that both must pass.
//!
//! Every invariant is the store's job and is enforced atomically (a
//! conditional write or a transaction), never by a read followed by a write.

use std::fmt;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::crypto::{Mac, Sealed};
use crate::ids::{ChannelId, ClientId, ProjectId, TemplateId, TokenId, VerificationId};
use crate::model::{
    AccountToken, AccountTokenPurpose, ApiToken, Channel, CheckOutcome, ClaimOutcome, Client, DeliveryReceipt,
    DeliveryState, DestinationLimit, Job, LogEntry, LogFilter, LogPage, NewVerification, Project, ProviderKind,
    Session, Template, TemplateFormat, UserRef, Verification,
};
use crate::types::Recipient;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule would be broken (`what` names it, e.g. `email`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The record is referenced by projects and cannot be deleted.
    #[error("still used by a project")]
    InUse,
    /// A referenced record (channel, template) does not exist.
    #[error("{0} not found")]
    Missing(&'static str),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The request would read more than one call may (the message says how
    /// to narrow it).
    #[error("{0}")]
    TooBroad(&'static str),
}

/// Why a new verification was refused.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("resend cooldown, retry after {retry_after}s")]
    Cooldown { retry_after: u32 },
    #[error("destination send limit, retry after {retry_after}s")]
    DestinationLimit { retry_after: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a new client. Fails with `Conflict("email")` if the email index
    /// is taken. The admin is the first client stored confirmed (registered
    /// by the operator: the local demo client, the deployer's first client
    /// on AWS), decided atomically by the store (the `is_admin` passed in is
    /// ignored); a self sign-up is stored unconfirmed and never becomes the
    /// admin, so whoever signs up first on a fresh deployment gains nothing.
    /// The stored client is returned.
    async fn insert_client(&self, client: &Client) -> Result<Client, StoreError>;
    /// Confirms an unconfirmed, enabled client and sets its first password.
    /// `Ok(None)` if absent, disabled or already confirmed.
    async fn confirm_client(
        &self,
        id: ClientId,
        password_hash: &str,
        at: UnixTime,
    ) -> Result<Option<Client>, StoreError>;
    /// Replaces the password of a confirmed client and moves its session
    /// epoch on (every session ends). `Ok(false)` if absent or unconfirmed.
    async fn set_password(&self, id: ClientId, password_hash: &str) -> Result<bool, StoreError>;
    /// Moves the session epoch on: every session of the client ends.
    async fn end_sessions(&self, id: ClientId) -> Result<bool, StoreError>;
    /// Stores (or clears) the authenticator secret awaiting confirmation.
    async fn set_totp_pending(&self, id: ClientId, secret: Option<&Sealed>) -> Result<bool, StoreError>;
    /// Links the pending authenticator: only while `pending` is still the
    /// pending secret and none is linked. Records `step` as used and stores
    /// the backup codes' hashes.
    async fn activate_totp(
        &self,
        id: ClientId,
        pending: &Sealed,
        step: i64,
        backup_codes: &[String],
    ) -> Result<bool, StoreError>;
    /// Records TOTP time step `step` as used unless it or a later one was:
    /// the conditional write that makes a code single use.
    async fn use_totp_step(&self, id: ClientId, step: i64) -> Result<bool, StoreError>;
    /// Replaces the backup codes' hashes if they are still `expected`: a code
    /// is used by writing the list without it, so two uses of one code
    /// cannot both succeed.
    async fn replace_backup_codes(&self, id: ClientId, expected: &[String], new: &[String])
    -> Result<bool, StoreError>;
    /// Unlinks the authenticator, drops the backup codes and ends every session.
    async fn remove_totp(&self, id: ClientId) -> Result<bool, StoreError>;
    /// Disables or re-enables a client (never the admin: `Ok(false)`, like
    /// an absent client). Disabling moves the session epoch on.
    async fn set_client_disabled(&self, id: ClientId, disabled: bool) -> Result<bool, StoreError>;
    async fn client(&self, id: ClientId) -> Result<Option<Client>, StoreError>;
    async fn client_by_email_index(&self, index: &Mac) -> Result<Option<Client>, StoreError>;
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Counts one test message of `client` in the window starting at
    /// `window_start` (`window_seconds` long) unless `max` are counted
    /// already: one conditional write. `Ok(false)`: the window is used up.
    async fn count_test_send(
        &self,
        client: ClientId,
        window_start: UnixTime,
        window_seconds: u32,
        max: u32,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait ChannelStore: Send + Sync {
    async fn insert_channel(&self, channel: &Channel) -> Result<(), StoreError>;
    async fn channel(&self, client: ClientId, id: ChannelId) -> Result<Option<Channel>, StoreError>;
    async fn list_channels(&self, client: ClientId) -> Result<Vec<Channel>, StoreError>;
    /// Replaces the channel's sealed receipts secret. `Ok(false)` if absent.
    async fn set_receipt_secret(&self, client: ClientId, id: ChannelId, secret: &Sealed) -> Result<bool, StoreError>;
    /// Renames a channel and, with `credentials`, replaces them whole.
    /// `Ok(false)` if the client has no such channel.
    async fn update_channel(
        &self,
        client: ClientId,
        id: ChannelId,
        title: &str,
        credentials: Option<&Sealed>,
    ) -> Result<bool, StoreError>;
    /// `Ok(false)` if absent; `Err(InUse)` while a project links it.
    async fn delete_channel(&self, client: ClientId, id: ChannelId) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait TemplateStore: Send + Sync {
    async fn insert_template(&self, template: &Template) -> Result<(), StoreError>;
    /// Replaces title, default language, format and versions with `new`'s
    /// if the stored default language, format and versions are still
    /// `old`'s (so that an edit never drops another one's version, nor the
    /// default language's). `Ok(false)`: absent or changed meanwhile.
    async fn update_template(&self, old: &Template, new: &Template) -> Result<bool, StoreError>;
    async fn template(&self, client: ClientId, id: TemplateId) -> Result<Option<Template>, StoreError>;
    async fn list_templates(&self, client: ClientId) -> Result<Vec<Template>, StoreError>;
    /// `Ok(false)` if absent; `Err(InUse)` while a project links it.
    async fn delete_template(&self, client: ClientId, id: TemplateId) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Stores a project. Its channel and template must exist and belong to
    /// the same client (`Missing`), and the public key must be unused.
    async fn insert_project(&self, project: &Project) -> Result<(), StoreError>;
    async fn project(&self, id: ProjectId) -> Result<Option<Project>, StoreError>;
    async fn project_by_public_key(&self, public_key: &str) -> Result<Option<Project>, StoreError>;
    /// Replaces a project's editable fields (title, channel, template,
    /// settings, webhook, fallback, secret keys) with `new`'s, if the stored
    /// project is still at `old`'s revision (and links what `old` links:
    /// what the links' reference counts are moved from); the stored revision
    /// becomes `old.revision + 1`. `Ok(false)` if it changed meanwhile or is
    /// absent; `Missing` if a new channel or template is not the client's.
    async fn update_project(&self, old: &Project, new: &Project) -> Result<bool, StoreError>;
    async fn list_projects(&self, client: ClientId) -> Result<Vec<Project>, StoreError>;
    /// Deletes a project with its wrapped data key (so everything sealed
    /// under it becomes unreadable) and its end users. `Ok(false)` if absent.
    async fn delete_project(&self, client: ClientId, id: ProjectId) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait VerificationStore: Send + Sync {
    /// Replaces the end user's current verification with `new.record`
    /// (keeping `first_seen`), atomically with the limits: refused while the
    /// previous code is still pending, unexpired and was sent less than
    /// `cooldown_seconds` ago, or if the destination has used up its window.
    /// A refused start leaves no new code and no counted send (an adapter
    /// may reserve the send first and release it on refusal).
    async fn start_verification(&self, new: &NewVerification, now: UnixTime) -> Result<(), StartError>;

    async fn verification(&self, project: ProjectId, user_ref: &UserRef) -> Result<Option<Verification>, StoreError>;

    /// Checks a guess in ONE conditional write that both counts it and
    /// compares it: refused unless the current verification is pending (not
    /// yet approved), unexpired at `now` and has attempts left; otherwise
    /// `attempts` goes up by one and the record becomes `Approved` when
    /// `code_mac` equals the code's MAC and the device matches (no device
    /// stored, or the same MAC). A comparison is never made outside that
    /// write, so N concurrent guesses compare at most `max_attempts` times.
    async fn check_code(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        code_mac: &Mac,
        device_mac: Option<&Mac>,
        now: UnixTime,
    ) -> Result<CheckOutcome, StoreError>;

    /// Expires verification `id` at `now` if it is still current and pending,
    /// so that it can be replaced at once: used when its delivery could not
    /// even be queued. A no-op otherwise.
    async fn cancel_verification(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        now: UnixTime,
    ) -> Result<(), StoreError>;

    /// Takes the delivery of verification `id` for `lease_seconds` if it is
    /// current, pending, unexpired, and queued (or claimed with an elapsed
    /// lease, after a crashed worker). Otherwise says whether a live lease
    /// holds it ([`ClaimOutcome::Held`]: retry later) or it has nothing left
    /// to deliver ([`ClaimOutcome::Gone`]: drop the job), as decided by
    /// [`ClaimOutcome::refused`] on the record the refused write found.
    async fn claim_delivery(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        now: UnixTime,
        lease_seconds: u32,
    ) -> Result<ClaimOutcome, StoreError>;

    /// Ends a claim: `Sent` after the provider accepted (with the provider's
    /// message id, when it gave one), `Queued` to let a retry claim it
    /// again. `claimed_until` is the lease end the claim set (`now +
    /// lease_seconds`), which fences it: a no-op if `id` is no longer
    /// current or another worker has claimed the delivery since (after this
    /// claim's lease ran out), so a late worker cannot release or close
    /// another's claim.
    async fn finish_delivery(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        claimed_until: UnixTime,
        state: DeliveryState,
        provider_message_id: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Stores a provider's delivery receipt on verification `id`. Refused
    /// (`Ok(None)`, nothing changes) unless `id` is still the end user's
    /// current code, its delivery went through the channel the receipt came
    /// from (`fallback`: the project's fallback channel), the stored
    /// provider message id is `provider_message_id` (or none is stored yet:
    /// a receipt may beat the worker's `sent` write), and `receipt` ranks
    /// above the stored one ([`crate::model::ReceiptStatus::rank`]): a
    /// duplicate or a late, lesser receipt is a no-op. Returns the record
    /// after the write.
    async fn record_receipt(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        fallback: bool,
        provider_message_id: &str,
        receipt: &DeliveryReceipt,
    ) -> Result<Option<Verification>, StoreError>;

    /// Moves the delivery of verification `id` to the project's fallback
    /// channel, at most once per code, in one atomic write: only while the
    /// code is current, pending and unexpired, not yet on the fallback, and
    /// its delivery is `Failed`, or still claimed by the caller (lease
    /// ending at `claimed_until`, which fences it), or was `Sent` without a
    /// `delivered` (or `complained`) receipt. The delivery is queued again
    /// with no lease, message id or receipt, and one send is counted
    /// against `destination_limit` in the same write (a used-up window
    /// refuses with `DestinationLimit` and moves nothing). `Ok(false)`:
    /// nothing to move.
    async fn start_fallback(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        now: UnixTime,
        claimed_until: Option<UnixTime>,
        destination_limit: Option<&DestinationLimit>,
    ) -> Result<bool, StartError>;

    /// End users of a project, at most `limit`, in no guaranteed order.
    async fn list_verifications(&self, project: ProjectId, limit: usize) -> Result<Vec<Verification>, StoreError>;
}

#[async_trait]
pub trait LogStore: Send + Sync {
    async fn append_log(&self, entry: &LogEntry) -> Result<(), StoreError>;
    /// Newest first. Without a project filter: the client's own entries and
    /// those of its existing projects (a deleted project's logs are not listed).
    async fn list_logs(&self, client: ClientId, filter: &LogFilter) -> Result<LogPage, StoreError>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a client's API token unless the client holds `max` already
    /// (`Ok(false)`; counted in the same conditional write, so concurrent
    /// creations cannot exceed it). Its client must exist: `Missing`.
    async fn insert_token(&self, token: &ApiToken, max: u32) -> Result<bool, StoreError>;
    /// The token stored under this hash, if any.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError>;
    async fn list_tokens(&self, client: ClientId) -> Result<Vec<ApiToken>, StoreError>;
    /// `Ok(false)` if the client has no such token.
    async fn delete_token(&self, client: ClientId, id: TokenId) -> Result<bool, StoreError>;
    /// Records a use at `at` (a no-op for a token deleted meanwhile).
    async fn touch_token(&self, client: ClientId, id: TokenId, at: UnixTime) -> Result<(), StoreError>;
}

/// Browser sessions, mailed one-time tokens and sign-in attempt counters.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;
    /// The session stored under this hash, expired or not (the caller checks).
    async fn session(&self, hash: &str) -> Result<Option<Session>, StoreError>;
    /// Moves the idle timeout on (a no-op for a session deleted meanwhile).
    async fn touch_session(&self, hash: &str, idle_expires_at: UnixTime) -> Result<(), StoreError>;
    async fn delete_session(&self, hash: &str) -> Result<bool, StoreError>;
    async fn insert_account_token(&self, token: &AccountToken) -> Result<(), StoreError>;
    /// Deletes and returns the token if it exists for this purpose and has
    /// not expired at `now`: one conditional delete, so a token is used once
    /// whatever the concurrency.
    async fn take_account_token(
        &self,
        hash: &str,
        purpose: AccountTokenPurpose,
        now: UnixTime,
    ) -> Result<Option<AccountToken>, StoreError>;
    /// Counts one attempt under `key` in the window starting at
    /// `window_start` (`window_seconds` long) unless `max` are counted: one
    /// conditional write. The new count, or `None` when the window is used up.
    async fn count_attempt(
        &self,
        key: &str,
        window_start: UnixTime,
        window_seconds: u32,
        max: u32,
    ) -> Result<Option<u32>, StoreError>;
    /// Forgets the attempts counted under `key` in that window.
    async fn clear_attempts(&self, key: &str, window_start: UnixTime) -> Result<(), StoreError>;
}

/// Everything the application stores.
pub trait Store:
    ClientStore + ChannelStore + TemplateStore + ProjectStore + VerificationStore + LogStore + TokenStore + SessionStore
{
}
impl<T> Store for T where
    T: ClientStore
        + ChannelStore
        + TemplateStore
        + ProjectStore
        + VerificationStore
        + LogStore
        + TokenStore
        + SessionStore
{
}

#[derive(Debug, thiserror::Error)]
#[error("queue unavailable: {0}")]
pub struct QueueError(pub String);

/// Where background work goes: SQS on AWS, the durable job table locally.
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError>;
    /// Queues `job` to be handed out no sooner than `delay_seconds` from
    /// now (at most [`MAX_JOB_DELAY_SECONDS`], SQS's `DelaySeconds` cap).
    async fn enqueue_after(&self, job: &Job, delay_seconds: u32) -> Result<(), QueueError>;
}

/// One background queue's health, as the admin sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueHealth {
    /// `delivery` or `webhook`.
    pub queue: String,
    /// Ready to run now.
    pub ready: u64,
    /// Taken by a worker, not yet done.
    pub in_flight: u64,
    /// Waiting for a delay (a retry's backoff, a failover's wait).
    pub delayed: u64,
    /// Given up on after the last attempt.
    pub dead_letters: u64,
}

/// What a redrive did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redrive {
    /// Moved back at once (the local job table).
    Moved(u64),
    /// A move task started (SQS `StartMessageMoveTask`), with its handle.
    Started(String),
}

/// Queue statistics and the redrive of dead letters (the admin's).
#[async_trait]
pub trait QueueAdmin: Send + Sync {
    async fn health(&self) -> Result<Vec<QueueHealth>, QueueError>;
    /// Moves `queue`'s dead letters back to it; `Ok(None)`: no such queue.
    async fn redrive(&self, queue: &str) -> Result<Option<Redrive>, QueueError>;
}

/// The longest delay [`JobQueue::enqueue_after`] takes.
pub const MAX_JOB_DELAY_SECONDS: u32 = 900;

/// A rendered message ready for a provider.
pub struct OutgoingMessage {
    pub to: Recipient,
    pub subject: String,
    pub body: String,
    pub format: TemplateFormat,
    /// How the provider's receipts find their way back: `None` for a message
    /// that belongs to no verification (a channel's test message).
    pub tracking: Option<Tracking>,
}

/// What a sender attaches to a message so that the provider's delivery
/// receipts can be matched to the verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    /// [`crate::model::DeliveryRef::encode`]: sent as the provider's metadata
    /// (Postmark `Metadata`, SendGrid `custom_args`, Mailjet `EventPayload`,
    /// ClickSend `custom_string`), under the name [`Tracking::FIELD`] where
    /// the provider takes one. SES and SMTP send it nowhere (no receipts).
    pub reference: String,
    /// For providers that take a status callback URL per message (Twilio
    /// `StatusCallback`, Plivo `url`): the receipts endpoint of this
    /// deployment for the channel, with the reference in its query. `None`
    /// when the deployment has no public URL configured.
    pub status_callback: Option<String>,
}

impl Tracking {
    /// The metadata key (or tag name) that carries the reference.
    pub const FIELD: &'static str = "s2fa_ref";
}

impl fmt::Debug for OutgoingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body holds the code.
        f.debug_struct("OutgoingMessage").field("format", &self.format).finish_non_exhaustive()
    }
}

/// A provider's credentials (shape depends on the provider), opened from the
/// channel. Debug output is redacted.
pub struct ProviderCredentials(pub serde_json::Value);

impl fmt::Debug for ProviderCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProviderCredentials(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub provider_message_id: Option<String>,
}

/// A provider refusal. Reasons are ours or the provider's error codes and
/// never include the recipient or the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: timeouts, connection errors, 5xx.
    #[error("transient provider failure: {0}")]
    Transient(String),
    /// The provider asked us to slow down (HTTP 429 or its equivalent):
    /// retried no sooner than `retry_after_seconds` (its `Retry-After`).
    #[error("provider throttled: {reason}")]
    Throttled { reason: String, retry_after_seconds: u32 },
    /// Retrying cannot help: bad credentials, rejected recipient, misconfiguration.
    #[error("permanent provider failure: {0}")]
    Permanent(String),
}

/// Sends a rendered message through a provider.
#[async_trait]
pub trait MessageSender: Send + Sync {
    async fn send(
        &self,
        provider: ProviderKind,
        credentials: &ProviderCredentials,
        message: &OutgoingMessage,
    ) -> Result<SentMessage, SendError>;
}

/// Posts a signed webhook body. Returns the HTTP status, or an error for
/// transport failures.
#[async_trait]
pub trait WebhookPoster: Send + Sync {
    async fn post(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String>;
}
