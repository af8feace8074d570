//! Outbound delivery for Secure-2FA: the email and SMS provider clients (SMTP, Postmark,
//! SendGrid, Mailjet, Twilio, Plivo, ClickSend), the [`ProviderRegistry`] that routes a message
//! to the sender of its channel's provider, and [`HttpWebhookPoster`], which posts signed webhook
//! events only to the addresses its [`AddressPolicy`] allows.
//!
//! Each provider module cites the documentation its request and answers follow. Every sender
//! checks the channel's credentials against their schema
//! ([`secure2fa_core::providers::validate_credentials`]), keeps the provider's message id, and
//! turns a refusal into a [`SendError`](secure2fa_core::ports::SendError) that is transient,
//! throttled (429, honouring `Retry-After`) or permanent, whose reason never holds the recipient,
//! the message or a credential. The HTTP providers share one client; their base URLs are fixed
//! ([`ProviderEndpoints`]) and only the deployment may replace them.
//!
//! [`read_receipts`] reads the delivery receipts the providers post back: it checks each
//! callback's authenticity as its provider documents and normalizes the outcomes.
//!
//! Must not depend on the AWS SDK (the SES sender lives in `secure2fa-aws` and is registered by
//! the Lambda entry point; the outbox by the local server).

mod clicksend;
mod credentials;
mod endpoints;
mod failure;
mod http_client;
mod mailbox;
mod mailjet;
mod plivo;
mod postmark;
mod receipt_reader;
pub mod receipts;
mod registry;
mod sendgrid;
pub mod sms;
mod smtp;
mod twilio;
mod webhook;

pub use clicksend::ClicksendSender;
pub use endpoints::{EndpointError, ProviderEndpoints};
pub use failure::{DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER};
pub use http_client::{HttpTimeouts, provider_http_client};
pub use mailjet::MailjetSender;
pub use plivo::PlivoSender;
pub use postmark::PostmarkSender;
pub use receipt_reader::ProviderReceiptReader;
pub use receipts::{ProviderReceipt, ReceiptError, ReceiptRequest, read_receipts};
pub use registry::{ProviderRegistry, ProviderSetupError, ProvidersConfig};
pub use sendgrid::SendgridSender;
pub use smtp::{SmtpOptions, SmtpSender, SmtpSetupError};
pub use twilio::TwilioSender;
pub use webhook::{AddressPolicy, HttpWebhookPoster};
