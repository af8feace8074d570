//! Domain entities as stored: plain data with sensitive fields already sealed
//! (see [`crate::crypto::field`]). Adapters persist these shapes; use cases in
//! [`crate::otp`] open and seal fields with the owning entity's data key.

mod account;
mod channel;
mod client;
mod job;
mod log;
mod project;
mod receipt;
mod template;
mod token;
mod verification;

pub use account::{AccountToken, AccountTokenPurpose, OpaqueSecret, Session, SessionLevel};
pub use channel::{Channel, ChannelMethod, ProviderKind};
pub use client::Client;
pub use job::{DeliveryJob, DeliveryStep, Job, JobAttempt, WebhookJob};
pub use log::{LOG_RETENTION_SECONDS, LogEntry, LogFilter, LogLevel, LogPage};
pub use project::{Fallback, Project, ProjectSettings, Quota, Webhook};
pub use receipt::{DeliveryReceipt, DeliveryRef, ReceiptStatus};
pub use template::{Template, TemplateFormat, TemplateVersion};
pub use token::{ApiToken, TokenSecret};
pub use verification::{
    CheckOutcome, CheckVerdict, ClaimOutcome, DeliveryState, DestinationLimit, NewVerification, Verification,
    VerificationStatus,
};

/// Keyed blind index of an end user's id within a project: the end user's
/// key everywhere we store or log something about them.
pub type UserRef = crate::crypto::Mac;
