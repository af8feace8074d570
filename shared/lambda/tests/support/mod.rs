//! A deployment on moto for Lambda-level tests: table, KMS key, queues, an
//! SES identity and secrets, with every SDK client counting its calls. The
//! OTP API and the worker get separate key caches, as separate Lambdas do.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use secure2fa_aws::dynamodb::table::create_table;
use secure2fa_aws::{AwsClients, CallCounter, emulator_config};
use secure2fa_contract::moto::Moto;
use secure2fa_core::clock::SystemClock;
use secure2fa_core::crypto::payload;
use secure2fa_core::manage::{Management, NewProject};
use secure2fa_core::model::{ChannelMethod, ProjectSettings, ProviderKind, TemplateFormat, TemplateVersion};
use secure2fa_core::ports::ClientStore;
use secure2fa_core::secrets::DeploymentSecrets;
use secure2fa_core::types::{Email, Lang, PublicKey, SecretKey};
use secure2fa_http::{OtpRoutes, base_router, otp_router};
use secure2fa_lambda::config::{Config, Needs};
use secure2fa_lambda::sqs::SqsWorker;
use secure2fa_lambda::wiring::{Services, otp_service, services, sqs_worker};
use serde_json::{Value, json};
use tower::ServiceExt;

/// `events/fixture.json`: the keys the committed events are encrypted for.
pub fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/fixture.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn event(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Unix time in seconds, from the system clock.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Re-encrypts a committed OTP event for a live project: decrypts its
/// payload with the fixture keys, applies `changes` and a fresh `iat`.
pub fn refresh_otp_event(event: &mut Value, keys: &Keys, changes: Value) {
    let f = fixture();
    let (fpk, fsk) = (
        PublicKey::parse(f["public_key"].as_str().unwrap()).unwrap(),
        SecretKey::from_base64(f["secret_key"].as_str().unwrap()).unwrap(),
    );
    let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let plain = payload::open(&fsk, &fpk, body["encrypted_data"].as_str().unwrap()).unwrap();
    let mut plain: Value = serde_json::from_slice(&plain).unwrap();
    plain["iat"] = json!(now());
    for (k, v) in changes.as_object().unwrap() {
        plain[k] = v.clone();
    }
    let data = payload::seal(&keys.secret_key, &keys.public_key, plain.to_string().as_bytes());
    event["body"] = json!(json!({ "public_key": keys.public_key.as_str(), "encrypted_data": data }).to_string());
}

/// Posts an encrypted OTP request for `keys`' project through `router`.
pub async fn call_router(router: Router, keys: &Keys, path: &str, mut plain: Value) -> (u16, Value) {
    plain["iat"] = json!(now());
    let data = payload::seal(&keys.secret_key, &keys.public_key, plain.to_string().as_bytes());
    let body = json!({ "public_key": keys.public_key.as_str(), "encrypted_data": data }).to_string();
    let req = http::Request::post(path).header("content-type", "application/json").body(Body::from(body)).unwrap();
    let resp = router.oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// Receives up to 10 messages of a queue with `sqs`, as the event source
/// mapping does before it invokes a worker with them.
pub async fn receive_with(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> SqsEvent {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let mut event = SqsEvent::default();
    for m in out.messages.unwrap_or_default() {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id;
        record.receipt_handle = m.receipt_handle;
        record.body = m.body;
        record.attributes =
            m.attributes.unwrap_or_default().into_iter().map(|(k, v)| (k.as_str().to_owned(), v)).collect();
        event.records.push(record);
    }
    event
}

pub struct AwsEnv {
    pub endpoint: String,
    pub counter: CallCounter,
    pub clients: AwsClients,
    pub cfg: Config,
    pub api: Services,
    pub worker: SqsWorker,
    pub manage: Management,
}

pub struct Keys {
    pub public_key: PublicKey,
    pub secret_key: SecretKey,
    pub webhook_secret: Option<String>,
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", secure2fa_core::ids::LogId::generate().to_string()[4..].to_lowercase())
}

impl AwsEnv {
    pub async fn new() -> Self {
        let endpoint = Moto::shared().endpoint.clone();
        let counter = CallCounter::recording();
        let clients = AwsClients::new(&emulator_config(&endpoint).await, Some(&counter));
        let table = unique("secure2fa");
        create_table(&clients.dynamodb(), &table).await.unwrap();
        let key = clients.kms().create_key().send().await.unwrap().key_metadata.unwrap().key_id;
        let delivery =
            clients.sqs().create_queue().queue_name(unique("delivery")).send().await.unwrap().queue_url.unwrap();
        let webhook =
            clients.sqs().create_queue().queue_name(unique("webhook")).send().await.unwrap().queue_url.unwrap();
        // Dead-letter queues, read by the admin's queue health (no redrive
        // policy here: the workers' retry tests count receives themselves).
        let delivery_dlq =
            clients.sqs().create_queue().queue_name(unique("delivery-dlq")).send().await.unwrap().queue_url.unwrap();
        let webhook_dlq =
            clients.sqs().create_queue().queue_name(unique("webhook-dlq")).send().await.unwrap().queue_url.unwrap();
        clients.ses().create_email_identity().email_identity("example.com").send().await.unwrap();
        let (master, token) = (unique("deployment-master-secret-string-xxxxxxxx"), unique("operator"));
        let master_id = clients
            .secrets()
            .create_secret()
            .name(&master)
            .secret_string(json!({ "master": master }).to_string())
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        let token_id = clients
            .secrets()
            .create_secret()
            .name(&token)
            .secret_string(json!({ "operator_token": fixture()["operator_token"] }).to_string())
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        let env: HashMap<&str, String> = HashMap::from([
            ("TABLE_NAME", table),
            ("KMS_KEY_ID", key),
            ("DELIVERY_QUEUE_URL", delivery),
            ("WEBHOOK_QUEUE_URL", webhook),
            ("DELIVERY_DLQ_URL", delivery_dlq),
            ("WEBHOOK_DLQ_URL", webhook_dlq),
            ("DEPLOYMENT_SECRET_ID", master_id),
            ("OPERATOR_TOKEN_SECRET_ID", token_id),
            ("SES_FROM_ADDRESS", "otp@example.com".into()),
            // Allowed by the deployment, but never verified in SES.
            ("SES_ALLOWED_SENDERS", "otp@unverified.test".into()),
            ("IP_LIMIT_PER_MINUTE", "0".into()),
            // As template.yaml sets it for the OTP functions and workers.
            ("READ_CACHE_TTL_SECONDS", "10".into()),
            // The tests' webhook receivers listen on loopback.
            ("ALLOW_PRIVATE_WEBHOOKS", "true".into()),
        ]);
        let all = Needs { table: true, kms: true, delivery_queue: true, webhook_queue: true, secrets: true };
        let cfg = Config::from_lookup(all, |k| env.get(k).cloned()).unwrap();
        let api = services(&clients, &cfg);
        let worker = sqs_worker(&clients, &cfg, &cfg.delivery_queue_url).unwrap();
        let manage = Management {
            sender: None,
            store: api.store.clone(),
            keys: api.keys.clone(),
            index_key: DeploymentSecrets::from_master(&master).unwrap().index_key,
            clock: Arc::new(SystemClock),
            allow_insecure_webhooks: true,
            public_url: None,
            queues: None,
            ses_senders: cfg.ses_senders.clone(),
        };
        Self { endpoint, counter, clients, cfg, api, worker, manage }
    }

    /// A client with an SES channel, an English template and a project.
    pub async fn project(&self, settings: ProjectSettings, webhook_url: Option<String>) -> Keys {
        self.project_with_channel(settings, webhook_url, json!({ "from": "otp@example.com" })).await
    }

    /// As [`AwsEnv::project`], with the SES channel's own credentials.
    pub async fn project_with_channel(
        &self,
        settings: ProjectSettings,
        webhook_url: Option<String>,
        ses_credentials: Value,
    ) -> Keys {
        let m = &self.manage;
        let email = Email::parse(&format!("{}@example.com", unique("dev"))).unwrap();
        let client = m.register_client(&email).await.unwrap();
        let client = self.api.store.client(client.id).await.unwrap().unwrap();
        let channel =
            m.create_channel(&client, "SES", ChannelMethod::Email, ProviderKind::Ses, &ses_credentials).await.unwrap();
        let en = Lang::parse("en").unwrap();
        let versions =
            [(en.clone(), TemplateVersion { subject: "Your code".into(), body: "Code: {{ OTP_CODE }}".into() })].into();
        let template = m.create_template(client.id, "Default", en, TemplateFormat::Text, versions).await.unwrap();
        let (_, keys) = m
            .create_project(
                client.id,
                NewProject {
                    title: "Shop".into(),
                    channel_id: channel.id,
                    template_id: template.id,
                    settings,
                    webhook_url,
                    fallback: None,
                },
            )
            .await
            .unwrap();
        Keys {
            public_key: keys.public_key,
            secret_key: keys.secret_key,
            webhook_secret: keys.webhook_secret.map(|s| s.expose().to_owned()),
        }
    }

    /// Serves an API Gateway event file through `router`, as `lambda_http` does.
    pub async fn serve_event(&self, router: Router, event: &Value) -> (u16, Value) {
        let req = lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event");
        let resp = secure2fa_lambda::http::prepare(router).oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
    }

    pub async fn management_router(&self) -> Router {
        let (manage, accounts, token) =
            secure2fa_lambda::wiring::management(&self.clients, &self.api, &self.cfg).await.unwrap();
        base_router()
            .merge(secure2fa_http::management_router(manage, accounts.clone(), token))
            .merge(secure2fa_http::account_router(accounts))
    }

    pub fn otp_router(&self) -> Router {
        secure2fa_lambda::http::prepare(base_router().merge(otp_router(otp_service(&self.api), OtpRoutes::Both, None)))
    }

    pub async fn call(&self, keys: &Keys, path: &str, plain: Value) -> (u16, Value) {
        call_router(self.otp_router(), keys, path, plain).await
    }

    /// Receives up to 10 messages of a queue as the Lambda event SQS would send.
    pub async fn receive(&self, queue_url: &str) -> SqsEvent {
        receive_with(&self.clients.sqs(), queue_url).await
    }

    /// Emails moto's SES has accepted, oldest first.
    pub async fn sent_emails(&self) -> Vec<Value> {
        let data: Value =
            reqwest::get(format!("{}/moto-api/data.json", self.endpoint)).await.unwrap().json().await.unwrap();
        data["ses"]["Message"].as_array().cloned().unwrap_or_default()
    }

    /// The code in the latest email to `to`.
    pub async fn code_sent_to(&self, to: &str) -> String {
        let emails = self.sent_emails().await;
        let mail =
            emails.iter().rev().find(|m| m.to_string().contains(to)).unwrap_or_else(|| panic!("no email to {to}"));
        let body = mail["body"].as_str().unwrap_or_default();
        body.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() >= 4).expect("a code").to_owned()
    }

    /// DynamoDB writes and reads, and other calls, since the last reset.
    /// Writes to the project's quota windows (`QUOTA#`) are counted apart:
    /// an instance takes quota tokens a few at a time, not on every call.
    pub fn budget(&self) -> Budget {
        let c = self.counter.snapshot();
        let get = |k: &str| c.get(k).copied().unwrap_or(0);
        let quota_writes = self
            .counter
            .recorded()
            .iter()
            .filter(|call| call.service == "dynamodb" && call.partition_keys == ["QUOTA#*"])
            .count() as u64;
        Budget {
            writes: get("dynamodb.PutItem")
                + get("dynamodb.UpdateItem")
                + get("dynamodb.DeleteItem")
                + get("dynamodb.TransactWriteItems.items")
                + get("dynamodb.BatchWriteItem")
                - quota_writes,
            quota_writes,
            reads: get("dynamodb.GetItem")
                + get("dynamodb.Query")
                + get("dynamodb.Scan")
                + get("dynamodb.BatchGetItem"),
            sqs_sends: get("sqs.SendMessage"),
            kms_calls: c.iter().filter(|(k, _)| k.starts_with("kms.")).map(|(_, v)| v).sum(),
            ses_sends: get("sesv2.SendEmail"),
            all: c,
        }
    }
}

#[derive(Debug)]
pub struct Budget {
    pub writes: u64,
    pub quota_writes: u64,
    pub reads: u64,
    pub sqs_sends: u64,
    pub kms_calls: u64,
    pub ses_sends: u64,
    pub all: std::collections::BTreeMap<String, u64>,
}

/// DynamoDB's size of an item: attribute names plus values (numbers are
/// approximated from their digits), which decides its write units.
pub fn item_size(item: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    item.iter()
        .map(|(k, v)| {
            k.len()
                + match v {
                    A::S(s) => s.len(),
                    A::N(n) => n.len().div_ceil(2) + 1,
                    A::B(b) => b.as_ref().len(),
                    A::Bool(_) | A::Null(_) => 1,
                    _ => 100,
                }
        })
        .sum()
}

impl AwsEnv {
    /// Every item of the table.
    pub async fn scan(&self) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .clients
                .dynamodb()
                .scan()
                .table_name(&self.cfg.table_name)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .unwrap();
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return items,
            }
        }
    }
}
