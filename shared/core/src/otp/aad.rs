//! The binding (entity, id, field) of every sealed value, in one place so
//! sealing and opening always agree.

use crate::crypto::FieldAad;

pub struct Aad;

impl Aad {
    pub fn project_secret_key(project_id: &str) -> FieldAad<'_> {
        FieldAad { entity: "project", id: project_id, field: "secret_key" }
    }
    pub fn webhook_url(project_id: &str) -> FieldAad<'_> {
        FieldAad { entity: "project", id: project_id, field: "webhook_url" }
    }
    pub fn webhook_secret(project_id: &str) -> FieldAad<'_> {
        FieldAad { entity: "project", id: project_id, field: "webhook_secret" }
    }
    /// `id` is `<project id>/<user ref>`.
    pub fn end_user_id(id: &str) -> FieldAad<'_> {
        FieldAad { entity: "end_user", id, field: "user_id" }
    }
    pub fn verification_recipient(verification_id: &str) -> FieldAad<'_> {
        FieldAad { entity: "verification", id: verification_id, field: "recipient" }
    }
    pub fn job_code(verification_id: &str) -> FieldAad<'_> {
        FieldAad { entity: "job", id: verification_id, field: "code" }
    }
    pub fn job_recipient(verification_id: &str) -> FieldAad<'_> {
        FieldAad { entity: "job", id: verification_id, field: "recipient" }
    }
    pub fn job_event(event_id: &str) -> FieldAad<'_> {
        FieldAad { entity: "job", id: event_id, field: "event" }
    }
    pub fn client_email(client_id: &str) -> FieldAad<'_> {
        FieldAad { entity: "client", id: client_id, field: "email" }
    }
    pub fn client_totp_secret(client_id: &str) -> FieldAad<'_> {
        FieldAad { entity: "client", id: client_id, field: "totp_secret" }
    }
    pub fn channel_credentials(channel_id: &str) -> FieldAad<'_> {
        FieldAad { entity: "channel", id: channel_id, field: "credentials" }
    }
    pub fn channel_receipt_secret(channel_id: &str) -> FieldAad<'_> {
        FieldAad { entity: "channel", id: channel_id, field: "receipt_secret" }
    }
}
