use serde::{Deserialize, Serialize};

use crate::crypto::Sealed;
use crate::ids::{EventId, ProjectId, VerificationId};
use crate::model::UserRef;
use crate::types::Lang;

/// Work placed on a queue. Anything sensitive inside is sealed under the
/// project's data key, so queue messages hold no code or address in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Job {
    Delivery(DeliveryJob),
    Webhook(WebhookJob),
}

impl Job {
    pub fn queue_name(&self) -> &'static str {
        match self {
            Job::Delivery(_) => "delivery",
            Job::Webhook(_) => "webhook",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub project_id: ProjectId,
    pub user_ref: UserRef,
    pub verification_id: VerificationId,
    /// The code, sealed (entity `job`, id = verification id, field `code`).
    pub code: Sealed,
    /// The destination, sealed (field `recipient`).
    pub recipient: Sealed,
    /// Requested language; `None`: the template's default.
    pub lang: Option<Lang>,
    /// What the job does with the code.
    #[serde(default)]
    pub step: DeliveryStep,
}

/// The two kinds of delivery job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStep {
    /// Send the code (through the fallback channel if its delivery moved there).
    #[default]
    Send,
    /// Queued with a delay after an SMS was sent on a project with a
    /// fallback: if no `delivered` receipt has come by then, the code goes
    /// out through the fallback channel.
    AwaitReceipt,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookJob {
    pub project_id: ProjectId,
    pub event_id: EventId,
    /// The JSON event body, sealed (entity `job`, id = event id, field `event`).
    pub event: Sealed,
}

/// Which delivery of a job a handler is running, so it can tell the last try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobAttempt {
    /// 1 for the first delivery.
    pub number: u32,
    pub max: u32,
}

impl JobAttempt {
    pub fn is_final(&self) -> bool {
        self.number >= self.max
    }

    /// Seconds to wait before the next delivery after this one failed:
    /// 5 s, 30 s, 2 min, then 5 min. The same on SQS and the local job table.
    pub fn retry_delay_seconds(&self) -> u32 {
        match self.number {
            0 | 1 => 5,
            2 => 30,
            3 => 120,
            _ => 300,
        }
    }
}
