//! Channels: list, create with the provider's credential form (built from
//! its schema: labels, help, secret fields as passwords), rename or
//! replace the credentials (never pre-filled), send a test message, delete
//! (refused while projects use it, naming them).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use secure2fa_core::error::ManageError;
use secure2fa_core::ids::ChannelId;
use secure2fa_core::manage::TestSendOutcome;
use secure2fa_core::model::{Channel, ChannelMethod, ProviderKind};
use secure2fa_core::providers::{CredentialField, FieldKind, credential_fields};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::Ctx;
use crate::page::{Layout, PageError, PageResult, form_error, ok, render, see_other};
use crate::pages::projects::holding;
use crate::pages::time::date_time;
use crate::session::Me;

fn channel_id(raw: &str) -> Result<ChannelId, PageError> {
    raw.parse().map_err(|_| PageError::not_found("channel"))
}

struct ChannelRow {
    id: String,
    title: String,
    method: &'static str,
    provider: &'static str,
    created_at: String,
}

impl From<&Channel> for ChannelRow {
    fn from(c: &Channel) -> Self {
        Self {
            id: c.id.to_string(),
            title: c.title.clone(),
            method: c.method.as_str(),
            provider: c.provider.as_str(),
            created_at: date_time(c.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "channels.html")]
struct ChannelsPage {
    layout: Layout,
    channels: Vec<ChannelRow>,
    providers: Vec<&'static str>,
}

pub(crate) async fn list(State(ctx): State<Ctx>, me: Me) -> PageResult {
    let channels = ctx.manage.list_channels(&me.principal, me.client.id).await?;
    Ok(ok(&ChannelsPage {
        layout: Layout::signed_in("Channels", "channels", &me),
        channels: channels.iter().map(ChannelRow::from).collect(),
        providers: ProviderKind::ALL.iter().map(|p| p.as_str()).collect(),
    }))
}

/// One input of a provider's credential form.
struct Field {
    name: String,
    label: &'static str,
    help: &'static str,
    required: bool,
    /// `password`, `text`, `email`, `tel`, `number`, `checkbox` or `select`.
    input: &'static str,
    choices: &'static [&'static str],
}

fn fields(provider: ProviderKind) -> Vec<Field> {
    credential_fields(provider)
        .iter()
        .map(|f: &CredentialField| Field {
            name: format!("cred_{}", f.name),
            label: f.label,
            help: f.help,
            required: f.required,
            input: match f.kind {
                _ if f.secret => "password",
                FieldKind::Email => "email",
                FieldKind::Phone => "tel",
                FieldKind::Port => "number",
                FieldKind::Bool => "checkbox",
                FieldKind::Enum(_) => "select",
                _ => "text",
            },
            choices: match f.kind {
                FieldKind::Enum(words) => words,
                _ => &[],
            },
        })
        .collect()
}

/// The credentials object a form's `cred_*` fields make: empty optional
/// fields left out, checkboxes as booleans, the provider's schema checks
/// the rest (in the use case).
fn credentials(provider: ProviderKind, form: &[(String, String)]) -> Value {
    let value_of = |name: &str| form.iter().find(|(k, _)| k == &format!("cred_{name}")).map(|(_, v)| v.trim());
    let mut object = Map::new();
    for f in credential_fields(provider) {
        match (f.kind, value_of(f.name)) {
            (FieldKind::Bool, v) => {
                object.insert(f.name.into(), Value::Bool(v.is_some()));
            }
            (_, Some(v)) if !v.is_empty() => {
                object.insert(f.name.into(), Value::String(v.to_owned()));
            }
            _ => {}
        }
    }
    Value::Object(object)
}

fn field(form: &[(String, String)], name: &str) -> String {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "channel_form.html")]
struct ChannelFormPage {
    layout: Layout,
    provider: &'static str,
    methods: Vec<&'static str>,
    title: String,
    fields: Vec<Field>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ProviderQuery {
    #[serde(default)]
    provider: String,
}

fn provider(raw: &str) -> Result<ProviderKind, PageError> {
    ProviderKind::parse(raw).ok_or_else(|| PageError::not_found("provider"))
}

fn new_page(me: &Me, provider: ProviderKind, title: String, error: Option<String>) -> ChannelFormPage {
    ChannelFormPage {
        layout: Layout::signed_in("New channel", "channels", me),
        provider: provider.as_str(),
        methods: [ChannelMethod::Email, ChannelMethod::Sms]
            .into_iter()
            .filter(|m| provider.supports(*m))
            .map(|m| m.as_str())
            .collect(),
        title,
        fields: fields(provider),
        error,
    }
}

pub(crate) async fn new_form(me: Me, Query(q): Query<ProviderQuery>) -> PageResult {
    if q.provider.is_empty() {
        return Ok(see_other("/channels"));
    }
    Ok(ok(&new_page(&me, provider(&q.provider)?, String::new(), None)))
}

pub(crate) async fn create(State(ctx): State<Ctx>, me: Me, Form(form): Form<Vec<(String, String)>>) -> PageResult {
    let provider = provider(&field(&form, "provider"))?;
    let title = field(&form, "title");
    let attempt = async {
        let method = ChannelMethod::parse(&field(&form, "method"))
            .ok_or_else(|| ManageError::Invalid("choose email or sms".into()))?;
        let client = ctx.manage.authorize(&me.principal, me.client.id).await?;
        ctx.manage.create_channel(&client, &title, method, provider, &credentials(provider, &form)).await
    };
    match attempt.await {
        Ok(channel) => Ok(see_other(&format!("/channels/{}", channel.id))),
        Err(e) => {
            let (status, message) = form_error(e)?;
            Ok(render(status, &new_page(&me, provider, title, Some(message))))
        }
    }
}

#[derive(Template)]
#[template(path = "channel.html")]
struct ChannelPage {
    layout: Layout,
    channel: ChannelRow,
    fields: Vec<Field>,
    error: Option<String>,
    notice: Option<String>,
    used_by: Vec<(String, String)>,
}

async fn channel_page(
    ctx: &Ctx,
    me: &Me,
    id: ChannelId,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
    used_by: Vec<(String, String)>,
) -> PageResult {
    let c = ctx.manage.get_channel(&me.principal, me.client.id, id).await?;
    Ok(render(
        status,
        &ChannelPage {
            layout: Layout::signed_in(&c.title, "channels", me),
            fields: fields(c.provider),
            channel: ChannelRow::from(&c),
            error,
            notice,
            used_by,
        },
    ))
}

pub(crate) async fn show(State(ctx): State<Ctx>, me: Me, Path(id): Path<String>) -> PageResult {
    channel_page(&ctx, &me, channel_id(&id)?, StatusCode::OK, None, None, vec![]).await
}

/// Renames the channel and, if any credential field is filled, replaces
/// the credentials whole.
pub(crate) async fn edit(
    State(ctx): State<Ctx>,
    me: Me,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> PageResult {
    let id = channel_id(&id)?;
    let old = ctx.manage.get_channel(&me.principal, me.client.id, id).await?;
    let replace = form.iter().any(|(k, v)| k.starts_with("cred_") && !v.trim().is_empty());
    let creds = replace.then(|| credentials(old.provider, &form));
    let title = field(&form, "title");
    match ctx.manage.update_channel(&me.principal, me.client.id, id, Some(&title), creds.as_ref()).await {
        Ok(_) => channel_page(&ctx, &me, id, StatusCode::OK, None, Some("Saved.".into()), vec![]).await,
        Err(e) => {
            let (status, message) = form_error(e)?;
            channel_page(&ctx, &me, id, status, Some(message), None, vec![]).await
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct TestForm {
    to: String,
}

pub(crate) async fn test_send(
    State(ctx): State<Ctx>,
    me: Me,
    Path(id): Path<String>,
    Form(f): Form<TestForm>,
) -> PageResult {
    let id = channel_id(&id)?;
    match ctx.manage.test_send(&me.principal, me.client.id, id, f.to.trim()).await {
        Ok(TestSendOutcome::Sent { provider_message_id }) => {
            let said = match provider_message_id {
                Some(m) => format!("The provider accepted the test message (message id {m})."),
                None => "The provider accepted the test message.".into(),
            };
            channel_page(&ctx, &me, id, StatusCode::OK, None, Some(said), vec![]).await
        }
        Ok(TestSendOutcome::Failed { reason, retryable }) => {
            let later = if retryable { " Trying again later may work." } else { "" };
            let said = format!("The provider refused the test message: {reason}.{later}");
            channel_page(&ctx, &me, id, StatusCode::OK, Some(said), None, vec![]).await
        }
        Err(e) => {
            let (status, message) = form_error(e)?;
            channel_page(&ctx, &me, id, status, Some(message), None, vec![]).await
        }
    }
}

pub(crate) async fn delete(State(ctx): State<Ctx>, me: Me, Path(id): Path<String>) -> PageResult {
    let id = channel_id(&id)?;
    match ctx.manage.delete_channel(&me.principal, me.client.id, id).await {
        Ok(true) => Ok(see_other("/channels")),
        Ok(false) => Err(PageError::not_found("channel")),
        Err(ManageError::InUse) => {
            let said = "This channel is still used by the projects below: link them to another channel first.";
            let used_by =
                holding(&ctx, &me, |p| p.channel_id == id || p.fallback.is_some_and(|f| f.channel_id == id)).await?;
            channel_page(&ctx, &me, id, StatusCode::CONFLICT, Some(said.into()), None, used_by).await
        }
        Err(e) => Err(e.into()),
    }
}
