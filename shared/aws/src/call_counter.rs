//! Counts AWS API calls per service and operation, as an SDK interceptor.
//! Used by the hot-path budget test (DESIGN §8) and the cost benchmark.
//! `TransactWriteItems` is also counted per item: each item is a write.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls by `"service.Operation"` (plus `"dynamodb.TransactWriteItems.items"`).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn reset(&self) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clear();
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
        let service = meta.service().to_ascii_lowercase();
        let key = format!("{service}.{}", meta.name());
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
        if meta.name() == "TransactWriteItems"
            && let Some(input) = context.input().downcast_ref::<TransactWriteItemsInput>()
        {
            self.add(format!("{key}.items"), input.transact_items().len() as u64);
        }
        self.add(key, 1);
        Ok(())
    }
}
