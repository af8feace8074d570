//! The hot-path budget of DESIGN §8, counted on the SDK clients against moto:
//! generate ≤ 3 DynamoDB writes (its log included), 1 SQS send;
//! verify ≤ 2 writes on every path (approved, wrong code, out of attempts,
//! replayed);
//! delivery ≤ 2 writes; no DynamoDB read and no KMS call once the read and
//! key caches are warm.

mod support;

use secure2fa_core::model::ProjectSettings;
use serde_json::json;
use support::AwsEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_path_stays_within_the_call_budget() {
    let env = AwsEnv::new().await;
    let keys = env.project(ProjectSettings::default(), None).await;
    // Warm the read and key caches (API and worker), as a running Lambda's would be.
    let (s, _) = env.call(&keys, "/otp/generate", json!({ "user_id": "warm", "to": "warm@example.com" })).await;
    assert_eq!(s, 202);
    env.worker.handle(env.receive(&env.cfg.delivery_queue_url).await).await;

    env.counter.reset();
    let (s, body) = env.call(&keys, "/otp/generate", json!({ "user_id": "alice", "to": "alice@example.com" })).await;
    assert_eq!(s, 202, "{body}");
    let b = env.budget();
    println!("generate: {b:?}");
    assert!(b.writes <= 3 && b.reads == 0 && b.sqs_sends == 1 && b.kms_calls == 0, "generate over budget: {b:?}");

    let event = env.receive(&env.cfg.delivery_queue_url).await;
    assert_eq!(event.records.len(), 1);
    env.counter.reset();
    let response = env.worker.handle(event).await;
    assert!(response.batch_item_failures.is_empty());
    let b = env.budget();
    println!("delivery: {b:?}");
    assert!(b.writes <= 2 && b.reads == 0 && b.ses_sends == 1 && b.kms_calls == 0, "delivery over budget: {b:?}");

    let code = env.code_sent_to("alice@example.com").await;
    env.counter.reset();
    let (s, body) = env.call(&keys, "/otp/verify", json!({ "user_id": "alice", "code": code })).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("approved")), "{body}");
    let b = env.budget();
    println!("verify (approved): {b:?}");
    assert!(b.writes <= 2 && b.reads == 0 && b.kms_calls == 0 && b.sqs_sends == 0, "verify over budget: {b:?}");

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
        assert!(b.writes <= 2 && b.reads == 0 && b.kms_calls == 0, "{expected} verify over budget: {b:?}");
    }
    env.counter.reset();
    let (s, body) = env.call(&keys, "/otp/verify", json!({ "user_id": "alice", "code": "000000" })).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("not_found")), "{body}");
    let b = env.budget();
    assert!(b.writes <= 2 && b.reads == 0 && b.kms_calls == 0, "replayed verify over budget: {b:?}");

    // Every hot-path item fits in one write unit (1 KB), so a write is 1 WRU.
    let mut checked = 0;
    for item in env.scan().await {
        let pk = item["pk"].as_s().unwrap().clone();
        if pk.contains("#USER#") || pk.contains("#SENDS#") || pk.starts_with("LOG#") {
            assert!(support::item_size(&item) <= 1024, "{pk} is {} bytes", support::item_size(&item));
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

/// The partition design (`infra/dynamodb.md`, capacity model): what the hot
/// path writes for distinct end users never shares a partition key, except
/// the project's 32 log shards, and nothing of it lands in the project's own
/// partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_end_users_write_to_distinct_partitions() {
    use std::collections::{BTreeMap, BTreeSet};
    let env = AwsEnv::new().await;
    let keys = env.project(ProjectSettings::default(), None).await;
    let users = 24;
    for i in 0..users {
        let body = json!({ "user_id": format!("user-{i}"), "to": format!("user{i}@example.com") });
        let (s, body) = env.call(&keys, "/otp/generate", body).await;
        assert_eq!(s, 202, "{body}");
    }
    let mut delivered = 0;
    while delivered < users {
        let event = env.receive(&env.cfg.delivery_queue_url).await;
        delivered += event.records.len();
        assert!(env.worker.handle(event).await.batch_item_failures.is_empty());
    }
    for i in 0..users {
        let code = env.code_sent_to(&format!("user{i}@example.com")).await;
        let (s, body) = env.call(&keys, "/otp/verify", json!({ "user_id": format!("user-{i}"), "code": code })).await;
        assert_eq!((s, body["status"].as_str()), (200, Some("approved")), "{body}");
    }

    let items = env.scan().await;
    let text = |item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| {
        item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
    };
    let project_pk =
        items.iter().find(|i| text(i, "sk") == "PROJECT").map(|i| text(i, "pk")).expect("the project item");
    let mut partitions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in &items {
        partitions.entry(text(item, "pk")).or_default().push(text(item, "sk"));
    }
    assert_eq!(partitions[&project_pk], vec!["PROJECT".to_owned()], "the project's partition holds only the project");

    let end_users: Vec<_> = partitions.keys().filter(|pk| pk.starts_with(&format!("{project_pk}#USER#"))).collect();
    let counters: Vec<_> = partitions.keys().filter(|pk| pk.starts_with(&format!("{project_pk}#SENDS#"))).collect();
    assert_eq!(end_users.len(), users, "one partition per end user: {end_users:?}");
    assert_eq!(counters.len(), users, "one partition per destination: {counters:?}");
    for pk in end_users.iter().chain(&counters) {
        assert_eq!(partitions[*pk].len(), 1, "{pk} holds one item");
    }

    // Logs: one shard per end user, out of 32, and the end users spread.
    let project_id = project_pk.trim_start_matches("PROJECT#");
    let log_prefix = format!("LOG#{project_id}#");
    let mut shard_of_user: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for item in items.iter().filter(|i| text(i, "pk").starts_with(&log_prefix)) {
        let pk = text(item, "pk");
        let shard: u32 = pk[log_prefix.len()..].parse().expect("a numbered shard");
        assert!(shard < 32, "{pk}");
        shard_of_user.entry(text(item, "user_ref")).or_default().insert(pk);
    }
    assert_eq!(shard_of_user.len(), users, "every end user's generate and verify were logged");
    assert!(shard_of_user.values().all(|shards| shards.len() == 1), "an end user's log is one shard");
    let shards: BTreeSet<_> = shard_of_user.values().flatten().collect();
    // 24 end users over 32 shards fill about 17; fewer than 8 has a
    // probability below 1e-6.
    assert!(shards.len() >= 8, "end users spread over the shards: {shards:?}");
    assert!(!partitions.contains_key(&format!("LOG#{project_id}")), "no unsharded project log");
}
