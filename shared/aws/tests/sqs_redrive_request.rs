//! The redrive's requests as SQS documents them (API Reference,
//! `StartMessageMoveTask`, JSON protocol): checked against a mock endpoint,
//! since moto implements no message move task. The queue health's
//! `GetQueueAttributes` runs against moto in the IAM policy test.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use secure2fa_aws::{AwsClients, SqsQueueAdmin, emulator_config};
use secure2fa_core::ports::{QueueAdmin, Redrive};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";

#[tokio::test]
async fn a_redrive_starts_a_move_task_from_the_dead_letter_queue_back_to_its_queue() {
    let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let recorded = seen.clone();
    let app = Router::new().route(
        "/",
        post(move |headers: HeaderMap, body: String| {
            let recorded = recorded.clone();
            async move {
                let target = headers["x-amz-target"].to_str().unwrap().to_owned();
                assert!(headers["content-type"].to_str().unwrap().starts_with("application/x-amz-json-1.0"));
                let body: Value = serde_json::from_str(&body).unwrap();
                recorded.lock().unwrap().push((target.clone(), body.clone()));
                let reply = match target.as_str() {
                    "AmazonSQS.GetQueueAttributes" => {
                        let name = body["QueueUrl"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
                        assert_eq!(body["AttributeNames"], json!(["QueueArn"]));
                        json!({ "Attributes": { "QueueArn": format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{name}") } })
                    }
                    "AmazonSQS.StartMessageMoveTask" => json!({ "TaskHandle": "task-handle-1" }),
                    other => panic!("unexpected {other}"),
                };
                (StatusCode::OK, [("content-type", "application/x-amz-json-1.0")], reply.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let aws = AwsClients::new(&emulator_config(&endpoint).await, None);
    let queue = |name: &str| format!("{endpoint}/{ACCOUNT}/{name}");
    let admin = SqsQueueAdmin::new(
        aws.sqs(),
        vec![
            ("delivery", queue("otp-delivery"), queue("otp-delivery-dlq")),
            ("webhook", queue("otp-webhook"), queue("otp-webhook-dlq")),
        ],
    );
    assert_eq!(admin.redrive("webhook").await.unwrap(), Some(Redrive::Started("task-handle-1".into())));
    assert_eq!(admin.redrive("nope").await.unwrap(), None, "no such queue: nothing sent");

    let seen = seen.lock().unwrap();
    let task = seen.iter().find(|(t, _)| t == "AmazonSQS.StartMessageMoveTask").expect("a move task");
    assert_eq!(
        task.1,
        json!({
            "SourceArn": format!("arn:aws:sqs:us-east-1:{ACCOUNT}:otp-webhook-dlq"),
            "DestinationArn": format!("arn:aws:sqs:us-east-1:{ACCOUNT}:otp-webhook"),
        }),
        "from the webhook queue's dead letters back to it, at SQS's own rate"
    );
    assert_eq!(seen.len(), 3, "two ARNs read, one task started: {seen:?}");
}
