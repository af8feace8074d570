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
use secure2fa_core::ids::{ClientId, LogId, ProjectId};
use secure2fa_core::model::{LogEntry, LogFilter, LogLevel, LogPage, UserRef};
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

/// What one query of a page found in one partition: the entries that pass
/// the filter and, when the partition holds more, the id it read down to.
struct ShardPage {
    entries: Vec<LogEntry>,
    read_down_to: Option<LogId>,
}

impl DynamoStore {
    /// One query (at most `evaluated` items read, newest first) of one
    /// partition: the work of a page is bounded whatever the filter.
    async fn query_logs(
        &self,
        pk: &str,
        client: ClientId,
        f: &LogFilter,
        evaluated: usize,
    ) -> Result<ShardPage, StoreError> {
        let key_cond = if f.before.is_some() { "#pk = :pk AND #sk < :before" } else { "#pk = :pk" };
        let mut filters = vec!["#client_id = :client"];
        if f.level.is_some() {
            filters.push("#level = :level");
        }
        if f.user_ref.is_some() {
            filters.push("#user_ref = :uref");
        }
        let filter = filters.join(" AND ");
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(key_cond)
            .filter_expression(&filter)
            .set_expression_attribute_names(Some(names(&[key_cond, &filter])))
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":client", s(client.to_string()))
            .scan_index_forward(false)
            .limit(evaluated as i32);
        if let Some(b) = f.before {
            q = q.expression_attribute_values(":before", s(b.to_string()));
        }
        if let Some(l) = f.level {
            q = q.expression_attribute_values(":level", s(l.as_str()));
        }
        if let Some(u) = &f.user_ref {
            q = q.expression_attribute_values(":uref", s(u.as_str()));
        }
        let out = q.send().await.map_err(unavailable)?;
        let entries = out.items.unwrap_or_default().iter().map(log_from).collect::<Result<_, _>>()?;
        let read_down_to = match out.last_evaluated_key {
            Some(k) => Some(Reader(&k).parse("sk")?),
            None => None,
        };
        Ok(ShardPage { entries, read_down_to })
    }
}

/// Partitions one page reads at most: a client's page over more projects
/// than this is refused (filter by project).
pub(crate) const MAX_PARTITIONS_PER_PAGE: usize = 16 * LOG_SHARDS as usize + 1;

/// Merges the partitions' pages. A partition that holds more than it read
/// is complete only down to the id it read to; the page keeps what is
/// complete in every partition (ids at or above the highest such id), so it
/// never skips an entry, and the next page starts below it.
fn merge(pages: Vec<ShardPage>, limit: usize) -> LogPage {
    let cutoff = pages.iter().filter_map(|p| p.read_down_to).max();
    let mut entries: Vec<LogEntry> =
        pages.into_iter().flat_map(|p| p.entries).filter(|e| cutoff.is_none_or(|c| e.id >= c)).collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.id));
    entries.truncate(limit);
    // A full page continues below its last entry, a short one below the cutoff.
    let page = LogPage::of(entries, limit);
    LogPage { next_before: page.next_before.or(cutoff), ..page }
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

    async fn list_logs(&self, client: ClientId, filter: &LogFilter) -> Result<LogPage, StoreError> {
        let limit = filter.limit.clamp(1, 500);
        let partitions = match filter.project_id {
            // Another client's project reads nothing (and costs nothing).
            Some(p) => match self.project(p).await? {
                Some(project) if project.client_id == client => project_partitions(p, filter),
                _ => return Ok(LogPage::default()),
            },
            None => {
                let mut parts = vec![format!("LOGC#{client}")];
                for p in self.list_projects(client).await? {
                    parts.extend(project_partitions(p.id, filter));
                }
                parts
            }
        };
        if partitions.len() > MAX_PARTITIONS_PER_PAGE {
            return Err(StoreError::TooBroad(
                "this client has too many projects for one page of logs: filter by project",
            ));
        }
        // Each partition reads a share of the page, at least 10 entries:
        // the page may come back short, with the point to continue from.
        let evaluated = if partitions.len() <= LOG_SHARDS as usize + 1 {
            limit
        } else {
            (4 * limit / partitions.len()).clamp(limit.min(10), limit)
        };
        let pages: Vec<ShardPage> = futures::stream::iter(partitions)
            .map(|pk| async move { self.query_logs(&pk, client, filter, evaluated).await })
            .buffer_unordered(CONCURRENT_QUERIES)
            .try_collect()
            .await?;
        Ok(merge(pages, limit))
    }
}

#[cfg(test)]
mod tests {
    use secure2fa_core::model::LogLevel;

    use super::*;

    fn entry(id: LogId) -> LogEntry {
        LogEntry {
            id,
            client_id: ClientId::generate(),
            project_id: None,
            user_ref: None,
            verification_id: None,
            level: LogLevel::Info,
            event: "e".into(),
            message: String::new(),
            created_at: 0,
        }
    }

    #[test]
    fn a_merged_page_keeps_only_what_every_partition_has_read_and_continues_below_it() {
        let mut ids: Vec<LogId> = (0..6).map(|_| LogId::generate()).collect();
        ids.sort();
        // Partition A read down to ids[3] (more below); B is exhausted and
        // holds ids[1] and ids[4]; A holds ids[5] and ids[3].
        let a = ShardPage { entries: vec![entry(ids[5]), entry(ids[3])], read_down_to: Some(ids[3]) };
        let b = ShardPage { entries: vec![entry(ids[4]), entry(ids[1])], read_down_to: None };
        let page = merge(vec![a, b], 10);
        let got: Vec<LogId> = page.entries.iter().map(|e| e.id).collect();
        assert_eq!(got, vec![ids[5], ids[4], ids[3]], "ids[1] waits: A may hold entries between it and ids[3]");
        assert_eq!(page.next_before, Some(ids[3]));
        // A full page continues below its last entry.
        let a = ShardPage { entries: vec![entry(ids[5]), entry(ids[3])], read_down_to: None };
        let b = ShardPage { entries: vec![entry(ids[4])], read_down_to: None };
        let page = merge(vec![a, b], 2);
        assert_eq!(page.entries.len(), 2);
        assert_eq!(page.next_before, Some(ids[4]));
        // Everything read, nothing more.
        let page = merge(vec![ShardPage { entries: vec![entry(ids[0])], read_down_to: None }], 5);
        assert_eq!(page.next_before, None);
    }
}
