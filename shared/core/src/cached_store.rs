//! A read cache in front of a store for the records every API call and
//! every job reads but that change only through management: projects (by id
//! and by public key), channels, templates and clients.
//!
//! Every write to those records through this wrapper empties the cache, so a
//! process that routes all its writes through one [`CachedStore`] (the local
//! server) never serves a stale record. Writes made elsewhere (another
//! process) are seen once an entry's time to live has passed. Verification
//! records, send counters and logs are never cached: their invariants live
//! in conditional writes.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lru::LruCache;

use crate::clock::UnixTime;
use crate::crypto::{Mac, Sealed};
use crate::ids::{ChannelId, ClientId, ProjectId, TemplateId, TokenId, VerificationId};
use crate::model::{
    AccountToken, AccountTokenPurpose, ApiToken, Channel, CheckOutcome, ClaimOutcome, Client, DeliveryReceipt,
    DeliveryState, DestinationLimit, LogEntry, LogFilter, LogPage, NewVerification, Project, Session, Template,
    UserRef, Verification,
};
use crate::ports::{
    ChannelStore, ClientStore, LogStore, ProjectStore, SessionStore, StartError, Store, StoreError, TemplateStore,
    TokenStore, VerificationStore,
};

/// One bounded map with a time to live per entry.
struct Entries<K: Hash + Eq, V> {
    map: Mutex<LruCache<K, (V, Instant)>>,
    ttl: Duration,
}

impl<K: Hash + Eq, V: Clone> Entries<K, V> {
    fn new(capacity: NonZeroUsize, ttl: Duration) -> Self {
        Self { map: Mutex::new(LruCache::new(capacity)), ttl }
    }

    fn get(&self, key: &K) -> Option<V> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some((v, at)) if at.elapsed() < self.ttl => Some(v.clone()),
            Some(_) => {
                map.pop(key);
                None
            }
            None => None,
        }
    }

    /// Puts unless `still_valid` says otherwise, checked under the map's
    /// lock: a forget that bumps the generation then clears this map cannot
    /// slip in between the check and the put.
    fn put_if(&self, key: K, value: V, still_valid: impl Fn() -> bool) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if still_valid() {
            map.put(key, (value, Instant::now()));
        }
    }

    fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

pub struct CachedStore {
    inner: Arc<dyn Store>,
    /// Bumped by every forget: a read that loaded before a write but
    /// finished after it must not put its (stale) record back.
    generation: AtomicU64,
    projects: Entries<ProjectId, Project>,
    public_keys: Entries<String, Project>,
    channels: Entries<(ClientId, ChannelId), Channel>,
    templates: Entries<(ClientId, TemplateId), Template>,
    clients: Entries<ClientId, Client>,
}

impl CachedStore {
    /// Keeps up to `capacity` records of each kind for at most `ttl`.
    pub fn new(inner: Arc<dyn Store>, capacity: usize, ttl: Duration) -> Self {
        let cap = NonZeroUsize::new(capacity.max(1)).expect("at least one");
        Self {
            inner,
            generation: AtomicU64::new(0),
            projects: Entries::new(cap, ttl),
            public_keys: Entries::new(cap, ttl),
            channels: Entries::new(cap, ttl),
            templates: Entries::new(cap, ttl),
            clients: Entries::new(cap, ttl),
        }
    }

    /// Forgets everything: called on every write to a cached kind, which
    /// are rare (management), so precision is not worth its complexity.
    fn forget(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.projects.clear();
        self.public_keys.clear();
        self.channels.clear();
        self.templates.clear();
        self.clients.clear();
    }

    /// After a write (even a failed one: it may have applied), forgets.
    fn written<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.forget();
        result
    }

    async fn cached<K: Hash + Eq, V: Clone>(
        &self,
        entries: &Entries<K, V>,
        key: K,
        load: impl Future<Output = Result<Option<V>, StoreError>>,
    ) -> Result<Option<V>, StoreError> {
        if let Some(v) = entries.get(&key) {
            return Ok(Some(v));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded = load.await?;
        if let Some(v) = &loaded {
            entries.put_if(key, v.clone(), || self.generation.load(Ordering::SeqCst) == generation);
        }
        Ok(loaded)
    }
}

#[async_trait]
impl ClientStore for CachedStore {
    async fn insert_client(&self, client: &Client) -> Result<Client, StoreError> {
        self.written(self.inner.insert_client(client).await)
    }
    async fn client(&self, id: ClientId) -> Result<Option<Client>, StoreError> {
        self.cached(&self.clients, id, self.inner.client(id)).await
    }
    async fn client_by_email_index(&self, index: &Mac) -> Result<Option<Client>, StoreError> {
        self.inner.client_by_email_index(index).await
    }
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.inner.list_clients().await
    }
    async fn count_test_send(
        &self,
        client: ClientId,
        window_start: UnixTime,
        window_seconds: u32,
        max: u32,
    ) -> Result<bool, StoreError> {
        self.inner.count_test_send(client, window_start, window_seconds, max).await
    }
    async fn confirm_client(
        &self,
        id: ClientId,
        password_hash: &str,
        at: UnixTime,
    ) -> Result<Option<Client>, StoreError> {
        self.written(self.inner.confirm_client(id, password_hash, at).await)
    }
    async fn set_password(&self, id: ClientId, password_hash: &str) -> Result<bool, StoreError> {
        self.written(self.inner.set_password(id, password_hash).await)
    }
    async fn end_sessions(&self, id: ClientId) -> Result<bool, StoreError> {
        self.written(self.inner.end_sessions(id).await)
    }
    async fn set_totp_pending(&self, id: ClientId, secret: Option<&Sealed>) -> Result<bool, StoreError> {
        self.written(self.inner.set_totp_pending(id, secret).await)
    }
    async fn activate_totp(
        &self,
        id: ClientId,
        pending: &Sealed,
        step: i64,
        backup_codes: &[String],
    ) -> Result<bool, StoreError> {
        self.written(self.inner.activate_totp(id, pending, step, backup_codes).await)
    }
    async fn use_totp_step(&self, id: ClientId, step: i64) -> Result<bool, StoreError> {
        self.written(self.inner.use_totp_step(id, step).await)
    }
    async fn replace_backup_codes(
        &self,
        id: ClientId,
        expected: &[String],
        new: &[String],
    ) -> Result<bool, StoreError> {
        self.written(self.inner.replace_backup_codes(id, expected, new).await)
    }
    async fn remove_totp(&self, id: ClientId) -> Result<bool, StoreError> {
        self.written(self.inner.remove_totp(id).await)
    }
    async fn set_client_disabled(&self, id: ClientId, disabled: bool) -> Result<bool, StoreError> {
        self.written(self.inner.set_client_disabled(id, disabled).await)
    }
}

#[async_trait]
impl ChannelStore for CachedStore {
    async fn insert_channel(&self, channel: &Channel) -> Result<(), StoreError> {
        self.written(self.inner.insert_channel(channel).await)
    }
    async fn channel(&self, client: ClientId, id: ChannelId) -> Result<Option<Channel>, StoreError> {
        self.cached(&self.channels, (client, id), self.inner.channel(client, id)).await
    }
    async fn list_channels(&self, client: ClientId) -> Result<Vec<Channel>, StoreError> {
        self.inner.list_channels(client).await
    }
    async fn delete_channel(&self, client: ClientId, id: ChannelId) -> Result<bool, StoreError> {
        self.written(self.inner.delete_channel(client, id).await)
    }
    async fn set_receipt_secret(&self, client: ClientId, id: ChannelId, secret: &Sealed) -> Result<bool, StoreError> {
        self.written(self.inner.set_receipt_secret(client, id, secret).await)
    }
    async fn update_channel(
        &self,
        client: ClientId,
        id: ChannelId,
        title: &str,
        credentials: Option<&Sealed>,
    ) -> Result<bool, StoreError> {
        self.written(self.inner.update_channel(client, id, title, credentials).await)
    }
}

#[async_trait]
impl TemplateStore for CachedStore {
    async fn insert_template(&self, template: &Template) -> Result<(), StoreError> {
        self.written(self.inner.insert_template(template).await)
    }
    async fn update_template(&self, old: &Template, new: &Template) -> Result<bool, StoreError> {
        self.written(self.inner.update_template(old, new).await)
    }
    async fn template(&self, client: ClientId, id: TemplateId) -> Result<Option<Template>, StoreError> {
        self.cached(&self.templates, (client, id), self.inner.template(client, id)).await
    }
    async fn list_templates(&self, client: ClientId) -> Result<Vec<Template>, StoreError> {
        self.inner.list_templates(client).await
    }
    async fn delete_template(&self, client: ClientId, id: TemplateId) -> Result<bool, StoreError> {
        self.written(self.inner.delete_template(client, id).await)
    }
}

#[async_trait]
impl ProjectStore for CachedStore {
    async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        self.written(self.inner.insert_project(project).await)
    }
    async fn project(&self, id: ProjectId) -> Result<Option<Project>, StoreError> {
        self.cached(&self.projects, id, self.inner.project(id)).await
    }
    async fn project_by_public_key(&self, public_key: &str) -> Result<Option<Project>, StoreError> {
        self.cached(&self.public_keys, public_key.to_owned(), self.inner.project_by_public_key(public_key)).await
    }
    async fn update_project(&self, old: &Project, new: &Project) -> Result<bool, StoreError> {
        self.written(self.inner.update_project(old, new).await)
    }
    async fn list_projects(&self, client: ClientId) -> Result<Vec<Project>, StoreError> {
        self.inner.list_projects(client).await
    }
    async fn delete_project(&self, client: ClientId, id: ProjectId) -> Result<bool, StoreError> {
        self.written(self.inner.delete_project(client, id).await)
    }
}

#[async_trait]
impl VerificationStore for CachedStore {
    async fn start_verification(&self, new: &NewVerification, now: UnixTime) -> Result<(), StartError> {
        self.inner.start_verification(new, now).await
    }
    async fn verification(&self, project: ProjectId, user_ref: &UserRef) -> Result<Option<Verification>, StoreError> {
        self.inner.verification(project, user_ref).await
    }
    async fn check_code(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        code_mac: &Mac,
        device_mac: Option<&Mac>,
        now: UnixTime,
    ) -> Result<CheckOutcome, StoreError> {
        self.inner.check_code(project, user_ref, code_mac, device_mac, now).await
    }
    async fn cancel_verification(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.inner.cancel_verification(project, user_ref, id, now).await
    }
    async fn claim_delivery(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        now: UnixTime,
        lease_seconds: u32,
    ) -> Result<ClaimOutcome, StoreError> {
        self.inner.claim_delivery(project, user_ref, id, now, lease_seconds).await
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
        self.inner.finish_delivery(project, user_ref, id, claimed_until, state, provider_message_id).await
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
        self.inner.record_receipt(project, user_ref, id, fallback, provider_message_id, receipt).await
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
        self.inner.start_fallback(project, user_ref, id, now, claimed_until, destination_limit).await
    }
    async fn list_verifications(&self, project: ProjectId, limit: usize) -> Result<Vec<Verification>, StoreError> {
        self.inner.list_verifications(project, limit).await
    }
}

#[async_trait]
impl LogStore for CachedStore {
    async fn append_log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        self.inner.append_log(entry).await
    }
    async fn list_logs(&self, client: ClientId, filter: &LogFilter) -> Result<LogPage, StoreError> {
        self.inner.list_logs(client, filter).await
    }
}

#[async_trait]
impl TokenStore for CachedStore {
    async fn insert_token(&self, token: &ApiToken, max: u32) -> Result<bool, StoreError> {
        self.inner.insert_token(token, max).await
    }
    async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        self.inner.token_by_hash(hash).await
    }
    async fn list_tokens(&self, client: ClientId) -> Result<Vec<ApiToken>, StoreError> {
        self.inner.list_tokens(client).await
    }
    async fn delete_token(&self, client: ClientId, id: TokenId) -> Result<bool, StoreError> {
        self.inner.delete_token(client, id).await
    }
    async fn touch_token(&self, client: ClientId, id: TokenId, at: UnixTime) -> Result<(), StoreError> {
        self.inner.touch_token(client, id, at).await
    }
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        self.inner.insert_session(session).await
    }
    async fn session(&self, hash: &str) -> Result<Option<Session>, StoreError> {
        self.inner.session(hash).await
    }
    async fn touch_session(&self, hash: &str, idle_expires_at: UnixTime) -> Result<(), StoreError> {
        self.inner.touch_session(hash, idle_expires_at).await
    }
    async fn delete_session(&self, hash: &str) -> Result<bool, StoreError> {
        self.inner.delete_session(hash).await
    }
    async fn insert_account_token(&self, token: &AccountToken) -> Result<(), StoreError> {
        self.inner.insert_account_token(token).await
    }
    async fn take_account_token(
        &self,
        hash: &str,
        purpose: AccountTokenPurpose,
        now: UnixTime,
    ) -> Result<Option<AccountToken>, StoreError> {
        self.inner.take_account_token(hash, purpose, now).await
    }
    async fn count_attempt(
        &self,
        key: &str,
        window_start: UnixTime,
        window_seconds: u32,
        max: u32,
    ) -> Result<Option<u32>, StoreError> {
        self.inner.count_attempt(key, window_start, window_seconds, max).await
    }
    async fn clear_attempts(&self, key: &str, window_start: UnixTime) -> Result<(), StoreError> {
        self.inner.clear_attempts(key, window_start).await
    }
}
