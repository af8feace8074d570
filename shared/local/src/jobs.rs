//! The durable local job table: the embedded stand-in for SQS. Same
//! semantics as the AWS side: at-least-once, a visibility lease per receive,
//! a receive count that tells the handler its attempt number, backoff between
//! retries and a dead-letter table after `max_attempts` (SQS's
//! `maxReceiveCount`), from which jobs can be redriven. Jobs survive a
//! restart because they live in the same SQLite file as the data.

use std::sync::{Arc, Mutex};

use rusqlite::{OptionalExtension, params};
use secure2fa_core::clock::Clock;
use secure2fa_core::model::{Job, JobAttempt};
use secure2fa_core::otp::RetryJob;
use secure2fa_core::ports::{JobQueue, MAX_JOB_DELAY_SECONDS, QueueError, StoreError};
use serde::Serialize;
use tokio::sync::{Notify, mpsc};

use crate::db::{Db, sql};

pub const QUEUES: [&str; 2] = ["delivery", "webhook"];

/// How long a received job stays invisible to other pollers: the local
/// stand-in for SQS's visibility timeout, and like it longer than the
/// delivery lease (see `DELIVERY_LEASE_SECONDS`), so that a job handed out
/// again after a crash finds the dead worker's claim already elapsed.
pub const JOB_LEASE_SECONDS: i64 = 60;
const _: () = assert!(JOB_LEASE_SECONDS > secure2fa_core::otp::DELIVERY_LEASE_SECONDS as i64 + 10);

#[derive(Debug)]
pub struct ClaimedJob {
    pub id: i64,
    pub job: Job,
    pub attempt: JobAttempt,
}

/// Depth of one queue, as the admin page shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    pub queue: String,
    /// Ready to run now.
    pub ready: u64,
    /// Leased by a worker.
    pub in_flight: u64,
    /// Waiting for a retry delay.
    pub delayed: u64,
    pub dead_letters: u64,
}

#[derive(Clone)]
pub struct LocalJobQueue {
    db: Db,
    clock: Arc<dyn Clock>,
    notify: Arc<Notify>,
    max_attempts: u32,
    lease_seconds: i64,
    /// Where new jobs go straight to the running workers (see
    /// [`LocalJobQueue::hand_jobs_to`]); `None` when no worker runs.
    handoff: Arc<Mutex<Option<mpsc::Sender<ClaimedJob>>>>,
}

#[async_trait::async_trait]
impl JobQueue for LocalJobQueue {
    /// Stores the job. With workers running and room in their hand-off
    /// channel, the row is stored already received (leased, attempt 1) and
    /// the job handed over at once: no poll and no claim write. Otherwise
    /// the row waits for a poller. Either way the job is in the table
    /// before the caller is answered, so a crash loses nothing.
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let payload = serde_json::to_string(job).map_err(|e| QueueError(e.to_string()))?;
        let (queue, now) = (job.queue_name(), self.clock.now());
        let sender = self.handoff.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let slot = sender.as_ref().and_then(|s| s.try_reserve().ok());
        let lease_until = slot.as_ref().map(|_| now + self.lease_seconds);
        let id = self
            .db
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO jobs (queue, payload, attempts, available_at, lease_until, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?4) RETURNING id",
                )
                .and_then(|mut s| {
                    s.query_row(params![queue, payload, lease_until.map_or(0, |_| 1), now, lease_until], |r| r.get(0))
                })
                .map_err(sql)
            })
            .await
            .map_err(|e| QueueError(e.to_string()))?;
        match slot {
            Some(slot) => slot.send(ClaimedJob {
                id,
                job: job.clone(),
                attempt: JobAttempt { number: 1, max: self.max_attempts },
            }),
            None => self.notify.notify_one(),
        }
        Ok(())
    }

    /// Stores the job for a poller to take once `delay_seconds` have passed.
    async fn enqueue_after(&self, job: &Job, delay_seconds: u32) -> Result<(), QueueError> {
        if delay_seconds == 0 {
            return self.enqueue(job).await;
        }
        let payload = serde_json::to_string(job).map_err(|e| QueueError(e.to_string()))?;
        let queue = job.queue_name();
        let (now, at) = (self.clock.now(), self.clock.now() + delay_seconds.min(MAX_JOB_DELAY_SECONDS) as i64);
        self.db
            .run(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO jobs (queue, payload, attempts, available_at, lease_until, created_at)
                     VALUES (?1, ?2, 0, ?3, NULL, ?4)",
                )
                .and_then(|mut s| s.execute(params![queue, payload, at, now]))
                .map_err(sql)
            })
            .await
            .map_err(|e| QueueError(e.to_string()))?;
        Ok(())
    }
}

impl LocalJobQueue {
    pub fn new(db: Db, clock: Arc<dyn Clock>, max_attempts: u32) -> Self {
        Self {
            db,
            clock,
            notify: Arc::new(Notify::new()),
            max_attempts: max_attempts.max(1),
            lease_seconds: JOB_LEASE_SECONDS,
            handoff: Arc::default(),
        }
    }

    /// From now on, new jobs are handed to the returned channel (up to
    /// `capacity` waiting) as well as stored; whoever holds it must run
    /// them. [`LocalJobQueue::stop_handoff`] ends it.
    pub fn hand_jobs_to(&self, capacity: usize) -> mpsc::Receiver<ClaimedJob> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        *self.handoff.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        rx
    }

    /// New jobs wait in the table again; the channel closes once the jobs
    /// already in it have been taken.
    pub fn stop_handoff(&self) {
        self.handoff.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Resolves when a job was stored for the pollers (not handed off).
    pub async fn stored(&self) {
        self.notify.notified().await
    }

    /// Takes the oldest runnable job of `queue` under a lease.
    pub async fn claim(&self, queue: &'static str) -> Result<Option<ClaimedJob>, StoreError> {
        let (now, lease, max) = (self.clock.now(), self.lease_seconds, self.max_attempts);
        let row: Option<(i64, String, u32)> = self
            .db
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE jobs SET attempts = attempts + 1, lease_until = ?3
                     WHERE id = (SELECT id FROM jobs WHERE queue = ?1 AND available_at <= ?2
                                   AND (lease_until IS NULL OR lease_until <= ?2)
                                 ORDER BY available_at, id LIMIT 1)
                     RETURNING id, payload, attempts",
                )
                .and_then(|mut s| {
                    s.query_row(params![queue, now, now + lease], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()
                })
                .map_err(sql)
            })
            .await?;
        let Some((id, payload, attempts)) = row else { return Ok(None) };
        match serde_json::from_str::<Job>(&payload) {
            Ok(job) => Ok(Some(ClaimedJob { id, job, attempt: JobAttempt { number: attempts, max } })),
            Err(e) => {
                tracing::error!(job_id = id, error = %e, "undecodable job moved to dead letters");
                self.dead_letter(id, format!("undecodable payload: {e}")).await?;
                Ok(None)
            }
        }
    }

    pub async fn complete(&self, id: i64) -> Result<(), StoreError> {
        self.db.run(move |conn| conn.execute("DELETE FROM jobs WHERE id = ?1", [id]).map(|_| ()).map_err(sql)).await
    }

    /// Schedules a retry with backoff, or dead-letters the job once it has
    /// been received `max_attempts` times.
    pub async fn retry(&self, claimed: &ClaimedJob, retry: RetryJob) -> Result<(), StoreError> {
        let error = retry.reason.clone();
        if claimed.attempt.is_final() {
            return self.dead_letter(claimed.id, error).await;
        }
        let (id, at) = (claimed.id, self.clock.now() + retry.delay_seconds(claimed.attempt) as i64);
        self.db
            .run(move |conn| {
                conn.execute(
                    "UPDATE jobs SET lease_until = NULL, available_at = ?2, last_error = ?3 WHERE id = ?1",
                    params![id, at, error],
                )
                .map(|_| ())
                .map_err(sql)
            })
            .await
    }

    async fn dead_letter(&self, id: i64, error: String) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.db
            .run(move |conn| {
                let tx = conn.savepoint().map_err(sql)?;
                tx.execute(
                    "INSERT INTO dead_jobs (queue, payload, attempts, last_error, failed_at)
                     SELECT queue, payload, attempts, ?2, ?3 FROM jobs WHERE id = ?1",
                    params![id, error, now],
                )
                .map_err(sql)?;
                tx.execute("DELETE FROM jobs WHERE id = ?1", [id]).map_err(sql)?;
                tx.commit().map_err(sql)
            })
            .await
    }

    /// Moves every dead letter of `queue` back to the queue with a fresh
    /// receive count (SQS's redrive). Returns how many moved.
    pub async fn redrive(&self, queue: &'static str) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let moved = self
            .db
            .run(move |conn| {
                let tx = conn.savepoint().map_err(sql)?;
                let n = tx
                    .execute(
                        "INSERT INTO jobs (queue, payload, attempts, available_at, created_at)
                         SELECT queue, payload, 0, ?2, ?2 FROM dead_jobs WHERE queue = ?1 ORDER BY id",
                        params![queue, now],
                    )
                    .map_err(sql)?;
                tx.execute("DELETE FROM dead_jobs WHERE queue = ?1", [queue]).map_err(sql)?;
                tx.commit().map_err(sql)?;
                Ok(n as u64)
            })
            .await?;
        self.notify.notify_one();
        Ok(moved)
    }

    pub async fn stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        let now = self.clock.now();
        self.db
            .run(move |conn| {
                QUEUES
                    .iter()
                    .map(|q| {
                        conn.query_row(
                            "SELECT
                                (SELECT COUNT(*) FROM jobs WHERE queue = ?1 AND available_at <= ?2 AND (lease_until IS NULL OR lease_until <= ?2)),
                                (SELECT COUNT(*) FROM jobs WHERE queue = ?1 AND lease_until > ?2),
                                (SELECT COUNT(*) FROM jobs WHERE queue = ?1 AND available_at > ?2 AND lease_until IS NULL),
                                (SELECT COUNT(*) FROM dead_jobs WHERE queue = ?1)",
                            params![q, now],
                            |r| {
                                Ok(QueueStats {
                                    queue: q.to_string(),
                                    ready: r.get(0)?,
                                    in_flight: r.get(1)?,
                                    delayed: r.get(2)?,
                                    dead_letters: r.get(3)?,
                                })
                            },
                        )
                        .map_err(sql)
                    })
                    .collect()
            })
            .await
    }

    /// After a restart nothing holds a lease: release them so pending jobs
    /// run at once instead of after the lease.
    pub async fn release_leases(&self) -> Result<u64, StoreError> {
        self.db
            .run(|conn| {
                conn.execute("UPDATE jobs SET lease_until = NULL WHERE lease_until IS NOT NULL", [])
                    .map(|n| n as u64)
                    .map_err(sql)
            })
            .await
    }
}

#[async_trait::async_trait]
impl secure2fa_core::ports::QueueAdmin for LocalJobQueue {
    async fn health(&self) -> Result<Vec<secure2fa_core::ports::QueueHealth>, QueueError> {
        let stats = self.stats().await.map_err(|e| QueueError(e.to_string()))?;
        Ok(stats
            .into_iter()
            .map(|q| secure2fa_core::ports::QueueHealth {
                queue: q.queue,
                ready: q.ready,
                in_flight: q.in_flight,
                delayed: q.delayed,
                dead_letters: q.dead_letters,
            })
            .collect())
    }

    async fn redrive(&self, queue: &str) -> Result<Option<secure2fa_core::ports::Redrive>, QueueError> {
        let Some(queue) = QUEUES.iter().find(|q| **q == queue) else { return Ok(None) };
        let moved = LocalJobQueue::redrive(self, queue).await.map_err(|e| QueueError(e.to_string()))?;
        Ok(Some(secure2fa_core::ports::Redrive::Moved(moved)))
    }
}
