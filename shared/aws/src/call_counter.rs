//! Counts AWS API calls per service and operation, as an SDK interceptor.
//! Used by the hot-path budget test (DESIGN §8) and the cost benchmark.
//! `TransactWriteItems` is also counted per item: each item is a write.
//!
//! A [recording](CallCounter::recording) counter also keeps each call as IAM
//! would authorise it ([`ApiCall`]: the resource it names, the partition keys
//! it touches, the KMS encryption context's entity, the SES configuration
//! set), so a test can check a function's policy against what it really did.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{BeforeSerializationInterceptorContextRef, Input};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The partition key attribute of the table, and of an index `<name>` the
/// attribute `<name>pk` (`infra/dynamodb.md`, `dynamodb::table`).
const TABLE_PARTITION_KEY: &str = "pk";

/// One call, or one item of a `TransactWriteItems`, with what an IAM policy
/// is evaluated against. Ids and secrets are left out: partition keys keep
/// only their shape (`PROJECT#*#USER#*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// The SDK's service name, lower case: `dynamodb`, `sqs`, `kms`, `sesv2`, `secretsmanager`.
    pub service: String,
    /// The SDK operation: `UpdateItem`, `SendMessage`, ...
    pub operation: String,
    /// For one item of a `TransactWriteItems`: `Put`, `Update`, `Delete` or `ConditionCheck`.
    pub item: Option<&'static str>,
    /// What the request names: the table, the queue URL, the secret id, the
    /// KMS key id, or the domain of the SES sender address.
    pub resource: Option<String>,
    /// A `Query` or `Scan` of a secondary index.
    pub index: Option<String>,
    /// DynamoDB: the partition key values touched (what `dynamodb:LeadingKeys`
    /// sees), each with its ids replaced by `*`: `PROJECT#*#USER#*`,
    /// `LOG#*#*`, `ADMIN`.
    /// `?` marks a key that could not be read from the request.
    pub partition_keys: Vec<String>,
    /// KMS: the `entity` of the encryption context.
    pub key_entity: Option<String>,
    /// SES: the configuration set the message is sent with.
    pub configuration_set: Option<String>,
    /// SQS `StartMessageMoveTask`: the queue the messages move to (the
    /// source queue's ARN is `resource`).
    pub destination: Option<String>,
}

impl ApiCall {
    fn new(service: &str, operation: &str) -> Self {
        Self {
            service: service.to_owned(),
            operation: operation.to_owned(),
            item: None,
            resource: None,
            index: None,
            partition_keys: Vec::new(),
            key_entity: None,
            configuration_set: None,
            destination: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
    /// `Some` for a recording counter.
    log: Option<Arc<Mutex<Vec<ApiCall>>>>,
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter that also keeps every call ([`CallCounter::recorded`]).
    pub fn recording() -> Self {
        Self { log: Some(Arc::default()), ..Self::default() }
    }

    /// Calls by `"service.Operation"` (plus `"dynamodb.TransactWriteItems.items"`).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The calls since the last reset, in order (empty unless recording).
    pub fn recorded(&self) -> Vec<ApiCall> {
        self.log.as_ref().map(|l| l.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default()
    }

    pub fn reset(&self) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clear();
        if let Some(l) = &self.log {
            l.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    pub fn get(&self, key: &str) -> u64 {
        self.snapshot().get(key).copied().unwrap_or(0)
    }

    fn add(&self, key: String, n: u64) {
        *self.calls.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default() += n;
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Not `read_before_execution`: for client-level interceptors it runs
    // before the operation's metadata is in the config bag. This runs once
    // per operation (retries re-send the serialized request).
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else { return Ok(()) };
        // `Secrets Manager` → `secretsmanager`, as in endpoints and IAM.
        let service = meta.service().to_ascii_lowercase().replace(' ', "");
        let key = format!("{service}.{}", meta.name());
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
        if meta.name() == "TransactWriteItems"
            && let Some(input) = context.input().downcast_ref::<TransactWriteItemsInput>()
        {
            self.add(format!("{key}.items"), input.transact_items().len() as u64);
        }
        self.add(key, 1);
        if let Some(log) = &self.log {
            let calls = describe(&service, meta.name(), context.input());
            log.lock().unwrap_or_else(|e| e.into_inner()).extend(calls);
        }
        Ok(())
    }
}

/// A partition key value as `dynamodb:LeadingKeys` would see it, with its
/// shape kept and every id replaced by `*`: `PROJECT#prj_1#USER#3fa2` →
/// `PROJECT#*#USER#*`. Segments in capitals are entity kinds and kept; ids,
/// blind indexes (lower-case hex) and shard numbers are not.
fn key_kind(value: Option<&AttributeValue>) -> String {
    match value {
        Some(AttributeValue::S(v)) => v
            .split('#')
            .map(|segment| {
                let kind = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_uppercase());
                if kind { segment } else { "*" }
            })
            .collect::<Vec<_>>()
            .join("#"),
        _ => "?".to_owned(),
    }
}

fn partition_of(key: &HashMap<String, AttributeValue>) -> String {
    key_kind(key.get(TABLE_PARTITION_KEY))
}

/// The partition key value of a `Query`: the equality on the table's (or
/// index's) partition key attribute in its key condition.
fn queried_partition(
    index: Option<&str>,
    condition: Option<&str>,
    names: Option<&HashMap<String, String>>,
    values: Option<&HashMap<String, AttributeValue>>,
) -> String {
    let attr = index.map(|i| format!("{i}pk")).unwrap_or_else(|| TABLE_PARTITION_KEY.to_owned());
    let resolve = |token: &str| names.and_then(|n| n.get(token)).cloned().unwrap_or_else(|| token.to_owned());
    let clause = condition.unwrap_or_default().split(" AND ").find_map(|clause| {
        let (name, value) = clause.trim().trim_start_matches('(').trim_end_matches(')').split_once('=')?;
        (resolve(name.trim()) == attr).then(|| value.trim().to_owned())
    });
    key_kind(clause.and_then(|placeholder| values.and_then(|v| v.get(&placeholder))))
}

fn dynamodb(operation: &str, input: &Input) -> Vec<ApiCall> {
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
    use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
    use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
    use aws_sdk_dynamodb::operation::get_item::GetItemInput;
    use aws_sdk_dynamodb::operation::put_item::PutItemInput;
    use aws_sdk_dynamodb::operation::query::QueryInput;
    use aws_sdk_dynamodb::operation::scan::ScanInput;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;

    let call = |table: Option<&str>, keys: Vec<String>| ApiCall {
        resource: table.map(str::to_owned),
        partition_keys: keys,
        ..ApiCall::new("dynamodb", operation)
    };
    let one = |table: Option<&str>, key: Option<&HashMap<String, AttributeValue>>| {
        vec![call(table, vec![key.map(partition_of).unwrap_or_else(|| "?".to_owned())])]
    };
    if let Some(i) = input.downcast_ref::<GetItemInput>() {
        one(i.table_name(), i.key())
    } else if let Some(i) = input.downcast_ref::<PutItemInput>() {
        one(i.table_name(), i.item())
    } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
        one(i.table_name(), i.key())
    } else if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
        one(i.table_name(), i.key())
    } else if let Some(i) = input.downcast_ref::<QueryInput>() {
        let key = queried_partition(
            i.index_name(),
            i.key_condition_expression(),
            i.expression_attribute_names(),
            i.expression_attribute_values(),
        );
        vec![ApiCall { index: i.index_name().map(str::to_owned), ..call(i.table_name(), vec![key]) }]
    } else if let Some(i) = input.downcast_ref::<ScanInput>() {
        vec![ApiCall { index: i.index_name().map(str::to_owned), ..call(i.table_name(), vec![]) }]
    } else if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
        let tables = i.request_items().into_iter().flatten();
        tables.map(|(table, k)| call(Some(table), k.keys().iter().map(partition_of).collect())).collect()
    } else if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
        let tables = i.request_items().into_iter().flatten();
        tables
            .map(|(table, requests)| {
                let keys = requests.iter().map(|r| match (r.put_request(), r.delete_request()) {
                    (Some(p), _) => partition_of(p.item()),
                    (_, Some(d)) => partition_of(d.key()),
                    _ => "?".to_owned(),
                });
                call(Some(table), keys.collect())
            })
            .collect()
    } else if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
        // IAM authorises each item as its own action (PutItem, ...).
        i.transact_items()
            .iter()
            .map(|t| {
                let (kind, table, key) = if let Some(p) = t.put() {
                    ("Put", p.table_name(), p.item())
                } else if let Some(u) = t.update() {
                    ("Update", u.table_name(), u.key())
                } else if let Some(d) = t.delete() {
                    ("Delete", d.table_name(), d.key())
                } else if let Some(c) = t.condition_check() {
                    ("ConditionCheck", c.table_name(), c.key())
                } else {
                    return ApiCall { item: Some("?"), ..call(None, vec!["?".to_owned()]) };
                };
                ApiCall { item: Some(kind), ..call(Some(table), vec![partition_of(key)]) }
            })
            .collect()
    } else {
        vec![call(None, vec![])]
    }
}

fn queue_url(input: &Input) -> Option<String> {
    use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityInput;
    use aws_sdk_sqs::operation::delete_message::DeleteMessageInput;
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesInput;
    use aws_sdk_sqs::operation::receive_message::ReceiveMessageInput;
    use aws_sdk_sqs::operation::send_message::SendMessageInput;
    let url = if let Some(i) = input.downcast_ref::<SendMessageInput>() {
        i.queue_url()
    } else if let Some(i) = input.downcast_ref::<ChangeMessageVisibilityInput>() {
        i.queue_url()
    } else if let Some(i) = input.downcast_ref::<ReceiveMessageInput>() {
        i.queue_url()
    } else if let Some(i) = input.downcast_ref::<DeleteMessageInput>() {
        i.queue_url()
    } else if let Some(i) = input.downcast_ref::<GetQueueAttributesInput>() {
        i.queue_url()
    } else {
        None
    };
    url.map(str::to_owned)
}

/// `(key id, entity of the encryption context)` of a KMS call.
fn kms_key(input: &Input) -> (Option<String>, Option<String>) {
    use aws_sdk_kms::operation::decrypt::DecryptInput;
    use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyInput;
    let (key, context) = if let Some(i) = input.downcast_ref::<DecryptInput>() {
        (i.key_id(), i.encryption_context())
    } else if let Some(i) = input.downcast_ref::<GenerateDataKeyInput>() {
        (i.key_id(), i.encryption_context())
    } else {
        (None, None)
    };
    (key.map(str::to_owned), context.and_then(|c| c.get("entity")).cloned())
}

fn describe(service: &str, operation: &str, input: &Input) -> Vec<ApiCall> {
    let call = ApiCall::new(service, operation);
    match service {
        "dynamodb" => dynamodb(operation, input),
        "sqs" => {
            use aws_sdk_sqs::operation::start_message_move_task::StartMessageMoveTaskInput;
            match input.downcast_ref::<StartMessageMoveTaskInput>() {
                Some(i) => vec![ApiCall {
                    resource: i.source_arn().map(str::to_owned),
                    destination: i.destination_arn().map(str::to_owned),
                    ..call
                }],
                None => vec![ApiCall { resource: queue_url(input), ..call }],
            }
        }
        "kms" => {
            let (resource, key_entity) = kms_key(input);
            vec![ApiCall { resource, key_entity, ..call }]
        }
        "secretsmanager" => {
            use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueInput;
            let id = input.downcast_ref::<GetSecretValueInput>().and_then(|i| i.secret_id()).map(str::to_owned);
            vec![ApiCall { resource: id, ..call }]
        }
        "sesv2" => {
            use aws_sdk_sesv2::operation::send_email::SendEmailInput;
            let Some(i) = input.downcast_ref::<SendEmailInput>() else { return vec![call] };
            // The identity authorised is the sender's (its domain here).
            let domain = i.from_email_address().map(|a| a.rsplit('@').next().unwrap_or(a).to_owned());
            vec![ApiCall { resource: domain, configuration_set: i.configuration_set_name().map(str::to_owned), ..call }]
        }
        _ => vec![call],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_key_keeps_its_shape_and_loses_its_ids() {
        assert_eq!(key_kind(Some(&AttributeValue::S("PROJECT#prj_1".into()))), "PROJECT#*");
        assert_eq!(key_kind(Some(&AttributeValue::S("PROJECT#prj_1#USER#3fa2c0".into()))), "PROJECT#*#USER#*");
        assert_eq!(key_kind(Some(&AttributeValue::S("LOG#prj_1#07".into()))), "LOG#*#*");
        assert_eq!(key_kind(Some(&AttributeValue::S("CLIENT#c#PROJECTS".into()))), "CLIENT#*#PROJECTS");
        assert_eq!(key_kind(Some(&AttributeValue::S("ADMIN".into()))), "ADMIN");
        assert_eq!(key_kind(Some(&AttributeValue::N("1".into()))), "?");
        assert_eq!(key_kind(None), "?");
    }

    #[test]
    fn a_query_names_the_partition_of_its_table_or_index() {
        let names = HashMap::from([("#pk".to_owned(), "pk".to_owned()), ("#gsi1pk".to_owned(), "gsi1pk".to_owned())]);
        let values = HashMap::from([
            (":pk".to_owned(), AttributeValue::S("LOG#prj_1".into())),
            (":before".to_owned(), AttributeValue::S("SORT#x".into())),
        ]);
        let table = queried_partition(None, Some("#sk < :before AND #pk = :pk"), Some(&names), Some(&values));
        assert_eq!(table, "LOG#*");
        let index = queried_partition(Some("gsi1"), Some("#gsi1pk = :pk"), Some(&names), Some(&values));
        assert_eq!(index, "LOG#*");
        assert_eq!(queried_partition(Some("gsi2"), Some("#gsi1pk = :pk"), Some(&names), Some(&values)), "?");
    }
}
