//! Clients, channels and templates.
//!
//! | item | pk | sk | GSI1 |
//! |---|---|---|---|
//! | client | `CLIENT#<id>` | `CLIENT` | `CLIENTS` / `<id>` |
//! | email lock | `EMAIL#<blind index>` | `EMAIL` | |
//! | admin marker | `ADMIN` | `ADMIN` | |
//! | channel | `CLIENT#<id>` | `CHANNEL#<id>` | |
//! | template | `CLIENT#<id>` | `TEMPLATE#<id>` | |
//!
//! Channels and templates carry `refs`, the number of projects linking them,
//! maintained in the project transactions; deletion is conditional on 0.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::{ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use secure2fa_core::clock::UnixTime;
use secure2fa_core::crypto::Mac;
use secure2fa_core::crypto::Sealed;
use secure2fa_core::ids::{ChannelId, ClientId, TemplateId, TokenId};
use secure2fa_core::model::{ApiToken, Channel, ChannelMethod, Client, ProviderKind, Template};
use secure2fa_core::ports::{ChannelStore, ClientStore, StoreError, TemplateStore, TokenStore};
use secure2fa_core::types::Lang;

use super::table::GSI1;
use super::{DynamoStore, Item, Reader, TransactOutcome, b, boolean, key, n, names, s, unavailable};

const NOT_EXISTS: &str = "attribute_not_exists(#pk)";

fn client_pk(id: ClientId) -> String {
    format!("CLIENT#{id}")
}

fn client_item(c: &Client, is_admin: bool) -> Item {
    let mut item = key(client_pk(c.id), "CLIENT");
    item.extend([
        ("gsi1pk".into(), s("CLIENTS")),
        ("gsi1sk".into(), s(c.id.to_string())),
        ("id".into(), s(c.id.to_string())),
        ("email".into(), b(c.email.as_bytes())),
        ("email_index".into(), s(c.email_index.as_str())),
        ("backup_codes".into(), s(serde_json::to_string(&c.backup_codes).expect("strings serialise"))),
        ("is_admin".into(), boolean(is_admin)),
        ("session_epoch".into(), n(c.session_epoch)),
        ("disabled".into(), boolean(c.disabled)),
        ("created_at".into(), n(c.created_at)),
        ("data_key".into(), b(c.data_key.as_bytes())),
    ]);
    if let Some(h) = &c.password_hash {
        item.insert("password_hash".into(), s(h));
    }
    if let Some(t) = &c.totp_secret {
        item.insert("totp_secret".into(), b(t.as_bytes()));
    }
    if let Some(t) = &c.totp_pending {
        item.insert("totp_pending".into(), b(t.as_bytes()));
    }
    if let Some(step) = c.totp_last_step {
        item.insert("totp_last_step".into(), n(step));
    }
    if let Some(at) = c.confirmed_at {
        item.insert("confirmed_at".into(), n(at));
    }
    item
}

fn client_from(item: &Item) -> Result<Client, StoreError> {
    let r = Reader(item);
    Ok(Client {
        id: r.parse("id")?,
        email: r.sealed("email")?,
        email_index: r.mac("email_index")?,
        password_hash: r.opt_s("password_hash")?.map(str::to_owned),
        totp_secret: r.opt_sealed("totp_secret")?,
        totp_last_step: r.opt_n("totp_last_step")?,
        totp_pending: r.opt_sealed("totp_pending")?,
        backup_codes: r.json("backup_codes")?,
        is_admin: r.bool("is_admin")?,
        // Absent on items written before accounts existed.
        session_epoch: r.opt_n("session_epoch")?.unwrap_or(0),
        disabled: item.contains_key("disabled") && r.bool("disabled")?,
        confirmed_at: r.opt_n("confirmed_at")?,
        created_at: r.n("created_at")?,
        data_key: r.wrapped("data_key")?,
    })
}

fn channel_item(c: &Channel) -> Item {
    let mut item = key(client_pk(c.client_id), format!("CHANNEL#{}", c.id));
    item.extend([
        ("id".into(), s(c.id.to_string())),
        ("client_id".into(), s(c.client_id.to_string())),
        ("title".into(), s(&c.title)),
        ("method".into(), s(c.method.as_str())),
        ("provider".into(), s(c.provider.as_str())),
        ("credentials".into(), b(c.credentials.as_bytes())),
        ("created_at".into(), n(c.created_at)),
        ("refs".into(), n(0)),
    ]);
    if let Some(secret) = &c.receipt_secret {
        item.insert("receipt_secret".into(), b(secret.as_bytes()));
    }
    item
}

fn channel_from(item: &Item) -> Result<Channel, StoreError> {
    let r = Reader(item);
    Ok(Channel {
        id: r.parse("id")?,
        client_id: r.parse("client_id")?,
        title: r.s("title")?.to_owned(),
        method: r.parse_with("method", ChannelMethod::parse)?,
        provider: r.parse_with("provider", ProviderKind::parse)?,
        credentials: r.sealed("credentials")?,
        receipt_secret: r.opt_sealed("receipt_secret")?,
        created_at: r.n("created_at")?,
    })
}

fn template_item(t: &Template) -> Item {
    let mut item = key(client_pk(t.client_id), format!("TEMPLATE#{}", t.id));
    item.extend([
        ("id".into(), s(t.id.to_string())),
        ("client_id".into(), s(t.client_id.to_string())),
        ("title".into(), s(&t.title)),
        ("default_lang".into(), s(t.default_lang.as_str())),
        ("format".into(), s(serde_json::to_string(&t.format).expect("enum serialises"))),
        ("versions".into(), s(serde_json::to_string(&t.versions).expect("versions serialise"))),
        ("created_at".into(), n(t.created_at)),
        ("refs".into(), n(0)),
    ]);
    item
}

fn template_from(item: &Item) -> Result<Template, StoreError> {
    let r = Reader(item);
    Ok(Template {
        id: r.parse("id")?,
        client_id: r.parse("client_id")?,
        title: r.s("title")?.to_owned(),
        default_lang: r.parse_with("default_lang", |l| Lang::parse(l).ok())?,
        format: r.json("format")?,
        versions: r.json("versions")?,
        created_at: r.n("created_at")?,
    })
}

impl DynamoStore {
    /// Moves a client's token count by `delta` (the client must exist).
    fn count_tokens(&self, client: ClientId, delta: i64) -> TransactWriteItem {
        let (update, cond) = ("ADD #api_tokens :delta", "attribute_exists(#pk)");
        let u = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(client_pk(client), "CLIENT")))
            .update_expression(update)
            .condition_expression(cond)
            .set_expression_attribute_names(Some(names(&[update, cond])))
            .expression_attribute_values(":delta", n(delta))
            .build()
            .expect("complete");
        TransactWriteItem::builder().update(u).build()
    }

    fn client_exists(&self, client: ClientId) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(client_pk(client), "CLIENT")))
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(Some(names(&["#pk"])))
            .build()
            .expect("complete");
        TransactWriteItem::builder().condition_check(check).build()
    }

    /// A new child item of a client (channel, template), if the client exists.
    async fn insert_child(&self, client: ClientId, item: Item) -> Result<(), StoreError> {
        let items = vec![self.client_exists(client), self.put(item, NOT_EXISTS)];
        match self.transact(items).await? {
            TransactOutcome::Committed => Ok(()),
            TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 0) => Err(StoreError::Missing("client")),
            TransactOutcome::Cancelled(_) => Err(StoreError::Conflict("id")),
        }
    }

    /// Deletes a channel or template unless a project links it.
    async fn delete_unreferenced(&self, pk: String, sk: String) -> Result<bool, StoreError> {
        let cond = "attribute_exists(#pk) AND #refs = :zero";
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .condition_expression(cond)
            .set_expression_attribute_names(Some(names(&[cond])))
            .expression_attribute_values(":zero", n(0))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), DeleteItemError::ConditionalCheckFailedException(_)) =>
            {
                match e.err() {
                    DeleteItemError::ConditionalCheckFailedException(c) if c.item().is_some() => Err(StoreError::InUse),
                    _ => Ok(false),
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl ClientStore for DynamoStore {
    async fn insert_client(&self, c: &Client) -> Result<Client, StoreError> {
        let mut email_lock = key(format!("EMAIL#{}", c.email_index.as_str()), "EMAIL");
        email_lock.insert("client_id".into(), s(c.id.to_string()));
        let mut admin_marker = key("ADMIN", "ADMIN");
        admin_marker.insert("client_id".into(), s(c.id.to_string()));

        // A confirmed client first tries as the admin: succeeds only while
        // there is none, because the ADMIN marker item can be created once.
        if c.confirmed_at.is_some() {
            let as_admin = vec![
                self.put(client_item(c, true), NOT_EXISTS),
                self.put(email_lock.clone(), NOT_EXISTS),
                self.put(admin_marker, NOT_EXISTS),
            ];
            match self.transact(as_admin).await? {
                TransactOutcome::Committed => return Ok(Client { is_admin: true, ..c.clone() }),
                TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 1) => {
                    return Err(StoreError::Conflict("email"));
                }
                TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 0) => {
                    return Err(StoreError::Conflict("id"));
                }
                TransactOutcome::Cancelled(_) => {}
            }
        }
        let as_client = vec![self.put(client_item(c, false), NOT_EXISTS), self.put(email_lock, NOT_EXISTS)];
        match self.transact(as_client).await? {
            TransactOutcome::Committed => Ok(Client { is_admin: false, ..c.clone() }),
            TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 1) => Err(StoreError::Conflict("email")),
            TransactOutcome::Cancelled(_) => Err(StoreError::Conflict("id")),
        }
    }

    async fn client(&self, id: ClientId) -> Result<Option<Client>, StoreError> {
        self.get(&client_pk(id), "CLIENT").await?.as_ref().map(client_from).transpose()
    }

    async fn client_by_email_index(&self, index: &Mac) -> Result<Option<Client>, StoreError> {
        let Some(lock) = self.get(&format!("EMAIL#{}", index.as_str()), "EMAIL").await? else { return Ok(None) };
        let id: ClientId = Reader(&lock).parse("client_id")?;
        self.client(id).await
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let items = self.query_index(GSI1, "gsi1pk", "CLIENTS", None).await?;
        let mut clients = items.iter().map(client_from).collect::<Result<Vec<_>, _>>()?;
        clients.sort_by_key(|c| c.id);
        Ok(clients)
    }

    async fn confirm_client(
        &self,
        id: ClientId,
        password_hash: &str,
        at: UnixTime,
    ) -> Result<Option<Client>, StoreError> {
        // A self sign-up never becomes the admin (see `ClientStore::insert_client`).
        let confirmed = self
            .update_if(
                key(client_pk(id), "CLIENT"),
                "SET #password_hash = :hash, #confirmed_at = :at",
                "attribute_exists(#pk) AND attribute_not_exists(#confirmed_at) AND \
                 (attribute_not_exists(#disabled) OR #disabled = :false)",
                vec![(":hash", s(password_hash)), (":at", n(at)), (":false", boolean(false))],
            )
            .await?;
        if !confirmed {
            return Ok(None);
        }
        self.client(id).await
    }

    async fn set_password(&self, id: ClientId, password_hash: &str) -> Result<bool, StoreError> {
        self.update_if(
            key(client_pk(id), "CLIENT"),
            "SET #password_hash = :hash ADD #session_epoch :one",
            "attribute_exists(#pk) AND attribute_exists(#confirmed_at)",
            vec![(":hash", s(password_hash)), (":one", n(1))],
        )
        .await
    }

    async fn end_sessions(&self, id: ClientId) -> Result<bool, StoreError> {
        self.update_if(
            key(client_pk(id), "CLIENT"),
            "ADD #session_epoch :one",
            "attribute_exists(#pk)",
            vec![(":one", n(1))],
        )
        .await
    }

    async fn set_totp_pending(&self, id: ClientId, secret: Option<&Sealed>) -> Result<bool, StoreError> {
        let (update, values) = match secret {
            Some(sealed) => ("SET #totp_pending = :secret", vec![(":secret", b(sealed.as_bytes()))]),
            None => ("REMOVE #totp_pending", vec![]),
        };
        self.update_if(key(client_pk(id), "CLIENT"), update, "attribute_exists(#pk)", values).await
    }

    async fn activate_totp(
        &self,
        id: ClientId,
        pending: &Sealed,
        step: i64,
        backup_codes: &[String],
    ) -> Result<bool, StoreError> {
        let codes = serde_json::to_string(backup_codes).expect("strings serialise");
        self.update_if(
            key(client_pk(id), "CLIENT"),
            "SET #totp_secret = :pending, #totp_last_step = :step, #backup_codes = :codes REMOVE #totp_pending",
            "#totp_pending = :pending AND attribute_not_exists(#totp_secret)",
            vec![(":pending", b(pending.as_bytes())), (":step", n(step)), (":codes", s(codes))],
        )
        .await
    }

    async fn use_totp_step(&self, id: ClientId, step: i64) -> Result<bool, StoreError> {
        self.update_if(
            key(client_pk(id), "CLIENT"),
            "SET #totp_last_step = :step",
            "attribute_exists(#totp_secret) AND (attribute_not_exists(#totp_last_step) OR #totp_last_step < :step)",
            vec![(":step", n(step))],
        )
        .await
    }

    async fn replace_backup_codes(
        &self,
        id: ClientId,
        expected: &[String],
        new: &[String],
    ) -> Result<bool, StoreError> {
        let json = |v: &[String]| s(serde_json::to_string(v).expect("strings serialise"));
        self.update_if(
            key(client_pk(id), "CLIENT"),
            "SET #backup_codes = :new",
            "#backup_codes = :expected",
            vec![(":expected", json(expected)), (":new", json(new))],
        )
        .await
    }

    async fn remove_totp(&self, id: ClientId) -> Result<bool, StoreError> {
        self.update_if(
            key(client_pk(id), "CLIENT"),
            "SET #backup_codes = :none ADD #session_epoch :one REMOVE #totp_secret, #totp_pending, #totp_last_step",
            "attribute_exists(#pk)",
            vec![(":none", s("[]")), (":one", n(1))],
        )
        .await
    }

    async fn set_client_disabled(&self, id: ClientId, disabled: bool) -> Result<bool, StoreError> {
        self.update_if(
            key(client_pk(id), "CLIENT"),
            "SET #disabled = :disabled ADD #session_epoch :bump",
            "attribute_exists(#pk) AND #is_admin = :false",
            vec![(":disabled", boolean(disabled)), (":bump", n(u32::from(disabled))), (":false", boolean(false))],
        )
        .await
    }

    async fn count_test_send(
        &self,
        client: ClientId,
        window_start: UnixTime,
        window_seconds: u32,
        max: u32,
    ) -> Result<bool, StoreError> {
        let counter = key(client_pk(client), format!("TESTSENDS#{window_start}"));
        self.count_one(counter, max, window_start + window_seconds as i64).await
    }
}

#[async_trait]
impl ChannelStore for DynamoStore {
    async fn insert_channel(&self, c: &Channel) -> Result<(), StoreError> {
        self.insert_child(c.client_id, channel_item(c)).await
    }

    async fn channel(&self, client: ClientId, id: ChannelId) -> Result<Option<Channel>, StoreError> {
        self.get(&client_pk(client), &format!("CHANNEL#{id}")).await?.as_ref().map(channel_from).transpose()
    }

    async fn list_channels(&self, client: ClientId) -> Result<Vec<Channel>, StoreError> {
        let items = self.query_partition(&client_pk(client), Some("CHANNEL#"), None).await?;
        items.iter().map(channel_from).collect()
    }

    async fn set_receipt_secret(&self, client: ClientId, id: ChannelId, secret: &Sealed) -> Result<bool, StoreError> {
        let key = key(client_pk(client), format!("CHANNEL#{id}"));
        self.update_if(
            key,
            "SET #receipt_secret = :secret",
            "attribute_exists(#pk)",
            vec![(":secret", b(secret.as_bytes()))],
        )
        .await
    }

    async fn update_channel(
        &self,
        client: ClientId,
        id: ChannelId,
        title: &str,
        credentials: Option<&Sealed>,
    ) -> Result<bool, StoreError> {
        let (update, mut values) = match credentials {
            Some(c) => ("SET #title = :title, #credentials = :credentials", vec![(":credentials", b(c.as_bytes()))]),
            None => ("SET #title = :title", vec![]),
        };
        values.push((":title", s(title)));
        self.update_if(key(client_pk(client), format!("CHANNEL#{id}")), update, "attribute_exists(#pk)", values).await
    }

    async fn delete_channel(&self, client: ClientId, id: ChannelId) -> Result<bool, StoreError> {
        self.delete_unreferenced(client_pk(client), format!("CHANNEL#{id}")).await
    }
}

#[async_trait]
impl TemplateStore for DynamoStore {
    async fn insert_template(&self, t: &Template) -> Result<(), StoreError> {
        self.insert_child(t.client_id, template_item(t)).await
    }

    async fn update_template(&self, old: &Template, t: &Template) -> Result<bool, StoreError> {
        let item = template_item(t);
        let before = template_item(old);
        self.update_if(
            key(client_pk(t.client_id), format!("TEMPLATE#{}", t.id)),
            "SET #title = :title, #default_lang = :lang, #format = :format, #versions = :versions",
            "attribute_exists(#pk) AND #default_lang = :old_lang AND #format = :old_format AND #versions = :old_versions",
            vec![
                (":title", item["title"].clone()),
                (":lang", item["default_lang"].clone()),
                (":format", item["format"].clone()),
                (":versions", item["versions"].clone()),
                (":old_lang", before["default_lang"].clone()),
                (":old_format", before["format"].clone()),
                (":old_versions", before["versions"].clone()),
            ],
        )
        .await
    }

    async fn template(&self, client: ClientId, id: TemplateId) -> Result<Option<Template>, StoreError> {
        self.get(&client_pk(client), &format!("TEMPLATE#{id}")).await?.as_ref().map(template_from).transpose()
    }

    async fn list_templates(&self, client: ClientId) -> Result<Vec<Template>, StoreError> {
        let items = self.query_partition(&client_pk(client), Some("TEMPLATE#"), None).await?;
        items.iter().map(template_from).collect()
    }

    async fn delete_template(&self, client: ClientId, id: TemplateId) -> Result<bool, StoreError> {
        self.delete_unreferenced(client_pk(client), format!("TEMPLATE#{id}")).await
    }
}

/// A client's API token, and the lock that finds it by hash.
///
/// | item | pk | sk |
/// |---|---|---|
/// | token | `CLIENT#<client id>` | `TOKEN#<token id>` |
/// | hash lock | `APITOKEN#<sha-256 of the token>` | `TOKEN` (holds `client_id`, `token_id`) |
fn token_item(t: &ApiToken) -> Item {
    let mut item = key(client_pk(t.client_id), format!("TOKEN#{}", t.id));
    item.extend([
        ("id".into(), s(t.id.to_string())),
        ("client_id".into(), s(t.client_id.to_string())),
        ("name".into(), s(&t.name)),
        ("prefix".into(), s(&t.prefix)),
        ("hash".into(), s(&t.hash)),
        ("created_at".into(), n(t.created_at)),
    ]);
    if let Some(at) = t.last_used_at {
        item.insert("last_used_at".into(), n(at));
    }
    item
}

fn token_from(item: &Item) -> Result<ApiToken, StoreError> {
    let r = Reader(item);
    Ok(ApiToken {
        id: r.parse("id")?,
        client_id: r.parse("client_id")?,
        name: r.s("name")?.to_owned(),
        prefix: r.s("prefix")?.to_owned(),
        hash: r.s("hash")?.to_owned(),
        created_at: r.n("created_at")?,
        last_used_at: r.opt_n("last_used_at")?,
    })
}

fn token_lock_pk(hash: &str) -> String {
    format!("APITOKEN#{hash}")
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn insert_token(&self, t: &ApiToken, max: u32) -> Result<bool, StoreError> {
        let mut lock = key(token_lock_pk(&t.hash), "TOKEN");
        lock.insert("client_id".into(), s(t.client_id.to_string()));
        lock.insert("token_id".into(), s(t.id.to_string()));
        // The client item counts its tokens; the count and the insert are
        // one transaction.
        let (update, cond) = (
            "ADD #api_tokens :one",
            "attribute_exists(#pk) AND (attribute_not_exists(#api_tokens) OR #api_tokens < :max)",
        );
        let count = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(client_pk(t.client_id), "CLIENT")))
            .update_expression(update)
            .condition_expression(cond)
            .set_expression_attribute_names(Some(names(&[update, cond])))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .build()
            .expect("complete");
        let items = vec![
            TransactWriteItem::builder().update(count).build(),
            self.put(token_item(t), NOT_EXISTS),
            self.put(lock, NOT_EXISTS),
        ];
        match self.transact(items).await? {
            TransactOutcome::Committed => Ok(true),
            TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 0) => match self.client(t.client_id).await? {
                Some(_) => Ok(false),
                None => Err(StoreError::Missing("client")),
            },
            TransactOutcome::Cancelled(_) => Err(StoreError::Conflict("token")),
        }
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let Some(lock) = self.get(&token_lock_pk(hash), "TOKEN").await? else { return Ok(None) };
        let r = Reader(&lock);
        let (client, id): (ClientId, TokenId) = (r.parse("client_id")?, r.parse("token_id")?);
        let token = self.get(&client_pk(client), &format!("TOKEN#{id}")).await?;
        // The lock and the token are written and deleted together; the hash
        // is compared again all the same.
        Ok(token.as_ref().map(token_from).transpose()?.filter(|t| t.hash == hash))
    }

    async fn list_tokens(&self, client: ClientId) -> Result<Vec<ApiToken>, StoreError> {
        let items = self.query_partition(&client_pk(client), Some("TOKEN#"), None).await?;
        items.iter().map(token_from).collect()
    }

    async fn delete_token(&self, client: ClientId, id: TokenId) -> Result<bool, StoreError> {
        let Some(item) = self.get(&client_pk(client), &format!("TOKEN#{id}")).await? else { return Ok(false) };
        let token = token_from(&item)?;
        let items = vec![
            self.delete_item(
                client_pk(client),
                &format!("TOKEN#{id}"),
                Some(("attribute_exists(#pk) AND #client_id = :client", client)),
            ),
            self.delete_item(token_lock_pk(&token.hash), "TOKEN", None),
            self.count_tokens(client, -1),
        ];
        match self.transact(items).await? {
            TransactOutcome::Committed => Ok(true),
            TransactOutcome::Cancelled(_) => Ok(false),
        }
    }

    async fn touch_token(&self, client: ClientId, id: TokenId, at: UnixTime) -> Result<(), StoreError> {
        // A token deleted meanwhile is not brought back: the write is refused.
        let key = key(client_pk(client), format!("TOKEN#{id}"));
        self.update_if(key, "SET #last_used_at = :at", "attribute_exists(#pk)", vec![(":at", n(at))]).await?;
        Ok(())
    }
}
