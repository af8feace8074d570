//! Projects: list, create (keys shown once, with a Python snippet), show,
//! edit, rotate the secret key (the new one shown once), delete with
//! confirmation, and the project's end users with their logs.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use secure2fa_core::UnixTime;
use secure2fa_core::ids::{ChannelId, ProjectId, TemplateId};
use secure2fa_core::manage::{NewProject, ProjectEdit};
use secure2fa_core::model::{Channel, Fallback, LogFilter, Project, ProjectSettings, Template as OtpTemplate};
use secure2fa_core::types::CodeLength;
use serde::Deserialize;

use crate::Ctx;
use crate::page::{Choice, Layout, PageError, PageResult, choices, form_error, ok, render, see_other};
use crate::pages::time::date_time;
use crate::session::Me;

fn project_id(raw: &str) -> Result<ProjectId, PageError> {
    raw.parse().map_err(|_| PageError::not_found("project"))
}

struct ProjectRow {
    id: String,
    title: String,
    channel: String,
    template: String,
    public_key: String,
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    layout: Layout,
    projects: Vec<ProjectRow>,
    can_create: bool,
}

fn title_of<T>(items: &[T], matches: impl Fn(&T) -> bool, title: impl Fn(&T) -> &str) -> String {
    items.iter().find(|i| matches(i)).map(|i| title(i).to_owned()).unwrap_or_else(|| "(removed)".into())
}

/// The client's projects that `holds` (a channel or template whose
/// deletion was refused), as (id, title) for the page's list.
pub(crate) async fn holding(
    ctx: &Ctx,
    me: &Me,
    holds: impl Fn(&Project) -> bool,
) -> Result<Vec<(String, String)>, PageError> {
    let projects = ctx.manage.list_projects(&me.principal, me.client.id).await?;
    Ok(projects.into_iter().filter(|p| holds(p)).map(|p| (p.id.to_string(), p.title)).collect())
}

pub(crate) async fn list(State(ctx): State<Ctx>, me: Me) -> PageResult {
    let projects = ctx.manage.list_projects(&me.principal, me.client.id).await?;
    let channels = ctx.manage.list_channels(&me.principal, me.client.id).await?;
    let templates = ctx.manage.list_templates(&me.principal, me.client.id).await?;
    let rows = projects
        .iter()
        .map(|p| ProjectRow {
            id: p.id.to_string(),
            title: p.title.clone(),
            channel: title_of(&channels, |c| c.id == p.channel_id, |c| &c.title),
            template: title_of(&templates, |t| t.id == p.template_id, |t| &t.title),
            public_key: p.public_key.as_str().to_owned(),
        })
        .collect();
    Ok(ok(&ProjectsPage {
        layout: Layout::signed_in("Projects", "projects", &me),
        projects: rows,
        can_create: !channels.is_empty() && !templates.is_empty(),
    }))
}

/// The project form's values, as typed (re-shown after a refusal).
#[derive(Deserialize, Default, Clone)]
pub(crate) struct ProjectForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    template_id: String,
    #[serde(default)]
    expiration_seconds: String,
    #[serde(default)]
    max_attempts: String,
    #[serde(default)]
    code_length: String,
    #[serde(default)]
    webhook_url: String,
    #[serde(default)]
    fallback_channel_id: String,
    /// A checkbox of the edit form.
    #[serde(default)]
    remove_webhook: Option<String>,
}

impl ProjectForm {
    /// The form over a stored project. The webhook URL is sealed and not
    /// shown: the field stays empty, which keeps it.
    fn of(p: &Project) -> Self {
        Self {
            title: p.title.clone(),
            channel_id: p.channel_id.to_string(),
            template_id: p.template_id.to_string(),
            expiration_seconds: p.settings.expiration_seconds.to_string(),
            max_attempts: p.settings.max_attempts.to_string(),
            code_length: p.settings.code_length.get().to_string(),
            webhook_url: String::new(),
            fallback_channel_id: p.fallback.map(|f| f.channel_id.to_string()).unwrap_or_default(),
            remove_webhook: None,
        }
    }

    fn defaults() -> Self {
        let d = ProjectSettings::default();
        Self {
            expiration_seconds: d.expiration_seconds.to_string(),
            max_attempts: d.max_attempts.to_string(),
            code_length: d.code_length.get().to_string(),
            ..Self::default()
        }
    }

    /// The settings this form sets over `base` (a new project's defaults, or
    /// the project edited: what the form does not show is kept).
    fn settings(&self, base: &ProjectSettings) -> Result<ProjectSettings, PageError> {
        let number = |field: &str, raw: &str| -> Result<u32, PageError> {
            raw.trim().parse().map_err(|_| invalid(&format!("{field} must be a whole number")))
        };
        let code_length = u8::try_from(number("code_length", &self.code_length)?)
            .map_err(|_| invalid("code_length is out of range"))
            .and_then(|n| CodeLength::new(n).map_err(|e| invalid(&e.to_string())))?;
        ProjectSettings::new(
            number("expiration_seconds", &self.expiration_seconds)?,
            number("max_attempts", &self.max_attempts)?,
            code_length,
            base.resend_cooldown_seconds,
            base.sends_per_destination,
            base.send_window_seconds,
            base.quota,
        )
        .map_err(|e| invalid(&e.to_string()))
    }

    fn channel(&self) -> Result<ChannelId, PageError> {
        self.channel_id.parse().map_err(|_| invalid("choose a channel"))
    }

    fn template(&self) -> Result<TemplateId, PageError> {
        self.template_id.parse().map_err(|_| invalid("choose a template"))
    }

    fn fallback(&self, old: Option<Fallback>) -> Result<Option<Fallback>, PageError> {
        if self.fallback_channel_id.is_empty() {
            return Ok(None);
        }
        let channel_id = self.fallback_channel_id.parse().map_err(|_| invalid("choose a fallback channel"))?;
        let after_seconds = old.map_or(Fallback::DEFAULT_AFTER_SECONDS, |f| f.after_seconds);
        Ok(Some(Fallback { channel_id, after_seconds }))
    }

    fn webhook(&self) -> Option<String> {
        Some(self.webhook_url.trim().to_owned()).filter(|u| !u.is_empty())
    }
}

fn invalid(message: &str) -> PageError {
    PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Not saved", message)
}

#[derive(Template)]
#[template(path = "project_form.html")]
struct ProjectFormPage {
    layout: Layout,
    action: String,
    form: ProjectForm,
    channels: Vec<Choice>,
    fallbacks: Vec<Choice>,
    templates: Vec<Choice>,
    error: Option<String>,
    editing: bool,
}

fn form_page(
    me: &Me,
    action: String,
    form: ProjectForm,
    channels: &[Channel],
    templates: &[OtpTemplate],
    error: Option<String>,
    editing: bool,
) -> ProjectFormPage {
    let channel_label = |c: &Channel| format!("{} ({} via {})", c.title, c.method.as_str(), c.provider.as_str());
    let mut fallbacks = vec![Choice {
        value: String::new(),
        label: "No fallback".into(),
        selected: form.fallback_channel_id.is_empty(),
    }];
    fallbacks.extend(choices(channels, &form.fallback_channel_id, |c| c.id.to_string(), channel_label));
    ProjectFormPage {
        layout: Layout::signed_in(if editing { "Edit the project" } else { "New project" }, "projects", me),
        action,
        channels: choices(channels, &form.channel_id, |c| c.id.to_string(), channel_label),
        templates: choices(templates, &form.template_id, |t| t.id.to_string(), |t| t.title.clone()),
        fallbacks,
        form,
        error,
        editing,
    }
}

pub(crate) async fn new_form(State(ctx): State<Ctx>, me: Me) -> PageResult {
    let channels = ctx.manage.list_channels(&me.principal, me.client.id).await?;
    let templates = ctx.manage.list_templates(&me.principal, me.client.id).await?;
    Ok(ok(&form_page(&me, "/projects/new".into(), ProjectForm::defaults(), &channels, &templates, None, false)))
}

/// The integration snippet: the README's Python client with this project's
/// keys (the secret only on the page that shows it once).
fn python_snippet(base_url: &str, public_key: &str, secret_key: Option<&str>) -> String {
    let secret = match secret_key {
        Some(s) => format!("\"{s}\""),
        None => "os.environ[\"SECURE2FA_SECRET_KEY\"]".into(),
    };
    format!(
        "import os\nfrom secure2fa_client import Secure2FA  # examples/python/secure2fa_client.py\n\n\
         client = Secure2FA(\"{base_url}\", \"{public_key}\", {secret})\n\n\
         # Send a code to the end user (your id for them, and their address or phone):\n\
         client.generate(\"user-42\", \"user@example.com\")\n\n\
         # Check the code they typed: {{\"status\": \"approved\"}} when right.\n\
         result = client.verify(\"user-42\", code_from_the_form)\n"
    )
}

#[derive(Template)]
#[template(path = "project_created.html")]
struct ProjectCreatedPage {
    layout: Layout,
    id: String,
    title: String,
    public_key: String,
    secret_key: String,
    webhook_secret: Option<String>,
    snippet: String,
    rotated: bool,
}

fn base_url(ctx: &Ctx) -> String {
    ctx.options.api_base_url.clone().unwrap_or_else(|| "https://<your deployment>".into())
}

pub(crate) async fn create(State(ctx): State<Ctx>, me: Me, Form(f): Form<ProjectForm>) -> PageResult {
    let attempt = async {
        let new = NewProject {
            title: f.title.clone(),
            channel_id: f.channel()?,
            template_id: f.template()?,
            settings: f.settings(&ProjectSettings::default())?,
            webhook_url: f.webhook(),
            fallback: f.fallback(None)?,
        };
        Ok::<_, PageError>(ctx.manage.create_project_as(&me.principal, me.client.id, new).await?)
    };
    match attempt.await {
        Ok((project, keys)) => {
            let secret = keys.secret_key.to_base64();
            Ok(ok(&ProjectCreatedPage {
                layout: Layout::signed_in("Project created", "projects", &me),
                id: project.id.to_string(),
                title: project.title.clone(),
                public_key: keys.public_key.as_str().to_owned(),
                snippet: python_snippet(&base_url(&ctx), keys.public_key.as_str(), Some(&secret)),
                secret_key: secret,
                webhook_secret: keys.webhook_secret.map(|w| w.expose().to_owned()),
                rotated: false,
            }))
        }
        Err(e) => {
            let (status, message) = form_error(e)?;
            let channels = ctx.manage.list_channels(&me.principal, me.client.id).await?;
            let templates = ctx.manage.list_templates(&me.principal, me.client.id).await?;
            let page = form_page(&me, "/projects/new".into(), f, &channels, &templates, Some(message), false);
            Ok(render(status, &page))
        }
    }
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    layout: Layout,
    id: String,
    title: String,
    public_key: String,
    channel: String,
    fallback: Option<String>,
    template: String,
    expiration_seconds: u32,
    max_attempts: u32,
    code_length: u8,
    has_webhook: bool,
    previous_key_until: Option<String>,
    created_at: String,
    snippet: String,
}

pub(crate) async fn show(State(ctx): State<Ctx>, me: Me, Path(id): Path<String>) -> PageResult {
    let p = ctx.manage.get_project(&me.principal, me.client.id, project_id(&id)?).await?;
    let channels = ctx.manage.list_channels(&me.principal, me.client.id).await?;
    let templates = ctx.manage.list_templates(&me.principal, me.client.id).await?;
    let channel_title = |cid: ChannelId| title_of(&channels, |c| c.id == cid, |c| &c.title);
    Ok(ok(&ProjectPage {
        layout: Layout::signed_in(&p.title, "projects", &me),
        id: p.id.to_string(),
        title: p.title.clone(),
        public_key: p.public_key.as_str().to_owned(),
        channel: channel_title(p.channel_id),
        fallback: p.fallback.map(|f| format!("{} after {} s", channel_title(f.channel_id), f.after_seconds)),
        template: title_of(&templates, |t| t.id == p.template_id, |t| &t.title),
        expiration_seconds: p.settings.expiration_seconds,
        max_attempts: p.settings.max_attempts,
        code_length: p.settings.code_length.get(),
        has_webhook: p.webhook.is_some(),
        previous_key_until: p.previous_secret_key.as_ref().and(p.previous_secret_until).map(date_time),
        created_at: date_time(p.created_at),
        snippet: python_snippet(&base_url(&ctx), p.public_key.as_str(), None),
    }))
}

pub(crate) async fn edit_form(State(ctx): State<Ctx>, me: Me, Path(id): Path<String>) -> PageResult {
    let p = ctx.manage.get_project(&me.principal, me.client.id, project_id(&id)?).await?;
    let channels = ctx.manage.list_channels(&me.principal, me.client.id).await?;
    let templates = ctx.manage.list_templates(&me.principal, me.client.id).await?;
    let form = ProjectForm::of(&p);
    Ok(ok(&form_page(&me, format!("/projects/{}/edit", p.id), form, &channels, &templates, None, true)))
}

pub(crate) async fn edit(
    State(ctx): State<Ctx>,
    me: Me,
    Path(id): Path<String>,
    Form(f): Form<ProjectForm>,
) -> PageResult {
    let id = project_id(&id)?;
    let old = ctx.manage.get_project(&me.principal, me.client.id, id).await?;
    let attempt = async {
        let edit = ProjectEdit {
            title: Some(f.title.clone()),
            channel_id: Some(f.channel()?),
            template_id: Some(f.template()?),
            settings: Some(f.settings(&old.settings)?),
            webhook_url: if f.remove_webhook.is_some() { Some(None) } else { f.webhook().map(Some) },
            fallback: Some(f.fallback(old.fallback)?),
        };
        Ok::<_, PageError>(ctx.manage.update_project(&me.principal, me.client.id, id, edit).await?)
    };
    match attempt.await {
        Ok((project, Some(secret))) => Ok(ok(&crate::pages::auth::MessagePage {
            layout: Layout::signed_in("Webhook secret", "projects", &me),
            message: format!("The project's webhook is set. Its signing secret, shown once: {}", secret.expose()),
            link: Some((format!("/projects/{}", project.id), "Back to the project".into())),
        })),
        Ok((project, None)) => Ok(see_other(&format!("/projects/{}", project.id))),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let channels = ctx.manage.list_channels(&me.principal, me.client.id).await?;
            let templates = ctx.manage.list_templates(&me.principal, me.client.id).await?;
            let page = form_page(&me, format!("/projects/{id}/edit"), f, &channels, &templates, Some(message), true);
            Ok(render(status, &page))
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct RotateForm {
    #[serde(default)]
    overlap_seconds: String,
}

pub(crate) async fn rotate_secret_key(
    State(ctx): State<Ctx>,
    me: Me,
    Path(id): Path<String>,
    Form(f): Form<RotateForm>,
) -> PageResult {
    let overlap: u32 = f.overlap_seconds.parse().map_err(|_| invalid("choose how long the old key keeps working"))?;
    let (project, secret) =
        ctx.manage.rotate_secret_key(&me.principal, me.client.id, project_id(&id)?, overlap).await?;
    let secret = secret.to_base64();
    Ok(ok(&ProjectCreatedPage {
        layout: Layout::signed_in("New secret key", "projects", &me),
        id: project.id.to_string(),
        title: project.title.clone(),
        public_key: project.public_key.as_str().to_owned(),
        snippet: python_snippet(&base_url(&ctx), project.public_key.as_str(), Some(&secret)),
        secret_key: secret,
        webhook_secret: None,
        rotated: true,
    }))
}

#[derive(Template)]
#[template(path = "project_delete.html")]
struct DeletePage {
    layout: Layout,
    id: String,
    title: String,
}

pub(crate) async fn delete_form(State(ctx): State<Ctx>, me: Me, Path(id): Path<String>) -> PageResult {
    let p = ctx.manage.get_project(&me.principal, me.client.id, project_id(&id)?).await?;
    Ok(ok(&DeletePage {
        layout: Layout::signed_in("Delete the project", "projects", &me),
        id: p.id.to_string(),
        title: p.title,
    }))
}

pub(crate) async fn delete(State(ctx): State<Ctx>, me: Me, Path(id): Path<String>) -> PageResult {
    if !ctx.manage.remove_project(&me.principal, me.client.id, project_id(&id)?).await? {
        return Err(PageError::not_found("project"));
    }
    Ok(see_other("/projects"))
}

struct EndUserRow {
    user_id: String,
    user_ref: String,
    state: &'static str,
    attempts: String,
    first_seen: String,
    last_sent: String,
    delivery: &'static str,
    message_id: String,
    receipt: String,
}

struct LogRow {
    time: String,
    level: &'static str,
    event: String,
    message: String,
}

#[derive(Template)]
#[template(path = "end_users.html")]
struct EndUsersPage {
    layout: Layout,
    id: String,
    title: String,
    users: Vec<EndUserRow>,
    /// The chosen end user's logs.
    selected: Option<(String, Vec<LogRow>)>,
}

#[derive(Deserialize)]
pub(crate) struct EndUsersQuery {
    user_ref: Option<String>,
}

/// End users shown at most.
const END_USERS_SHOWN: usize = 100;

pub(crate) async fn end_users(
    State(ctx): State<Ctx>,
    me: Me,
    Path(id): Path<String>,
    Query(q): Query<EndUsersQuery>,
) -> PageResult {
    let p = ctx.manage.get_project(&me.principal, me.client.id, project_id(&id)?).await?;
    let users = ctx.manage.list_end_users(&me.principal, me.client.id, p.id, END_USERS_SHOWN).await?;
    let when = |t: UnixTime| date_time(t);
    let rows: Vec<EndUserRow> = users
        .iter()
        .map(|u| {
            let v = &u.verification;
            EndUserRow {
                user_id: u.user_id.clone(),
                user_ref: v.user_ref.as_str().to_owned(),
                state: u.state,
                attempts: format!("{} of {}", v.attempts, v.max_attempts),
                first_seen: when(v.first_seen),
                last_sent: when(v.sent_at),
                delivery: v.delivery.as_str(),
                message_id: v.provider_message_id.clone().unwrap_or_default(),
                receipt: v.receipt.as_ref().map(|r| r.status.as_str().to_owned()).unwrap_or_default(),
            }
        })
        .collect();
    // Only an end user of this list: the reference is not parsed from the query.
    let chosen = q.user_ref.as_deref().and_then(|r| users.iter().find(|u| u.verification.user_ref.as_str() == r));
    let selected = match chosen {
        Some(u) => {
            let filter = LogFilter {
                project_id: Some(p.id),
                user_ref: Some(u.verification.user_ref.clone()),
                level: None,
                before: None,
                limit: 50,
            };
            let page = ctx.manage.list_logs(&me.principal, me.client.id, filter).await?;
            let logs = page
                .entries
                .iter()
                .map(|e| LogRow {
                    time: date_time(e.created_at),
                    level: e.level.as_str(),
                    event: e.event.clone(),
                    message: e.message.clone(),
                })
                .collect();
            Some((u.user_id.clone(), logs))
        }
        None => None,
    };
    Ok(ok(&EndUsersPage {
        layout: Layout::signed_in("End users", "projects", &me),
        id: p.id.to_string(),
        title: p.title,
        users: rows,
        selected,
    }))
}
