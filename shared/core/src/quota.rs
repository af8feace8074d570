//! Per-project request quotas on the OTP API ([`Quota`] in the project's
//! settings): the port, and the in-process implementation the local server
//! uses. On AWS, where a project's calls spread over many function
//! instances, the DynamoDB adapter counts them in shared windows instead.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, RateLimiter};
use lru::LruCache;

use crate::clock::UnixTime;
use crate::ids::ProjectId;
use crate::model::Quota;

/// A request over its project's quota: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaExceeded {
    pub retry_after_seconds: u32,
}

/// Counts the OTP API requests of each project against its quota.
#[async_trait]
pub trait QuotaGate: Send + Sync {
    /// Admits one request of `project`, or refuses it. A gate that cannot
    /// count (its store is down) admits: a quota protects capacity, it is
    /// not an invariant worth failing a verification for.
    async fn admit(&self, project: ProjectId, quota: Quota, now: UnixTime) -> Result<(), QuotaExceeded>;
}

/// Projects whose buckets are kept at most (least recently used dropped).
const MAX_PROJECTS: usize = 100_000;

/// Token buckets in this process (GCRA, `governor`): exact where one
/// process serves every request of a project (the local server).
pub struct InProcessQuotas {
    buckets: Mutex<LruCache<ProjectId, (Quota, Arc<DefaultDirectRateLimiter>)>>,
}

impl Default for InProcessQuotas {
    fn default() -> Self {
        Self { buckets: Mutex::new(LruCache::new(MAX_PROJECTS.try_into().expect("non-zero"))) }
    }
}

impl InProcessQuotas {
    fn bucket(&self, project: ProjectId, quota: Quota) -> Arc<DefaultDirectRateLimiter> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(&project) {
            // A changed quota starts a new bucket.
            Some((q, limiter)) if *q == quota => limiter.clone(),
            _ => {
                let nz = |n: u32| NonZeroU32::new(n.max(1)).expect("max(1) is non-zero");
                let rate = governor::Quota::per_second(nz(quota.per_second)).allow_burst(nz(quota.burst));
                let limiter = Arc::new(RateLimiter::direct(rate));
                buckets.put(project, (quota, limiter.clone()));
                limiter
            }
        }
    }
}

#[async_trait]
impl QuotaGate for InProcessQuotas {
    async fn admit(&self, project: ProjectId, quota: Quota, _: UnixTime) -> Result<(), QuotaExceeded> {
        self.bucket(project, quota).check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            QuotaExceeded { retry_after_seconds: wait.as_secs_f64().ceil().max(1.0) as u32 }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_project_gets_its_burst_then_waits_and_others_are_not_touched() {
        let gate = InProcessQuotas::default();
        let (busy, other) = (ProjectId::generate(), ProjectId::generate());
        let quota = Quota::new(2, 5).unwrap();
        for _ in 0..5 {
            gate.admit(busy, quota, 0).await.unwrap();
        }
        let refused = gate.admit(busy, quota, 0).await.unwrap_err();
        assert_eq!(refused.retry_after_seconds, 1, "one token comes back every half second");
        gate.admit(other, quota, 0).await.expect("another project has its own bucket");
        // A raised quota applies at once.
        gate.admit(busy, Quota::new(10, 20).unwrap(), 0).await.unwrap();
    }
}
