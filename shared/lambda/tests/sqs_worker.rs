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

/// A delivery whose lease another (dead) worker still holds: the message is
/// reported for retry and hidden until the lease has ended, never dropped;
/// when it comes back the code is sent, once. Before, SQS's 5 s retry met
/// a 60 s lease and the job was dropped as "already delivered".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_delivery_is_retried_after_its_lease_not_dropped() {
    use secure2fa_core::clock::{Clock, SystemClock};
    use secure2fa_core::model::{ClaimOutcome, Job};
    use secure2fa_core::otp::DELIVERY_LEASE_SECONDS;
    use secure2fa_core::ports::VerificationStore;

    let env = AwsEnv::new().await;
    let keys = env.project(ProjectSettings::default(), None).await;
    env.call(&keys, "/otp/generate", json!({ "user_id": "held", "to": "held@example.com" })).await;
    let event = env.receive(&env.cfg.delivery_queue_url).await;
    let Job::Delivery(job) = serde_json::from_str(event.records[0].body.as_deref().unwrap()).unwrap() else {
        panic!("a delivery job")
    };
    // A worker claimed it a moment ago and died: its lease ends in 2 s.
    let claimed_at = SystemClock.now() - (DELIVERY_LEASE_SECONDS as i64 - 2);
    let claim = env
        .api
        .store
        .claim_delivery(job.project_id, &job.user_ref, job.verification_id, claimed_at, DELIVERY_LEASE_SECONDS)
        .await
        .unwrap();
    assert_eq!(claim, ClaimOutcome::Claimed { fallback: false });

    // Other tests share the moto server: count this address's mail only.
    let sent =
        || async { env.sent_emails().await.iter().filter(|m| m.to_string().contains("held@example.com")).count() };
    let response = env.worker.handle(event).await;
    assert_eq!(response.batch_item_failures.len(), 1, "retried, not dropped");
    assert_eq!(sent().await, 0);
    assert!(env.receive(&env.cfg.delivery_queue_url).await.records.is_empty(), "hidden until the retry is due");

    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let again = env.receive(&env.cfg.delivery_queue_url).await;
    assert_eq!(again.records.len(), 1);
    assert!(env.worker.handle(again).await.batch_item_failures.is_empty());
    assert_eq!(sent().await, 1, "sent once the lease ended");
}

/// One tenant's webhook receiver hangs: its post gives up at the poster's
/// timeout, well inside the worker's, and the other tenant's event in the
/// same batch is delivered and not reported; only the hanging one is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_webhook_receiver_fails_only_its_own_event() {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    // A receiver that accepts and never answers.
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}/hook", hanging.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hanging.accept().await {
            held.push(socket);
        }
    });
    // A receiver that answers at once.
    let received: Arc<Mutex<u32>> = Arc::default();
    let count = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let count = count.clone();
            async move {
                *count.lock().unwrap() += 1;
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let healthy_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let env = AwsEnv::new().await;
    let slow = env.project(ProjectSettings::default(), Some(hanging_url)).await;
    let fine = env.project(ProjectSettings::default(), Some(healthy_url)).await;
    for keys in [&slow, &fine] {
        env.call(keys, "/otp/generate", json!({ "user_id": "w", "to": "w@example.com" })).await;
        // A wrong code: a `verification.failed` event for the project's webhook.
        env.call(keys, "/otp/verify", json!({ "user_id": "w", "code": "0000000000" })).await;
    }
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    for _ in 0..20 {
        event.records.extend(env.receive(&env.cfg.webhook_queue_url).await.records);
        if event.records.len() >= 2 {
            break;
        }
    }
    assert_eq!(event.records.len(), 2, "one event per project");
    let worker = secure2fa_lambda::wiring::sqs_worker(&env.clients, &env.cfg, &env.cfg.webhook_queue_url).unwrap();
    let started = Instant::now();
    let response = worker.handle(event).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(8), "the batch took {elapsed:?} (the worker has 10 s)");
    assert_eq!(response.batch_item_failures.len(), 1, "only the hanging receiver's event is retried");
    assert_eq!(*received.lock().unwrap(), 1, "the other tenant's event was delivered");
}
