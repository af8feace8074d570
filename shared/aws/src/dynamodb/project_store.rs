//! Projects.
//!
//! | item | pk | sk | GSI2 |
//! |---|---|---|---|
//! | project | `PROJECT#<id>` | `PROJECT` | `CLIENT#<id>#PROJECTS` / `<id>` |
//! | public-key lock | `PUBKEY#<public key>` | `LOCK` (holds `project_id`) | |
//!
//! The hot path finds a project by public key with two `GetItem`s (the lock,
//! then the project), each on a partition of its own and strongly
//! consistent, behind the services' read cache: no index query per call,
//! and a new project is usable at once. The lock item also makes the public
//! key unique (a GSI cannot). Creating and deleting a project are
//! transactions that also move the channel's and template's `refs`
//! counters.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, DeleteRequest, TransactWriteItem, Update, WriteRequest};
use secure2fa_core::ids::{ClientId, ProjectId};
use secure2fa_core::model::{ChannelMethod, Fallback, Project, Webhook};
use secure2fa_core::ports::{ProjectStore, StoreError};
use secure2fa_core::types::PublicKey;

use super::table::GSI2;
use super::{DynamoStore, Item, Reader, TransactOutcome, b, key, n, names, s, unavailable};

fn project_pk(id: ProjectId) -> String {
    format!("PROJECT#{id}")
}

/// The condition that a project item is at `revision` (items written
/// before revisions existed have none: revision 0).
fn revision_condition(revision: u64) -> &'static str {
    if revision == 0 { "(attribute_not_exists(#revision) OR #revision = :rev)" } else { "#revision = :rev" }
}

fn project_item(p: &Project) -> Item {
    let mut item = key(project_pk(p.id), "PROJECT");
    item.extend([
        ("gsi2pk".into(), s(format!("CLIENT#{}#PROJECTS", p.client_id))),
        ("gsi2sk".into(), s(p.id.to_string())),
        ("id".into(), s(p.id.to_string())),
        ("client_id".into(), s(p.client_id.to_string())),
        ("title".into(), s(&p.title)),
        ("public_key".into(), s(p.public_key.as_str())),
        ("secret_key".into(), b(p.secret_key.as_bytes())),
        ("channel_id".into(), s(p.channel_id.to_string())),
        ("channel_method".into(), s(p.channel_method.as_str())),
        ("template_id".into(), s(p.template_id.to_string())),
        ("settings".into(), s(serde_json::to_string(&p.settings).expect("settings serialise"))),
        ("data_key".into(), b(p.data_key.as_bytes())),
        ("created_at".into(), n(p.created_at)),
    ]);
    if let Some(w) = &p.webhook {
        item.insert("webhook_url".into(), b(w.url.as_bytes()));
        item.insert("webhook_secret".into(), b(w.signing_secret.as_bytes()));
    }
    if let Some(f) = &p.fallback {
        item.insert("fallback_channel_id".into(), s(f.channel_id.to_string()));
        item.insert("fallback_after".into(), n(f.after_seconds));
    }
    item.insert("revision".into(), n(p.revision));
    if let (Some(k), Some(until)) = (&p.previous_secret_key, p.previous_secret_until) {
        item.insert("previous_secret_key".into(), b(k.as_bytes()));
        item.insert("previous_secret_until".into(), n(until));
    }
    item
}

fn project_from(item: &Item) -> Result<Project, StoreError> {
    let r = Reader(item);
    let webhook = match (r.opt_sealed("webhook_url")?, r.opt_sealed("webhook_secret")?) {
        (Some(url), Some(signing_secret)) => Some(Webhook { url, signing_secret }),
        _ => None,
    };
    Ok(Project {
        id: r.parse("id")?,
        client_id: r.parse("client_id")?,
        title: r.s("title")?.to_owned(),
        public_key: r.parse_with("public_key", |p| PublicKey::parse(p).ok())?,
        secret_key: r.sealed("secret_key")?,
        channel_id: r.parse("channel_id")?,
        channel_method: r.parse_with("channel_method", ChannelMethod::parse)?,
        template_id: r.parse("template_id")?,
        settings: r.json("settings")?,
        webhook,
        fallback: match (r.opt_s("fallback_channel_id")?, r.opt_n("fallback_after")?) {
            (Some(id), Some(after_seconds)) => Some(Fallback {
                channel_id: id.parse().map_err(|_| StoreError::Corrupt("fallback_channel_id".into()))?,
                after_seconds,
            }),
            _ => None,
        },
        previous_secret_key: r.opt_sealed("previous_secret_key")?,
        previous_secret_until: r.opt_n("previous_secret_until")?,
        // Absent on items written before edits existed.
        revision: r.opt_n("revision")?.unwrap_or(0),
        data_key: r.wrapped("data_key")?,
        created_at: r.n("created_at")?,
    })
}

impl DynamoStore {
    /// `ADD refs :delta` on a channel or template that must exist.
    fn move_refs(&self, client: ClientId, sk: String, delta: i64) -> TransactWriteItem {
        let update = "ADD #refs :delta";
        let cond = "attribute_exists(#pk)";
        let u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(format!("CLIENT#{client}"), sk)))
            .update_expression(update)
            .condition_expression(cond)
            .set_expression_attribute_names(Some(names(&[update, cond])))
            .expression_attribute_values(":delta", n(delta))
            .build()
            .expect("complete");
        TransactWriteItem::builder().update(u).build()
    }

    pub(crate) fn delete_item(&self, pk: String, sk: &str, condition: Option<(&str, ClientId)>) -> TransactWriteItem {
        let mut d = Delete::builder().table_name(&self.table).set_key(Some(key(pk, sk)));
        if let Some((cond, client)) = condition {
            d = d
                .condition_expression(cond)
                .set_expression_attribute_names(Some(names(&[cond])))
                .expression_attribute_values(":client", s(client.to_string()));
        }
        TransactWriteItem::builder().delete(d.build().expect("complete")).build()
    }

    /// Deletes the items of these keys, 25 at a time.
    async fn delete_keys(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    WriteRequest::builder()
                        .delete_request(DeleteRequest::builder().set_key(Some(k.clone())).build().expect("complete"))
                        .build()
                })
                .collect();
            for _ in 0..5 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(unavailable)?;
                requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ProjectStore for DynamoStore {
    async fn insert_project(&self, p: &Project) -> Result<(), StoreError> {
        let mut lock = key(format!("PUBKEY#{}", p.public_key.as_str()), "LOCK");
        lock.insert("project_id".into(), s(p.id.to_string()));
        let mut items = vec![
            self.put(project_item(p), "attribute_not_exists(#pk)"),
            self.put(lock, "attribute_not_exists(#pk)"),
            self.move_refs(p.client_id, format!("CHANNEL#{}", p.channel_id), 1),
            self.move_refs(p.client_id, format!("TEMPLATE#{}", p.template_id), 1),
        ];
        if let Some(f) = &p.fallback {
            items.push(self.move_refs(p.client_id, format!("CHANNEL#{}", f.channel_id), 1));
        }
        match self.transact(items).await? {
            TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 4) => {
                Err(StoreError::Missing("fallback channel"))
            }
            TransactOutcome::Committed => Ok(()),
            TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 2) => Err(StoreError::Missing("channel")),
            TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 3) => Err(StoreError::Missing("template")),
            TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 1) => Err(StoreError::Conflict("public_key")),
            TransactOutcome::Cancelled(_) => Err(StoreError::Conflict("id")),
        }
    }

    async fn project(&self, id: ProjectId) -> Result<Option<Project>, StoreError> {
        self.get(&project_pk(id), "PROJECT").await?.as_ref().map(project_from).transpose()
    }

    async fn project_by_public_key(&self, public_key: &str) -> Result<Option<Project>, StoreError> {
        let Some(lock) = self.get(&format!("PUBKEY#{public_key}"), "LOCK").await? else { return Ok(None) };
        let id: ProjectId = Reader(&lock).parse("project_id")?;
        // The lock and the project are written and deleted together; a
        // project read between the two deletes is not answered for.
        Ok(self.project(id).await?.filter(|p| p.public_key.as_str() == public_key))
    }

    async fn update_project(&self, old: &Project, new: &Project) -> Result<bool, StoreError> {
        // The links' reference counts move by their net change (one update
        // per item: a transaction may not touch an item twice).
        let mut deltas: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        let links = |p: &Project| {
            let mut l = vec![format!("CHANNEL#{}", p.channel_id), format!("TEMPLATE#{}", p.template_id)];
            l.extend(p.fallback.map(|f| format!("CHANNEL#{}", f.channel_id)));
            l
        };
        for sk in links(old) {
            *deltas.entry(sk).or_default() -= 1;
        }
        for sk in links(new) {
            *deltas.entry(sk).or_default() += 1;
        }
        let mut cond = "attribute_exists(#pk) AND #client_id = :client AND #channel_id = :oc AND #template_id = :ot \
                        AND #secret_key = :osk AND "
            .to_owned();
        cond.push_str(revision_condition(old.revision));
        cond.push_str(" AND ");
        cond.push_str(match old.fallback {
            Some(_) => "#fallback_channel_id = :of",
            None => "attribute_not_exists(#fallback_channel_id)",
        });
        let stored = Project { revision: old.revision + 1, ..new.clone() };
        let mut put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(project_item(&stored)))
            .expression_attribute_values(":rev", n(old.revision))
            .condition_expression(&cond)
            .set_expression_attribute_names(Some(names(&[&cond])))
            .expression_attribute_values(":client", s(old.client_id.to_string()))
            .expression_attribute_values(":oc", s(old.channel_id.to_string()))
            .expression_attribute_values(":ot", s(old.template_id.to_string()))
            .expression_attribute_values(":osk", b(old.secret_key.as_bytes()));
        if let Some(f) = old.fallback {
            put = put.expression_attribute_values(":of", s(f.channel_id.to_string()));
        }
        let mut items = vec![TransactWriteItem::builder().put(put.build().expect("complete")).build()];
        for (sk, delta) in deltas.into_iter().filter(|(_, d)| *d != 0) {
            items.push(self.move_refs(new.client_id, sk, delta));
        }
        match self.transact(items).await? {
            TransactOutcome::Committed => Ok(true),
            TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 0) => Ok(false),
            TransactOutcome::Cancelled(_) => Err(StoreError::Missing("channel or template")),
        }
    }

    async fn list_projects(&self, client: ClientId) -> Result<Vec<Project>, StoreError> {
        let items = self.query_index(GSI2, "gsi2pk", &format!("CLIENT#{client}#PROJECTS"), None).await?;
        let mut projects = items.iter().map(project_from).collect::<Result<Vec<_>, _>>()?;
        projects.sort_by_key(|p| p.id);
        Ok(projects)
    }

    async fn delete_project(&self, client: ClientId, id: ProjectId) -> Result<bool, StoreError> {
        // The read tells which counters and lock to move; the delete is
        // conditional on the project still being that read (its client and
        // revision: an edit in between may have relinked it), else read again.
        let mut attempts = 0;
        loop {
            let Some(p) = self.project(id).await? else { return Ok(false) };
            if p.client_id != client {
                return Ok(false);
            }
            let cond = format!("attribute_exists(#pk) AND #client_id = :client AND {}", revision_condition(p.revision));
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(project_pk(id), "PROJECT")))
                .condition_expression(&cond)
                .set_expression_attribute_names(Some(names(&[&cond])))
                .expression_attribute_values(":client", s(client.to_string()))
                .expression_attribute_values(":rev", n(p.revision))
                .build()
                .expect("complete");
            let mut items = vec![
                TransactWriteItem::builder().delete(delete).build(),
                self.delete_item(format!("PUBKEY#{}", p.public_key.as_str()), "LOCK", None),
                self.move_refs(client, format!("CHANNEL#{}", p.channel_id), -1),
                self.move_refs(client, format!("TEMPLATE#{}", p.template_id), -1),
            ];
            if let Some(f) = &p.fallback {
                items.push(self.move_refs(client, format!("CHANNEL#{}", f.channel_id), -1));
            }
            match self.transact(items).await? {
                TransactOutcome::Committed => break,
                TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 0) && attempts < 5 => attempts += 1,
                TransactOutcome::Cancelled(_) => return Ok(false),
            }
        }
        // End users: unreadable already (the wrapped data key is gone);
        // removed now rather than left to their TTL. Send counters hold a
        // count under a destination's blind index and expire with their
        // window.
        let users = self.end_user_keys(id, None).await?;
        self.delete_keys(users).await?;
        Ok(true)
    }
}
