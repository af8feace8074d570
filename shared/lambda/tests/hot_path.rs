//! The hot-path budget of DESIGN §8, counted on the SDK clients against moto:
//! generate ≤ 3 DynamoDB writes (its log included), 1 read, 1 SQS send;
//! verify ≤ 2 writes on every path (approved, wrong code, out of attempts,
//! replayed), 1 read;
//! delivery ≤ 2 writes; no KMS call once the key caches are warm.

mod support;

use secure2fa_core::model::ProjectSettings;
use serde_json::json;
use support::AwsEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_path_stays_within_the_call_budget() {
    let env = AwsEnv::new().await;
    let keys = env.project(ProjectSettings::default(), None).await;
    // Warm both key caches (API and worker), as a running Lambda's would be.
    let (s, _) = env.call(&keys, "/otp/generate", json!({ "user_id": "warm", "to": "warm@example.com" })).await;
    assert_eq!(s, 202);
    env.worker.handle(env.receive(&env.cfg.delivery_queue_url).await).await;

    env.counter.reset();
    let (s, body) = env.call(&keys, "/otp/generate", json!({ "user_id": "alice", "to": "alice@example.com" })).await;
    assert_eq!(s, 202, "{body}");
    let b = env.budget();
    println!("generate: {b:?}");
    assert!(b.writes <= 3 && b.reads <= 1 && b.sqs_sends == 1 && b.kms_calls == 0, "generate over budget: {b:?}");

    let event = env.receive(&env.cfg.delivery_queue_url).await;
    assert_eq!(event.records.len(), 1);
    env.counter.reset();
    let response = env.worker.handle(event).await;
    assert!(response.batch_item_failures.is_empty());
    let b = env.budget();
    println!("delivery: {b:?}");
    assert!(b.writes <= 2 && b.ses_sends == 1 && b.kms_calls == 0, "delivery over budget: {b:?}");

    let code = env.code_sent_to("alice@example.com").await;
    env.counter.reset();
    let (s, body) = env.call(&keys, "/otp/verify", json!({ "user_id": "alice", "code": code })).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("approved")), "{body}");
    let b = env.budget();
    println!("verify (approved): {b:?}");
    assert!(b.writes <= 2 && b.reads <= 1 && b.kms_calls == 0 && b.sqs_sends == 0, "verify over budget: {b:?}");

    env.call(&keys, "/otp/generate", json!({ "user_id": "bob", "to": "bob@example.com" })).await;
    env.worker.handle(env.receive(&env.cfg.delivery_queue_url).await).await;
    let code = env.code_sent_to("bob@example.com").await;
    let wrong: String = code.chars().map(|c| if c == '9' { '0' } else { (c as u8 + 1) as char }).collect();
    let max = ProjectSettings::default().max_attempts;
    for n in 1..=max + 1 {
        env.counter.reset();
        let (s, body) = env.call(&keys, "/otp/verify", json!({ "user_id": "bob", "code": wrong })).await;
        let expected = if n <= max { "invalid_code" } else { "max_attempts_reached" };
        assert_eq!((s, body["status"].as_str()), (200, Some(expected)), "{body}");
        let b = env.budget();
        println!("verify ({expected}): {b:?}");
        assert!(b.writes <= 2 && b.reads <= 1 && b.kms_calls == 0, "{expected} verify over budget: {b:?}");
    }
    env.counter.reset();
    let (s, body) = env.call(&keys, "/otp/verify", json!({ "user_id": "alice", "code": "000000" })).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("not_found")), "{body}");
    let b = env.budget();
    assert!(b.writes <= 2 && b.reads <= 1 && b.kms_calls == 0, "replayed verify over budget: {b:?}");

    // Every hot-path item fits in one write unit (1 KB), so a write is 1 WRU.
    let mut checked = 0;
    for item in env.scan().await {
        let sk = item["sk"].as_s().unwrap().clone();
        if ["USER#", "SENDS#", "log_"].iter().any(|p| sk.starts_with(p)) {
            assert!(support::item_size(&item) <= 1024, "{sk} is {} bytes", support::item_size(&item));
            checked += 1;
        }
    }
    assert!(checked >= 9, "end users, counters and logs were all checked ({checked})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_key_cache_costs_one_kms_call_per_project() {
    let env = AwsEnv::new().await;
    let keys = env.project(ProjectSettings::default(), None).await;
    use secure2fa_core::ports::ProjectStore;
    let project = env.api.store.project_by_public_key(keys.public_key.as_str()).await.unwrap().unwrap();
    env.api.keys.evict(&secure2fa_core::crypto::KeyContext::project(project.id));
    env.counter.reset();
    env.call(&keys, "/otp/generate", json!({ "user_id": "a", "to": "a@example.com" })).await;
    env.call(&keys, "/otp/generate", json!({ "user_id": "b", "to": "b@example.com" })).await;
    assert_eq!(env.counter.get("kms.Decrypt"), 1, "{:?}", env.counter.snapshot());
}
