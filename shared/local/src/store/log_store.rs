use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Row, params};
use secure2fa_core::ids::ClientId;
use secure2fa_core::model::{LogEntry, LogFilter, LogLevel, LogPage};
use secure2fa_core::ports::{LogStore, StoreError};

use super::{SqliteStore, enum_col, get, id_col, mac_opt, parsed_opt};
use crate::db::sql;

fn log_row(row: &Row<'_>) -> rusqlite::Result<LogEntry> {
    Ok(LogEntry {
        id: id_col(row, "id")?,
        client_id: id_col(row, "client_id")?,
        project_id: parsed_opt(row, "project_id", str::parse)?,
        user_ref: mac_opt(row, "user_ref")?,
        verification_id: parsed_opt(row, "verification_id", str::parse)?,
        level: enum_col(row, "level", LogLevel::parse)?,
        event: get(row, "event")?,
        message: get(row, "message")?,
        created_at: get(row, "created_at")?,
    })
}

#[async_trait]
impl LogStore for SqliteStore {
    async fn append_log(&self, e: &LogEntry) -> Result<(), StoreError> {
        let e = e.clone();
        self.db
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO logs (id, client_id, project_id, user_ref, verification_id, level, event, message, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        e.id.to_string(),
                        e.client_id.to_string(),
                        e.project_id.map(|p| p.to_string()),
                        e.user_ref.as_ref().map(|u| u.as_str().to_owned()),
                        e.verification_id.map(|v| v.to_string()),
                        e.level.as_str(),
                        e.event,
                        e.message,
                        e.created_at,
                        e.expires_at(),
                    ])
                })
                .map_err(sql)?;
                Ok(())
            })
            .await
    }

    async fn list_logs(&self, client: ClientId, filter: &LogFilter) -> Result<LogPage, StoreError> {
        let filter = filter.clone();
        let limit = filter.limit.clamp(1, 500);
        self.db
            .run(move |conn| {
                let mut sql_text = String::from("SELECT * FROM logs WHERE client_id = ?");
                let mut args: Vec<Value> = vec![client.to_string().into()];
                match filter.project_id {
                    Some(p) => {
                        sql_text.push_str(" AND project_id = ?");
                        args.push(p.to_string().into());
                    }
                    // Logs of deleted projects are not listed.
                    None => sql_text.push_str(" AND (project_id IS NULL OR project_id IN (SELECT id FROM projects))"),
                }
                if let Some(u) = &filter.user_ref {
                    sql_text.push_str(" AND user_ref = ?");
                    args.push(u.as_str().to_owned().into());
                }
                if let Some(l) = filter.level {
                    sql_text.push_str(" AND level = ?");
                    args.push(l.as_str().to_owned().into());
                }
                if let Some(b) = filter.before {
                    sql_text.push_str(" AND id < ?");
                    args.push(b.to_string().into());
                }
                sql_text.push_str(" ORDER BY id DESC LIMIT ?");
                args.push((limit as i64).into());
                let mut s = conn.prepare_cached(&sql_text).map_err(sql)?;
                let rows = s.query_map(rusqlite::params_from_iter(args), log_row).map_err(sql)?;
                let entries = rows.collect::<Result<_, _>>().map_err(sql)?;
                Ok(LogPage::of(entries, limit))
            })
            .await
    }
}
