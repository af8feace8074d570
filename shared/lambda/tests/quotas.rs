//! Per-project quotas on AWS: counted in the table, so they hold across
//! function instances (each a separate `Services`, as separate Lambdas
//! are), under concurrency, and cost a write per few calls, not per call.

mod support;

use std::time::Duration;

use futures::future::join_all;
use secure2fa_core::model::{ProjectSettings, Quota};
use secure2fa_http::{OtpRoutes, base_router, otp_router};
use secure2fa_lambda::wiring::{otp_service, services};
use serde_json::json;
use support::{AwsEnv, call_router, now};

/// Waits until at least `needed` seconds of the current `window`-second
/// quota window are left, so that a test's calls fall in one window.
async fn room_in_window(window: i64, needed: i64) {
    while window - now().rem_euclid(window) < needed {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An OTP router over a fresh instance's services (own caches, own leases).
fn instance(env: &AwsEnv) -> axum::Router {
    let s = services(&env.clients, &env.cfg);
    secure2fa_lambda::http::prepare(base_router().merge(otp_router(otp_service(&s), OtpRoutes::Both, None)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_over_many_instances_get_exactly_the_quota() {
    let env = AwsEnv::new().await;
    // 1 per second with bursts of 10: windows of 10 s admitting 10 calls,
    // taken one token at a time.
    let quota = Quota::new(1, 10).unwrap();
    let keys = env.project(ProjectSettings { quota, ..ProjectSettings::default() }, None).await;
    let other = env.project(ProjectSettings { quota, ..ProjectSettings::default() }, None).await;
    let instances: Vec<_> = (0..4).map(|_| instance(&env)).collect();
    room_in_window(10, 7).await;
    let calls = (0..24).map(|i| {
        let router = instances[i % instances.len()].clone();
        let keys = &keys;
        async move { call_router(router, keys, "/otp/verify", json!({ "user_id": "nobody", "code": "123456" })).await }
    });
    let answers = join_all(calls).await;
    let admitted = answers.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(admitted, 10, "exactly the window's allowance, across instances: {answers:?}");
    assert_eq!(refused.len(), 14, "{answers:?}");
    for (_, body) in refused {
        assert_eq!(body["error"]["code"], "rate_limited");
        assert!(body["error"]["message"].as_str().unwrap().contains("quota_exceeded"), "{body}");
    }
    // Another project's window is its own.
    let (s, body) =
        call_router(instances[0].clone(), &other, "/otp/verify", json!({ "user_id": "x", "code": "123456" })).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_takes_tokens_in_growing_chunks() {
    let env = AwsEnv::new().await;
    // 20 per second with bursts of 200: windows of 10 s admitting 200 calls.
    let quota = Quota::new(20, 200).unwrap();
    let keys = env.project(ProjectSettings { quota, ..ProjectSettings::default() }, None).await;
    let router = env.otp_router();
    // Warm the read and key caches.
    call_router(router.clone(), &keys, "/otp/verify", json!({ "user_id": "nobody", "code": "123456" })).await;
    room_in_window(10, 6).await;
    env.counter.reset();
    for _ in 0..40 {
        let (s, body) =
            call_router(router.clone(), &keys, "/otp/verify", json!({ "user_id": "nobody", "code": "123456" })).await;
        assert_eq!(s, 200, "{body}");
    }
    let b = env.budget();
    // Chunks of 1, 2, 4, 8, 16, 32 (or from 2 on, in the warm-up's window).
    assert!((5..=6).contains(&b.quota_writes), "40 calls take 5 or 6 growing chunks: {b:?}");
    assert_eq!(b.writes, 80, "besides, each call is its check and its log entry: {b:?}");
}

/// Many instances that each serve a few calls do not strand the quota: with
/// fixed chunks of a twentieth of the window, 40 instances would have taken
/// all 200 tokens after 20 of them and refused the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_quiet_instances_do_not_strand_the_quota() {
    let env = AwsEnv::new().await;
    let quota = Quota::new(20, 200).unwrap();
    let keys = env.project(ProjectSettings { quota, ..ProjectSettings::default() }, None).await;
    let instances: Vec<_> = (0..40).map(|_| instance(&env)).collect();
    room_in_window(10, 8).await;
    let mut admitted = 0;
    for round in 0..3 {
        for router in &instances {
            let (s, body) =
                call_router(router.clone(), &keys, "/otp/verify", json!({ "user_id": "nobody", "code": "123456" }))
                    .await;
            assert!(s == 200 || s == 429, "{body}");
            admitted += usize::from(s == 200);
        }
        assert_eq!(admitted, (round + 1) * instances.len(), "120 calls against an allowance of 200 all pass");
    }
}
