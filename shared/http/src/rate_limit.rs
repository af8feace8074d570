//! Per-IP request limit (token bucket, `governor`). In memory: on Lambda it
//! is per instance, a second line behind API Gateway's stage throttling.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secure2fa_core::ApiError;
use secure2fa_core::error::RateLimitReason;

use crate::{ClientIp, ErrorResponse};

#[derive(Clone)]
pub struct IpRateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl IpRateLimit {
    /// `per_minute` requests per IP, with bursts of up to `burst`.
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self { limiter: Arc::new(RateLimiter::keyed(quota)) }
    }

    /// Drops idle buckets; call now and then so memory stays bounded.
    pub fn shrink(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    pub async fn middleware(State(limit): State<IpRateLimit>, req: Request, next: Next) -> Response {
        if let Some(ClientIp(ip)) = req.extensions().get::<ClientIp>().copied() {
            if let Err(not_until) = limit.limiter.check_key(&ip) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let retry_after_seconds = wait.as_secs().max(1) as u32;
                return ErrorResponse(ApiError::RateLimited { reason: RateLimitReason::TooManyRequests, retry_after_seconds })
                    .into_response();
            }
        }
        next.run(req).await
    }
}
