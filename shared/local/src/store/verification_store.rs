use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, named_params, params};
use secure2fa_core::clock::UnixTime;
use secure2fa_core::crypto::Mac;
use secure2fa_core::ids::{ProjectId, VerificationId};
use secure2fa_core::model::{
    CheckOutcome, ClaimOutcome, DeliveryReceipt, DeliveryState, DestinationLimit, NewVerification, ReceiptStatus,
    UserRef, Verification, VerificationStatus,
};
use secure2fa_core::ports::{StartError, StoreError, VerificationStore};
use secure2fa_core::types::Lang;

use super::{SqliteStore, enum_col, enum_col_opt, get, id_col, mac, mac_opt, parsed_opt, sealed};
use crate::db::sql;

fn verification_row(row: &Row<'_>) -> rusqlite::Result<Verification> {
    Ok(Verification {
        project_id: id_col(row, "project_id")?,
        user_ref: mac(row, "user_ref")?,
        user_id: sealed(row, "user_id")?,
        verification_id: id_col(row, "verification_id")?,
        code_mac: mac(row, "code_mac")?,
        device_mac: mac_opt(row, "device_mac")?,
        recipient: sealed(row, "recipient")?,
        lang: parsed_opt(row, "lang", Lang::parse)?,
        status: enum_col(row, "status", VerificationStatus::parse)?,
        attempts: get(row, "attempts")?,
        max_attempts: get(row, "max_attempts")?,
        sent_at: get(row, "sent_at")?,
        expires_at: get(row, "expires_at")?,
        delivery: enum_col(row, "delivery", DeliveryState::parse)?,
        delivery_lease_until: get(row, "delivery_lease_until")?,
        first_seen: get(row, "first_seen")?,
        provider_message_id: get(row, "provider_message_id")?,
        receipt: match enum_col_opt(row, "receipt_status", ReceiptStatus::parse)? {
            Some(status) => {
                Some(DeliveryReceipt { status, reason: get(row, "receipt_reason")?, at: get(row, "receipt_at")? })
            }
            None => None,
        },
        fallback: get(row, "fallback")?,
    })
}

fn current(conn: &Connection, project: &str, user_ref: &str) -> Result<Option<Verification>, StoreError> {
    conn.prepare_cached("SELECT * FROM end_users WHERE project_id = ?1 AND user_ref = ?2")
        .and_then(|mut s| s.query_row([project, user_ref], verification_row).optional())
        .map_err(sql)
}

/// Counts one send to the destination unless its window is used up.
fn count_send(
    conn: &Connection,
    project: &str,
    limit: &DestinationLimit,
    now: UnixTime,
) -> Result<Result<(), StartError>, StoreError> {
    let counted = conn
        .prepare_cached(
            "INSERT INTO send_counters (project_id, destination, window_start, count, expires_at)
             VALUES (?1, ?2, ?3, 1, ?4)
             ON CONFLICT (project_id, destination, window_start)
             DO UPDATE SET count = count + 1 WHERE count < ?5",
        )
        .and_then(|mut s| {
            s.execute(params![
                project,
                limit.destination.as_str(),
                limit.window_start,
                limit.window_end(),
                limit.max_sends
            ])
        })
        .map_err(sql)?;
    if counted == 0 {
        return Ok(Err(StartError::DestinationLimit { retry_after: (limit.window_end() - now).max(1) as u32 }));
    }
    Ok(Ok(()))
}

impl SqliteStore {
    /// Gives back every delivery claim: at start-up no worker of this
    /// process runs, so every claim belongs to one that stopped or crashed,
    /// and its jobs (released too) must find the delivery claimable.
    pub async fn release_delivery_claims(&self) -> Result<u64, StoreError> {
        self.db
            .run(|conn| {
                conn.execute(
                    "UPDATE end_users SET delivery = 'queued', delivery_lease_until = NULL WHERE delivery = 'claimed'",
                    [],
                )
                .map(|n| n as u64)
                .map_err(sql)
            })
            .await
    }
}

#[async_trait]
impl VerificationStore for SqliteStore {
    async fn start_verification(&self, new: &NewVerification, now: UnixTime) -> Result<(), StartError> {
        let new = new.clone();
        self.db
            .run(move |conn| {
                let v = &new.record;
                let (pid, uref) = (v.project_id.to_string(), v.user_ref.as_str().to_owned());
                let tx = conn.savepoint().map_err(sql)?;
                // Upsert guarded by the cooldown: replaces the previous code
                // (superseding it) unless it is still pending, unexpired and
                // was sent less than the cooldown ago.
                let written = tx
                    .prepare_cached(
                        "INSERT INTO end_users (project_id, user_ref, user_id, verification_id, code_mac, device_mac,
                             recipient, lang, status, attempts, max_attempts, sent_at, expires_at, delivery,
                             delivery_lease_until, first_seen)
                         VALUES (:pid, :uref, :user_id, :vid, :code_mac, :device_mac, :recipient, :lang, :status, 0,
                                 :max_attempts, :sent_at, :expires_at, :delivery, NULL, :sent_at)
                         ON CONFLICT (project_id, user_ref) DO UPDATE SET
                             user_id = excluded.user_id, verification_id = excluded.verification_id,
                             code_mac = excluded.code_mac, device_mac = excluded.device_mac,
                             recipient = excluded.recipient, lang = excluded.lang, status = excluded.status,
                             attempts = 0, max_attempts = excluded.max_attempts, sent_at = excluded.sent_at,
                             expires_at = excluded.expires_at, delivery = excluded.delivery,
                             delivery_lease_until = NULL, provider_message_id = NULL, receipt_status = NULL,
                             receipt_rank = NULL, receipt_reason = NULL, receipt_at = NULL, fallback = 0
                         WHERE end_users.status <> 'pending' OR end_users.sent_at <= :cooldown_edge
                            OR end_users.expires_at <= :now",
                    )
                    .and_then(|mut s| {
                        s.execute(named_params! {
                            ":pid": pid,
                            ":uref": uref,
                            ":user_id": v.user_id.as_bytes(),
                            ":vid": v.verification_id.to_string(),
                            ":code_mac": v.code_mac.as_str(),
                            ":device_mac": v.device_mac.as_ref().map(|m| m.as_str().to_owned()),
                            ":recipient": v.recipient.as_bytes(),
                            ":lang": v.lang.as_ref().map(|l| l.as_str().to_owned()),
                            ":status": v.status.as_str(),
                            ":max_attempts": v.max_attempts,
                            ":sent_at": v.sent_at,
                            ":expires_at": v.expires_at,
                            ":delivery": v.delivery.as_str(),
                            ":cooldown_edge": now - new.cooldown_seconds as i64,
                            ":now": now,
                        })
                    })
                    .map_err(sql)?;
                if written == 0 {
                    let last = current(&tx, &pid, &uref)?.map(|v| v.sent_at).unwrap_or(now);
                    let retry = (last + new.cooldown_seconds as i64 - now).max(1) as u32;
                    return Ok(Err(StartError::Cooldown { retry_after: retry }));
                }
                if let Some(limit) = &new.destination_limit
                    && let Err(refused) = count_send(&tx, &pid, limit, now)?
                {
                    // Dropping the transaction rolls back the verification too.
                    return Ok(Err(refused));
                }
                tx.commit().map_err(sql)?;
                Ok(Ok(()))
            })
            .await?
    }

    async fn verification(&self, project: ProjectId, user_ref: &UserRef) -> Result<Option<Verification>, StoreError> {
        let uref = user_ref.as_str().to_owned();
        self.db.run(move |conn| current(conn, &project.to_string(), &uref)).await
    }

    async fn check_code(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        code_mac: &Mac,
        device_mac: Option<&Mac>,
        now: UnixTime,
    ) -> Result<CheckOutcome, StoreError> {
        let (uref, code, device) =
            (user_ref.as_str().to_owned(), code_mac.as_str().to_owned(), device_mac.map(|d| d.as_str().to_owned()));
        self.db
            .run(move |conn| {
                let pid = project.to_string();
                let tx = conn.savepoint().map_err(sql)?;
                // One statement counts the check and compares it: no guess
                // is compared unless it is also counted within the cap.
                let counted = tx
                    .prepare_cached(
                        "UPDATE end_users SET attempts = attempts + 1,
                             status = CASE WHEN code_mac = ?4 AND (device_mac IS NULL OR device_mac = ?5)
                                           THEN 'approved' ELSE status END
                         WHERE project_id = ?1 AND user_ref = ?2 AND status = 'pending'
                           AND attempts < max_attempts AND expires_at > ?3
                         RETURNING *",
                    )
                    .and_then(|mut s| s.query_row(params![pid, uref, now, code, device], verification_row).optional())
                    .map_err(sql)?;
                let outcome = match counted {
                    Some(v) => CheckOutcome::Counted(v),
                    // Read inside the same transaction: the record as the
                    // refused write saw it (DynamoDB's ALL_OLD).
                    None => CheckOutcome::Refused(current(&tx, &pid, &uref)?),
                };
                tx.commit().map_err(sql)?;
                Ok(outcome)
            })
            .await
    }

    async fn cancel_verification(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let uref = user_ref.as_str().to_owned();
        self.db
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE end_users SET expires_at = ?4
                     WHERE project_id = ?1 AND user_ref = ?2 AND verification_id = ?3 AND status = 'pending'
                       AND expires_at > ?4",
                )
                .and_then(|mut s| s.execute(params![project.to_string(), uref, id.to_string(), now]))
                .map_err(sql)?;
                Ok(())
            })
            .await
    }

    async fn claim_delivery(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        now: UnixTime,
        lease_seconds: u32,
    ) -> Result<ClaimOutcome, StoreError> {
        let uref = user_ref.as_str().to_owned();
        self.db
            .run(move |conn| {
                let pid = project.to_string();
                let tx = conn.savepoint().map_err(sql)?;
                let n = tx
                    .prepare_cached(
                        "UPDATE end_users SET delivery = 'claimed', delivery_lease_until = ?5
                         WHERE project_id = ?1 AND user_ref = ?2 AND verification_id = ?3 AND status = 'pending'
                           AND expires_at > ?4
                           AND (delivery = 'queued' OR (delivery = 'claimed' AND delivery_lease_until <= ?4))",
                    )
                    .and_then(|mut s| s.execute(params![pid, uref, id.to_string(), now, now + lease_seconds as i64]))
                    .map_err(sql)?;
                let outcome = if n == 1 {
                    let fallback = current(&tx, &pid, &uref)?.is_some_and(|v| v.fallback);
                    ClaimOutcome::Claimed { fallback }
                } else {
                    ClaimOutcome::refused(current(&tx, &pid, &uref)?.as_ref(), id, now)
                };
                tx.commit().map_err(sql)?;
                Ok(outcome)
            })
            .await
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
        let uref = user_ref.as_str().to_owned();
        let message_id = provider_message_id.map(str::to_owned);
        self.db
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE end_users SET delivery = ?4, delivery_lease_until = NULL,
                         -- a receipt of another message (an earlier try the provider took
                         -- although we saw a timeout) goes; one of this message stays
                         receipt_status = CASE WHEN ?5 IS NOT provider_message_id AND ?5 IS NOT NULL
                                               THEN NULL ELSE receipt_status END,
                         receipt_rank = CASE WHEN ?5 IS NOT provider_message_id AND ?5 IS NOT NULL
                                             THEN NULL ELSE receipt_rank END,
                         receipt_reason = CASE WHEN ?5 IS NOT provider_message_id AND ?5 IS NOT NULL
                                               THEN NULL ELSE receipt_reason END,
                         receipt_at = CASE WHEN ?5 IS NOT provider_message_id AND ?5 IS NOT NULL
                                           THEN NULL ELSE receipt_at END,
                         provider_message_id = COALESCE(?5, provider_message_id)
                     WHERE project_id = ?1 AND user_ref = ?2 AND verification_id = ?3 AND delivery = 'claimed'
                       AND delivery_lease_until = ?6",
                )
                .and_then(|mut s| {
                    let id = id.to_string();
                    s.execute(params![project.to_string(), uref, id, state.as_str(), message_id, claimed_until])
                })
                .map_err(sql)?;
                Ok(())
            })
            .await
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
        let (uref, message_id, receipt) =
            (user_ref.as_str().to_owned(), provider_message_id.to_owned(), receipt.clone());
        self.db
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE end_users SET receipt_status = :status, receipt_rank = :rank, receipt_reason = :reason,
                         receipt_at = :at, provider_message_id = COALESCE(provider_message_id, :mid)
                     WHERE project_id = :pid AND user_ref = :uref AND verification_id = :vid
                       AND fallback = :fallback
                       AND (provider_message_id IS NULL OR provider_message_id = :mid)
                       AND (receipt_rank IS NULL OR receipt_rank < :rank)
                     RETURNING *",
                )
                .and_then(|mut s| {
                    s.query_row(
                        named_params! {
                            ":pid": project.to_string(),
                            ":uref": uref,
                            ":vid": id.to_string(),
                            ":fallback": fallback,
                            ":mid": message_id,
                            ":status": receipt.status.as_str(),
                            ":rank": receipt.status.rank(),
                            ":reason": receipt.reason,
                            ":at": receipt.at,
                        },
                        verification_row,
                    )
                    .optional()
                })
                .map_err(sql)
            })
            .await
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
        let (uref, limit) = (user_ref.as_str().to_owned(), destination_limit.cloned());
        self.db
            .run(move |conn| {
                let pid = project.to_string();
                let tx = conn.savepoint().map_err(sql)?;
                let moved = tx
                    .prepare_cached(
                        "UPDATE end_users SET fallback = 1, delivery = 'queued', delivery_lease_until = NULL,
                             provider_message_id = NULL, receipt_status = NULL, receipt_rank = NULL,
                             receipt_reason = NULL, receipt_at = NULL
                         WHERE project_id = ?1 AND user_ref = ?2 AND verification_id = ?3 AND status = 'pending'
                           AND expires_at > ?4 AND fallback = 0
                           AND (delivery = 'failed'
                                OR (delivery = 'claimed' AND ?5 IS NOT NULL AND delivery_lease_until = ?5
                                    AND (receipt_status IS NULL
                                         OR receipt_status NOT IN ('delivered', 'complained')))
                                OR (delivery = 'sent' AND (receipt_status IS NULL
                                                           OR receipt_status NOT IN ('delivered', 'complained'))))",
                    )
                    .and_then(|mut s| s.execute(params![pid, uref, id.to_string(), now, claimed_until]))
                    .map_err(sql)?;
                if moved == 0 {
                    return Ok(Ok(false));
                }
                if let Some(limit) = &limit
                    && let Err(refused) = count_send(&tx, &pid, limit, now)?
                {
                    return Ok(Err(refused));
                }
                tx.commit().map_err(sql)?;
                Ok(Ok(true))
            })
            .await?
    }

    async fn list_verifications(&self, project: ProjectId, limit: usize) -> Result<Vec<Verification>, StoreError> {
        self.db
            .run(move |conn| {
                let mut s = conn
                    .prepare_cached("SELECT * FROM end_users WHERE project_id = ?1 ORDER BY sent_at DESC LIMIT ?2")
                    .map_err(sql)?;
                let rows = s
                    .query_map(params![project.to_string(), limit.clamp(1, 500) as i64], verification_row)
                    .map_err(sql)?;
                rows.collect::<Result<_, _>>().map_err(sql)
            })
            .await
    }
}
