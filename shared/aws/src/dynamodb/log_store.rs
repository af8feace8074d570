//! Logs.
//!
//! | item | pk | sk | TTL |
//! |---|---|---|---|
//! | project log | `LOG#<project id>#<shard>` | `<log id>` (ULID: time order) | 90 days |
//! | client log (no project) | `LOGC#<client id>` | `<log id>` | 90 days |
//!
//! A project's entries spread over [`LOG_SHARDS`] partitions (no GSI, so
//! an entry is one write unit): the shard is derived from the end user's
//! blind index when the entry has one (an end user's history is one
//! partition), from the entry's id otherwise. A page merges the shards
//! (queried concurrently) by id; the `before` cursor is an id, so paging
//! needs no per-shard state. Level and end-user filters are filter
//! expressions.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use secure2fa_core::ids::{ClientId, ProjectId};
use secure2fa_core::model::{LogEntry, LogFilter, LogLevel, UserRef};
use secure2fa_core::ports::{LogStore, ProjectStore, StoreError};

use super::{DynamoStore, Item, Reader, key, n, names, s, shard_of, unavailable};

/// Partitions of one project's log: about 1,000 entries per second each
/// (DynamoDB's per-partition write limit), see `infra/dynamodb.md`.
pub(crate) const LOG_SHARDS: u32 = 32;

/// Log partitions queried at once by a page.
const CONCURRENT_QUERIES: usize = 16;

fn shard_pk(project: ProjectId, shard: u32) -> String {
    format!("LOG#{project}#{shard:02}")
}

fn user_shard(user_ref: &UserRef) -> u32 {
    shard_of(user_ref.as_str(), LOG_SHARDS)
}

fn partition(e: &LogEntry) -> String {
    match (e.project_id, &e.user_ref) {
        (Some(p), Some(u)) => shard_pk(p, user_shard(u)),
        (Some(p), None) => shard_pk(p, shard_of(&e.id.to_string(), LOG_SHARDS)),
        (None, _) => format!("LOGC#{}", e.client_id),
    }
}

/// The partitions a page of one project's log reads: the end user's shard
/// when the filter names one, every shard otherwise.
fn project_partitions(project: ProjectId, f: &LogFilter) -> Vec<String> {
    match &f.user_ref {
        Some(u) => vec![shard_pk(project, user_shard(u))],
        None => (0..LOG_SHARDS).map(|shard| shard_pk(project, shard)).collect(),
    }
}

fn log_from(item: &Item) -> Result<LogEntry, StoreError> {
    let r = Reader(item);
    Ok(LogEntry {
        id: r.parse("sk")?,
        client_id: r.parse("client_id")?,
        project_id: r.parse_opt("project_id")?,
        user_ref: r.opt_mac("user_ref")?,
        verification_id: r.parse_opt("verification_id")?,
        level: r.parse_with("level", LogLevel::parse)?,
        event: r.s("event")?.to_owned(),
        message: r.s("message")?.to_owned(),
        created_at: r.n("created_at")?,
    })
}

impl DynamoStore {
    /// Newest-first entries of one partition that pass the filter.
    async fn query_logs(
        &self,
        pk: &str,
        client: ClientId,
        f: &LogFilter,
        limit: usize,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let key_cond = if f.before.is_some() { "#pk = :pk AND #sk < :before" } else { "#pk = :pk" };
        let mut filters = vec!["#client_id = :client"];
        if f.level.is_some() {
            filters.push("#level = :level");
        }
        if f.user_ref.is_some() {
            filters.push("#user_ref = :uref");
        }
        let filter = filters.join(" AND ");
        let query = || {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(key_cond)
                .filter_expression(&filter)
                .set_expression_attribute_names(Some(names(&[key_cond, &filter])))
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":client", s(client.to_string()))
                .scan_index_forward(false);
            if let Some(b) = f.before {
                q = q.expression_attribute_values(":before", s(b.to_string()));
            }
            if let Some(l) = f.level {
                q = q.expression_attribute_values(":level", s(l.as_str()));
            }
            if let Some(u) = &f.user_ref {
                q = q.expression_attribute_values(":uref", s(u.as_str()));
            }
            q
        };
        let items = self.paginate(query, Some(limit)).await?;
        items.iter().take(limit).map(log_from).collect()
    }
}

#[async_trait]
impl LogStore for DynamoStore {
    async fn append_log(&self, e: &LogEntry) -> Result<(), StoreError> {
        let mut item = key(partition(e), e.id.to_string());
        item.extend([
            ("client_id".into(), s(e.client_id.to_string())),
            ("level".into(), s(e.level.as_str())),
            ("event".into(), s(&e.event)),
            ("message".into(), s(&e.message)),
            ("created_at".into(), n(e.created_at)),
            ("ttl".into(), n(e.expires_at())),
        ]);
        if let Some(p) = e.project_id {
            item.insert("project_id".into(), s(p.to_string()));
        }
        if let Some(u) = &e.user_ref {
            item.insert("user_ref".into(), s(u.as_str()));
        }
        if let Some(v) = e.verification_id {
            item.insert("verification_id".into(), AttributeValue::S(v.to_string()));
        }
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn list_logs(&self, client: ClientId, filter: &LogFilter) -> Result<Vec<LogEntry>, StoreError> {
        let limit = filter.limit.clamp(1, 500);
        let partitions = match filter.project_id {
            Some(p) => project_partitions(p, filter),
            None => {
                let mut parts = vec![format!("LOGC#{client}")];
                for p in self.list_projects(client).await? {
                    parts.extend(project_partitions(p.id, filter));
                }
                parts
            }
        };
        let pages: Vec<Vec<LogEntry>> = futures::stream::iter(partitions)
            .map(|pk| async move { self.query_logs(&pk, client, filter, limit).await })
            .buffer_unordered(CONCURRENT_QUERIES)
            .try_collect()
            .await?;
        let mut all: Vec<LogEntry> = pages.into_iter().flatten().collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.id));
        all.truncate(limit);
        Ok(all)
    }
}
