//! Management use cases: accounts, channels, templates and projects. The
//! management API and the local server's demo bootstrap both go through
//! these, so every record is created with its data key and sealed fields in
//! exactly one way.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::clock::Clock;
use crate::crypto::{DataKeyCache, IndexKey, KeyContext};
use crate::error::{Internal, ManageError, Unavailable};
use crate::ids::{ChannelId, ClientId, LogId, ProjectId, TemplateId, TokenId};
use crate::model::{
    ApiToken, Channel, ChannelMethod, Client, Fallback, LogEntry, LogLevel, Project, ProjectSettings, ProviderKind,
    Template, TemplateFormat, TemplateVersion, TokenSecret, Webhook,
};
use crate::otp::{Aad, WebhookSecret};
use crate::ports::{
    MessageSender, OutgoingMessage, ProviderCredentials, QueueAdmin, QueueHealth, Redrive, SendError, Store,
};
use crate::render::{self, RenderLimits, RenderVars, render_with_limits};
use crate::types::{Email, Lang, ParseError, PhoneNumber, PublicKey, Recipient, SecretKey};

#[derive(Clone)]
pub struct Management {
    /// Sends channels' test messages; `None`: this entry point sends none.
    pub sender: Option<Arc<dyn MessageSender>>,
    pub store: Arc<dyn Store>,
    pub keys: Arc<DataKeyCache>,
    pub index_key: IndexKey,
    pub clock: Arc<dyn Clock>,
    /// Allow `http://` webhook URLs (local development only).
    pub allow_insecure_webhooks: bool,
    /// The deployment's public base URL, if configured (receipts URLs).
    pub public_url: Option<String>,
    /// The background queues' statistics and redrive; `None`: this entry
    /// point offers none.
    pub queues: Option<Arc<dyn QueueAdmin>>,
    /// The addresses SES channels may send from.
    pub ses_senders: crate::providers::SesSenders,
}

/// The user name of the HTTP basic auth a provider presents to the receipts
/// endpoint; the password is the channel's receipts secret.
pub const RECEIPTS_USERNAME: &str = "s2fa";

/// Language versions a template may hold.
pub const MAX_TEMPLATE_VERSIONS: usize = 30;

/// The longest a rotated secret key stays accepted.
pub const MAX_KEY_OVERLAP_SECONDS: u32 = 7 * 86_400;

/// What a new project's owner is shown once and never again.
pub struct ProjectKeys {
    pub public_key: PublicKey,
    pub secret_key: SecretKey,
    pub webhook_secret: Option<WebhookSecret>,
}

/// An end user as its project's owner sees it.
pub struct EndUser {
    /// The client's own id for the end user.
    pub user_id: String,
    /// The last code: `pending`, `approved`, `expired` or `locked` (its
    /// attempts used up).
    pub state: &'static str,
    /// The last code's record: attempts, first seen, last sent, expiry,
    /// delivery state, provider message id and receipt.
    pub verification: crate::model::Verification,
}

/// What an edit of a template changes; `None` and empty: unchanged.
#[derive(Default)]
pub struct TemplateEdit {
    pub title: Option<String>,
    pub default_lang: Option<Lang>,
    pub format: Option<TemplateFormat>,
    pub set_versions: BTreeMap<Lang, TemplateVersion>,
    pub remove_versions: Vec<Lang>,
}

/// What an edit of a project changes; `None`: unchanged.
#[derive(Default)]
pub struct ProjectEdit {
    pub title: Option<String>,
    pub channel_id: Option<ChannelId>,
    pub template_id: Option<TemplateId>,
    pub settings: Option<ProjectSettings>,
    /// `Some(None)` removes the webhook.
    pub webhook_url: Option<Option<String>>,
    /// `Some(None)` removes the fallback.
    pub fallback: Option<Option<Fallback>>,
}

pub struct NewProject {
    pub title: String,
    pub channel_id: ChannelId,
    pub template_id: TemplateId,
    pub settings: ProjectSettings,
    pub webhook_url: Option<String>,
    /// A second channel of the same method, used once per code when the
    /// first fails (see [`Fallback`]).
    pub fallback: Option<Fallback>,
}

fn title(field: &'static str, s: &str) -> Result<String, ManageError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 100 || s.chars().any(char::is_control) {
        return Err(ParseError::new(field, "must be 1 to 100 printable characters").into());
    }
    Ok(s.to_owned())
}

impl Management {
    /// A channel's credentials against the provider's schema, and an SES
    /// channel's sender against the deployment's allowed senders.
    fn check_credentials(&self, provider: ProviderKind, credentials: &serde_json::Value) -> Result<(), ManageError> {
        crate::providers::validate_credentials(provider, credentials)
            .map_err(|e| ManageError::Invalid(e.to_string()))?;
        if provider == ProviderKind::Ses {
            self.ses_senders.sender(credentials).map_err(|e| ManageError::Invalid(e.into()))?;
        }
        Ok(())
    }

    /// The same use cases, sending test messages through `sender`.
    pub fn with_sender(self, sender: Arc<dyn MessageSender>) -> Self {
        Self { sender: Some(sender), ..self }
    }

    /// The same use cases, with the queues' health and redrive.
    pub fn with_queue_admin(self, queues: Arc<dyn QueueAdmin>) -> Self {
        Self { queues: Some(queues), ..self }
    }

    fn queue_admin(&self, principal: &Principal) -> Result<&Arc<dyn QueueAdmin>, ManageError> {
        if !principal.manages_clients() {
            return Err(ManageError::Forbidden);
        }
        // Not offered by this entry point (the Lambda functions' SQS adapter is not built yet).
        self.queues.as_ref().ok_or(ManageError::NotFound("queue"))
    }

    /// Depth, in flight, delayed and dead letters of each background queue:
    /// the operator and the admin only.
    pub async fn queue_health(&self, principal: &Principal) -> Result<Vec<QueueHealth>, ManageError> {
        self.queue_admin(principal)?.health().await.map_err(|e| Unavailable(e.to_string()).into())
    }

    /// Moves a queue's dead letters back to it: the operator and the admin only.
    pub async fn redrive(&self, principal: &Principal, queue: &str) -> Result<Redrive, ManageError> {
        let admin = self.queue_admin(principal)?;
        admin.redrive(queue).await.map_err(|e| Unavailable(e.to_string()))?.ok_or(ManageError::NotFound("queue"))
    }

    pub fn email_index(&self, email: &Email) -> crate::crypto::Mac {
        crate::accounts::email_index(&self.index_key, email)
    }

    /// Registers a client by email on the operator's or an admin's word:
    /// confirmed at once (the first confirmed client is the admin); it sets
    /// its password through a password reset.
    pub async fn register_client(&self, email: &Email) -> Result<Client, ManageError> {
        let now = self.clock.now();
        let client = crate::accounts::new_client(&self.keys, &self.index_key, now, email, Some(now)).await?;
        Ok(self.store.insert_client(&client).await?)
    }

    /// Creates a channel; `credentials` is the provider's JSON object, sealed
    /// under the client's data key.
    pub async fn create_channel(
        &self,
        client: &Client,
        title_text: &str,
        method: ChannelMethod,
        provider: ProviderKind,
        credentials: &serde_json::Value,
    ) -> Result<Channel, ManageError> {
        if !provider.supports(method) {
            return Err(ManageError::Invalid(format!(
                "provider {} cannot send {}",
                provider.as_str(),
                method.as_str()
            )));
        }
        // The provider's schema, with a message naming the field (never its value).
        self.check_credentials(provider, credentials)?;
        let key = self.keys.get(&KeyContext::client(client.id), &client.data_key).await?;
        let id = ChannelId::generate();
        let raw = serde_json::to_vec(credentials).map_err(|e| Internal(e.to_string()))?;
        let receipt_secret = ReceiptSecret::generate();
        let channel = Channel {
            id,
            client_id: client.id,
            title: title("title", title_text)?,
            method,
            provider,
            credentials: key.seal(Aad::channel_credentials(&id.to_string()), &raw),
            receipt_secret: Some(key.seal_str(Aad::channel_receipt_secret(&id.to_string()), receipt_secret.expose())),
            created_at: self.clock.now(),
        };
        self.store.insert_channel(&channel).await?;
        Ok(channel)
    }

    /// Creates a template after checking that every version renders and
    /// contains the code, and that the default language has a version.
    pub async fn create_template(
        &self,
        client: ClientId,
        title_text: &str,
        default_lang: Lang,
        format: TemplateFormat,
        versions: BTreeMap<Lang, TemplateVersion>,
    ) -> Result<Template, ManageError> {
        if !versions.contains_key(&default_lang) {
            return Err(ManageError::Invalid("the default language needs a version".into()));
        }
        if versions.len() > MAX_TEMPLATE_VERSIONS {
            return Err(ManageError::Invalid(format!("a template holds at most {MAX_TEMPLATE_VERSIONS} versions")));
        }
        for (lang, version) in &versions {
            render::validate(format, version).map_err(|e| ManageError::Invalid(format!("{lang}: {e}")))?;
        }
        let template = Template {
            id: TemplateId::generate(),
            client_id: client,
            title: title("title", title_text)?,
            default_lang,
            format,
            versions,
            created_at: self.clock.now(),
        };
        self.store.insert_template(&template).await?;
        Ok(template)
    }

    /// A version rendered with sample values (code `123456`, ten minutes,
    /// project "Your project"), after the checks a save makes: what the
    /// template editor previews. Nothing is stored.
    pub fn preview_template(
        &self,
        format: TemplateFormat,
        version: &TemplateVersion,
    ) -> Result<render::Rendered, ManageError> {
        let invalid = |e: render::TemplateError| ManageError::Invalid(e.to_string());
        render::validate(format, version).map_err(invalid)?;
        let vars = RenderVars { code: "123456", expires_in_seconds: 600, project_name: "Your project" };
        render::render(format, version, &vars).map_err(invalid)
    }

    fn check_webhook_url(&self, url: &str) -> Result<(), ManageError> {
        let bad = || ManageError::Invalid("webhook_url must be an absolute https URL".into());
        let parsed = url::Url::parse(url).map_err(|_| bad())?;
        let scheme_ok = parsed.scheme() == "https" || (self.allow_insecure_webhooks && parsed.scheme() == "http");
        if !scheme_ok || parsed.host().is_none() || url.len() > 2000 {
            return Err(bad());
        }
        Ok(())
    }

    /// Creates a project with its own data key, a fresh key pair and, if a
    /// webhook URL is given, a webhook signing secret.
    /// Checks a project's links and settings as created or edited: the
    /// client's channel and template, an SMS template that fits, a webhook
    /// URL we may call, a fallback of the same method. Returns the channel.
    async fn check_project(&self, client: ClientId, new: &NewProject) -> Result<Channel, ManageError> {
        let channel = self
            .store
            .channel(client, new.channel_id)
            .await?
            .ok_or_else(|| ManageError::Invalid("channel does not exist".into()))?;
        let template = self
            .store
            .template(client, new.template_id)
            .await?
            .ok_or_else(|| ManageError::Invalid("template does not exist".into()))?;
        if channel.method == ChannelMethod::Sms {
            check_sms_template(&template, &new.title, new.settings.expiration_seconds)?;
        }
        if let Some(url) = &new.webhook_url {
            self.check_webhook_url(url)?;
        }
        if let Some(fallback) = &new.fallback {
            let second = self
                .store
                .channel(client, fallback.channel_id)
                .await?
                .ok_or_else(|| ManageError::Invalid("fallback_channel_id: channel does not exist".into()))?;
            if second.id == channel.id || second.method != channel.method {
                return Err(ManageError::Invalid(
                    "fallback_channel_id: must be another channel with the same method as channel_id".into(),
                ));
            }
            if !Fallback::AFTER_SECONDS.contains(&fallback.after_seconds) {
                return Err(ParseError::new("fallback_after_seconds", "must be between 30 and 900").into());
            }
        }
        Ok(channel)
    }

    /// Creates a project on `principal`'s word: its keys are new secrets,
    /// so an older session may not (see [`Principal::obtains_keys`]).
    pub async fn create_project_as(
        &self,
        principal: &Principal,
        client: ClientId,
        new: NewProject,
    ) -> Result<(Project, ProjectKeys), ManageError> {
        principal.check_obtains_keys()?;
        let client = self.authorize(principal, client).await?;
        self.create_project(client.id, new).await
    }

    pub async fn create_project(
        &self,
        client: ClientId,
        new: NewProject,
    ) -> Result<(Project, ProjectKeys), ManageError> {
        let channel = self.check_project(client, &new).await?;
        let id = ProjectId::generate();
        let pid = id.to_string();
        let (key, wrapped) = self.keys.generate(&KeyContext::project(id)).await?;
        let keys = ProjectKeys {
            public_key: PublicKey::generate(),
            secret_key: SecretKey::generate(),
            webhook_secret: new.webhook_url.as_ref().map(|_| WebhookSecret::generate()),
        };
        let webhook = match (&new.webhook_url, &keys.webhook_secret) {
            (Some(url), Some(secret)) => Some(Webhook {
                url: key.seal_str(Aad::webhook_url(&pid), url),
                signing_secret: key.seal_str(Aad::webhook_secret(&pid), secret.expose()),
            }),
            _ => None,
        };
        let project = Project {
            id,
            client_id: client,
            title: title("title", &new.title)?,
            public_key: keys.public_key.clone(),
            secret_key: key.seal(Aad::project_secret_key(&pid), keys.secret_key.expose()),
            channel_id: channel.id,
            channel_method: channel.method,
            template_id: new.template_id,
            settings: new.settings,
            webhook,
            fallback: new.fallback,
            previous_secret_key: None,
            previous_secret_until: None,
            revision: 0,
            data_key: wrapped,
            created_at: self.clock.now(),
        };
        self.store.insert_project(&project).await?;
        Ok((project, keys))
    }

    /// The secret a provider presents to the receipts endpoint of
    /// `channel` (HTTP basic auth, user `s2fa`), opened; `None` for a
    /// channel made before receipts existed.
    pub async fn receipt_secret(&self, client: &Client, channel: &Channel) -> Result<Option<String>, ManageError> {
        let Some(sealed) = &channel.receipt_secret else { return Ok(None) };
        let key = self.keys.get(&KeyContext::client(client.id), &client.data_key).await?;
        key.open_string(Aad::channel_receipt_secret(&channel.id.to_string()), sealed)
            .map(|s| Some(s.to_string()))
            .map_err(|_| Internal(format!("receipt secret of {} cannot be opened", channel.id)).into())
    }

    /// Sends a fixed test message through one of the client's channels to
    /// `to` (an address or a number, as the channel's method needs), at most
    /// [`TEST_SENDS_PER_HOUR`] per client and hour (counted before sending,
    /// so a failed send counts too). The provider's verdict is the outcome;
    /// it is also logged on the client.
    pub async fn test_send(
        &self,
        principal: &Principal,
        client: ClientId,
        channel: ChannelId,
        to: &str,
    ) -> Result<TestSendOutcome, ManageError> {
        let client = self.authorize(principal, client).await?;
        let channel = self.store.channel(client.id, channel).await?.ok_or(ManageError::NotFound("channel"))?;
        let recipient = match channel.method {
            ChannelMethod::Email => Email::parse(to).map(Recipient::Email),
            ChannelMethod::Sms => PhoneNumber::parse(to).map(Recipient::Phone),
        }
        .map_err(|e| ManageError::Invalid(format!("to: {}", e.reason)))?;
        let sender = self.sender.as_ref().ok_or_else(|| Internal("no sender for test messages".into()))?;
        let now = self.clock.now();
        let window_start = now - now.rem_euclid(3600);
        if !self.store.count_test_send(client.id, window_start, 3600, TEST_SENDS_PER_HOUR).await? {
            return Err(ManageError::RateLimited {
                what: "this client has sent its test messages for this hour",
                retry_after_seconds: (window_start + 3600 - now).max(1) as u32,
            });
        }
        let key = self.keys.get(&KeyContext::client(client.id), &client.data_key).await?;
        let raw = key
            .open(Aad::channel_credentials(&channel.id.to_string()), &channel.credentials)
            .map_err(|_| Internal(format!("credentials of {} cannot be opened", channel.id)))?;
        let credentials = ProviderCredentials(serde_json::from_slice(&raw).map_err(|e| Internal(e.to_string()))?);
        let message = OutgoingMessage {
            to: recipient,
            subject: "Secure-2FA test message".into(),
            body: format!(
                "This is a test message from the Secure-2FA channel \"{}\". If you did not expect it, ignore it.",
                channel.title
            ),
            format: TemplateFormat::Text,
            tracking: None,
        };
        let sending = sender.send(channel.provider, &credentials, &message);
        let outcome = match tokio::time::timeout(crate::otp::SEND_DEADLINE, sending).await {
            Ok(Ok(sent)) => TestSendOutcome::Sent { provider_message_id: sent.provider_message_id },
            Ok(Err(SendError::Permanent(reason))) => TestSendOutcome::Failed { reason, retryable: false },
            Ok(Err(SendError::Transient(reason) | SendError::Throttled { reason, .. })) => {
                TestSendOutcome::Failed { reason, retryable: true }
            }
            Err(_) => TestSendOutcome::Failed {
                reason: format!(
                    "{}: no answer within {} s",
                    channel.provider.as_str(),
                    crate::otp::SEND_DEADLINE.as_secs()
                ),
                retryable: true,
            },
        };
        let (level, said) = match &outcome {
            TestSendOutcome::Sent { .. } => (LogLevel::Info, "sent".to_owned()),
            TestSendOutcome::Failed { reason, .. } => (LogLevel::Danger, format!("failed: {reason}")),
        };
        let message = format!("Test message through channel {} ({}) {said}", channel.id, channel.provider.as_str());
        self.log_on_client(client.id, level, "channel.test", message).await;
        Ok(outcome)
    }

    /// Gives the channel a new receipts secret (the old one stops working at
    /// once) and returns it: the only way to see one again after the
    /// channel's creation.
    pub async fn rotate_receipt_secret(
        &self,
        principal: &Principal,
        client: ClientId,
        channel: ChannelId,
    ) -> Result<(Channel, String), ManageError> {
        principal.check_obtains_keys()?;
        let client = self.authorize(principal, client).await?;
        let channel = self.store.channel(client.id, channel).await?.ok_or(ManageError::NotFound("channel"))?;
        let key = self.keys.get(&KeyContext::client(client.id), &client.data_key).await?;
        let secret = ReceiptSecret::generate();
        let sealed = key.seal_str(Aad::channel_receipt_secret(&channel.id.to_string()), secret.expose());
        if !self.store.set_receipt_secret(client.id, channel.id, &sealed).await? {
            return Err(ManageError::NotFound("channel"));
        }
        Ok((channel, secret.expose().to_owned()))
    }

    /// The client's email, opened with the client's data key.
    pub async fn client_email(&self, client: &Client) -> Result<String, ManageError> {
        let key = self.keys.get(&KeyContext::client(client.id), &client.data_key).await?;
        key.open_string(Aad::client_email(&client.id.to_string()), &client.email)
            .map(|s| s.to_string())
            .map_err(|_| Internal(format!("email of {} cannot be opened", client.id)).into())
    }

    /// One of the client's channels (its credentials stay sealed).
    pub async fn get_channel(
        &self,
        principal: &Principal,
        client: ClientId,
        id: ChannelId,
    ) -> Result<Channel, ManageError> {
        let client = self.authorize(principal, client).await?;
        self.store.channel(client.id, id).await?.ok_or(ManageError::NotFound("channel"))
    }

    /// Renames a channel and, with `credentials`, replaces them whole
    /// (validated against the provider's schema, sealed, never returned).
    /// The provider and method stay: another provider is another channel.
    pub async fn update_channel(
        &self,
        principal: &Principal,
        client: ClientId,
        id: ChannelId,
        new_title: Option<&str>,
        credentials: Option<&serde_json::Value>,
    ) -> Result<Channel, ManageError> {
        let client = self.authorize(principal, client).await?;
        let channel = self.store.channel(client.id, id).await?.ok_or(ManageError::NotFound("channel"))?;
        let new_title = title("title", new_title.unwrap_or(&channel.title))?;
        let sealed = match credentials {
            Some(c) => {
                self.check_credentials(channel.provider, c)?;
                let key = self.keys.get(&KeyContext::client(client.id), &client.data_key).await?;
                let raw = serde_json::to_vec(c).map_err(|e| Internal(e.to_string()))?;
                Some(key.seal(Aad::channel_credentials(&id.to_string()), &raw))
            }
            None => None,
        };
        if !self.store.update_channel(client.id, id, &new_title, sealed.as_ref()).await? {
            return Err(ManageError::NotFound("channel"));
        }
        if sealed.is_some() {
            self.log_on_client(client.id, LogLevel::Info, "channel.credentials_replaced", format!("channel {id}"))
                .await;
        }
        self.store.channel(client.id, id).await?.ok_or(ManageError::NotFound("channel"))
    }

    /// One of the client's templates.
    pub async fn get_template(
        &self,
        principal: &Principal,
        client: ClientId,
        id: TemplateId,
    ) -> Result<Template, ManageError> {
        let client = self.authorize(principal, client).await?;
        self.store.template(client.id, id).await?.ok_or(ManageError::NotFound("template"))
    }

    /// Edits a template: its title, default language, format, and versions
    /// set or removed, checked as at creation (every version renders and
    /// holds the code, the default language keeps a version) and against
    /// every SMS project that links it. A concurrent edit answers 409.
    pub async fn update_template(
        &self,
        principal: &Principal,
        client: ClientId,
        id: TemplateId,
        edit: TemplateEdit,
    ) -> Result<Template, ManageError> {
        let client = self.authorize(principal, client).await?;
        let old = self.store.template(client.id, id).await?.ok_or(ManageError::NotFound("template"))?;
        let mut new = old.clone();
        if let Some(t) = &edit.title {
            new.title = title("title", t)?;
        }
        if let Some(lang) = edit.default_lang {
            new.default_lang = lang;
        }
        if let Some(format) = edit.format {
            new.format = format;
        }
        for (lang, version) in edit.set_versions {
            new.versions.insert(lang, version);
        }
        for lang in &edit.remove_versions {
            if *lang == new.default_lang {
                return Err(ManageError::Conflict("the default language's version cannot be removed".into()));
            }
            if new.versions.remove(lang).is_none() {
                return Err(ManageError::NotFound("template version"));
            }
        }
        if !new.versions.contains_key(&new.default_lang) {
            return Err(ManageError::Invalid("the default language needs a version".into()));
        }
        if new.versions.len() > MAX_TEMPLATE_VERSIONS {
            return Err(ManageError::Invalid(format!("a template holds at most {MAX_TEMPLATE_VERSIONS} versions")));
        }
        for (lang, version) in &new.versions {
            render::validate(new.format, version).map_err(|e| ManageError::Invalid(format!("{lang}: {e}")))?;
        }
        for project in self.store.list_projects(client.id).await? {
            if project.template_id == id && project.channel_method == ChannelMethod::Sms {
                check_sms_template(&new, &project.title, project.settings.expiration_seconds)?;
            }
        }
        if !self.store.update_template(&old, &new).await? {
            return Err(ManageError::Conflict("the template changed meanwhile; read it again".into()));
        }
        Ok(new)
    }

    /// A project's end users, most recently sent first (at most `limit`,
    /// up to 200): the client's id for each (opened with the project's data
    /// key), the last code's state and attempts, and its delivery.
    pub async fn list_end_users(
        &self,
        principal: &Principal,
        client: ClientId,
        project: ProjectId,
        limit: usize,
    ) -> Result<Vec<EndUser>, ManageError> {
        let project = self.get_project(principal, client, project).await?;
        let key = self.keys.get(&KeyContext::project(project.id), &project.data_key).await?;
        let now = self.clock.now();
        let mut records = self.store.list_verifications(project.id, limit.clamp(1, 200)).await?;
        records.sort_by_key(|v| std::cmp::Reverse(v.sent_at));
        records
            .into_iter()
            .map(|v| {
                let aad_id = format!("{}/{}", project.id, v.user_ref.as_str());
                let user_id = key
                    .open_string(Aad::end_user_id(&aad_id), &v.user_id)
                    .map_err(|_| Internal(format!("an end user of {} cannot be opened", project.id)))?;
                let state = match v.status {
                    crate::model::VerificationStatus::Approved => "approved",
                    _ if v.expires_at <= now => "expired",
                    _ if v.attempts >= v.max_attempts => "locked",
                    _ => "pending",
                };
                Ok(EndUser { user_id: user_id.to_string(), state, verification: v })
            })
            .collect()
    }

    /// Replaces a project's secret key (shown once) and, unless
    /// `overlap_seconds` is 0, keeps accepting the old one for that long (at
    /// most 7 days) so that the client's servers can move over without a
    /// refused call. Rotating again ends the previous overlap.
    pub async fn rotate_secret_key(
        &self,
        principal: &Principal,
        client: ClientId,
        id: ProjectId,
        overlap_seconds: u32,
    ) -> Result<(Project, SecretKey), ManageError> {
        principal.check_obtains_keys()?;
        if overlap_seconds > MAX_KEY_OVERLAP_SECONDS {
            return Err(ParseError::new("overlap_seconds", "must be at most 604800 (7 days)").into());
        }
        let old = self.get_project(principal, client, id).await?;
        let key = self.keys.get(&KeyContext::project(old.id), &old.data_key).await?;
        let secret = SecretKey::generate();
        let now = self.clock.now();
        let new = Project {
            secret_key: key.seal(Aad::project_secret_key(&old.id.to_string()), secret.expose()),
            previous_secret_key: (overlap_seconds > 0).then(|| old.secret_key.clone()),
            previous_secret_until: (overlap_seconds > 0).then_some(now + i64::from(overlap_seconds)),
            revision: old.revision + 1,
            ..old.clone()
        };
        if !self.store.update_project(&old, &new).await? {
            return Err(ManageError::Conflict("the project changed meanwhile; read it again".into()));
        }
        let message = format!("project {} secret key rotated; the old one works {overlap_seconds} s more", old.id);
        self.log_on_client(old.client_id, LogLevel::Warning, "project.key_rotated", message).await;
        Ok((new, secret))
    }

    /// Ends a rotation's overlap now: only the current secret key opens
    /// requests from here on (on AWS, once the OTP functions' 10-second read
    /// cache has passed). For a leaked old key.
    pub async fn end_key_overlap(
        &self,
        principal: &Principal,
        client: ClientId,
        id: ProjectId,
    ) -> Result<Project, ManageError> {
        let old = self.get_project(principal, client, id).await?;
        let new = Project {
            previous_secret_key: None,
            previous_secret_until: None,
            revision: old.revision + 1,
            ..old.clone()
        };
        if !self.store.update_project(&old, &new).await? {
            return Err(ManageError::Conflict("the project changed meanwhile; read it again".into()));
        }
        let message = format!("project {} previous secret key revoked", old.id);
        self.log_on_client(old.client_id, LogLevel::Warning, "project.previous_key_revoked", message).await;
        Ok(new)
    }

    /// Replaces a project's webhook signing secret (shown once): events are
    /// signed with the new one from now on.
    pub async fn rotate_webhook_secret(
        &self,
        principal: &Principal,
        client: ClientId,
        id: ProjectId,
    ) -> Result<WebhookSecret, ManageError> {
        principal.check_obtains_keys()?;
        let old = self.get_project(principal, client, id).await?;
        let Some(webhook) = &old.webhook else {
            return Err(ManageError::Conflict("the project has no webhook".into()));
        };
        let key = self.keys.get(&KeyContext::project(old.id), &old.data_key).await?;
        let secret = WebhookSecret::generate();
        let sealed = key.seal_str(Aad::webhook_secret(&old.id.to_string()), secret.expose());
        let new =
            Project { webhook: Some(Webhook { url: webhook.url.clone(), signing_secret: sealed }), ..old.clone() };
        if !self.store.update_project(&old, &new).await? {
            return Err(ManageError::Conflict("the project changed meanwhile; read it again".into()));
        }
        let message = format!("project {} webhook secret rotated", old.id);
        self.log_on_client(old.client_id, LogLevel::Warning, "project.webhook_secret_rotated", message).await;
        Ok(secret)
    }

    /// One of the client's projects.
    pub async fn get_project(
        &self,
        principal: &Principal,
        client: ClientId,
        id: ProjectId,
    ) -> Result<Project, ManageError> {
        let client = self.authorize(principal, client).await?;
        self.store.project(id).await?.filter(|p| p.client_id == client.id).ok_or(ManageError::NotFound("project"))
    }

    /// Edits a project: any of its title, channel, template, settings,
    /// webhook URL (`Some(None)` removes it) and fallback (`Some(None)`
    /// removes it), validated as at creation. Its keys stay. A webhook added
    /// to a project that had none gets a signing secret, returned once.
    pub async fn update_project(
        &self,
        principal: &Principal,
        client: ClientId,
        id: ProjectId,
        edit: ProjectEdit,
    ) -> Result<(Project, Option<WebhookSecret>), ManageError> {
        let client = self.authorize(principal, client).await?;
        let old = self
            .store
            .project(id)
            .await?
            .filter(|p| p.client_id == client.id)
            .ok_or(ManageError::NotFound("project"))?;
        let merged = NewProject {
            title: edit.title.unwrap_or_else(|| old.title.clone()),
            channel_id: edit.channel_id.unwrap_or(old.channel_id),
            template_id: edit.template_id.unwrap_or(old.template_id),
            settings: edit.settings.unwrap_or(old.settings),
            webhook_url: None,
            fallback: edit.fallback.unwrap_or(old.fallback),
        };
        let merged = NewProject { webhook_url: edit.webhook_url.clone().flatten(), ..merged };
        let channel = self.check_project(client.id, &merged).await?;
        let pid = old.id.to_string();
        let key = self.keys.get(&KeyContext::project(old.id), &old.data_key).await?;
        let mut new_secret = None;
        let webhook = match edit.webhook_url {
            None => old.webhook.clone(),
            Some(None) => None,
            Some(Some(url)) => {
                let signing_secret = match &old.webhook {
                    Some(w) => w.signing_secret.clone(),
                    None => {
                        principal.check_obtains_keys()?;
                        let secret = WebhookSecret::generate();
                        let sealed = key.seal_str(Aad::webhook_secret(&pid), secret.expose());
                        new_secret = Some(secret);
                        sealed
                    }
                };
                Some(Webhook { url: key.seal_str(Aad::webhook_url(&pid), &url), signing_secret })
            }
        };
        let new = Project {
            title: title("title", &merged.title)?,
            channel_id: channel.id,
            channel_method: channel.method,
            template_id: merged.template_id,
            settings: merged.settings,
            webhook,
            fallback: merged.fallback,
            revision: old.revision + 1,
            ..old.clone()
        };
        if !self.store.update_project(&old, &new).await? {
            return Err(ManageError::Conflict("the project changed meanwhile; read it again".into()));
        }
        self.log_on_client(client.id, LogLevel::Info, "project.updated", format!("project {} edited", old.id)).await;
        Ok((new, new_secret))
    }

    /// Deletes a project and forgets its cached data key: with the wrapped
    /// key gone from storage, nothing sealed under it can be opened again.
    pub async fn delete_project(&self, client: ClientId, id: ProjectId) -> Result<bool, ManageError> {
        let deleted = self.store.delete_project(client, id).await?;
        self.keys.evict(&KeyContext::project(id));
        Ok(deleted)
    }
}

/// API tokens a client may hold at once.
pub const MAX_TOKENS_PER_CLIENT: u32 = 20;

/// Test messages a client may send per hour, all its channels together:
/// enough to try each channel, too few to spam anyone through us.
pub const TEST_SENDS_PER_HOUR: u32 = 10;

/// What a channel's provider did with a test message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestSendOutcome {
    Sent {
        provider_message_id: Option<String>,
    },
    /// The provider's refusal (never the recipient), and whether trying
    /// again later may work.
    Failed {
        reason: String,
        retryable: bool,
    },
}

/// A channel's receipts secret: 32 random bytes, base64url (43 characters,
/// usable in a URL's userinfo as is).
pub struct ReceiptSecret(zeroize::Zeroizing<String>);

impl ReceiptSecret {
    pub fn generate() -> Self {
        use base64::Engine as _;
        use rand::RngCore as _;
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(zeroize::Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Who calls a management operation, as the entry point authenticated them.
/// Every operation on a client's records authorizes through
/// [`Management::authorize`]: a client reaches only its own records (another
/// client's look absent, the admin's included); the operator (deployment
/// token) reaches every client. The admin client may also list and register
/// clients, nothing more of theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// The deployment's operator token.
    Operator,
    /// A client, by a signed-in session or an API token; `recent_sign_in`:
    /// a session begun (password and second factor) within
    /// [`crate::accounts::RECENT_SIGN_IN_SECONDS`]; `by_token`: by an API
    /// token (never a recent sign-in).
    Client { id: ClientId, is_admin: bool, recent_sign_in: bool, by_token: bool },
}

impl Principal {
    /// Whether this principal may list and register clients.
    pub fn manages_clients(&self) -> bool {
        matches!(self, Self::Operator | Self::Client { is_admin: true, .. })
    }

    /// Whether this principal may create and revoke API tokens: the
    /// operator and a client that signed in recently; not a client holding
    /// an API token or an older session (a stolen token or cookie must not
    /// mint tokens that outlive it).
    pub fn manages_credentials(&self) -> bool {
        matches!(self, Self::Operator | Self::Client { recent_sign_in: true, .. })
    }

    /// Whether this principal may obtain a project's new secret keys (a
    /// project created, a key or webhook or receipts secret rotated): the
    /// operator, an API token (automation rotates keys), and a session
    /// begun recently; not an older session (a stolen cookie must not
    /// obtain keys that outlive it).
    pub fn obtains_keys(&self) -> bool {
        matches!(self, Self::Operator | Self::Client { recent_sign_in: true, .. } | Self::Client { by_token: true, .. })
    }

    /// `Forbidden` unless [`Self::obtains_keys`]: checked before any
    /// lookup, so the answer says nothing of the ids asked for.
    fn check_obtains_keys(&self) -> Result<(), ManageError> {
        if self.obtains_keys() { Ok(()) } else { Err(ManageError::Forbidden) }
    }
}

pub use crate::model::LogPage;

impl Management {
    /// The client `id` if `principal` may act on it; absent and not theirs
    /// are the same `NotFound`, so ids of other clients cannot be probed.
    pub async fn authorize(&self, principal: &Principal, id: ClientId) -> Result<Client, ManageError> {
        let allowed = match principal {
            Principal::Client { id: own, .. } => *own == id,
            Principal::Operator => true,
        };
        if !allowed {
            return Err(ManageError::NotFound("client"));
        }
        self.store.client(id).await?.ok_or(ManageError::NotFound("client"))
    }

    /// Every client: the operator and admins only.
    pub async fn list_clients(&self, principal: &Principal) -> Result<Vec<Client>, ManageError> {
        if !principal.manages_clients() {
            return Err(ManageError::Forbidden);
        }
        Ok(self.store.list_clients().await?)
    }

    /// Registers a client on behalf of the operator or an admin.
    pub async fn create_client(&self, principal: &Principal, email: &Email) -> Result<Client, ManageError> {
        if !principal.manages_clients() {
            return Err(ManageError::Forbidden);
        }
        self.register_client(email).await
    }

    /// Disables (or re-enables) a client: its sessions end and its API
    /// tokens, API keys and projects stop answering. The operator and the
    /// admin signed in within the last 15 minutes only (not an API token);
    /// the admin itself cannot be disabled.
    pub async fn set_client_disabled(
        &self,
        principal: &Principal,
        client: ClientId,
        disabled: bool,
    ) -> Result<Client, ManageError> {
        // The admin's session, recent, or the operator: not an API token.
        if !principal.manages_clients() || !principal.manages_credentials() {
            return Err(ManageError::Forbidden);
        }
        let target = self.store.client(client).await?.ok_or(ManageError::NotFound("client"))?;
        if target.is_admin {
            return Err(ManageError::Conflict("the admin cannot be disabled".into()));
        }
        if !self.store.set_client_disabled(client, disabled).await? {
            return Err(ManageError::NotFound("client"));
        }
        let event = if disabled { "client.disabled" } else { "client.enabled" };
        self.log_on_client(client, LogLevel::Warning, event, format!("{event} by the admin")).await;
        self.store.client(client).await?.ok_or(ManageError::NotFound("client"))
    }

    pub async fn list_channels(&self, principal: &Principal, client: ClientId) -> Result<Vec<Channel>, ManageError> {
        let client = self.authorize(principal, client).await?;
        Ok(self.store.list_channels(client.id).await?)
    }

    /// `Ok(false)` when absent; `InUse` while a project links it.
    pub async fn delete_channel(
        &self,
        principal: &Principal,
        client: ClientId,
        id: ChannelId,
    ) -> Result<bool, ManageError> {
        let client = self.authorize(principal, client).await?;
        Ok(self.store.delete_channel(client.id, id).await?)
    }

    pub async fn list_templates(&self, principal: &Principal, client: ClientId) -> Result<Vec<Template>, ManageError> {
        let client = self.authorize(principal, client).await?;
        Ok(self.store.list_templates(client.id).await?)
    }

    /// `Ok(false)` when absent; `InUse` while a project links it.
    pub async fn delete_template(
        &self,
        principal: &Principal,
        client: ClientId,
        id: TemplateId,
    ) -> Result<bool, ManageError> {
        let client = self.authorize(principal, client).await?;
        Ok(self.store.delete_template(client.id, id).await?)
    }

    pub async fn list_projects(&self, principal: &Principal, client: ClientId) -> Result<Vec<Project>, ManageError> {
        let client = self.authorize(principal, client).await?;
        Ok(self.store.list_projects(client.id).await?)
    }

    pub async fn remove_project(
        &self,
        principal: &Principal,
        client: ClientId,
        id: ProjectId,
    ) -> Result<bool, ManageError> {
        let client = self.authorize(principal, client).await?;
        self.delete_project(client.id, id).await
    }

    /// A new API token for the client, named `name`; its secret is returned
    /// once and only its hash is stored.
    pub async fn create_token(
        &self,
        principal: &Principal,
        client: ClientId,
        name: &str,
    ) -> Result<(ApiToken, TokenSecret), ManageError> {
        let client = self.authorize(principal, client).await?;
        if !principal.manages_credentials() {
            return Err(ManageError::Forbidden);
        }
        let secret = TokenSecret::generate();
        let token = ApiToken {
            id: TokenId::generate(),
            client_id: client.id,
            name: title("name", name)?,
            prefix: secret.prefix(),
            hash: TokenSecret::hash_of(secret.expose()),
            created_at: self.clock.now(),
            last_used_at: None,
        };
        if !self.store.insert_token(&token, MAX_TOKENS_PER_CLIENT).await? {
            return Err(ManageError::Invalid(format!("a client has at most {MAX_TOKENS_PER_CLIENT} API tokens")));
        }
        let said = format!("API token {} ({}) created", token.id, token.prefix);
        self.log_on_client(client.id, LogLevel::Info, "token.created", said).await;
        Ok((token, secret))
    }

    pub async fn list_tokens(&self, principal: &Principal, client: ClientId) -> Result<Vec<ApiToken>, ManageError> {
        let client = self.authorize(principal, client).await?;
        Ok(self.store.list_tokens(client.id).await?)
    }

    /// Revokes a token: it stops working at once. `Ok(false)` when absent.
    pub async fn revoke_token(
        &self,
        principal: &Principal,
        client: ClientId,
        id: TokenId,
    ) -> Result<bool, ManageError> {
        let client = self.authorize(principal, client).await?;
        if !principal.manages_credentials() {
            return Err(ManageError::Forbidden);
        }
        let revoked = self.store.delete_token(client.id, id).await?;
        if revoked {
            self.log_on_client(client.id, LogLevel::Info, "token.revoked", format!("API token {id} revoked")).await;
        }
        Ok(revoked)
    }

    /// Writes an entry in the client's own log (not a project's). Best effort.
    async fn log_on_client(&self, client: ClientId, level: LogLevel, event: &str, message: String) {
        let entry = LogEntry {
            id: LogId::generate(),
            client_id: client,
            project_id: None,
            user_ref: None,
            verification_id: None,
            level,
            event: event.to_owned(),
            message,
            created_at: self.clock.now(),
        };
        if let Err(e) = self.store.append_log(&entry).await {
            tracing::error!(error = %e, event, "failed to write a client log entry");
        }
    }

    /// The principal a presented client API token stands for, or `None`
    /// (unknown, revoked, or its client gone). Records the use at most once
    /// a minute.
    pub async fn authenticate_token(&self, presented: &str) -> Result<Option<Principal>, ManageError> {
        if !presented.starts_with(TokenSecret::MARKER) || presented.len() > 200 {
            return Ok(None);
        }
        let Some(token) = self.store.token_by_hash(&TokenSecret::hash_of(presented)).await? else {
            return Ok(None);
        };
        let Some(client) = self.store.client(token.client_id).await?.filter(|c| !c.disabled) else {
            return Ok(None);
        };
        let now = self.clock.now();
        if token.last_used_at.is_none_or(|at| now - at >= 60)
            && let Err(e) = self.store.touch_token(client.id, token.id, now).await
        {
            tracing::warn!(error = %e, "could not record a token's use");
        }
        Ok(Some(Principal::Client { id: client.id, is_admin: client.is_admin, recent_sign_in: false, by_token: true }))
    }

    /// A page of the client's logs, newest first (at most 200 entries).
    pub async fn list_logs(
        &self,
        principal: &Principal,
        client: ClientId,
        mut filter: crate::model::LogFilter,
    ) -> Result<LogPage, ManageError> {
        let client = self.authorize(principal, client).await?;
        filter.limit = filter.limit.clamp(1, 200);
        Ok(self.store.list_logs(client.id, &filter).await?)
    }
}

/// Most SMS segments a code message may take: each is billed, and a code
/// split over more is read late or out of order.
pub const MAX_SMS_SEGMENTS: usize = 3;

/// A template linked to an SMS channel: plain text, and every language's
/// body, rendered with the longest code (10 digits), fits in
/// [`MAX_SMS_SEGMENTS`] (GSM-7 or UCS-2 as the text needs). The subject is
/// not sent.
fn check_sms_template(template: &Template, project_title: &str, expires_in_seconds: u32) -> Result<(), ManageError> {
    if template.format != TemplateFormat::Text {
        return Err(ManageError::Invalid("an SMS channel needs a text template, not HTML".into()));
    }
    let vars = RenderVars { code: "0000000000", expires_in_seconds, project_name: project_title };
    for (lang, version) in &template.versions {
        let rendered = render_with_limits(TemplateFormat::Text, version, &vars, RenderLimits::SMS)
            .map_err(|e| ManageError::Invalid(format!("template version {}: {e}", lang.as_str())))?;
        let length = crate::providers::sms_length(&rendered.body);
        if length.segments > MAX_SMS_SEGMENTS {
            return Err(ManageError::Invalid(format!(
                "template version {}: the SMS takes {} segments ({} {} units); at most {MAX_SMS_SEGMENTS} are allowed",
                lang.as_str(),
                length.segments,
                length.units,
                length.encoding.as_str(),
            )));
        }
    }
    Ok(())
}
