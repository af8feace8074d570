//! Every HTTP provider against a local mock of its API that checks the request as the provider
//! documents it (method, path, authentication, content type, fields) and answers with the
//! provider's documented success and error bodies. What each sender must get right: the message
//! id it keeps, and how each refusal is classified (permanent, transient, throttled with the
//! provider's wait) with a reason that never carries the recipient, the code or a credential.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use secure2fa_core::model::{ProviderKind, TemplateFormat};
use secure2fa_core::ports::{MessageSender, OutgoingMessage, ProviderCredentials, SendError, Tracking};
use secure2fa_core::types::{Email, PhoneNumber, Recipient};
use secure2fa_providers::{HttpTimeouts, ProviderEndpoints, ProviderRegistry, ProvidersConfig};
use serde_json::{Value, json};

const EMAIL: &str = "ann.recipient@example.com";
const PHONE: &str = "+14155552671";
const CODE: &str = "493817";

/// One request as the mock received it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn json(&self) -> Value {
        assert_eq!(self.header("content-type"), "application/json", "{self:?}");
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
    /// The (user, password) of an HTTP basic `Authorization` header.
    fn basic(&self) -> (String, String) {
        let value = self.header("authorization").strip_prefix("Basic ").expect("basic auth");
        let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(value).unwrap()).unwrap();
        let (user, password) = decoded.split_once(':').unwrap();
        (user.to_owned(), password.to_owned())
    }
}

/// What the mock answers next.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

#[derive(Clone, Default)]
struct Mock {
    seen: Arc<Mutex<Vec<Seen>>>,
    next: Arc<Mutex<Option<Answer>>>,
}

async fn record(State(mock): State<Mock>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    mock.seen.lock().unwrap().push(Seen { method, path: uri.path().to_owned(), headers, body });
    let a = mock.next.lock().unwrap().clone().expect("an answer is set");
    tokio::time::sleep(a.delay).await;
    let mut response = (StatusCode::from_u16(a.status).unwrap(), a.body).into_response();
    for (name, value) in a.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// A mock API on loopback and a registry whose every HTTP provider points at it (under a path
/// prefix, as a private endpoint might be).
async fn mock() -> (Mock, ProviderRegistry) {
    let mock = Mock::default();
    let app = Router::new().fallback(record).with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let base = format!("http://{addr}/prefix");
    let endpoints = ProviderEndpoints::from_lookup(|key| key.ends_with("_API_URL").then(|| base.clone())).unwrap();
    let config = ProvidersConfig {
        endpoints,
        http_timeouts: HttpTimeouts { connect: Duration::from_secs(2), total: Duration::from_millis(800) },
        ..Default::default()
    };
    (mock, ProviderRegistry::with_providers(&config).unwrap())
}

impl Mock {
    fn answer(&self, a: Answer) {
        *self.next.lock().unwrap() = Some(a);
    }
    fn take(&self) -> Seen {
        let mut seen = self.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "exactly one request");
        seen.pop().unwrap()
    }
}

fn email(format: TemplateFormat) -> OutgoingMessage {
    OutgoingMessage {
        to: Recipient::Email(Email::parse(EMAIL).unwrap()),
        subject: "Your code".into(),
        body: format!("Your code is {CODE}"),
        format,
        tracking: None,
    }
}

fn sms() -> OutgoingMessage {
    OutgoingMessage {
        to: Recipient::Phone(PhoneNumber::parse(PHONE).unwrap()),
        subject: String::new(),
        body: format!("Your code is {CODE}"),
        format: TemplateFormat::Text,
        tracking: None,
    }
}

/// A delivery reference and the receipts URL the deployment built for the message.
const REFERENCE: &str =
    "prj_01JD5Z8Y6X3W2V1T0S9R8Q7P6N-ver_01JD5Z8Y6X3W2V1T0S9R8Q7P6M-0123456789abcdef0123456789abcdef";
const CALLBACK: &str = "https://otp.example.com/v1/receipts/chn_01JD5Z8Y6X3W2V1T0S9R8Q7P6K?ref=prj_01JD5Z8Y6X3W2V1T0S9R8Q7P6N-ver_01JD5Z8Y6X3W2V1T0S9R8Q7P6M-0123456789abcdef0123456789abcdef";

/// `message` as a verification sends it: with its reference, and a status callback URL when the
/// deployment has a public URL.
fn tracked(mut message: OutgoingMessage, callback: bool) -> OutgoingMessage {
    message.tracking =
        Some(Tracking { reference: REFERENCE.into(), status_callback: callback.then(|| CALLBACK.to_owned()) });
    message
}

fn form(seen: &Seen) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&seen.body).into_owned().collect()
}

fn creds(v: Value) -> ProviderCredentials {
    ProviderCredentials(v)
}

/// A reason a tenant may read: none of the recipient, the code or the secrets.
fn assert_clean(reason: &str, secrets: &[&str]) {
    for needle in [EMAIL, PHONE, PHONE.trim_start_matches('+'), CODE].iter().chain(secrets) {
        assert!(!reason.contains(needle), "{needle:?} leaked into {reason:?}");
    }
}

fn reason(e: &SendError) -> &str {
    match e {
        SendError::Transient(r) | SendError::Permanent(r) => r,
        SendError::Throttled { reason, .. } => reason,
    }
}

/// The classification every provider shares: 429 throttles for `Retry-After`, 5xx is transient,
/// a slow provider is transient and fixed-worded.
async fn check_shared_classification(
    mock: &Mock,
    registry: &ProviderRegistry,
    kind: ProviderKind,
    credentials: &ProviderCredentials,
    message: &OutgoingMessage,
    error_body: Value,
) {
    let mut throttled = answer(429, error_body.clone());
    throttled.headers.push(("retry-after", "7".into()));
    mock.answer(throttled);
    let err = registry.send(kind, credentials, message).await.unwrap_err();
    assert!(matches!(err, SendError::Throttled { retry_after_seconds: 7, .. }), "{kind:?}: {err:?}");

    mock.answer(answer(503, error_body));
    let err = registry.send(kind, credentials, message).await.unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{kind:?}: {err:?}");

    let mut slow = answer(200, json!({}));
    slow.delay = Duration::from_secs(3);
    mock.answer(slow);
    let err = registry.send(kind, credentials, message).await.unwrap_err();
    assert_eq!(err, SendError::Transient(format!("{}: timed out", kind.as_str())), "{kind:?}");
    mock.seen.lock().unwrap().clear();
}

#[tokio::test]
async fn postmark_sends_as_documented_and_classifies_refusals() {
    let (mock, registry) = mock().await;
    let token = "7d2c4d3e-1111-2222-3333-444455556666";
    let c = creds(json!({"server_token": token, "from": "codes@example.com", "from_name": "Acme, Inc."}));
    mock.answer(answer(200, json!({"To": EMAIL, "SubmittedAt": "2026-11-27T10:00:00Z", "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817", "ErrorCode": 0, "Message": "OK"})));
    let sent = registry.send(ProviderKind::Postmark, &c, &email(TemplateFormat::Html)).await.unwrap();
    assert_eq!(sent.provider_message_id.as_deref(), Some("b7bc2f4a-e38e-4336-af7d-e6c392c2f817"));
    let seen = mock.take();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/prefix/email"));
    assert_eq!(seen.header("x-postmark-server-token"), token);
    assert_eq!(seen.header("accept"), "application/json");
    assert_eq!(
        seen.json(),
        json!({"From": "\"Acme, Inc.\" <codes@example.com>", "To": EMAIL, "Subject": "Your code",
               "HtmlBody": format!("Your code is {CODE}"), "MessageStream": "outbound"})
    );

    mock.answer(answer(422, json!({"ErrorCode": 406, "Message": format!("You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: {EMAIL}.")})));
    let err = registry.send(ProviderKind::Postmark, &c, &email(TemplateFormat::Text)).await.unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.starts_with("postmark HTTP 422 ErrorCode 406")), "{err:?}");
    assert_clean(reason(&err), &[token]);
    assert_eq!(mock.take().json()["TextBody"], format!("Your code is {CODE}"));

    // A 200 that carries an error code did not send.
    mock.answer(answer(200, json!({"ErrorCode": 300, "Message": "Invalid email request"})));
    let err = registry.send(ProviderKind::Postmark, &c, &email(TemplateFormat::Text)).await.unwrap_err();
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    mock.take();

    let error = json!({"ErrorCode": 10, "Message": "x"});
    check_shared_classification(&mock, &registry, ProviderKind::Postmark, &c, &email(TemplateFormat::Text), error)
        .await;
}

#[tokio::test]
async fn sendgrid_sends_as_documented_and_classifies_refusals() {
    let (mock, registry) = mock().await;
    let key = "SG.abcdefghijklmnop.qrstuvwxyz";
    let c = creds(json!({"api_key": key, "from": "codes@example.com", "from_name": "Acme"}));
    let mut accepted = answer(202, json!(null));
    accepted.body = String::new();
    accepted.headers = vec![("x-message-id", "W4PO0dxsS3a3Xh1rb8eKxQ".into())];
    mock.answer(accepted);
    let sent = registry.send(ProviderKind::Sendgrid, &c, &email(TemplateFormat::Text)).await.unwrap();
    assert_eq!(sent.provider_message_id.as_deref(), Some("W4PO0dxsS3a3Xh1rb8eKxQ"));
    let seen = mock.take();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/prefix/v3/mail/send"));
    assert_eq!(seen.header("authorization"), format!("Bearer {key}"));
    assert_eq!(
        seen.json(),
        json!({"personalizations": [{"to": [{"email": EMAIL}]}], "from": {"email": "codes@example.com", "name": "Acme"},
               "subject": "Your code", "content": [{"type": "text/plain", "value": format!("Your code is {CODE}")}]})
    );

    mock.answer(answer(403, json!({"errors": [{"message": "The from address does not match a verified Sender Identity.", "field": "from", "help": null}]})));
    let err = registry.send(ProviderKind::Sendgrid, &c, &email(TemplateFormat::Html)).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(r) if r.starts_with("sendgrid HTTP 403: from The from address")),
        "{err:?}"
    );
    assert_eq!(mock.take().json()["content"][0]["type"], "text/html");

    mock.answer(answer(400, json!({"errors": [{"message": format!("Invalid recipient {EMAIL}"), "field": "personalizations.0.to.0.email"}]})));
    let err = registry.send(ProviderKind::Sendgrid, &c, &email(TemplateFormat::Text)).await.unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.contains("personalizations.0.to.0.email")), "{err:?}");
    assert_clean(reason(&err), &[key]);
    mock.take();

    // SendGrid's 429 says when the window resets, not how long to wait.
    let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 40;
    let mut throttled = answer(429, json!({"errors": [{"message": "too many requests"}]}));
    throttled.headers.push(("x-ratelimit-reset", reset.to_string()));
    mock.answer(throttled);
    let err = registry.send(ProviderKind::Sendgrid, &c, &email(TemplateFormat::Text)).await.unwrap_err();
    assert!(matches!(err, SendError::Throttled { retry_after_seconds: 38..=40, .. }), "{err:?}");
    mock.take();

    let error = json!({"errors": [{"message": "x"}]});
    check_shared_classification(&mock, &registry, ProviderKind::Sendgrid, &c, &email(TemplateFormat::Text), error)
        .await;
}

#[tokio::test]
async fn mailjet_sends_as_documented_and_classifies_refusals() {
    let (mock, registry) = mock().await;
    let (key, secret) = ("0123456789abcdef", "fedcba9876543210");
    let c = creds(json!({"api_key": key, "api_secret": secret, "from": "codes@example.com"}));
    mock.answer(answer(200, json!({"Messages": [{"Status": "success", "CustomID": "", "To": [{"Email": EMAIL, "MessageUUID": "1ab23cd4-e567-8901-2345-6789f0gh1i2j", "MessageID": 1152921518090411u64, "MessageHref": "https://api.mailjet.com/v3/REST/message/1152921518090411"}], "Cc": [], "Bcc": []}]})));
    let sent = registry.send(ProviderKind::Mailjet, &c, &email(TemplateFormat::Text)).await.unwrap();
    assert_eq!(sent.provider_message_id.as_deref(), Some("1ab23cd4-e567-8901-2345-6789f0gh1i2j"));
    let seen = mock.take();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/prefix/v3.1/send"));
    assert_eq!(seen.basic(), (key.to_owned(), secret.to_owned()));
    assert_eq!(
        seen.json(),
        json!({"Messages": [{"From": {"Email": "codes@example.com"}, "To": [{"Email": EMAIL}],
                             "Subject": "Your code", "TextPart": format!("Your code is {CODE}")}]})
    );

    mock.answer(answer(400, json!({"Messages": [{"Status": "error", "Errors": [{"ErrorIdentifier": "f987008f-251a-4dff-8ffc-40f1583ad7bc", "ErrorCode": "mj-0013", "StatusCode": 400, "ErrorMessage": format!("\"{EMAIL}\" is an invalid email address."), "ErrorRelatedTo": ["To[0].Email"]}]}]})));
    let err = registry.send(ProviderKind::Mailjet, &c, &email(TemplateFormat::Html)).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(r) if r.starts_with("mailjet HTTP 400: mj-0013 (To[0].Email)")),
        "{err:?}"
    );
    assert_clean(reason(&err), &[secret]);
    assert!(mock.take().json()["Messages"][0]["HTMLPart"].is_string());

    mock.answer(answer(401, json!({"ErrorIdentifier": "x", "StatusCode": 401, "ErrorMessage": "API key authentication/authorization failure."})));
    let err = registry.send(ProviderKind::Mailjet, &c, &email(TemplateFormat::Text)).await.unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.contains("authentication/authorization failure")), "{err:?}");
    mock.take();

    let error = json!({"ErrorMessage": "x", "StatusCode": 500});
    check_shared_classification(&mock, &registry, ProviderKind::Mailjet, &c, &email(TemplateFormat::Text), error).await;
}

#[tokio::test]
async fn twilio_sends_as_documented_and_classifies_refusals() {
    let (mock, registry) = mock().await;
    let account = "AC0123456789abcdef0123456789abcdef";
    let token = "0123456789abcdef0123456789abcdef";
    let c = creds(json!({"account_sid": account, "auth_token": token, "from": "+14155550100"}));
    mock.answer(answer(
        201,
        json!({"sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "status": "queued", "num_segments": "1"}),
    ));
    let sent = registry.send(ProviderKind::Twilio, &c, &sms()).await.unwrap();
    assert_eq!(sent.provider_message_id.as_deref(), Some("SM1f0e8ae6ade43cb3c0ce4525424e404f"));
    let seen = mock.take();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, format!("/prefix/2010-04-01/Accounts/{account}/Messages.json"));
    assert_eq!(seen.basic(), (account.to_owned(), token.to_owned()));
    assert_eq!(seen.header("content-type"), "application/x-www-form-urlencoded");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&seen.body).into_owned().collect();
    let expected = [("To", PHONE), ("From", "+14155550100"), ("Body", &format!("Your code is {CODE}"))];
    assert_eq!(form, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));

    // An API key authenticates instead of the auth token; a messaging service replaces From.
    let key_secret = "keysecret0123456789abcdef012345";
    let with_key = creds(json!({"account_sid": account, "api_key_sid": "SK0123456789abcdef0123456789abcdef",
        "api_key_secret": key_secret, "messaging_service_sid": "MG0123456789abcdef0123456789abcdef"}));
    mock.answer(answer(201, json!({"sid": "SMx", "status": "accepted"})));
    registry.send(ProviderKind::Twilio, &with_key, &sms()).await.unwrap();
    let seen = mock.take();
    assert_eq!(seen.basic(), ("SK0123456789abcdef0123456789abcdef".to_owned(), key_secret.to_owned()));
    assert_eq!(seen.path, format!("/prefix/2010-04-01/Accounts/{account}/Messages.json"));
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&seen.body).into_owned().collect();
    assert!(form.contains(&("MessagingServiceSid".into(), "MG0123456789abcdef0123456789abcdef".into())), "{form:?}");
    assert!(!form.iter().any(|(k, _)| k == "From"));

    mock.answer(answer(400, json!({"code": 21211, "message": format!("The 'To' number {PHONE} is not a valid phone number."), "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400})));
    let err = registry.send(ProviderKind::Twilio, &c, &sms()).await.unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.starts_with("twilio HTTP 400 code 21211")), "{err:?}");
    assert_clean(reason(&err), &[token]);
    mock.take();

    mock.answer(answer(401, json!({"code": 20003, "message": "Authenticate", "status": 401})));
    let err = registry.send(ProviderKind::Twilio, &c, &sms()).await.unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.contains("code 20003")), "{err:?}");
    mock.take();

    // An SMS channel cannot send email.
    let err = registry.send(ProviderKind::Twilio, &c, &email(TemplateFormat::Text)).await.unwrap_err();
    assert!(matches!(err, SendError::Permanent(_)));
    assert!(mock.seen.lock().unwrap().is_empty(), "nothing reached the provider");

    let error = json!({"code": 20429, "message": "Too Many Requests", "status": 429});
    check_shared_classification(&mock, &registry, ProviderKind::Twilio, &c, &sms(), error).await;
}

#[tokio::test]
async fn plivo_sends_as_documented_and_classifies_refusals() {
    let (mock, registry) = mock().await;
    let (auth_id, token) = ("MAXXXXXXXXXXXXXXXXXX", "secret-token-0123456789");
    let c = creds(json!({"auth_id": auth_id, "auth_token": token, "src": "+14155550100"}));
    mock.answer(answer(202, json!({"api_id": "4e1f954c-baf3-11ec-bafe-0242ac110003", "message": "message(s) queued", "message_uuid": ["4e24e0c4-baf3-11ec-bafe-0242ac110003"]})));
    let sent = registry.send(ProviderKind::Plivo, &c, &sms()).await.unwrap();
    assert_eq!(sent.provider_message_id.as_deref(), Some("4e24e0c4-baf3-11ec-bafe-0242ac110003"));
    let seen = mock.take();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/prefix/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/")
    );
    assert_eq!(seen.basic(), (auth_id.to_owned(), token.to_owned()));
    assert_eq!(
        seen.json(),
        json!({"dst": "14155552671", "src": "14155550100", "text": format!("Your code is {CODE}")})
    );

    // Every destination refused, though the request was accepted: nothing left.
    mock.answer(answer(
        202,
        json!({"api_id": "x", "message": "message(s) queued", "message_uuid": [], "invalid_number": ["14155552671"]}),
    ));
    let err = registry.send(ProviderKind::Plivo, &c, &sms()).await.unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.contains("invalid_number")), "{err:?}");
    assert_clean(reason(&err), &[token]);
    mock.take();

    mock.answer(answer(
        400,
        json!({"api_id": "x", "error": format!("{} is not a valid phone number", PHONE.trim_start_matches('+'))}),
    ));
    let err = registry.send(ProviderKind::Plivo, &c, &sms()).await.unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.starts_with("plivo HTTP 400: ")), "{err:?}");
    assert_clean(reason(&err), &[token]);
    mock.take();

    let error = json!({"api_id": "x", "error": "too many requests"});
    check_shared_classification(&mock, &registry, ProviderKind::Plivo, &c, &sms(), error).await;
}

#[tokio::test]
async fn clicksend_sends_as_documented_and_classifies_refusals() {
    let (mock, registry) = mock().await;
    let (user, key) = ("acme", "ABCDEF12-3456-7890-ABCD-EF1234567890");
    let c = creds(json!({"username": user, "api_key": key, "from": "Acme"}));
    mock.answer(answer(200, json!({"http_code": 200, "response_code": "SUCCESS", "response_msg": "Messages queued for delivery.", "data": {"total_price": 0.07, "total_count": 1, "queued_count": 1, "messages": [{"direction": "out", "to": PHONE, "message_id": "BF7AD270-0DE2-418B-B606-71D527D9C1AE", "status": "SUCCESS"}]}})));
    let sent = registry.send(ProviderKind::Clicksend, &c, &sms()).await.unwrap();
    assert_eq!(sent.provider_message_id.as_deref(), Some("BF7AD270-0DE2-418B-B606-71D527D9C1AE"));
    let seen = mock.take();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/prefix/v3/sms/send"));
    assert_eq!(seen.basic(), (user.to_owned(), key.to_owned()));
    assert_eq!(
        seen.json(),
        json!({"messages": [{"source": "secure2fa", "body": format!("Your code is {CODE}"), "to": PHONE, "from": "Acme"}]})
    );

    // A 200 whose message was not queued.
    mock.answer(answer(200, json!({"http_code": 200, "response_code": "SUCCESS", "data": {"messages": [{"to": PHONE, "status": "INVALID_RECIPIENT"}]}})));
    let err = registry.send(ProviderKind::Clicksend, &c, &sms()).await.unwrap_err();
    assert_eq!(err, SendError::Permanent("clicksend HTTP 200 message status INVALID_RECIPIENT".into()));
    mock.take();

    mock.answer(answer(
        401,
        json!({"http_code": 401, "response_code": "UNAUTHORIZED", "response_msg": "Invalid credentials."}),
    ));
    let err = registry.send(ProviderKind::Clicksend, &c, &sms()).await.unwrap_err();
    assert!(matches!(&err, SendError::Permanent(r) if r.starts_with("clicksend HTTP 401 UNAUTHORIZED")), "{err:?}");
    assert_clean(reason(&err), &[key]);
    mock.take();

    let error = json!({"http_code": 429, "response_code": "TOO_MANY_REQUESTS", "response_msg": "x"});
    check_shared_classification(&mock, &registry, ProviderKind::Clicksend, &c, &sms(), error).await;
}

#[tokio::test]
async fn credentials_that_fail_their_schema_never_reach_the_provider() {
    let (mock, registry) = mock().await;
    let bad = [
        (ProviderKind::Postmark, json!({"server_token": "short", "from": "codes@example.com"})),
        (ProviderKind::Twilio, json!({"account_sid": "AC/../../evil", "auth_token": "x", "from": "+14155550100"})),
        (
            ProviderKind::Plivo,
            json!({"auth_id": "MA/../Account", "auth_token": "secret-token-0123456789", "src": "+14155550100"}),
        ),
        (ProviderKind::Sendgrid, json!({"from": "codes@example.com"})),
    ];
    for (kind, c) in bad {
        let message = if matches!(kind, ProviderKind::Twilio | ProviderKind::Plivo) {
            sms()
        } else {
            email(TemplateFormat::Text)
        };
        let err = registry.send(kind, &creds(c), &message).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent(r) if r.contains("invalid channel credentials")),
            "{kind:?}: {err:?}"
        );
    }
    assert!(mock.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn tracked_messages_carry_their_reference_where_each_provider_echoes_it() {
    let (mock, registry) = mock().await;
    let tracking_field = json!({ "s2fa_ref": REFERENCE });

    // Postmark: Metadata, echoed in its webhooks.
    let postmark = creds(json!({"server_token": "7d2c4d3e-1111-2222-3333-444455556666", "from": "codes@example.com"}));
    mock.answer(answer(200, json!({"MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817", "ErrorCode": 0})));
    registry.send(ProviderKind::Postmark, &postmark, &tracked(email(TemplateFormat::Text), true)).await.unwrap();
    assert_eq!(mock.take().json()["Metadata"], tracking_field);
    registry.send(ProviderKind::Postmark, &postmark, &email(TemplateFormat::Text)).await.unwrap();
    assert!(mock.take().json().get("Metadata").is_none(), "no Metadata without tracking");

    // SendGrid: custom_args of the recipient's personalization, echoed in each event.
    let sendgrid = creds(json!({"api_key": "SG.abcdefghijklmnop.qrstuvwxyz", "from": "codes@example.com"}));
    let mut accepted = answer(202, json!(null));
    accepted.body = String::new();
    mock.answer(accepted);
    registry.send(ProviderKind::Sendgrid, &sendgrid, &tracked(email(TemplateFormat::Text), true)).await.unwrap();
    let body = mock.take().json();
    assert_eq!(body["personalizations"][0]["custom_args"], tracking_field);
    assert!(body.get("custom_args").is_none());
    registry.send(ProviderKind::Sendgrid, &sendgrid, &email(TemplateFormat::Text)).await.unwrap();
    assert!(mock.take().json()["personalizations"][0].get("custom_args").is_none());

    // Mailjet: EventPayload, echoed as each event's Payload.
    let mailjet =
        creds(json!({"api_key": "0123456789abcdef", "api_secret": "fedcba9876543210", "from": "codes@example.com"}));
    mock.answer(answer(200, json!({"Messages": [{"Status": "success", "To": [{"MessageUUID": "u"}]}]})));
    registry.send(ProviderKind::Mailjet, &mailjet, &tracked(email(TemplateFormat::Text), true)).await.unwrap();
    assert_eq!(mock.take().json()["Messages"][0]["EventPayload"], REFERENCE);
    registry.send(ProviderKind::Mailjet, &mailjet, &email(TemplateFormat::Text)).await.unwrap();
    assert!(mock.take().json()["Messages"][0].get("EventPayload").is_none());

    // ClickSend: custom_string, echoed in the delivery receipt.
    let clicksend = creds(json!({"username": "acme", "api_key": "ABCDEF12-3456-7890-ABCD-EF1234567890"}));
    mock.answer(answer(200, json!({"data": {"messages": [{"message_id": "m", "status": "SUCCESS"}]}})));
    registry.send(ProviderKind::Clicksend, &clicksend, &tracked(sms(), true)).await.unwrap();
    assert_eq!(mock.take().json()["messages"][0]["custom_string"], REFERENCE);
    registry.send(ProviderKind::Clicksend, &clicksend, &sms()).await.unwrap();
    assert!(mock.take().json()["messages"][0].get("custom_string").is_none());

    // Twilio: StatusCallback, only when the deployment has a receipts URL.
    let twilio = creds(json!({"account_sid": "AC0123456789abcdef0123456789abcdef",
        "auth_token": "0123456789abcdef0123456789abcdef", "from": "+14155550100"}));
    mock.answer(answer(201, json!({"sid": "SMx", "status": "queued"})));
    registry.send(ProviderKind::Twilio, &twilio, &tracked(sms(), true)).await.unwrap();
    assert!(form(&mock.take()).contains(&("StatusCallback".into(), CALLBACK.into())));
    for message in [tracked(sms(), false), sms()] {
        registry.send(ProviderKind::Twilio, &twilio, &message).await.unwrap();
        assert!(!form(&mock.take()).iter().any(|(k, _)| k == "StatusCallback"));
    }

    // Plivo: url and method POST, only when the deployment has a receipts URL.
    let plivo = creds(
        json!({"auth_id": "MAXXXXXXXXXXXXXXXXXX", "auth_token": "secret-token-0123456789", "src": "+14155550100"}),
    );
    mock.answer(answer(202, json!({"message_uuid": ["4e24e0c4-baf3-11ec-bafe-0242ac110003"]})));
    registry.send(ProviderKind::Plivo, &plivo, &tracked(sms(), true)).await.unwrap();
    let body = mock.take().json();
    assert_eq!((body["url"].as_str(), body["method"].as_str()), (Some(CALLBACK), Some("POST")));
    for message in [tracked(sms(), false), sms()] {
        registry.send(ProviderKind::Plivo, &plivo, &message).await.unwrap();
        let body = mock.take().json();
        assert!(body.get("url").is_none() && body.get("method").is_none(), "{body}");
    }
}
