//! Minimal valid records for store tests. Sealed fields hold opaque bytes:
//! stores never look inside them.

use std::collections::BTreeMap;

use secure2fa_core::clock::UnixTime;
use secure2fa_core::crypto::{Mac, Sealed, WrappedKey};
use secure2fa_core::ids::{ChannelId, ClientId, ProjectId, TemplateId, VerificationId};
use secure2fa_core::model::{
    Channel, ChannelMethod, Client, DeliveryState, DestinationLimit, NewVerification, Project, ProjectSettings,
    ProviderKind, Template, TemplateFormat, TemplateVersion, Verification, VerificationStatus,
};
use secure2fa_core::ports::Store;
use secure2fa_core::types::{Lang, PublicKey};

pub fn sealed(tag: &str) -> Sealed {
    Sealed::from_bytes(format!("sealed:{tag}").into_bytes())
}

pub fn client(email_index: &str) -> Client {
    Client {
        id: ClientId::generate(),
        email: sealed("email"),
        email_index: Mac::from_hex(email_index.to_owned()),
        password_hash: None,
        totp_secret: None,
        totp_last_step: None,
        totp_pending: None,
        backup_codes: vec![],
        is_admin: false,
        session_epoch: 0,
        disabled: false,
        // Confirmed, as the operator registers them: the first is the admin.
        confirmed_at: Some(1_000),
        created_at: 1_000,
        data_key: WrappedKey::from_bytes(vec![1, 2, 3]),
    }
}

pub fn channel(client: ClientId) -> Channel {
    Channel {
        id: ChannelId::generate(),
        client_id: client,
        title: "Email".into(),
        method: ChannelMethod::Email,
        provider: ProviderKind::Outbox,
        credentials: sealed("credentials"),
        receipt_secret: None,
        created_at: 1_000,
    }
}

pub fn template(client: ClientId) -> Template {
    let en = Lang::parse("en").unwrap();
    Template {
        id: TemplateId::generate(),
        client_id: client,
        title: "Default".into(),
        default_lang: en.clone(),
        format: TemplateFormat::Text,
        versions: BTreeMap::from([(en, TemplateVersion { subject: "Code".into(), body: "{{ OTP_CODE }}".into() })]),
        created_at: 1_000,
    }
}

pub fn project(client: ClientId, channel: ChannelId, template: TemplateId) -> Project {
    Project {
        id: ProjectId::generate(),
        client_id: client,
        title: "App".into(),
        public_key: PublicKey::generate(),
        secret_key: sealed("secret"),
        channel_id: channel,
        channel_method: ChannelMethod::Email,
        template_id: template,
        settings: ProjectSettings::default(),
        webhook: None,
        fallback: None,
        previous_secret_key: None,
        previous_secret_until: None,
        revision: 0,
        data_key: WrappedKey::from_bytes(vec![4, 5, 6]),
        created_at: 1_000,
    }
}

/// A client with a channel, a template and a project, stored.
pub async fn seeded_project(store: &dyn Store) -> Project {
    let c = store.insert_client(&client(&format!("idx-{}", ClientId::generate()))).await.unwrap();
    let ch = channel(c.id);
    let t = template(c.id);
    store.insert_channel(&ch).await.unwrap();
    store.insert_template(&t).await.unwrap();
    let p = project(c.id, ch.id, t.id);
    store.insert_project(&p).await.unwrap();
    p
}

pub fn verification(project: ProjectId, user: &str, code_mac: &str, now: UnixTime) -> Verification {
    Verification {
        project_id: project,
        user_ref: Mac::from_hex(format!("user-{user}")),
        user_id: sealed("user"),
        verification_id: VerificationId::generate(),
        code_mac: Mac::from_hex(code_mac.to_owned()),
        device_mac: None,
        recipient: sealed("recipient"),
        lang: None,
        status: VerificationStatus::Pending,
        attempts: 0,
        max_attempts: 3,
        sent_at: now,
        expires_at: now + 600,
        delivery: DeliveryState::Queued,
        delivery_lease_until: None,
        provider_message_id: None,
        first_seen: now,
        receipt: None,
        fallback: false,
    }
}

pub fn new_verification(record: Verification, cooldown: u32) -> NewVerification {
    NewVerification { record, cooldown_seconds: cooldown, destination_limit: None }
}

pub fn limited(record: Verification, destination: &str, now: UnixTime, max: u32) -> NewVerification {
    NewVerification {
        record,
        cooldown_seconds: 0,
        destination_limit: Some(DestinationLimit {
            destination: Mac::from_hex(destination.to_owned()),
            window_start: now - now % 3600,
            window_seconds: 3600,
            max_sends: max,
        }),
    }
}
