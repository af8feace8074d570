//! Every file in `events/` through the real Lambda entry points (the
//! `lambda_http` conversion and the axum routers; the SQS batch handler),
//! against a deployment on moto. `sam local invoke` uses the same files.

mod support;

use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::SqsEvent;
use secure2fa_core::model::ProjectSettings;
use secure2fa_core::otp::sign_webhook;
use secure2fa_http::{OtpRoutes, base_router, otp_router};
use secure2fa_lambda::wiring::{otp_service, sqs_worker};
use serde_json::{Value, json};
use support::{AwsEnv, event, refresh_otp_event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_events_answer() {
    let env = AwsEnv::new().await;
    let router = env.management_router().await;
    let (s, body) = env.serve_event(router.clone(), &event("management-openapi.json")).await;
    assert_eq!((s, body["openapi"].as_str()), (200, Some("3.1.0")));
    let (s, body) = env.serve_event(router.clone(), &event("management-create-client.json")).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["is_admin"], true);
    let (s, body) = env.serve_event(router.clone(), &event("management-list-clients.json")).await;
    assert_eq!((s, body["clients"][0]["email"].as_str()), (200, Some("dev@example.com")));
    let mut unauthorised = event("management-list-clients.json");
    unauthorised["headers"]["authorization"] = json!("Bearer not-the-token-not-the-token");
    assert_eq!(env.serve_event(router, &unauthorised).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_and_worker_events_run_a_full_cycle() {
    let env = AwsEnv::new().await;
    let keys = env.project(ProjectSettings::default(), None).await;
    let generate = base_router().merge(otp_router(otp_service(&env.api), OtpRoutes::Generate, None));
    let verify = base_router().merge(otp_router(otp_service(&env.api), OtpRoutes::Verify, None));

    // As committed, the events name the fixture project, unknown here.
    assert_eq!(env.serve_event(generate.clone(), &event("otp-generate.json")).await.0, 401);
    // The generate function serves only its own route.
    assert_eq!(env.serve_event(generate.clone(), &event("otp-verify.json")).await.0, 404);

    let mut gen_event = event("otp-generate.json");
    refresh_otp_event(&mut gen_event, &keys, json!({}));
    let (s, body) = env.serve_event(generate, &gen_event).await;
    assert_eq!((s, body["status"].as_str()), (202, Some("pending")), "{body}");

    // The committed SQS event: its job names no existing project, so it is dropped (no retry).
    let committed: SqsEvent = serde_json::from_value(event("delivery-worker.json")).unwrap();
    assert!(env.worker.handle(committed).await.batch_item_failures.is_empty());
    // The same event carrying the live message delivers the code.
    let live = env.receive(&env.cfg.delivery_queue_url).await;
    let mut delivery: Value = event("delivery-worker.json");
    delivery["Records"][0]["body"] = json!(live.records[0].body);
    delivery["Records"][0]["receiptHandle"] = json!(live.records[0].receipt_handle);
    let response = env.worker.handle(serde_json::from_value(delivery).unwrap()).await;
    assert!(response.batch_item_failures.is_empty());
    let code = env.code_sent_to("ann@example.com").await;

    let mut ver_event = event("otp-verify.json");
    refresh_otp_event(&mut ver_event, &keys, json!({ "code": code }));
    let (s, body) = env.serve_event(verify, &ver_event).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("approved")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_worker_event_posts_a_signed_event() {
    let env = AwsEnv::new().await;
    let seen = Arc::new(Mutex::new(Vec::<(axum::http::HeaderMap, String)>::new()));
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: axum::http::HeaderMap, b: String| {
            let s2 = s2.clone();
            async move {
                s2.lock().unwrap().push((h, b));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let keys = env.project(ProjectSettings::default(), Some(url)).await;
    env.call(&keys, "/otp/generate", json!({ "user_id": "w", "to": "w@example.com" })).await;
    env.worker.handle(env.receive(&env.cfg.delivery_queue_url).await).await;
    let code = env.code_sent_to("w@example.com").await;
    assert_eq!(env.call(&keys, "/otp/verify", json!({ "user_id": "w", "code": code })).await.1["status"], "approved");

    let webhook_worker = sqs_worker(&env.clients, &env.cfg, &env.cfg.webhook_queue_url).unwrap();
    let committed: SqsEvent = serde_json::from_value(event("webhook-worker.json")).unwrap();
    assert!(webhook_worker.handle(committed).await.batch_item_failures.is_empty());
    let live = env.receive(&env.cfg.webhook_queue_url).await;
    assert_eq!(live.records.len(), 1);
    let mut ev = event("webhook-worker.json");
    ev["Records"][0]["body"] = json!(live.records[0].body);
    assert!(webhook_worker.handle(serde_json::from_value(ev).unwrap()).await.batch_item_failures.is_empty());

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "verification.approved");
    let sig = headers["secure2fa-signature"].to_str().unwrap();
    let t: i64 = sig.split(',').find_map(|p| p.strip_prefix("t=")).unwrap().parse().unwrap();
    assert_eq!(sign_webhook(keys.webhook_secret.as_ref().unwrap(), t, body.as_bytes()), sig);
}
