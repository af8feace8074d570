//! Outbound delivery for Secure-2FA: [`ProviderRegistry`] routes a message to
//! the sender registered for the channel's provider, and [`HttpWebhookPoster`]
//! posts signed webhook events, only to the addresses its [`AddressPolicy`]
//! allows (public ones, unless a local server opts in to private ones).
//!
//! Must not depend on the AWS SDK (the SES sender lives in `secure2fa-aws`
//! and is registered by the Lambda entry point).

mod registry;
mod webhook;

pub use registry::ProviderRegistry;
pub use webhook::{AddressPolicy, HttpWebhookPoster};
