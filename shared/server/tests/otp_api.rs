//! The public OTP API over HTTP: every verify status, the rate limits, and
//! bad input of every kind answered with a 4xx JSON error.

mod common;

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use reqwest::StatusCode;
use secure2fa_core::crypto::payload;
use secure2fa_core::types::SecretKey;
use serde_json::json;

#[tokio::test]
async fn generate_then_verify_is_approved() {
    let t = spawn_app().await;
    let r = t.generate("user-1", "ann@example.com").await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["channel"], "email");
    assert_eq!(r.body["expires_at"], START + 600);
    let msg = t.deliver_and_read("ann@example.com").await;
    assert_eq!(msg.subject, "Your Demo verification code");
    let code = code_in(&msg.body);
    assert_eq!(code.len(), 6);
    let v = t.verify("user-1", &code).await;
    assert_eq!(v.verify_status(), "approved");
    assert_eq!(v.body["verification_id"], r.body["verification_id"]);
}

#[tokio::test]
async fn verify_rejects_wrong_code_with_attempts_left() {
    let t = spawn_app().await;
    let code = t.send_code("u", "u@example.com").await;
    let v = t.verify("u", &wrong(&code)).await;
    assert_eq!(v.verify_status(), "invalid_code");
    assert_eq!(v.body["attempts_left"], 4);
    let v = t.verify("u", &wrong(&code)).await;
    assert_eq!(v.body["attempts_left"], 3);
    assert_eq!(t.verify("u", &code).await.verify_status(), "approved");
}

#[tokio::test]
async fn verify_rejects_code_after_max_attempts() {
    let t = spawn_app().await;
    let code = t.send_code("u", "u@example.com").await;
    for left in (0..5).rev() {
        let v = t.verify("u", &wrong(&code)).await;
        assert_eq!(v.verify_status(), "invalid_code");
        assert_eq!(v.body["attempts_left"], left);
    }
    let v = t.verify("u", &code).await;
    assert_eq!(v.verify_status(), "max_attempts_reached", "the right code after the cap is refused");
}

#[tokio::test]
async fn verify_rejects_expired_code() {
    let t = spawn_app().await;
    let code = t.send_code("u", "u@example.com").await;
    t.clock.advance(600);
    assert_eq!(t.verify("u", &code).await.verify_status(), "expired");
}

#[tokio::test]
async fn approved_code_cannot_be_replayed() {
    let t = spawn_app().await;
    let code = t.send_code("u", "u@example.com").await;
    assert_eq!(t.verify("u", &code).await.verify_status(), "approved");
    assert_eq!(t.verify("u", &code).await.verify_status(), "not_found");
    // The very same encrypted request, replayed byte for byte.
    let body = json!({ "public_key": t.creds.public_key, "encrypted_data": t.encrypt(&json!({"user_id": "u", "code": code, "iat": t.now()})) });
    assert_eq!(
        t.post_raw("/otp/verify", body.to_string(), Some("application/json")).await.verify_status(),
        "not_found"
    );
}

#[tokio::test]
async fn verify_for_unknown_user_is_not_found() {
    let t = spawn_app().await;
    assert_eq!(t.verify("nobody", "123456").await.verify_status(), "not_found");
}

#[tokio::test]
async fn verify_requires_the_same_device() {
    let t = spawn_app().await;
    let r = t.generate_with(json!({ "user_id": "u", "to": "u@example.com", "device": "phone-1" })).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let code = code_in(&t.deliver_and_read("u@example.com").await.body);
    let v = t.verify_with(json!({ "user_id": "u", "code": code, "device": "laptop" })).await;
    assert_eq!(v.verify_status(), "device_mismatch");
    assert_eq!(v.body["attempts_left"], 4, "a check from another device counts");
    let v = t.verify_with(json!({ "user_id": "u", "code": code })).await;
    assert_eq!(v.verify_status(), "device_mismatch");
    let v = t.verify_with(json!({ "user_id": "u", "code": code, "device": "phone-1" })).await;
    assert_eq!(v.verify_status(), "approved");
}

#[tokio::test]
async fn new_code_supersedes_the_previous_one() {
    let t = spawn_app().await;
    let old = t.send_code("u", "u@example.com").await;
    t.clock.advance(30);
    let new = t.send_code("u", "u@example.com").await;
    if old != new {
        assert_eq!(t.verify("u", &old).await.verify_status(), "invalid_code");
    }
    assert_eq!(t.verify("u", &new).await.verify_status(), "approved");
}

#[tokio::test]
async fn resend_within_cooldown_is_rate_limited() {
    let t = spawn_app().await;
    assert_eq!(t.generate("u", "u@example.com").await.status, StatusCode::ACCEPTED);
    t.clock.advance(10);
    let r = t.generate("u", "u@example.com").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.error_code(), "rate_limited");
    assert_eq!(r.headers["retry-after"], "20");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("resend_cooldown"));
    t.clock.advance(20);
    assert_eq!(t.generate("u", "u@example.com").await.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn sends_per_destination_are_limited_per_window() {
    let t = spawn_app().await;
    // The demo project allows 10 sends per destination per hour.
    for i in 0..10 {
        let r = t.generate(&format!("user-{i}"), "target@example.com").await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "send {i}: {}", r.body);
    }
    let r = t.generate("user-10", "TARGET@example.com").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry, 3600 - START % 3600);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("destination_limit"));
    // The refused request did not replace anything: user-10 has no code.
    assert_eq!(t.verify("user-10", "000000").await.verify_status(), "not_found");
    assert_eq!(t.generate("user-10", "other@example.com").await.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn fifty_concurrent_wrong_guesses_count_exactly_max_attempts() {
    let t = spawn_app().await;
    let code = t.send_code("victim", "v@example.com").await;
    let bad = wrong(&code);
    let guesses = (0..50).map(|_| t.verify("victim", &bad));
    let replies = futures::future::join_all(guesses).await;
    let mut statuses: HashMap<String, usize> = HashMap::new();
    let mut left: Vec<i64> = Vec::new();
    for r in &replies {
        *statuses.entry(r.verify_status().to_owned()).or_default() += 1;
        if let Some(n) = r.body["attempts_left"].as_i64() {
            left.push(n);
        }
    }
    assert_eq!(statuses.get("invalid_code"), Some(&5), "{statuses:?}");
    assert_eq!(statuses.get("max_attempts_reached"), Some(&45), "{statuses:?}");
    left.sort();
    assert_eq!(left, vec![0, 1, 2, 3, 4]);
    assert_eq!(t.verify("victim", &code).await.verify_status(), "max_attempts_reached");
}

#[tokio::test]
async fn template_request_returns_the_rendered_message_encrypted_and_sends_nothing() {
    let t = spawn_app().await;
    let r = t
        .generate_with(json!({ "user_id": "u", "to": "u@example.com", "lang": "fr-CA", "template_request": true }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let plain = payload::open(&t.secret(), &t.public_key(), r.body["encrypted_data"].as_str().unwrap()).unwrap();
    let msg: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(msg["lang"], "fr");
    assert!(msg["subject"].as_str().unwrap().starts_with("Votre code"));
    let code = msg["code"].as_str().unwrap();
    assert!(msg["body"].as_str().unwrap().contains(code));
    t.app.process_pending_jobs().await.unwrap();
    assert_eq!(t.outbox_len().await, 0, "nothing was sent");
    assert_eq!(t.verify("u", code).await.verify_status(), "approved");
}

#[tokio::test]
async fn delivery_uses_the_requested_language_and_falls_back_to_the_default() {
    let t = spawn_app().await;
    t.generate_with(json!({ "user_id": "a", "to": "a@example.com", "lang": "fr" })).await;
    t.generate_with(json!({ "user_id": "b", "to": "b@example.com", "lang": "de-AT" })).await;
    t.generate_with(json!({ "user_id": "c", "to": "c@example.com" })).await;
    assert!(t.deliver_and_read("a@example.com").await.body.starts_with("Votre code"));
    assert!(t.deliver_and_read("b@example.com").await.body.starts_with("Your verification code"));
    assert!(t.deliver_and_read("c@example.com").await.body.starts_with("Your verification code"));
}

// ---- bad input: always a 4xx JSON error, never a 5xx ----

#[tokio::test]
async fn garbage_base64_is_a_400() {
    let t = spawn_app().await;
    for data in ["%%%not base64%%%", "AAAA", ""] {
        let body = json!({ "public_key": t.creds.public_key, "encrypted_data": data });
        let r = t.post_raw("/otp/generate", body.to_string(), Some("application/json")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{data:?}: {}", r.body);
    }
}

#[tokio::test]
async fn wrong_key_tampered_payload_and_unknown_public_key_look_alike() {
    let t = spawn_app().await;
    let plain = json!({ "user_id": "u", "to": "u@example.com", "iat": t.now() }).to_string();
    let wrong_key = payload::seal(&SecretKey::generate(), &t.public_key(), plain.as_bytes());
    let mut tampered = STANDARD.decode(t.encrypt(&serde_json::from_str(&plain).unwrap())).unwrap();
    tampered[20] ^= 0x40;
    let cases = [
        (t.creds.public_key.clone(), wrong_key),
        (t.creds.public_key.clone(), STANDARD.encode(&tampered)),
        ("pk_doesnotexist".to_owned(), t.encrypt(&serde_json::from_str(&plain).unwrap())),
        ("not a key at all".to_owned(), t.encrypt(&serde_json::from_str(&plain).unwrap())),
    ];
    let mut bodies = Vec::new();
    for (pk, data) in cases {
        for path in ["/otp/generate", "/otp/verify"] {
            let r = t
                .post_raw(
                    path,
                    json!({ "public_key": pk, "encrypted_data": data }).to_string(),
                    Some("application/json"),
                )
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            bodies.push(r.body);
        }
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "responses must be identical: {bodies:?}");
}

#[tokio::test]
async fn missing_and_invalid_fields_are_400_and_name_the_field() {
    let t = spawn_app().await;
    let cases = [
        ("/otp/generate", json!({ "to": "u@example.com", "iat": t.now() }), "user_id is required"),
        ("/otp/generate", json!({ "user_id": "u", "iat": t.now() }), "to is required"),
        ("/otp/generate", json!({ "user_id": "u", "to": "u@example.com" }), "iat is required"),
        (
            "/otp/generate",
            json!({ "user_id": "u", "to": "not-an-email", "iat": t.now() }),
            "email: not a valid email address",
        ),
        (
            "/otp/generate",
            json!({ "user_id": "u", "to": "+14155552671", "iat": t.now() }),
            "email: not a valid email address",
        ),
        (
            "/otp/generate",
            json!({ "user_id": "", "to": "u@example.com", "iat": t.now() }),
            "user_id: must not be empty",
        ),
        (
            "/otp/generate",
            json!({ "user_id": "u", "to": "u@example.com", "lang": "xx_YY!", "iat": t.now() }),
            "lang: must be a BCP-47 language tag such as en or pt-BR",
        ),
        (
            "/otp/generate",
            json!({ "user_id": "u", "to": "u@example.com", "template_request": "yes", "iat": t.now() }),
            "template_request must be a boolean",
        ),
        ("/otp/verify", json!({ "user_id": "u", "iat": t.now() }), "code is required"),
        ("/otp/verify", json!({ "user_id": "u", "code": "12a456", "iat": t.now() }), "code: must contain digits only"),
        ("/otp/verify", json!({ "user_id": 7, "code": "123456", "iat": t.now() }), "user_id must be a string"),
    ];
    for (path, plain, message) in cases {
        let r = t.post_encrypted(path, &plain).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{plain}: {}", r.body);
        assert_eq!(r.error_code(), "invalid_request");
        assert_eq!(r.body["error"]["message"], message);
    }
    for raw in [
        "{}",
        r#"{"public_key": "pk_x"}"#,
        r#"{"encrypted_data": "AAAA"}"#,
        r#"{"public_key": 1, "encrypted_data": "x"}"#,
        "[]",
        "null",
        "not json",
        "",
    ] {
        let r = t.post_raw("/otp/verify", raw, Some("application/json")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{raw:?}: {}", r.body);
        assert_eq!(r.error_code(), "invalid_body");
    }
}

#[tokio::test]
async fn stale_or_future_iat_is_refused() {
    let t = spawn_app().await;
    for iat in [t.now() - 301, t.now() + 301, 0, i64::MAX] {
        let r = t.post_encrypted("/otp/generate", &json!({ "user_id": "u", "to": "u@example.com", "iat": iat })).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.error_code(), "stale_request", "iat {iat}");
    }
    let r = t
        .post_encrypted("/otp/generate", &json!({ "user_id": "u", "to": "u@example.com", "iat": t.now() - 300 }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn oversized_body_is_413_and_wrong_content_type_415() {
    let t = spawn_app().await;
    let huge = json!({ "public_key": t.creds.public_key, "encrypted_data": "A".repeat(64 * 1024) }).to_string();
    let r = t.post_raw("/otp/generate", huge, Some("application/json")).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "payload_too_large");
    let r = t.post_raw("/otp/generate", "public_key=x", Some("application/x-www-form-urlencoded")).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // An encrypted plaintext over 8 KiB is refused after decryption.
    let big = json!({ "user_id": "u", "to": "u@example.com", "iat": t.now(), "pad": "x".repeat(9000) });
    let r = t.post_encrypted("/otp/generate", &big).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let t = spawn_app().await;
    let r = t.http.get(format!("{}/otp/generate", t.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "method_not_allowed");
    let r = t.http.get(format!("{}/nowhere", t.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "not_found");
    let r = t.http.get(format!("{}/health", t.base)).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn requests_per_ip_are_limited() {
    let t = spawn_app_with(|c| c.ip_limit_per_minute = limit(60)).await;
    // 60 per minute allows a burst of 10 (one sixth), then refuses.
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(t.verify("u", "123456").await);
    }
    let limited: Vec<_> = codes.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(limited.len(), 2);
    assert!(limited.iter().all(|r| r.error_code() == "rate_limited" && r.headers.contains_key("retry-after")));
    // Health is not limited.
    assert_eq!(t.http.get(format!("{}/health", t.base)).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn sms_project_requires_e164_numbers() {
    use secure2fa_core::model::{ChannelMethod, ProjectSettings, ProviderKind};
    let t = spawn_app().await;
    let m = &t.app.manage;
    use secure2fa_core::ports::ClientStore;
    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let channel =
        m.create_channel(&client, "SMS outbox", ChannelMethod::Sms, ProviderKind::Outbox, &json!({})).await.unwrap();
    use secure2fa_core::ports::ProjectStore;
    let demo = t.app.store.list_projects(client.id).await.unwrap().remove(0);
    let (_, keys) = m
        .create_project(
            client.id,
            secure2fa_core::manage::NewProject {
                title: "SMS".into(),
                channel_id: channel.id,
                template_id: demo.template_id,
                settings: ProjectSettings::default(),
                webhook_url: None,
                fallback: None,
            },
        )
        .await
        .unwrap();
    let send = |to: &str| {
        let plain = json!({ "user_id": "u", "to": to, "iat": t.now() }).to_string();
        let body = json!({ "public_key": keys.public_key.as_str(), "encrypted_data": payload::seal(&keys.secret_key, &keys.public_key, plain.as_bytes()) });
        t.post_raw("/otp/generate", body.to_string(), Some("application/json"))
    };
    let r = send("u@example.com").await;
    assert_eq!(r.body["error"]["message"], "phone: must be in E.164 form, e.g. +14155550100");
    let r = send("+14155552671").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["channel"], "sms");
    assert_eq!(code_in(&t.deliver_and_read("+14155552671").await.body).len(), 6);
}

/// A job queue that refuses while `down` is set.
struct FlakyQueue {
    inner: std::sync::Arc<dyn secure2fa_core::ports::JobQueue>,
    down: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl secure2fa_core::ports::JobQueue for FlakyQueue {
    async fn enqueue(&self, job: &secure2fa_core::model::Job) -> Result<(), secure2fa_core::ports::QueueError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(secure2fa_core::ports::QueueError("queue unreachable".into()));
        }
        self.inner.enqueue(job).await
    }
    async fn enqueue_after(
        &self,
        job: &secure2fa_core::model::Job,
        _delay_seconds: u32,
    ) -> Result<(), secure2fa_core::ports::QueueError> {
        self.enqueue(job).await
    }
}

#[tokio::test]
async fn a_queue_outage_answers_503_and_does_not_block_the_retry() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let mut config = secure2fa::LocalConfig::new(dir.path());
    config.ip_limit_per_minute = None;
    let clock = Arc::new(secure2fa_core::clock::ManualClock::new(START));
    let mut app = secure2fa::LocalApp::open(config, clock.clone()).unwrap();
    let queue = Arc::new(FlakyQueue { inner: app.otp.queue.clone(), down: true.into() });
    app.otp.queue = queue.clone();
    let t = serve(app, clock, dir).await;

    let plain = json!({ "user_id": "u", "to": "u@example.com", "iat": t.now() });
    let body = json!({ "public_key": t.creds.public_key, "encrypted_data": t.encrypt(&plain) });
    let resp = t.http.post(format!("{}/otp/generate", t.base)).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "unavailable");
    assert!(!err["error"]["message"].as_str().unwrap().contains("unreachable"), "causes are not returned");

    queue.down.store(false, Ordering::SeqCst);
    let code = t.send_code("u", "u@example.com").await;
    assert_eq!(t.verify("u", &code).await.verify_status(), "approved");
}

/// A flood of refused calls naming a real project cannot multiply its log
/// writes: within a minute only the first few are logged one by one, and
/// the rest are summed up in a later entry.
#[tokio::test]
async fn a_flood_of_refused_calls_writes_a_bounded_number_of_log_entries() {
    use secure2fa_core::model::LogFilter;
    use secure2fa_core::otp::LOGGED_PER_MINUTE;
    use secure2fa_core::ports::{ClientStore, LogStore};
    let t = spawn_app().await;
    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let logs = || async {
        t.app.store.list_logs(client.id, &LogFilter { limit: 500, ..Default::default() }).await.unwrap().entries
    };
    let before = logs().await.len();
    for _ in 0..100 {
        let r = t
            .post_encrypted("/otp/verify", &json!({ "user_id": "u", "code": "123456", "iat": t.now() - 10_000 }))
            .await;
        assert_eq!(r.error_code(), "stale_request");
    }
    let written = logs().await.len() - before;
    assert_eq!(written as u32, LOGGED_PER_MINUTE, "refusals logged within one minute");

    t.clock.advance(60);
    t.post_encrypted("/otp/verify", &json!({ "user_id": "u", "code": "123456", "iat": t.now() - 10_000 })).await;
    let newest = logs().await.remove(0);
    let unlogged = 100 - LOGGED_PER_MINUTE;
    assert!(newest.message.contains(&format!("{unlogged} more refused calls")), "{}", newest.message);
}
