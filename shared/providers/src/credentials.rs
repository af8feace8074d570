//! A channel's credentials as a sender reads them: checked again against the provider's schema
//! (a channel saved before a rule existed fails with the schema's clear message, not with the
//! provider's), then read field by field.

use secure2fa_core::model::ProviderKind;
use secure2fa_core::ports::{OutgoingMessage, ProviderCredentials, SendError};
use secure2fa_core::providers::{port_value, present, validate_credentials};
use secure2fa_core::types::{Email, PhoneNumber, Recipient};
use serde_json::{Map, Value};

/// Credentials that passed [`validate_credentials`] for their provider.
pub(crate) struct Credentials<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Credentials<'a> {
    /// Checks that the registry routed the right provider here and that its credentials are valid.
    pub fn check(
        expected: ProviderKind,
        provider: ProviderKind,
        credentials: &'a ProviderCredentials,
    ) -> Result<Self, SendError> {
        let name = expected.as_str();
        if provider != expected {
            return Err(SendError::Permanent(format!("{name} cannot send for provider {}", provider.as_str())));
        }
        validate_credentials(expected, &credentials.0)
            .map_err(|e| SendError::Permanent(format!("{name}: invalid channel credentials: {e}")))?;
        let map = credentials.0.as_object().expect("validated credentials are an object");
        Ok(Self { map })
    }

    /// An optional field (absent, `null` and `""` alike).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        present(self.map, name).and_then(Value::as_str)
    }

    /// A field the schema requires, or one of a pair it requires.
    pub fn require(&self, name: &'static str) -> Result<&'a str, SendError> {
        self.get(name).ok_or_else(|| SendError::Permanent(format!("invalid channel credentials: {name} is missing")))
    }

    pub fn port(&self, name: &str) -> Option<u16> {
        present(self.map, name).and_then(port_value)
    }

    /// Every credential value, for taking them out of provider messages.
    pub fn values(&self) -> Vec<&'a str> {
        self.map.values().filter_map(Value::as_str).collect()
    }
}

pub(crate) fn email_recipient(provider: ProviderKind, message: &OutgoingMessage) -> Result<&Email, SendError> {
    match &message.to {
        Recipient::Email(email) => Ok(email),
        Recipient::Phone(_) => Err(SendError::Permanent(format!("{} sends email only", provider.as_str()))),
    }
}

pub(crate) fn phone_recipient(provider: ProviderKind, message: &OutgoingMessage) -> Result<&PhoneNumber, SendError> {
    match &message.to {
        Recipient::Phone(phone) => Ok(phone),
        Recipient::Email(_) => Err(SendError::Permanent(format!("{} sends SMS only", provider.as_str()))),
    }
}
