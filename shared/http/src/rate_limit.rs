//! Per-IP request limit (token bucket, `governor`). In memory: on Lambda it
//! is per instance, a second line behind API Gateway's stage throttling.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{ApiError, ClientIp, RateLimitReason};

#[derive(Clone)]
pub struct IpRateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    checks: Arc<AtomicU64>,
}

/// Idle buckets are dropped every this many checks, bounding memory.
const SHRINK_EVERY: u64 = 10_000;

impl IpRateLimit {
    /// `per_minute` requests per IP, with bursts of up to `burst`.
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self { limiter: Arc::new(RateLimiter::keyed(quota)), checks: Arc::new(AtomicU64::new(0)) }
    }

    /// `per_minute` requests per IP with bursts of a sixth of that: the
    /// policy every entry point uses.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        let burst = NonZeroU32::new((per_minute.get() / 6).max(1)).expect("max(1) is non-zero");
        Self::new(per_minute, burst)
    }

    pub async fn middleware(State(limit): State<IpRateLimit>, req: Request, next: Next) -> Response {
        if limit.checks.fetch_add(1, Ordering::Relaxed) % SHRINK_EVERY == SHRINK_EVERY - 1 {
            limit.limiter.retain_recent();
            limit.limiter.shrink_to_fit();
        }
        if let Some(ClientIp(ip)) = req.extensions().get::<ClientIp>().copied()
            && let Err(not_until) = limit.limiter.check_key(&ip)
        {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let retry_after_seconds = wait.as_secs().max(1) as u32;
            return (ApiError::RateLimited { reason: RateLimitReason::TooManyRequests, retry_after_seconds })
                .into_response();
        }
        next.run(req).await
    }
}
