//! The workers: delivery idempotency and failure handling, webhooks signed
//! and retried to a local receiver, and the log trail every call leaves.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use common::*;
use reqwest::StatusCode;
use secure2fa::LocalApp;
use secure2fa_core::manage::NewProject;
use secure2fa_core::model::{
    ChannelMethod, ClaimOutcome, DeliveryJob, Job, LogFilter, LogLevel, ProjectSettings, ProviderKind,
};
use secure2fa_core::otp::{DELIVERY_LEASE_SECONDS, RetryJob, sign_webhook};
use secure2fa_core::ports::{ClientStore, LogStore, ProjectStore, VerificationStore};
use secure2fa_core::types::{PublicKey, SecretKey};
use serde_json::{Value, json};

#[tokio::test]
async fn a_delivery_job_received_twice_sends_once() {
    let t = spawn_app().await;
    t.generate("u", "u@example.com").await;
    let claimed = t.app.queue.claim("delivery").await.unwrap().unwrap();
    let Job::Delivery(job) = &claimed.job else { panic!("not a delivery job") };
    let first = t.app.worker.handle_delivery(job, claimed.attempt).await.unwrap();
    let second = t.app.worker.handle_delivery(job, claimed.attempt).await.unwrap();
    assert_eq!(first, secure2fa_core::otp::JobOutcome::Done);
    assert!(matches!(second, secure2fa_core::otp::JobOutcome::Dropped(_)), "{second:?}");
    assert_eq!(t.outbox_len().await, 1);
}

#[tokio::test]
async fn a_superseded_code_is_never_delivered() {
    let t = spawn_app().await;
    t.generate("u", "u@example.com").await;
    t.clock.advance(30);
    t.generate("u", "u@example.com").await;
    assert_eq!(t.app.process_pending_jobs().await.unwrap(), 2);
    assert_eq!(t.outbox_len().await, 1, "only the current code goes out");
}

#[tokio::test]
async fn queue_messages_hold_no_code_or_address_in_clear() {
    let t = spawn_app().await;
    t.generate("user-secret-id", "hidden.person@example.com").await;
    let claimed = t.app.queue.claim("delivery").await.unwrap().unwrap();
    let text = serde_json::to_string(&claimed.job).unwrap();
    assert!(!text.contains("hidden.person"));
    assert!(!text.contains("user-secret-id"));
    t.app.queue.retry(&claimed, RetryJob::new("test")).await.unwrap();
    t.clock.advance(10);
    let code = code_in(&t.deliver_and_read("hidden.person@example.com").await.body);
    assert!(!text.contains(&code));
}

/// What a worker that dies right after claiming leaves behind: the job
/// received (leased on the queue) and the delivery claimed under a lease.
async fn claim_then_die(t: &TestApp) -> (secure2fa_local::ClaimedJob, DeliveryJob) {
    let received = t.app.queue.claim("delivery").await.unwrap().expect("a delivery job");
    let Job::Delivery(job) = received.job.clone() else { panic!("not a delivery job") };
    let claim = t
        .app
        .store
        .claim_delivery(job.project_id, &job.user_ref, job.verification_id, t.now(), DELIVERY_LEASE_SECONDS)
        .await
        .unwrap();
    assert_eq!(claim, ClaimOutcome::Claimed { fallback: false });
    (received, job)
}

/// The job comes back while the dead worker's lease still runs (its release
/// failed and the queue retried after 5 s): it must wait for the lease, not
/// be dropped as "already delivered", which lost the code before.
#[tokio::test]
async fn a_job_seen_while_a_lease_is_held_is_retried_after_it_and_sends_once() {
    let t = spawn_app().await;
    t.generate("u", "held@example.com").await;
    let (received, _) = claim_then_die(&t).await;
    t.app.queue.retry(&received, RetryJob::new("release failed")).await.unwrap();

    t.clock.advance(5);
    assert_eq!(t.app.process_pending_jobs().await.unwrap(), 1, "the job ran");
    assert_eq!(t.outbox_len().await, 0, "nothing sent while the lease holds");
    let delivery = t.app.queue.stats().await.unwrap().into_iter().find(|s| s.queue == "delivery").unwrap();
    assert_eq!((delivery.delayed, delivery.dead_letters), (1, 0), "retried, not dropped");

    t.clock.advance(DELIVERY_LEASE_SECONDS as i64);
    t.app.process_pending_jobs().await.unwrap();
    assert_eq!(t.outbox_len().await, 1, "sent once the lease ended");
    t.clock.advance(600);
    t.app.process_pending_jobs().await.unwrap();
    assert_eq!(t.outbox_len().await, 1, "and only once");
}

/// The worker died between claim and send and nothing released anything:
/// the queue hands the job out again after its own lease, which outlasts
/// the delivery lease, so the code is sent, exactly once.
#[tokio::test]
async fn a_delivery_claimed_by_a_crashed_worker_is_sent_once_when_the_job_returns() {
    let t = spawn_app().await;
    t.generate("u", "crashed@example.com").await;
    claim_then_die(&t).await;
    assert_eq!(t.app.process_pending_jobs().await.unwrap(), 0, "the job is still leased");
    t.clock.advance(secure2fa_local::JOB_LEASE_SECONDS);
    t.app.process_pending_jobs().await.unwrap();
    t.app.process_pending_jobs().await.unwrap();
    assert_eq!(t.outbox_len().await, 1);
}

/// The process stopped between claim and send: at the next start both the
/// job lease and the delivery claim are released, and the code goes out at
/// once, exactly once. Before, the claim survived the restart and the job
/// was dropped.
#[tokio::test]
async fn a_delivery_claimed_before_a_restart_is_sent_once_after_it() {
    let t = spawn_app().await;
    t.generate("u", "restarted@example.com").await;
    claim_then_die(&t).await;
    let (config, clock, dir) = t.stop();
    let t = serve(LocalApp::open(config, clock.clone()).unwrap(), clock, dir).await;
    t.app.process_pending_jobs().await.unwrap();
    assert_eq!(t.outbox_len().await, 1, "sent right after the restart");
    t.clock.advance(600);
    t.app.process_pending_jobs().await.unwrap();
    assert_eq!(t.outbox_len().await, 1, "and only once");
}

/// A project on a channel whose provider this deployment cannot send with
/// (SES: the local server has no AWS).
async fn project_with_unavailable_provider(
    t: &TestApp,
    webhook_url: Option<String>,
) -> (PublicKey, SecretKey, Option<String>) {
    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let demo = t.app.store.list_projects(client.id).await.unwrap().remove(0);
    // The local server allows no SES sender: the channel is saved as on a
    // deployment that allows this one.
    let senders = secure2fa_core::providers::SesSenders::new(Some("codes@example.com"), "").unwrap();
    let m = &secure2fa_core::manage::Management { ses_senders: senders, ..t.app.manage.clone() };
    let channel = m
        .create_channel(&client, "SES", ChannelMethod::Email, ProviderKind::Ses, &json!({"from": "codes@example.com"}))
        .await
        .unwrap();
    let (_, keys) = m
        .create_project(
            client.id,
            NewProject {
                title: "SES".into(),
                channel_id: channel.id,
                template_id: demo.template_id,
                settings: ProjectSettings::default(),
                webhook_url,
                fallback: None,
            },
        )
        .await
        .unwrap();
    (keys.public_key, keys.secret_key.clone(), keys.webhook_secret.map(|s| s.expose().to_owned()))
}

async fn post_as(t: &TestApp, pk: &PublicKey, sk: &SecretKey, path: &str, plain: Value) -> Reply {
    let data = secure2fa_core::crypto::payload::seal(sk, pk, plain.to_string().as_bytes());
    t.post_raw(path, json!({ "public_key": pk.as_str(), "encrypted_data": data }).to_string(), Some("application/json"))
        .await
}

#[tokio::test]
async fn a_permanent_provider_failure_is_logged_as_danger_and_not_retried() {
    let t = spawn_app().await;
    let (pk, sk, _) = project_with_unavailable_provider(&t, None).await;
    let r = post_as(&t, &pk, &sk, "/otp/generate", json!({ "user_id": "u", "to": "ann@example.com", "iat": t.now() }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(t.app.process_pending_jobs().await.unwrap(), 1);
    let stats = t.app.queue.stats().await.unwrap();
    assert!(stats.iter().all(|s| s.ready + s.delayed + s.in_flight + s.dead_letters == 0), "{stats:?}");
    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let logs = t
        .app
        .store
        .list_logs(client.id, &LogFilter { level: Some(LogLevel::Danger), limit: 10, ..Default::default() })
        .await
        .unwrap()
        .entries;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].event, "delivery.failed");
    assert!(logs[0].message.contains("provider ses is not available"), "{}", logs[0].message);
    assert!(!logs[0].message.contains("ann@example.com"));
}

/// A local webhook receiver that records requests and answers `status`.
async fn receiver(status: u16) -> (String, Arc<Mutex<Vec<(HeaderMap, String)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push((headers, body));
                AxumStatus::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Checks a received webhook the way a client's backend would.
fn check_signature(secret: &str, headers: &HeaderMap, body: &str) {
    let sig = headers["secure2fa-signature"].to_str().unwrap();
    let t: i64 = sig.split(',').find_map(|p| p.strip_prefix("t=")).unwrap().parse().unwrap();
    assert_eq!(sign_webhook(secret, t, body.as_bytes()), sig);
}

#[tokio::test]
async fn webhooks_are_signed_and_describe_the_outcome() {
    // The receiver listens on loopback, which webhooks may reach only when allowed.
    let t = spawn_app_with(|c| c.allow_private_webhooks = true).await;
    let (url, seen) = receiver(204).await;
    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let demo = t.app.store.list_projects(client.id).await.unwrap().remove(0);
    let (_, keys) = t
        .app
        .manage
        .create_project(
            client.id,
            NewProject {
                title: "Hooked".into(),
                channel_id: demo.channel_id,
                template_id: demo.template_id,
                settings: ProjectSettings::default(),
                webhook_url: Some(url),
                fallback: None,
            },
        )
        .await
        .unwrap();
    let (pk, sk) = (keys.public_key.clone(), keys.secret_key.clone());
    let secret = keys.webhook_secret.as_ref().unwrap().expose().to_owned();

    post_as(&t, &pk, &sk, "/otp/generate", json!({ "user_id": "end-user-7", "to": "w@example.com", "iat": t.now() }))
        .await;
    let code = code_in(&t.deliver_and_read("w@example.com").await.body);
    let r =
        post_as(&t, &pk, &sk, "/otp/verify", json!({ "user_id": "end-user-7", "code": wrong(&code), "iat": t.now() }))
            .await;
    assert_eq!(r.verify_status(), "invalid_code");
    let r =
        post_as(&t, &pk, &sk, "/otp/verify", json!({ "user_id": "end-user-7", "code": code, "iat": t.now() })).await;
    assert_eq!(r.verify_status(), "approved");
    t.app.process_pending_jobs().await.unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let events: Vec<Value> = seen.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    assert_eq!(events[0]["type"], "verification.failed");
    assert_eq!(events[0]["data"]["attempts_left"], 4);
    assert_eq!(events[1]["type"], "verification.approved");
    assert_eq!(events[1]["user_id"], "end-user-7");
    assert_eq!(events[1]["verification_id"], r.body["verification_id"]);
    for (headers, body) in seen.iter() {
        check_signature(&secret, headers, body);
        assert_eq!(headers["content-type"], "application/json");
    }
}

#[tokio::test]
async fn failing_webhooks_are_retried_with_backoff_then_dead_lettered_and_redrivable() {
    // The receiver listens on loopback, which webhooks may reach only when allowed.
    let t = spawn_app_with(|c| c.allow_private_webhooks = true).await;
    let (url, seen) = receiver(500).await;
    let (pk, sk, _) = project_with_unavailable_provider(&t, Some(url)).await;
    post_as(&t, &pk, &sk, "/otp/generate", json!({ "user_id": "u", "to": "ann@example.com", "iat": t.now() })).await;
    // Delivery fails permanently, which queues a delivery.failed event.
    t.app.process_pending_jobs().await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
    for attempt in 2..=5 {
        assert_eq!(t.app.process_pending_jobs().await.unwrap(), 0, "backoff: not due yet");
        t.clock.advance(300);
        assert_eq!(t.app.process_pending_jobs().await.unwrap(), 1);
        assert_eq!(seen.lock().unwrap().len(), attempt);
    }
    let webhook = t.app.queue.stats().await.unwrap().into_iter().find(|s| s.queue == "webhook").unwrap();
    assert_eq!(webhook.dead_letters, 1);
    assert_eq!(webhook.ready + webhook.delayed, 0);
    let event: Value = serde_json::from_str(&seen.lock().unwrap()[0].1).unwrap();
    assert_eq!(event["type"], "delivery.failed");

    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let logs = t.app.store.list_logs(client.id, &LogFilter { limit: 50, ..Default::default() }).await.unwrap().entries;
    assert!(logs.iter().any(|l| l.event == "webhook.failed" && l.level == LogLevel::Danger));

    // The admin API shows the dead letter and moves it back.
    let admin = |req: reqwest::RequestBuilder| req.bearer_auth(&t.creds.operator_token).send();
    let health: Value = admin(t.http.get(format!("{}/v1/admin/queues", t.base))).await.unwrap().json().await.unwrap();
    let shown = health["queues"].as_array().unwrap().iter().find(|q| q["queue"] == "webhook").unwrap().clone();
    assert_eq!((&shown["dead_letters"], &shown["ready"]), (&json!(1), &json!(0)), "{health}");
    let unknown = admin(t.http.post(format!("{}/v1/admin/queues/nope/redrive", t.base))).await.unwrap();
    assert_eq!(unknown.status(), reqwest::StatusCode::NOT_FOUND);
    let moved: Value =
        admin(t.http.post(format!("{}/v1/admin/queues/webhook/redrive", t.base))).await.unwrap().json().await.unwrap();
    assert_eq!(moved, json!({ "queue": "webhook", "moved": 1 }));
    assert_eq!(t.app.process_pending_jobs().await.unwrap(), 1);
    assert_eq!(seen.lock().unwrap().len(), 6);
}

/// A client's webhook URL pointing inside our network (here: loopback) is
/// never contacted by default; the failure logged on the project names no
/// address or status text.
#[tokio::test]
async fn webhooks_cannot_reach_loopback_by_default() {
    let t = spawn_app().await;
    let (url, seen) = receiver(204).await;
    let (pk, sk, _) = project_with_unavailable_provider(&t, Some(url)).await;
    post_as(&t, &pk, &sk, "/otp/generate", json!({ "user_id": "u", "to": "ann@example.com", "iat": t.now() })).await;
    t.app.process_pending_jobs().await.unwrap();
    for _ in 2..=5 {
        t.clock.advance(300);
        t.app.process_pending_jobs().await.unwrap();
    }
    assert!(seen.lock().unwrap().is_empty(), "the loopback receiver was contacted");
    let webhook = t.app.queue.stats().await.unwrap().into_iter().find(|s| s.queue == "webhook").unwrap();
    assert_eq!(webhook.dead_letters, 1);
    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let logs = t.app.store.list_logs(client.id, &LogFilter { limit: 50, ..Default::default() }).await.unwrap().entries;
    let failed = logs.iter().find(|l| l.event == "webhook.failed").expect("webhook.failed logged");
    assert!(!failed.message.contains("127.0.0.1"), "{}", failed.message);
}

#[tokio::test]
async fn every_call_leaves_a_log_entry_without_personal_data() {
    let t = spawn_app().await;
    let code = t.send_code("log-user-id", "log.person@example.com").await;
    t.verify("log-user-id", &wrong(&code)).await;
    t.verify("log-user-id", &code).await;
    t.verify("log-user-id", &code).await;
    t.post_encrypted("/otp/generate", &json!({ "user_id": "x", "to": "bad", "iat": t.now() })).await;
    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let logs = t.app.store.list_logs(client.id, &LogFilter { limit: 50, ..Default::default() }).await.unwrap().entries;
    let trail: Vec<(&str, LogLevel)> = logs.iter().rev().map(|l| (l.event.as_str(), l.level)).collect();
    assert_eq!(
        trail,
        [
            ("otp.generated", LogLevel::Info),
            ("otp.invalid_code", LogLevel::Warning),
            ("otp.approved", LogLevel::Success),
            ("otp.not_found", LogLevel::Warning),
            ("otp.generate_rejected", LogLevel::Warning),
        ]
    );
    let project = t.app.store.list_projects(client.id).await.unwrap().remove(0);
    let per_user = logs.iter().filter(|l| l.user_ref.is_some()).count();
    assert_eq!(per_user, 4);
    assert!(logs.iter().all(|l| l.project_id == Some(project.id)));
    for l in &logs {
        assert!(
            !l.message.contains("log-user-id") && !l.message.contains("log.person") && !l.message.contains(&code),
            "{}",
            l.message
        );
    }
}

/// The local server sends SMS through Twilio's API (here a mock on loopback
/// that the deployment, never the channel, points it at), and a provider's
/// refusal reaches the project's log without the number.
#[tokio::test]
async fn an_sms_channel_delivers_through_its_provider_api() {
    let seen: Arc<Mutex<Vec<(String, HeaderMap, String)>>> = Arc::default();
    let recorder = seen.clone();
    let twilio = axum::Router::new().route(
        "/2010-04-01/Accounts/{account}/Messages.json",
        post(move |axum::extract::Path(account): axum::extract::Path<String>, headers: HeaderMap, body: String| {
            let recorder = recorder.clone();
            async move {
                let refused = body.contains("To=%2B15005550001");
                recorder.lock().unwrap().push((account, headers, body));
                if refused {
                    let answer = json!({"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.", "status": 400});
                    (AxumStatus::BAD_REQUEST, answer.to_string())
                } else {
                    (AxumStatus::CREATED, json!({"sid": "SM0123", "status": "queued"}).to_string())
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, twilio).await.unwrap() });
    let t = spawn_app_with(|c| c.provider_endpoints.set(ProviderKind::Twilio, &base).unwrap()).await;

    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let demo = t.app.store.list_projects(client.id).await.unwrap().remove(0);
    let m = &t.app.manage;
    let account = "AC0123456789abcdef0123456789abcdef";
    let bad = m
        .create_channel(&client, "Twilio", ChannelMethod::Sms, ProviderKind::Twilio, &json!({"account_sid": "AC1"}))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("credentials.account_sid"), "{bad}");
    let creds =
        json!({"account_sid": account, "auth_token": "0123456789abcdef0123456789abcdef", "from": "+14155550100"});
    let channel = m.create_channel(&client, "Twilio", ChannelMethod::Sms, ProviderKind::Twilio, &creds).await.unwrap();
    let project = NewProject {
        title: "SMS".into(),
        channel_id: channel.id,
        template_id: demo.template_id,
        settings: ProjectSettings::default(),
        webhook_url: None,
        fallback: None,
    };
    let (project, keys) = m.create_project(client.id, project).await.unwrap();
    let (pk, sk) = (keys.public_key, keys.secret_key.clone());

    let r =
        post_as(&t, &pk, &sk, "/otp/generate", json!({ "user_id": "u", "to": "+14155552671", "iat": t.now() })).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(t.app.process_pending_jobs().await.unwrap(), 1);
    let (path_account, headers, body) = seen.lock().unwrap().pop().expect("Twilio was called");
    assert_eq!(path_account, account);
    assert!(headers["authorization"].to_str().unwrap().starts_with("Basic "));
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    assert_eq!(form[0], ("To".into(), "+14155552671".into()));
    assert_eq!(form[1], ("From".into(), "+14155550100".into()));
    let code = code_in(&form[2].1);
    let stored = t.app.store.list_verifications(project.id, 10).await.unwrap();
    assert_eq!(stored[0].provider_message_id.as_deref(), Some("SM0123"), "Twilio's sid is kept");
    let r = post_as(&t, &pk, &sk, "/otp/verify", json!({ "user_id": "u", "code": code, "iat": t.now() })).await;
    assert_eq!(r.verify_status(), "approved");

    // A number Twilio refuses: permanent, logged with Twilio's code, number redacted.
    post_as(&t, &pk, &sk, "/otp/generate", json!({ "user_id": "v", "to": "+15005550001", "iat": t.now() })).await;
    assert_eq!(t.app.process_pending_jobs().await.unwrap(), 1);
    let filter =
        LogFilter { project_id: Some(project.id), level: Some(LogLevel::Danger), limit: 10, ..Default::default() };
    let logs = t.app.store.list_logs(client.id, &filter).await.unwrap().entries;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].message.contains("code 21211"), "{}", logs[0].message);
    assert!(!logs[0].message.contains("5005550001"), "{}", logs[0].message);
}
