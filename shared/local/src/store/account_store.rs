//! Clients, channels and templates.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use secure2fa_core::clock::UnixTime;
use secure2fa_core::crypto::Sealed;
use secure2fa_core::ids::{ChannelId, ClientId, TemplateId};
use secure2fa_core::model::{Channel, ChannelMethod, Client, ProviderKind, Template, TemplateFormat};
use secure2fa_core::ports::{ChannelStore, ClientStore, StoreError, TemplateStore};
use secure2fa_core::types::Lang;

use super::{SqliteStore, enum_col, get, id_col, json_col, mac, parsed, sealed, sealed_opt, wrapped};
use crate::db::sql;

fn client_row(row: &Row<'_>) -> rusqlite::Result<Client> {
    Ok(Client {
        id: id_col(row, "id")?,
        email: sealed(row, "email")?,
        email_index: mac(row, "email_index")?,
        password_hash: get(row, "password_hash")?,
        totp_secret: sealed_opt(row, "totp_secret")?,
        totp_last_step: get(row, "totp_last_step")?,
        totp_pending: sealed_opt(row, "totp_pending")?,
        backup_codes: json_col(row, "backup_codes")?,
        is_admin: get(row, "is_admin")?,
        session_epoch: get(row, "session_epoch")?,
        disabled: get(row, "disabled")?,
        confirmed_at: get(row, "confirmed_at")?,
        created_at: get(row, "created_at")?,
        data_key: wrapped(row, "data_key")?,
    })
}

fn channel_row(row: &Row<'_>) -> rusqlite::Result<Channel> {
    Ok(Channel {
        id: id_col(row, "id")?,
        client_id: id_col(row, "client_id")?,
        title: get(row, "title")?,
        method: enum_col(row, "method", ChannelMethod::parse)?,
        provider: enum_col(row, "provider", ProviderKind::parse)?,
        credentials: sealed(row, "credentials")?,
        receipt_secret: sealed_opt(row, "receipt_secret")?,
        created_at: get(row, "created_at")?,
    })
}

fn template_row(row: &Row<'_>) -> rusqlite::Result<Template> {
    Ok(Template {
        id: id_col(row, "id")?,
        client_id: id_col(row, "client_id")?,
        title: get(row, "title")?,
        default_lang: parsed(row, "default_lang", Lang::parse)?,
        format: json_col::<TemplateFormat>(row, "format")?,
        versions: json_col(row, "versions")?,
        created_at: get(row, "created_at")?,
    })
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("model types serialise")
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(&self, c: &Client) -> Result<Client, StoreError> {
        let c = c.clone();
        self.db
            .run(move |conn| {
                // The admin flag is decided inside the INSERT, atomically:
                // a client stored confirmed while there is no admin is the
                // admin (the unique index on is_admin backs this up).
                let mut stmt = conn
                    .prepare_cached(
                        "INSERT INTO clients (id, email, email_index, password_hash, totp_secret, totp_last_step,
                                              backup_codes, is_admin, confirmed_at, created_at, data_key)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
                                 ?8 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM clients WHERE is_admin = 1),
                                 ?8, ?9, ?10)
                         RETURNING *",
                    )
                    .map_err(sql)?;
                stmt.query_row(
                    params![
                        c.id.to_string(),
                        c.email.as_bytes(),
                        c.email_index.as_str(),
                        c.password_hash,
                        c.totp_secret.as_ref().map(|s| s.as_bytes().to_vec()),
                        c.totp_last_step,
                        json(&c.backup_codes),
                        c.confirmed_at,
                        c.created_at,
                        c.data_key.as_bytes(),
                    ],
                    client_row,
                )
                .map_err(|e| match sql(e) {
                    StoreError::Conflict(_) => StoreError::Conflict("email"),
                    other => other,
                })
            })
            .await
    }

    async fn client(&self, id: ClientId) -> Result<Option<Client>, StoreError> {
        self.db
            .run(move |conn| {
                conn.prepare_cached("SELECT * FROM clients WHERE id = ?1")
                    .and_then(|mut s| s.query_row([id.to_string()], client_row).optional())
                    .map_err(sql)
            })
            .await
    }

    async fn client_by_email_index(&self, index: &secure2fa_core::crypto::Mac) -> Result<Option<Client>, StoreError> {
        let index = index.as_str().to_owned();
        self.db
            .run(move |conn| {
                conn.prepare_cached("SELECT * FROM clients WHERE email_index = ?1")
                    .and_then(|mut s| s.query_row([index], client_row).optional())
                    .map_err(sql)
            })
            .await
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.db
            .run(move |conn| {
                let mut s = conn.prepare_cached("SELECT * FROM clients ORDER BY id").map_err(sql)?;
                let rows = s.query_map([], client_row).map_err(sql)?;
                rows.collect::<Result<_, _>>().map_err(sql)
            })
            .await
    }

    async fn confirm_client(
        &self,
        id: ClientId,
        password_hash: &str,
        at: UnixTime,
    ) -> Result<Option<Client>, StoreError> {
        let hash = password_hash.to_owned();
        self.db
            .run(move |conn| {
                // A self sign-up never becomes the admin (see `insert_client`).
                conn.prepare_cached(
                    "UPDATE clients SET password_hash = ?2, confirmed_at = ?3
                     WHERE id = ?1 AND confirmed_at IS NULL AND disabled = 0 RETURNING *",
                )
                .and_then(|mut s| s.query_row(params![id.to_string(), hash, at], client_row).optional())
                .map_err(sql)
            })
            .await
    }

    async fn set_password(&self, id: ClientId, password_hash: &str) -> Result<bool, StoreError> {
        self.update_client(
            "UPDATE clients SET password_hash = ?2, session_epoch = session_epoch + 1
             WHERE id = ?1 AND confirmed_at IS NOT NULL",
            vec![id.to_string().into(), password_hash.to_owned().into()],
        )
        .await
    }

    async fn end_sessions(&self, id: ClientId) -> Result<bool, StoreError> {
        self.update_client(
            "UPDATE clients SET session_epoch = session_epoch + 1 WHERE id = ?1",
            vec![id.to_string().into()],
        )
        .await
    }

    async fn set_totp_pending(&self, id: ClientId, secret: Option<&Sealed>) -> Result<bool, StoreError> {
        let secret = secret.map(|s| s.as_bytes().to_vec());
        self.update_client(
            "UPDATE clients SET totp_pending = ?2 WHERE id = ?1",
            vec![id.to_string().into(), secret.into()],
        )
        .await
    }

    async fn activate_totp(
        &self,
        id: ClientId,
        pending: &Sealed,
        step: i64,
        backup_codes: &[String],
    ) -> Result<bool, StoreError> {
        self.update_client(
            "UPDATE clients SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = ?3,
                                backup_codes = ?4
             WHERE id = ?1 AND totp_pending = ?2 AND totp_secret IS NULL",
            vec![id.to_string().into(), pending.as_bytes().to_vec().into(), step.into(), json(&backup_codes).into()],
        )
        .await
    }

    async fn use_totp_step(&self, id: ClientId, step: i64) -> Result<bool, StoreError> {
        self.update_client(
            "UPDATE clients SET totp_last_step = ?2
             WHERE id = ?1 AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < ?2)",
            vec![id.to_string().into(), step.into()],
        )
        .await
    }

    async fn replace_backup_codes(
        &self,
        id: ClientId,
        expected: &[String],
        new: &[String],
    ) -> Result<bool, StoreError> {
        self.update_client(
            "UPDATE clients SET backup_codes = ?3 WHERE id = ?1 AND backup_codes = ?2",
            vec![id.to_string().into(), json(&expected).into(), json(&new).into()],
        )
        .await
    }

    async fn remove_totp(&self, id: ClientId) -> Result<bool, StoreError> {
        self.update_client(
            "UPDATE clients SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL,
                                backup_codes = '[]', session_epoch = session_epoch + 1
             WHERE id = ?1",
            vec![id.to_string().into()],
        )
        .await
    }

    async fn set_client_disabled(&self, id: ClientId, disabled: bool) -> Result<bool, StoreError> {
        self.update_client(
            "UPDATE clients SET disabled = ?2, session_epoch = session_epoch + ?2 WHERE id = ?1 AND is_admin = 0",
            vec![id.to_string().into(), i64::from(disabled).into()],
        )
        .await
    }

    async fn count_test_send(
        &self,
        client: ClientId,
        window_start: UnixTime,
        _window_seconds: u32,
        max: u32,
    ) -> Result<bool, StoreError> {
        self.db
            .run(move |conn| {
                let tx = conn.savepoint().map_err(sql)?;
                let id = client.to_string();
                tx.execute(
                    "DELETE FROM test_sends WHERE client_id = ?1 AND window_start < ?2",
                    params![id, window_start],
                )
                .map_err(sql)?;
                let counted = tx
                    .execute(
                        "INSERT INTO test_sends (client_id, window_start, count) VALUES (?1, ?2, 1)
                         ON CONFLICT (client_id, window_start) DO UPDATE SET count = count + 1 WHERE count < ?3",
                        params![id, window_start, max],
                    )
                    .map_err(sql)?;
                tx.commit().map_err(sql)?;
                Ok(counted == 1)
            })
            .await
    }
}

impl SqliteStore {
    /// One conditional `UPDATE` of a client: whether a row matched.
    async fn update_client(
        &self,
        sql_text: &'static str,
        params: Vec<rusqlite::types::Value>,
    ) -> Result<bool, StoreError> {
        self.db
            .run(move |conn| {
                let n = conn
                    .prepare_cached(sql_text)
                    .and_then(|mut s| s.execute(rusqlite::params_from_iter(params)))
                    .map_err(sql)?;
                Ok(n == 1)
            })
            .await
    }
}

#[async_trait]
impl ChannelStore for SqliteStore {
    async fn insert_channel(&self, c: &Channel) -> Result<(), StoreError> {
        let c = c.clone();
        self.db
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO channels (id, client_id, title, method, provider, credentials, created_at,
                                           receipt_secret)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        c.id.to_string(),
                        c.client_id.to_string(),
                        c.title,
                        c.method.as_str(),
                        c.provider.as_str(),
                        c.credentials.as_bytes(),
                        c.created_at,
                        c.receipt_secret.as_ref().map(|s| s.as_bytes().to_vec()),
                    ])
                })
                .map_err(|e| match sql(e) {
                    StoreError::InUse => StoreError::Missing("client"),
                    other => other,
                })?;
                Ok(())
            })
            .await
    }

    async fn channel(&self, client: ClientId, id: ChannelId) -> Result<Option<Channel>, StoreError> {
        self.db
            .run(move |conn| {
                conn.prepare_cached("SELECT * FROM channels WHERE id = ?1 AND client_id = ?2")
                    .and_then(|mut s| s.query_row([id.to_string(), client.to_string()], channel_row).optional())
                    .map_err(sql)
            })
            .await
    }

    async fn list_channels(&self, client: ClientId) -> Result<Vec<Channel>, StoreError> {
        self.db
            .run(move |conn| {
                let mut s =
                    conn.prepare_cached("SELECT * FROM channels WHERE client_id = ?1 ORDER BY id").map_err(sql)?;
                let rows = s.query_map([client.to_string()], channel_row).map_err(sql)?;
                rows.collect::<Result<_, _>>().map_err(sql)
            })
            .await
    }

    async fn set_receipt_secret(&self, client: ClientId, id: ChannelId, secret: &Sealed) -> Result<bool, StoreError> {
        let secret = secret.as_bytes().to_vec();
        self.db
            .run(move |conn| {
                conn.execute(
                    "UPDATE channels SET receipt_secret = ?3 WHERE id = ?1 AND client_id = ?2",
                    params![id.to_string(), client.to_string(), secret],
                )
                .map(|n| n == 1)
                .map_err(sql)
            })
            .await
    }

    async fn update_channel(
        &self,
        client: ClientId,
        id: ChannelId,
        title: &str,
        credentials: Option<&Sealed>,
    ) -> Result<bool, StoreError> {
        let (title, credentials) = (title.to_owned(), credentials.map(|c| c.as_bytes().to_vec()));
        self.db
            .run(move |conn| {
                let n = conn
                    .execute(
                        "UPDATE channels SET title = ?3, credentials = COALESCE(?4, credentials)
                         WHERE id = ?1 AND client_id = ?2",
                        params![id.to_string(), client.to_string(), title, credentials],
                    )
                    .map_err(sql)?;
                Ok(n == 1)
            })
            .await
    }

    async fn delete_channel(&self, client: ClientId, id: ChannelId) -> Result<bool, StoreError> {
        self.db
            .run(move |conn| {
                // ON DELETE RESTRICT refuses while a project links the channel.
                let n = conn
                    .execute(
                        "DELETE FROM channels WHERE id = ?1 AND client_id = ?2",
                        [id.to_string(), client.to_string()],
                    )
                    .map_err(sql)?;
                Ok(n == 1)
            })
            .await
    }
}

#[async_trait]
impl TemplateStore for SqliteStore {
    async fn insert_template(&self, t: &Template) -> Result<(), StoreError> {
        let t = t.clone();
        self.db
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO templates (id, client_id, title, default_lang, format, versions, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        t.id.to_string(),
                        t.client_id.to_string(),
                        t.title,
                        t.default_lang.as_str(),
                        json(&t.format),
                        json(&t.versions),
                        t.created_at
                    ])
                })
                .map_err(|e| match sql(e) {
                    StoreError::InUse => StoreError::Missing("client"),
                    other => other,
                })?;
                Ok(())
            })
            .await
    }

    async fn update_template(&self, old: &Template, t: &Template) -> Result<bool, StoreError> {
        let (old, t) = (old.clone(), t.clone());
        self.db
            .run(move |conn| {
                let n = conn
                    .execute(
                        "UPDATE templates SET title = ?3, default_lang = ?4, format = ?5, versions = ?6
                         WHERE id = ?1 AND client_id = ?2 AND default_lang = ?7 AND format = ?8 AND versions = ?9",
                        params![
                            t.id.to_string(),
                            t.client_id.to_string(),
                            t.title,
                            t.default_lang.as_str(),
                            json(&t.format),
                            json(&t.versions),
                            old.default_lang.as_str(),
                            json(&old.format),
                            json(&old.versions),
                        ],
                    )
                    .map_err(sql)?;
                Ok(n == 1)
            })
            .await
    }

    async fn template(&self, client: ClientId, id: TemplateId) -> Result<Option<Template>, StoreError> {
        self.db
            .run(move |conn| {
                conn.prepare_cached("SELECT * FROM templates WHERE id = ?1 AND client_id = ?2")
                    .and_then(|mut s| s.query_row([id.to_string(), client.to_string()], template_row).optional())
                    .map_err(sql)
            })
            .await
    }

    async fn list_templates(&self, client: ClientId) -> Result<Vec<Template>, StoreError> {
        self.db
            .run(move |conn| {
                let mut s =
                    conn.prepare_cached("SELECT * FROM templates WHERE client_id = ?1 ORDER BY id").map_err(sql)?;
                let rows = s.query_map([client.to_string()], template_row).map_err(sql)?;
                rows.collect::<Result<_, _>>().map_err(sql)
            })
            .await
    }

    async fn delete_template(&self, client: ClientId, id: TemplateId) -> Result<bool, StoreError> {
        self.db
            .run(move |conn| {
                let n = conn
                    .execute(
                        "DELETE FROM templates WHERE id = ?1 AND client_id = ?2",
                        [id.to_string(), client.to_string()],
                    )
                    .map_err(sql)?;
                Ok(n == 1)
            })
            .await
    }
}
