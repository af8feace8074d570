//! The ready-to-use demo project of local mode: a client, an email channel to
//! the outbox, a default template and a project, created on first start and
//! written to `DIR/dev-credentials.json` (0600).

use std::collections::BTreeMap;

use anyhow::Context;
use secure2fa_core::manage::NewProject;
use secure2fa_core::model::{ChannelMethod, ProjectSettings, ProviderKind, TemplateFormat, TemplateVersion};
use secure2fa_core::types::{Email, Lang};
use secure2fa_local::files;
use serde::{Deserialize, Serialize};

use crate::LocalApp;

const DEMO_EMAIL: &str = "demo@secure2fa.localhost";

#[derive(Clone, Serialize, Deserialize)]
pub struct DevCredentials {
    pub base_url: String,
    pub project_id: String,
    pub public_key: String,
    pub secret_key: String,
    pub outbox_url: String,
    /// Bearer token of the management API (`/v1/...`).
    #[serde(default)]
    pub operator_token: String,
    /// The demo client's sign-in (it is the admin).
    #[serde(default)]
    pub login: Option<DemoLogin>,
}

/// What a newcomer signs in with: the demo client's email, a generated
/// password and the TOTP secret (base32), so that scripts can compute codes.
#[derive(Clone, Serialize, Deserialize)]
pub struct DemoLogin {
    pub email: String,
    pub password: String,
    pub totp_secret: String,
}

impl std::fmt::Debug for DevCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCredentials").field("project_id", &self.project_id).finish_non_exhaustive()
    }
}

impl LocalApp {
    /// Returns the demo project's credentials, creating the project on the
    /// first start (or if it was deleted). `base_url` is refreshed each time.
    pub async fn ensure_demo_project(&self, base_url: &str) -> anyhow::Result<DevCredentials> {
        let path = self.config.data_dir.join("dev-credentials.json");
        let existing: Option<DevCredentials> = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let mut creds = match existing {
            Some(c) if self.store_has_project(&c.public_key).await? => DevCredentials {
                base_url: base_url.to_owned(),
                outbox_url: format!("{base_url}/dev/outbox"),
                operator_token: self.raw_operator_token.to_string(),
                ..c
            },
            _ => self.create_demo_project(base_url).await?,
        };
        if creds.login.is_none() {
            creds.login = Some(self.provision_demo_login().await?);
        }
        files::write_private(&path, &serde_json::to_vec_pretty(&creds)?)
            .context("cannot write dev-credentials.json")?;
        Ok(creds)
    }

    async fn store_has_project(&self, public_key: &str) -> anyhow::Result<bool> {
        use secure2fa_core::ports::ProjectStore;
        Ok(self.store.project_by_public_key(public_key).await?.is_some())
    }

    /// A password and an authenticator for the demo client.
    async fn provision_demo_login(&self) -> anyhow::Result<DemoLogin> {
        use secure2fa_core::ports::ClientStore;
        let email = Email::parse(DEMO_EMAIL).expect("the demo address is valid");
        let client = self
            .store
            .client_by_email_index(&self.manage.email_index(&email))
            .await?
            .context("the demo client is missing")?;
        let (password, totp_secret) =
            self.accounts.provision_login(&client).await.map_err(|e| anyhow::anyhow!("demo sign-in: {e}"))?;
        Ok(DemoLogin {
            email: DEMO_EMAIL.to_owned(),
            password: password.to_string(),
            totp_secret: totp_secret.to_string(),
        })
    }

    async fn create_demo_project(&self, base_url: &str) -> anyhow::Result<DevCredentials> {
        use secure2fa_core::ports::ClientStore;
        let m = &self.manage;
        let email = Email::parse(DEMO_EMAIL).expect("the demo address is valid");
        let client = match self.store.client_by_email_index(&m.email_index(&email)).await? {
            Some(c) => c,
            None => m.register_client(&email).await.map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        let channel = m
            .create_channel(&client, "Local outbox", ChannelMethod::Email, ProviderKind::Outbox, &serde_json::json!({}))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let en = Lang::parse("en").expect("valid tag");
        let versions = BTreeMap::from([
            (en.clone(), TemplateVersion {
                subject: "Your {{ PROJECT_NAME }} verification code".into(),
                body: "Your verification code is {{ OTP_CODE }}. It expires in {{ EXPIRES_IN_MINUTES }} minutes.".into(),
            }),
            (Lang::parse("fr").expect("valid tag"), TemplateVersion {
                subject: "Votre code de vérification {{ PROJECT_NAME }}".into(),
                body: "Votre code de vérification est {{ OTP_CODE }}. Il expire dans {{ EXPIRES_IN_MINUTES }} minutes.".into(),
            }),
        ]);
        let template = m
            .create_template(client.id, "Default", en, TemplateFormat::Text, versions)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (project, keys) = m
            .create_project(
                client.id,
                NewProject {
                    title: "Demo".into(),
                    channel_id: channel.id,
                    template_id: template.id,
                    settings: ProjectSettings::default(),
                    webhook_url: None,
                    fallback: None,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(DevCredentials {
            base_url: base_url.to_owned(),
            project_id: project.id.to_string(),
            public_key: keys.public_key.to_string(),
            secret_key: keys.secret_key.to_base64(),
            outbox_url: format!("{base_url}/dev/outbox"),
            operator_token: self.raw_operator_token.to_string(),
            login: None,
        })
    }
}
