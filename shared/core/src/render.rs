//! Message rendering with minijinja: templates use `{{ OTP_CODE }}` and a few
//! other variables. Undefined variables are errors (caught when a template
//! version is saved), HTML templates auto-escape, and templates are
//! sandboxed: no file or network access, bounded recursion and fuel.

use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};

use crate::model::{TemplateFormat, TemplateVersion};

/// The variables a template may use.
pub const VARIABLES: [&str; 4] = ["OTP_CODE", "EXPIRES_IN_MINUTES", "EXPIRES_IN_SECONDS", "PROJECT_NAME"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {part} is invalid: {reason}")]
pub struct TemplateError {
    pub part: &'static str,
    pub reason: String,
}

/// What a template is rendered with.
pub struct RenderVars<'a> {
    pub code: &'a str,
    pub expires_in_seconds: u32,
    pub project_name: &'a str,
}

pub struct Rendered {
    pub subject: String,
    pub body: String,
}

fn environment(format: TemplateFormat) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(move |_| match format {
        TemplateFormat::Html => AutoEscape::Html,
        TemplateFormat::Text => AutoEscape::None,
    });
    env.set_recursion_limit(20);
    // Bounds the work a hostile template can make a worker do.
    env.set_fuel(Some(50_000));
    env
}

fn render_one(
    env: &Environment<'_>,
    part: &'static str,
    source: &str,
    vars: &RenderVars<'_>,
) -> Result<String, TemplateError> {
    let ctx = context! {
        OTP_CODE => vars.code,
        EXPIRES_IN_MINUTES => vars.expires_in_seconds.div_ceil(60),
        EXPIRES_IN_SECONDS => vars.expires_in_seconds,
        PROJECT_NAME => vars.project_name,
    };
    env.render_str(source, ctx).map_err(|e| TemplateError { part, reason: e.kind().to_string() })
}

/// Renders a version. The code is inserted as data, never parsed as template.
/// Subjects are header text, so they are never HTML-escaped.
pub fn render(
    format: TemplateFormat,
    version: &TemplateVersion,
    vars: &RenderVars<'_>,
) -> Result<Rendered, TemplateError> {
    Ok(Rendered {
        subject: render_one(&environment(TemplateFormat::Text), "subject", &version.subject, vars)?,
        body: render_one(&environment(format), "body", &version.body, vars)?,
    })
}

/// Checks a version before it is saved: it must render with sample values,
/// the body must contain the code, and sizes are bounded.
pub fn validate(format: TemplateFormat, version: &TemplateVersion) -> Result<(), TemplateError> {
    if version.subject.len() > 500 {
        return Err(TemplateError { part: "subject", reason: "longer than 500 bytes".into() });
    }
    if version.body.is_empty() || version.body.len() > 50_000 {
        return Err(TemplateError { part: "body", reason: "must be 1 to 50000 bytes".into() });
    }
    let sample = "9182736450";
    let rendered =
        render(format, version, &RenderVars { code: sample, expires_in_seconds: 600, project_name: "Sample" })?;
    if !rendered.body.contains(sample) {
        return Err(TemplateError { part: "body", reason: "must contain {{ OTP_CODE }}".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(subject: &str, body: &str) -> TemplateVersion {
        TemplateVersion { subject: subject.into(), body: body.into() }
    }

    fn vars(code: &str) -> RenderVars<'_> {
        RenderVars { code, expires_in_seconds: 90, project_name: "Acme <Shop>" }
    }

    #[test]
    fn code_and_expiry_are_substituted() {
        let r = render(
            TemplateFormat::Text,
            &v("{{PROJECT_NAME}} code", "Code {{ OTP_CODE }}, valid {{EXPIRES_IN_MINUTES}} min"),
            &vars("123456"),
        )
        .unwrap();
        assert_eq!(r.subject, "Acme <Shop> code");
        assert_eq!(r.body, "Code 123456, valid 2 min");
    }

    #[test]
    fn html_bodies_escape_values_but_subjects_do_not() {
        let r =
            render(TemplateFormat::Html, &v("{{PROJECT_NAME}}", "<b>{{PROJECT_NAME}}</b> {{OTP_CODE}}"), &vars("1234"))
                .unwrap();
        assert_eq!(r.body, "<b>Acme &lt;Shop&gt;</b> 1234");
        assert_eq!(r.subject, "Acme <Shop>");
    }

    #[test]
    fn template_syntax_in_values_is_not_evaluated() {
        let r = render(TemplateFormat::Text, &v("s", "{{ OTP_CODE }}"), &vars("{{ 7*7 }}")).unwrap();
        assert_eq!(r.body, "{{ 7*7 }}");
    }

    #[test]
    fn validation_rejects_unknown_variables_missing_code_and_bad_syntax() {
        assert!(validate(TemplateFormat::Text, &v("s", "{{ OTP_CODE }} {{ SECRET }}")).is_err());
        assert!(validate(TemplateFormat::Text, &v("s", "no code here")).is_err());
        assert!(validate(TemplateFormat::Text, &v("s", "{{ OTP_CODE ")).is_err());
        assert!(validate(TemplateFormat::Text, &v("Your code", "{{ OTP_CODE }}")).is_ok());
    }
}
