//! The SQLite implementation of every store port. Invariants are single
//! conditional statements (`UPDATE ... WHERE <condition> RETURNING`, upserts
//! with a `WHERE`) or statements grouped in one transaction, never a read
//! whose answer decides a later write.

mod account_store;
mod log_store;
mod project_store;
mod session_store;
mod token_store;
mod verification_store;

use std::str::FromStr;

use rusqlite::Row;
use rusqlite::types::FromSql;
use secure2fa_core::crypto::{Mac, Sealed, WrappedKey};
use secure2fa_core::ports::StoreError;

use crate::db::Db;

#[derive(Clone)]
pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Deletes log entries, and send counters, sessions, mailed tokens and
    /// attempt counters, that have expired by `now` (what DynamoDB's TTL
    /// does on AWS). Returns how many logs and how many others went.
    /// Works in chunks so that other operations run in between.
    pub async fn sweep_expired(&self, now: secure2fa_core::clock::UnixTime) -> Result<(u64, u64), StoreError> {
        const CHUNK: i64 = 1000;
        let mut logs = 0;
        loop {
            // Entries expire in the order they were written (one retention
            // period for all), so the expired ones are the oldest rows: walk
            // them in rowid order rather than index `expires_at`, which would
            // cost every log write an index update.
            let (deleted, more) = self
                .db
                .run(move |conn| {
                    // The oldest rows, up to the first one still alive.
                    let mut oldest = conn
                        .prepare_cached("SELECT rowid, expires_at FROM logs ORDER BY rowid LIMIT ?1")
                        .map_err(crate::db::sql)?;
                    let rows = oldest
                        .query_map([CHUNK], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
                        .map_err(crate::db::sql)?;
                    let mut last_expired = None;
                    for row in rows {
                        let (rowid, expires_at) = row.map_err(crate::db::sql)?;
                        if expires_at > now {
                            break;
                        }
                        last_expired = Some(rowid);
                    }
                    let Some(last) = last_expired else { return Ok((0, false)) };
                    let n = conn
                        .execute(
                            "DELETE FROM logs WHERE rowid <= ?1 AND expires_at <= ?2",
                            rusqlite::params![last, now],
                        )
                        .map_err(crate::db::sql)?;
                    Ok((n as u64, n as i64 == CHUNK))
                })
                .await?;
            logs += deleted;
            if !more {
                break;
            }
        }
        let counters = self
            .db
            .run(move |conn| {
                let mut n = 0;
                for table in ["send_counters", "sessions", "account_tokens", "attempt_counters"] {
                    n += conn
                        .execute(&format!("DELETE FROM {table} WHERE expires_at <= ?1"), [now])
                        .map_err(crate::db::sql)? as u64;
                }
                Ok(n)
            })
            .await?;
        Ok((logs, counters))
    }
}

/// Reads a text column and parses it with `parse`, reporting a corrupt row
/// as a conversion failure.
fn parsed<T, E>(row: &Row<'_>, col: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> rusqlite::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(col)?;
    parse(&text).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn parsed_opt<T, E>(row: &Row<'_>, col: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> rusqlite::Result<Option<T>>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let text: Option<String> = row.get(col)?;
    text.map(|t| parse(&t))
        .transpose()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

#[derive(Debug, thiserror::Error)]
#[error("unknown value for {0}")]
struct UnknownValue(&'static str);

fn enum_col<T>(row: &Row<'_>, col: &'static str, parse: impl FnOnce(&str) -> Option<T>) -> rusqlite::Result<T> {
    parsed(row, col, |s| parse(s).ok_or(UnknownValue(col)))
}

fn enum_col_opt<T>(
    row: &Row<'_>,
    col: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> rusqlite::Result<Option<T>> {
    parsed_opt(row, col, |s| parse(s).ok_or(UnknownValue(col)))
}

fn id_col<T: FromStr>(row: &Row<'_>, col: &'static str) -> rusqlite::Result<T> {
    parsed(row, col, |s| s.parse::<T>().map_err(|_| UnknownValue(col)))
}

fn json_col<T: serde::de::DeserializeOwned>(row: &Row<'_>, col: &str) -> rusqlite::Result<T> {
    parsed(row, col, |s| serde_json::from_str(s))
}

fn sealed(row: &Row<'_>, col: &str) -> rusqlite::Result<Sealed> {
    Ok(Sealed::from_bytes(row.get(col)?))
}

fn sealed_opt(row: &Row<'_>, col: &str) -> rusqlite::Result<Option<Sealed>> {
    Ok(row.get::<_, Option<Vec<u8>>>(col)?.map(Sealed::from_bytes))
}

fn wrapped(row: &Row<'_>, col: &str) -> rusqlite::Result<WrappedKey> {
    Ok(WrappedKey::from_bytes(row.get(col)?))
}

fn mac(row: &Row<'_>, col: &str) -> rusqlite::Result<Mac> {
    Ok(Mac::from_hex(row.get(col)?))
}

fn mac_opt(row: &Row<'_>, col: &str) -> rusqlite::Result<Option<Mac>> {
    Ok(row.get::<_, Option<String>>(col)?.map(Mac::from_hex))
}

fn get<T: FromSql>(row: &Row<'_>, col: &str) -> rusqlite::Result<T> {
    row.get(col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sweep_deletes_every_expired_log_entry_in_chunks_and_nothing_else() {
        let store = SqliteStore::new(Db::in_memory().unwrap());
        // 2,500 entries written over time: the first 2,345 have expired.
        store
            .db()
            .run(|conn| {
                let mut insert = conn
                    .prepare(
                        "INSERT INTO logs (id, client_id, level, event, message, created_at, expires_at)
                         VALUES (?1, 'cli', 'info', 'e', 'm', ?2, ?2 + 100)",
                    )
                    .map_err(crate::db::sql)?;
                for i in 0..2500i64 {
                    insert.execute(rusqlite::params![format!("log_{i:06}"), i]).map_err(crate::db::sql)?;
                }
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(store.sweep_expired(2444).await.unwrap(), (2345, 0));
        let left: i64 = store
            .db()
            .run(|c| c.query_row("SELECT COUNT(*) FROM logs", [], |r| r.get(0)).map_err(crate::db::sql))
            .await
            .unwrap();
        assert_eq!(left, 155);
        assert_eq!(store.sweep_expired(2444).await.unwrap(), (0, 0));
    }
}
