//! Delivery receipts, failover to a fallback channel and channels' test
//! messages, end to end on the local server: SMS go to a Twilio mock on
//! loopback (the deployment's override), and the mock's "Twilio" posts
//! signed status callbacks back to the server's receipts endpoint.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode as AxumStatus;
use axum::routing::post;
use common::*;
use reqwest::StatusCode;
use secure2fa_core::ids::{ChannelId, ClientId};
use secure2fa_core::manage::NewProject;
use secure2fa_core::model::{
    ChannelMethod, Fallback, Job, LogFilter, ProjectSettings, ProviderKind, ReceiptStatus, TemplateFormat,
    TemplateVersion, Verification,
};
use secure2fa_core::ports::{ClientStore, LogStore, ProjectStore, VerificationStore};
use secure2fa_core::types::{Lang, PublicKey, SecretKey};
use secure2fa_providers::receipts::twilio_signature;
use serde_json::{Value, json};

/// The URL the deployment tells providers to call (a proxy in front of the
/// server, say): status callbacks are signed over it.
const PUBLIC_URL: &str = "https://otp.example.test";
const REFUSING: &str = "AC00000000000000000000000000000bad";
const ACCEPTING: &str = "AC0000000000000000000000000000000a";
const SECOND: &str = "AC0000000000000000000000000000000b";
/// Answers 500 to its first message, then accepts.
const FLAKY: &str = "AC0000000000000000000000000000000f";

fn token(account: &str) -> String {
    format!("token-{}", &account[2..])
}

/// An SMS Twilio accepted: its account, sid, destination, body and status callback.
#[derive(Debug, Clone)]
struct Sms {
    account: String,
    sid: String,
    to: String,
    body: String,
    callback: String,
}

/// Twilio's Messages resource: `REFUSING` answers 400 (21211), the others 201.
async fn twilio_mock() -> (String, Arc<Mutex<Vec<Sms>>>) {
    let sent: Arc<Mutex<Vec<Sms>>> = Arc::default();
    let seen = sent.clone();
    let flaked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = axum::Router::new().route(
        "/2010-04-01/Accounts/{account}/Messages.json",
        post(move |axum::extract::Path(account): axum::extract::Path<String>, body: String| {
            let (seen, flaked) = (seen.clone(), flaked.clone());
            async move {
                if account == FLAKY && !flaked.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    return (AxumStatus::INTERNAL_SERVER_ERROR, json!({ "code": 20500, "status": 500 }).to_string());
                }
                if account == REFUSING {
                    let refusal = json!({ "code": 21211, "message": "Invalid 'To' Phone Number", "status": 400 });
                    return (AxumStatus::BAD_REQUEST, refusal.to_string());
                }
                let form: BTreeMap<String, String> =
                    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                let mut seen = seen.lock().unwrap();
                let sid = format!("SM{:032x}", seen.len() + 1);
                seen.push(Sms {
                    account,
                    sid: sid.clone(),
                    to: form["To"].clone(),
                    body: form["Body"].clone(),
                    callback: form.get("StatusCallback").cloned().unwrap_or_default(),
                });
                (AxumStatus::CREATED, json!({ "sid": sid, "status": "queued" }).to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, sent)
}

struct Setup {
    t: TestApp,
    sent: Arc<Mutex<Vec<Sms>>>,
    client: ClientId,
}

async fn setup() -> Setup {
    let (twilio, sent) = twilio_mock().await;
    let t = spawn_app_with(|c| {
        c.provider_endpoints.set(ProviderKind::Twilio, &twilio).unwrap();
        c.public_url = Some(PUBLIC_URL.into());
    })
    .await;
    let client = t.app.store.list_clients().await.unwrap().remove(0).id;
    Setup { t, sent, client }
}

impl Setup {
    async fn channel(&self, account: &str) -> ChannelId {
        self.channel_with(
            account,
            json!({ "account_sid": account, "auth_token": token(account), "from": "+14155550100" }),
        )
        .await
    }

    async fn channel_with(&self, account: &str, creds: Value) -> ChannelId {
        let client = self.t.app.store.client(self.client).await.unwrap().unwrap();
        let m = &self.t.app.manage;
        m.create_channel(&client, account, ChannelMethod::Sms, ProviderKind::Twilio, &creds).await.unwrap().id
    }

    /// A project sending SMS through `primary`, failing over to `fallback`.
    async fn project(&self, primary: ChannelId, fallback: Option<ChannelId>) -> (PublicKey, SecretKey) {
        let en = Lang::parse("en").unwrap();
        let versions = [(en.clone(), TemplateVersion { subject: String::new(), body: "Code {{ OTP_CODE }}".into() })];
        let m = &self.t.app.manage;
        let template = m.create_template(self.client, "SMS", en, TemplateFormat::Text, versions.into()).await.unwrap();
        let new = NewProject {
            title: "Texts".into(),
            channel_id: primary,
            template_id: template.id,
            settings: ProjectSettings::default(),
            webhook_url: None,
            fallback: fallback.map(|channel_id| Fallback { channel_id, after_seconds: 60 }),
        };
        let (_, keys) = m.create_project(self.client, new).await.unwrap();
        (keys.public_key, keys.secret_key)
    }

    async fn generate(&self, keys: &(PublicKey, SecretKey), user: &str, to: &str) {
        let plain = json!({ "user_id": user, "to": to, "iat": self.t.now() });
        let data = secure2fa_core::crypto::payload::seal(&keys.1, &keys.0, plain.to_string().as_bytes());
        let body = json!({ "public_key": keys.0.as_str(), "encrypted_data": data }).to_string();
        let r = self.t.post_raw("/otp/generate", body, Some("application/json")).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    }

    fn sent(&self) -> Vec<Sms> {
        self.sent.lock().unwrap().clone()
    }

    /// The one end user's record of the project `sms` was sent for.
    async fn record(&self, sms: &Sms) -> Verification {
        let reference = query(&sms.callback, "ref");
        let r = secure2fa_core::model::DeliveryRef::parse(&reference).expect("the callback names its verification");
        self.t.app.store.verification(r.project_id, &r.user_ref).await.unwrap().unwrap()
    }

    /// Posts a status callback for `sms` as Twilio does: form fields signed
    /// with `signing_token` over the public callback URL.
    async fn callback(&self, sms: &Sms, fields: &[(&str, &str)], signing_token: &str) -> (StatusCode, Value) {
        let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let signature = twilio_signature(signing_token, &sms.callback, &fields);
        self.post_callback(&sms.callback, &fields, &signature).await
    }

    async fn post_callback(&self, url: &str, fields: &[(String, String)], signature: &str) -> (StatusCode, Value) {
        let path = url.strip_prefix(PUBLIC_URL).expect("a callback below the public URL");
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let resp = self
            .t
            .http
            .post(format!("{}{path}", self.t.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }
}

fn query(url: &str, name: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
}

fn status_fields<'a>(sms: &'a Sms, status: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("MessageSid", sms.sid.as_str()), ("MessageStatus", status), ("AccountSid", sms.account.as_str())]
}

#[tokio::test]
async fn signed_receipts_move_a_delivery_forward_and_forged_or_stale_ones_change_nothing() {
    let s = setup().await;
    let channel = s.channel(ACCEPTING).await;
    let keys = s.project(channel, None).await;
    s.generate(&keys, "ann", "+14155552671").await;
    assert_eq!(s.t.app.process_pending_jobs().await.unwrap(), 1);
    let sms = s.sent().pop().expect("Twilio was called");
    assert!(
        sms.callback.starts_with(&format!("{PUBLIC_URL}/receipts/twilio/{}/{channel}?ref=", s.client)),
        "{}",
        sms.callback
    );
    let status_of = |v: &Verification| v.receipt.as_ref().map(|r| r.status);
    assert_eq!(s.record(&sms).await.provider_message_id.as_deref(), Some(sms.sid.as_str()));

    let tok = token(ACCEPTING);
    let (st, body) = s.callback(&sms, &status_fields(&sms, "sent"), &tok).await;
    assert_eq!((st, &body["recorded"]), (StatusCode::OK, &json!(1)), "{body}");
    assert_eq!(status_of(&s.record(&sms).await), Some(ReceiptStatus::Sent));
    let (st, body) = s.callback(&sms, &status_fields(&sms, "delivered"), &tok).await;
    assert_eq!((st, &body["recorded"]), (StatusCode::OK, &json!(1)), "{body}");

    // Out of order or replayed: accepted (Twilio would retry a refusal), nothing moves back.
    let (st, body) = s.callback(&sms, &status_fields(&sms, "sent"), &tok).await;
    assert_eq!((st, &body["recorded"], &body["ignored"]), (StatusCode::OK, &json!(0), &json!(1)), "{body}");
    assert_eq!(s.callback(&sms, &status_fields(&sms, "delivered"), &tok).await.1["recorded"], 0);
    assert_eq!(status_of(&s.record(&sms).await), Some(ReceiptStatus::Delivered));

    // Forged (another token), tampered (a field changed after signing), or
    // sent to another URL than the one signed: 401, and nothing changes.
    let failed = [("MessageSid", sms.sid.as_str()), ("MessageStatus", "failed"), ("ErrorCode", "30003")];
    assert_eq!(s.callback(&sms, &failed, &token(SECOND)).await.0, StatusCode::UNAUTHORIZED);
    let fields: Vec<(String, String)> =
        status_fields(&sms, "sent").iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    let signature = twilio_signature(&tok, &sms.callback, &fields);
    let mut tampered = fields.clone();
    tampered[1].1 = "failed".into();
    assert_eq!(s.post_callback(&sms.callback, &tampered, &signature).await.0, StatusCode::UNAUTHORIZED);
    let other_ref = sms.callback.replace("?ref=", "?ref=x");
    assert_eq!(s.post_callback(&other_ref, &fields, &signature).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&s.record(&sms).await), Some(ReceiptStatus::Delivered));

    // A later failure verdict is kept, logged with Twilio's code, without the number.
    let (st, _) = s.callback(&sms, &failed, &tok).await;
    assert_eq!(st, StatusCode::OK);
    let record = s.record(&sms).await;
    let receipt = record.receipt.unwrap();
    assert_eq!((receipt.status, receipt.reason.as_deref()), (ReceiptStatus::Failed, Some("twilio ErrorCode 30003")));
    let logs = s.t.app.store.list_logs(s.client, &LogFilter { limit: 50, ..Default::default() }).await.unwrap();
    let events: Vec<&str> = logs.entries.iter().map(|l| l.event.as_str()).collect();
    for e in ["delivery.sent", "delivery.delivered", "delivery.failed"] {
        assert_eq!(events.iter().filter(|x| **x == e).count(), 1, "{e} logged once: {events:?}");
    }
    assert!(logs.entries.iter().all(|l| !l.message.contains("4155552671")));

    // Another client's channel in the path, an unknown provider or channel: 404.
    let other = s.t.app.manage.register_client(&secure2fa_core::types::Email::parse("b@example.com").unwrap()).await;
    let elsewhere = sms.callback.replace(&s.client.to_string(), &other.unwrap().id.to_string());
    assert_eq!(
        s.post_callback(&elsewhere, &fields, &twilio_signature(&tok, &elsewhere, &fields)).await.0,
        StatusCode::NOT_FOUND
    );
    let plivo = sms.callback.replace("/twilio/", "/plivo/");
    assert_eq!(s.post_callback(&plivo, &fields, &signature).await.0, StatusCode::NOT_FOUND);
    let nowhere = sms.callback.replace(&channel.to_string(), &ChannelId::generate().to_string());
    assert_eq!(s.post_callback(&nowhere, &fields, &signature).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_refused_sms_goes_out_once_through_the_fallback_with_the_same_code() {
    let s = setup().await;
    let (refusing, fallback) = (s.channel(REFUSING).await, s.channel(ACCEPTING).await);
    let keys = s.project(refusing, Some(fallback)).await;
    s.generate(&keys, "ann", "+14155552671").await;
    // Keep the job to hand it in again, as a duplicate SQS delivery would.
    let claimed = s.t.app.queue.claim("delivery").await.unwrap().unwrap();
    let Job::Delivery(job) = &claimed.job else { panic!("not a delivery") };
    let done = s.t.app.worker.handle_delivery(job, claimed.attempt).await.unwrap();
    assert_eq!(done, secure2fa_core::otp::JobOutcome::Done);
    assert!(s.sent().is_empty(), "the fallback's send is a job of its own");
    // A duplicate of the first job claims the moved delivery and sends it
    // through the fallback; the fallback's own job then finds it sent.
    let again = s.t.app.worker.handle_delivery(job, claimed.attempt).await.unwrap();
    assert_eq!(again, secure2fa_core::otp::JobOutcome::Done);
    assert_eq!(s.t.app.process_pending_jobs().await.unwrap(), 1, "the fallback's job ran");
    s.t.clock.advance(60);
    s.t.app.process_pending_jobs().await.unwrap();
    let sent = s.sent();
    assert_eq!(sent.len(), 1, "the fallback sent it, once: {sent:?}");
    assert_eq!((sent[0].account.as_str(), sent[0].to.as_str()), (ACCEPTING, "+14155552671"));
    assert!(sent[0].callback.contains(&format!("/{fallback}?ref=")), "receipts come back for the fallback channel");
    let record = s.record(&sent[0]).await;
    assert!(record.fallback);
    assert_eq!(record.provider_message_id.as_deref(), Some(sent[0].sid.as_str()));

    // The code that went through the fallback is the one generated.
    let code = code_in(&sent[0].body);
    let plain = json!({ "user_id": "ann", "code": code, "iat": s.t.now() });
    let data = secure2fa_core::crypto::payload::seal(&keys.1, &keys.0, plain.to_string().as_bytes());
    let body = json!({ "public_key": keys.0.as_str(), "encrypted_data": data }).to_string();
    assert_eq!(s.t.post_raw("/otp/verify", body, Some("application/json")).await.verify_status(), "approved");

    let logs = s.t.app.store.list_logs(s.client, &LogFilter { limit: 50, ..Default::default() }).await.unwrap();
    let fallback_log = logs.entries.iter().find(|l| l.event == "delivery.fallback").expect("the move is logged");
    assert!(fallback_log.message.contains("code 21211"), "{}", fallback_log.message);
    assert!(!logs.entries.iter().any(|l| l.event == "delivery.failed"), "the code went out");
}

#[tokio::test]
async fn an_sms_without_a_delivered_receipt_in_time_goes_out_through_the_fallback() {
    let s = setup().await;
    let (primary, fallback) = (s.channel(ACCEPTING).await, s.channel(SECOND).await);
    let keys = s.project(primary, Some(fallback)).await;
    s.generate(&keys, "slow", "+14155550001").await;
    s.generate(&keys, "fast", "+14155550002").await;
    assert_eq!(s.t.app.process_pending_jobs().await.unwrap(), 2);
    let first = s.sent();
    assert_eq!(first.len(), 2);
    let fast = first.iter().find(|m| m.to == "+14155550002").unwrap();
    // Only the fast one's carrier reports it delivered.
    assert_eq!(s.callback(fast, &status_fields(fast, "delivered"), &token(ACCEPTING)).await.1["recorded"], 1);

    s.t.clock.advance(59);
    assert_eq!(s.t.app.process_pending_jobs().await.unwrap(), 0, "the checks wait for the fallback's delay");
    s.t.clock.advance(1);
    assert_eq!(s.t.app.process_pending_jobs().await.unwrap(), 2, "one check per SMS");
    let after = s.sent();
    assert_eq!(after.len(), 3, "only the undelivered SMS went out again: {after:?}");
    let resent = &after[2];
    let slow = first.iter().find(|m| m.to == "+14155550001").unwrap();
    assert_eq!((resent.account.as_str(), resent.to.as_str()), (SECOND, "+14155550001"));
    assert_eq!(code_in(&resent.body), code_in(&slow.body), "the same code");
    // The primary's late receipt does not land on the fallback's delivery.
    assert_eq!(s.callback(slow, &status_fields(slow, "delivered"), &token(ACCEPTING)).await.1["recorded"], 0);
    assert_eq!(s.record(resent).await.receipt, None);
}

#[tokio::test]
async fn a_channels_test_message_is_sent_within_the_hourly_limit() {
    let t = spawn_app().await;
    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let demo = t.app.store.list_projects(client.id).await.unwrap().remove(0);
    let path = format!("{}/v1/clients/{}/channels/{}/test", t.base, client.id, demo.channel_id);
    let send = |to: &str| {
        let req = t.http.post(&path).bearer_auth(&t.creds.operator_token).json(&json!({ "to": to }));
        async move {
            let resp = req.send().await.unwrap();
            let (status, retry) = (resp.status(), resp.headers().get("retry-after").cloned());
            (status, retry, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, _, body) = send("someone@example.com").await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("sent")), "{body}");
    let sent = t.app.outbox.list(10).await.unwrap();
    assert_eq!(sent[0].to, "someone@example.com");
    assert!(sent[0].body.contains("test message"), "{}", sent[0].body);
    assert_eq!(send("not an address").await.0, StatusCode::BAD_REQUEST);
    for _ in 1..secure2fa_core::manage::TEST_SENDS_PER_HOUR {
        assert_eq!(send("someone@example.com").await.0, StatusCode::OK);
    }
    let (status, retry, body) = send("someone@example.com").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry.is_some());
    assert_eq!(t.outbox_len().await, secure2fa_core::manage::TEST_SENDS_PER_HOUR as usize);
    let unknown = path.replace(&demo.channel_id.to_string(), &ChannelId::generate().to_string());
    let resp = t.http.post(unknown).bearer_auth(&t.creds.operator_token).json(&json!({ "to": "a@example.com" }));
    assert_eq!(resp.send().await.unwrap().status(), StatusCode::NOT_FOUND);
    t.clock.advance(3600);
    assert_eq!(send("someone@example.com").await.0, StatusCode::OK, "a new hour");
}

/// A new channel's answer says where its provider posts receipts and, once,
/// the secret providers that sign nothing present; no later answer has it.
#[tokio::test]
async fn a_new_channel_shows_its_receipts_endpoint_and_secret_once() {
    let t = spawn_app_with(|c| c.public_url = Some(PUBLIC_URL.into())).await;
    let client = t.app.store.list_clients().await.unwrap().remove(0);
    let channels = format!("{}/v1/clients/{}/channels", t.base, client.id);
    let new = json!({ "title": "Postmark", "method": "email", "provider": "postmark",
                      "credentials": { "server_token": "00000000-0000-0000-0000-000000000000", "from": "otp@example.com" } });
    let resp = t.http.post(&channels).bearer_auth(&t.creds.operator_token).json(&new).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    let receipts = &created["receipts"];
    let path = format!("/receipts/postmark/{}/{}", client.id, created["id"].as_str().unwrap());
    assert_eq!(receipts["path"], json!(path));
    assert_eq!(receipts["url"], json!(format!("{PUBLIC_URL}{path}")));
    assert_eq!(receipts["username"], "s2fa");
    let secret = receipts["password"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "32 random bytes, base64url");
    let listed = t.http.get(&channels).bearer_auth(&t.creds.operator_token).send().await.unwrap().text().await.unwrap();
    assert!(!listed.contains(secret) && !listed.contains("receipts"), "{listed}");

    // Postmark's callback with that secret is read; with another, refused.
    let bounce = json!({ "RecordType": "Bounce", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
                         "Type": "HardBounce", "Description": "The server was unable to deliver your message",
                         "Email": "someone@example.com", "Metadata": {} });
    let post = |password: &str| {
        let req = t.http.post(format!("{}{path}", t.base)).basic_auth("s2fa", Some(password)).json(&bounce);
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(post(secret).await, StatusCode::OK, "authentic, about no message of ours: ignored");
    assert_eq!(post("not-the-secret").await, StatusCode::UNAUTHORIZED);
    assert_eq!(post("").await, StatusCode::UNAUTHORIZED);

    // Rotated: the new secret is shown once more, the old one stops working.
    let rotate = format!("{channels}/{}/receipts-secret", created["id"].as_str().unwrap());
    let resp = t.http.post(&rotate).bearer_auth(&t.creds.operator_token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let rotated: Value = resp.json().await.unwrap();
    let new_secret = rotated["receipts"]["password"].as_str().unwrap().to_owned();
    assert_eq!(rotated["receipts"]["path"], json!(path));
    assert_ne!(new_secret, secret);
    assert_eq!(post(secret).await, StatusCode::UNAUTHORIZED, "the old secret");
    assert_eq!(post(&new_secret).await, StatusCode::OK, "the new one");
    let elsewhere = rotate.replace(&client.id.to_string(), &ClientId::generate().to_string());
    let resp = t.http.post(&elsewhere).bearer_auth(&t.creds.operator_token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// The fallback's first send fails for now: the check job's retry finds the
/// delivery already moved, claims it and sends it (before, the retry found
/// nothing to move and dropped the code).
#[tokio::test]
async fn a_fallback_send_that_fails_for_now_is_retried_until_sent() {
    let s = setup().await;
    let (primary, fallback) = (s.channel(ACCEPTING).await, s.channel(FLAKY).await);
    let keys = s.project(primary, Some(fallback)).await;
    s.generate(&keys, "ann", "+14155550003").await;
    assert_eq!(s.t.app.process_pending_jobs().await.unwrap(), 1);
    s.t.clock.advance(60);
    assert_eq!(s.t.app.process_pending_jobs().await.unwrap(), 1, "the check moved it; the fallback answered 500");
    assert_eq!(s.sent().len(), 1);
    s.t.clock.advance(30);
    assert_eq!(s.t.app.process_pending_jobs().await.unwrap(), 1, "the check's retry");
    let sent = s.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!((sent[1].account.as_str(), code_in(&sent[1].body)), (FLAKY, code_in(&sent[0].body)));
    s.t.clock.advance(600);
    s.t.app.process_pending_jobs().await.unwrap();
    assert_eq!(s.sent().len(), 2, "and only once");
}

/// A Twilio channel with an API key and no auth token cannot check
/// Twilio's signatures: no receipt can come, so none is waited for, and the
/// code is not sent twice.
#[tokio::test]
async fn no_fallback_waits_for_a_receipt_that_cannot_come() {
    let s = setup().await;
    let api_key = json!({ "account_sid": ACCEPTING, "api_key_sid": format!("SK{}", "0".repeat(32)),
                          "api_key_secret": "a-secret-of-the-api-key", "from": "+14155550100" });
    let primary = s.channel_with(ACCEPTING, api_key).await;
    let keys = s.project(primary, Some(s.channel(SECOND).await)).await;
    s.generate(&keys, "ann", "+14155550004").await;
    assert_eq!(s.t.app.process_pending_jobs().await.unwrap(), 1);
    s.t.clock.advance(600);
    assert_eq!(s.t.app.process_pending_jobs().await.unwrap(), 0, "no check was queued");
    assert_eq!(s.sent().len(), 1);
}

/// The primary took the SMS but the worker's `sent` write was lost (the
/// delivery stays claimed): the receipt check must not send the code through
/// the primary again. It records the send, then fails over as checks do.
#[tokio::test]
async fn a_receipt_check_never_resends_through_the_primary() {
    use secure2fa_core::model::{DeliveryStep, Job};
    use secure2fa_core::ports::JobQueue;
    let s = setup().await;
    let (primary, fallback) = (s.channel(ACCEPTING).await, s.channel(SECOND).await);
    let keys = s.project(primary, Some(fallback)).await;
    s.generate(&keys, "ann", "+14155550005").await;
    // A worker took the job and the claim, the provider took the SMS, and
    // the `sent` write never came.
    let taken = s.t.app.queue.claim("delivery").await.unwrap().unwrap();
    let Job::Delivery(job) = taken.job.clone() else { panic!("not a delivery") };
    let claim = s.t.app.store.claim_delivery(job.project_id, &job.user_ref, job.verification_id, s.t.now(), 30);
    assert!(matches!(claim.await.unwrap(), secure2fa_core::model::ClaimOutcome::Claimed { fallback: false }));
    s.t.app.queue.complete(taken.id).await.unwrap();
    let check = Job::Delivery(secure2fa_core::model::DeliveryJob { step: DeliveryStep::AwaitReceipt, ..job.clone() });
    s.t.app.queue.enqueue_after(&check, 60).await.unwrap();
    s.t.clock.advance(60);
    assert_eq!(s.t.app.process_pending_jobs().await.unwrap(), 1);
    let sent = s.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].account, SECOND, "through the fallback, not the primary again");
}
