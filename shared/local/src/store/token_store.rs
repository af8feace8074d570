//! Clients' API tokens.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use secure2fa_core::clock::UnixTime;
use secure2fa_core::ids::{ClientId, TokenId};
use secure2fa_core::model::ApiToken;
use secure2fa_core::ports::{StoreError, TokenStore};

use super::{SqliteStore, get, id_col};
use crate::db::sql;

fn token_row(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: id_col(row, "id")?,
        client_id: id_col(row, "client_id")?,
        name: get(row, "name")?,
        prefix: get(row, "prefix")?,
        hash: get(row, "hash")?,
        created_at: get(row, "created_at")?,
        last_used_at: get(row, "last_used_at")?,
    })
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn insert_token(&self, t: &ApiToken, max: u32) -> Result<bool, StoreError> {
        let t = t.clone();
        self.db
            .run(move |conn| {
                // The count and the insert are one statement.
                let n = conn
                    .execute(
                        "INSERT INTO api_tokens (id, client_id, name, prefix, hash, created_at, last_used_at)
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
                         WHERE (SELECT COUNT(*) FROM api_tokens WHERE client_id = ?2) < ?8",
                        params![
                            t.id.to_string(),
                            t.client_id.to_string(),
                            t.name,
                            t.prefix,
                            t.hash,
                            t.created_at,
                            t.last_used_at,
                            max
                        ],
                    )
                    .map_err(|e| match sql(e) {
                        StoreError::InUse => StoreError::Missing("client"),
                        other => other,
                    })?;
                Ok(n == 1)
            })
            .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let hash = hash.to_owned();
        self.db
            .run(move |conn| {
                conn.prepare_cached("SELECT * FROM api_tokens WHERE hash = ?1")
                    .and_then(|mut s| s.query_row([hash], token_row).optional())
                    .map_err(sql)
            })
            .await
    }

    async fn list_tokens(&self, client: ClientId) -> Result<Vec<ApiToken>, StoreError> {
        self.db
            .run(move |conn| {
                let mut s =
                    conn.prepare_cached("SELECT * FROM api_tokens WHERE client_id = ?1 ORDER BY id").map_err(sql)?;
                let rows = s.query_map([client.to_string()], token_row).map_err(sql)?;
                rows.collect::<Result<_, _>>().map_err(sql)
            })
            .await
    }

    async fn delete_token(&self, client: ClientId, id: TokenId) -> Result<bool, StoreError> {
        self.db
            .run(move |conn| {
                conn.execute(
                    "DELETE FROM api_tokens WHERE id = ?1 AND client_id = ?2",
                    [id.to_string(), client.to_string()],
                )
                .map(|n| n == 1)
                .map_err(sql)
            })
            .await
    }

    async fn touch_token(&self, client: ClientId, id: TokenId, at: UnixTime) -> Result<(), StoreError> {
        self.db
            .run(move |conn| {
                conn.execute(
                    "UPDATE api_tokens SET last_used_at = ?3 WHERE id = ?1 AND client_id = ?2",
                    params![id.to_string(), client.to_string(), at],
                )
                .map(|_| ())
                .map_err(sql)
            })
            .await
    }
}
