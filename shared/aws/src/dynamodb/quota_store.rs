//! Per-project request quotas shared by every function instance.
//!
//! | item | pk | sk | TTL |
//! |---|---|---|---|
//! | quota window | `QUOTA#<project id>` | `<window index>` | window end + 1 minute |
//!
//! A project's calls spread over many instances, each serving one request
//! at a time, so a bucket per instance would limit nothing. Instead time is
//! cut into windows of `burst / per_second` seconds (at least one), each
//! admitting `per_second` × its length requests (at most `burst`): on
//! average no more than `per_second`, and never more than the window's
//! allowance, whichever instance serves them. An instance takes tokens from
//! the window's counter a few at a time (one conditional `ADD`, refused
//! once the window is used up) and spends them locally, so the counter sees
//! about one write per [`chunk`] requests plus one per instance and window:
//! well under a partition's 1,000 writes per second at the largest quota.
//! Tokens an instance took but did not spend before the window ended are
//! lost: the quota can refuse a little early, never admit too much.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use secure2fa_core::clock::UnixTime;
use secure2fa_core::ids::ProjectId;
use secure2fa_core::model::Quota;
use secure2fa_core::quota::{QuotaExceeded, QuotaGate};

use super::{DynamoStore, key, n, names, unavailable};

/// The window of a quota: its length in seconds and the requests it admits.
pub(crate) fn window(quota: Quota) -> (i64, u64) {
    let seconds = (quota.burst / quota.per_second.max(1)).max(1) as i64;
    (seconds, quota.per_second as u64 * seconds as u64)
}

/// Tokens an instance takes at once: a twentieth of the window, 1 to 100.
pub(crate) fn chunk(allowance: u64) -> u64 {
    (allowance / 20).clamp(1, 100)
}

/// Leases kept at most; past it they are all dropped (each costs a write
/// to take again, nothing else).
const MAX_LEASES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Lease {
    quota: Quota,
    window: i64,
    left: u64,
}

pub struct DynamoQuotas {
    store: DynamoStore,
    leases: Mutex<HashMap<ProjectId, Lease>>,
}

impl DynamoQuotas {
    pub fn new(store: DynamoStore) -> Self {
        Self { store, leases: Mutex::default() }
    }

    fn spend_local(&self, project: ProjectId, quota: Quota, window: i64) -> bool {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        match leases.get_mut(&project) {
            Some(l) if l.quota == quota && l.window == window && l.left > 0 => {
                l.left -= 1;
                true
            }
            _ => false,
        }
    }

    fn keep(&self, project: ProjectId, lease: Lease) {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        if leases.len() >= MAX_LEASES && !leases.contains_key(&project) {
            leases.clear();
        }
        leases.insert(project, lease);
    }

    /// Takes `tokens` from the window's counter unless that would pass its
    /// allowance. `Ok(false)`: the window has fewer left.
    async fn take(
        &self,
        project: ProjectId,
        window: i64,
        seconds: i64,
        allowance: u64,
        tokens: u64,
    ) -> Result<bool, String> {
        let update = "ADD #used :n SET #ttl = :ttl";
        let cond = "attribute_not_exists(#used) OR #used <= :cap";
        let result = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(key(format!("QUOTA#{project}"), window.to_string())))
            .update_expression(update)
            .condition_expression(cond)
            .set_expression_attribute_names(Some(names(&[update, cond])))
            .expression_attribute_values(":n", n(tokens))
            .expression_attribute_values(":cap", n(allowance - tokens))
            .expression_attribute_values(":ttl", n((window + 1) * seconds + 60))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable(e).to_string()),
        }
    }
}

#[async_trait]
impl QuotaGate for DynamoQuotas {
    async fn admit(&self, project: ProjectId, quota: Quota, now: UnixTime) -> Result<(), QuotaExceeded> {
        let (seconds, allowance) = window(quota);
        let window = now.div_euclid(seconds);
        if self.spend_local(project, quota, window) {
            return Ok(());
        }
        let first = chunk(allowance);
        for tokens in if first > 1 { vec![first, 1] } else { vec![1] } {
            match self.take(project, window, seconds, allowance, tokens).await {
                Ok(true) => {
                    self.keep(project, Lease { quota, window, left: tokens - 1 });
                    return Ok(());
                }
                Ok(false) => continue,
                Err(e) => {
                    // See `QuotaGate::admit`: a gate that cannot count admits.
                    tracing::warn!(project_id = %project, error = %e, "quota window could not be counted; admitted");
                    return Ok(());
                }
            }
        }
        let retry_after_seconds = ((window + 1) * seconds - now).max(1) as u32;
        Err(QuotaExceeded { retry_after_seconds })
    }
}
