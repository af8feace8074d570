//! The DynamoDB single-table store. See `infra/dynamodb.md` for the key
//! design and the access patterns. Every invariant is a `ConditionExpression`
//! on one write or on the items of one `TransactWriteItems`; a refused
//! condition becomes a domain outcome, never a generic storage error.

mod account_store;
mod item;
mod log_store;
mod project_store;
mod quota_store;
mod session_store;
pub mod table;
mod verification_store;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, Put, TransactWriteItem};
use secure2fa_core::ports::StoreError;

pub(crate) use item::{Item, Reader, b, boolean, n, names, s};
pub use quota_store::DynamoQuotas;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// A counter item counts one more unless it holds `:max` already, and
/// expires at `:ttl`: send counters, test-message counters.
const COUNT_ONE: &str = "ADD #count :one SET #ttl = :ttl";
const UNDER_MAX: &str = "attribute_not_exists(#pk) OR #count < :max";

fn count_values(
    max: u32,
    expires_at: i64,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    [(":one", n(1)), (":max", n(max)), (":ttl", n(expires_at))].into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

impl DynamoStore {
    /// Counts one on the counter `key` unless it holds `max` already: one
    /// conditional write. `Ok(false)`: the counter is full.
    pub(crate) async fn count_one(&self, key: Item, max: u32, expires_at: i64) -> Result<bool, StoreError> {
        Ok(self.count_one_returning(key, max, expires_at).await?.is_some())
    }

    /// [`Self::count_one`], returning the new count (`None`: full).
    pub(crate) async fn count_one_returning(
        &self,
        key: Item,
        max: u32,
        expires_at: i64,
    ) -> Result<Option<u32>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(COUNT_ONE)
            .condition_expression(UNDER_MAX)
            .set_expression_attribute_names(Some(names(&[COUNT_ONE, UNDER_MAX])))
            .set_expression_attribute_values(Some(count_values(max, expires_at)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let attrs = out.attributes.unwrap_or_default();
                Ok(Some(Reader(&attrs).n("count")?))
            }
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// One conditional `UpdateItem`: whether the condition held.
    pub(crate) async fn update_if(
        &self,
        key: Item,
        update: &str,
        condition: &str,
        values: Vec<(&str, aws_sdk_dynamodb::types::AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let values: std::collections::HashMap<_, _> = values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names(&[update, condition])))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// [`Self::count_one`] as an item of a transaction.
    pub(crate) fn count_one_in_transaction(&self, key: Item, max: u32, expires_at: i64) -> TransactWriteItem {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(COUNT_ONE)
            .condition_expression(UNDER_MAX)
            .set_expression_attribute_names(Some(names(&[COUNT_ONE, UNDER_MAX])))
            .set_expression_attribute_values(Some(count_values(max, expires_at)))
            .build()
            .expect("complete");
        TransactWriteItem::builder().update(update).build()
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn dynamodb(&self) -> &Client {
        &self.client
    }
}

pub(crate) fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(crate::describe(&e))
}

/// The shard (`0..shards`) a key string falls in: FNV-1a, stable across
/// versions and processes (the shard is part of stored partition keys).
/// Keys here are HMACs or random ids, so shards fill evenly.
pub(crate) fn shard_of(key: &str, shards: u32) -> u32 {
    let hash =
        key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    (hash % u64::from(shards)) as u32
}

pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// A cancelled transaction, item by item: which condition failed, with the
/// old item where it was asked for.
pub(crate) enum TransactOutcome {
    Committed,
    Cancelled(Vec<CancellationReason>),
}

impl TransactOutcome {
    pub fn failed(reasons: &[CancellationReason], i: usize) -> bool {
        reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
    }
}

impl DynamoStore {
    /// A transaction item putting `item` if `condition` holds.
    pub(crate) fn put(&self, item: Item, condition: &str) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names(&[condition])))
            .build()
            .expect("complete");
        TransactWriteItem::builder().put(put).build()
    }

    /// Runs a transaction, retrying (with a short jittered pause) when it was
    /// cancelled only by a conflict with another in-flight transaction on
    /// the same items, which DynamoDB does not retry by itself.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<TransactOutcome, StoreError> {
        for attempt in 0..5u32 {
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            match result {
                Ok(_) => return Ok(TransactOutcome::Committed),
                Err(SdkError::ServiceError(e)) => match e.err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        let reasons = c.cancellation_reasons().to_vec();
                        let conflict_only = reasons.iter().any(|r| r.code() == Some("TransactionConflict"))
                            && !reasons.iter().any(|r| r.code() == Some("ConditionalCheckFailed"));
                        if !conflict_only {
                            return Ok(TransactOutcome::Cancelled(reasons));
                        }
                    }
                    _ => return Err(unavailable(SdkError::ServiceError(e))),
                },
                Err(other) => return Err(unavailable(other)),
            }
            let pause = 10 * (1 << attempt) + rand::random::<u64>() % 10;
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
        Err(StoreError::Unavailable("transaction kept conflicting with concurrent writes".into()))
    }

    /// Runs a query page by page (following `LastEvaluatedKey`) until it is
    /// exhausted or `limit` items are in.
    pub(crate) async fn paginate(
        &self,
        query: impl Fn() -> QueryFluentBuilder,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let mut q = query().set_exclusive_start_key(start.take());
            if let Some(l) = limit {
                q = q.limit((l - out.len()).min(1000) as i32);
            }
            let page = q.send().await.map_err(unavailable)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if limit.is_none_or(|l| out.len() < l) => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// Every item of a partition (strongly consistent), optionally only sort
    /// keys starting with `prefix`.
    pub(crate) async fn query_partition(
        &self,
        pk: &str,
        prefix: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        let cond = if prefix.is_some() { "#pk = :pk AND begins_with(#sk, :prefix)" } else { "#pk = :pk" };
        let query = || {
            let q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression(cond)
                .set_expression_attribute_names(Some(names(&[cond])))
                .expression_attribute_values(":pk", s(pk));
            match prefix {
                Some(p) => q.expression_attribute_values(":prefix", s(p)),
                None => q,
            }
        };
        self.paginate(query, limit).await
    }

    /// Every item of a GSI partition (eventually consistent).
    pub(crate) async fn query_index(
        &self,
        index: &str,
        pk_attr: &str,
        pk: &str,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        let cond = format!("#{pk_attr} = :pk");
        let query = || {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(&cond)
                .set_expression_attribute_names(Some(names(&[&cond])))
                .expression_attribute_values(":pk", s(pk))
        };
        self.paginate(query, limit).await
    }

    pub(crate) async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }
}
