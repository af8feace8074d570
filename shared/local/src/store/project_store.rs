use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use secure2fa_core::ids::{ClientId, ProjectId};
use secure2fa_core::model::{ChannelMethod, Fallback, Project, Webhook};
use secure2fa_core::ports::{ProjectStore, StoreError};
use secure2fa_core::types::PublicKey;

use super::{SqliteStore, enum_col, get, id_col, json_col, parsed, sealed, sealed_opt, wrapped};
use crate::db::sql;

fn project_row(row: &Row<'_>) -> rusqlite::Result<Project> {
    let webhook = match (sealed_opt(row, "webhook_url")?, sealed_opt(row, "webhook_secret")?) {
        (Some(url), Some(signing_secret)) => Some(Webhook { url, signing_secret }),
        _ => None,
    };
    Ok(Project {
        id: id_col(row, "id")?,
        client_id: id_col(row, "client_id")?,
        title: get(row, "title")?,
        public_key: parsed(row, "public_key", PublicKey::parse)?,
        secret_key: sealed(row, "secret_key")?,
        channel_id: id_col(row, "channel_id")?,
        channel_method: enum_col(row, "channel_method", ChannelMethod::parse)?,
        template_id: id_col(row, "template_id")?,
        settings: json_col(row, "settings")?,
        webhook,
        fallback: match (get::<Option<String>>(row, "fallback_channel_id")?, get::<Option<u32>>(row, "fallback_after")?)
        {
            (Some(_), Some(after_seconds)) => {
                Some(Fallback { channel_id: id_col(row, "fallback_channel_id")?, after_seconds })
            }
            _ => None,
        },
        previous_secret_key: sealed_opt(row, "previous_secret_key")?,
        previous_secret_until: get(row, "previous_secret_until")?,
        revision: get::<i64>(row, "revision")? as u64,
        data_key: wrapped(row, "data_key")?,
        created_at: get(row, "created_at")?,
    })
}

#[async_trait]
impl ProjectStore for SqliteStore {
    async fn insert_project(&self, p: &Project) -> Result<(), StoreError> {
        let p = p.clone();
        self.db
            .run(move |conn| {
                let tx = conn.savepoint().map_err(sql)?;
                // The channel and template must be the same client's: the
                // INSERT only happens if both exist for that client.
                let n = tx
                    .execute(
                        "INSERT INTO projects (id, client_id, title, public_key, secret_key, channel_id, channel_method,
                                               template_id, settings, webhook_url, webhook_secret, data_key, created_at,
                                               fallback_channel_id, fallback_after)
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15
                         WHERE EXISTS (SELECT 1 FROM channels WHERE id = ?6 AND client_id = ?2)
                           AND EXISTS (SELECT 1 FROM templates WHERE id = ?8 AND client_id = ?2)
                           AND (?14 IS NULL OR EXISTS (SELECT 1 FROM channels WHERE id = ?14 AND client_id = ?2))",
                        params![
                            p.id.to_string(),
                            p.client_id.to_string(),
                            p.title,
                            p.public_key.as_str(),
                            p.secret_key.as_bytes(),
                            p.channel_id.to_string(),
                            p.channel_method.as_str(),
                            p.template_id.to_string(),
                            serde_json::to_string(&p.settings).expect("settings serialise"),
                            p.webhook.as_ref().map(|w| w.url.as_bytes().to_vec()),
                            p.webhook.as_ref().map(|w| w.signing_secret.as_bytes().to_vec()),
                            p.data_key.as_bytes(),
                            p.created_at,
                            p.fallback.map(|f| f.channel_id.to_string()),
                            p.fallback.map(|f| f.after_seconds),
                        ],
                    )
                    .map_err(|e| match sql(e) {
                        StoreError::Conflict(_) => StoreError::Conflict("public_key"),
                        other => other,
                    })?;
                if n == 0 {
                    let exists = |table: &str, id: String| -> Result<bool, StoreError> {
                        tx.query_row(
                            &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1 AND client_id = ?2)"),
                            [id, p.client_id.to_string()],
                            |r| r.get(0),
                        )
                        .map_err(sql)
                    };
                    let missing = if !exists("channels", p.channel_id.to_string())? {
                        "channel"
                    } else if !exists("templates", p.template_id.to_string())? {
                        "template"
                    } else {
                        "fallback channel"
                    };
                    return Err(StoreError::Missing(missing));
                }
                tx.commit().map_err(sql)
            })
            .await
    }

    async fn project(&self, id: ProjectId) -> Result<Option<Project>, StoreError> {
        self.db
            .run(move |conn| {
                conn.prepare_cached("SELECT * FROM projects WHERE id = ?1")
                    .and_then(|mut s| s.query_row([id.to_string()], project_row).optional())
                    .map_err(sql)
            })
            .await
    }

    async fn project_by_public_key(&self, public_key: &str) -> Result<Option<Project>, StoreError> {
        let pk = public_key.to_owned();
        self.db
            .run(move |conn| {
                conn.prepare_cached("SELECT * FROM projects WHERE public_key = ?1")
                    .and_then(|mut s| s.query_row([pk], project_row).optional())
                    .map_err(sql)
            })
            .await
    }

    async fn update_project(&self, old: &Project, new: &Project) -> Result<bool, StoreError> {
        let (old, p) = (old.clone(), new.clone());
        self.db
            .run(move |conn| {
                let tx = conn.savepoint().map_err(sql)?;
                // The row must still link what `old` links (the caller
                // validated against it), and the new links be the client's.
                let current: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM projects WHERE id = ?1 AND client_id = ?2 AND channel_id = ?3
                                          AND template_id = ?4 AND fallback_channel_id IS ?5 AND secret_key = ?6
                                          AND revision = ?7)",
                        params![
                            old.id.to_string(),
                            old.client_id.to_string(),
                            old.channel_id.to_string(),
                            old.template_id.to_string(),
                            old.fallback.map(|f| f.channel_id.to_string()),
                            old.secret_key.as_bytes(),
                            old.revision as i64,
                        ],
                        |r| r.get(0),
                    )
                    .map_err(sql)?;
                if !current {
                    return Ok(false);
                }
                let links_ok: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM channels WHERE id = ?1 AND client_id = ?3)
                            AND EXISTS (SELECT 1 FROM templates WHERE id = ?2 AND client_id = ?3)
                            AND (?4 IS NULL OR EXISTS (SELECT 1 FROM channels WHERE id = ?4 AND client_id = ?3))",
                        params![
                            p.channel_id.to_string(),
                            p.template_id.to_string(),
                            p.client_id.to_string(),
                            p.fallback.map(|f| f.channel_id.to_string()),
                        ],
                        |r| r.get(0),
                    )
                    .map_err(sql)?;
                if !links_ok {
                    return Err(StoreError::Missing("channel or template"));
                }
                let n = tx
                    .execute(
                        "UPDATE projects SET title = ?3, secret_key = ?4, channel_id = ?5, channel_method = ?6,
                                template_id = ?7, settings = ?8, webhook_url = ?9, webhook_secret = ?10,
                                fallback_channel_id = ?11, fallback_after = ?12, previous_secret_key = ?17,
                                previous_secret_until = ?18, revision = ?19 + 1
                         WHERE id = ?1 AND client_id = ?2 AND channel_id = ?13 AND template_id = ?14
                           AND fallback_channel_id IS ?15 AND secret_key = ?16 AND revision = ?19",
                        params![
                            p.id.to_string(),
                            p.client_id.to_string(),
                            p.title,
                            p.secret_key.as_bytes(),
                            p.channel_id.to_string(),
                            p.channel_method.as_str(),
                            p.template_id.to_string(),
                            serde_json::to_string(&p.settings).expect("settings serialise"),
                            p.webhook.as_ref().map(|w| w.url.as_bytes().to_vec()),
                            p.webhook.as_ref().map(|w| w.signing_secret.as_bytes().to_vec()),
                            p.fallback.map(|f| f.channel_id.to_string()),
                            p.fallback.map(|f| f.after_seconds),
                            old.channel_id.to_string(),
                            old.template_id.to_string(),
                            old.fallback.map(|f| f.channel_id.to_string()),
                            old.secret_key.as_bytes(),
                            p.previous_secret_key.as_ref().map(|k| k.as_bytes().to_vec()),
                            p.previous_secret_until,
                            old.revision as i64,
                        ],
                    )
                    .map_err(sql)?;
                tx.commit().map_err(sql)?;
                Ok(n == 1)
            })
            .await
    }

    async fn list_projects(&self, client: ClientId) -> Result<Vec<Project>, StoreError> {
        self.db
            .run(move |conn| {
                let mut s =
                    conn.prepare_cached("SELECT * FROM projects WHERE client_id = ?1 ORDER BY id").map_err(sql)?;
                let rows = s.query_map([client.to_string()], project_row).map_err(sql)?;
                rows.collect::<Result<_, _>>().map_err(sql)
            })
            .await
    }

    async fn delete_project(&self, client: ClientId, id: ProjectId) -> Result<bool, StoreError> {
        self.db
            .run(move |conn| {
                // End users and send counters go with it (ON DELETE CASCADE),
                // and so does the wrapped data key stored on the row.
                let n = conn
                    .execute(
                        "DELETE FROM projects WHERE id = ?1 AND client_id = ?2",
                        [id.to_string(), client.to_string()],
                    )
                    .map_err(sql)?;
                Ok(n == 1)
            })
            .await
    }
}
