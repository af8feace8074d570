//! Logs.
//!
//! | item | pk | sk | TTL |
//! |---|---|---|---|
//! | project log | `LOG#<project id>` | `<log id>` (ULID: time order) | 90 days |
//! | client log (no project) | `LOGC#<client id>` | `<log id>` | 90 days |
//!
//! One partition per project spreads the write load (no GSI, so a log entry
//! is one write unit). A client-wide page merges the client's partitions;
//! level and end-user filters are filter expressions.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use secure2fa_core::ids::ClientId;
use secure2fa_core::model::{LogEntry, LogFilter, LogLevel};
use secure2fa_core::ports::{LogStore, ProjectStore, StoreError};

use super::{DynamoStore, Item, Reader, key, n, names, s, unavailable};

fn partition(e: &LogEntry) -> String {
    match e.project_id {
        Some(p) => format!("LOG#{p}"),
        None => format!("LOGC#{}", e.client_id),
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
            Some(p) => vec![format!("LOG#{p}")],
            None => {
                let mut parts = vec![format!("LOGC#{client}")];
                parts.extend(self.list_projects(client).await?.into_iter().map(|p| format!("LOG#{}", p.id)));
                parts
            }
        };
        let mut all = Vec::new();
        for pk in partitions {
            all.extend(self.query_logs(&pk, client, filter, limit).await?);
        }
        all.sort_by_key(|e| std::cmp::Reverse(e.id));
        all.truncate(limit);
        Ok(all)
    }
}
