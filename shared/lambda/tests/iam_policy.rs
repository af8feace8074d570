//! Every function's role in `template.yaml` allows exactly what the function
//! does. moto enforces no IAM, so a missing permission passes every other
//! emulator test and fails only on AWS.
//!
//! Each of the five functions is built as its binary builds it: its
//! environment resolved from the template, its services assembled by
//! `secure2fa_lambda::wiring` over SDK clients carrying a recording
//! `CallCounter` of its own, so every call is attributed to that function
//! alone (a fresh set of clients is a cold start: empty key caches). Each is
//! driven through its paths against moto, then its calls, as the IAM requests
//! AWS would authorise, are checked against its role: the statements written
//! in `Policies` plus those SAM adds (see `iam/sam_template.rs`). Every
//! request must be allowed (action; resource: the table or the index, the
//! right queue, secret and key; conditions: `dynamodb:LeadingKeys`,
//! `kms:EncryptionContext:entity`), and every action, resource and condition
//! value written in a statement must have been needed by some request.

mod iam;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use aws_smithy_types::retry::RetryConfig;
use aws_types::SdkConfig;
use aws_types::origin::Origin;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use iam::authorization::{self, Arns};
use iam::sam_template::{Stack, Statement, Template};
use secure2fa_aws::call_counter::ApiCall;
use secure2fa_aws::{AwsClients, CallCounter, emulator_config};
use secure2fa_core::ids::{ChannelId, ClientId};
use secure2fa_core::manage::NewProject;
use secure2fa_core::model::{ChannelMethod, Fallback, ProjectSettings, ProviderKind, TemplateFormat, TemplateVersion};
use secure2fa_core::types::{Email, Lang, PublicKey, SecretKey};
use secure2fa_http::{
    IpRateLimit, OtpRoutes, account_router, base_router, management_router, otp_router, receipts_router,
};
use secure2fa_lambda::config::{Config, Needs};
use secure2fa_lambda::http::prepare;
use secure2fa_lambda::sqs::SqsWorker;
use secure2fa_lambda::wiring::{management, otp_service, receipts, services, sqs_worker};
use secure2fa_providers::receipts::twilio_signature;
use serde_json::{Value, json};
use support::{AwsEnv, Keys, call_router, fixture};
use tower::ServiceExt;

/// moto's account and the region `emulator_config` uses.
fn arns() -> Arns {
    Arns { partition: "aws".into(), region: "us-east-1".into(), account: "123456789012".into() }
}

/// The stack `template.yaml` becomes over the resources `AwsEnv` created.
fn stack(env: &AwsEnv, twilio_url: &str) -> Stack {
    let (a, cfg) = (arns(), &env.cfg);
    let parameters = [
        // SMS through Twilio go to a mock on loopback.
        ("TwilioApiUrl", twilio_url),
        ("SesFromAddress", "otp@example.com"),
        // Allowed by the deployment, but never verified in SES.
        ("SesAllowedSenders", "otp@unverified.test"),
        // The tests send no client IP; the limiter is tested elsewhere.
        ("IpLimitPerMinute", "0"),
        // The webhook receiver listens on http://127.0.0.1.
        ("AllowHttpWebhooks", "true"),
        ("AllowPrivateWebhooks", "true"),
    ];
    let refs = [
        ("Table", cfg.table_name.clone()),
        ("KmsKey", cfg.kms_key_id.clone()),
        ("DeliveryQueue", cfg.delivery_queue_url.clone()),
        ("WebhookQueue", cfg.webhook_queue_url.clone()),
        ("DeliveryDeadLetterQueue", cfg.delivery_dlq_url.clone().unwrap()),
        ("WebhookDeadLetterQueue", cfg.webhook_dlq_url.clone().unwrap()),
        ("DeploymentSecret", cfg.deployment_secret_id.clone()),
        ("OperatorTokenSecret", cfg.operator_token_secret_id.clone()),
        ("SesConfigurationSet", "otp-events".to_owned()),
        ("HttpApi", "api0123".to_owned()),
    ];
    let attributes = [
        ("Table.Arn", a.table(&cfg.table_name)),
        ("KmsKey.Arn", a.key(&cfg.kms_key_id)),
        ("DeliveryQueue.Arn", a.queue(&cfg.delivery_queue_url)),
        ("WebhookQueue.Arn", a.queue(&cfg.webhook_queue_url)),
        ("DeliveryDeadLetterQueue.Arn", a.queue(cfg.delivery_dlq_url.as_deref().unwrap())),
        ("WebhookDeadLetterQueue.Arn", a.queue(cfg.webhook_dlq_url.as_deref().unwrap())),
    ];
    let own = |pairs: &[(&str, String)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    };
    Stack {
        partition: a.partition.clone(),
        region: a.region.clone(),
        account: a.account.clone(),
        parameters: parameters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        refs: own(&refs),
        attributes: own(&attributes),
    }
}

/// What each binary asks of its environment (`functions/*/src/main.rs`).
fn needs(function: &str) -> Needs {
    let n = Needs { table: true, kms: true, ..Needs::default() };
    match function {
        "OtpGenerateFunction" => Needs { delivery_queue: true, ..n },
        "OtpVerifyFunction" | "WebhookWorkerFunction" => Needs { webhook_queue: true, ..n },
        "ManagementApiFunction" => Needs { secrets: true, ..n },
        "ReceiptsFunction" => Needs { webhook_queue: true, ..n },
        "DeliveryWorkerFunction" => Needs { delivery_queue: true, webhook_queue: true, ..n },
        other => panic!("no binary known for {other}"),
    }
}

/// One function of the stack, with the calls all its instances made.
struct Function {
    /// The template's logical id.
    name: &'static str,
    /// How problems name it (the id, plus the stack variant if any).
    label: String,
    stack: Stack,
    cfg: Config,
    counter: CallCounter,
}

impl Function {
    fn new(template: &Template, stack: &Stack, name: &'static str) -> Self {
        let env = template.environment(name, stack);
        let cfg = Config::from_lookup(needs(name), |k| env.get(k).cloned().filter(|v| !v.is_empty()))
            .unwrap_or_else(|e| panic!("{name}: its template environment does not start it: {e}"));
        Self { name, label: name.to_owned(), stack: stack.clone(), cfg, counter: CallCounter::recording() }
    }

    /// A cold start: new clients (so new key caches in what is built on them).
    fn start(&self, sdk: &SdkConfig) -> AwsClients {
        AwsClients::new(sdk, Some(&self.counter))
    }

    /// Problems of its role against its calls. For a stack variant, only the
    /// grants the variant adds to `baseline` must have been needed.
    fn check(&self, template: &Template, baseline: Option<&Stack>) -> Vec<String> {
        let role = |stack: &Stack| -> Result<Vec<Statement>, String> {
            let mut statements = template.statements(self.name, stack)?;
            statements.extend(template.implicit_statements(self.name)?);
            Ok(statements)
        };
        let statements = match role(&self.stack) {
            Ok(s) => s,
            Err(e) => return vec![format!("{}: {e}", self.label)],
        };
        let baseline = baseline.map(|b| role(b).expect("the baseline resolves"));
        let calls = self.counter.recorded();
        let requests: std::collections::BTreeSet<String> = calls
            .iter()
            .filter_map(|c| authorization::requests(c, &arns()).ok())
            .flatten()
            .map(|r| r.to_string())
            .collect();
        println!("{}:\n  {}", self.label, requests.into_iter().collect::<Vec<_>>().join("\n  "));
        let mut problems = authorization::check(&self.label, &statements, baseline.as_deref(), &calls, &arns());
        // SAM's event source polls the queues of the SQS events, with this role.
        let polled = template.sqs_event_queues(self.name, &self.stack);
        for call in calls.iter().filter(|c| c.service == "sqs" && c.operation == "ReceiveMessage") {
            let queue = arns().queue(call.resource.as_deref().unwrap_or_default());
            if !polled.contains(&queue) {
                problems.push(format!("{} consumes {queue}, but its SQS events poll {polled:?}", self.label));
            }
        }
        problems
    }
}

/// `AWS_ENDPOINT_URL_SESV2` on a closed port.
#[derive(Debug)]
struct SesUnreachable;

impl LoadServiceConfig for SesUnreachable {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.service_id() == "SESv2" && key.env() == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:1".to_owned())
    }
}

/// The SDK configuration during an SES outage: as if the function's
/// environment had `AWS_ENDPOINT_URL` (moto) and `AWS_ENDPOINT_URL_SESV2` on a
/// closed port, so SES alone is unreachable. No SDK retries: it fails at once.
fn ses_outage(sdk: &SdkConfig) -> SdkConfig {
    let mut b = sdk.to_builder();
    b.insert_origin("endpoint_url", Origin::shared_environment_variable());
    b.service_config(SesUnreachable).retry_config(RetryConfig::disabled()).build()
}

/// A webhook receiver answering with the status it is set to.
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    received: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> Self {
        let (status, received) = (Arc::new(AtomicU16::new(204)), Arc::new(AtomicU16::new(0)));
        let (s, r) = (status.clone(), received.clone());
        let app = Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let (s, r) = (s.clone(), r.clone());
                async move {
                    r.fetch_add(1, Ordering::SeqCst);
                    axum::http::StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, status, received }
    }
}

/// One invocation by the SQS event source: a batch received with the
/// worker's role, handed to the worker, and the messages it did not report
/// as failed deleted. `attempt` sets `ApproximateReceiveCount` (a redelivery).
async fn poll(worker: &SqsWorker, attempt: Option<u32>) -> (usize, SqsBatchResponse) {
    let mut event = support::receive_with(&worker.sqs, &worker.queue_url).await;
    let received: Vec<SqsMessage> = event.records.clone();
    if let Some(n) = attempt {
        for r in &mut event.records {
            r.attributes.insert("ApproximateReceiveCount".into(), n.to_string());
        }
    }
    let response = worker.handle(event).await;
    for r in &received {
        let failed = response.batch_item_failures.iter().any(|f| Some(&f.item_identifier) == r.message_id.as_ref());
        if !failed && let Some(receipt) = &r.receipt_handle {
            worker.sqs.delete_message().queue_url(&worker.queue_url).receipt_handle(receipt).send().await.unwrap();
        }
    }
    (received.len(), response)
}

/// Twilio's Messages resource: accounts `REFUSING` answer 400 (21211,
/// invalid `To`), the others 201 with a sid derived from the account; keeps
/// the `StatusCallback` of each accepted SMS with its account.
#[derive(Clone)]
struct TwilioMock {
    url: String,
    accepted: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl TwilioMock {
    const REFUSING: &'static str = "AC00000000000000000000000000000bad";
    const ACCEPTING: &'static str = "AC0000000000000000000000000000000d";

    async fn start() -> Self {
        let accepted: Arc<std::sync::Mutex<Vec<(String, String)>>> = Arc::default();
        let seen = accepted.clone();
        let app = Router::new().route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            axum::routing::post(
                move |axum::extract::Path(account): axum::extract::Path<String>, body: axum::body::Bytes| {
                    let seen = seen.clone();
                    async move {
                        if account == Self::REFUSING {
                            let refusal =
                                json!({ "code": 21211, "message": "Invalid 'To' Phone Number", "status": 400 });
                            return (axum::http::StatusCode::BAD_REQUEST, axum::Json(refusal));
                        }
                        let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
                        let callback = form.get("StatusCallback").cloned().unwrap_or_default();
                        seen.lock().unwrap().push((callback, account.clone()));
                        let created = json!({ "sid": Self::sid(&account), "status": "queued" });
                        (axum::http::StatusCode::CREATED, axum::Json(created))
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, accepted }
    }

    fn accepted(&self) -> Vec<(String, String)> {
        self.accepted.lock().unwrap().clone()
    }

    fn sid(account: &str) -> String {
        format!("SM{}", &account[2..])
    }

    fn token(account: &str) -> String {
        format!("token{}", &account[2..])
    }
}

/// A client with two Twilio SMS channels: on the refusing account and on the accepting one.
async fn sms_client(env: &AwsEnv) -> (ClientId, ChannelId, ChannelId) {
    let m = &env.manage;
    let client = m.register_client(&Email::parse("sms@example.com").unwrap()).await.unwrap();
    let mut channels = Vec::new();
    for account in [TwilioMock::REFUSING, TwilioMock::ACCEPTING] {
        let credentials =
            json!({ "account_sid": account, "auth_token": TwilioMock::token(account), "from": "+14155550100" });
        let channel = m.create_channel(&client, "SMS", ChannelMethod::Sms, ProviderKind::Twilio, &credentials).await;
        channels.push(channel.unwrap().id);
    }
    (client.id, channels[0], channels[1])
}

/// A project of `client` sending SMS through `primary`, with `fallback` as its fallback channel.
async fn sms_project(
    env: &AwsEnv,
    client: ClientId,
    primary: ChannelId,
    fallback: ChannelId,
    webhook_url: &str,
) -> Keys {
    let m = &env.manage;
    let en = Lang::parse("en").unwrap();
    let versions =
        [(en.clone(), TemplateVersion { subject: String::new(), body: "Code {{ OTP_CODE }}".into() })].into();
    let template = m.create_template(client, "SMS", en, TemplateFormat::Text, versions).await.unwrap();
    let new = NewProject {
        title: "Texts".into(),
        channel_id: primary,
        template_id: template.id,
        settings: ProjectSettings::default(),
        webhook_url: Some(webhook_url.to_owned()),
        fallback: Some(Fallback { channel_id: fallback, after_seconds: Fallback::DEFAULT_AFTER_SECONDS }),
    };
    let (_, keys) = m.create_project(client, new).await.unwrap();
    Keys { public_key: keys.public_key, secret_key: keys.secret_key, webhook_secret: None }
}

/// An HTTP request through a prepared router, JSON both ways.
async fn request(router: &Router, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = http::Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
}

const GENERATE: &str = "/otp/generate";
const VERIFY: &str = "/otp/verify";

/// An encrypted OTP request for `keys`' project.
async fn otp(router: &Router, path: &str, keys: &Keys, plain: Value) -> (u16, Value) {
    call_router(router.clone(), keys, path, plain).await
}

/// The OTP router of the generate or verify function, as its binary serves it.
fn otp_function(f: &Function, sdk: &SdkConfig, routes: OtpRoutes) -> Router {
    let s = services(&f.start(sdk), &f.cfg);
    let ip_limit = f.cfg.ip_limit_per_minute.map(IpRateLimit::per_minute);
    prepare(base_router().merge(otp_router(otp_service(&s), routes, ip_limit)))
}

/// Every management route, on a cold instance (it reads both secrets and
/// must unwrap the keys of clients it did not create), deleting a project
/// with end users included.
async fn drive_management(
    env: &AwsEnv,
    template: &Template,
    base: &Stack,
    sdk: &SdkConfig,
    webhook_url: &str,
) -> Function {
    let manage = Function::new(template, base, "ManagementApiFunction");
    let clients = manage.start(sdk);
    let (m, accounts, token) = management(&clients, &services(&clients, &manage.cfg), &manage.cfg).await.unwrap();
    let api =
        prepare(base_router().merge(management_router(m, accounts.clone(), token)).merge(account_router(accounts)));
    let token = fixture()["operator_token"].as_str().unwrap().to_owned();
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let (api, token) = (api.clone(), token.clone());
        async move { request(&api, method, &path, Some(&token), body).await }
    };
    assert_eq!(request(&api, "GET", "/v1/openapi.json", None, None).await.0, 200);
    // Sign-up (a client, its email lock, a mailed token through SES, the
    // mail counters) and a refused sign-in (the attempt counters).
    let signup = json!({ "email": "new@example.com" });
    let (s, body) = request(&api, "POST", "/v1/account/signup", None, Some(signup)).await;
    assert_eq!(s, 202, "{body}");
    let login = json!({ "email": "new@example.com", "password": "not the password at all" });
    assert_eq!(request(&api, "POST", "/v1/account/login", None, Some(login)).await.0, 401);
    assert_eq!(request(&api, "GET", "/v1/clients", Some("not-the-operator-token-at-all"), None).await.0, 401);
    let (s, body) = call("GET", "/v1/clients".into(), None).await;
    assert_eq!((s, body["clients"].as_array().map(|c| c.len() >= 2)), (200, Some(true)), "{body}");
    let (s, client) = call("POST", "/v1/clients".into(), Some(json!({ "email": "ops@example.com" }))).await;
    assert_eq!(s, 201, "{client}");
    let c = format!("/v1/clients/{}", client["id"].as_str().unwrap());
    let channel =
        json!({ "title": "Mail", "method": "email", "provider": "ses", "credentials": { "from": "otp@example.com" } });
    let (s, channel) = call("POST", format!("{c}/channels"), Some(channel)).await;
    assert_eq!(s, 201, "{channel}");
    // The account has verified the whole domain: a client must still not
    // send from any other of its addresses than those the deployment allows.
    let spoof =
        json!({ "title": "Spoof", "method": "email", "provider": "ses", "credentials": { "from": "ceo@example.com" } });
    let (s, body) = call("POST", format!("{c}/channels"), Some(spoof)).await;
    assert_eq!((s, body["error"]["code"].as_str()), (400, Some("invalid_request")), "{body}");
    let replace = Some(json!({ "credentials": { "from": "ceo@example.com" } }));
    let (s, body) = call("PATCH", format!("{c}/channels/{}", channel["id"].as_str().unwrap()), replace).await;
    assert_eq!((s, body["error"]["code"].as_str()), (400, Some("invalid_request")), "{body}");
    assert_eq!(call("GET", format!("{c}/channels"), None).await.0, 200);
    let test = Some(json!({ "to": "ops@example.com" }));
    let (s, sent) = call("POST", format!("{c}/channels/{}/test", channel["id"].as_str().unwrap()), test).await;
    assert_eq!((s, &sent["status"]), (200, &json!("sent")), "{sent}");
    let template_body = json!({ "title": "Default", "default_lang": "en", "versions": { "en": { "subject": "Code", "body": "{{ OTP_CODE }}" } } });
    let (s, tpl) = call("POST", format!("{c}/templates"), Some(template_body)).await;
    assert_eq!(s, 201, "{tpl}");
    assert_eq!(call("GET", format!("{c}/templates"), None).await.0, 200);
    let new_project =
        json!({ "title": "Doomed", "channel_id": channel["id"], "template_id": tpl["id"], "webhook_url": webhook_url });
    let (s, project) = call("POST", format!("{c}/projects"), Some(new_project)).await;
    assert_eq!(s, 201, "{project}");
    assert_eq!(call("GET", format!("{c}/projects"), None).await.0, 200);
    // An end user in the project's partition, which deleting the project removes.
    let doomed = Keys {
        public_key: PublicKey::parse(project["public_key"].as_str().unwrap()).unwrap(),
        secret_key: SecretKey::from_base64(project["secret_key"].as_str().unwrap()).unwrap(),
        webhook_secret: None,
    };
    assert_eq!(env.call(&doomed, GENERATE, json!({ "user_id": "d", "to": "d@example.com" })).await.0, 202);
    assert_eq!(call("GET", format!("{c}/logs"), None).await.0, 200);
    // The admin's queue health, with a dead letter in the delivery queue's
    // dead-letter queue; a redrive of each queue. moto implements no
    // StartMessageMoveTask: the call is made (and authorised here) and its
    // refusal answers 503; its request format is checked against a mock in
    // `sqs_redrive_request`.
    env.clients
        .sqs()
        .send_message()
        .queue_url(manage.cfg.delivery_dlq_url.clone().unwrap())
        .message_body("{}")
        .send()
        .await
        .unwrap();
    let (s, health) = call("GET", "/v1/admin/queues".into(), None).await;
    assert_eq!(s, 200, "{health}");
    let delivery = health["queues"].as_array().unwrap().iter().find(|q| q["queue"] == "delivery").unwrap().clone();
    assert_eq!(delivery["dead_letters"], 1, "{health}");
    for queue in ["delivery", "webhook"] {
        let (s, body) = call("POST", format!("/v1/admin/queues/{queue}/redrive"), None).await;
        assert_eq!(s, 503, "moto has no StartMessageMoveTask: {body}");
    }
    // The end-user view opens the end users' ids with the project's key:
    // this instance's own project (its key cached at creation), and the
    // projects it did not create (their keys unwrapped by KMS).
    let (s, users) = call("GET", format!("{c}/projects/{}/end-users", project["id"].as_str().unwrap()), None).await;
    assert_eq!((s, users["end_users"][0]["user_id"].as_str()), (200, Some("d")), "{users}");
    let (_, all) = call("GET", "/v1/clients".into(), None).await;
    let mut seen = 0;
    for other in all["clients"].as_array().unwrap() {
        let oc = format!("/v1/clients/{}", other["id"].as_str().unwrap());
        let (_, projects) = call("GET", format!("{oc}/projects"), None).await;
        for p in projects["projects"].as_array().unwrap() {
            let (s, users) = call("GET", format!("{oc}/projects/{}/end-users", p["id"].as_str().unwrap()), None).await;
            assert_eq!(s, 200, "{users}");
            seen += users["end_users"].as_array().unwrap().len();
        }
    }
    assert!(seen > 1, "other projects' end users were read");
    let channel_path = format!("{c}/channels/{}", channel["id"].as_str().unwrap());
    assert_eq!(call("DELETE", channel_path.clone(), None).await.0, 409, "still linked");
    assert_eq!(call("DELETE", format!("{c}/projects/{}", project["id"].as_str().unwrap()), None).await.0, 204);
    assert_eq!(call("DELETE", channel_path, None).await.0, 204);
    assert_eq!(call("DELETE", format!("{c}/templates/{}", tpl["id"].as_str().unwrap()), None).await.0, 204);

    manage
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_role_allows_exactly_the_calls_it_makes() {
    let env = AwsEnv::new().await;
    let template = Template::load();
    let driven = [
        "OtpGenerateFunction",
        "OtpVerifyFunction",
        "ManagementApiFunction",
        "ReceiptsFunction",
        "DeliveryWorkerFunction",
        "WebhookWorkerFunction",
    ];
    assert_eq!(template.functions(), driven, "a new function needs its paths driven here");
    let twilio = TwilioMock::start().await;
    let base = stack(&env, &twilio.url);
    let sdk = emulator_config(&env.endpoint).await;
    let hook = Receiver::start().await;
    let shop = env.project(ProjectSettings::default(), Some(hook.url.clone())).await;
    // Its channel sends from an address SES has not verified: a permanent failure.
    let unverified = env
        .project_with_channel(
            ProjectSettings::default(),
            Some(hook.url.clone()),
            json!({ "from": "otp@unverified.test" }),
        )
        .await;

    // Generate: queued, refused by the cooldown, a template request (reads
    // the client's template), an undecryptable payload, an unknown project.
    let generate = Function::new(&template, &base, "OtpGenerateFunction");
    let gen_router = otp_function(&generate, &sdk, OtpRoutes::Generate);
    let ann = json!({ "user_id": "ann", "to": "ann@example.com" });
    assert_eq!(otp(&gen_router, GENERATE, &shop, ann.clone()).await.0, 202);
    assert_eq!(otp(&gen_router, GENERATE, &shop, ann).await.0, 429, "resend cooldown");
    let (s, body) = otp(
        &gen_router,
        GENERATE,
        &shop,
        json!({ "user_id": "tpl", "to": "tpl@example.com", "template_request": true }),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["encrypted_data"].is_string(), "{body}");
    let garbled = json!({ "public_key": shop.public_key.as_str(), "encrypted_data": "bm90IGEgcGF5bG9hZA" });
    assert!(request(&gen_router, "POST", GENERATE, None, Some(garbled)).await.0 >= 400);
    let stranger = Keys { public_key: PublicKey::generate(), secret_key: SecretKey::generate(), webhook_secret: None };
    assert_eq!(otp(&gen_router, GENERATE, &stranger, json!({ "user_id": "x", "to": "x@example.com" })).await.0, 401);

    // Delivery: a code sent.
    let delivery = Function::new(&template, &base, "DeliveryWorkerFunction");
    // Every email goes out with the stack's configuration set.
    assert_eq!(delivery.cfg.ses_configuration_set.as_deref(), Some("otp-events"));
    let deliver = sqs_worker(&delivery.start(&sdk), &delivery.cfg, &delivery.cfg.delivery_queue_url).unwrap();
    let (n, r) = poll(&deliver, None).await;
    assert_eq!((n, r.batch_item_failures.len()), (1, 0));
    let code = env.code_sent_to("ann@example.com").await;

    // Verify: a wrong code, the right one, no pending code (webhook events for the first two).
    let verify = Function::new(&template, &base, "OtpVerifyFunction");
    let ver_router = otp_function(&verify, &sdk, OtpRoutes::Verify);
    let wrong: String = code.chars().map(|c| if c == '9' { '0' } else { (c as u8 + 1) as char }).collect();
    assert_eq!(
        otp(&ver_router, VERIFY, &shop, json!({ "user_id": "ann", "code": wrong })).await.1["status"],
        "invalid_code"
    );
    assert_eq!(
        otp(&ver_router, VERIFY, &shop, json!({ "user_id": "ann", "code": code })).await.1["status"],
        "approved"
    );
    assert_eq!(
        otp(&ver_router, VERIFY, &shop, json!({ "user_id": "nobody", "code": "123456" })).await.1["status"],
        "not_found"
    );

    // Webhook worker: both events posted.
    let webhook = Function::new(&template, &base, "WebhookWorkerFunction");
    let post = sqs_worker(&webhook.start(&sdk), &webhook.cfg, &webhook.cfg.webhook_queue_url).unwrap();
    let mut posted = 0;
    while posted < 2 {
        let (n, r) = poll(&post, None).await;
        assert!(n > 0 && r.batch_item_failures.is_empty(), "{n} events, {r:?}");
        posted += n;
    }
    assert_eq!(hook.received.load(Ordering::SeqCst), 2);

    // Delivery fails for good (logged, a delivery.failed event); then only
    // for now, on a new instance that cannot reach SES (the claim is released
    // and the message's visibility set to the backoff).
    assert_eq!(otp(&gen_router, GENERATE, &unverified, json!({ "user_id": "u", "to": "u@example.com" })).await.0, 202);
    let (n, r) = poll(&deliver, None).await;
    assert_eq!((n, r.batch_item_failures.len()), (1, 0), "a permanent failure is not retried");
    assert_eq!(otp(&gen_router, GENERATE, &shop, json!({ "user_id": "bob", "to": "bob@example.com" })).await.0, 202);
    let stranded =
        sqs_worker(&delivery.start(&ses_outage(&sdk)), &delivery.cfg, &delivery.cfg.delivery_queue_url).unwrap();
    let (n, r) = poll(&stranded, None).await;
    assert_eq!((n, r.batch_item_failures.len()), (1, 1), "a transient failure is retried");

    // SMS on projects with a fallback channel: one whose Twilio account
    // refuses the number (the fallback sends it: a send counted on the
    // destination), one sent at once (the check for its delivered receipt
    // is queued, delayed).
    let (sms, refusing, accepting) = sms_client(&env).await;
    let fails_over = sms_project(&env, sms, refusing, accepting, &hook.url).await;
    let awaits_receipt = sms_project(&env, sms, accepting, refusing, &hook.url).await;
    for keys in [&fails_over, &awaits_receipt] {
        assert_eq!(otp(&gen_router, GENERATE, keys, json!({ "user_id": "sam", "to": "+14155550123" })).await.0, 202);
    }
    // Three jobs: the two SMS, then the fallback's own send job.
    let mut handled = 0;
    while handled < 3 {
        let (n, r) = poll(&deliver, None).await;
        assert!(n > 0 && r.batch_item_failures.is_empty(), "{n} jobs, {r:?}");
        handled += n;
    }
    assert_eq!(twilio.accepted().len(), 2, "the fallback's SMS and the other project's");

    // Webhook worker: the delivery.failed event meets a failing receiver on
    // its last attempt, which is logged.
    hook.status.store(500, Ordering::SeqCst);
    let (n, r) = poll(&post, Some(webhook.cfg.max_receive_count)).await;
    assert_eq!((n, r.batch_item_failures.len()), (1, 1));

    let manage = drive_management(&env, &template, &base, &sdk, &hook.url).await;
    let receipts = drive_receipts(&template, &base, &sdk, &twilio).await;

    let mut problems = Vec::new();
    for f in [&generate, &verify, &manage, &receipts, &delivery, &webhook] {
        assert!(!f.counter.recorded().is_empty(), "{} made no call", f.label);
        problems.extend(f.check(&template, None));
    }
    assert!(problems.is_empty(), "the roles in template.yaml do not fit the calls:\n{}", problems.join("\n"));
}

/// The receipts function, cold: Twilio reports an accepted SMS undelivered
/// (stored, logged, a delivery.failed event sealed under the project's key
/// and queued); a forged report changes nothing.
async fn drive_receipts(template: &Template, base: &Stack, sdk: &SdkConfig, twilio: &TwilioMock) -> Function {
    let f = Function::new(template, base, "ReceiptsFunction");
    let clients = f.start(sdk);
    let api =
        prepare(base_router().merge(receipts_router(receipts(&services(&clients, &f.cfg)), f.cfg.public_url.clone())));
    // Twilio reports the accepted SMS undelivered: stored, logged, a
    // delivery.failed event queued (sealed under the project's key).
    let (callback, account) = twilio.accepted().into_iter().next().expect("an accepted SMS");
    let token = TwilioMock::token(&account);
    let fields = vec![
        ("MessageSid".to_owned(), TwilioMock::sid(&account)),
        ("MessageStatus".to_owned(), "undelivered".to_owned()),
        ("ErrorCode".to_owned(), "30003".to_owned()),
        ("AccountSid".to_owned(), account.clone()),
    ];
    let url = url::Url::parse(&callback).unwrap();
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
    let req = http::Request::builder()
        .method("POST")
        .uri(&url[url::Position::BeforePath..])
        .header("host", url.host_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", twilio_signature(&token, &callback, &fields))
        .body(Body::from(body))
        .unwrap();
    let resp = api.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let answer = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(serde_json::from_slice::<Value>(&answer).unwrap()["recorded"], 1);
    f
}

/// A template with one function whose policy is given.
fn one_function(policy: &str) -> Template {
    Template::parse(&format!(
        "Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n  OtpGenerateFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n{policy}"
    ))
}

fn test_stack() -> Stack {
    Stack {
        partition: "aws".into(),
        region: "us-east-1".into(),
        account: "123456789012".into(),
        parameters: BTreeMap::from([("SesConfigurationSet".into(), String::new())]),
        refs: BTreeMap::from([("Table".into(), "t".into())]),
        attributes: BTreeMap::from([("Table.Arn".into(), arns().table("t"))]),
    }
}

fn get_item(partition: &str) -> ApiCall {
    ApiCall {
        service: "dynamodb".into(),
        operation: "GetItem".into(),
        item: None,
        resource: Some("t".into()),
        index: None,
        partition_keys: vec![partition.into()],
        key_entity: None,
        configuration_set: None,
        destination: None,
    }
}

fn problems(policy: &str, calls: &[ApiCall]) -> Vec<String> {
    let t = one_function(policy);
    let statements = t.statements("OtpGenerateFunction", &test_stack()).unwrap();
    authorization::check("OtpGenerateFunction", &statements, None, calls, &arns())
}

#[test]
fn a_missing_permission_names_the_function_and_the_action() {
    let policy = "        - Statement:\n            - Effect: Allow\n              Action: dynamodb:UpdateItem\n              Resource: !GetAtt Table.Arn\n";
    let found = problems(policy, &[get_item("CLIENT#")]);
    assert!(
        found.iter().any(|p| p.starts_with(
            "OtpGenerateFunction needs dynamodb:GetItem on arn:aws:dynamodb:us-east-1:123456789012:table/t"
        )),
        "{found:#?}"
    );
    assert!(found.iter().any(|p| p.contains("allows dynamodb:UpdateItem, which no call needed")), "{found:#?}");
}

#[test]
fn leading_keys_outside_the_patterns_are_refused() {
    let policy = "        - Statement:\n            - Effect: Allow\n              Action: dynamodb:GetItem\n              Resource: !Sub ${Table.Arn}\n              Condition:\n                ForAllValues:StringLike:\n                  dynamodb:LeadingKeys: [PROJECT#*, LOG#*]\n";
    let found = problems(policy, &[get_item("PROJECT#"), get_item("ADMIN")]);
    assert_eq!(
        found,
        [
            "OtpGenerateFunction needs dynamodb:GetItem on arn:aws:dynamodb:us-east-1:123456789012:table/t \
             (dynamodb:LeadingKeys ADMIN), which no statement of its policy allows",
            "OtpGenerateFunction: Policies[0].Statement[0] allows dynamodb:LeadingKeys LOG#*, which no call needed",
        ]
    );
}

#[test]
fn an_empty_parameter_drops_what_its_condition_guards() {
    let t = Template::parse(
        "Parameters:\n  SesConfigurationSet: { Type: String, Default: '' }\nConditions:\n  HasSet: !Not [!Equals [!Ref SesConfigurationSet, '']]\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n        - Statement:\n            - Effect: Allow\n              Action: ses:SendEmail\n              Resource:\n                - !Sub arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*\n                - !If [HasSet, !Sub 'arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${SesConfigurationSet}', !Ref AWS::NoValue]\n",
    );
    let mut stack = test_stack();
    let resources = |stack: &Stack| t.statements("F", stack).unwrap()[0].resources.clone();
    assert_eq!(resources(&stack), ["arn:aws:ses:us-east-1:123456789012:identity/*"]);
    stack.parameters.insert("SesConfigurationSet".into(), "events".into());
    assert_eq!(
        resources(&stack),
        [
            "arn:aws:ses:us-east-1:123456789012:identity/*",
            "arn:aws:ses:us-east-1:123456789012:configuration-set/events"
        ]
    );
}

/// Runs `script` after translating `template.yaml` with SAM's own
/// translator (the one `sam validate` and `sam deploy` run) into `out`, and
/// returns what it prints.
fn translated(script: &str) -> Vec<u8> {
    let prelude = r#"
import json, re, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
class NoPolicyNames:
    def load(self):
        return {}
t = yaml_parse(open(sys.argv[1]).read())
for r in t["Resources"].values():
    if r.get("Type") == "AWS::Serverless::Function":
        r["Properties"]["CodeUri"] = "s3://bucket/key"
out = transform(t, {}, NoPolicyNames())
"#;
    let out = std::process::Command::new(secure2fa_contract::moto::venv_python())
        .args(["-c", &format!("{prelude}{script}"), concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")])
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("SAM_CLI_TELEMETRY", "0")
        .output()
        .expect("the venv's python runs");
    assert!(out.status.success(), "SAM's translator failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn sam_attaches_exactly_the_managed_policies_the_check_models() {
    let out = translated(
        r#"
print(json.dumps({n[: -len("Role")]: r["Properties"].get("ManagedPolicyArns", [])
                  for n, r in out["Resources"].items() if r["Type"] == "AWS::IAM::Role"}))
"#,
    );
    let mut roles: BTreeMap<String, Vec<String>> = serde_json::from_slice(&out).unwrap();
    // CodeDeploy's role for the traffic shifting of DeploymentPreference.
    let code_deploy = roles.remove("CodeDeployService").expect("SAM adds CodeDeploy's role");
    assert_eq!(code_deploy, ["arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"]);
    let template = Template::load();
    for function in template.functions() {
        let attached: Vec<&str> = roles[&function].iter().map(|arn| arn.rsplit('/').next().unwrap()).collect();
        assert_eq!(attached, template.implicit_policies(&function).unwrap(), "{function}");
    }
    assert_eq!(roles.len(), template.functions().len());
}

/// CloudFormation refuses a stack whose resources depend on each other in a
/// circle (through `Ref`, `GetAtt`, `Sub`, `DependsOn` or an alias's
/// `UpdatePolicy`), which `sam validate --lint` does not see: an alarm on
/// the HTTP API gating the functions' deployments is one.
#[test]
fn the_deployed_stack_has_no_circular_dependency() {
    let out = translated(
        r#"
res = out["Resources"]
def refs(v, acc):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "Ref" and isinstance(x, str):
                acc.add(x)
            elif k == "Fn::GetAtt":
                acc.add(x[0] if isinstance(x, list) else x.split(".")[0])
            elif k == "Fn::Sub":
                text = x if isinstance(x, str) else x[0]
                acc.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!][^}]*)\}", text))
                if not isinstance(x, str):
                    refs(x[1], acc)
            else:
                refs(x, acc)
    elif isinstance(v, list):
        for x in v:
            refs(x, acc)
graph = {}
for name, r in res.items():
    acc = set()
    refs(r.get("Properties", {}), acc)
    refs(r.get("UpdatePolicy", {}), acc)
    d = r.get("DependsOn", [])
    acc.update([d] if isinstance(d, str) else d)
    graph[name] = sorted(a for a in acc if a in res)
print(json.dumps(graph))
"#,
    );
    let graph: BTreeMap<String, Vec<String>> = serde_json::from_slice(&out).unwrap();
    assert!(graph.len() > 50, "the translated stack has its resources ({})", graph.len());
    // Depth-first search; a node met again on the current path closes a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, Vec<String>>,
        done: &mut std::collections::BTreeSet<&'a str>,
        path: &mut Vec<&'a str>,
    ) -> Option<String> {
        if let Some(i) = path.iter().position(|n| *n == node) {
            return Some(format!("{} -> {node}", path[i..].join(" -> ")));
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for next in &graph[node] {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut done, &mut Vec::new()) {
            panic!("circular dependency: {cycle}");
        }
    }
}

/// The patterns of `dynamodb:LeadingKeys` against key shapes (ids as `*`):
/// a pattern's `*` spans `#`, and the end-user pattern does not reach the
/// project item or the send counters.
#[test]
fn leading_key_patterns_match_key_shapes_as_iam_would_the_keys() {
    use authorization::wildcard;
    assert!(wildcard("LOG#*", "LOG#*#*"));
    assert!(wildcard("PROJECT#*", "PROJECT#*#USER#*"));
    assert!(wildcard("PROJECT#*#USER#*", "PROJECT#*#USER#*"));
    assert!(wildcard("PROJECT#*#USER#*", "PROJECT#prj_1#USER#3fa2"));
    assert!(!wildcard("PROJECT#*#USER#*", "PROJECT#*"), "not the project item");
    assert!(!wildcard("PROJECT#*#USER#*", "PROJECT#prj_1"));
    assert!(!wildcard("PROJECT#*#USER#*", "PROJECT#*#SENDS#*"));
    assert!(!wildcard("QUOTA#*", "PROJECT#*#USER#*"));
}

/// Every function's canary deployment rolls back on its own `Errors` alarm
/// and on `ServerErrors`, whatever the Globals list had to leave out to
/// avoid a dependency cycle (the delivery worker's alarm is added on the
/// function itself).
#[test]
fn every_deployment_is_gated_by_its_own_errors_alarm() {
    let out = translated(
        r#"
groups = {}
for name, r in out["Resources"].items():
    if r["Type"] == "AWS::CodeDeploy::DeploymentGroup":
        alarms = r["Properties"]["AlarmConfiguration"]["Alarms"]
        groups[name] = sorted(a["Name"]["Ref"] for a in alarms)
print(json.dumps(groups))
"#,
    );
    let groups: std::collections::BTreeMap<String, Vec<String>> = serde_json::from_slice(&out).unwrap();
    let functions = ["OtpGenerate", "OtpVerify", "ManagementApi", "Receipts", "DeliveryWorker", "WebhookWorker"];
    assert_eq!(groups.len(), functions.len(), "{groups:?}");
    for f in functions {
        let alarms = &groups[&format!("{f}FunctionDeploymentGroup")];
        for needed in [format!("{f}ErrorsAlarm"), "ServerErrorsAlarm".to_owned()] {
            assert!(alarms.contains(&needed), "{f}'s deployment is not gated by {needed}: {alarms:?}");
        }
    }
}
