//! What the SMS providers share: the body's length on the air (computed by
//! [`secure2fa_core::providers::sms_length`]) logged before each send, never the body itself.

use secure2fa_core::model::ProviderKind;
pub use secure2fa_core::providers::{SmsEncoding, SmsLength, is_gsm7, sms_length};

/// Logs encoding and segment count of `body` (the segments are what the provider bills).
pub(crate) fn log_sms_length(provider: ProviderKind, body: &str) -> SmsLength {
    let length = sms_length(body);
    tracing::info!(
        provider = provider.as_str(),
        encoding = length.encoding.as_str(),
        units = length.units,
        segments = length.segments,
        "sms length"
    );
    length
}
