//! Delivery receipts as each provider posts them: an authentic callback becomes normalized
//! receipts (message id, reference, status, reason without the recipient); a forged one (wrong
//! key or secret), a tampered one (body or URL changed after signing) and a stale one are
//! refused as unauthentic; a malformed body is refused as malformed, never with a panic.

use base64::Engine;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use secure2fa_core::ids::{ProjectId, VerificationId};
use secure2fa_core::model::{DeliveryRef, ProviderKind, ReceiptStatus, UserRef};
use secure2fa_core::ports::ProviderCredentials;
use secure2fa_providers::receipts::{MAX_BODY_BYTES, MAX_EVENTS};
use secure2fa_providers::{ProviderReceipt, ReceiptError, ReceiptRequest, read_receipts};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;
const SECRET: &str = "Jm0yZ8b3Qk1XbQvWn5uE0r4TqHc9LpA2sDf6GhJk7Lz";
const EMAIL: &str = "ann.recipient@example.com";
const PHONE: &str = "+14155552671";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn delivery_ref() -> DeliveryRef {
    DeliveryRef {
        project_id: ProjectId::generate(),
        verification_id: VerificationId::generate(),
        user_ref: UserRef::from_hex("0123456789abcdef0123456789abcdef".into()),
        fallback: false,
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    h
}

fn read(
    kind: ProviderKind,
    credentials: &Value,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<ProviderReceipt>, ReceiptError> {
    let request = ReceiptRequest { url, headers, body };
    read_receipts(kind, &ProviderCredentials(credentials.clone()), SECRET, &request, NOW)
}

/// A reason the tenant may read.
fn assert_clean(receipts: &[ProviderReceipt]) {
    for r in receipts {
        let reason = r.reason.as_deref().unwrap_or("");
        for needle in [EMAIL, PHONE, PHONE.trim_start_matches('+'), "555"] {
            assert!(!reason.contains(needle), "{needle} leaked into {reason:?}");
        }
    }
}

/// A tiny deterministic generator, for hostile bodies.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        // Mostly the bytes that structure JSON and forms, so parsers get past their first byte.
        const ALPHABET: &[u8] = b"{}[]\",:=&%+0123456789.-_aeEZ \\\n\xff\x00";
        (0..len).map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize]).collect()
    }
}

/// Cut short, bytes flipped, random: every body either reads or is malformed, never a panic,
/// never unauthentic (`authenticate` signs or authorizes whatever body it is given).
fn assert_hostile_bodies_are_malformed_or_read(
    kind: ProviderKind,
    credentials: &Value,
    valid: &[u8],
    authenticate: impl Fn(&[u8]) -> (String, HeaderMap),
) {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let mut bodies: Vec<Vec<u8>> = (0..valid.len()).map(|cut| valid[..cut].to_vec()).collect();
    for _ in 0..300 {
        let mut flipped = valid.to_vec();
        let at = (noise.next() as usize) % flipped.len();
        flipped[at] = noise.bytes(1)[0];
        bodies.push(flipped);
        let len = (noise.next() % 300) as usize;
        bodies.push(noise.bytes(len));
    }
    for body in bodies {
        let (url, h) = authenticate(&body);
        match read(kind, credentials, &url, &h, &body) {
            Ok(_) | Err(ReceiptError::Malformed(_)) => {}
            Err(e) => panic!("{kind:?}: {e:?} for {:?}", String::from_utf8_lossy(&body)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Twilio

const TWILIO_TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn twilio_creds() -> Value {
    json!({"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": TWILIO_TOKEN, "from": "+14155550100"})
}

fn twilio_signature(token: &str, url: &str, body: &[u8]) -> String {
    let mut fields: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    fields.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (k, v) in fields {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    b64(&mac.finalize().into_bytes())
}

fn twilio_body(status: &str, error_code: Option<&str>) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("AccountSid", "AC0123456789abcdef0123456789abcdef")
        .append_pair("ApiVersion", "2010-04-01")
        .append_pair("From", "+14155550100")
        .append_pair("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f")
        .append_pair("MessageStatus", status)
        .append_pair("SmsSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f")
        .append_pair("SmsStatus", status)
        .append_pair("To", PHONE);
    if let Some(code) = error_code {
        form.append_pair("ErrorCode", code);
    }
    form.finish()
}

fn callback_url(reference: &DeliveryRef) -> String {
    format!("https://otp.example.com/v1/receipts/chn_01JD5Z8Y6X3W2V1T0S9R8Q7P6K?ref={}", reference.encode().unwrap())
}

#[test]
fn twilio_signed_callbacks_become_receipts() {
    let reference = delivery_ref();
    let url = callback_url(&reference);
    let body = twilio_body("undelivered", Some("30003"));
    let h = headers(&[("x-twilio-signature", &twilio_signature(TWILIO_TOKEN, &url, body.as_bytes()))]);
    let receipts = read(ProviderKind::Twilio, &twilio_creds(), &url, &h, body.as_bytes()).unwrap();
    assert_eq!(
        receipts,
        vec![ProviderReceipt {
            message_id: "SM1f0e8ae6ade43cb3c0ce4525424e404f".into(),
            reference: Some(reference.clone()),
            status: ReceiptStatus::Failed,
            reason: Some("twilio ErrorCode 30003".into()),
        }]
    );
    assert_clean(&receipts);

    for (status, expected) in [
        ("sent", Some(ReceiptStatus::Sent)),
        ("delivered", Some(ReceiptStatus::Delivered)),
        ("read", Some(ReceiptStatus::Delivered)),
        ("failed", Some(ReceiptStatus::Failed)),
        ("queued", None),
        ("sending", None),
        ("accepted", None),
    ] {
        let body = twilio_body(status, None);
        let h = headers(&[("x-twilio-signature", &twilio_signature(TWILIO_TOKEN, &url, body.as_bytes()))]);
        let receipts = read(ProviderKind::Twilio, &twilio_creds(), &url, &h, body.as_bytes()).unwrap();
        assert_eq!(receipts.first().map(|r| r.status), expected, "{status}");
        assert!(receipts.iter().all(|r| r.reason.is_none() && r.reference.as_ref() == Some(&reference)));
    }
}

#[test]
fn twilio_forged_or_tampered_callbacks_are_unauthentic() {
    let reference = delivery_ref();
    let url = callback_url(&reference);
    let body = twilio_body("delivered", None);
    let signed = twilio_signature(TWILIO_TOKEN, &url, body.as_bytes());
    let unauthentic = |url: &str, h: &HeaderMap, body: &str, creds: &Value| {
        assert_eq!(read(ProviderKind::Twilio, creds, url, h, body.as_bytes()), Err(ReceiptError::Unauthentic));
    };
    let good = headers(&[("x-twilio-signature", &signed)]);
    // Another account's token.
    let forged = headers(&[(
        "x-twilio-signature",
        &twilio_signature("fedcba9876543210fedcba9876543210", &url, body.as_bytes()),
    )]);
    unauthentic(&url, &forged, &body, &twilio_creds());
    unauthentic(&url, &HeaderMap::new(), &body, &twilio_creds());
    // The status changed after signing; the reference in the URL swapped for another's.
    unauthentic(&url, &good, &twilio_body("failed", None), &twilio_creds());
    unauthentic(&callback_url(&delivery_ref()), &good, &body, &twilio_creds());
    // A channel that sends with an API key and kept no auth token cannot check anything...
    let key_only = json!({"account_sid": "AC0123456789abcdef0123456789abcdef", "api_key_sid": "SK0123456789abcdef0123456789abcdef",
        "api_key_secret": "keysecret0123456789abcdef012345", "from": "+14155550100"});
    unauthentic(&url, &good, &body, &key_only);
    // ...and one that kept it beside the key can.
    let mut both = key_only.clone();
    both["auth_token"] = json!(TWILIO_TOKEN);
    assert_eq!(read(ProviderKind::Twilio, &both, &url, &good, body.as_bytes()).unwrap().len(), 1);
    // Signed, but not a status callback.
    let odd = "MessageSid=SM1";
    let h = headers(&[("x-twilio-signature", &twilio_signature(TWILIO_TOKEN, &url, odd.as_bytes()))]);
    assert!(matches!(
        read(ProviderKind::Twilio, &twilio_creds(), &url, &h, odd.as_bytes()),
        Err(ReceiptError::Malformed(_))
    ));

    let creds = twilio_creds();
    assert_hostile_bodies_are_malformed_or_read(ProviderKind::Twilio, &creds, body.as_bytes(), |b| {
        (url.clone(), headers(&[("x-twilio-signature", &twilio_signature(TWILIO_TOKEN, &url, b))]))
    });
}

// ---------------------------------------------------------------------------------------------
// Plivo

const PLIVO_TOKEN: &str = "secret-token-0123456789";

fn plivo_creds() -> Value {
    json!({"auth_id": "MAXXXXXXXXXXXXXXXXXX", "auth_token": PLIVO_TOKEN, "src": "+14155550100"})
}

/// The V3 string to sign, written out as Plivo's SDKs build it for a POST.
fn plivo_signature(token: &str, url: &str, body: &[u8], nonce: &str) -> String {
    let parsed = url::Url::parse(url).unwrap();
    let mut query: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut fields: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    fields.sort();
    let base = format!("{}://{}{}", parsed.scheme(), parsed.host_str().unwrap(), parsed.path());
    let params: String = fields.iter().map(|(k, v)| format!("{k}{v}")).collect();
    let signed = match (query.is_empty(), fields.is_empty()) {
        (true, true) => format!("{base}.{nonce}"),
        (false, true) => format!("{base}?{}.{nonce}", query.join("&")),
        (true, false) => format!("{base}?{params}.{nonce}"),
        (false, false) => format!("{base}?{}.{params}.{nonce}", query.join("&")),
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    b64(&mac.finalize().into_bytes())
}

fn plivo_body(status: &str, error_code: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("ErrorCode", error_code)
        .append_pair("From", "14155550100")
        .append_pair("MessageUUID", "4e24e0c4-baf3-11ec-bafe-0242ac110003")
        .append_pair("Status", status)
        .append_pair("To", PHONE.trim_start_matches('+'))
        .append_pair("TotalAmount", "0.00500")
        .append_pair("Units", "1")
        .finish()
}

fn plivo_headers(signature: &str, nonce: &str) -> HeaderMap {
    headers(&[("x-plivo-signature-v3", signature), ("x-plivo-signature-v3-nonce", nonce)])
}

#[test]
fn plivo_signed_callbacks_become_receipts() {
    let reference = delivery_ref();
    let url = callback_url(&reference);
    let nonce = "05429567804466091622";
    let body = plivo_body("undelivered", "30");
    let h = plivo_headers(&plivo_signature(PLIVO_TOKEN, &url, body.as_bytes(), nonce), nonce);
    let receipts = read(ProviderKind::Plivo, &plivo_creds(), &url, &h, body.as_bytes()).unwrap();
    assert_eq!(
        receipts,
        vec![ProviderReceipt {
            message_id: "4e24e0c4-baf3-11ec-bafe-0242ac110003".into(),
            reference: Some(reference.clone()),
            status: ReceiptStatus::Failed,
            reason: Some("plivo ErrorCode 30".into()),
        }]
    );

    for (status, expected) in [
        ("sent", Some(ReceiptStatus::Sent)),
        ("delivered", Some(ReceiptStatus::Delivered)),
        ("rejected", Some(ReceiptStatus::Failed)),
        ("queued", None),
    ] {
        let body = plivo_body(status, "000");
        let signature = plivo_signature(PLIVO_TOKEN, &url, body.as_bytes(), nonce);
        // Several signatures (one per active token), or the main account's header: one match is enough.
        let listed = format!("c29tZXRoaW5nIGVsc2U=,{signature}");
        for h in [
            plivo_headers(&signature, nonce),
            plivo_headers(&listed, nonce),
            headers(&[("x-plivo-signature-ma-v3", &signature), ("x-plivo-signature-v3-nonce", nonce)]),
        ] {
            let receipts = read(ProviderKind::Plivo, &plivo_creds(), &url, &h, body.as_bytes()).unwrap();
            assert_eq!(receipts.first().map(|r| r.status), expected, "{status}");
            assert!(receipts.iter().all(|r| r.reason.is_none()), "a success code is no reason");
        }
    }
}

#[test]
fn plivo_forged_or_tampered_callbacks_are_unauthentic() {
    let url = callback_url(&delivery_ref());
    let nonce = "05429567804466091622";
    let body = plivo_body("delivered", "000");
    let signature = plivo_signature(PLIVO_TOKEN, &url, body.as_bytes(), nonce);
    let unauthentic = |url: &str, h: &HeaderMap, body: &str| {
        assert_eq!(read(ProviderKind::Plivo, &plivo_creds(), url, h, body.as_bytes()), Err(ReceiptError::Unauthentic));
    };
    unauthentic(
        &url,
        &plivo_headers(&plivo_signature("another-token-0123456789", &url, body.as_bytes(), nonce), nonce),
        &body,
    );
    unauthentic(&url, &plivo_headers(&signature, "05429567804466091623"), &body);
    unauthentic(&url, &plivo_headers(&signature, nonce), &plivo_body("failed", "000"));
    unauthentic(&callback_url(&delivery_ref()), &plivo_headers(&signature, nonce), &body);
    unauthentic(&url, &headers(&[("x-plivo-signature-v3-nonce", nonce)]), &body);
    // V2 signs only the URL and the nonce: not accepted on its own.
    let mut v2 = Hmac::<sha2::Sha256>::new_from_slice(PLIVO_TOKEN.as_bytes()).unwrap();
    v2.update(format!("{url}{nonce}").as_bytes());
    let v2 = b64(&v2.finalize().into_bytes());
    unauthentic(&url, &headers(&[("x-plivo-signature-v2", &v2), ("x-plivo-signature-v2-nonce", nonce)]), &body);

    let creds = plivo_creds();
    assert_hostile_bodies_are_malformed_or_read(ProviderKind::Plivo, &creds, body.as_bytes(), |b| {
        (url.clone(), plivo_headers(&plivo_signature(PLIVO_TOKEN, &url, b, nonce), nonce))
    });
}

// ---------------------------------------------------------------------------------------------
// SendGrid

fn sendgrid_creds(public_key: &str) -> Value {
    json!({"api_key": "SG.abcdefghijklmnop.qrstuvwxyz", "from": "codes@example.com", "event_webhook_public_key": public_key})
}

struct SendgridKey(SigningKey);

impl SendgridKey {
    fn new() -> Self {
        Self(SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng))
    }
    fn public(&self) -> String {
        b64(p256::PublicKey::from(self.0.verifying_key()).to_public_key_der().unwrap().as_bytes())
    }
    fn headers(&self, timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut signed = timestamp.to_string().into_bytes();
        signed.extend_from_slice(body);
        let signature: Signature = self.0.sign(&signed);
        headers(&[
            ("x-twilio-email-event-webhook-signature", &b64(signature.to_der().as_bytes())),
            ("x-twilio-email-event-webhook-timestamp", &timestamp.to_string()),
        ])
    }
}

const SENDGRID_URL: &str = "https://otp.example.com/v1/receipts/chn_01JD5Z8Y6X3W2V1T0S9R8Q7P6K";

/// SendGrid's own example (sendgrid-python's event webhook tests): its key, payload, timestamp
/// and signature.
#[test]
fn sendgrid_published_example_verifies() {
    let key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
    let signature = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
    let payload = "[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";
    let timestamp = 1_600_112_502;
    let h = headers(&[
        ("x-twilio-email-event-webhook-signature", signature),
        ("x-twilio-email-event-webhook-timestamp", "1600112502"),
    ]);
    let request = ReceiptRequest { url: SENDGRID_URL, headers: &h, body: payload.as_bytes() };
    let creds = ProviderCredentials(sendgrid_creds(key));
    let receipts = read_receipts(ProviderKind::Sendgrid, &creds, SECRET, &request, timestamp).unwrap();
    assert_eq!(
        receipts,
        vec![ProviderReceipt {
            message_id: "LRzXl_NHStOGhQ4kofSm_A".into(),
            reference: None,
            status: ReceiptStatus::Failed,
            reason: Some("sendgrid dropped: Bounced Address".into()),
        }]
    );
    // The same request ten minutes and one second later is a replay.
    assert_eq!(
        read_receipts(ProviderKind::Sendgrid, &creds, SECRET, &request, timestamp + 601),
        Err(ReceiptError::Unauthentic)
    );
    // SendGrid's own "bad key" example.
    let other = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";
    let creds = ProviderCredentials(sendgrid_creds(other));
    assert_eq!(
        read_receipts(ProviderKind::Sendgrid, &creds, SECRET, &request, timestamp),
        Err(ReceiptError::Unauthentic)
    );
}

#[test]
fn sendgrid_signed_events_become_receipts() {
    let key = SendgridKey::new();
    let reference = delivery_ref();
    let r = reference.encode().unwrap();
    let body = json!([
        {"email": EMAIL, "timestamp": NOW, "event": "processed", "sg_message_id": "W4PO0dxsS3a3Xh1rb8eKxQ.filter0001.1", "s2fa_ref": r},
        {"email": EMAIL, "timestamp": NOW, "event": "deferred", "response": "400 try again later", "sg_message_id": "W4PO0dxsS3a3Xh1rb8eKxQ.filter0001.1", "s2fa_ref": r},
        {"email": EMAIL, "timestamp": NOW, "event": "delivered", "response": "250 OK", "sg_message_id": "W4PO0dxsS3a3Xh1rb8eKxQ.filter0001.1", "s2fa_ref": r, "category": ["otp"]},
        {"email": EMAIL, "timestamp": NOW, "event": "bounce", "type": "bounce", "status": "5.1.1", "reason": format!("550 5.1.1 {EMAIL}: user unknown, call +1 415 555 2671"), "sg_message_id": "A1b2C3.filter2.2", "s2fa_ref": r},
        {"email": EMAIL, "timestamp": NOW, "event": "bounce", "type": "blocked", "status": "4.0.0", "reason": "blocked by policy", "sg_message_id": "B1.filter", "s2fa_ref": r},
        {"email": EMAIL, "timestamp": NOW, "event": "dropped", "reason": "Unsubscribed Address", "sg_message_id": "C1.filter"},
        {"email": EMAIL, "timestamp": NOW, "event": "spamreport", "sg_message_id": "D1.filter", "s2fa_ref": "not-a-reference"},
        {"email": EMAIL, "timestamp": NOW, "event": "open", "sg_message_id": "E1.filter", "useragent": "x", "ip": "192.0.2.1"},
        {"email": EMAIL, "timestamp": NOW, "event": "click", "url": "https://example.com", "sg_message_id": "E1.filter"},
    ])
    .to_string();
    let creds = sendgrid_creds(&key.public());
    let receipts =
        read(ProviderKind::Sendgrid, &creds, SENDGRID_URL, &key.headers(NOW, body.as_bytes()), body.as_bytes())
            .unwrap();
    let summary: Vec<(&str, ReceiptStatus, bool)> =
        receipts.iter().map(|r| (r.message_id.as_str(), r.status, r.reference.as_ref() == Some(&reference))).collect();
    assert_eq!(
        summary,
        vec![
            ("W4PO0dxsS3a3Xh1rb8eKxQ", ReceiptStatus::Delivered, true),
            ("A1b2C3", ReceiptStatus::Bounced, true),
            ("B1", ReceiptStatus::Bounced, true),
            ("C1", ReceiptStatus::Failed, false),
            ("D1", ReceiptStatus::Complained, false),
        ]
    );
    let reasons: Vec<Option<&str>> = receipts.iter().map(|r| r.reason.as_deref()).collect();
    assert_eq!(reasons[0], None);
    assert!(reasons[1].unwrap().starts_with("sendgrid bounce bounce 5.1.1: "), "{reasons:?}");
    assert!(reasons[1].unwrap().contains("user unknown"), "{reasons:?}");
    assert_eq!(reasons[2], Some("sendgrid bounce blocked 4.0.0: blocked by policy"));
    assert_eq!(reasons[3], Some("sendgrid dropped: Unsubscribed Address"));
    assert_eq!(reasons[4], None);
    assert_clean(&receipts);
}

#[test]
fn sendgrid_forged_tampered_or_stale_events_are_unauthentic() {
    let key = SendgridKey::new();
    let creds = sendgrid_creds(&key.public());
    let body = json!([{"event": "delivered", "sg_message_id": "W4PO0dxsS3a3Xh1rb8eKxQ.filter0001"}]).to_string();
    let unauthentic = |creds: &Value, h: &HeaderMap, body: &str| {
        assert_eq!(
            read(ProviderKind::Sendgrid, creds, SENDGRID_URL, h, body.as_bytes()),
            Err(ReceiptError::Unauthentic)
        );
    };
    // Signed by another key.
    unauthentic(&creds, &SendgridKey::new().headers(NOW, body.as_bytes()), &body);
    // The body changed after signing (one more event), or the timestamp did.
    let signed = key.headers(NOW, body.as_bytes());
    unauthentic(&creds, &signed, &body.replace("delivered", "bounce"));
    let mut retimed = signed.clone();
    retimed.insert("x-twilio-email-event-webhook-timestamp", HeaderValue::from_str(&(NOW - 1).to_string()).unwrap());
    unauthentic(&creds, &retimed, &body);
    // Stale or from the future by more than ten minutes; within them is fine.
    unauthentic(&creds, &key.headers(NOW - 601, body.as_bytes()), &body);
    unauthentic(&creds, &key.headers(NOW + 601, body.as_bytes()), &body);
    for skew in [-600, 600] {
        let h = key.headers(NOW + skew, body.as_bytes());
        assert_eq!(read(ProviderKind::Sendgrid, &creds, SENDGRID_URL, &h, body.as_bytes()).unwrap().len(), 1);
    }
    // No signature, a signature that is not DER, a channel without a verification key.
    unauthentic(&creds, &HeaderMap::new(), &body);
    let garbled = headers(&[
        ("x-twilio-email-event-webhook-signature", "bm90IGEgc2lnbmF0dXJl"),
        ("x-twilio-email-event-webhook-timestamp", &NOW.to_string()),
    ]);
    unauthentic(&creds, &garbled, &body);
    let no_key = json!({"api_key": "SG.abcdefghijklmnop.qrstuvwxyz", "from": "codes@example.com"});
    unauthentic(&no_key, &signed, &body);
}

#[test]
fn sendgrid_malformed_signed_bodies_are_malformed() {
    let key = SendgridKey::new();
    let creds = sendgrid_creds(&key.public());
    let too_many = Value::Array(vec![json!({"event": "open"}); MAX_EVENTS + 1]).to_string();
    let no_id = json!([{"event": "delivered"}]).to_string();
    for body in ["not json", "42", "[1, 2]", too_many.as_str(), no_id.as_str()] {
        let h = key.headers(NOW, body.as_bytes());
        assert!(
            matches!(
                read(ProviderKind::Sendgrid, &creds, SENDGRID_URL, &h, body.as_bytes()),
                Err(ReceiptError::Malformed(_))
            ),
            "{body:.40}"
        );
    }
    let valid =
        json!([{"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "x", "sg_message_id": "A.b"}])
            .to_string();
    assert_hostile_bodies_are_malformed_or_read(ProviderKind::Sendgrid, &creds, valid.as_bytes(), |b| {
        (SENDGRID_URL.to_owned(), key.headers(NOW, b))
    });
}

// ---------------------------------------------------------------------------------------------
// Postmark and Mailjet: basic authentication with the channel's receipt secret

fn basic(user: &str, password: &str) -> HeaderMap {
    headers(&[("authorization", &format!("Basic {}", b64(format!("{user}:{password}").as_bytes())))])
}

const HOOK_URL: &str = "https://otp.example.com/v1/receipts/chn_01JD5Z8Y6X3W2V1T0S9R8Q7P6K";

fn postmark_creds() -> Value {
    json!({"server_token": "7d2c4d3e-1111-2222-3333-444455556666", "from": "codes@example.com"})
}

#[test]
fn postmark_authorized_webhooks_become_receipts() {
    let reference = delivery_ref();
    let metadata = json!({"s2fa_ref": reference.encode().unwrap(), "other": 1});
    let auth = basic("s2fa", SECRET);
    let cases = [
        (
            json!({"RecordType": "Delivery", "ServerID": 23, "MessageStream": "outbound", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
                   "Recipient": EMAIL, "Tag": "", "DeliveredAt": "2026-11-27T10:00:00Z", "Details": format!("smtp;250 2.0.0 OK {EMAIL}"), "Metadata": metadata}),
            Some((ReceiptStatus::Delivered, None)),
        ),
        (
            json!({"RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "TypeCode": 1, "Name": "Hard bounce", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
                   "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
                   "Details": format!("smtp;550 5.1.1 {EMAIL} does not exist"), "Email": EMAIL, "Inactive": true, "Metadata": metadata}),
            Some((
                ReceiptStatus::Bounced,
                Some(
                    "postmark HardBounce: The server was unable to deliver your message (ex: unknown user, mailbox not found).",
                ),
            )),
        ),
        (
            json!({"RecordType": "SpamComplaint", "Type": "SpamComplaint", "TypeCode": 512, "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Email": EMAIL, "Metadata": metadata}),
            Some((ReceiptStatus::Complained, None)),
        ),
        (
            json!({"RecordType": "Bounce", "Type": "Transient", "TypeCode": 2, "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Metadata": metadata}),
            None,
        ),
        (
            json!({"RecordType": "Open", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Metadata": metadata}),
            None,
        ),
    ];
    for (record, expected) in cases {
        let body = record.to_string();
        let receipts = read(ProviderKind::Postmark, &postmark_creds(), HOOK_URL, &auth, body.as_bytes()).unwrap();
        assert_clean(&receipts);
        let got = receipts.first().map(|r| {
            assert_eq!(r.message_id, "883953f4-6105-42a2-a16a-77a8eac79483");
            assert_eq!(r.reference.as_ref(), Some(&reference));
            (r.status, r.reason.as_deref())
        });
        assert_eq!(got, expected, "{body}");
    }
}

#[test]
fn postmark_webhooks_without_the_secret_are_unauthentic() {
    let body = json!({"RecordType": "Delivery", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483"}).to_string();
    for h in
        [basic("s2fa", "wrong"), basic("admin", SECRET), basic("s2fa", &SECRET[..SECRET.len() - 1]), HeaderMap::new()]
    {
        assert_eq!(
            read(ProviderKind::Postmark, &postmark_creds(), HOOK_URL, &h, body.as_bytes()),
            Err(ReceiptError::Unauthentic)
        );
    }
    let auth = basic("s2fa", SECRET);
    for body in ["", "{", "[{\"RecordType\": \"Delivery\"}]", "\"Delivery\""] {
        assert!(
            matches!(
                read(ProviderKind::Postmark, &postmark_creds(), HOOK_URL, &auth, body.as_bytes()),
                Err(ReceiptError::Malformed(_))
            ),
            "{body}"
        );
    }
    let creds = postmark_creds();
    assert_hostile_bodies_are_malformed_or_read(ProviderKind::Postmark, &creds, body.as_bytes(), |_| {
        (HOOK_URL.to_owned(), basic("s2fa", SECRET))
    });
}

fn mailjet_creds() -> Value {
    json!({"api_key": "0123456789abcdef", "api_secret": "fedcba9876543210", "from": "codes@example.com"})
}

#[test]
fn mailjet_authorized_events_become_receipts() {
    let reference = delivery_ref();
    let r = reference.encode().unwrap();
    let body = json!([
        {"event": "sent", "time": 1433333949, "MessageID": 19421777835146490u64, "Message_GUID": "1ab23cd4-e567-8901-2345-6789f0gh1i2j", "email": EMAIL,
         "smtp_reply": format!("sent (250 2.0.0 OK {EMAIL})"), "CustomID": "", "Payload": r},
        {"event": "bounce", "time": 1430812195, "MessageID": 13792286917004336u64, "email": EMAIL, "blocked": true, "hard_bounce": true,
         "error_related_to": "recipient", "error": "user unknown", "Payload": r},
        {"event": "blocked", "MessageID": "13792286917004337", "error_related_to": "recipient", "error": "preblocked", "Payload": r},
        {"event": "spam", "MessageID": 13792286917004338u64, "source": "JMRPP", "Payload": ""},
        {"event": "open", "MessageID": 19421777396190490u64, "ip": "127.0.0.1", "agent": "Mozilla", "Payload": r},
        {"event": "unsub", "MessageID": 20547674933128000u64, "mj_list_id": 1, "Payload": r},
    ])
    .to_string();
    let receipts =
        read(ProviderKind::Mailjet, &mailjet_creds(), HOOK_URL, &basic("s2fa", SECRET), body.as_bytes()).unwrap();
    let got: Vec<(&str, ReceiptStatus, Option<&str>, bool)> = receipts
        .iter()
        .map(|r| (r.message_id.as_str(), r.status, r.reason.as_deref(), r.reference.as_ref() == Some(&reference)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("1ab23cd4-e567-8901-2345-6789f0gh1i2j", ReceiptStatus::Delivered, None, true),
            // Above 2^53, read exactly as written.
            ("13792286917004336", ReceiptStatus::Bounced, Some("mailjet bounce hard recipient: user unknown"), true),
            ("13792286917004337", ReceiptStatus::Failed, Some("mailjet blocked recipient: preblocked"), true),
            ("13792286917004338", ReceiptStatus::Complained, Some("mailjet spam JMRPP"), false),
        ]
    );
    assert_clean(&receipts);

    // Version 1 of the callback posts one event at a time.
    let single = json!({"event": "sent", "MessageID": 19421777835146490u64, "Payload": r}).to_string();
    let receipts =
        read(ProviderKind::Mailjet, &mailjet_creds(), HOOK_URL, &basic("s2fa", SECRET), single.as_bytes()).unwrap();
    assert_eq!(receipts[0].message_id, "19421777835146490");
}

#[test]
fn mailjet_events_without_the_secret_are_unauthentic() {
    let body = json!({"event": "sent", "MessageID": 1}).to_string();
    for h in [basic("s2fa", "wrong"), basic(SECRET, "s2fa"), HeaderMap::new()] {
        assert_eq!(
            read(ProviderKind::Mailjet, &mailjet_creds(), HOOK_URL, &h, body.as_bytes()),
            Err(ReceiptError::Unauthentic)
        );
    }
    let creds = mailjet_creds();
    assert_hostile_bodies_are_malformed_or_read(ProviderKind::Mailjet, &creds, body.as_bytes(), |_| {
        (HOOK_URL.to_owned(), basic("s2fa", SECRET))
    });
}

// ---------------------------------------------------------------------------------------------
// ClickSend: the receipt secret in the URL's query

fn clicksend_creds() -> Value {
    json!({"username": "acme", "api_key": "ABCDEF12-3456-7890-ABCD-EF1234567890"})
}

fn clicksend_url(token: &str) -> String {
    format!("{HOOK_URL}?token={token}")
}

#[test]
fn clicksend_receipts_with_the_token_become_receipts() {
    let reference = delivery_ref();
    let form_body = |status_code: &str, error_code: &str, error_text: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("timestamp_send", "1722565411")
            .append_pair("timestamp", "1722565411")
            .append_pair("message_id", "2336751A-BBBE-4887-9D7C-CB7558F00208")
            .append_pair("status_code", status_code)
            .append_pair("status_text", "Success: Message received on handset.")
            .append_pair("error_code", error_code)
            .append_pair("error_text", error_text)
            .append_pair("custom_string", &reference.encode().unwrap())
            .append_pair("subaccount_id", "563840")
            .append_pair("message_type", "sms")
            .append_pair("to", PHONE)
            .finish()
    };
    let form = headers(&[("content-type", "application/x-www-form-urlencoded")]);
    let url = clicksend_url(SECRET);
    let delivered = form_body("201", "", "");
    let receipts = read(ProviderKind::Clicksend, &clicksend_creds(), &url, &form, delivered.as_bytes()).unwrap();
    assert_eq!(
        receipts,
        vec![ProviderReceipt {
            message_id: "2336751A-BBBE-4887-9D7C-CB7558F00208".into(),
            reference: Some(reference.clone()),
            status: ReceiptStatus::Delivered,
            reason: None,
        }]
    );
    let failed = form_body("301", "8", &format!("Unknown subscriber {PHONE}. Number is inactive or invalid"));
    let receipts = read(ProviderKind::Clicksend, &clicksend_creds(), &url, &form, failed.as_bytes()).unwrap();
    assert_eq!(receipts[0].status, ReceiptStatus::Failed);
    assert!(
        receipts[0].reason.as_deref().unwrap().starts_with("clicksend 301 error 8: Unknown subscriber"),
        "{receipts:?}"
    );
    assert_clean(&receipts);
    for pending in ["200", "300"] {
        let body = form_body(pending, "", "");
        assert_eq!(read(ProviderKind::Clicksend, &clicksend_creds(), &url, &form, body.as_bytes()), Ok(vec![]));
    }
    // The same receipt as JSON, its codes as numbers.
    let json_body =
        json!({"message_id": "2336751A-BBBE-4887-9D7C-CB7558F00208", "status_code": 201, "status_text": "Success",
        "custom_string": reference.encode().unwrap(), "error_code": null})
        .to_string();
    let as_json = headers(&[("content-type", "application/json")]);
    let receipts = read(ProviderKind::Clicksend, &clicksend_creds(), &url, &as_json, json_body.as_bytes()).unwrap();
    assert_eq!(receipts[0].status, ReceiptStatus::Delivered);
    assert_eq!(receipts[0].reference.as_ref(), Some(&reference));
}

#[test]
fn clicksend_receipts_without_the_token_are_unauthentic() {
    let body = "message_id=m1&status_code=201";
    for url in
        [HOOK_URL.to_owned(), clicksend_url("wrong"), clicksend_url(&SECRET[1..]), format!("{HOOK_URL}?tok={SECRET}")]
    {
        assert_eq!(
            read(ProviderKind::Clicksend, &clicksend_creds(), &url, &HeaderMap::new(), body.as_bytes()),
            Err(ReceiptError::Unauthentic)
        );
    }
    let url = clicksend_url(SECRET);
    for body in ["", "status_text=x", "message_id=m1"] {
        assert!(
            matches!(
                read(ProviderKind::Clicksend, &clicksend_creds(), &url, &HeaderMap::new(), body.as_bytes()),
                Err(ReceiptError::Malformed(_))
            ),
            "{body}"
        );
    }
    let creds = clicksend_creds();
    assert_hostile_bodies_are_malformed_or_read(ProviderKind::Clicksend, &creds, body.as_bytes(), |_| {
        (url.clone(), HeaderMap::new())
    });
}

// ---------------------------------------------------------------------------------------------
// Every provider

#[test]
fn providers_without_receipts_are_unsupported_and_bodies_are_bounded() {
    for kind in [ProviderKind::Smtp, ProviderKind::Ses, ProviderKind::Outbox] {
        assert_eq!(
            read(kind, &json!({}), HOOK_URL, &HeaderMap::new(), b"{}"),
            Err(ReceiptError::Unsupported(kind.as_str()))
        );
    }
    // Too large, even when authorized.
    let huge = format!("{{\"RecordType\":\"Delivery\",\"Details\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
    assert!(matches!(
        read(ProviderKind::Postmark, &postmark_creds(), HOOK_URL, &basic("s2fa", SECRET), huge.as_bytes()),
        Err(ReceiptError::Malformed(_))
    ));
    // A channel whose credentials fail their schema vouches for nothing.
    let body = json!({"RecordType": "Delivery", "MessageID": "m"}).to_string();
    assert_eq!(
        read(
            ProviderKind::Postmark,
            &json!({"server_token": "short"}),
            HOOK_URL,
            &basic("s2fa", SECRET),
            body.as_bytes()
        ),
        Err(ReceiptError::Unauthentic)
    );
    // An empty receipt secret (a channel without one) matches nothing.
    let request = ReceiptRequest { url: HOOK_URL, headers: &basic("s2fa", ""), body: body.as_bytes() };
    assert_eq!(
        read_receipts(ProviderKind::Postmark, &ProviderCredentials(postmark_creds()), "", &request, NOW),
        Err(ReceiptError::Unauthentic)
    );
}
