//! The SQLite implementation of every store port. Invariants are single
//! conditional statements (`UPDATE ... WHERE <condition> RETURNING`, upserts
//! with a `WHERE`) or statements grouped in one transaction, never a read
//! whose answer decides a later write.

mod account_store;
mod log_store;
mod project_store;
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

    /// Deletes log entries and send counters that have expired by `now`
    /// (what DynamoDB's TTL does on AWS). Returns how many of each went.
    pub async fn sweep_expired(&self, now: secure2fa_core::clock::UnixTime) -> Result<(u64, u64), StoreError> {
        self.db
            .run(move |conn| {
                let logs = conn.execute("DELETE FROM logs WHERE expires_at <= ?1", [now]).map_err(crate::db::sql)?;
                let counters =
                    conn.execute("DELETE FROM send_counters WHERE expires_at <= ?1", [now]).map_err(crate::db::sql)?;
                Ok((logs as u64, counters as u64))
            })
            .await
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
