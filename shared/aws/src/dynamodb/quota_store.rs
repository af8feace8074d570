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
//! allowance in one window, whichever instance serves them (two windows
//! back to back can admit two allowances within moments: the local server's
//! exact token bucket does not). An instance takes tokens from the window's
//! counter with one conditional `ADD`, refused once the window is used up,
//! and spends them locally. It takes one token at first and twice as many
//! each time it runs out within a window (up to [`MAX_CHUNK`]; a new window
//! starts from half its last chunk), so an instance strands at most its
//! last chunk, and a busy one writes about log2 of its calls per window. Once
//! the window is used up the instance remembers it and refuses locally,
//! without a write, until the window ends. Tokens an instance took but did
//! not spend before the window ended are lost: the quota can refuse early,
//! never admit more than a window's allowance in that window.

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
    let per_second = quota.per_second.max(1);
    let seconds = (quota.burst / per_second).max(1) as i64;
    (seconds, per_second as u64 * seconds as u64)
}

/// Most tokens an instance takes at once.
pub(crate) const MAX_CHUNK: u64 = 256;

/// Leases kept at most; past it they are all dropped (each costs a write
/// to take again, nothing else).
const MAX_LEASES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Lease {
    quota: Quota,
    window: i64,
    left: u64,
    /// Tokens the last take asked for.
    chunk: u64,
    /// The window is used up: refuse without a write until it ends.
    exhausted: bool,
}

/// What the local lease says about one more request.
enum Local {
    Admit,
    Refuse,
    /// Take this many tokens from the window's counter.
    Take(u64),
}

pub struct DynamoQuotas {
    store: DynamoStore,
    leases: Mutex<HashMap<ProjectId, Lease>>,
}

impl DynamoQuotas {
    pub fn new(store: DynamoStore) -> Self {
        Self { store, leases: Mutex::default() }
    }

    fn local(&self, project: ProjectId, quota: Quota, window: i64, allowance: u64) -> Local {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        match leases.get_mut(&project) {
            Some(l) if l.quota == quota && l.window == window => {
                if l.exhausted {
                    Local::Refuse
                } else if l.left > 0 {
                    l.left -= 1;
                    Local::Admit
                } else {
                    // Ran out within the window: a busy instance, twice as much.
                    Local::Take((l.chunk * 2).min(MAX_CHUNK).min(allowance).max(1))
                }
            }
            // A new window starts from half the last chunk: an instance busy
            // before is likely busy still.
            Some(l) if l.quota == quota => Local::Take((l.chunk / 2).clamp(1, MAX_CHUNK.min(allowance).max(1))),
            _ => Local::Take(1),
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
    /// allowance. `Ok(false)`: the window has fewer left, or the counter is
    /// throttled (so many takes that the project is over its quota anyway).
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
            .expression_attribute_values(":cap", n(allowance.saturating_sub(tokens)))
            .expression_attribute_values(":ttl", n((window + 1) * seconds + 60))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_conditional_check_failed_exception()
                        || s.is_provisioned_throughput_exceeded_exception()
                        || s.is_request_limit_exceeded()
                        || s.meta().code() == Some("ThrottlingException")
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e).to_string()),
        }
    }
}

#[async_trait]
impl QuotaGate for DynamoQuotas {
    async fn admit(&self, project: ProjectId, quota: Quota, now: UnixTime) -> Result<(), QuotaExceeded> {
        let (seconds, allowance) = window(quota);
        let window = now.div_euclid(seconds);
        let refused = QuotaExceeded { retry_after_seconds: ((window + 1) * seconds - now).max(1) as u32 };
        let first = match self.local(project, quota, window, allowance) {
            Local::Admit => return Ok(()),
            Local::Refuse => return Err(refused),
            Local::Take(tokens) => tokens,
        };
        for tokens in if first > 1 { vec![first, 1] } else { vec![1] } {
            match self.take(project, window, seconds, allowance, tokens).await {
                Ok(true) => {
                    self.keep(project, Lease { quota, window, left: tokens - 1, chunk: tokens, exhausted: false });
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
        self.keep(project, Lease { quota, window, left: 0, chunk: 1, exhausted: true });
        Err(refused)
    }
}
