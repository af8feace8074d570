//! End users and their current verification, and send counters.
//!
//! | item | pk | sk | gsi3 (keys only) | TTL |
//! |---|---|---|---|---|
//! | end user | `PROJECT#<id>#USER#<user ref>` | `USER` | `PROJECT#<id>#USERS#<shard>` / `<user ref>` | code expiry + 30 days |
//! | send counter | `PROJECT#<id>#SENDS#<destination index>` | `<window start>` | | window end |
//!
//! Every end user and every destination has a partition of its own, so the
//! hot path of different end users never shares one (`infra/dynamodb.md`,
//! capacity model). The `PROJECT#<id>` prefix keeps them inside the OTP
//! functions' `dynamodb:LeadingKeys` pattern. A project's end users are
//! listed through gsi3, whose keys are written once, when the item is
//! created (`if_not_exists`), so the hot path's writes cost no index write.
//!
//! Each use case is one conditional write (start: a conditional reservation
//! on the send counter, then one on the end user). Refusals come back with the old item
//! (`ReturnValuesOnConditionCheckFailure = ALL_OLD`), so explaining a refusal
//! costs no extra read.
//!
//! A check counts and compares in the same write: it records the guess's
//! MAC (`guess`, `guess_device`) and increments `attempts`, on condition
//! that the code is not yet approved, unexpired and under the cap. The code
//! is *approved* when the recorded guess equals the code MAC and the device
//! matches; that is a property of the item ([`APPROVED`]), not a separate
//! write, and every later check, claim or cooldown sees it.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use secure2fa_core::clock::UnixTime;
use secure2fa_core::crypto::Mac;
use secure2fa_core::ids::{ProjectId, VerificationId};
use secure2fa_core::model::{
    CheckOutcome, ClaimOutcome, DeliveryReceipt, DeliveryState, DestinationLimit, NewVerification, ReceiptStatus,
    UserRef, Verification, VerificationStatus,
};
use secure2fa_core::ports::{StartError, StoreError, VerificationStore};
use secure2fa_core::types::Lang;

use super::table::GSI3;
use super::{DynamoStore, Item, Reader, TransactOutcome, b, key, n, names, s, shard_of, unavailable};

/// End-user records outlive their last code by this long.
const END_USER_RETENTION_SECONDS: i64 = 30 * 86_400;

/// The item holds a used code: the recorded guess matched code and device.
const APPROVED: &str = "(#guess = #code_mac AND (attribute_not_exists(#device_mac) OR #guess_device = #device_mac))";
/// The negation of [`APPROVED`], spelled out because a comparison with a
/// missing attribute is false either way in DynamoDB.
const NOT_APPROVED: &str = "(attribute_not_exists(#guess) OR #guess <> #code_mac OR (attribute_exists(#device_mac) \
     AND (attribute_not_exists(#guess_device) OR #guess_device <> #device_mac)))";

/// Shards of a project's end-user listing (gsi3): new end users of one
/// project spread over this many index partitions.
const USER_INDEX_SHARDS: u32 = 16;

const USER_SK: &str = "USER";

fn user_pk(project: ProjectId, user_ref: &UserRef) -> String {
    format!("PROJECT#{project}#USER#{}", user_ref.as_str())
}

fn user_key(project: ProjectId, user_ref: &UserRef) -> Item {
    key(user_pk(project, user_ref), USER_SK)
}

fn user_index_pk(project: ProjectId, shard: u32) -> String {
    format!("PROJECT#{project}#USERS#{shard:02}")
}

fn verification_from(item: &Item) -> Result<Verification, StoreError> {
    let r = Reader(item);
    let code_mac = r.mac("code_mac")?;
    let device_mac = r.opt_mac("device_mac")?;
    // [`APPROVED`], evaluated on the item.
    let approved = r.opt_mac("guess")?.is_some_and(|g| g.as_str() == code_mac.as_str())
        && match &device_mac {
            None => true,
            Some(d) => r.opt_mac("guess_device")?.is_some_and(|g| g.as_str() == d.as_str()),
        };
    Ok(Verification {
        project_id: r.parse("project_id")?,
        user_ref: r.mac("user_ref")?,
        user_id: r.sealed("user_id")?,
        verification_id: r.parse("verification_id")?,
        code_mac,
        device_mac,
        recipient: r.sealed("recipient")?,
        lang: r.opt_s("lang")?.map(|l| Lang::parse(l).map_err(|_| StoreError::Corrupt("lang".into()))).transpose()?,
        status: if approved { VerificationStatus::Approved } else { VerificationStatus::Pending },
        attempts: r.n("attempts")?,
        max_attempts: r.n("max_attempts")?,
        sent_at: r.n("sent_at")?,
        expires_at: r.n("expires_at")?,
        delivery: r.parse_with("delivery", DeliveryState::parse)?,
        delivery_lease_until: r.opt_n("delivery_lease_until")?,
        provider_message_id: r.opt_s("provider_message_id")?.map(str::to_owned),
        first_seen: r.n("first_seen")?,
        receipt: match r.opt_s("receipt_status")? {
            Some(status) => Some(DeliveryReceipt {
                status: ReceiptStatus::parse(status).ok_or_else(|| StoreError::Corrupt("receipt_status".into()))?,
                reason: r.opt_s("receipt_reason")?.map(str::to_owned),
                at: r.n("receipt_at")?,
            }),
            None => None,
        },
        fallback: r.opt_n::<u8>("fallback")?.is_some_and(|f| f == 1),
    })
}

/// The receipt attributes, cleared whenever the message they describe is replaced.
const RECEIPT_ATTRIBUTES: &str = "#receipt_status, #receipt_rank, #receipt_reason, #receipt_at";

/// An `UpdateItem` refused by its condition, with the old item if any.
fn refused(e: &SdkError<UpdateItemError, aws_smithy_runtime_api::http::Response>) -> Option<Option<&Item>> {
    match e {
        SdkError::ServiceError(se) => match se.err() {
            UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item()),
            _ => None,
        },
        _ => None,
    }
}

/// The record as a refused conditional update found it, or the error.
fn refused_record(
    e: SdkError<UpdateItemError, aws_smithy_runtime_api::http::Response>,
) -> Result<Option<Verification>, StoreError> {
    match refused(&e) {
        Some(old) => old.map(verification_from).transpose(),
        None => Err(unavailable(e)),
    }
}

/// Whether a conditional update was applied (`false`: its condition refused it).
fn applied(
    result: Result<UpdateItemOutput, SdkError<UpdateItemError, aws_smithy_runtime_api::http::Response>>,
) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if refused(&e).is_some() => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

impl DynamoStore {
    /// A conditional update of an end user's item; every attribute in the
    /// expressions is written `#name`.
    fn user_update(&self, project: ProjectId, user_ref: &UserRef, update: &str, cond: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(project, user_ref)))
            .update_expression(update)
            .condition_expression(cond)
            .set_expression_attribute_names(Some(names(&[update, cond])))
    }

    fn start_request(&self, new: &NewVerification, now: UnixTime) -> UpdateItemFluentBuilder {
        let v = &new.record;
        let mut set = vec![
            "#project_id = :pid",
            "#user_ref = :uref",
            "#user_id = :uid",
            "#verification_id = :vid",
            "#code_mac = :cmac",
            "#recipient = :rcpt",
            "#attempts = :zero",
            "#max_attempts = :max",
            "#sent_at = :now",
            "#expires_at = :exp",
            "#delivery = :delivery",
            "#first_seen = if_not_exists(#first_seen, :now)",
            "#gsi3pk = if_not_exists(#gsi3pk, :upk)",
            "#gsi3sk = if_not_exists(#gsi3sk, :uref)",
            "#ttl = :ttl",
        ];
        let mut remove = vec![
            "#delivery_lease_until",
            "#guess",
            "#guess_device",
            "#provider_message_id",
            "#fallback",
            RECEIPT_ATTRIBUTES,
        ];
        if v.device_mac.is_some() {
            set.push("#device_mac = :dmac")
        } else {
            remove.push("#device_mac")
        }
        if v.lang.is_some() {
            set.push("#lang = :lang")
        } else {
            remove.push("#lang")
        }
        let update = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        // Refused while the current code is pending, unexpired and recent.
        let cond = format!("attribute_not_exists(#pk) OR {APPROVED} OR #sent_at <= :edge OR #expires_at <= :now");
        let mut u = self
            .user_update(v.project_id, &v.user_ref, &update, &cond)
            .expression_attribute_values(":pid", s(v.project_id.to_string()))
            .expression_attribute_values(":uref", s(v.user_ref.as_str()))
            .expression_attribute_values(
                ":upk",
                s(user_index_pk(v.project_id, shard_of(v.user_ref.as_str(), USER_INDEX_SHARDS))),
            )
            .expression_attribute_values(":uid", b(v.user_id.as_bytes()))
            .expression_attribute_values(":vid", s(v.verification_id.to_string()))
            .expression_attribute_values(":cmac", s(v.code_mac.as_str()))
            .expression_attribute_values(":rcpt", b(v.recipient.as_bytes()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":max", n(v.max_attempts))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":exp", n(v.expires_at))
            .expression_attribute_values(":delivery", s(v.delivery.as_str()))
            .expression_attribute_values(":ttl", n(v.expires_at + END_USER_RETENTION_SECONDS))
            .expression_attribute_values(":edge", n(now - new.cooldown_seconds as i64))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(d) = &v.device_mac {
            u = u.expression_attribute_values(":dmac", s(d.as_str()));
        }
        if let Some(l) = &v.lang {
            u = u.expression_attribute_values(":lang", s(l.as_str()));
        }
        u
    }

    fn counter_key(project: ProjectId, limit: &DestinationLimit) -> Item {
        key(format!("PROJECT#{project}#SENDS#{}", limit.destination.as_str()), limit.window_start.to_string())
    }

    /// Counts one send to the destination unless its window is used up.
    async fn reserve_send(
        &self,
        project: ProjectId,
        limit: &DestinationLimit,
        now: UnixTime,
    ) -> Result<(), StartError> {
        if self.count_one(Self::counter_key(project, limit), limit.max_sends, limit.window_end()).await? {
            Ok(())
        } else {
            Err(StartError::DestinationLimit { retry_after: (limit.window_end() - now).max(1) as u32 })
        }
    }

    /// Gives back a reserved send. Best effort (see `start_verification`).
    async fn release_send(&self, project: ProjectId, limit: &DestinationLimit) {
        let update = "ADD #count :minus_one";
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::counter_key(project, limit)))
            .update_expression(update)
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(Some(names(&[update, "#pk"])))
            .expression_attribute_values(":minus_one", n(-1))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %crate::describe(&e), "could not release a reserved send");
        }
    }

    /// The table keys of a project's end-user items (gsi3, shard by shard),
    /// up to `limit`.
    pub(crate) async fn end_user_keys(
        &self,
        project: ProjectId,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut keys = Vec::new();
        for shard in 0..USER_INDEX_SHARDS {
            let left = limit.map(|l| l.saturating_sub(keys.len()));
            if left == Some(0) {
                break;
            }
            let items = self.query_index(GSI3, "gsi3pk", &user_index_pk(project, shard), left).await?;
            keys.extend(items.iter().map(|i| {
                let r = Reader(i);
                key(r.s("pk").unwrap_or_default(), r.s("sk").unwrap_or_default())
            }));
        }
        Ok(keys)
    }

    fn cooldown_refusal(new: &NewVerification, old: Option<&Item>, now: UnixTime) -> StartError {
        let last = old.and_then(|i| Reader(i).n::<i64>("sent_at").ok()).unwrap_or(now);
        StartError::Cooldown { retry_after: (last + new.cooldown_seconds as i64 - now).max(1) as u32 }
    }
}

#[async_trait]
impl VerificationStore for DynamoStore {
    async fn start_verification(&self, new: &NewVerification, now: UnixTime) -> Result<(), StartError> {
        // Not one transaction: a transactional write costs twice the write
        // units. Instead the send is first *reserved* on the destination's
        // counter (conditional on the limit), then the cooldown-guarded
        // write replaces the code; if that is refused, the reservation is
        // released. Both rules stay single conditional writes; a release
        // that fails leaves the counter one too high, the safe side.
        let reserved = match &new.destination_limit {
            Some(limit) => {
                self.reserve_send(new.record.project_id, limit, now).await?;
                Some(limit)
            }
            None => None,
        };
        let result = self.start_request(new, now).send().await;
        let refusal = match result {
            Ok(_) => return Ok(()),
            Err(e) => match refused(&e) {
                Some(old) => Self::cooldown_refusal(new, old, now),
                None => unavailable(e).into(),
            },
        };
        if let Some(limit) = reserved {
            self.release_send(new.record.project_id, limit).await;
        }
        Err(refusal)
    }

    async fn verification(&self, project: ProjectId, user_ref: &UserRef) -> Result<Option<Verification>, StoreError> {
        self.get(&user_pk(project, user_ref), USER_SK).await?.as_ref().map(verification_from).transpose()
    }

    async fn check_code(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        code_mac: &Mac,
        device_mac: Option<&Mac>,
        now: UnixTime,
    ) -> Result<CheckOutcome, StoreError> {
        let update = if device_mac.is_some() {
            "SET #guess = :guess, #guess_device = :gdev ADD #attempts :one"
        } else {
            "SET #guess = :guess REMOVE #guess_device ADD #attempts :one"
        };
        let cond = format!("{NOT_APPROVED} AND #expires_at > :now AND #attempts < #max_attempts");
        let mut req = self
            .user_update(project, user_ref, update, &cond)
            .expression_attribute_values(":guess", s(code_mac.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(d) = device_mac {
            req = req.expression_attribute_values(":gdev", s(d.as_str()));
        }
        match req.send().await {
            Ok(out) => Ok(CheckOutcome::Counted(verification_from(&out.attributes.unwrap_or_default())?)),
            Err(e) => Ok(CheckOutcome::Refused(refused_record(e)?)),
        }
    }

    async fn cancel_verification(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let update = "SET #expires_at = :now";
        let cond = format!("#verification_id = :vid AND {NOT_APPROVED} AND #expires_at > :now");
        let result = self
            .user_update(project, user_ref, update, &cond)
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":vid", s(id.to_string()))
            .send()
            .await;
        // Refused: no longer current, nothing to do.
        applied(result).map(|_| ())
    }

    async fn claim_delivery(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        now: UnixTime,
        lease_seconds: u32,
    ) -> Result<ClaimOutcome, StoreError> {
        let update = "SET #delivery = :claimed, #delivery_lease_until = :until";
        let cond = format!(
            "#verification_id = :vid AND {NOT_APPROVED} AND #expires_at > :now \
             AND (#delivery = :queued OR (#delivery = :claimed AND #delivery_lease_until <= :now))"
        );
        let result = self
            .user_update(project, user_ref, update, &cond)
            .expression_attribute_values(":claimed", s(DeliveryState::Claimed.as_str()))
            .expression_attribute_values(":queued", s(DeliveryState::Queued.as_str()))
            .expression_attribute_values(":until", n(now + lease_seconds as i64))
            .expression_attribute_values(":vid", s(id.to_string()))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let fallback = out.attributes.as_ref().and_then(|a| Reader(a).opt_n::<u8>("fallback").ok().flatten());
                Ok(ClaimOutcome::Claimed { fallback: fallback == Some(1) })
            }
            Err(e) => Ok(ClaimOutcome::refused(refused_record(e)?.as_ref(), id, now)),
        }
    }

    async fn finish_delivery(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        claimed_until: UnixTime,
        state: DeliveryState,
        provider_message_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let fence = "#verification_id = :vid AND #delivery = :claimed AND #delivery_lease_until = :until";
        // With a message id: a receipt stored for another message (an
        // earlier try the provider took although we saw a timeout) goes, so
        // this message's receipts can be stored; one for this very message
        // (it beat this write) stays. Two writes only in that rare case.
        let attempts: &[(String, String)] = match provider_message_id {
            Some(_) => &[
                (
                    format!(
                        "SET #delivery = :state, #provider_message_id = :pmid REMOVE #delivery_lease_until, {RECEIPT_ATTRIBUTES}"
                    ),
                    format!(
                        "{fence} AND (attribute_not_exists(#provider_message_id) OR #provider_message_id <> :pmid)"
                    ),
                ),
                (
                    "SET #delivery = :state REMOVE #delivery_lease_until".to_owned(),
                    format!("{fence} AND #provider_message_id = :pmid"),
                ),
            ],
            None => &[("SET #delivery = :state REMOVE #delivery_lease_until".to_owned(), fence.to_owned())],
        };
        for (update, cond) in attempts {
            let mut request = self
                .user_update(project, user_ref, update, cond)
                .expression_attribute_values(":until", n(claimed_until))
                .expression_attribute_values(":state", s(state.as_str()))
                .expression_attribute_values(":claimed", s(DeliveryState::Claimed.as_str()))
                .expression_attribute_values(":vid", s(id.to_string()));
            if let Some(id) = provider_message_id {
                request = request.expression_attribute_values(":pmid", s(id));
            }
            // Refused: no longer current (nothing to do), or the next form applies.
            if applied(request.send().await)? {
                break;
            }
        }
        Ok(())
    }

    async fn record_receipt(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        fallback: bool,
        provider_message_id: &str,
        receipt: &DeliveryReceipt,
    ) -> Result<Option<Verification>, StoreError> {
        let set = "SET #receipt_status = :status, #receipt_rank = :rank, #receipt_at = :at, \
                   #provider_message_id = if_not_exists(#provider_message_id, :mid)";
        let update = match receipt.reason {
            Some(_) => format!("{set}, #receipt_reason = :reason"),
            None => format!("{set} REMOVE #receipt_reason"),
        };
        let route = if fallback { "#fallback = :one" } else { "attribute_not_exists(#fallback)" };
        let cond = format!(
            "#verification_id = :vid AND {route} \
             AND (attribute_not_exists(#provider_message_id) OR #provider_message_id = :mid) \
             AND (attribute_not_exists(#receipt_rank) OR #receipt_rank < :rank)"
        );
        let mut request = self
            .user_update(project, user_ref, &update, &cond)
            .expression_attribute_values(":status", s(receipt.status.as_str()))
            .expression_attribute_values(":rank", n(receipt.status.rank()))
            .expression_attribute_values(":at", n(receipt.at))
            .expression_attribute_values(":mid", s(provider_message_id))
            .expression_attribute_values(":vid", s(id.to_string()))
            .return_values(ReturnValue::AllNew);
        if fallback {
            request = request.expression_attribute_values(":one", n(1));
        }
        if let Some(reason) = &receipt.reason {
            request = request.expression_attribute_values(":reason", s(reason));
        }
        match request.send().await {
            Ok(out) => Ok(Some(verification_from(&out.attributes.unwrap_or_default())?)),
            Err(e) if refused(&e).is_some() => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn start_fallback(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        now: UnixTime,
        claimed_until: Option<UnixTime>,
        destination_limit: Option<&DestinationLimit>,
    ) -> Result<bool, StartError> {
        // The move and the counted send in one transaction (a rare path, so
        // its doubled write cost does not matter): a refused move counts
        // nothing, a full window moves nothing.
        let update = format!(
            "SET #fallback = :one, #delivery = :queued REMOVE #delivery_lease_until, #provider_message_id, \
             {RECEIPT_ATTRIBUTES}"
        );
        let held = if claimed_until.is_some() {
            "OR (#delivery = :claimed AND #delivery_lease_until = :until AND (attribute_not_exists(#receipt_status) \
                 OR NOT (#receipt_status IN (:delivered, :complained)))) "
        } else {
            ""
        };
        let cond = format!(
            "#verification_id = :vid AND {NOT_APPROVED} AND #expires_at > :now AND attribute_not_exists(#fallback) \
             AND (#delivery = :failed {held}OR (#delivery = :sent AND (attribute_not_exists(#receipt_status) \
                  OR NOT (#receipt_status IN (:delivered, :complained)))))"
        );
        let mut values = std::collections::HashMap::from([
            (":one".to_owned(), n(1)),
            (":queued".to_owned(), s(DeliveryState::Queued.as_str())),
            (":failed".to_owned(), s(DeliveryState::Failed.as_str())),
            (":sent".to_owned(), s(DeliveryState::Sent.as_str())),
            (":delivered".to_owned(), s(ReceiptStatus::Delivered.as_str())),
            (":complained".to_owned(), s(ReceiptStatus::Complained.as_str())),
            (":vid".to_owned(), s(id.to_string())),
            (":now".to_owned(), n(now)),
        ]);
        if let Some(until) = claimed_until {
            values.insert(":claimed".to_owned(), s(DeliveryState::Claimed.as_str()));
            values.insert(":until".to_owned(), n(until));
        }
        let mut items = vec![
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(user_key(project, user_ref)))
                        .update_expression(&update)
                        .condition_expression(&cond)
                        .set_expression_attribute_names(Some(names(&[&update, &cond])))
                        .set_expression_attribute_values(Some(values))
                        .build()
                        .expect("complete"),
                )
                .build(),
        ];
        if let Some(limit) = destination_limit {
            items.push(self.count_one_in_transaction(
                Self::counter_key(project, limit),
                limit.max_sends,
                limit.window_end(),
            ));
        }
        match self.transact(items).await? {
            TransactOutcome::Committed => Ok(true),
            TransactOutcome::Cancelled(r) if TransactOutcome::failed(&r, 0) => Ok(false),
            TransactOutcome::Cancelled(r) => match destination_limit {
                Some(limit) if TransactOutcome::failed(&r, 1) => {
                    Err(StartError::DestinationLimit { retry_after: (limit.window_end() - now).max(1) as u32 })
                }
                // Throttled or otherwise cancelled: worth a retry.
                _ => Err(StoreError::Unavailable(format!("fallback move cancelled: {r:?}")).into()),
            },
        }
    }

    async fn list_verifications(&self, project: ProjectId, limit: usize) -> Result<Vec<Verification>, StoreError> {
        let limit = limit.clamp(1, 500);
        let mut out = Vec::new();
        for k in self.end_user_keys(project, Some(limit)).await? {
            let r = Reader(&k);
            if let Some(item) = self.get(r.s("pk")?, r.s("sk")?).await? {
                out.push(verification_from(&item)?);
            }
        }
        Ok(out)
    }
}
