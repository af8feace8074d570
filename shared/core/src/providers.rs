//! What each delivery provider needs from a client, in pure form: the credential fields of a
//! channel (what each means, which are secret, how each is checked), and how long an SMS body is
//! on the air (GSM-7 or UCS-2, and how many segments it takes).
//!
//! The senders live in `secure2fa-providers`; they check a channel's credentials again with
//! [`validate_credentials`] before use, so a channel saved before a rule existed fails with the
//! same clear message instead of a provider error.

use std::net::IpAddr;

use base64::Engine;
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;
use serde_json::{Map, Value};

use crate::model::ProviderKind;
use crate::types::{Email, PhoneNumber};

/// How a credential value is checked (and which input a form shows for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// One line of text without control characters, at most `max_len` characters.
    Text { max_len: usize },
    /// An opaque token: printable ASCII without spaces, `min_len..=max_len` bytes.
    Token { min_len: usize, max_len: usize },
    /// A name made of ASCII letters, digits, `-`, `_` and `.`, at most `max_len` bytes.
    Identifier { max_len: usize },
    /// A bare email address (no display name).
    Email,
    /// A phone number in E.164 form.
    Phone,
    /// Who an SMS comes from: an E.164 number, a short code (3 to 8 digits) or an alphanumeric
    /// sender ID (1 to 11 letters, digits or spaces, at least one letter).
    SmsSender,
    /// A DNS name or an IP address, without scheme or port.
    Hostname,
    /// A TCP port, 1 to 65535 (a JSON number, or a string of digits as forms send).
    Port,
    /// One of the listed words.
    Enum(&'static [&'static str]),
    /// `true` or `false`.
    Bool,
    /// A provider identifier: `prefix` followed by 32 hexadecimal digits (Twilio SIDs).
    Sid { prefix: &'static str },
    /// A UUID in its 8-4-4-4-12 hexadecimal form.
    Uuid,
    /// A P-256 public key: standard base64 of its DER SubjectPublicKeyInfo, as SendGrid shows its
    /// event webhook verification key (read with [`p256_public_key`]).
    P256PublicKey,
}

/// One credential of a provider, as a form shows it and as [`validate_credentials`] checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialField {
    /// The key in the channel's credentials object.
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// Never shown again once saved, never logged, never echoed in an error.
    pub secret: bool,
    pub required: bool,
    pub kind: FieldKind,
}

/// Why a channel's credentials were refused. Messages name the field and the rule, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("credentials must be a JSON object")]
    NotAnObject,
    #[error("credentials must be at most {MAX_CREDENTIALS_BYTES} bytes of JSON")]
    TooLarge,
    /// The field's name, when it is short and plain enough to repeat; otherwise `None`.
    #[error("{}", unknown_field_message(.0.as_deref()))]
    UnknownField(Option<String>),
    #[error("credentials.{field}: {reason}")]
    Invalid { field: &'static str, reason: &'static str },
}

fn unknown_field_message(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("credentials.{name}: not a field of this provider"),
        None => "credentials: a field is not a field of this provider".to_owned(),
    }
}

/// The most JSON a channel's credentials may take (every field is bounded well below this).
pub const MAX_CREDENTIALS_BYTES: usize = 4096;

/// SMTP connection security (`security` field).
pub const SMTP_SECURITY: &[&str] = &["starttls", "tls", "none"];

const fn field(
    name: &'static str,
    label: &'static str,
    help: &'static str,
    secret: bool,
    required: bool,
    kind: FieldKind,
) -> CredentialField {
    CredentialField { name, label, help, secret, required, kind }
}

const FROM_EMAIL: CredentialField = field(
    "from",
    "Sender address",
    "The From address of every message: a sender or domain verified with the provider.",
    false,
    true,
    FieldKind::Email,
);
const FROM_NAME: CredentialField = field(
    "from_name",
    "Sender name",
    "Optional display name shown with the sender address.",
    false,
    false,
    FieldKind::Text { max_len: 100 },
);

const SES: &[CredentialField] = &[field(
    "from",
    "Sender address",
    "Optional: an address the operator allows SES channels to send from; the deployment's default \
     sender when empty.",
    false,
    false,
    FieldKind::Email,
)];

const SMTP: &[CredentialField] = &[
    field(
        "host",
        "SMTP host",
        "The server's DNS name (its certificate must match it).",
        false,
        true,
        FieldKind::Hostname,
    ),
    field(
        "port",
        "Port",
        "Optional: 587 for starttls, 465 for tls, 25 for none when empty.",
        false,
        false,
        FieldKind::Port,
    ),
    field(
        "security",
        "Security",
        "starttls (default) or tls (implicit TLS). none is refused unless the host is a loopback \
         address and the deployment allows plaintext on loopback.",
        false,
        false,
        FieldKind::Enum(SMTP_SECURITY),
    ),
    field(
        "username",
        "Username",
        "Optional: AUTH PLAIN or LOGIN user name (with the password).",
        false,
        false,
        FieldKind::Text { max_len: 254 },
    ),
    field(
        "password",
        "Password",
        "Optional: AUTH password (with the username).",
        true,
        false,
        FieldKind::Text { max_len: 256 },
    ),
    FROM_EMAIL,
    FROM_NAME,
];

const POSTMARK: &[CredentialField] = &[
    field(
        "server_token",
        "Server API token",
        "From the API Tokens tab of your Postmark server (sent as X-Postmark-Server-Token).",
        true,
        true,
        FieldKind::Token { min_len: 8, max_len: 128 },
    ),
    FROM_EMAIL,
    FROM_NAME,
    field(
        "message_stream",
        "Message stream",
        "Optional: the transactional message stream's ID (outbound when empty).",
        false,
        false,
        FieldKind::Identifier { max_len: 50 },
    ),
];

const SENDGRID: &[CredentialField] = &[
    field(
        "api_key",
        "API key",
        "A SendGrid API key (SG....) with the Mail Send permission.",
        true,
        true,
        FieldKind::Token { min_len: 16, max_len: 256 },
    ),
    FROM_EMAIL,
    FROM_NAME,
    field(
        "event_webhook_public_key",
        "Event webhook verification key",
        "Optional: the verification key of your Signed Event Webhook (Mail Settings, Event Webhook, \
         Signature Verification). Delivery receipts are accepted only when it is given and they \
         carry its signature.",
        false,
        false,
        FieldKind::P256PublicKey,
    ),
];

const MAILJET: &[CredentialField] = &[
    field(
        "api_key",
        "API key",
        "The public API key of your Mailjet account or sub-account.",
        false,
        true,
        FieldKind::Token { min_len: 8, max_len: 128 },
    ),
    field(
        "api_secret",
        "Secret key",
        "The secret key paired with the API key.",
        true,
        true,
        FieldKind::Token { min_len: 8, max_len: 128 },
    ),
    FROM_EMAIL,
    FROM_NAME,
];

const TWILIO: &[CredentialField] = &[
    field(
        "account_sid",
        "Account SID",
        "Your Twilio account (AC followed by 32 hexadecimal digits).",
        false,
        true,
        FieldKind::Sid { prefix: "AC" },
    ),
    field(
        "auth_token",
        "Auth token",
        "The account's auth token. It authenticates sends unless an API key is given, and is the \
         only key that checks the signature Twilio puts on delivery receipts: give it with an API \
         key to receive them.",
        true,
        false,
        FieldKind::Token { min_len: 16, max_len: 128 },
    ),
    field(
        "api_key_sid",
        "API key SID",
        "An API key of the account (SK followed by 32 hexadecimal digits), with its secret.",
        false,
        false,
        FieldKind::Sid { prefix: "SK" },
    ),
    field(
        "api_key_secret",
        "API key secret",
        "The secret of the API key.",
        true,
        false,
        FieldKind::Token { min_len: 16, max_len: 128 },
    ),
    field(
        "from",
        "From",
        "A Twilio number (E.164), short code or alphanumeric sender ID. Give either this or a \
         messaging service SID.",
        false,
        false,
        FieldKind::SmsSender,
    ),
    field(
        "messaging_service_sid",
        "Messaging service SID",
        "A messaging service (MG followed by 32 hexadecimal digits) that picks the sender.",
        false,
        false,
        FieldKind::Sid { prefix: "MG" },
    ),
];

const PLIVO: &[CredentialField] = &[
    field(
        "auth_id",
        "Auth ID",
        "From the overview page of the Plivo console.",
        false,
        true,
        FieldKind::Identifier { max_len: 40 },
    ),
    field(
        "auth_token",
        "Auth token",
        "The auth token paired with the auth ID.",
        true,
        true,
        FieldKind::Token { min_len: 16, max_len: 128 },
    ),
    field(
        "src",
        "Sender",
        "A Plivo number (E.164), short code or alphanumeric sender ID. Give either this or a \
         Powerpack UUID.",
        false,
        false,
        FieldKind::SmsSender,
    ),
    field(
        "powerpack_uuid",
        "Powerpack UUID",
        "A Powerpack that picks the sender number.",
        false,
        false,
        FieldKind::Uuid,
    ),
];

const CLICKSEND: &[CredentialField] = &[
    field(
        "username",
        "API username",
        "From the API Credentials page of the ClickSend dashboard.",
        false,
        true,
        FieldKind::Token { min_len: 1, max_len: 100 },
    ),
    field(
        "api_key",
        "API key",
        "The API key shown with the username.",
        true,
        true,
        FieldKind::Token { min_len: 8, max_len: 128 },
    ),
    field(
        "from",
        "Sender",
        "Optional: a dedicated number (E.164), short code or alphanumeric sender ID; the account's \
         default sender when empty.",
        false,
        false,
        FieldKind::SmsSender,
    ),
];

/// The credential fields of a provider, in the order a form shows them. The outbox has none.
pub fn credential_fields(kind: ProviderKind) -> &'static [CredentialField] {
    match kind {
        ProviderKind::Outbox => &[],
        ProviderKind::Ses => SES,
        ProviderKind::Smtp => SMTP,
        ProviderKind::Postmark => POSTMARK,
        ProviderKind::Sendgrid => SENDGRID,
        ProviderKind::Mailjet => MAILJET,
        ProviderKind::Twilio => TWILIO,
        ProviderKind::Plivo => PLIVO,
        ProviderKind::Clicksend => CLICKSEND,
    }
}

/// The deployment's public base URL, checked: `https://` with a host and
/// nothing after the path (`http://` only for a loopback host), returned
/// without a trailing `/`. Providers post receipts below it, some with our
/// basic-auth secret, so it must not travel in clear.
pub fn public_url(raw: &str) -> Result<String, &'static str> {
    let url = url::Url::parse(raw).map_err(|_| "not an absolute URL")?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("has no host"),
    };
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return Err("must be https (http only for a loopback host)");
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("must have no credentials, query or fragment");
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Whether `provider`, handed a status callback URL with a message, signs
/// the callbacks it posts there in a way these credentials can check: Twilio
/// (with the account's auth token; an API key alone cannot check them) and
/// Plivo. Only then is a missing `delivered` receipt worth acting on.
pub fn signs_status_callbacks(provider: ProviderKind, credentials: &Value) -> bool {
    match provider {
        ProviderKind::Twilio => credentials.as_object().and_then(|m| present(m, "auth_token")).is_some(),
        ProviderKind::Plivo => true,
        _ => false,
    }
}

/// Checks a channel's credentials for `kind`: a JSON object of at most
/// [`MAX_CREDENTIALS_BYTES`], only the provider's fields, every required one present, each
/// value valid for its [`FieldKind`], and the rules that tie fields together (Twilio: an auth
/// token, an API key or both; a sender or a messaging service). `null` and `""` count as absent.
pub fn validate_credentials(kind: ProviderKind, credentials: &Value) -> Result<(), CredentialError> {
    let Value::Object(map) = credentials else {
        return Err(CredentialError::NotAnObject);
    };
    let too_large = match serde_json::to_vec(credentials) {
        Ok(json) => json.len() > MAX_CREDENTIALS_BYTES,
        Err(_) => true,
    };
    if too_large {
        return Err(CredentialError::TooLarge);
    }
    let fields = credential_fields(kind);
    if let Some(unknown) = map.keys().find(|k| !fields.iter().any(|f| f.name == k.as_str())) {
        return Err(CredentialError::UnknownField(repeatable_name(unknown)));
    }
    for f in fields {
        match present(map, f.name) {
            None if f.required => return Err(invalid(f.name, "required")),
            None => {}
            Some(value) => check_value(f, value)?,
        }
    }
    check_combination(kind, map)
}

/// A credential's value when it is present: `null` and the empty string count as absent, as
/// forms send them for an empty input. Senders read credentials through this too.
pub fn present<'a>(credentials: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    match credentials.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => Some(v),
    }
}

fn invalid(field: &'static str, reason: &'static str) -> CredentialError {
    CredentialError::Invalid { field, reason }
}

/// A client-chosen key is repeated in the error only when it looks like a field name.
fn repeatable_name(name: &str) -> Option<String> {
    let plain = !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    plain.then(|| name.to_owned())
}

fn check_value(f: &CredentialField, value: &Value) -> Result<(), CredentialError> {
    let name = f.name;
    if let FieldKind::Port = f.kind {
        return port_value(value).map(drop).ok_or(invalid(name, "must be a port number from 1 to 65535"));
    }
    if let FieldKind::Bool = f.kind {
        return if value.is_boolean() { Ok(()) } else { Err(invalid(name, "must be true or false")) };
    }
    let Some(s) = value.as_str() else {
        return Err(invalid(name, "must be a string"));
    };
    match f.kind {
        FieldKind::Text { max_len } => {
            if s.chars().count() > max_len {
                return Err(invalid(name, "is too long"));
            }
            if s.chars().any(char::is_control) {
                return Err(invalid(name, "must not contain control characters"));
            }
            if s.trim() != s {
                return Err(invalid(name, "must not start or end with spaces"));
            }
        }
        FieldKind::Token { min_len, max_len } => {
            if s.len() < min_len {
                return Err(invalid(name, "is too short"));
            }
            if s.len() > max_len {
                return Err(invalid(name, "is too long"));
            }
            if !s.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(invalid(name, "must be printable ASCII without spaces"));
            }
        }
        FieldKind::Identifier { max_len } => {
            if s.len() > max_len {
                return Err(invalid(name, "is too long"));
            }
            if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
                return Err(invalid(name, "must contain only letters, digits, '-', '_' and '.'"));
            }
        }
        FieldKind::Email => {
            if s.trim() != s || Email::parse(s).is_err() {
                return Err(invalid(name, "must be a plain email address, e.g. codes@example.com"));
            }
        }
        FieldKind::Phone => {
            if !PhoneNumber::parse(s).is_ok_and(|p| p.as_str() == s) {
                return Err(invalid(name, "must be a phone number in E.164 form, e.g. +14155550100"));
            }
        }
        FieldKind::SmsSender => {
            if !is_sms_sender(s) {
                return Err(invalid(
                    name,
                    "must be an E.164 number, a short code or an alphanumeric sender ID of at most 11 characters",
                ));
            }
        }
        FieldKind::Hostname => {
            if !is_hostname(s) {
                return Err(invalid(name, "must be a host name or IP address, without scheme or port"));
            }
        }
        FieldKind::Enum(words) => {
            if !words.contains(&s) {
                return Err(invalid(name, "is not one of the allowed values"));
            }
        }
        FieldKind::Sid { prefix } => {
            let ok = s.len() == prefix.len() + 32
                && s.starts_with(prefix)
                && s[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(invalid(name, "must be the identifier's two-letter prefix and 32 hexadecimal digits"));
            }
        }
        FieldKind::Uuid => {
            if !is_uuid(s) {
                return Err(invalid(name, "must be a UUID"));
            }
        }
        FieldKind::P256PublicKey => {
            if p256_public_key(s).is_none() {
                return Err(invalid(name, "must be a P-256 public key: the base64 text SendGrid shows"));
            }
        }
        FieldKind::Port | FieldKind::Bool => unreachable!("handled above"),
    }
    Ok(())
}

/// A port given as a JSON number or a string of digits.
pub fn port_value(value: &Value) -> Option<u16> {
    let n = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) if !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok()?,
        _ => return None,
    };
    u16::try_from(n).ok().filter(|p| *p != 0)
}

fn is_sms_sender(s: &str) -> bool {
    if s.starts_with('+') {
        return PhoneNumber::parse(s).is_ok_and(|p| p.as_str() == s);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return (3..=8).contains(&s.len());
    }
    (1..=11).contains(&s.len())
        && s.trim() == s
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

fn is_hostname(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        // An all-numeric dotted name would be read as an IPv4 address by some resolvers.
        && !name.split('.').all(|label| label.bytes().all(|b| b.is_ascii_digit()))
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The longest key text read: a P-256 SubjectPublicKeyInfo is 91 bytes (124 base64 characters),
/// PEM armour and line breaks add less than a hundred.
const MAX_PUBLIC_KEY_TEXT: usize = 512;

/// A P-256 public key from the standard base64 of its DER SubjectPublicKeyInfo; PEM armour and
/// whitespace around or inside the base64 are tolerated (a key pasted from a PEM file). `None`
/// for anything else, including a point that is not on the curve.
pub fn p256_public_key(text: &str) -> Option<VerifyingKey> {
    if text.len() > MAX_PUBLIC_KEY_TEXT {
        return None;
    }
    let body = text.trim();
    let body = match body.strip_prefix("-----BEGIN PUBLIC KEY-----") {
        Some(rest) => rest.trim_end().strip_suffix("-----END PUBLIC KEY-----")?,
        None => body,
    };
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    VerifyingKey::from_public_key_der(&der).ok()
}

/// Whether `host` names the loopback interface itself (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Rules that tie several fields of one provider together.
fn check_combination(kind: ProviderKind, map: &Map<String, Value>) -> Result<(), CredentialError> {
    let has = |name: &str| present(map, name).is_some();
    match kind {
        ProviderKind::Smtp => {
            if has("password") && !has("username") {
                return Err(invalid("username", "is required with a password"));
            }
            if has("username") && !has("password") {
                return Err(invalid("password", "is required with a username"));
            }
            let security = present(map, "security").and_then(Value::as_str).unwrap_or("starttls");
            let host = present(map, "host").and_then(Value::as_str).unwrap_or("");
            if security == "none" && !is_loopback_host(host) {
                return Err(invalid("security", "none is allowed only for a loopback host"));
            }
        }
        ProviderKind::Twilio => {
            // The auth token may come with an API key: the key sends, the token checks receipts.
            match (has("auth_token"), has("api_key_sid"), has("api_key_secret")) {
                (_, true, true) | (true, false, false) => {}
                (false, false, false) => {
                    return Err(invalid("auth_token", "required, unless an API key SID and secret are given"));
                }
                (_, true, false) => return Err(invalid("api_key_secret", "is required with an API key SID")),
                (_, false, true) => return Err(invalid("api_key_sid", "is required with an API key secret")),
            }
            match (has("from"), has("messaging_service_sid")) {
                (true, false) | (false, true) => {}
                (true, true) => return Err(invalid("from", "give either a sender or a messaging service, not both")),
                (false, false) => return Err(invalid("from", "required, unless a messaging service SID is given")),
            }
        }
        ProviderKind::Plivo => match (has("src"), has("powerpack_uuid")) {
            (true, false) | (false, true) => {}
            (true, true) => return Err(invalid("src", "give either a sender or a Powerpack, not both")),
            (false, false) => return Err(invalid("src", "required, unless a Powerpack UUID is given")),
        },
        ProviderKind::Mailjet | ProviderKind::Clicksend => {
            // Both are the user part of HTTP basic authentication, which ends at the first colon.
            let user = if kind == ProviderKind::Mailjet { "api_key" } else { "username" };
            if present(map, user).and_then(Value::as_str).is_some_and(|s| s.contains(':')) {
                return Err(invalid(user, "must not contain ':'"));
            }
        }
        ProviderKind::Outbox | ProviderKind::Ses | ProviderKind::Postmark | ProviderKind::Sendgrid => {}
    }
    Ok(())
}

/// How an SMS body travels: the GSM 03.38 7-bit alphabet, or UCS-2 as soon as one character is
/// outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

impl SmsEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "gsm7",
            Self::Ucs2 => "ucs2",
        }
    }

    /// Units (septets or UTF-16 code units) that fit in one message alone.
    pub fn single_capacity(self) -> usize {
        match self {
            Self::Gsm7 => 160,
            Self::Ucs2 => 70,
        }
    }

    /// Units per segment once a message is split: the user data header takes the rest.
    pub fn segment_capacity(self) -> usize {
        match self {
            Self::Gsm7 => 153,
            Self::Ucs2 => 67,
        }
    }
}

/// The size of an SMS body on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLength {
    pub encoding: SmsEncoding,
    /// Septets (an extension-table character counts two) or UTF-16 code units.
    pub units: usize,
    /// Messages the body is split into (one for an empty body).
    pub segments: usize,
}

/// The GSM 03.38 basic character set, as Unicode (the escape code 0x1B excluded).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                          ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The GSM 03.38 extension table: each is sent as escape + character, two septets.
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Whether `text` can be sent in the GSM 03.38 7-bit alphabet.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

/// Encoding, length and segment count of an SMS body. Split messages are counted as carriers
/// split them: 153 septets or 67 UTF-16 units per segment, and a character's units (an escape
/// pair, a surrogate pair) never straddle two segments.
pub fn sms_length(text: &str) -> SmsLength {
    let encoding = if is_gsm7(text) { SmsEncoding::Gsm7 } else { SmsEncoding::Ucs2 };
    let unit_of = |c: char| match encoding {
        SmsEncoding::Gsm7 => gsm7_septets(c).unwrap_or(1),
        SmsEncoding::Ucs2 => c.len_utf16(),
    };
    let units: usize = text.chars().map(unit_of).sum();
    if units <= encoding.single_capacity() {
        return SmsLength { encoding, units, segments: 1 };
    }
    let capacity = encoding.segment_capacity();
    let (mut segments, mut used) = (1, 0);
    for c in text.chars() {
        let n = unit_of(c);
        if used + n > capacity {
            segments += 1;
            used = 0;
        }
        used += n;
    }
    SmsLength { encoding, units, segments }
}

/// An address SES cannot read otherwise than we do: ASCII only, a dot-atom
/// local part (no quotes, no Unicode look-alikes such as the Kelvin sign
/// that lower-cases to `k`), a dotted domain, and valid as an [`Email`].
fn plain_address(address: &str) -> bool {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom = |s: &str| !s.is_empty() && s.split('.').all(|p| !p.is_empty() && p.chars().all(atext));
    match address.split_once('@') {
        Some((local, domain)) => dot_atom(local) && dot_atom(domain) && Email::parse(address).is_ok(),
        None => false,
    }
}

/// The addresses SES channels may send from. SES sends from any identity the
/// deployment's AWS account has verified, so without this any client could
/// send its own text from the operator's domain: a channel's `from` must be
/// the deployment's default sender (`SES_FROM_ADDRESS`) or match an entry of
/// `SES_ALLOWED_SENDERS` (addresses, or `@domain` for any address of a domain).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SesSenders {
    default_from: Option<String>,
    /// Addresses and domains (with their leading `@`), ASCII lower-cased.
    allowed: Vec<String>,
}

impl SesSenders {
    /// From the deployment's default sender and its comma-separated list
    /// of further addresses and `@domain`s (either may be empty).
    pub fn new(default_from: Option<&str>, allowed: &str) -> Result<Self, String> {
        let default_from = default_from
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| plain_address(d).then(|| d.to_owned()).ok_or("the default sender is not a plain email address"))
            .transpose()?;
        let allowed = allowed
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| match entry.strip_prefix('@') {
                Some(domain) if plain_address(&format!("x@{domain}")) => {
                    Ok(format!("@{}", domain.to_ascii_lowercase()))
                }
                Some(_) => Err(format!("\"{entry}\" is not an @domain")),
                None if plain_address(entry) => Ok(entry.to_ascii_lowercase()),
                None => Err(format!("\"{entry}\" is not an address")),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { default_from, allowed })
    }

    /// The sender of an SES channel that names none.
    pub fn default_from(&self) -> Option<&str> {
        self.default_from.as_deref()
    }

    /// Whether an SES channel may send from `from`: a [`plain_address`]
    /// equal, ignoring ASCII case, to the default sender or an allowed
    /// address, or in an allowed domain.
    pub fn permits(&self, from: &str) -> bool {
        if !plain_address(from) {
            return false;
        }
        let from = from.to_ascii_lowercase();
        let domain = &from[from.find('@').unwrap_or(0)..];
        self.default_from.as_ref().is_some_and(|d| d.eq_ignore_ascii_case(&from))
            || self.allowed.iter().any(|a| *a == from || a == domain)
    }

    /// The sender of an SES channel with these credentials, or why it has
    /// none it may use.
    pub fn sender(&self, credentials: &Value) -> Result<String, &'static str> {
        match credentials.get("from").and_then(Value::as_str).filter(|f| !f.is_empty()) {
            Some(from) if self.permits(from) => Ok(from.to_owned()),
            Some(_) => Err("from: not a sender this deployment allows SES channels to use (the operator \
                 lists them); leave it empty for the deployment's default sender"),
            None => self
                .default_from()
                .map(str::to_owned)
                .ok_or("from: this deployment has no default SES sender; name one the operator allows"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const AC: &str = "AC0123456789abcdef0123456789abcdef";
    const SK: &str = "SK0123456789abcdef0123456789abcdef";
    const MG: &str = "MG0123456789abcdef0123456789abcdef";

    fn valid_example(kind: ProviderKind) -> Value {
        match kind {
            ProviderKind::Outbox => json!({}),
            ProviderKind::Ses => json!({"from": "codes@example.com"}),
            ProviderKind::Smtp => json!({
                "host": "smtp.example.com", "port": 587, "security": "starttls",
                "username": "mailer", "password": "pa ss:word", "from": "codes@example.com", "from_name": "Acme"
            }),
            ProviderKind::Postmark => json!({
                "server_token": "7d2c4d3e-1111-2222-3333-444455556666", "from": "codes@example.com",
                "message_stream": "outbound"
            }),
            ProviderKind::Sendgrid => json!({
                "api_key": "SG.abcdefghijklmnop.qrstuvwxyz", "from": "codes@example.com",
                "event_webhook_public_key": SENDGRID_KEY
            }),
            ProviderKind::Mailjet => {
                json!({"api_key": "0123456789abcdef", "api_secret": "fedcba9876543210", "from": "codes@example.com"})
            }
            ProviderKind::Twilio => {
                json!({"account_sid": AC, "auth_token": "0123456789abcdef0123456789abcdef", "from": "+14155550100"})
            }
            ProviderKind::Plivo => {
                json!({"auth_id": "MAXXXXXXXXXXXXXXXXXX", "auth_token": "secret-token-0123456789", "src": "+14155550100"})
            }
            ProviderKind::Clicksend => json!({"username": "acme", "api_key": "ABCDEF12-3456-7890-ABCD-EF1234567890"}),
        }
    }

    #[test]
    fn every_provider_accepts_its_documented_example() {
        for kind in ProviderKind::ALL {
            assert_eq!(validate_credentials(kind, &valid_example(kind)), Ok(()), "{kind:?}");
        }
    }

    #[test]
    fn required_fields_are_named_when_missing() {
        for kind in ProviderKind::ALL {
            for f in credential_fields(kind).iter().filter(|f| f.required) {
                let mut creds = valid_example(kind);
                creds.as_object_mut().unwrap().remove(f.name);
                assert_eq!(
                    validate_credentials(kind, &creds),
                    Err(CredentialError::Invalid { field: f.name, reason: "required" }),
                    "{kind:?}.{}",
                    f.name
                );
            }
        }
    }

    #[test]
    fn credentials_must_be_an_object() {
        for v in [json!(null), json!("token"), json!([1]), json!(3)] {
            assert_eq!(validate_credentials(ProviderKind::Postmark, &v), Err(CredentialError::NotAnObject));
        }
    }

    #[test]
    fn unknown_fields_are_refused_and_named_only_when_plain() {
        let mut creds = valid_example(ProviderKind::Sendgrid);
        creds["region"] = json!("eu");
        let err = validate_credentials(ProviderKind::Sendgrid, &creds).unwrap_err();
        assert_eq!(err, CredentialError::UnknownField(Some("region".into())));
        assert_eq!(err.to_string(), "credentials.region: not a field of this provider");

        let mut creds = valid_example(ProviderKind::Sendgrid);
        creds["SG.secret-looking key!"] = json!("x");
        let err = validate_credentials(ProviderKind::Sendgrid, &creds).unwrap_err();
        assert_eq!(err, CredentialError::UnknownField(None));
        assert!(!err.to_string().contains("SG.secret"));

        assert!(validate_credentials(ProviderKind::Outbox, &json!({"anything": 1})).is_err());
    }

    #[test]
    fn oversized_credentials_are_refused_before_anything_else() {
        let creds = json!({"api_key": "x".repeat(MAX_CREDENTIALS_BYTES), "from": "codes@example.com"});
        assert_eq!(validate_credentials(ProviderKind::Sendgrid, &creds), Err(CredentialError::TooLarge));
    }

    #[test]
    fn errors_never_echo_secret_values() {
        let secret = "S3cr3t\u{7}value-that-must-not-leak";
        for kind in ProviderKind::ALL {
            for f in credential_fields(kind).iter().filter(|f| f.secret) {
                for bad in [json!(secret), json!(secret.repeat(20)), json!(42)] {
                    let mut creds = valid_example(kind);
                    creds[f.name] = bad;
                    let err = validate_credentials(kind, &creds).unwrap_err();
                    let text = err.to_string();
                    assert!(text.starts_with(&format!("credentials.{}:", f.name)), "{text}");
                    assert!(!text.contains("S3cr3t"), "{text}");
                }
            }
        }
    }

    #[test]
    fn secret_fields_are_the_credentials_that_authenticate() {
        let secrets = |kind| credential_fields(kind).iter().filter(|f| f.secret).map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(secrets(ProviderKind::Smtp), ["password"]);
        assert_eq!(secrets(ProviderKind::Postmark), ["server_token"]);
        assert_eq!(secrets(ProviderKind::Sendgrid), ["api_key"]);
        assert_eq!(secrets(ProviderKind::Mailjet), ["api_secret"]);
        assert_eq!(secrets(ProviderKind::Twilio), ["auth_token", "api_key_secret"]);
        assert_eq!(secrets(ProviderKind::Plivo), ["auth_token"]);
        assert_eq!(secrets(ProviderKind::Clicksend), ["api_key"]);
        assert!(secrets(ProviderKind::Ses).is_empty() && secrets(ProviderKind::Outbox).is_empty());
    }

    #[test]
    fn empty_and_null_optional_values_count_as_absent() {
        assert_eq!(validate_credentials(ProviderKind::Ses, &json!({"from": ""})), Ok(()));
        assert_eq!(validate_credentials(ProviderKind::Ses, &json!({"from": null})), Ok(()));
        let creds = json!({"server_token": "", "from": "codes@example.com"});
        assert_eq!(
            validate_credentials(ProviderKind::Postmark, &creds),
            Err(CredentialError::Invalid { field: "server_token", reason: "required" })
        );
    }

    #[test]
    fn each_field_kind_refuses_what_it_should() {
        let cases: &[(ProviderKind, &str, Value)] = &[
            (ProviderKind::Smtp, "host", json!("smtp.example.com:587")),
            (ProviderKind::Smtp, "host", json!("https://smtp.example.com")),
            (ProviderKind::Smtp, "host", json!("-bad-.example.com")),
            (ProviderKind::Smtp, "host", json!("1.2.3")),
            (ProviderKind::Smtp, "port", json!(0)),
            (ProviderKind::Smtp, "port", json!(65536)),
            (ProviderKind::Smtp, "port", json!("25a")),
            (ProviderKind::Smtp, "port", json!(true)),
            (ProviderKind::Smtp, "security", json!("ssl")),
            (ProviderKind::Smtp, "from", json!("Acme <codes@example.com>")),
            (ProviderKind::Smtp, "from", json!("not-an-address")),
            (ProviderKind::Smtp, "from_name", json!("Acme\r\nBcc: victim@example.com")),
            (ProviderKind::Smtp, "from_name", json!("x".repeat(101))),
            (ProviderKind::Postmark, "server_token", json!("short")),
            (ProviderKind::Postmark, "server_token", json!("has spaces in the token")),
            (ProviderKind::Postmark, "message_stream", json!("outbound/../x")),
            (ProviderKind::Twilio, "account_sid", json!("AC123")),
            (ProviderKind::Twilio, "account_sid", json!("SK0123456789abcdef0123456789abcdef")),
            (ProviderKind::Twilio, "account_sid", json!("AC0123456789abcdef0123456789abcdeg")),
            (ProviderKind::Twilio, "from", json!("+1 415 555 0100")),
            (ProviderKind::Twilio, "from", json!("TwelveChars1")),
            (ProviderKind::Twilio, "from", json!("12")),
            (ProviderKind::Plivo, "auth_id", json!("MA/../Account")),
            (ProviderKind::Plivo, "src", json!("+99")),
            (ProviderKind::Ses, "from", json!("Ops <ops@example.com>")),
        ];
        for (kind, name, value) in cases {
            let mut creds = valid_example(*kind);
            creds[*name] = value.clone();
            match validate_credentials(*kind, &creds) {
                Err(CredentialError::Invalid { field, .. }) => assert_eq!(field, *name, "{value}"),
                other => panic!("{kind:?}.{name} = {value}: {other:?}"),
            }
        }
    }

    #[test]
    fn accepted_values_of_each_kind() {
        let cases: &[(ProviderKind, &str, Value)] = &[
            (ProviderKind::Smtp, "host", json!("10.0.0.5")),
            (ProviderKind::Smtp, "host", json!("2001:db8::25")),
            (ProviderKind::Smtp, "host", json!("mail.example.com.")),
            (ProviderKind::Smtp, "port", json!("465")),
            (ProviderKind::Smtp, "security", json!("tls")),
            (ProviderKind::Twilio, "from", json!("Acme OTP")),
            (ProviderKind::Twilio, "from", json!("24365")),
            (ProviderKind::Clicksend, "from", json!("+447911123456")),
        ];
        for (kind, name, value) in cases {
            let mut creds = valid_example(*kind);
            creds[*name] = value.clone();
            assert_eq!(validate_credentials(*kind, &creds), Ok(()), "{kind:?}.{name} = {value}");
        }
    }

    #[test]
    fn smtp_plaintext_is_only_for_loopback_and_auth_comes_in_pairs() {
        let base = valid_example(ProviderKind::Smtp);
        let with = |changes: Value| {
            let mut c = base.clone();
            for (k, v) in changes.as_object().unwrap() {
                c[k] = v.clone();
            }
            validate_credentials(ProviderKind::Smtp, &c)
        };
        assert_eq!(
            with(json!({"security": "none"})),
            Err(invalid("security", "none is allowed only for a loopback host"))
        );
        assert_eq!(with(json!({"security": "none", "host": "127.0.0.1"})), Ok(()));
        assert_eq!(with(json!({"security": "none", "host": "localhost"})), Ok(()));
        assert_eq!(with(json!({"password": null})), Err(invalid("password", "is required with a username")));
        assert_eq!(with(json!({"username": ""})), Err(invalid("username", "is required with a password")));
        assert_eq!(with(json!({"username": null, "password": null})), Ok(()));
    }

    #[test]
    fn twilio_needs_one_authentication_and_one_sender() {
        let ok = |v: Value| validate_credentials(ProviderKind::Twilio, &v);
        let token = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            ok(json!({"account_sid": AC, "api_key_sid": SK, "api_key_secret": token, "messaging_service_sid": MG})),
            Ok(())
        );
        assert_eq!(
            ok(json!({"account_sid": AC, "from": "+14155550100"})),
            Err(invalid("auth_token", "required, unless an API key SID and secret are given"))
        );
        // The auth token beside an API key only checks the signatures of delivery receipts.
        assert_eq!(
            ok(
                json!({"account_sid": AC, "auth_token": token, "api_key_sid": SK, "api_key_secret": token, "from": "Acme"})
            ),
            Ok(())
        );
        assert_eq!(
            ok(json!({"account_sid": AC, "api_key_sid": SK, "from": "Acme"})),
            Err(invalid("api_key_secret", "is required with an API key SID"))
        );
        assert_eq!(
            ok(json!({"account_sid": AC, "auth_token": token, "api_key_sid": SK, "from": "Acme"})),
            Err(invalid("api_key_secret", "is required with an API key SID"))
        );
        assert_eq!(
            ok(json!({"account_sid": AC, "auth_token": token, "api_key_secret": token, "from": "Acme"})),
            Err(invalid("api_key_sid", "is required with an API key secret"))
        );
        assert_eq!(
            ok(json!({"account_sid": AC, "auth_token": token})),
            Err(invalid("from", "required, unless a messaging service SID is given"))
        );
        assert_eq!(
            ok(json!({"account_sid": AC, "auth_token": token, "from": "Acme", "messaging_service_sid": MG})),
            Err(invalid("from", "give either a sender or a messaging service, not both"))
        );
    }

    /// SendGrid's published example verification key (sendgrid-python's event webhook tests).
    const SENDGRID_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";

    #[test]
    fn sendgrid_verification_key_must_be_a_p256_public_key() {
        let with = |key: Value| {
            let mut creds = valid_example(ProviderKind::Sendgrid);
            creds["event_webhook_public_key"] = key;
            validate_credentials(ProviderKind::Sendgrid, &creds)
        };
        assert_eq!(with(json!(SENDGRID_KEY)), Ok(()));
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &SENDGRID_KEY[..64],
            &SENDGRID_KEY[64..]
        );
        assert_eq!(with(json!(pem)), Ok(()));
        assert_eq!(with(json!(null)), Ok(()));
        // One byte of the point changed: the point is no longer on the curve.
        let off_curve = SENDGRID_KEY.replacen("83T4", "83T5", 1);
        // A P-384 key, an RSA-looking blob, text, and a key cut short.
        let p384 = "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE";
        for bad in [off_curve.as_str(), p384, "not a key", &SENDGRID_KEY[..60], &"A".repeat(600)] {
            assert_eq!(
                with(json!(bad)),
                Err(invalid("event_webhook_public_key", "must be a P-256 public key: the base64 text SendGrid shows")),
                "{bad}"
            );
        }
        assert!(p256_public_key(SENDGRID_KEY).is_some());
    }

    #[test]
    fn plivo_needs_a_sender_or_a_powerpack() {
        let mut creds = valid_example(ProviderKind::Plivo);
        creds.as_object_mut().unwrap().remove("src");
        assert_eq!(
            validate_credentials(ProviderKind::Plivo, &creds),
            Err(invalid("src", "required, unless a Powerpack UUID is given"))
        );
        creds["powerpack_uuid"] = json!("d8b0b6a2-5a5b-4c1e-9f3a-0123456789ab");
        assert_eq!(validate_credentials(ProviderKind::Plivo, &creds), Ok(()));
        creds["powerpack_uuid"] = json!("not-a-uuid");
        assert!(validate_credentials(ProviderKind::Plivo, &creds).is_err());
    }

    #[test]
    fn basic_auth_user_names_cannot_hold_a_colon() {
        let mut creds = valid_example(ProviderKind::Clicksend);
        creds["username"] = json!("acme:admin");
        assert_eq!(
            validate_credentials(ProviderKind::Clicksend, &creds),
            Err(invalid("username", "must not contain ':'"))
        );
        let mut creds = valid_example(ProviderKind::Mailjet);
        creds["api_key"] = json!("key:withcolon");
        assert_eq!(
            validate_credentials(ProviderKind::Mailjet, &creds),
            Err(invalid("api_key", "must not contain ':'"))
        );
    }

    #[test]
    fn field_names_are_unique_per_provider_and_help_is_written() {
        for kind in ProviderKind::ALL {
            let fields = credential_fields(kind);
            for (i, f) in fields.iter().enumerate() {
                assert!(fields[i + 1..].iter().all(|g| g.name != f.name), "{kind:?}.{} twice", f.name);
                assert!(!f.label.is_empty() && !f.help.is_empty());
            }
        }
    }

    #[test]
    fn gsm7_text_uses_160_then_153_septets_per_segment() {
        let one = sms_length(&"a".repeat(160));
        assert_eq!(one, SmsLength { encoding: SmsEncoding::Gsm7, units: 160, segments: 1 });
        assert_eq!(sms_length(&"a".repeat(161)).segments, 2);
        assert_eq!(sms_length(&"a".repeat(306)).segments, 2);
        assert_eq!(sms_length(&"a".repeat(307)).segments, 3);
        assert_eq!(sms_length("").segments, 1);
        assert_eq!(sms_length("Your code is 123456. Ça va? Ñoño ù @£$¥").encoding, SmsEncoding::Gsm7);
    }

    #[test]
    fn extension_characters_count_twice_and_never_straddle_segments() {
        assert_eq!(sms_length("€").units, 2);
        assert_eq!(sms_length("{code}").units, 8);
        assert_eq!(sms_length(&"€".repeat(80)), SmsLength { encoding: SmsEncoding::Gsm7, units: 160, segments: 1 });
        assert_eq!(sms_length(&"€".repeat(81)).segments, 2);
        // 152 plain septets then an escape pair: the pair moves to the second segment.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(sms_length(&text), SmsLength { encoding: SmsEncoding::Gsm7, units: 164, segments: 2 });
        // The same with a plain count of two segments (306 septets): the pair forces a third.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(sms_length(&text), SmsLength { encoding: SmsEncoding::Gsm7, units: 306, segments: 3 });
    }

    #[test]
    fn one_character_outside_gsm7_switches_to_ucs2() {
        assert_eq!(sms_length("Code: 123456 ✓"), SmsLength { encoding: SmsEncoding::Ucs2, units: 14, segments: 1 });
        assert_eq!(sms_length(&"é".repeat(200)).encoding, SmsEncoding::Gsm7);
        assert_eq!(sms_length("á").encoding, SmsEncoding::Ucs2, "á is not in GSM 03.38 (only à is)");
        assert_eq!(sms_length(&"ж".repeat(70)).segments, 1);
        assert_eq!(sms_length(&"ж".repeat(71)).segments, 2);
        assert_eq!(sms_length(&"ж".repeat(134)).segments, 2);
        assert_eq!(sms_length(&"ж".repeat(135)).segments, 3);
    }

    #[test]
    fn characters_outside_the_bmp_take_two_ucs2_units_kept_together() {
        assert_eq!(sms_length("🙂").units, 2);
        assert_eq!(sms_length(&"🙂".repeat(35)).segments, 1);
        // 66 units then a surrogate pair: the pair opens the second segment, which then
        // overflows by one unit (a plain count would say two segments).
        let text = format!("{}🙂{}", "ж".repeat(66), "ж".repeat(66));
        assert_eq!(sms_length(&text), SmsLength { encoding: SmsEncoding::Ucs2, units: 134, segments: 3 });
        let text = format!("{}🙂", "ж".repeat(66));
        assert_eq!(sms_length(&text).segments, 1, "68 units still fit one message alone");
    }

    #[test]
    fn gsm7_basic_set_has_the_127_printable_characters() {
        // 128 code points minus the escape; \n and \r included.
        assert_eq!(GSM7_BASIC.chars().count(), 127);
        assert_eq!(GSM7_EXTENSION.chars().count(), 10);
    }

    #[test]
    fn ses_channels_send_only_from_the_senders_the_deployment_allows() {
        let senders = SesSenders::new(
            Some("codes@operator.example"),
            " alerts@other.example, @Mail.Client.example, kim@operator.example ",
        )
        .expect("valid");
        for allowed in [
            "codes@operator.example",
            "alerts@other.example",
            "anyone@mail.client.example",
            "x@MAIL.client.example",
            "Kim@operator.example",
        ] {
            assert!(senders.permits(allowed), "{allowed}");
        }
        // The operator's other addresses, a subdomain, a parent domain, a
        // display name and a look-alike are all refused.
        for refused in [
            "ceo@operator.example",
            "a@sub.mail.client.example",
            "a@client.example",
            "Codes <codes@operator.example>",
            "codes@operator.example.evil.example",
            "\u{212A}im@operator.example",
            "\"ceo@operator.example\"@mail.client.example",
            "codes@operator.example.",
            "co\tdes@operator.example",
            "",
        ] {
            assert!(!senders.permits(refused), "{refused}");
        }
        assert_eq!(senders.sender(&json!({})), Ok("codes@operator.example".to_owned()));
        assert_eq!(senders.sender(&json!({"from": ""})), Ok("codes@operator.example".to_owned()));
        assert_eq!(senders.sender(&json!({"from": "a@mail.client.example"})), Ok("a@mail.client.example".to_owned()));
        assert!(senders.sender(&json!({"from": "ceo@operator.example"})).unwrap_err().starts_with("from:"));
        // No configuration at all: nothing to send from.
        let none = SesSenders::default();
        assert!(!none.permits("codes@operator.example"));
        assert!(none.sender(&json!({})).is_err());
        assert!(SesSenders::new(None, "not an address").is_err());
        assert!(SesSenders::new(None, "@").is_err());
        assert!(SesSenders::new(Some("Ops <ops@example.com>"), "").is_err());
    }
}
