//! Operational counters for what fails *inside* a successful invocation and
//! so never shows in Lambda's `Errors`: a 503 answered to a client, a code
//! that could not be delivered, a webhook that ran out of retries, a log
//! entry lost, the key vault failing.
//!
//! Each is a `tracing` event with target [`TARGET`] and fields `metric`
//! (one of the names below) and `detail` (a dimension value without personal
//! data: a route, a provider). The Lambda functions turn these events into
//! CloudWatch embedded-metric-format lines (namespace [`NAMESPACE`]), which
//! the alarms of `template.yaml` watch; elsewhere they are ordinary log
//! lines.

/// The `tracing` target of metric events.
pub const TARGET: &str = "secure2fa::metric";
/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "Secure2FA";

/// An answer with a 5xx status (detail: the route).
pub const SERVER_ERRORS: &str = "ServerErrors";
/// A code whose delivery failed for good (detail: the provider).
pub const DELIVERIES_FAILED: &str = "DeliveriesFailed";
/// A webhook event whose last attempt failed, on its way to the dead-letter
/// queue (detail: `webhook`).
pub const WEBHOOKS_DEAD_LETTERED: &str = "WebhooksDeadLettered";
/// A project log entry that could not be written (detail: the event).
pub const LOG_WRITES_DROPPED: &str = "LogWritesDropped";
/// The key vault (KMS) refused or failed to unwrap or create a data key
/// (detail: the entity).
pub const KEY_VAULT_ERRORS: &str = "KeyVaultErrors";

/// Every metric this code emits.
pub const ALL: [&str; 5] =
    [SERVER_ERRORS, DELIVERIES_FAILED, WEBHOOKS_DEAD_LETTERED, LOG_WRITES_DROPPED, KEY_VAULT_ERRORS];

/// Counts one occurrence of `metric`.
pub fn count(metric: &'static str, detail: &str) {
    tracing::warn!(target: TARGET, metric, detail, "metric");
}
