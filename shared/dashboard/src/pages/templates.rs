//! Templates: list, create, and the editor: one tab per language version
//! (links, no script), a preview rendered by the server with sample
//! values, the validation error in place, add/edit/remove a version (not
//! the default language's), delete (refused while projects use it).

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use secure2fa_core::error::ManageError;
use secure2fa_core::ids::TemplateId;
use secure2fa_core::manage::TemplateEdit;
use secure2fa_core::model::{Template as OtpTemplate, TemplateFormat, TemplateVersion};
use secure2fa_core::types::Lang;
use serde::Deserialize;

use crate::Ctx;
use crate::page::{Layout, PageError, PageResult, form_error, ok, render, see_other};
use crate::pages::projects::holding;
use crate::pages::time::date_time;
use crate::session::Me;

fn template_id(raw: &str) -> Result<TemplateId, PageError> {
    raw.parse().map_err(|_| PageError::not_found("template"))
}

fn format_name(f: TemplateFormat) -> &'static str {
    match f {
        TemplateFormat::Text => "text",
        TemplateFormat::Html => "html",
    }
}

struct TemplateRow {
    id: String,
    title: String,
    format: &'static str,
    languages: String,
    created_at: String,
}

#[derive(Template)]
#[template(path = "templates.html")]
struct TemplatesPage {
    layout: Layout,
    templates: Vec<TemplateRow>,
}

pub(crate) async fn list(State(ctx): State<Ctx>, me: Me) -> PageResult {
    let templates = ctx.manage.list_templates(&me.principal, me.client.id).await?;
    let rows = templates
        .iter()
        .map(|t| TemplateRow {
            id: t.id.to_string(),
            title: t.title.clone(),
            format: format_name(t.format),
            languages: t.versions.keys().map(|l| l.as_str()).collect::<Vec<_>>().join(", "),
            created_at: date_time(t.created_at),
        })
        .collect();
    Ok(ok(&TemplatesPage { layout: Layout::signed_in("Templates", "templates", &me), templates: rows }))
}

/// A version as typed in the editor.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct VersionForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    /// Set by the "Preview" button: render, do not save.
    #[serde(default)]
    preview: Option<String>,
}

impl VersionForm {
    fn version(&self) -> TemplateVersion {
        TemplateVersion { subject: self.subject.clone(), body: self.body.clone() }
    }

    fn lang(&self) -> Result<Lang, ManageError> {
        Lang::parse(self.lang.trim()).map_err(|e| ManageError::Invalid(e.to_string()))
    }

    fn format(&self) -> Result<TemplateFormat, ManageError> {
        match self.format.as_str() {
            "text" => Ok(TemplateFormat::Text),
            "html" => Ok(TemplateFormat::Html),
            _ => Err(ManageError::Invalid("format must be text or html".into())),
        }
    }
}

struct Tab {
    lang: String,
    current: bool,
    default: bool,
}

struct Preview {
    subject: String,
    body: String,
}

#[derive(Template)]
#[template(path = "template_editor.html")]
struct EditorPage {
    layout: Layout,
    /// `None`: a new template.
    id: Option<String>,
    form: VersionForm,
    tabs: Vec<Tab>,
    is_default: bool,
    preview: Option<Preview>,
    error: Option<String>,
    used_by: Vec<(String, String)>,
}

const SAMPLE_BODY: &str =
    "Your {{ PROJECT_NAME }} code is {{ OTP_CODE }}. It expires in {{ EXPIRES_IN_MINUTES }} minutes.";

pub(crate) async fn new_form(me: Me) -> PageResult {
    let form = VersionForm {
        format: "text".into(),
        lang: "en".into(),
        subject: "Your code".into(),
        body: SAMPLE_BODY.into(),
        ..VersionForm::default()
    };
    Ok(ok(&new_editor(&me, form, None, None)))
}

/// The editor of a template not yet created: one version, the default.
fn new_editor(me: &Me, form: VersionForm, preview: Option<Preview>, error: Option<String>) -> EditorPage {
    EditorPage {
        layout: Layout::signed_in("New template", "templates", me),
        id: None,
        form,
        tabs: vec![],
        is_default: true,
        preview,
        error,
        used_by: vec![],
    }
}

fn preview_of(ctx: &Ctx, format: TemplateFormat, form: &VersionForm) -> Result<Preview, ManageError> {
    let r = ctx.manage.preview_template(format, &form.version())?;
    Ok(Preview { subject: r.subject, body: r.body })
}

pub(crate) async fn create(State(ctx): State<Ctx>, me: Me, Form(f): Form<VersionForm>) -> PageResult {
    let page = |status, error: Option<String>, preview: Option<Preview>| {
        render(status, &new_editor(&me, f.clone(), preview, error))
    };
    let attempt = async {
        let format = f.format()?;
        let lang = f.lang()?;
        if f.preview.is_some() {
            return Ok(Err(preview_of(&ctx, format, &f)?));
        }
        let versions = BTreeMap::from([(lang.clone(), f.version())]);
        Ok::<_, ManageError>(Ok(ctx.manage.create_template(me.client.id, &f.title, lang, format, versions).await?))
    };
    ctx.manage.authorize(&me.principal, me.client.id).await?;
    match attempt.await {
        Ok(Ok(t)) => Ok(see_other(&format!("/templates/{}", t.id))),
        Ok(Err(preview)) => Ok(page(StatusCode::OK, None, Some(preview))),
        Err(e) => {
            let (status, message) = form_error(e)?;
            Ok(page(status, Some(message), None))
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct TabQuery {
    lang: Option<String>,
}

/// What the editor shows besides the stored version.
#[derive(Default)]
struct Shown {
    /// The form as typed (a refused or previewed edit).
    form: Option<VersionForm>,
    preview: Option<Preview>,
    error: Option<String>,
    used_by: Vec<(String, String)>,
}

/// The editor on `t`'s version `lang` (its default if absent; a new
/// language's empty tab if unknown).
fn editor(me: &Me, t: &OtpTemplate, lang: Option<&str>, status: StatusCode, shown: Shown) -> axum::response::Response {
    let new_lang = lang.is_some_and(|l| Lang::parse(l).is_ok_and(|l| !t.versions.contains_key(&l)));
    let current = lang
        .and_then(|l| Lang::parse(l).ok())
        .filter(|l| t.versions.contains_key(l))
        .unwrap_or_else(|| t.default_lang.clone());
    let form = shown.form.unwrap_or_else(|| {
        let v = &t.versions[&current];
        VersionForm {
            title: t.title.clone(),
            format: format_name(t.format).into(),
            // A new language starts from the default version's wording.
            lang: if new_lang { lang.unwrap_or_default().trim().to_owned() } else { current.as_str().into() },
            subject: v.subject.clone(),
            body: v.body.clone(),
            preview: None,
        }
    });
    let page = EditorPage {
        layout: Layout::signed_in(&t.title, "templates", me),
        id: Some(t.id.to_string()),
        tabs: t
            .versions
            .keys()
            .map(|l| Tab {
                lang: l.as_str().into(),
                current: l.as_str() == form.lang && !new_lang,
                default: *l == t.default_lang,
            })
            .collect(),
        is_default: form.lang == t.default_lang.as_str(),
        form,
        preview: shown.preview,
        error: shown.error,
        used_by: shown.used_by,
    };
    render(status, &page)
}

pub(crate) async fn show(
    State(ctx): State<Ctx>,
    me: Me,
    Path(id): Path<String>,
    Query(q): Query<TabQuery>,
) -> PageResult {
    let t = ctx.manage.get_template(&me.principal, me.client.id, template_id(&id)?).await?;
    Ok(editor(&me, &t, q.lang.as_deref(), StatusCode::OK, Shown::default()))
}

/// Saves (or previews) one language version, and the template's title.
pub(crate) async fn save_version(
    State(ctx): State<Ctx>,
    me: Me,
    Path(id): Path<String>,
    Form(f): Form<VersionForm>,
) -> PageResult {
    let id = template_id(&id)?;
    let t = ctx.manage.get_template(&me.principal, me.client.id, id).await?;
    let attempt = async {
        let lang = f.lang()?;
        if f.preview.is_some() {
            return Ok(Err(preview_of(&ctx, t.format, &f)?));
        }
        let edit = TemplateEdit {
            title: Some(f.title.clone()).filter(|s| !s.trim().is_empty()),
            set_versions: BTreeMap::from([(lang, f.version())]),
            ..TemplateEdit::default()
        };
        Ok::<_, ManageError>(Ok(ctx.manage.update_template(&me.principal, me.client.id, id, edit).await?))
    };
    match attempt.await {
        Ok(Ok(saved)) => Ok(see_other(&format!("/templates/{}?lang={}", saved.id, f.lang.trim()))),
        Ok(Err(preview)) => {
            let shown = Shown { form: Some(f.clone()), preview: Some(preview), ..Shown::default() };
            Ok(editor(&me, &t, Some(&f.lang), StatusCode::OK, shown))
        }
        Err(e) => {
            let (status, message) = form_error(e)?;
            let shown = Shown { form: Some(f.clone()), error: Some(message), ..Shown::default() };
            Ok(editor(&me, &t, Some(&f.lang), status, shown))
        }
    }
}

pub(crate) async fn remove_version(
    State(ctx): State<Ctx>,
    me: Me,
    Path((id, lang)): Path<(String, String)>,
) -> PageResult {
    let id = template_id(&id)?;
    let t = ctx.manage.get_template(&me.principal, me.client.id, id).await?;
    let lang = Lang::parse(&lang).map_err(|_| PageError::not_found("language version"))?;
    let edit = TemplateEdit { remove_versions: vec![lang.clone()], ..TemplateEdit::default() };
    match ctx.manage.update_template(&me.principal, me.client.id, id, edit).await {
        Ok(_) => Ok(see_other(&format!("/templates/{id}"))),
        Err(e) => {
            let (status, message) = form_error(e)?;
            Ok(editor(&me, &t, Some(lang.as_str()), status, Shown { error: Some(message), ..Shown::default() }))
        }
    }
}

pub(crate) async fn delete(State(ctx): State<Ctx>, me: Me, Path(id): Path<String>) -> PageResult {
    let id = template_id(&id)?;
    match ctx.manage.delete_template(&me.principal, me.client.id, id).await {
        Ok(true) => Ok(see_other("/templates")),
        Ok(false) => Err(PageError::not_found("template")),
        Err(ManageError::InUse) => {
            let t = ctx.manage.get_template(&me.principal, me.client.id, id).await?;
            let used_by = holding(&ctx, &me, |p| p.template_id == id).await?;
            let said = "This template is still used by the projects below: link them to another template first.";
            let shown = Shown { error: Some(said.into()), used_by, ..Shown::default() };
            Ok(editor(&me, &t, None, StatusCode::CONFLICT, shown))
        }
        Err(e) => Err(e.into()),
    }
}
