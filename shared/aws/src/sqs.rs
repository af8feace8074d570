//! The SQS job queue: one queue per job kind (delivery, webhook), each with
//! a dead-letter queue configured by the stack. Message bodies are the JSON
//! job, whose sensitive fields are sealed; a `job_type` attribute lets
//! consumers and operators route without parsing.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use secure2fa_core::model::Job;
use secure2fa_core::ports::{JobQueue, MAX_JOB_DELAY_SECONDS, QueueError};

#[derive(Clone)]
pub struct SqsJobQueue {
    client: Client,
    delivery_queue_url: String,
    webhook_queue_url: String,
}

impl SqsJobQueue {
    pub fn new(client: Client, delivery_queue_url: impl Into<String>, webhook_queue_url: impl Into<String>) -> Self {
        Self { client, delivery_queue_url: delivery_queue_url.into(), webhook_queue_url: webhook_queue_url.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        self.enqueue_after(job, 0).await
    }

    async fn enqueue_after(&self, job: &Job, delay_seconds: u32) -> Result<(), QueueError> {
        let url = match job {
            Job::Delivery(_) => &self.delivery_queue_url,
            Job::Webhook(_) => &self.webhook_queue_url,
        };
        let body = serde_json::to_string(job).map_err(|e| QueueError(e.to_string()))?;
        let kind = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(job.queue_name())
            .build()
            .map_err(|e| QueueError(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .message_attributes("job_type", kind)
            .set_delay_seconds((delay_seconds > 0).then_some(delay_seconds.min(MAX_JOB_DELAY_SECONDS) as i32))
            .send()
            .await
            .map_err(|e| QueueError(crate::describe(&e)))?;
        Ok(())
    }
}

/// Queue health and redrive for the admin: the approximate counts SQS keeps
/// (`GetQueueAttributes`) of each queue and its dead-letter queue, and a
/// redrive as an SQS message move task from the dead-letter queue back to
/// the queue its messages came from (`StartMessageMoveTask`).
#[derive(Clone)]
pub struct SqsQueueAdmin {
    client: Client,
    /// `(name, queue URL, dead-letter queue URL)`.
    queues: Vec<(&'static str, String, String)>,
}

impl SqsQueueAdmin {
    pub fn new(client: Client, queues: Vec<(&'static str, String, String)>) -> Self {
        Self { client, queues }
    }

    async fn attributes(
        &self,
        url: &str,
        names: &[aws_sdk_sqs::types::QueueAttributeName],
    ) -> Result<std::collections::HashMap<aws_sdk_sqs::types::QueueAttributeName, String>, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| QueueError(crate::describe(&e)))?;
        Ok(out.attributes.unwrap_or_default())
    }
}

#[async_trait]
impl secure2fa_core::ports::QueueAdmin for SqsQueueAdmin {
    async fn health(&self) -> Result<Vec<secure2fa_core::ports::QueueHealth>, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let mut out = Vec::with_capacity(self.queues.len());
        for (name, url, dlq) in &self.queues {
            let main = self
                .attributes(
                    url,
                    &[
                        A::ApproximateNumberOfMessages,
                        A::ApproximateNumberOfMessagesNotVisible,
                        A::ApproximateNumberOfMessagesDelayed,
                    ],
                )
                .await?;
            let dead = self.attributes(dlq, &[A::ApproximateNumberOfMessages]).await?;
            let count =
                |m: &std::collections::HashMap<A, String>, a: A| m.get(&a).and_then(|v| v.parse().ok()).unwrap_or(0);
            out.push(secure2fa_core::ports::QueueHealth {
                queue: (*name).to_owned(),
                ready: count(&main, A::ApproximateNumberOfMessages),
                in_flight: count(&main, A::ApproximateNumberOfMessagesNotVisible),
                delayed: count(&main, A::ApproximateNumberOfMessagesDelayed),
                dead_letters: count(&dead, A::ApproximateNumberOfMessages),
            });
        }
        Ok(out)
    }

    async fn redrive(&self, queue: &str) -> Result<Option<secure2fa_core::ports::Redrive>, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let Some((_, url, dlq)) = self.queues.iter().find(|(name, _, _)| *name == queue) else { return Ok(None) };
        let arn_of = |url: &str| {
            let url = url.to_owned();
            async move {
                self.attributes(&url, &[A::QueueArn])
                    .await?
                    .remove(&A::QueueArn)
                    .ok_or_else(|| QueueError("a queue has no ARN".into()))
            }
        };
        let (source, destination) = (arn_of(dlq).await?, arn_of(url).await?);
        let out = self
            .client
            .start_message_move_task()
            .source_arn(source)
            .destination_arn(destination)
            .send()
            .await
            .map_err(|e| QueueError(crate::describe(&e)))?;
        Ok(Some(secure2fa_core::ports::Redrive::Started(out.task_handle.unwrap_or_default())))
    }
}
