//! The SQS entry point: partial batch failures, and at-least-once delivery
//! that still sends a code once.

mod support;

use secure2fa_core::model::ProjectSettings;
use serde_json::json;
use support::AwsEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failed_records_are_reported_and_duplicates_send_once() {
    let env = AwsEnv::new().await;
    let keys = env.project(ProjectSettings::default(), None).await;
    env.call(&keys, "/otp/generate", json!({ "user_id": "dup", "to": "dup@example.com" })).await;
    let mut event = env.receive(&env.cfg.delivery_queue_url).await;
    assert_eq!(event.records.len(), 1);
    let good = event.records[0].clone();
    let mut bad = good.clone();
    bad.message_id = Some("not-a-job".into());
    bad.body = Some("{\"type\":\"delivery\",\"garbage\":true}".into());
    event.records.push(bad);
    // The same message twice in one batch, as SQS may redeliver it.
    event.records.push(good.clone());

    let before = env.sent_emails().await.len();
    let response = env.worker.handle(event).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["not-a-job"]);
    assert_eq!(env.sent_emails().await.len(), before + 1, "sent once");

    // Delivered again later: still once.
    let mut again = aws_lambda_events::event::sqs::SqsEvent::default();
    again.records.push(good);
    assert!(env.worker.handle(again).await.batch_item_failures.is_empty());
    assert_eq!(env.sent_emails().await.len(), before + 1);
}
