//! The core's records as the wire shows them: the answers of the management
//! and OTP APIs, with the schemas the OpenAPI document is generated from.
//! The core speaks the domain; these types own the JSON (field names, nulls,
//! enums), each converted from the record it shows.

use std::collections::BTreeMap;

use secure2fa_core::ids::{ChannelId, ClientId, LogId, ProjectId, TemplateId, TokenId, VerificationId};
use secure2fa_core::manage::EndUser as CoreEndUser;
use secure2fa_core::model::{self as core, LogEntry as CoreLogEntry};
use secure2fa_core::ports::QueueHealth as CoreQueueHealth;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A twin of a core enum for the wire: the same snake_case names, and
/// conversions both ways that match every variant, so a variant added to the
/// core does not compile here until the document shows it.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident = $core:path { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl From<$core> for $name {
            fn from(value: $core) -> Self {
                use $core as Core;
                match value {
                    $(Core::$variant => Self::$variant),+
                }
            }
        }

        impl From<$name> for $core {
            fn from(value: $name) -> Self {
                use $core as Core;
                match value {
                    $($name::$variant => Core::$variant),+
                }
            }
        }
    };
}

wire_enum!(ChannelMethod = core::ChannelMethod { Email, Sms });
wire_enum!(
    ProviderKind = core::ProviderKind { Outbox, Ses, Smtp, Postmark, Sendgrid, Mailjet, Twilio, Plivo, Clicksend }
);
wire_enum!(LogLevel = core::LogLevel { Info, Success, Warning, Danger });
wire_enum!(TemplateFormat = core::TemplateFormat { Text, Html });
wire_enum!(DeliveryState = core::DeliveryState { Queued, Claimed, Sent, NotRequired, Failed });
wire_enum!(ReceiptStatus = core::ReceiptStatus { Sent, Delivered, Failed, Bounced, Complained });
wire_enum!(
    /// The outcome of a check.
    VerifyStatus = secure2fa_core::otp::VerifyStatus {
        Approved,
        InvalidCode,
        Expired,
        MaxAttemptsReached,
        DeviceMismatch,
        NotFound,
    }
);

/// A client as the management API shows it.
#[derive(Serialize, ToSchema)]
pub struct Client {
    #[schema(value_type = String)]
    pub id: ClientId,
    pub email: String,
    pub is_admin: bool,
    pub confirmed: bool,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<Client>,
}

/// A channel; its credentials are never shown.
#[derive(Serialize, ToSchema)]
pub struct Channel {
    #[schema(value_type = String)]
    pub id: ChannelId,
    pub title: String,
    pub method: ChannelMethod,
    pub provider: ProviderKind,
    pub created_at: i64,
}

impl From<&core::Channel> for Channel {
    fn from(c: &core::Channel) -> Self {
        Self {
            id: c.id,
            title: c.title.clone(),
            method: c.method.into(),
            provider: c.provider.into(),
            created_at: c.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<Channel>,
}

/// Shown once. Where the provider posts delivery receipts for this channel,
/// and the HTTP basic-auth credentials (or, for ClickSend, the token query
/// parameter) of providers that do not sign their callbacks.
#[derive(Serialize, ToSchema)]
pub struct Receipts {
    pub path: String,
    /// The full URL, when the deployment knows its public base URL.
    pub url: Option<String>,
    pub username: &'static str,
    /// The receipts secret; null for providers that sign their callbacks.
    pub password: Option<String>,
}

/// A new channel, with where its provider posts receipts (shown once).
#[derive(Serialize, ToSchema)]
pub struct CreatedChannel {
    #[serde(flatten)]
    pub channel: Channel,
    pub receipts: Receipts,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedReceiptsSecret {
    pub receipts: Receipts,
}

/// The provider's answer to a test message: an answer, not an error.
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TestSendOutcome {
    Sent {
        provider_message_id: Option<String>,
    },
    Failed {
        /// The provider's refusal, without the recipient.
        reason: String,
        retryable: bool,
    },
}

/// One language's version of a template.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TemplateVersion {
    pub subject: String,
    /// minijinja; must contain {{ OTP_CODE }}; may use EXPIRES_IN_MINUTES,
    /// EXPIRES_IN_SECONDS, PROJECT_NAME
    pub body: String,
}

#[derive(Serialize, ToSchema)]
pub struct Template {
    #[schema(value_type = String)]
    pub id: TemplateId,
    pub title: String,
    pub default_lang: String,
    pub format: TemplateFormat,
    /// By language tag.
    pub versions: BTreeMap<String, TemplateVersion>,
    pub created_at: i64,
}

impl From<&core::Template> for Template {
    fn from(t: &core::Template) -> Self {
        Self {
            id: t.id,
            title: t.title.clone(),
            default_lang: t.default_lang.as_str().to_owned(),
            format: t.format.into(),
            versions: t
                .versions
                .iter()
                .map(|(lang, v)| {
                    (lang.as_str().to_owned(), TemplateVersion { subject: v.subject.clone(), body: v.body.clone() })
                })
                .collect(),
            created_at: t.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    pub templates: Vec<Template>,
}

/// A project's OTP policy.
#[derive(Serialize, ToSchema)]
pub struct ProjectSettings {
    pub expiration_seconds: u32,
    pub max_attempts: u32,
    pub code_length: u8,
    pub resend_cooldown_seconds: u32,
    pub sends_per_destination: u32,
    pub send_window_seconds: u32,
    pub quota: Quota,
}

/// The project's quota on the OTP API: `per_second` sustained, `burst` at once.
#[derive(Serialize, ToSchema)]
pub struct Quota {
    pub per_second: u32,
    pub burst: u32,
}

impl From<core::ProjectSettings> for ProjectSettings {
    fn from(s: core::ProjectSettings) -> Self {
        Self {
            expiration_seconds: s.expiration_seconds,
            max_attempts: s.max_attempts,
            code_length: s.code_length.into(),
            resend_cooldown_seconds: s.resend_cooldown_seconds,
            sends_per_destination: s.sends_per_destination,
            send_window_seconds: s.send_window_seconds,
            quota: Quota { per_second: s.quota.per_second, burst: s.quota.burst },
        }
    }
}

/// Another channel of the same method that a code goes out through when
/// delivery through the project's channel fails.
#[derive(Serialize, ToSchema)]
pub struct Fallback {
    #[schema(value_type = String)]
    pub channel_id: ChannelId,
    pub after_seconds: u32,
}

/// A project (no secrets).
#[derive(Serialize, ToSchema)]
pub struct Project {
    #[schema(value_type = String)]
    pub id: ProjectId,
    pub title: String,
    pub public_key: String,
    #[schema(value_type = String)]
    pub channel_id: ChannelId,
    pub channel_method: ChannelMethod,
    #[schema(value_type = String)]
    pub template_id: TemplateId,
    pub settings: ProjectSettings,
    pub has_webhook: bool,
    pub created_at: i64,
    pub fallback: Option<Fallback>,
    /// Until when the secret key before the last rotation is still accepted
    pub previous_key_valid_until: Option<i64>,
}

impl From<&core::Project> for Project {
    fn from(p: &core::Project) -> Self {
        Self {
            id: p.id,
            title: p.title.clone(),
            public_key: p.public_key.as_str().to_owned(),
            channel_id: p.channel_id,
            channel_method: p.channel_method.into(),
            template_id: p.template_id,
            settings: p.settings.into(),
            has_webhook: p.webhook.is_some(),
            created_at: p.created_at,
            fallback: p.fallback.map(|f| Fallback { channel_id: f.channel_id, after_seconds: f.after_seconds }),
            previous_key_valid_until: p.previous_secret_key.as_ref().and(p.previous_secret_until),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<Project>,
}

/// A project with its secret key, shown in this answer only.
#[derive(Serialize, ToSchema)]
pub struct CreatedProject {
    #[serde(flatten)]
    pub project: Project,
    /// base64 of 32 bytes; shown once
    pub secret_key: String,
    /// whsec_...; shown once, when the project has just got a webhook
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

/// An edited project; a webhook added gets its secret, shown once.
#[derive(Serialize, ToSchema)]
pub struct EditedProject {
    #[serde(flatten)]
    pub project: Project,
    /// whsec_...; shown once, when the edit added a webhook
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookSecret {
    /// whsec_...; shown once
    pub webhook_secret: String,
}

/// A delivery receipt: the furthest a provider reported.
#[derive(Serialize, ToSchema)]
pub struct Receipt {
    pub status: ReceiptStatus,
    pub reason: Option<String>,
    pub at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Delivery {
    pub state: DeliveryState,
    pub provider_message_id: Option<String>,
    pub fallback: bool,
    pub receipt: Option<Receipt>,
}

/// `manage::EndUser::state`'s values.
fn end_user_states() -> utoipa::openapi::Object {
    crate::openapi::string_enum(&["pending", "approved", "expired", "locked"])
}

/// An end user as its project's owner sees it; never the destination.
#[derive(Serialize, ToSchema)]
pub struct EndUser {
    pub user_id: String,
    pub user_ref: String,
    #[schema(schema_with = end_user_states)]
    pub state: &'static str,
    #[schema(value_type = String)]
    pub verification_id: VerificationId,
    pub attempts: u32,
    pub max_attempts: u32,
    pub first_seen: i64,
    pub last_sent: i64,
    pub expires_at: i64,
    pub delivery: Delivery,
}

impl From<&CoreEndUser> for EndUser {
    fn from(u: &CoreEndUser) -> Self {
        let v = &u.verification;
        Self {
            user_id: u.user_id.clone(),
            user_ref: v.user_ref.as_str().to_owned(),
            state: u.state,
            verification_id: v.verification_id,
            attempts: v.attempts,
            max_attempts: v.max_attempts,
            first_seen: v.first_seen,
            last_sent: v.sent_at,
            expires_at: v.expires_at,
            delivery: Delivery {
                state: v.delivery.into(),
                provider_message_id: v.provider_message_id.clone(),
                fallback: v.fallback,
                receipt: v.receipt.as_ref().map(|r| Receipt {
                    status: r.status.into(),
                    reason: r.reason.clone(),
                    at: r.at,
                }),
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EndUserList {
    pub end_users: Vec<EndUser>,
}

#[derive(Serialize, ToSchema)]
pub struct LogEntry {
    #[schema(value_type = String)]
    pub id: LogId,
    #[schema(value_type = Option<String>)]
    pub project_id: Option<ProjectId>,
    pub user_ref: Option<String>,
    #[schema(value_type = Option<String>)]
    pub verification_id: Option<VerificationId>,
    pub level: LogLevel,
    pub event: String,
    pub message: String,
    pub created_at: i64,
}

impl From<&CoreLogEntry> for LogEntry {
    fn from(l: &CoreLogEntry) -> Self {
        Self {
            id: l.id,
            project_id: l.project_id,
            user_ref: l.user_ref.as_ref().map(|u| u.as_str().to_owned()),
            verification_id: l.verification_id,
            level: l.level.into(),
            event: l.event.clone(),
            message: l.message.clone(),
            created_at: l.created_at,
        }
    }
}

/// A page of logs, newest first.
#[derive(Serialize, ToSchema)]
pub struct LogPage {
    pub logs: Vec<LogEntry>,
    /// Pass as `before` for the next page; null on the last one.
    #[schema(value_type = Option<String>)]
    pub next_before: Option<LogId>,
}

/// An API token; the token itself is shown only when it is created.
#[derive(Serialize, ToSchema)]
pub struct ApiToken {
    #[schema(value_type = String)]
    pub id: TokenId,
    pub name: String,
    /// The token's first 12 characters.
    pub prefix: String,
    pub created_at: i64,
    /// Updated at most once a minute.
    pub last_used_at: Option<i64>,
}

impl From<&core::ApiToken> for ApiToken {
    fn from(t: &core::ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiTokenList {
    pub tokens: Vec<ApiToken>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub token_record: ApiToken,
    /// Shown once: only its SHA-256 is stored. Use it as `Authorization: Bearer <token>`.
    pub token: String,
}

/// One background queue's health.
#[derive(Serialize, ToSchema)]
pub struct QueueHealth {
    /// `delivery` or `webhook`.
    pub queue: String,
    pub ready: u64,
    pub in_flight: u64,
    pub delayed: u64,
    pub dead_letters: u64,
}

impl From<CoreQueueHealth> for QueueHealth {
    fn from(q: CoreQueueHealth) -> Self {
        Self {
            queue: q.queue,
            ready: q.ready,
            in_flight: q.in_flight,
            delayed: q.delayed,
            dead_letters: q.dead_letters,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct QueueHealthList {
    pub queues: Vec<QueueHealth>,
}

/// What a redrive did: `moved` dead letters back at once (the local job
/// table), or started a move `task` (SQS).
#[derive(Serialize, ToSchema)]
pub struct Redriven {
    pub queue: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}
