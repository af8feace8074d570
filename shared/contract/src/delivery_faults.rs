//! The delivery worker when things go wrong around a send, over every store
//! adapter: a provider that never answers, and a store that fails to record
//! that the provider accepted. The question each test asks is whether the
//! code is lost or sent twice.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secure2fa_core::model::{DeliveryJob, DeliveryState, Job, JobAttempt, ProviderKind};
use secure2fa_core::otp::{JobOutcome, Worker};
use secure2fa_core::ports::{
    JobQueue, MessageSender, OutgoingMessage, ProviderCredentials, QueueError, SendError, SentMessage, Store,
    VerificationStore, WebhookPoster,
};
use serde_json::json;

use crate::delayed_writes::DelayedWrites;
use crate::verify_race::RaceFixture;

/// Keeps what `generate` enqueues.
#[derive(Default)]
struct CapturingQueue(Mutex<Vec<Job>>);

#[async_trait]
impl JobQueue for CapturingQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        self.0.lock().unwrap().push(job.clone());
        Ok(())
    }
    async fn enqueue_after(&self, job: &Job, _delay_seconds: u32) -> Result<(), QueueError> {
        self.enqueue(job).await
    }
}

/// Counts sends; hangs forever while `hang` is set.
#[derive(Default)]
struct Provider {
    sent: AtomicU32,
    hang: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl MessageSender for Provider {
    async fn send(
        &self,
        _: ProviderKind,
        _: &ProviderCredentials,
        _: &OutgoingMessage,
    ) -> Result<SentMessage, SendError> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let n = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(SentMessage { provider_message_id: Some(format!("msg-{n}")) })
    }
}

struct NoWebhooks;

#[async_trait]
impl WebhookPoster for NoWebhooks {
    async fn post(&self, _: &str, _: &[(&str, String)], _: &[u8]) -> Result<u16, String> {
        Err("no webhooks in this test".into())
    }
}

struct Setup {
    worker: Worker,
    provider: Arc<Provider>,
    store: Arc<DelayedWrites>,
    job: DeliveryJob,
}

/// A project over `store` (behind a fault injector), one code generated for
/// email delivery, and a worker over the same store.
async fn setup(store: Arc<dyn Store>) -> Setup {
    let store = DelayedWrites::new(store, Duration::ZERO);
    let queue = Arc::new(CapturingQueue::default());
    let f = RaceFixture::with_queue(store.clone(), queue.clone()).await;
    let req = f.request(json!({"user_id": "ann", "to": "ann@example.com"}));
    f.otp.generate(f.public_key.as_str(), &req).await.unwrap();
    let job = queue.0.lock().unwrap().iter().find_map(|j| match j {
        Job::Delivery(d) => Some(d.clone()),
        _ => None,
    });
    let provider = Arc::new(Provider::default());
    let worker = Worker {
        store: store.clone(),
        keys: f.keys.clone(),
        queue: queue.clone(),
        sender: provider.clone(),
        webhooks: Arc::new(NoWebhooks),
        clock: f.clock.clone(),
        send_deadline: Duration::from_millis(300),
        public_url: None,
    };
    Setup { worker, provider, store, job: job.expect("generate queued a delivery") }
}

const FIRST: JobAttempt = JobAttempt { number: 1, max: 5 };

async fn delivery_state(s: &Setup) -> (DeliveryState, Option<String>) {
    let v = s.store.verification(s.job.project_id, &s.job.user_ref).await.unwrap().unwrap();
    (v.delivery, v.provider_message_id)
}

/// A provider that never answers: the send is cut at the deadline and the
/// claim released at once, so the queue's retry sends the code (without
/// waiting for the lease) and no second worker sends while the first waits.
pub async fn a_provider_that_never_answers_is_cut_off_and_the_code_is_sent_on_retry(store: Arc<dyn Store>) {
    let s = setup(store).await;
    s.provider.hang.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let attempt = tokio::time::timeout(Duration::from_secs(5), s.worker.handle_delivery(&s.job, FIRST));
    let retry = attempt.await.expect("the send is cut at the worker's deadline").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "cut at the deadline, not after {:?}", started.elapsed());
    assert!(retry.reason.contains("no answer within 300 ms"), "{}", retry.reason);
    assert_eq!(delivery_state(&s).await, (DeliveryState::Queued, None), "the claim is released for the retry");

    s.provider.hang.store(false, Ordering::SeqCst);
    let second = JobAttempt { number: 2, max: 5 };
    assert_eq!(s.worker.handle_delivery(&s.job, second).await.unwrap(), JobOutcome::Done);
    assert_eq!(s.provider.sent.load(Ordering::SeqCst), 1);
    assert_eq!(delivery_state(&s).await, (DeliveryState::Sent, Some("msg-1".into())));
}

/// The provider accepted but the store fails to record it: the worker
/// retries the write, and if it keeps failing ends the job all the same.
/// Either way the code went out once: retrying the job would send it again.
pub async fn a_failed_sent_write_never_sends_the_code_twice(store: Arc<dyn Store>) {
    let s = setup(store).await;
    s.store.fail_next_sent_writes(1);
    assert_eq!(s.worker.handle_delivery(&s.job, FIRST).await.unwrap(), JobOutcome::Done);
    assert_eq!(delivery_state(&s).await, (DeliveryState::Sent, Some("msg-1".into())), "written on the retry");
    // A duplicate of the job (SQS is at-least-once) finds it sent.
    assert!(matches!(s.worker.handle_delivery(&s.job, FIRST).await, Ok(JobOutcome::Dropped(_))));
    assert_eq!(s.provider.sent.load(Ordering::SeqCst), 1);
}

pub async fn a_sent_write_that_keeps_failing_still_ends_the_job(store: Arc<dyn Store>) {
    let s = setup(store).await;
    s.store.fail_next_sent_writes(u32::MAX);
    assert_eq!(s.worker.handle_delivery(&s.job, FIRST).await.unwrap(), JobOutcome::Done, "no retry of the send");
    assert_eq!(s.provider.sent.load(Ordering::SeqCst), 1);
}
