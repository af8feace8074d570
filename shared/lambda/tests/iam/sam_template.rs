//! `template.yaml` read the way CloudFormation and SAM would deploy it into
//! one known stack: intrinsic functions (`!Ref`, `!GetAtt`, `!Sub`, `!If`,
//! `!Join` and the conditions) are resolved against a [`Stack`], and each
//! function's role is the policy statements it declares plus those SAM adds
//! by itself.
//!
//! What SAM adds to a function's role, and how it is modelled here
//! ([`Template::implicit_statements`]):
//! - every function without its own `Role` gets the AWS managed policy
//!   `AWSLambdaBasicExecutionRole` (`logs:CreateLogGroup`,
//!   `logs:CreateLogStream`, `logs:PutLogEvents` on `*`): the Lambda service
//!   writes the function's stdout to CloudWatch with it; our code never calls
//!   CloudWatch Logs;
//! - an `SQS` event adds `AWSLambdaSQSQueueExecutionRole` (the same log
//!   actions plus `sqs:ReceiveMessage`, `sqs:DeleteMessage`,
//!   `sqs:GetQueueAttributes` on `*`): the event source mapping polls the
//!   queue and deletes handled messages with the function's role;
//! - an `HttpApi` event adds nothing to the role (API Gateway is allowed to
//!   invoke the function by a resource-based permission instead).
//!
//! Any other event type, a `Role`, a managed policy or a SAM policy template
//! is refused with a message rather than ignored. The test
//! `sam_attaches_exactly_the_managed_policies_the_check_models` runs SAM's
//! own translator on the template to confirm the list.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};
use serde_norway::Value;

/// The stack the template is resolved against: pseudo parameters, parameter
/// values and what `!Ref` and `!GetAtt` give for each resource.
#[derive(Debug, Clone)]
pub struct Stack {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// Parameter values; a parameter missing here takes its `Default`.
    pub parameters: BTreeMap<String, String>,
    /// `!Ref <logical id>`.
    pub refs: BTreeMap<String, String>,
    /// `!GetAtt <logical id>.<attribute>`.
    pub attributes: BTreeMap<String, String>,
}

/// One `Allow` statement of a function's role.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Where it comes from: `Policies[0].Statement[2]`, or the managed policy SAM attaches.
    pub origin: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub conditions: Vec<Condition>,
    /// Added by SAM, not written in the template (and not narrowable there).
    pub implicit: bool,
}

/// `<operator>: { <key>: [<values>] }`.
#[derive(Debug, Clone)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

pub struct Template {
    root: Value,
}

const LOG_ACTIONS: [&str; 3] = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"];
pub const BASIC_EXECUTION_ROLE: &str = "AWSLambdaBasicExecutionRole";
pub const SQS_QUEUE_EXECUTION_ROLE: &str = "AWSLambdaSQSQueueExecutionRole";
/// What `Tracing: Active` attaches: Lambda sends the function's segments.
pub const XRAY_WRITE_ONLY: &str = "AWSXrayWriteOnlyAccess";

fn tag_name(v: &serde_norway::value::TaggedValue) -> String {
    v.tag.to_string().trim_start_matches('!').to_owned()
}

fn as_list(v: &Json) -> Vec<Json> {
    match v {
        Json::Array(a) => a.clone(),
        Json::Null => vec![],
        other => vec![other.clone()],
    }
}

fn strings(v: &Json, what: &str) -> Result<Vec<String>, String> {
    as_list(v)
        .into_iter()
        .map(|s| s.as_str().map(str::to_owned).ok_or_else(|| format!("{what} must be strings, found {s}")))
        .collect()
}

impl Template {
    pub fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        Self::parse(&std::fs::read_to_string(path).expect("template.yaml"))
    }

    pub fn parse(text: &str) -> Self {
        Self { root: serde_norway::from_str(text).expect("template.yaml is valid YAML") }
    }

    fn resource(&self, name: &str) -> &Value {
        self.root.get("Resources").and_then(|r| r.get(name)).unwrap_or_else(|| panic!("no resource {name}"))
    }

    fn properties(&self, function: &str) -> &Value {
        self.resource(function).get("Properties").unwrap_or(&Value::Null)
    }

    pub fn functions(&self) -> Vec<String> {
        let resources = self.root.get("Resources").and_then(Value::as_mapping).expect("Resources");
        resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
            .filter_map(|(name, _)| name.as_str().map(str::to_owned))
            .collect()
    }

    /// A function's environment as deployed in `stack`: `Globals` overlaid
    /// by its own variables. A variable whose value cannot be resolved in
    /// `stack` (it refers to a resource the test does not create) is left out.
    pub fn environment(&self, function: &str, stack: &Stack) -> BTreeMap<String, String> {
        let global = self.root.get("Globals").and_then(|g| g.get("Function"));
        let mut out = BTreeMap::new();
        for scope in [global, Some(self.properties(function))].into_iter().flatten() {
            let Some(vars) = scope.get("Environment").and_then(|e| e.get("Variables")).and_then(Value::as_mapping)
            else {
                continue;
            };
            for (name, value) in vars {
                let name = name.as_str().expect("variable names are strings").to_owned();
                match self.resolve(value, stack) {
                    Ok(Some(Json::String(s))) => out.insert(name, s),
                    Ok(Some(Json::Number(n))) => out.insert(name, n.to_string()),
                    Ok(Some(Json::Bool(b))) => out.insert(name, b.to_string()),
                    _ => out.remove(&name),
                };
            }
        }
        out
    }

    /// The queues of a function's `SQS` events, resolved.
    pub fn sqs_event_queues(&self, function: &str, stack: &Stack) -> Vec<String> {
        self.events(function)
            .into_iter()
            .filter(|(_, kind, _)| kind == "SQS")
            .map(|(name, _, props)| {
                let queue = props.get("Queue").unwrap_or_else(|| panic!("{function}: event {name} has no Queue"));
                match self.resolve(queue, stack) {
                    Ok(Some(Json::String(arn))) => arn,
                    other => panic!("{function}: event {name}: Queue does not resolve: {other:?}"),
                }
            })
            .collect()
    }

    fn events(&self, function: &str) -> Vec<(String, String, Value)> {
        let Some(events) = self.properties(function).get("Events").and_then(Value::as_mapping) else {
            return vec![];
        };
        events
            .iter()
            .map(|(name, e)| {
                let name = name.as_str().unwrap_or_default().to_owned();
                let kind = e.get("Type").and_then(Value::as_str).unwrap_or_default().to_owned();
                (name, kind, e.get("Properties").cloned().unwrap_or(Value::Null))
            })
            .collect()
    }

    /// The statements written in the function's `Policies`.
    pub fn statements(&self, function: &str, stack: &Stack) -> Result<Vec<Statement>, String> {
        let props = self.properties(function);
        if props.get("Role").is_some() {
            return Err(format!("{function}: a Role of its own is not modelled (SAM then adds nothing)"));
        }
        let Some(policies) = props.get("Policies") else { return Ok(vec![]) };
        let policies = self.resolve(policies, stack)?.unwrap_or(Json::Null);
        let mut out = Vec::new();
        for (p, policy) in as_list(&policies).iter().enumerate() {
            let Some(statements) = policy.get("Statement") else {
                return Err(format!(
                    "{function}: Policies[{p}] ({policy}) is a managed policy or SAM policy template, whose \
                     statements this check does not know; write the statements out"
                ));
            };
            for (s, st) in as_list(statements).iter().enumerate() {
                out.push(self.statement(&format!("Policies[{p}].Statement[{s}]"), st)?);
            }
        }
        Ok(out)
    }

    fn statement(&self, origin: &str, st: &Json) -> Result<Statement, String> {
        let obj = st.as_object().ok_or_else(|| format!("{origin} is not a mapping"))?;
        for key in obj.keys() {
            if !["Sid", "Effect", "Action", "Resource", "Condition"].contains(&key.as_str()) {
                return Err(format!("{origin}: {key} is not modelled"));
            }
        }
        if obj.get("Effect").and_then(Json::as_str) != Some("Allow") {
            return Err(format!("{origin}: only Allow statements are modelled"));
        }
        let mut conditions = Vec::new();
        if let Some(c) = obj.get("Condition") {
            let ops = c.as_object().ok_or_else(|| format!("{origin}: Condition is not a mapping"))?;
            for (operator, keys) in ops {
                let keys = keys.as_object().ok_or_else(|| format!("{origin}: {operator} is not a mapping"))?;
                for (key, values) in keys {
                    let values = strings(values, &format!("{origin}: {operator} {key}"))?;
                    conditions.push(Condition { operator: operator.clone(), key: key.clone(), values });
                }
            }
        }
        Ok(Statement {
            origin: origin.to_owned(),
            actions: strings(obj.get("Action").unwrap_or(&Json::Null), &format!("{origin}: Action"))?,
            resources: strings(obj.get("Resource").unwrap_or(&Json::Null), &format!("{origin}: Resource"))?,
            conditions,
            implicit: false,
        })
    }

    /// The managed policies SAM attaches to the function's role, by name.
    pub fn implicit_policies(&self, function: &str) -> Result<Vec<&'static str>, String> {
        let mut names = vec![BASIC_EXECUTION_ROLE];
        if self.tracing_active(function) {
            names.push(XRAY_WRITE_ONLY);
        }
        for (name, kind, _) in self.events(function) {
            match kind.as_str() {
                "HttpApi" | "Api" => {}
                "SQS" => {
                    if !names.contains(&SQS_QUEUE_EXECUTION_ROLE) {
                        names.push(SQS_QUEUE_EXECUTION_ROLE)
                    }
                }
                other => return Err(format!("{function}: event {name} of type {other} is not modelled")),
            }
        }
        Ok(names)
    }

    /// `Tracing: Active` on the function or in `Globals`.
    fn tracing_active(&self, function: &str) -> bool {
        let own = self.root.get("Resources").and_then(|r| r.get(function)).and_then(|f| f.get("Properties"));
        let global = self.root.get("Globals").and_then(|g| g.get("Function"));
        let tracing = own.and_then(|p| p.get("Tracing")).or_else(|| global.and_then(|g| g.get("Tracing")));
        tracing.and_then(Value::as_str) == Some("Active")
    }

    /// The statements of [`Template::implicit_policies`], as AWS publishes them.
    pub fn implicit_statements(&self, function: &str) -> Result<Vec<Statement>, String> {
        let statement = |origin: &str, actions: Vec<&str>| Statement {
            origin: format!("{origin} (added by SAM)"),
            actions: actions.into_iter().map(str::to_owned).collect(),
            resources: vec!["*".to_owned()],
            conditions: vec![],
            implicit: true,
        };
        Ok(self
            .implicit_policies(function)?
            .into_iter()
            .map(|name| match name {
                BASIC_EXECUTION_ROLE => statement(name, LOG_ACTIONS.to_vec()),
                XRAY_WRITE_ONLY => statement(
                    name,
                    vec![
                        "xray:PutTraceSegments",
                        "xray:PutTelemetryRecords",
                        "xray:GetSamplingRules",
                        "xray:GetSamplingTargets",
                        "xray:GetSamplingStatisticSummaries",
                    ],
                ),
                _ => statement(
                    name,
                    [&["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"][..], &LOG_ACTIONS[..]]
                        .concat(),
                ),
            })
            .collect())
    }

    fn parameter(&self, name: &str, stack: &Stack) -> Option<String> {
        if let Some(v) = stack.parameters.get(name) {
            return Some(v.clone());
        }
        let p = self.root.get("Parameters")?.get(name)?;
        Some(match p.get("Default")? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        })
    }

    fn reference(&self, name: &str, stack: &Stack) -> Result<Option<String>, String> {
        Ok(Some(match name {
            "AWS::NoValue" => return Ok(None),
            "AWS::Partition" => stack.partition.clone(),
            "AWS::Region" => stack.region.clone(),
            "AWS::AccountId" => stack.account.clone(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            "AWS::StackName" => "secure2fa".to_owned(),
            _ => match self.parameter(name, stack).or_else(|| stack.refs.get(name).cloned()) {
                Some(v) => v,
                None => return Err(format!("!Ref {name} has no value in the test stack")),
            },
        }))
    }

    fn attribute(&self, name: &str, stack: &Stack) -> Result<String, String> {
        stack.attributes.get(name).cloned().ok_or_else(|| format!("!GetAtt {name} has no value in the test stack"))
    }

    fn substitute(&self, text: &str, vars: &BTreeMap<String, String>, stack: &Stack) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').ok_or_else(|| format!("!Sub {text}: unclosed ${{"))? + start;
            let name = &rest[start + 2..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(v) = vars.get(name) {
                out.push_str(v);
            } else if name.contains('.') && !name.starts_with("AWS::") {
                out.push_str(&self.attribute(name, stack)?);
            } else {
                out.push_str(&self.reference(name, stack)?.ok_or_else(|| format!("!Sub {text}: {name} has no value"))?);
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Whether a condition of the `Conditions` section holds in `stack`.
    pub fn condition(&self, name: &str, stack: &Stack) -> Result<bool, String> {
        let c = self.root.get("Conditions").and_then(|c| c.get(name)).ok_or_else(|| format!("no condition {name}"))?;
        self.truth(c, stack)
    }

    fn truth(&self, v: &Value, stack: &Stack) -> Result<bool, String> {
        let (function, arg) = intrinsic(v).ok_or_else(|| format!("{v:?} is not a condition function"))?;
        let args = || arg.as_sequence().cloned().unwrap_or_default();
        match function.as_str() {
            "Condition" => self.condition(arg.as_str().unwrap_or_default(), stack),
            "Not" => Ok(!self.truth(args().first().ok_or("!Not needs an argument")?, stack)?),
            "And" => args().iter().try_fold(true, |acc, a| Ok(acc && self.truth(a, stack)?)),
            "Or" => args().iter().try_fold(false, |acc, a| Ok(acc || self.truth(a, stack)?)),
            "Equals" => {
                let a = args();
                let [x, y] = a.as_slice() else { return Err("!Equals needs two arguments".into()) };
                Ok(self.resolve(x, stack)? == self.resolve(y, stack)?)
            }
            other => Err(format!("condition function {other} is not modelled")),
        }
    }

    /// Resolves intrinsic functions; `None` is `AWS::NoValue`.
    pub fn resolve(&self, v: &Value, stack: &Stack) -> Result<Option<Json>, String> {
        if let Some((function, arg)) = intrinsic(v) {
            return self.function(&function, &arg, stack);
        }
        Ok(Some(match v {
            Value::Null => Json::Null,
            Value::Bool(b) => json!(b),
            Value::Number(n) => serde_json::from_str(&n.to_string()).map_err(|e| e.to_string())?,
            Value::String(s) => json!(s),
            Value::Sequence(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.resolve(item, stack)?);
                }
                Json::Array(out)
            }
            Value::Mapping(m) => {
                let mut out = serde_json::Map::new();
                for (k, item) in m {
                    let k = k.as_str().ok_or("mapping keys must be strings")?.to_owned();
                    if let Some(item) = self.resolve(item, stack)? {
                        out.insert(k, item);
                    }
                }
                Json::Object(out)
            }
            Value::Tagged(t) => return Err(format!("tag !{} is not modelled", tag_name(t))),
        }))
    }

    fn function(&self, function: &str, arg: &Value, stack: &Stack) -> Result<Option<Json>, String> {
        let seq = || arg.as_sequence().cloned().unwrap_or_default();
        let text = |v: Option<Json>| -> Result<String, String> {
            match v {
                Some(Json::String(s)) => Ok(s),
                other => Err(format!("!{function}: expected a string, found {other:?}")),
            }
        };
        match function {
            "Ref" => Ok(self.reference(arg.as_str().ok_or("!Ref needs a name")?, stack)?.map(Json::String)),
            "GetAtt" => {
                let name = match arg {
                    Value::String(s) => s.clone(),
                    Value::Sequence(parts) => parts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("."),
                    _ => return Err("!GetAtt needs Name.Attribute".into()),
                };
                Ok(Some(Json::String(self.attribute(&name, stack)?)))
            }
            "Sub" => {
                let (template, vars) = match arg {
                    Value::String(s) => (s.clone(), BTreeMap::new()),
                    Value::Sequence(parts) => {
                        let template = parts.first().and_then(Value::as_str).ok_or("!Sub needs a string")?;
                        let mut vars = BTreeMap::new();
                        if let Some(m) = parts.get(1).and_then(Value::as_mapping) {
                            for (k, v) in m {
                                vars.insert(k.as_str().unwrap_or_default().to_owned(), text(self.resolve(v, stack)?)?);
                            }
                        }
                        (template.to_owned(), vars)
                    }
                    _ => return Err("!Sub needs a string".into()),
                };
                Ok(Some(Json::String(self.substitute(&template, &vars, stack)?)))
            }
            "If" => {
                let parts = seq();
                let [cond, yes, no] = parts.as_slice() else { return Err("!If needs three arguments".into()) };
                let branch =
                    if self.condition(cond.as_str().ok_or("!If needs a condition name")?, stack)? { yes } else { no };
                self.resolve(branch, stack)
            }
            "Join" => {
                let parts = seq();
                let [sep, items] = parts.as_slice() else { return Err("!Join needs two arguments".into()) };
                let items = self.resolve(items, stack)?.unwrap_or(Json::Null);
                let items: Result<Vec<String>, String> = as_list(&items).into_iter().map(|i| text(Some(i))).collect();
                Ok(Some(Json::String(items?.join(sep.as_str().unwrap_or_default()))))
            }
            other => Err(format!("intrinsic function {other} is not modelled")),
        }
    }
}

/// `!Name arg` or `{ "Fn::Name": arg }` / `{ "Ref": arg }` / `{ "Condition": arg }`.
fn intrinsic(v: &Value) -> Option<(String, Value)> {
    match v {
        Value::Tagged(t) => Some((tag_name(t), t.value.clone())),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next()?;
            let k = k.as_str()?;
            let name = k.strip_prefix("Fn::").or(["Ref", "Condition"].contains(&k).then_some(k))?;
            Some((name.to_owned(), arg.clone()))
        }
        _ => None,
    }
}
