//! The one assembly of the use cases from the ports, called by every entry
//! point (the Lambda functions and the local server), so that caches, key
//! handling and the rejection sampler are wired the same way everywhere.

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::{Accounts, PasswordHasher, SystemMailer};
use crate::cached_store::CachedStore;
use crate::clock::Clock;
use crate::crypto::{DataKeyCache, IndexKey, KeyVault};
use crate::manage::Management;
use crate::otp::{OtpService, ReceiptReader, Receipts, Worker};
use crate::ports::{JobQueue, MessageSender, Store, WebhookPoster};
use crate::providers::SesSenders;
use crate::quota::QuotaGate;

/// How the services are tuned by the entry point.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// How long an unwrapped data key stays in memory.
    pub key_cache_ttl: Duration,
    /// Unwrapped data keys kept at most.
    pub key_cache_capacity: usize,
    /// Keep projects, channels, templates and clients in memory for this
    /// long ([`CachedStore`]). Exact only when every write goes through this
    /// process (the local server); `None` reads the store every time.
    pub read_cache_ttl: Option<Duration>,
    /// The deployment's public base URL (`https://otp.example.com`), where
    /// providers post delivery receipts; `None`: providers that need a
    /// callback URL per message (Twilio, Plivo) are given none.
    pub public_url: Option<String>,
    /// The addresses SES channels may send from.
    pub ses_senders: SesSenders,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            key_cache_ttl: Duration::from_secs(15 * 60),
            key_cache_capacity: 10_000,
            read_cache_ttl: None,
            public_url: None,
            ses_senders: SesSenders::default(),
        }
    }
}

/// The shared state of the use cases: the store (behind the read cache if
/// configured), the data-key cache, the queue and the clock.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub keys: Arc<DataKeyCache>,
    pub queue: Arc<dyn JobQueue>,
    pub clock: Arc<dyn Clock>,
    otp: OtpService,
    public_url: Option<String>,
    ses_senders: SesSenders,
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<dyn KeyVault>,
        queue: Arc<dyn JobQueue>,
        clock: Arc<dyn Clock>,
        quotas: Arc<dyn QuotaGate>,
        config: &ServiceConfig,
    ) -> Self {
        let store: Arc<dyn Store> = match config.read_cache_ttl {
            Some(ttl) => Arc::new(CachedStore::new(store, 10_000, ttl)),
            None => store,
        };
        let keys = Arc::new(DataKeyCache::new(vault, config.key_cache_capacity, config.key_cache_ttl));
        let otp = OtpService::new(store.clone(), keys.clone(), queue.clone(), clock.clone(), quotas);
        let public_url = config.public_url.as_ref().map(|u| u.trim_end_matches('/').to_owned());
        Self { store, keys, queue, clock, otp, public_url, ses_senders: config.ses_senders.clone() }
    }

    /// The public OTP API (one rejection sampler per process).
    pub fn otp(&self) -> OtpService {
        self.otp.clone()
    }

    /// The background job handlers, sending through `sender`.
    pub fn worker(&self, sender: Arc<dyn MessageSender>, webhooks: Arc<dyn WebhookPoster>) -> Worker {
        Worker {
            store: self.store.clone(),
            keys: self.keys.clone(),
            queue: self.queue.clone(),
            sender,
            webhooks,
            clock: self.clock.clone(),
            send_deadline: crate::otp::SEND_DEADLINE,
            public_url: self.public_url.clone(),
        }
    }

    /// The delivery receipts use case, reading callbacks with `reader`.
    pub fn receipts(&self, reader: Arc<dyn ReceiptReader>) -> Receipts {
        Receipts {
            store: self.store.clone(),
            keys: self.keys.clone(),
            queue: self.queue.clone(),
            clock: self.clock.clone(),
            reader,
        }
    }

    /// Sign-up, sign-in and sessions, mailing through `mailer` with links
    /// to `base_url`; `index_key` comes from the deployment secrets.
    pub fn accounts(&self, index_key: IndexKey, mailer: SystemMailer, base_url: Option<&str>) -> Accounts {
        Accounts {
            store: self.store.clone(),
            keys: self.keys.clone(),
            index_key,
            clock: self.clock.clone(),
            mailer,
            hasher: PasswordHasher::default(),
            base_url: base_url.map(|u| u.trim_end_matches('/').to_owned()),
        }
    }

    /// The management use cases; `index_key` comes from the deployment
    /// secrets.
    pub fn management(&self, index_key: IndexKey, allow_insecure_webhooks: bool) -> Management {
        Management {
            sender: None,
            store: self.store.clone(),
            keys: self.keys.clone(),
            index_key,
            clock: self.clock.clone(),
            allow_insecure_webhooks,
            public_url: self.public_url.clone(),
            queues: None,
            ses_senders: self.ses_senders.clone(),
        }
    }
}
