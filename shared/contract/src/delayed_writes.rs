//! A store wrapper that holds every write back for a fixed delay before
//! passing it on, so that concurrent use-case calls overlap on purpose
//! instead of by luck of the scheduler (disk-like or network-like latency).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use secure2fa_core::clock::UnixTime;
use secure2fa_core::crypto::Mac;
use secure2fa_core::crypto::Sealed;
use secure2fa_core::ids::{ChannelId, ClientId, ProjectId, TemplateId, TokenId, VerificationId};
use secure2fa_core::model::{
    AccountToken, AccountTokenPurpose, ApiToken, Channel, CheckOutcome, ClaimOutcome, Client, DeliveryReceipt,
    DeliveryState, DestinationLimit, LogEntry, LogFilter, LogPage, NewVerification, Project, Session, Template,
    UserRef, Verification,
};
use secure2fa_core::ports::{
    ChannelStore, ClientStore, LogStore, ProjectStore, SessionStore, StartError, Store, StoreError, TemplateStore,
    TokenStore, VerificationStore,
};

pub struct DelayedWrites {
    inner: Arc<dyn Store>,
    delay: Duration,
    failing_sent_writes: AtomicU32,
}

impl DelayedWrites {
    pub fn new(inner: Arc<dyn Store>, delay: Duration) -> Arc<Self> {
        Arc::new(Self { inner, delay, failing_sent_writes: AtomicU32::new(0) })
    }

    /// The next `n` writes of a delivery's `sent` state fail (the store is
    /// unavailable), without reaching the store.
    pub fn fail_next_sent_writes(&self, n: u32) {
        self.failing_sent_writes.store(n, Ordering::SeqCst);
    }

    async fn pause(&self) {
        tokio::time::sleep(self.delay).await;
    }
}

#[async_trait]
impl ClientStore for DelayedWrites {
    async fn insert_client(&self, client: &Client) -> Result<Client, StoreError> {
        self.pause().await;
        self.inner.insert_client(client).await
    }
    async fn client(&self, id: ClientId) -> Result<Option<Client>, StoreError> {
        self.inner.client(id).await
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
        self.pause().await;
        self.inner.confirm_client(id, password_hash, at).await
    }
    async fn set_password(&self, id: ClientId, password_hash: &str) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.set_password(id, password_hash).await
    }
    async fn end_sessions(&self, id: ClientId) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.end_sessions(id).await
    }
    async fn set_totp_pending(&self, id: ClientId, secret: Option<&Sealed>) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.set_totp_pending(id, secret).await
    }
    async fn activate_totp(
        &self,
        id: ClientId,
        pending: &Sealed,
        step: i64,
        backup_codes: &[String],
    ) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.activate_totp(id, pending, step, backup_codes).await
    }
    async fn use_totp_step(&self, id: ClientId, step: i64) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.use_totp_step(id, step).await
    }
    async fn replace_backup_codes(
        &self,
        id: ClientId,
        expected: &[String],
        new: &[String],
    ) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.replace_backup_codes(id, expected, new).await
    }
    async fn remove_totp(&self, id: ClientId) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.remove_totp(id).await
    }
    async fn set_client_disabled(&self, id: ClientId, disabled: bool) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.set_client_disabled(id, disabled).await
    }
}

#[async_trait]
impl ChannelStore for DelayedWrites {
    async fn insert_channel(&self, channel: &Channel) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.insert_channel(channel).await
    }
    async fn channel(&self, client: ClientId, id: ChannelId) -> Result<Option<Channel>, StoreError> {
        self.inner.channel(client, id).await
    }
    async fn list_channels(&self, client: ClientId) -> Result<Vec<Channel>, StoreError> {
        self.inner.list_channels(client).await
    }
    async fn delete_channel(&self, client: ClientId, id: ChannelId) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.delete_channel(client, id).await
    }
    async fn set_receipt_secret(&self, client: ClientId, id: ChannelId, secret: &Sealed) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.set_receipt_secret(client, id, secret).await
    }
    async fn update_channel(
        &self,
        client: ClientId,
        id: ChannelId,
        title: &str,
        credentials: Option<&Sealed>,
    ) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.update_channel(client, id, title, credentials).await
    }
}

#[async_trait]
impl TemplateStore for DelayedWrites {
    async fn insert_template(&self, template: &Template) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.insert_template(template).await
    }
    async fn update_template(&self, old: &Template, new: &Template) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.update_template(old, new).await
    }
    async fn template(&self, client: ClientId, id: TemplateId) -> Result<Option<Template>, StoreError> {
        self.inner.template(client, id).await
    }
    async fn list_templates(&self, client: ClientId) -> Result<Vec<Template>, StoreError> {
        self.inner.list_templates(client).await
    }
    async fn delete_template(&self, client: ClientId, id: TemplateId) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.delete_template(client, id).await
    }
}

#[async_trait]
impl ProjectStore for DelayedWrites {
    async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.insert_project(project).await
    }
    async fn project(&self, id: ProjectId) -> Result<Option<Project>, StoreError> {
        self.inner.project(id).await
    }
    async fn project_by_public_key(&self, public_key: &str) -> Result<Option<Project>, StoreError> {
        self.inner.project_by_public_key(public_key).await
    }
    async fn update_project(&self, old: &Project, new: &Project) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.update_project(old, new).await
    }
    async fn list_projects(&self, client: ClientId) -> Result<Vec<Project>, StoreError> {
        self.inner.list_projects(client).await
    }
    async fn delete_project(&self, client: ClientId, id: ProjectId) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.delete_project(client, id).await
    }
}

#[async_trait]
impl VerificationStore for DelayedWrites {
    async fn start_verification(&self, new: &NewVerification, now: UnixTime) -> Result<(), StartError> {
        self.pause().await;
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
        self.pause().await;
        self.inner.check_code(project, user_ref, code_mac, device_mac, now).await
    }
    async fn cancel_verification(
        &self,
        project: ProjectId,
        user_ref: &UserRef,
        id: VerificationId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.pause().await;
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
        self.pause().await;
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
        self.pause().await;
        let fail = state == DeliveryState::Sent
            && self.failing_sent_writes.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if fail {
            return Err(StoreError::Unavailable("injected: the sent write fails".into()));
        }
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
        self.pause().await;
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
        self.pause().await;
        self.inner.start_fallback(project, user_ref, id, now, claimed_until, destination_limit).await
    }
    async fn list_verifications(&self, project: ProjectId, limit: usize) -> Result<Vec<Verification>, StoreError> {
        self.inner.list_verifications(project, limit).await
    }
}

#[async_trait]
impl LogStore for DelayedWrites {
    async fn append_log(&self, entry: &LogEntry) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.append_log(entry).await
    }
    async fn list_logs(&self, client: ClientId, filter: &LogFilter) -> Result<LogPage, StoreError> {
        self.inner.list_logs(client, filter).await
    }
}

#[async_trait]
impl TokenStore for DelayedWrites {
    async fn insert_token(&self, token: &ApiToken, max: u32) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.insert_token(token, max).await
    }
    async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        self.inner.token_by_hash(hash).await
    }
    async fn list_tokens(&self, client: ClientId) -> Result<Vec<ApiToken>, StoreError> {
        self.inner.list_tokens(client).await
    }
    async fn delete_token(&self, client: ClientId, id: TokenId) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.delete_token(client, id).await
    }
    async fn touch_token(&self, client: ClientId, id: TokenId, at: UnixTime) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.touch_token(client, id, at).await
    }
}

#[async_trait]
impl SessionStore for DelayedWrites {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.insert_session(session).await
    }
    async fn session(&self, hash: &str) -> Result<Option<Session>, StoreError> {
        self.inner.session(hash).await
    }
    async fn touch_session(&self, hash: &str, idle_expires_at: UnixTime) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.touch_session(hash, idle_expires_at).await
    }
    async fn delete_session(&self, hash: &str) -> Result<bool, StoreError> {
        self.pause().await;
        self.inner.delete_session(hash).await
    }
    async fn insert_account_token(&self, token: &AccountToken) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.insert_account_token(token).await
    }
    async fn take_account_token(
        &self,
        hash: &str,
        purpose: AccountTokenPurpose,
        now: UnixTime,
    ) -> Result<Option<AccountToken>, StoreError> {
        self.pause().await;
        self.inner.take_account_token(hash, purpose, now).await
    }
    async fn count_attempt(
        &self,
        key: &str,
        window_start: UnixTime,
        window_seconds: u32,
        max: u32,
    ) -> Result<Option<u32>, StoreError> {
        self.pause().await;
        self.inner.count_attempt(key, window_start, window_seconds, max).await
    }
    async fn clear_attempts(&self, key: &str, window_start: UnixTime) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.clear_attempts(key, window_start).await
    }
}
