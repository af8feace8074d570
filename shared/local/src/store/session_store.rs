//! Sessions, mailed account tokens and attempt counters.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use secure2fa_core::clock::UnixTime;
use secure2fa_core::model::{AccountToken, AccountTokenPurpose, Session, SessionLevel};
use secure2fa_core::ports::{SessionStore, StoreError};

use super::{SqliteStore, enum_col, get, id_col};
use crate::db::sql;

fn session_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        hash: get(row, "hash")?,
        client_id: id_col(row, "client_id")?,
        level: enum_col(row, "level", SessionLevel::parse)?,
        epoch: get(row, "epoch")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        idle_expires_at: get(row, "idle_expires_at")?,
    })
}

fn token_row(row: &Row<'_>) -> rusqlite::Result<AccountToken> {
    Ok(AccountToken {
        hash: get(row, "hash")?,
        client_id: id_col(row, "client_id")?,
        purpose: enum_col(row, "purpose", AccountTokenPurpose::parse)?,
        expires_at: get(row, "expires_at")?,
    })
}

/// A foreign key failure on insert: the client is gone.
fn client_missing(e: rusqlite::Error) -> StoreError {
    match sql(e) {
        StoreError::InUse => StoreError::Missing("client"),
        other => other,
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, s: &Session) -> Result<(), StoreError> {
        let s = s.clone();
        self.db
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO sessions (hash, client_id, level, epoch, created_at, expires_at, idle_expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        s.hash,
                        s.client_id.to_string(),
                        s.level.as_str(),
                        s.epoch,
                        s.created_at,
                        s.expires_at,
                        s.idle_expires_at
                    ])
                })
                .map_err(client_missing)?;
                Ok(())
            })
            .await
    }

    async fn session(&self, hash: &str) -> Result<Option<Session>, StoreError> {
        let hash = hash.to_owned();
        self.db
            .run(move |conn| {
                conn.prepare_cached("SELECT * FROM sessions WHERE hash = ?1")
                    .and_then(|mut s| s.query_row([hash], session_row).optional())
                    .map_err(sql)
            })
            .await
    }

    async fn touch_session(&self, hash: &str, idle_expires_at: UnixTime) -> Result<(), StoreError> {
        let hash = hash.to_owned();
        self.db
            .run(move |conn| {
                conn.prepare_cached("UPDATE sessions SET idle_expires_at = ?2 WHERE hash = ?1")
                    .and_then(|mut s| s.execute(params![hash, idle_expires_at]))
                    .map_err(sql)?;
                Ok(())
            })
            .await
    }

    async fn delete_session(&self, hash: &str) -> Result<bool, StoreError> {
        let hash = hash.to_owned();
        self.db
            .run(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM sessions WHERE hash = ?1")
                    .and_then(|mut s| s.execute([hash]))
                    .map_err(sql)?;
                Ok(n == 1)
            })
            .await
    }

    async fn insert_account_token(&self, t: &AccountToken) -> Result<(), StoreError> {
        let t = t.clone();
        self.db
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO account_tokens (hash, client_id, purpose, expires_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| s.execute(params![t.hash, t.client_id.to_string(), t.purpose.as_str(), t.expires_at]))
                .map_err(client_missing)?;
                Ok(())
            })
            .await
    }

    async fn take_account_token(
        &self,
        hash: &str,
        purpose: AccountTokenPurpose,
        now: UnixTime,
    ) -> Result<Option<AccountToken>, StoreError> {
        let hash = hash.to_owned();
        self.db
            .run(move |conn| {
                conn.prepare_cached(
                    "DELETE FROM account_tokens WHERE hash = ?1 AND purpose = ?2 AND expires_at > ?3 RETURNING *",
                )
                .and_then(|mut s| s.query_row(params![hash, purpose.as_str(), now], token_row).optional())
                .map_err(sql)
            })
            .await
    }

    async fn count_attempt(
        &self,
        key: &str,
        window_start: UnixTime,
        window_seconds: u32,
        max: u32,
    ) -> Result<Option<u32>, StoreError> {
        let key = key.to_owned();
        self.db
            .run(move |conn| {
                // One upsert: a new window starts at 1, an existing one
                // counts on only while under `max` (no row back: refused).
                conn.prepare_cached(
                    "INSERT INTO attempt_counters (key, window_start, count, expires_at)
                     SELECT ?1, ?2, 1, ?3 WHERE ?4 > 0
                     ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 WHERE count < ?4
                     RETURNING count",
                )
                .and_then(|mut s| {
                    s.query_row(params![key, window_start, window_start + window_seconds as i64, max], |r| r.get(0))
                        .optional()
                })
                .map_err(sql)
            })
            .await
    }

    async fn clear_attempts(&self, key: &str, window_start: UnixTime) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.db
            .run(move |conn| {
                conn.prepare_cached("DELETE FROM attempt_counters WHERE key = ?1 AND window_start = ?2")
                    .and_then(|mut s| s.execute(params![key, window_start]))
                    .map_err(sql)?;
                Ok(())
            })
            .await
    }
}
