//! The calls a function made, as the IAM requests AWS would authorise, and
//! the check of those requests against the function's statements: every
//! request allowed, and every action, resource and condition value of the
//! written statements needed by some request.

use std::collections::{BTreeMap, BTreeSet};

use secure2fa_aws::call_counter::ApiCall;

use super::sam_template::Statement;

/// ARNs of the test stack's resources, built the way AWS writes them.
#[derive(Debug, Clone)]
pub struct Arns {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Arns {
    fn arn(&self, service: &str, rest: &str) -> String {
        format!("arn:{}:{service}:{}:{}:{rest}", self.partition, self.region, self.account)
    }
    pub fn table(&self, name: &str) -> String {
        self.arn("dynamodb", &format!("table/{name}"))
    }
    /// `https://host/<account>/<name>` → `arn:...:sqs:<region>:<account>:<name>`
    /// (an ARN stays as it is).
    pub fn queue(&self, url: &str) -> String {
        if url.starts_with("arn:") {
            return url.to_owned();
        }
        let mut parts = url.trim_end_matches('/').rsplit('/');
        let name = parts.next().unwrap_or_default();
        let account = parts.next().unwrap_or(&self.account);
        format!("arn:{}:sqs:{}:{account}:{name}", self.partition, self.region)
    }
    pub fn key(&self, id: &str) -> String {
        if id.starts_with("arn:") { id.to_owned() } else { self.arn("kms", &format!("key/{id}")) }
    }
    pub fn ses_identity(&self, identity: &str) -> String {
        self.arn("ses", &format!("identity/{identity}"))
    }
    pub fn ses_configuration_set(&self, name: &str) -> String {
        self.arn("ses", &format!("configuration-set/{name}"))
    }
}

pub const LEADING_KEYS: &str = "dynamodb:LeadingKeys";
pub const KMS_ENTITY: &str = "kms:EncryptionContext:entity";

/// One authorisation: an action on a resource, with the request's values of
/// the condition keys the statements use.
#[derive(Debug, Clone)]
pub struct Request {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<&'static str, Vec<String>>,
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)?;
        for (k, v) in &self.context {
            write!(f, " ({k} {})", v.join(", "))?;
        }
        Ok(())
    }
}

/// The IAM requests of one SDK call. DynamoDB authorises each item of a
/// `TransactWriteItems` as the action of its kind (`Put` → `PutItem`,
/// `ConditionCheck` → `ConditionCheckItem`); the SESv2 API's actions carry
/// the `ses:` prefix, and `SendEmail` is authorised on the sender identity
/// and, when one is named, the configuration set.
pub fn requests(call: &ApiCall, arns: &Arns) -> Result<Vec<Request>, String> {
    let unknown = || format!("no IAM mapping for {}.{} ({call:?}): add it", call.service, call.operation);
    let resource = || call.resource.clone().ok_or_else(|| format!("{call:?} names no resource"));
    let one = |action: String, resource: String, context: BTreeMap<&'static str, Vec<String>>| {
        Ok(vec![Request { action, resource, context }])
    };
    match call.service.as_str() {
        "dynamodb" => {
            let action = match (call.operation.as_str(), call.item) {
                ("TransactWriteItems", Some("Put")) => "PutItem",
                ("TransactWriteItems", Some("Update")) => "UpdateItem",
                ("TransactWriteItems", Some("Delete")) => "DeleteItem",
                ("TransactWriteItems", Some("ConditionCheck")) => "ConditionCheckItem",
                (
                    op @ ("GetItem" | "PutItem" | "UpdateItem" | "DeleteItem" | "Query" | "Scan" | "BatchGetItem"
                    | "BatchWriteItem"),
                    None,
                ) => op,
                _ => return Err(unknown()),
            };
            let table = arns.table(&resource()?);
            let resource = match &call.index {
                Some(index) => format!("{table}/index/{index}"),
                None => table,
            };
            let mut context = BTreeMap::new();
            if call.operation != "Scan" {
                if call.partition_keys.is_empty() || call.partition_keys.iter().any(|k| k == "?") {
                    return Err(format!("the partition key of {call:?} could not be read from the request"));
                }
                let keys: BTreeSet<String> = call.partition_keys.iter().cloned().collect();
                context.insert(LEADING_KEYS, keys.into_iter().collect());
            }
            one(format!("dynamodb:{action}"), resource, context)
        }
        "sqs" => match call.operation.as_str() {
            op @ ("SendMessage"
            | "ChangeMessageVisibility"
            | "ReceiveMessage"
            | "DeleteMessage"
            | "GetQueueAttributes") => one(format!("sqs:{op}"), arns.queue(&resource()?), BTreeMap::new()),
            // A message move task needs the caller's rights to receive,
            // delete and read attributes on the source, and to send to the
            // destination ("Amazon SQS API permissions: Actions and resource
            // reference").
            "StartMessageMoveTask" => {
                let source = arns.queue(&resource()?);
                let destination = call.destination.clone().ok_or_else(|| format!("{call:?} names no destination"))?;
                let mut out: Vec<Request> =
                    ["StartMessageMoveTask", "ReceiveMessage", "DeleteMessage", "GetQueueAttributes"]
                        .into_iter()
                        .map(|a| Request {
                            action: format!("sqs:{a}"),
                            resource: source.clone(),
                            context: BTreeMap::new(),
                        })
                        .collect();
                out.push(Request { action: "sqs:SendMessage".into(), resource: destination, context: BTreeMap::new() });
                Ok(out)
            }
            _ => Err(unknown()),
        },
        "kms" => match call.operation.as_str() {
            op @ ("Decrypt" | "GenerateDataKey") => {
                let entity = call.key_entity.clone().ok_or_else(|| format!("{call:?} has no encryption context"))?;
                one(format!("kms:{op}"), arns.key(&resource()?), BTreeMap::from([(KMS_ENTITY, vec![entity])]))
            }
            _ => Err(unknown()),
        },
        "secretsmanager" => match call.operation.as_str() {
            "GetSecretValue" => {
                let id = resource()?;
                if !id.starts_with("arn:") {
                    return Err(format!("secret {id} is named, not given by ARN as the stack does"));
                }
                one("secretsmanager:GetSecretValue".into(), id, BTreeMap::new())
            }
            _ => Err(unknown()),
        },
        "sesv2" => match call.operation.as_str() {
            "SendEmail" => {
                let mut out = vec![Request {
                    action: "ses:SendEmail".into(),
                    resource: arns.ses_identity(&resource()?),
                    context: BTreeMap::new(),
                }];
                if let Some(set) = &call.configuration_set {
                    out.push(Request {
                        action: "ses:SendEmail".into(),
                        resource: arns.ses_configuration_set(set),
                        context: BTreeMap::new(),
                    });
                }
                Ok(out)
            }
            _ => Err(unknown()),
        },
        _ => Err(unknown()),
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` exactly one.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        // A `*` of the pattern is a wildcard even against a `*` of the text
        // (key shapes hold `*` in place of ids).
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Which of a condition's values the request matched, or `None` if the
/// condition fails.
fn condition_matches(c: &super::sam_template::Condition, request: &Request) -> Result<Option<Vec<usize>>, String> {
    if ![LEADING_KEYS, KMS_ENTITY].contains(&c.key.as_str()) {
        return Err(format!("condition key {} is not modelled", c.key));
    }
    let given = request.context.get(c.key.as_str()).cloned().unwrap_or_default();
    let (set, op) = match c.operator.split_once(':') {
        Some((set, op)) => (Some(set), op),
        None => (None, c.operator.as_str()),
    };
    let matches = |v: &str| -> Vec<usize> {
        (0..c.values.len())
            .filter(|&i| match op {
                "StringEquals" => c.values[i] == v,
                _ => wildcard(&c.values[i], v),
            })
            .collect()
    };
    if !["StringEquals", "StringLike"].contains(&op) {
        return Err(format!("condition operator {} is not modelled", c.operator));
    }
    let per_value: Vec<Vec<usize>> = given.iter().map(|v| matches(v)).collect();
    let used = || per_value.iter().flatten().copied().collect::<Vec<_>>();
    Ok(match set {
        // True for an empty set, as IAM evaluates it: a request without the
        // key passes. `requests` never leaves LeadingKeys out of an item call.
        Some("ForAllValues") => per_value.iter().all(|m| !m.is_empty()).then(used),
        Some("ForAnyValue") => per_value.iter().any(|m| !m.is_empty()).then(used),
        Some(other) => return Err(format!("condition set operator {other} is not modelled")),
        None if given.len() == 1 => (!per_value[0].is_empty()).then(used),
        None => None,
    })
}

/// What a statement granted that some request needed.
#[derive(Default)]
struct Used {
    actions: BTreeSet<usize>,
    resources: BTreeSet<usize>,
    /// `(condition, value)` indices.
    values: BTreeSet<(usize, usize)>,
}

/// The statements that allow `request`, with what each contributed.
fn allowing(statements: &[Statement], request: &Request) -> Result<Vec<(usize, Used)>, String> {
    let mut out = Vec::new();
    'statements: for (i, s) in statements.iter().enumerate() {
        let actions: BTreeSet<usize> = (0..s.actions.len())
            .filter(|&a| wildcard(&s.actions[a].to_ascii_lowercase(), &request.action.to_ascii_lowercase()))
            .collect();
        let resources: BTreeSet<usize> =
            (0..s.resources.len()).filter(|&r| wildcard(&s.resources[r], &request.resource)).collect();
        if actions.is_empty() || resources.is_empty() {
            continue;
        }
        let mut values = BTreeSet::new();
        for (ci, c) in s.conditions.iter().enumerate() {
            match condition_matches(c, request).map_err(|e| format!("{}: {e}", s.origin))? {
                Some(matched) => values.extend(matched.into_iter().map(|v| (ci, v))),
                None => continue 'statements,
            }
        }
        out.push((i, Used { actions, resources, values }));
    }
    Ok(out)
}

/// Everything wrong with `function`'s statements for the `calls` it made:
/// requests no statement allows, and grants of written statements that no
/// request needed. Statements SAM adds are used to allow, never reported
/// as unused: the template cannot narrow them. With a `baseline` (the same
/// template resolved for another stack), only what a statement grants
/// beyond its baseline counterpart must have been needed.
pub fn check(
    function: &str,
    statements: &[Statement],
    baseline: Option<&[Statement]>,
    calls: &[ApiCall],
    arns: &Arns,
) -> Vec<String> {
    let mut problems = BTreeSet::new();
    let mut used: BTreeMap<usize, Used> = BTreeMap::new();
    for call in calls {
        let requests = match requests(call, arns) {
            Ok(r) => r,
            Err(e) => {
                problems.insert(format!("{function}: {e}"));
                continue;
            }
        };
        for request in requests {
            match allowing(statements, &request) {
                Err(e) => {
                    problems.insert(format!("{function}: {e}"));
                }
                Ok(found) if found.is_empty() => {
                    problems.insert(format!("{function} needs {request}, which no statement of its policy allows"));
                }
                Ok(found) => {
                    for (i, u) in found {
                        let entry = used.entry(i).or_default();
                        entry.actions.extend(u.actions);
                        entry.resources.extend(u.resources);
                        entry.values.extend(u.values);
                    }
                }
            }
        }
    }
    for (i, s) in statements.iter().enumerate().filter(|(_, s)| !s.implicit) {
        let u = used.remove(&i).unwrap_or_default();
        let base = baseline.and_then(|b| b.iter().find(|b| b.origin == s.origin));
        let inherited = |list: fn(&Statement) -> &Vec<String>, v: &String| base.is_some_and(|b| list(b).contains(v));
        let actions =
            s.actions.iter().enumerate().filter(|(a, v)| !u.actions.contains(a) && !inherited(|b| &b.actions, v));
        for (_, action) in actions {
            problems.insert(format!("{function}: {} allows {action}, which no call needed", s.origin));
        }
        let resources =
            s.resources.iter().enumerate().filter(|(r, v)| !u.resources.contains(r) && !inherited(|b| &b.resources, v));
        for (_, resource) in resources {
            problems.insert(format!("{function}: {} allows resource {resource}, which no call needed", s.origin));
        }
        for (ci, c) in s.conditions.iter().enumerate() {
            let base_values =
                base.and_then(|b| b.conditions.iter().find(|bc| bc.key == c.key && bc.operator == c.operator));
            let values = c.values.iter().enumerate().filter(|(vi, v)| {
                !u.values.contains(&(ci, *vi)) && !base_values.is_some_and(|bc| bc.values.contains(v))
            });
            for (_, value) in values {
                problems.insert(format!("{function}: {} allows {} {value}, which no call needed", s.origin, c.key));
            }
        }
    }
    problems.into_iter().collect()
}
