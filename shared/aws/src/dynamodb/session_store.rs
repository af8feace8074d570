//! Sessions, mailed account tokens and attempt counters.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | session | `SESSION#<sha-256 of the cookie>` | `SESSION` |
//! | account token | `ACCOUNTTOKEN#<sha-256 of the token>` | `TOKEN` |
//! | attempt counter | `ATTEMPTS#<key>` | `<window start>` |
//!
//! Each carries `ttl`: DynamoDB deletes it some time after it expires;
//! reads check the expiry themselves.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use secure2fa_core::clock::UnixTime;
use secure2fa_core::model::{AccountToken, AccountTokenPurpose, Session, SessionLevel};
use secure2fa_core::ports::{SessionStore, StoreError};

use super::{DynamoStore, Item, Reader, key, n, names, s, unavailable};

const NOT_EXISTS: &str = "attribute_not_exists(#pk)";

fn session_key(hash: &str) -> Item {
    key(format!("SESSION#{hash}"), "SESSION")
}

fn token_key(hash: &str) -> Item {
    key(format!("ACCOUNTTOKEN#{hash}"), "TOKEN")
}

fn session_from(item: &Item) -> Result<Session, StoreError> {
    let r = Reader(item);
    Ok(Session {
        hash: r.s("hash")?.to_owned(),
        client_id: r.parse("client_id")?,
        level: r.parse_with("level", SessionLevel::parse)?,
        epoch: r.n("epoch")?,
        created_at: r.n("created_at")?,
        expires_at: r.n("expires_at")?,
        idle_expires_at: r.n("idle_expires_at")?,
    })
}

fn token_from(item: &Item) -> Result<AccountToken, StoreError> {
    let r = Reader(item);
    Ok(AccountToken {
        hash: r.s("hash")?.to_owned(),
        client_id: r.parse("client_id")?,
        purpose: r.parse_with("purpose", AccountTokenPurpose::parse)?,
        expires_at: r.n("expires_at")?,
    })
}

impl DynamoStore {
    async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(NOT_EXISTS)
            .set_expression_attribute_names(Some(names(&[NOT_EXISTS])))
            .send()
            .await
            .map_err(|e| match &e {
                SdkError::ServiceError(se) if se.err().is_conditional_check_failed_exception() => {
                    StoreError::Conflict("hash")
                }
                _ => unavailable(e),
            })?;
        Ok(())
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn insert_session(&self, x: &Session) -> Result<(), StoreError> {
        let mut item = session_key(&x.hash);
        item.extend([
            ("hash".into(), s(&x.hash)),
            ("client_id".into(), s(x.client_id.to_string())),
            ("level".into(), s(x.level.as_str())),
            ("epoch".into(), n(x.epoch)),
            ("created_at".into(), n(x.created_at)),
            ("expires_at".into(), n(x.expires_at)),
            ("idle_expires_at".into(), n(x.idle_expires_at)),
            ("ttl".into(), n(x.expires_at)),
        ]);
        self.put_new(item).await
    }

    async fn session(&self, hash: &str) -> Result<Option<Session>, StoreError> {
        self.get(&format!("SESSION#{hash}"), "SESSION").await?.as_ref().map(session_from).transpose()
    }

    async fn touch_session(&self, hash: &str, idle_expires_at: UnixTime) -> Result<(), StoreError> {
        self.update_if(
            session_key(hash),
            "SET #idle_expires_at = :idle",
            "attribute_exists(#pk)",
            vec![(":idle", n(idle_expires_at))],
        )
        .await?;
        Ok(())
    }

    async fn delete_session(&self, hash: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(session_key(hash)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn insert_account_token(&self, t: &AccountToken) -> Result<(), StoreError> {
        let mut item = token_key(&t.hash);
        item.extend([
            ("hash".into(), s(&t.hash)),
            ("client_id".into(), s(t.client_id.to_string())),
            ("purpose".into(), s(t.purpose.as_str())),
            ("expires_at".into(), n(t.expires_at)),
            ("ttl".into(), n(t.expires_at)),
        ]);
        self.put_new(item).await
    }

    async fn take_account_token(
        &self,
        hash: &str,
        purpose: AccountTokenPurpose,
        now: UnixTime,
    ) -> Result<Option<AccountToken>, StoreError> {
        let cond = "attribute_exists(#pk) AND #purpose = :purpose AND #expires_at > :now";
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(token_key(hash)))
            .condition_expression(cond)
            .set_expression_attribute_names(Some(names(&[cond])))
            .expression_attribute_values(":purpose", s(purpose.as_str()))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes.as_ref().map(token_from).transpose(),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), DeleteItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn count_attempt(
        &self,
        key_text: &str,
        window_start: UnixTime,
        window_seconds: u32,
        max: u32,
    ) -> Result<Option<u32>, StoreError> {
        if max == 0 {
            return Ok(None);
        }
        let counter = key(format!("ATTEMPTS#{key_text}"), window_start.to_string());
        self.count_one_returning(counter, max, window_start + window_seconds as i64).await
    }

    async fn clear_attempts(&self, key_text: &str, window_start: UnixTime) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("ATTEMPTS#{key_text}"), window_start.to_string())))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
