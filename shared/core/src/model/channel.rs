use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::Sealed;
use crate::ids::{ChannelId, ClientId};

/// How a code travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelMethod {
    Email,
    Sms,
}

impl ChannelMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }
}

/// Who carries the message. `Outbox` is the local development sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Outbox,
    Ses,
    Smtp,
    Postmark,
    Sendgrid,
    Mailjet,
    Twilio,
    Plivo,
    Clicksend,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 9] = [
        Self::Outbox,
        Self::Ses,
        Self::Smtp,
        Self::Postmark,
        Self::Sendgrid,
        Self::Mailjet,
        Self::Twilio,
        Self::Plivo,
        Self::Clicksend,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outbox => "outbox",
            Self::Ses => "ses",
            Self::Smtp => "smtp",
            Self::Postmark => "postmark",
            Self::Sendgrid => "sendgrid",
            Self::Mailjet => "mailjet",
            Self::Twilio => "twilio",
            Self::Plivo => "plivo",
            Self::Clicksend => "clicksend",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether this provider can carry messages of `method`.
    pub fn supports(self, method: ChannelMethod) -> bool {
        match self {
            Self::Outbox => true,
            Self::Ses | Self::Smtp | Self::Postmark | Self::Sendgrid | Self::Mailjet => method == ChannelMethod::Email,
            Self::Twilio | Self::Plivo | Self::Clicksend => method == ChannelMethod::Sms,
        }
    }
}

/// A client's delivery channel. Provider credentials (a JSON object whose
/// shape depends on the provider) are sealed under the client's data key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub id: ChannelId,
    pub client_id: ClientId,
    pub title: String,
    pub method: ChannelMethod,
    pub provider: ProviderKind,
    pub credentials: Sealed,
    /// The secret a provider that does not sign its callbacks presents to
    /// our receipts endpoint (HTTP basic auth), sealed under the client's
    /// data key. `None` on channels made before receipts existed.
    #[serde(default)]
    pub receipt_secret: Option<Sealed>,
    pub created_at: UnixTime,
}

impl Channel {
    pub const SEALED_ENTITY: &'static str = "channel";
}
