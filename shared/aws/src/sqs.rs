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
