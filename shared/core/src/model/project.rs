use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::{Sealed, WrappedKey};
use crate::ids::{ChannelId, ClientId, ProjectId, TemplateId};
use crate::model::ChannelMethod;
use crate::types::{CodeLength, ParseError, PublicKey};

/// Per-project OTP policy. Construct through [`ProjectSettings::new`], which
/// enforces the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettings {
    pub expiration_seconds: u32,
    pub max_attempts: u32,
    pub code_length: CodeLength,
    /// Minimum seconds between two sends to the same end user.
    pub resend_cooldown_seconds: u32,
    /// Sends allowed to one destination per window.
    pub sends_per_destination: u32,
    pub send_window_seconds: u32,
    /// How fast the project's backend may call the OTP API. Absent from
    /// records written before quotas existed: those get the default.
    #[serde(default)]
    pub quota: Quota,
}

/// A project's request quota on the OTP API (generate and verify together,
/// counted once a request is authenticated): `per_second` sustained, up to
/// `burst` at once. Exceeding it answers 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for Quota {
    fn default() -> Self {
        Self { per_second: 100, burst: 200 }
    }
}

impl Quota {
    pub const MAX_PER_SECOND: u32 = 100_000;

    pub fn new(per_second: u32, burst: u32) -> Result<Self, ParseError> {
        if !(1..=Self::MAX_PER_SECOND).contains(&per_second) {
            return Err(ParseError::new("requests_per_second", "must be between 1 and 100000"));
        }
        if burst < per_second || burst > per_second.saturating_mul(10) {
            return Err(ParseError::new("burst", "must be between requests_per_second and 10 times it"));
        }
        Ok(Self { per_second, burst })
    }
}

impl Default for ProjectSettings {
    fn default() -> Self {
        Self {
            expiration_seconds: 600,
            max_attempts: 5,
            code_length: CodeLength::default(),
            resend_cooldown_seconds: 30,
            sends_per_destination: 10,
            send_window_seconds: 3600,
            quota: Quota::default(),
        }
    }
}

impl ProjectSettings {
    pub fn new(
        expiration_seconds: u32,
        max_attempts: u32,
        code_length: CodeLength,
        resend_cooldown_seconds: u32,
        sends_per_destination: u32,
        send_window_seconds: u32,
        quota: Quota,
    ) -> Result<Self, ParseError> {
        if !(30..=86_400).contains(&expiration_seconds) {
            return Err(ParseError::new("expiration_seconds", "must be between 30 and 86400"));
        }
        if !(1..=20).contains(&max_attempts) {
            return Err(ParseError::new("max_attempts", "must be between 1 and 20"));
        }
        if resend_cooldown_seconds > 3600 {
            return Err(ParseError::new("resend_cooldown_seconds", "must be at most 3600"));
        }
        if !(1..=10_000).contains(&sends_per_destination) {
            return Err(ParseError::new("sends_per_destination", "must be between 1 and 10000"));
        }
        if !(60..=86_400).contains(&send_window_seconds) {
            return Err(ParseError::new("send_window_seconds", "must be between 60 and 86400"));
        }
        Ok(Self {
            expiration_seconds,
            max_attempts,
            code_length,
            resend_cooldown_seconds,
            sends_per_destination,
            send_window_seconds,
            quota,
        })
    }
}

/// Where and how verification events are pushed. Both values are sealed
/// under the project's data key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: Sealed,
    pub signing_secret: Sealed,
}

/// A second channel of the same method that a code goes out through, once,
/// when its delivery through the project's channel fails for good, or (SMS)
/// when no `delivered` receipt came within `after_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fallback {
    pub channel_id: ChannelId,
    pub after_seconds: u32,
}

impl Fallback {
    /// Bounds of `after_seconds`: long enough for a carrier's receipt, and
    /// within the queue's longest delay (SQS `DelaySeconds`).
    pub const AFTER_SECONDS: std::ops::RangeInclusive<u32> = 30..=crate::ports::MAX_JOB_DELAY_SECONDS;
    pub const DEFAULT_AFTER_SECONDS: u32 = 120;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub client_id: ClientId,
    pub title: String,
    pub public_key: PublicKey,
    /// The 32-byte payload key, sealed under the project's data key.
    pub secret_key: Sealed,
    pub channel_id: ChannelId,
    /// Copied from the channel so the hot path can validate `to` without
    /// reading the channel.
    pub channel_method: ChannelMethod,
    pub template_id: TemplateId,
    pub settings: ProjectSettings,
    pub webhook: Option<Webhook>,
    #[serde(default)]
    pub fallback: Option<Fallback>,
    /// The secret key before the last rotation, sealed like `secret_key`,
    /// still accepted until `previous_secret_until` (the overlap that lets
    /// the client's servers move to the new key without a failed call).
    #[serde(default)]
    pub previous_secret_key: Option<Sealed>,
    #[serde(default)]
    pub previous_secret_until: Option<UnixTime>,
    /// Counts the project's edits: every edit is a compare-and-set on it, so
    /// an edit or rotation based on a stale read is refused, never merged.
    #[serde(default)]
    pub revision: u64,
    pub data_key: WrappedKey,
    pub created_at: UnixTime,
}

impl Project {
    pub const SEALED_ENTITY: &'static str = "project";
}
