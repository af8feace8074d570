//! `template.yaml` read as an operator would: every alarm can actually
//! publish to its topic, and what outlives the stack is retained.

use serde_norway::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The logical id a `!Ref X` or `!GetAtt X.Arn` points at.
fn referenced(v: &Value) -> Option<String> {
    if let Value::Tagged(tagged) = v {
        let target = tagged.value.as_str()?;
        return Some(target.split('.').next().unwrap().to_owned());
    }
    None
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Sequence(items) => items.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

fn strings(v: &Value) -> Vec<String> {
    as_list(v).iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()
}

/// Whether `policy` lets `service` do `action` (an exact action or a `*` pattern).
fn allows(policy: &Value, service: &str, action: &str) -> bool {
    as_list(&policy["Statement"]).iter().any(|st| {
        st["Effect"] == "Allow"
            && strings(&st["Principal"]["Service"]).iter().any(|s| s == service)
            && strings(&st["Action"]).iter().any(|a| match a.strip_suffix('*') {
                Some(prefix) => action.starts_with(prefix),
                None => a == action,
            })
    })
}

#[test]
fn every_alarm_can_publish_to_its_topic() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    let mut alarms = 0;
    for (name, r) in resources {
        if r["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        alarms += 1;
        for action in as_list(&r["Properties"]["AlarmActions"]) {
            let topic_id =
                referenced(&action).unwrap_or_else(|| panic!("{name:?}: action is not a topic of the stack"));
            let topic = &t["Resources"][topic_id.as_str()];
            assert_eq!(topic["Type"], "AWS::SNS::Topic", "{name:?} → {topic_id}");
            // Encrypted with a key CloudWatch may use: ours, with a policy
            // saying so (the AWS-managed alias/aws/sns never allows it).
            let key = &topic["Properties"]["KmsMasterKeyId"];
            if !key.is_null() {
                let key_id =
                    referenced(key).unwrap_or_else(|| panic!("{topic_id}: key {key:?} is not a key of the stack"));
                let policy = &t["Resources"][key_id.as_str()]["Properties"]["KeyPolicy"];
                for needed in ["kms:Decrypt", "kms:GenerateDataKey"] {
                    assert!(
                        allows(policy, "cloudwatch.amazonaws.com", needed),
                        "{key_id} does not allow CloudWatch {needed}"
                    );
                }
            }
            // And the topic's policy lets CloudWatch publish.
            let published = resources.values().any(|p| {
                p["Type"] == "AWS::SNS::TopicPolicy"
                    && as_list(&p["Properties"]["Topics"]).iter().any(|x| referenced(x).as_deref() == Some(&topic_id))
                    && allows(&p["Properties"]["PolicyDocument"], "cloudwatch.amazonaws.com", "sns:Publish")
            });
            assert!(published, "no topic policy lets CloudWatch publish to {topic_id}");
        }
    }
    assert!(alarms >= 3, "alarms found: {alarms}");
}

#[test]
fn what_outlives_the_stack_is_retained() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    for (name, r) in resources {
        let kind = r["Type"].as_str().unwrap();
        let name = name.as_str().unwrap();
        // Data and its keys, the secret that keys the blind indexes, codes
        // waiting in dead-letter queues, and the logs an incident needs.
        let must = matches!(kind, "AWS::DynamoDB::Table" | "AWS::Logs::LogGroup")
            || name == "KmsKey"
            || name == "DeploymentSecret"
            || name.ends_with("DeadLetterQueue");
        if must {
            assert_eq!(r["DeletionPolicy"], "Retain", "{name}");
            assert_eq!(r["UpdateReplacePolicy"], "Retain", "{name}");
        }
    }
}

fn function_timeout(t: &Value, function: &str) -> u64 {
    let f = &t["Resources"][function]["Properties"];
    f.get("Timeout").unwrap_or(&t["Globals"]["Function"]["Timeout"]).as_u64().unwrap()
}

/// Each queue consumer: the queue hides a message for at least six times the
/// function's timeout (AWS's advice, so a retried invocation never overlaps
/// a running one), concurrency is capped, and a webhook post ends well
/// before the function does.
#[test]
fn queue_consumers_have_room_and_a_ceiling() {
    let t = template();
    for (function, queue) in [("DeliveryWorkerFunction", "DeliveryQueue"), ("WebhookWorkerFunction", "WebhookQueue")] {
        let timeout = function_timeout(&t, function);
        let visibility = t["Resources"][queue]["Properties"]["VisibilityTimeout"].as_u64().unwrap();
        assert!(visibility >= 6 * timeout, "{queue}: visibility {visibility} s < 6 x {timeout} s");
        let events = t["Resources"][function]["Properties"]["Events"].as_mapping().unwrap();
        let sqs = events.values().find(|e| e["Type"] == "SQS").unwrap_or_else(|| panic!("{function} has no SQS event"));
        let cap = &sqs["Properties"]["ScalingConfig"]["MaximumConcurrency"];
        let parameter = referenced(cap).unwrap_or_else(|| panic!("{function}: no MaximumConcurrency"));
        assert!(t["Parameters"][parameter.as_str()]["Default"].as_u64().unwrap() >= 2, "{parameter}");
    }
    let webhook = secure2fa_providers::HttpWebhookPoster::DEFAULT_TIMEOUT.as_secs();
    let timeout = function_timeout(&t, "WebhookWorkerFunction");
    assert!(2 * webhook <= timeout, "a webhook post ({webhook} s) must end well before the worker ({timeout} s)");
}

fn default_of(t: &Value, v: &Value) -> u64 {
    let parameter = referenced(v).unwrap_or_else(|| panic!("{v:?} is not a parameter"));
    t["Parameters"][parameter.as_str()]["Default"].as_u64().unwrap()
}

/// The API's callers are backends: no per-IP limit by default, and the
/// stage throttles each route explicitly, the management API tighter than
/// the OTP calls.
#[test]
fn routes_are_throttled_per_route_and_not_per_ip() {
    let t = template();
    assert_eq!(t["Parameters"]["IpLimitPerMinute"]["Default"].as_u64(), Some(0));
    let routes = &t["Resources"]["HttpApi"]["Properties"]["RouteSettings"];
    let rate = |route: &str| default_of(&t, &routes[route]["ThrottlingRateLimit"]);
    let burst = |route: &str| default_of(&t, &routes[route]["ThrottlingBurstLimit"]);
    for otp in ["POST /otp/generate", "POST /otp/verify"] {
        for management in ["ANY /v1/{proxy+}", "ANY /{proxy+}", "GET /"] {
            assert!(rate(management) < rate(otp) && burst(management) < burst(otp), "{management} vs {otp}");
        }
    }
    // Every route the functions serve has its own setting.
    for (_, r) in t["Resources"].as_mapping().unwrap() {
        let Some(events) = r["Properties"]["Events"].as_mapping() else { continue };
        for e in events.values().filter(|e| e["Type"] == "HttpApi") {
            let key = format!(
                "{} {}",
                e["Properties"]["Method"].as_str().unwrap(),
                e["Properties"]["Path"].as_str().unwrap()
            );
            assert!(!routes[key.as_str()].is_null(), "no RouteSettings for {key}");
        }
    }
}

/// Every resource that takes tags carries the `application` tag from the
/// `ApplicationTag` parameter (functions through `Globals`).
#[test]
fn every_taggable_resource_is_tagged_from_the_parameter() {
    let t = template();
    assert_eq!(referenced(&t["Globals"]["Function"]["Tags"]["application"]).as_deref(), Some("ApplicationTag"));
    let untaggable = [
        "AWS::KMS::Alias",
        "AWS::SNS::Subscription",
        "AWS::SNS::TopicPolicy",
        "AWS::Serverless::Function",
        "AWS::SES::ConfigurationSetEventDestination",
    ];
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        let kind = r["Type"].as_str().unwrap();
        if untaggable.contains(&kind) {
            continue;
        }
        let tags = &r["Properties"]["Tags"];
        let value = match tags {
            Value::Sequence(list) => {
                list.iter().find(|tag| tag["Key"] == "application").map(|tag| tag["Value"].clone())
            }
            Value::Mapping(map) => map.get("application").cloned(),
            _ => None,
        };
        let value = value.unwrap_or_else(|| panic!("{name:?} ({kind}) has no application tag"));
        assert_eq!(referenced(&value).as_deref(), Some("ApplicationTag"), "{name:?}");
    }
}

/// The constant of each metric, as the code names it.
const METRIC_CONSTANTS: [(&str, &str); 5] = [
    ("SERVER_ERRORS", secure2fa_core::metrics::SERVER_ERRORS),
    ("DELIVERIES_FAILED", secure2fa_core::metrics::DELIVERIES_FAILED),
    ("WEBHOOKS_DEAD_LETTERED", secure2fa_core::metrics::WEBHOOKS_DEAD_LETTERED),
    ("LOG_WRITES_DROPPED", secure2fa_core::metrics::LOG_WRITES_DROPPED),
    ("KEY_VAULT_ERRORS", secure2fa_core::metrics::KEY_VAULT_ERRORS),
];

fn rust_sources(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tests" && n != "target") {
                rust_sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// Every alarm on our own namespace watches a metric the code emits (a
/// `metrics::count` call outside the module that names them), for this
/// stack's `Service` dimension; and every metric the code emits has one.
#[test]
fn every_custom_metric_alarm_watches_a_metric_the_code_emits() {
    let t = template();
    assert_eq!(
        referenced(&t["Globals"]["Function"]["Environment"]["Variables"]["METRICS_SERVICE"]).as_deref(),
        Some("AWS::StackName")
    );
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut sources = Vec::new();
    rust_sources(&root.join("shared"), &mut sources);
    let emitted = |constant: &str| {
        let call = format!("metrics::{constant},");
        sources.iter().any(|(path, text)| {
            !path.ends_with("metrics.rs") && text.contains(&call) && text.contains("metrics::count(")
        })
    };
    let mut watched = std::collections::BTreeSet::new();
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        let p = &r["Properties"];
        if r["Type"] != "AWS::CloudWatch::Alarm" || p["Namespace"] != secure2fa_core::metrics::NAMESPACE {
            continue;
        }
        let metric = p["MetricName"].as_str().unwrap();
        let (constant, _) = METRIC_CONSTANTS
            .iter()
            .find(|(_, m)| *m == metric)
            .unwrap_or_else(|| panic!("{name:?} watches {metric}, which the code does not define"));
        assert!(emitted(constant), "{name:?}: nothing calls metrics::count(metrics::{constant}, ..)");
        let dims = as_list(&p["Dimensions"]);
        assert_eq!(dims.len(), 1, "{name:?}");
        assert_eq!(
            (dims[0]["Name"].as_str(), referenced(&dims[0]["Value"]).as_deref()),
            (Some("Service"), Some("AWS::StackName"))
        );
        watched.insert(metric.to_owned());
    }
    let all: std::collections::BTreeSet<String> = secure2fa_core::metrics::ALL.iter().map(|m| m.to_string()).collect();
    assert_eq!(watched, all, "every emitted metric has an alarm");
    assert_eq!(METRIC_CONSTANTS.len(), secure2fa_core::metrics::ALL.len());
}

/// Each function has a throttle alarm and a p99 duration alarm at 80 % of
/// its timeout.
#[test]
fn every_function_has_throttle_and_duration_alarms() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    for (function, r) in resources {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let function = function.as_str().unwrap();
        let on = |metric: &str| {
            resources.values().find(|a| {
                a["Type"] == "AWS::CloudWatch::Alarm"
                    && a["Properties"]["MetricName"] == metric
                    && as_list(&a["Properties"]["Dimensions"])
                        .iter()
                        .any(|d| referenced(&d["Value"]).as_deref() == Some(function))
            })
        };
        assert!(on("Throttles").is_some(), "{function}: no throttle alarm");
        let duration = on("Duration").unwrap_or_else(|| panic!("{function}: no duration alarm"));
        let threshold = duration["Properties"]["Threshold"].as_u64().unwrap();
        assert_eq!(threshold, function_timeout(&t, function) * 800, "{function}: 80 % of the timeout, in ms");
    }
}

/// The delivery worker can be given every provider base URL the code reads
/// (`ProviderEndpoints::KEYS`), each from its own parameter, unset by default.
#[test]
fn the_delivery_worker_takes_every_provider_override_from_a_parameter() {
    let t = template();
    let env = &t["Resources"]["DeliveryWorkerFunction"]["Properties"]["Environment"]["Variables"];
    for (_, key) in secure2fa_providers::ProviderEndpoints::KEYS {
        let Value::Tagged(tagged) = &env[key] else { panic!("{key} is not set from a parameter: {:?}", env[key]) };
        let parts = as_list(&tagged.value);
        let parameter = referenced(&parts[1]).unwrap_or_else(|| panic!("{key}"));
        assert_eq!(t["Parameters"][parameter.as_str()]["Default"].as_str(), Some(""), "{key}: empty by default");
        assert_eq!(referenced(&parts[2]).as_deref(), Some("AWS::NoValue"), "{key}: unset unless given");
    }
}

/// SES bounce and complaint rates are alarmed on the configuration set the
/// stack creates, which is the one the delivery worker sends with and whose
/// events reach CloudWatch under the dimension the alarms read.
#[test]
fn ses_bounce_and_complaint_rates_are_alarmed_on_the_stacks_configuration_set() {
    let t = template();
    let r = &t["Resources"];
    assert_eq!(r["SesConfigurationSet"]["Type"], "AWS::SES::ConfigurationSet");
    let env = &r["DeliveryWorkerFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(referenced(&env["SES_CONFIGURATION_SET"]).as_deref(), Some("SesConfigurationSet"));

    let destination = &r["SesEventsToCloudWatch"]["Properties"];
    assert_eq!(referenced(&destination["ConfigurationSetName"]).as_deref(), Some("SesConfigurationSet"));
    let events = strings(&destination["EventDestination"]["MatchingEventTypes"]);
    for needed in ["send", "bounce", "complaint"] {
        assert!(events.iter().any(|e| e == needed), "{needed} events are published: {events:?}");
    }
    assert_eq!(destination["EventDestination"]["Enabled"], true);
    let dimensions = as_list(&destination["EventDestination"]["CloudWatchDestination"]["DimensionConfigurations"]);
    assert!(
        dimensions
            .iter()
            .any(|d| d["DimensionName"] == "ses:configuration-set" && d["DimensionValueSource"] == "messageTag"),
        "{dimensions:?}"
    );

    for (alarm, events) in [("SesBounceRateAlarm", "Bounce"), ("SesComplaintRateAlarm", "Complaint")] {
        let p = &r[alarm]["Properties"];
        assert_eq!(r[alarm]["Type"], "AWS::CloudWatch::Alarm", "{alarm}");
        assert!(as_list(&p["AlarmActions"]).iter().any(|a| referenced(a).as_deref() == Some("AlarmTopic")), "{alarm}");
        let mut watched = Vec::new();
        for m in as_list(&p["Metrics"]) {
            let metric = &m["MetricStat"]["Metric"];
            if metric.is_null() {
                continue;
            }
            assert_eq!(metric["Namespace"], "AWS/SES", "{alarm}");
            let dims = as_list(&metric["Dimensions"]);
            assert!(
                dims.iter().any(|d| d["Name"] == "ses:configuration-set"
                    && referenced(&d["Value"]).as_deref() == Some("SesConfigurationSet")),
                "{alarm} reads the stack's configuration set: {dims:?}"
            );
            watched.push(metric["MetricName"].as_str().unwrap().to_owned());
        }
        watched.sort();
        assert_eq!(watched, [events, "Send"], "{alarm} divides {events} by Send");
        let expression = as_list(&p["Metrics"]).iter().find_map(|m| m["Expression"].as_str().map(str::to_owned));
        assert!(expression.is_some_and(|e| e.contains("/ sends")), "{alarm} alarms on a rate");
    }
}

/// The text of a `!Sub`.
fn sub_text(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(tagged) if tagged.tag == "Sub" => tagged.value.as_str().map(str::to_owned),
        _ => None,
    }
}

/// Each dead-letter queue takes messages only from its own queue
/// (`RedriveAllowPolicy`), and that queue dead-letters into it.
#[test]
fn each_dead_letter_queue_accepts_only_its_own_queue() {
    let t = template();
    let r = &t["Resources"];
    for (queue, dlq) in [("DeliveryQueue", "DeliveryDeadLetterQueue"), ("WebhookQueue", "WebhookDeadLetterQueue")] {
        let target = &r[queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"];
        assert_eq!(referenced(target).as_deref(), Some(dlq), "{queue} dead-letters into {dlq}");
        let name = sub_text(&r[queue]["Properties"]["QueueName"]).unwrap_or_else(|| panic!("{queue} is named"));
        let allow = &r[dlq]["Properties"]["RedriveAllowPolicy"];
        assert_eq!(allow["redrivePermission"], "byQueue", "{dlq}");
        let sources = as_list(&allow["sourceQueueArns"]);
        assert_eq!(sources.len(), 1, "{dlq}: one source queue");
        let arn = sub_text(&sources[0]).unwrap();
        assert_eq!(arn, format!("arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{name}"), "{dlq}");
    }
}

/// Every function deploys through the alias `live` with a canary that an
/// error alarm of each function, and the 5xx-by-route alarm, roll back.
#[test]
fn deployments_shift_traffic_gradually_and_roll_back_on_errors() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["AutoPublishAlias"], "live");
    let preference = &globals["DeploymentPreference"];
    let kind = referenced(&preference["Type"]).expect("the deployment type is a parameter");
    assert!(t["Parameters"][kind.as_str()]["Default"].as_str().unwrap().starts_with("Canary"), "canary by default");
    let alarms: Vec<String> = as_list(&preference["Alarms"]).iter().filter_map(referenced).collect();
    assert!(alarms.contains(&"ServerErrorsAlarm".to_owned()), "{alarms:?}");
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let function = name.as_str().unwrap();
        assert!(r["Properties"]["AutoPublishAlias"].is_null(), "{function} keeps the global alias");
        let errors = format!("{}ErrorsAlarm", function.trim_end_matches("Function"));
        // SAM appends a function's own alarms to the Globals' (checked on the
        // translated stack by iam_policy.rs).
        let own: Vec<String> =
            as_list(&r["Properties"]["DeploymentPreference"]["Alarms"]).iter().filter_map(referenced).collect();
        assert!(
            alarms.contains(&errors) || own.contains(&errors),
            "{function}'s deployment is gated on {errors}: {alarms:?} {own:?}"
        );
        let watched = &t["Resources"][errors.as_str()]["Properties"];
        assert_eq!(watched["MetricName"], "Errors", "{errors}");
        assert!(
            as_list(&watched["Dimensions"]).iter().any(|d| referenced(&d["Value"]).as_deref() == Some(function)),
            "{errors} watches {function}"
        );
    }
}

/// The OTP functions and workers read projects, channels, templates and
/// clients through a short cache (no read per call on a hot project), the
/// management function never (it must read what it just wrote); the code's
/// default is no cache, so a function deployed without the variable reads
/// the table every time.
#[test]
fn only_the_hot_path_caches_management_records() {
    let t = template();
    let global = &t["Globals"]["Function"]["Environment"]["Variables"]["READ_CACHE_TTL_SECONDS"];
    let seconds: u64 = global.as_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&seconds), "a short cache on the hot path: {seconds} s");
    let management = &t["Resources"]["ManagementApiFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(management["READ_CACHE_TTL_SECONDS"], "0");
    let cfg = secure2fa_lambda::config::Config::from_lookup(
        secure2fa_lambda::config::Needs { table: true, ..Default::default() },
        |k| (k == "TABLE_NAME").then(|| "t".to_owned()),
    )
    .unwrap();
    assert_eq!(cfg.read_cache_ttl_seconds, 0, "no cache unless configured");
}
