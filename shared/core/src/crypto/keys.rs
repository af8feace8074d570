//! Data-key management: the [`KeyVault`] port (KMS `GenerateDataKey`/`Decrypt`
//! on AWS, a master key file locally) and [`DataKeyCache`], which keeps
//! unwrapped keys in memory for a bounded time and count so that the hot path
//! makes no key-vault call.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::field::DataKey;

/// What a data key belongs to; becomes the KMS encryption context (or the
/// local wrapping AAD), so a wrapped key only unwraps for its own entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyContext {
    pub entity: &'static str,
    pub id: String,
}

impl KeyContext {
    pub fn project(id: impl fmt::Display) -> Self {
        Self { entity: "project", id: id.to_string() }
    }
    pub fn client(id: impl fmt::Display) -> Self {
        Self { entity: "client", id: id.to_string() }
    }
}

/// A data key encrypted by the vault, stored next to the data it protects.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WrappedKey(#[serde(with = "super::b64")] Vec<u8>);

impl WrappedKey {
    pub fn from_bytes(b: Vec<u8>) -> Self {
        Self(b)
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedKey({} bytes)", self.0.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The wrapped key does not belong to this context or was altered.
    #[error("data key could not be unwrapped for {entity} {id}")]
    Unwrap { entity: &'static str, id: String },
    #[error("key vault unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait KeyVault: Send + Sync + 'static {
    /// A fresh data key and its wrapped form, bound to `ctx`.
    async fn generate_data_key(&self, ctx: &KeyContext) -> Result<(DataKey, WrappedKey), KeyError>;
    /// Unwraps a data key; fails unless `ctx` is the one it was made for.
    async fn unwrap_data_key(&self, ctx: &KeyContext, wrapped: &WrappedKey) -> Result<DataKey, KeyError>;
}

#[derive(Clone, PartialEq, Eq)]
struct CacheKey {
    ctx: KeyContext,
    wrapped: WrappedKey,
}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.ctx.hash(state);
        self.wrapped.hash(state);
    }
}

fn vault_failed(ctx: &KeyContext) {
    crate::metrics::count(crate::metrics::KEY_VAULT_ERRORS, ctx.entity);
}

/// A bounded, time-limited cache of unwrapped data keys in front of a vault.
/// Keyed by context *and* wrapped bytes, so a rotated or re-created key is
/// never confused with an old one.
///
/// Misses are single-flight: concurrent requests for the same key wait for
/// one vault call (a cold batch of ten messages for one project makes one
/// KMS `Decrypt`, not ten), while different keys unwrap in parallel.
pub struct DataKeyCache {
    vault: Arc<dyn KeyVault>,
    ttl: Duration,
    entries: Mutex<lru::LruCache<CacheKey, (Arc<DataKey>, Instant)>>,
    /// One lock per key being unwrapped right now.
    in_flight: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl DataKeyCache {
    pub fn new(vault: Arc<dyn KeyVault>, capacity: usize, ttl: Duration) -> Self {
        let cap = NonZeroUsize::new(capacity.max(1)).expect("max(1) is non-zero");
        Self { vault, ttl, entries: Mutex::new(lru::LruCache::new(cap)), in_flight: Mutex::default() }
    }

    pub fn vault(&self) -> &Arc<dyn KeyVault> {
        &self.vault
    }

    /// Creates a data key and primes the cache with it.
    pub async fn generate(&self, ctx: &KeyContext) -> Result<(Arc<DataKey>, WrappedKey), KeyError> {
        let (key, wrapped) = self.vault.generate_data_key(ctx).await.inspect_err(|_| vault_failed(ctx))?;
        let key = Arc::new(key);
        self.insert(CacheKey { ctx: ctx.clone(), wrapped: wrapped.clone() }, key.clone());
        Ok((key, wrapped))
    }

    pub async fn get(&self, ctx: &KeyContext, wrapped: &WrappedKey) -> Result<Arc<DataKey>, KeyError> {
        let ck = CacheKey { ctx: ctx.clone(), wrapped: wrapped.clone() };
        if let Some(key) = self.cached(&ck) {
            return Ok(key);
        }
        let flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).entry(ck.clone()).or_default().clone();
        let result = {
            let _turn = flight.lock().await;
            // Whoever held the lock before may have unwrapped it already.
            match self.cached(&ck) {
                Some(key) => Ok(key),
                None => match self.vault.unwrap_data_key(ctx, wrapped).await {
                    Ok(key) => {
                        let key = Arc::new(key);
                        self.insert(ck.clone(), key.clone());
                        Ok(key)
                    }
                    Err(e) => {
                        vault_failed(ctx);
                        Err(e)
                    }
                },
            }
        };
        // The last one out removes the lock (clones are only taken under
        // the map's mutex, so the count is exact here).
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if Arc::strong_count(&flight) <= 2 {
            in_flight.remove(&ck);
        }
        result
    }

    /// The cached key, if still fresh.
    fn cached(&self, ck: &CacheKey) -> Option<Arc<DataKey>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((key, at)) = entries.get(ck) {
            if at.elapsed() < self.ttl {
                return Some(key.clone());
            }
            entries.pop(ck);
        }
        None
    }

    /// Forgets every cached key of an entity (on deletion or rotation).
    pub fn evict(&self, ctx: &KeyContext) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let stale: Vec<CacheKey> = entries.iter().filter(|(k, _)| &k.ctx == ctx).map(|(k, _)| k.clone()).collect();
        for k in stale {
            entries.pop(&k);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, ck: CacheKey, key: Arc<DataKey>) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).put(ck, (key, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A vault that "wraps" by XOR with the context id and counts unwraps.
    struct CountingVault(AtomicUsize);

    fn xor(ctx: &KeyContext, b: &[u8]) -> Vec<u8> {
        b.iter().zip(ctx.id.bytes().cycle()).map(|(a, k)| a ^ k).collect()
    }

    #[async_trait]
    impl KeyVault for CountingVault {
        async fn generate_data_key(&self, ctx: &KeyContext) -> Result<(DataKey, WrappedKey), KeyError> {
            let k = DataKey::generate();
            let w = WrappedKey(xor(ctx, k.expose_raw()));
            Ok((k, w))
        }
        async fn unwrap_data_key(&self, ctx: &KeyContext, wrapped: &WrappedKey) -> Result<DataKey, KeyError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let raw: [u8; 32] = xor(ctx, &wrapped.0).try_into().unwrap();
            Ok(DataKey::from_bytes(raw))
        }
    }

    /// Counts unwraps, each taking a while (a KMS call).
    struct SlowVault(AtomicUsize);

    #[async_trait]
    impl KeyVault for SlowVault {
        async fn generate_data_key(&self, ctx: &KeyContext) -> Result<(DataKey, WrappedKey), KeyError> {
            CountingVault(AtomicUsize::new(0)).generate_data_key(ctx).await
        }
        async fn unwrap_data_key(&self, ctx: &KeyContext, wrapped: &WrappedKey) -> Result<DataKey, KeyError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let raw: [u8; 32] = xor(ctx, &wrapped.0).try_into().unwrap();
            Ok(DataKey::from_bytes(raw))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_cold_burst_for_one_key_makes_one_vault_call() {
        let vault = Arc::new(SlowVault(AtomicUsize::new(0)));
        let cache = Arc::new(DataKeyCache::new(vault.clone(), 10, Duration::from_secs(60)));
        let (a, b) = (KeyContext::project("prj_a"), KeyContext::project("prj_b"));
        let (_, wa) = CountingVault(AtomicUsize::new(0)).generate_data_key(&a).await.unwrap();
        let (_, wb) = CountingVault(AtomicUsize::new(0)).generate_data_key(&b).await.unwrap();
        let started = Instant::now();
        let gets = (0..20).map(|i| {
            let (cache, ctx, w) = if i % 2 == 0 {
                (cache.clone(), a.clone(), wa.clone())
            } else {
                (cache.clone(), b.clone(), wb.clone())
            };
            tokio::spawn(async move { cache.get(&ctx, &w).await.unwrap() })
        });
        let keys: Vec<Arc<DataKey>> = futures::future::join_all(gets).await.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(vault.0.load(Ordering::SeqCst), 2, "one unwrap per key, not one per request");
        assert!(started.elapsed() < Duration::from_millis(400), "two keys unwrap in parallel: {:?}", started.elapsed());
        assert!(keys.iter().step_by(2).all(|k| k.expose_raw() == keys[0].expose_raw()));
        assert!(cache.in_flight.lock().unwrap().is_empty(), "no lock left behind");
    }

    #[tokio::test]
    async fn warm_cache_makes_no_vault_call() {
        let vault = Arc::new(CountingVault(AtomicUsize::new(0)));
        let cache = DataKeyCache::new(vault.clone(), 10, Duration::from_secs(60));
        let ctx = KeyContext::project("prj_a");
        let (_, wrapped) = cache.generate(&ctx).await.unwrap();
        let cold = DataKeyCache::new(vault.clone(), 10, Duration::from_secs(60));
        cold.get(&ctx, &wrapped).await.unwrap();
        cold.get(&ctx, &wrapped).await.unwrap();
        cold.get(&ctx, &wrapped).await.unwrap();
        assert_eq!(vault.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cache_is_bounded_and_expires() {
        let vault = Arc::new(CountingVault(AtomicUsize::new(0)));
        let cache = DataKeyCache::new(vault.clone(), 2, Duration::from_secs(60));
        for i in 0..5 {
            cache.generate(&KeyContext::project(format!("prj_{i}"))).await.unwrap();
        }
        assert_eq!(cache.len(), 2);

        let short = DataKeyCache::new(vault.clone(), 10, Duration::from_millis(0));
        let ctx = KeyContext::project("prj_x");
        let (_, w) = short.generate(&ctx).await.unwrap();
        short.get(&ctx, &w).await.unwrap();
        short.get(&ctx, &w).await.unwrap();
        assert_eq!(vault.0.load(Ordering::SeqCst), 2, "expired entries are unwrapped again");
    }

    #[tokio::test]
    async fn evict_forgets_an_entity() {
        let vault = Arc::new(CountingVault(AtomicUsize::new(0)));
        let cache = DataKeyCache::new(vault, 10, Duration::from_secs(60));
        let a = KeyContext::project("prj_a");
        cache.generate(&a).await.unwrap();
        cache.generate(&KeyContext::project("prj_b")).await.unwrap();
        cache.evict(&a);
        assert_eq!(cache.len(), 1);
    }
}
