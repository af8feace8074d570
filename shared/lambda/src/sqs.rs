//! The SQS entry point for workers: each record of a batch is handled
//! concurrently; failures are reported individually (`ReportBatchItemFailures`)
//! so only they are retried, after a backoff set on the message's
//! visibility; the queue's redrive policy dead-letters them at the end.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_smithy_types::error::display::DisplayErrorContext;
use lambda_runtime::{LambdaEvent, service_fn};
use secure2fa_core::model::{Job, JobAttempt};
use secure2fa_core::otp::{JobOutcome, RetryJob, Worker};

#[derive(Clone)]
pub struct SqsWorker {
    pub worker: Worker,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub max_receive_count: u32,
}

impl SqsWorker {
    fn attempt(&self, record: &SqsMessage) -> JobAttempt {
        let number = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
        JobAttempt { number, max: self.max_receive_count }
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<JobOutcome, RetryJob> {
        let attempt = self.attempt(record);
        let job: Job = serde_json::from_str(record.body.as_deref().unwrap_or_default())
            .map_err(|e| RetryJob::new(format!("undecodable job: {e}")))?;
        self.worker.handle(&job, attempt).await
    }

    /// Handles a batch; the response lists the messages to retry. A message
    /// that appears twice in one batch (SQS is at-least-once) runs once.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut seen = std::collections::HashSet::new();
        let distinct = event.records.iter().filter(|r| r.message_id.as_ref().is_none_or(|id| seen.insert(id.clone())));
        let results =
            futures::future::join_all(distinct.map(|r| async move { (r, self.handle_record(r).await) })).await;
        let mut response = SqsBatchResponse::default();
        for (record, result) in results {
            let id = record.message_id.clone().unwrap_or_default();
            match result {
                Ok(outcome) => tracing::info!(message_id = %id, ?outcome, "job done"),
                Err(retry) => {
                    tracing::warn!(message_id = %id, reason = %retry.reason, "job failed; will be retried");
                    self.delay_retry(record, &retry).await;
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
            }
        }
        response
    }

    /// Stretches the message's invisibility to the backoff for its attempt
    /// (or longer, if the job asked for it). Best effort: without it the
    /// queue's visibility timeout applies.
    async fn delay_retry(&self, record: &SqsMessage, retry: &RetryJob) {
        let Some(receipt) = &record.receipt_handle else { return };
        let result = self
            .sqs
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(retry.delay_seconds(self.attempt(record)) as i32)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %DisplayErrorContext(&e), "could not set retry backoff");
        }
    }
}

/// Runs `worker` as this Lambda's SQS handler.
pub async fn run(worker: SqsWorker) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        async move { Ok::<_, lambda_runtime::Error>(worker.handle(event.payload).await) }
    }))
    .await
}
