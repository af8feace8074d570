//! The local server's background workers: the stand-in for the SQS event
//! source mappings that drive the worker Lambdas.
//!
//! New jobs arrive through the queue's hand-off channel, already stored and
//! received, and run at once. The job table is polled only for what the
//! channel does not carry: retries that came due, jobs left from before a
//! restart, jobs stored while the channel was full. At most `concurrency`
//! jobs run at a time.

use std::sync::Arc;
use std::time::Duration;

use secure2fa_core::otp::Worker;
use secure2fa_core::ports::StoreError;
use secure2fa_local::jobs::QUEUES;
use secure2fa_local::{ClaimedJob, LocalJobQueue};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// How often the job table is polled for retries that came due.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Jobs that may wait in the hand-off channel per worker slot.
const HANDOFF_PER_SLOT: usize = 64;

/// Starts the workers; they stop when `stop` turns true, after the jobs
/// already handed over and those running have finished.
pub fn spawn_workers(
    queue: LocalJobQueue,
    worker: Worker,
    concurrency: usize,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let concurrency = concurrency.max(1);
    let mut handed = queue.hand_jobs_to(concurrency * HANDOFF_PER_SLOT);
    let runner = Runner { queue: queue.clone(), worker, slots: Arc::new(Semaphore::new(concurrency)) };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        loop {
            tokio::select! {
                Some(job) = handed.recv() => runner.run(job).await,
                _ = queue.stored() => runner.poll_table().await,
                _ = tick.tick() => runner.poll_table().await,
                _ = stop.changed() => break,
            }
        }
        queue.stop_handoff();
        while let Some(job) = handed.recv().await {
            runner.run(job).await;
        }
        // Every slot back: nothing runs any more.
        let _ = runner.slots.acquire_many(concurrency as u32).await;
    })
}

struct Runner {
    queue: LocalJobQueue,
    worker: Worker,
    slots: Arc<Semaphore>,
}

impl Runner {
    /// Runs `job` in a slot of its own, waiting for one if all are busy.
    async fn run(&self, job: ClaimedJob) {
        let Ok(slot) = self.slots.clone().acquire_owned().await else { return };
        let (queue, worker) = (self.queue.clone(), self.worker.clone());
        tokio::spawn(async move {
            if let Err(e) = process(&queue, &worker, job).await {
                tracing::error!(error = %e, "job bookkeeping failed; the job's lease will expire and it will run again");
            }
            drop(slot);
        });
    }

    /// Claims and runs due jobs from the table while slots are free.
    async fn poll_table(&self) {
        loop {
            let mut claimed_any = false;
            for queue in QUEUES {
                let Ok(slot) = self.slots.clone().try_acquire_owned() else { return };
                match self.queue.claim(queue).await {
                    Ok(Some(job)) => {
                        claimed_any = true;
                        drop(slot);
                        self.run(job).await;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "job table poll failed");
                        return;
                    }
                }
            }
            if !claimed_any {
                return;
            }
        }
    }
}

/// Runs a received job, then deletes it, or schedules its retry (or
/// dead-letters it): what SQS and its event source do around a worker
/// Lambda. The one dispatch is [`Worker::handle`].
pub async fn process(queue: &LocalJobQueue, worker: &Worker, claimed: ClaimedJob) -> Result<(), StoreError> {
    match worker.handle(&claimed.job, claimed.attempt).await {
        Ok(outcome) => {
            tracing::debug!(job_id = claimed.id, ?outcome, "job finished");
            queue.complete(claimed.id).await
        }
        Err(retry) => queue.retry(&claimed, retry).await,
    }
}

/// Runs every job that is runnable now, one at a time, until none is left;
/// returns how many ran. Deterministic: what tests call instead of waiting
/// for the pollers.
pub async fn run_pending(queue: &LocalJobQueue, worker: &Worker) -> Result<usize, StoreError> {
    let mut ran = 0;
    loop {
        let mut any = false;
        for name in QUEUES {
            if let Some(claimed) = queue.claim(name).await? {
                process(queue, worker, claimed).await?;
                ran += 1;
                any = true;
            }
        }
        if !any {
            return Ok(ran);
        }
    }
}
