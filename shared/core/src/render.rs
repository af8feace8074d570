//! Message rendering with minijinja: templates use `{{ OTP_CODE }}` and a few
//! other variables. Templates are written by clients, so they are untrusted:
//! minijinja's fuel bounds steps but not memory, and one `indent`, `*` or
//! `range` can ask for terabytes. Instead of trusting a sample render, the
//! source is checked structurally against an allowlist (variables, harmless
//! filters, `if` conditions, literals, raw text) before every validation and
//! every render, so nothing in an accepted template can amplify its size.
//! Sources and rendered output are capped as well (see [`RenderLimits`]).

use std::io;
use std::sync::OnceLock;

use minijinja::machinery::ast::{BinOpKind, CompareOpKind, Expr, Stmt, UnaryOpKind};
use minijinja::machinery::{Span, Token, WhitespaceConfig, parse, tokenize};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, context, filters};

use crate::model::{ChannelMethod, TemplateFormat, TemplateVersion};

/// The variables a template may use.
pub const VARIABLES: [&str; 4] = ["OTP_CODE", "EXPIRES_IN_MINUTES", "EXPIRES_IN_SECONDS", "PROJECT_NAME"];

/// The filters a template may use, without arguments. Each maps a string to a
/// string of about the same size; `e` is minijinja's alias of `escape`.
pub const FILTERS: [&str; 7] = ["upper", "lower", "title", "capitalize", "trim", "escape", "e"];

/// Largest subject source: room for a few `{% if %}` variants of one line.
pub const SUBJECT_SOURCE_BYTES: usize = 1024;
/// Largest body source.
pub const BODY_SOURCE_BYTES: usize = 64 * 1024;
/// Largest string literal (after adjacent literals are joined).
const LITERAL_BYTES: usize = 256;
/// Largest number of tokens inside one `{{ }}` or `{% %}` tag. Bounds the depth
/// of every expression, which minijinja's parser does not fully guard
/// (`not not not ...`, `- - - 1`).
const TAG_TOKENS: usize = 48;
/// Deepest nesting of `if` (each `elif` is parsed as an `if` nested in the
/// `else` branch, so it counts as one level too).
const CONDITION_DEPTH: usize = 16;
/// An accepted template has no loops, so each instruction runs at most once
/// and its count is bounded by the source size: this is a backstop only.
const FUEL: u64 = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {part} is invalid: {reason}")]
pub struct TemplateError {
    pub part: &'static str,
    pub reason: String,
}

/// Caps on rendered output, per channel method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    pub subject_bytes: usize,
    pub body_bytes: usize,
    /// Characters (not bytes), for channels that count characters.
    pub body_chars: Option<usize>,
}

impl RenderLimits {
    pub const EMAIL: Self = Self { subject_bytes: 256, body_bytes: 64 * 1024, body_chars: None };
    /// 1,600 characters is ten concatenated SMS segments; a character is at
    /// most 4 UTF-8 bytes.
    pub const SMS: Self = Self { subject_bytes: 256, body_bytes: 4 * 1600, body_chars: Some(1600) };

    pub fn for_method(method: ChannelMethod) -> Self {
        match method {
            ChannelMethod::Email => Self::EMAIL,
            ChannelMethod::Sms => Self::SMS,
        }
    }
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

/// Renders a version with the email limits.
pub fn render(
    format: TemplateFormat,
    version: &TemplateVersion,
    vars: &RenderVars<'_>,
) -> Result<Rendered, TemplateError> {
    render_with_limits(format, version, vars, RenderLimits::EMAIL)
}

/// Renders a version. The structure is checked again first, because a version
/// may have been stored before the current rules. The code is inserted as
/// data, never parsed as template. Subjects are header text, so they are never
/// HTML-escaped.
pub fn render_with_limits(
    format: TemplateFormat,
    version: &TemplateVersion,
    vars: &RenderVars<'_>,
    limits: RenderLimits,
) -> Result<Rendered, TemplateError> {
    check_version(version)?;
    render_checked(format, version, vars, limits)
}

/// Checks a version before it is saved, with the email limits.
pub fn validate(format: TemplateFormat, version: &TemplateVersion) -> Result<(), TemplateError> {
    validate_with_limits(format, version, RenderLimits::EMAIL)
}

/// Checks a version before it is saved: sizes are bounded, only allowed
/// constructs are used, it renders with sample values within `limits`, and the
/// body contains the code.
pub fn validate_with_limits(
    format: TemplateFormat,
    version: &TemplateVersion,
    limits: RenderLimits,
) -> Result<(), TemplateError> {
    if version.body.is_empty() {
        return Err(TemplateError { part: "body", reason: "must not be empty".into() });
    }
    check_version(version)?;
    let sample = "9182736450";
    let rendered = render_checked(
        format,
        version,
        &RenderVars { code: sample, expires_in_seconds: 600, project_name: "Sample" },
        limits,
    )?;
    if !rendered.body.contains(sample) {
        return Err(TemplateError { part: "body", reason: "must contain {{ OTP_CODE }}".into() });
    }
    Ok(())
}

fn check_version(version: &TemplateVersion) -> Result<(), TemplateError> {
    check_source("subject", &version.subject, SUBJECT_SOURCE_BYTES)?;
    check_source("body", &version.body, BODY_SOURCE_BYTES)
}

/// The structural check: size first, then tokens (cheap and iterative, so a
/// hostile source never reaches the recursive parser), then the syntax tree
/// against the allowlist.
fn check_source(part: &'static str, source: &str, max_bytes: usize) -> Result<(), TemplateError> {
    if source.len() > max_bytes {
        return Err(TemplateError { part, reason: format!("source is longer than {max_bytes} bytes") });
    }
    check_tokens(part, source)?;
    let ast = parse(source, "<template>", syntax(), WhitespaceConfig::default()).map_err(|e| engine_error(part, &e))?;
    let checker = Checker { part };
    match &ast {
        Stmt::Template(root) => checker.stmts(&root.children, 0),
        _ => Err(checker.refuse(None, "is not a template")),
    }
}

/// The environment's syntax: a unit struct unless minijinja's `custom_syntax`
/// feature is on somewhere in the build, hence `default()`.
#[allow(clippy::default_constructed_unit_structs)]
fn syntax() -> SyntaxConfig {
    SyntaxConfig::default()
}

fn check_tokens(part: &'static str, source: &str) -> Result<(), TemplateError> {
    let refuse = |span: Span, reason: String| TemplateError { part, reason: at_line(reason, Some(span)) };
    let mut tag_tokens = 0;
    let mut statement_start = false;
    // Per open `if`: the levels it adds (1, plus 1 per `elif`).
    let mut open_ifs: Vec<usize> = Vec::new();
    let mut depth = 0;
    for item in tokenize(source, false, syntax(), WhitespaceConfig::default()) {
        let (token, span) = item.map_err(|e| engine_error(part, &e))?;
        match token {
            Token::TemplateData(_) | Token::VariableEnd | Token::BlockEnd => {}
            Token::VariableStart => tag_tokens = 0,
            Token::BlockStart => {
                tag_tokens = 0;
                statement_start = true;
            }
            token => {
                tag_tokens += 1;
                if tag_tokens > TAG_TOKENS {
                    return Err(refuse(span, format!("a tag holds more than {TAG_TOKENS} tokens")));
                }
                if std::mem::take(&mut statement_start) {
                    match token {
                        Token::Ident("if") => {
                            open_ifs.push(1);
                            depth += 1;
                        }
                        Token::Ident("elif") => {
                            if let Some(levels) = open_ifs.last_mut() {
                                *levels += 1;
                                depth += 1;
                            }
                        }
                        Token::Ident("else") => {}
                        Token::Ident("endif") => depth -= open_ifs.pop().unwrap_or(0),
                        Token::Ident(keyword) => return Err(refuse(span, statement_refusal(keyword))),
                        _ => return Err(refuse(span, "a statement must be if, elif, else or endif".into())),
                    }
                    if depth > CONDITION_DEPTH {
                        return Err(refuse(span, format!("if/elif are nested deeper than {CONDITION_DEPTH} levels")));
                    }
                    continue;
                }
                let literal_len = match &token {
                    Token::Str(s) => s.len(),
                    Token::String(s) => s.len(),
                    _ => 0,
                };
                if literal_len > LITERAL_BYTES {
                    return Err(refuse(span, format!("string literals are limited to {LITERAL_BYTES} bytes")));
                }
            }
        }
    }
    Ok(())
}

fn statement_refusal(keyword: &str) -> String {
    match keyword {
        "for" => "`for` loops are not allowed".into(),
        "set" | "with" | "macro" | "call" | "filter" | "include" | "import" | "from" | "extends" | "block"
        | "autoescape" | "do" | "break" | "continue" | "endfor" | "endset" | "endwith" | "endmacro" | "endcall"
        | "endfilter" | "endblock" | "endautoescape" => {
            format!("`{{% {keyword} %}}` is not allowed; only if, elif, else and endif are")
        }
        _ => "unknown statement; only if, elif, else and endif are allowed".into(),
    }
}

/// Walks the syntax tree; anything not explicitly allowed is refused.
struct Checker {
    part: &'static str,
}

impl Checker {
    fn refuse(&self, span: Option<Span>, reason: impl Into<String>) -> TemplateError {
        TemplateError { part: self.part, reason: at_line(reason.into(), span) }
    }

    fn stmts(&self, stmts: &[Stmt<'_>], depth: usize) -> Result<(), TemplateError> {
        for stmt in stmts {
            match stmt {
                Stmt::EmitRaw(_) => {}
                Stmt::EmitExpr(emit) => self.value(&emit.expr, 0)?,
                Stmt::IfCond(cond) => {
                    if depth >= CONDITION_DEPTH {
                        return Err(self.refuse(
                            Some(cond.span()),
                            format!("if/elif are nested deeper than {CONDITION_DEPTH} levels"),
                        ));
                    }
                    self.condition(&cond.expr, 0)?;
                    self.stmts(&cond.true_body, depth + 1)?;
                    self.stmts(&cond.false_body, depth + 1)?;
                }
                Stmt::ForLoop(s) => return Err(self.refuse(Some(s.span()), "`for` loops are not allowed")),
                Stmt::Set(s) => return Err(self.refuse(Some(s.span()), "`set` is not allowed")),
                Stmt::SetBlock(s) => return Err(self.refuse(Some(s.span()), "`set` is not allowed")),
                Stmt::WithBlock(s) => return Err(self.refuse(Some(s.span()), "`with` is not allowed")),
                Stmt::FilterBlock(s) => return Err(self.refuse(Some(s.span()), "filter blocks are not allowed")),
                Stmt::AutoEscape(s) => return Err(self.refuse(Some(s.span()), "`autoescape` is not allowed")),
                // Macros, includes, blocks, `do`, loop controls, and whatever
                // a minijinja feature adds later.
                _ => return Err(self.refuse(None, "this statement is not allowed; only if, elif, else and endif are")),
            }
        }
        Ok(())
    }

    /// An `{% if %}` condition: comparisons of values joined by and/or/not.
    fn condition(&self, expr: &Expr<'_>, depth: usize) -> Result<(), TemplateError> {
        self.guard_depth(expr, depth)?;
        match expr {
            Expr::BinOp(op) => match op.op {
                BinOpKind::ScAnd | BinOpKind::ScOr => {
                    self.condition(&op.left, depth + 1)?;
                    self.condition(&op.right, depth + 1)
                }
                BinOpKind::Eq | BinOpKind::Ne | BinOpKind::Lt | BinOpKind::Lte | BinOpKind::Gt | BinOpKind::Gte => {
                    self.value(&op.left, depth + 1)?;
                    self.value(&op.right, depth + 1)
                }
                _ => Err(self.refuse(Some(op.span()), binop_refusal(op.op))),
            },
            Expr::UnaryOp(op) if matches!(op.op, UnaryOpKind::Not) => self.condition(&op.expr, depth + 1),
            Expr::Compare(cmp) => {
                self.value(&cmp.expr, depth + 1)?;
                for operand in &cmp.ops {
                    if matches!(operand.op, CompareOpKind::In | CompareOpKind::NotIn) {
                        return Err(self.refuse(Some(cmp.span()), "`in` is not allowed"));
                    }
                    self.value(&operand.expr, depth + 1)?;
                }
                Ok(())
            }
            other => self.value(other, depth),
        }
    }

    /// A value: a variable or literal, optionally through allowed filters.
    fn value(&self, expr: &Expr<'_>, depth: usize) -> Result<(), TemplateError> {
        self.guard_depth(expr, depth)?;
        match expr {
            Expr::Var(var) => {
                if VARIABLES.contains(&var.id) {
                    Ok(())
                } else {
                    Err(self.refuse(
                        Some(var.span()),
                        format!("unknown variable `{}`; allowed: {}", short(var.id), VARIABLES.join(", ")),
                    ))
                }
            }
            Expr::Const(c) => self.literal(&c.value, c.span()),
            Expr::UnaryOp(op) => match (&op.op, &op.expr) {
                (UnaryOpKind::Neg, Expr::Const(c)) if c.value.kind() == ValueKind::Number => Ok(()),
                (UnaryOpKind::Neg, _) => Err(self.refuse(Some(op.span()), "arithmetic is not allowed")),
                (UnaryOpKind::Not, _) => {
                    Err(self.refuse(Some(op.span()), "`not` is only allowed in {% if %} conditions"))
                }
            },
            Expr::Filter(filter) => {
                if !FILTERS.contains(&filter.name) {
                    return Err(self.refuse(
                        Some(filter.span()),
                        format!("filter `{}` is not allowed; allowed: {}", short(filter.name), FILTERS.join(", ")),
                    ));
                }
                if !filter.args.is_empty() {
                    return Err(self.refuse(Some(filter.span()), "filter arguments are not allowed"));
                }
                match &filter.expr {
                    Some(inner) => self.value(inner, depth + 1),
                    None => Err(self.refuse(Some(filter.span()), "filter blocks are not allowed")),
                }
            }
            Expr::BinOp(op) => Err(self.refuse(Some(op.span()), binop_refusal(op.op))),
            Expr::Compare(c) => Err(self.refuse(Some(c.span()), "comparisons are only allowed in {% if %} conditions")),
            Expr::Slice(s) => Err(self.refuse(Some(s.span()), "slices are not allowed")),
            Expr::IfExpr(e) => {
                Err(self.refuse(Some(e.span()), "inline `if` expressions are not allowed; use {% if %}"))
            }
            Expr::Test(t) => Err(self.refuse(Some(t.span()), "tests (`is ...`) are not allowed")),
            Expr::GetAttr(a) => Err(self.refuse(Some(a.span()), "attribute access (`.`) is not allowed")),
            Expr::GetItem(i) => Err(self.refuse(Some(i.span()), "item access (`[]`) is not allowed")),
            Expr::Call(c) => Err(self.refuse(Some(c.span()), "calls (such as range or lipsum) are not allowed")),
            Expr::List(l) => Err(self.refuse(Some(l.span()), "list literals are not allowed")),
            Expr::Map(m) => Err(self.refuse(Some(m.span()), "map literals are not allowed")),
        }
    }

    fn literal(&self, value: &Value, span: Span) -> Result<(), TemplateError> {
        match value.kind() {
            ValueKind::String if value.as_str().map_or(0, str::len) > LITERAL_BYTES => {
                Err(self.refuse(Some(span), format!("string literals are limited to {LITERAL_BYTES} bytes")))
            }
            ValueKind::String | ValueKind::Number | ValueKind::Bool | ValueKind::None => Ok(()),
            _ => Err(self.refuse(Some(span), "this literal is not allowed")),
        }
    }

    /// The token cap already bounds depth; this keeps the walk itself safe
    /// whatever the parser produces.
    fn guard_depth(&self, expr: &Expr<'_>, depth: usize) -> Result<(), TemplateError> {
        if depth > TAG_TOKENS {
            return Err(self.refuse(Some(expr.span()), "expression is nested too deeply"));
        }
        Ok(())
    }
}

fn binop_refusal(op: BinOpKind) -> String {
    let symbol = match op {
        BinOpKind::Eq | BinOpKind::Ne | BinOpKind::Lt | BinOpKind::Lte | BinOpKind::Gt | BinOpKind::Gte => {
            return "comparisons are only allowed in {% if %} conditions".into();
        }
        BinOpKind::ScAnd | BinOpKind::ScOr => return "`and`/`or` are only allowed in {% if %} conditions".into(),
        BinOpKind::Add => "+",
        BinOpKind::Sub => "-",
        BinOpKind::Mul => "*",
        BinOpKind::Div => "/",
        BinOpKind::FloorDiv => "//",
        BinOpKind::Rem => "%",
        BinOpKind::Pow => "**",
        BinOpKind::Concat => "~",
        BinOpKind::In => "in",
    };
    format!("the `{symbol}` operator is not allowed")
}

/// Names from the source are echoed only in short.
fn short(name: &str) -> String {
    const MAX: usize = 32;
    match name.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

fn at_line(reason: String, span: Option<Span>) -> String {
    match span {
        Some(span) => format!("{reason} (line {})", span.start_line),
        None => reason,
    }
}

/// minijinja's own messages name tokens by kind, not by text; the detail is
/// still shortened so an error never carries a chunk of the template.
fn engine_error(part: &'static str, e: &minijinja::Error) -> TemplateError {
    const MAX: usize = 120;
    let mut reason = e.kind().to_string();
    if let Some(detail) = e.detail() {
        let end = detail.char_indices().nth(MAX).map_or(detail.len(), |(end, _)| end);
        reason = format!("{reason}: {}", &detail[..end]);
    }
    if let Some(line) = e.line() {
        reason = format!("{reason} (line {line})");
    }
    TemplateError { part, reason }
}

/// Only the allowlisted filters, nothing else: no globals (range, lipsum,
/// namespace...), no tests, no loader.
fn environment(format: TemplateFormat) -> &'static Environment<'static> {
    static TEXT: OnceLock<Environment<'static>> = OnceLock::new();
    static HTML: OnceLock<Environment<'static>> = OnceLock::new();
    let cell = match format {
        TemplateFormat::Text => &TEXT,
        TemplateFormat::Html => &HTML,
    };
    cell.get_or_init(|| {
        let mut env = Environment::empty();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(move |_| match format {
            TemplateFormat::Html => AutoEscape::Html,
            TemplateFormat::Text => AutoEscape::None,
        });
        env.set_recursion_limit(20);
        env.set_fuel(Some(FUEL));
        env.add_filter("upper", filters::upper);
        env.add_filter("lower", filters::lower);
        env.add_filter("title", filters::title);
        env.add_filter("capitalize", filters::capitalize);
        env.add_filter("trim", filters::trim);
        env.add_filter("escape", filters::escape);
        env.add_filter("e", filters::escape);
        env
    })
}

fn render_checked(
    format: TemplateFormat,
    version: &TemplateVersion,
    vars: &RenderVars<'_>,
    limits: RenderLimits,
) -> Result<Rendered, TemplateError> {
    let ctx = context! {
        OTP_CODE => vars.code,
        EXPIRES_IN_MINUTES => vars.expires_in_seconds.div_ceil(60),
        EXPIRES_IN_SECONDS => vars.expires_in_seconds,
        PROJECT_NAME => vars.project_name,
    };
    let subject =
        render_part(environment(TemplateFormat::Text), "subject", &version.subject, &ctx, limits.subject_bytes)?;
    let body = render_part(environment(format), "body", &version.body, &ctx, limits.body_bytes)?;
    if let Some(max) = limits.body_chars
        && body.chars().count() > max
    {
        return Err(TemplateError { part: "body", reason: format!("renders to more than {max} characters") });
    }
    Ok(Rendered { subject, body })
}

fn render_part(
    env: &Environment<'_>,
    part: &'static str,
    source: &str,
    ctx: &Value,
    max_bytes: usize,
) -> Result<String, TemplateError> {
    let template = env.template_from_str(source).map_err(|e| engine_error(part, &e))?;
    // Output goes to a capped buffer, so even a large variable repeated many
    // times stops at the cap instead of growing first and failing after.
    let mut out = CappedOutput { buf: Vec::new(), max_bytes, overflowed: false };
    let rendered = template.render_captured_to(ctx, &mut out);
    if out.overflowed {
        return Err(TemplateError { part, reason: format!("renders to more than {max_bytes} bytes") });
    }
    rendered.map_err(|e| engine_error(part, &e))?;
    // minijinja writes whole `str`s, so the bytes are UTF-8.
    String::from_utf8(out.buf).map_err(|_| TemplateError { part, reason: "renders to invalid UTF-8".into() })
}

struct CappedOutput {
    buf: Vec<u8>,
    max_bytes: usize,
    overflowed: bool,
}

impl io::Write for CappedOutput {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.max_bytes {
            self.overflowed = true;
            return Err(io::Error::other("rendered output limit reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

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

    #[test]
    fn allowed_filters_are_registered_and_keep_html_escaping() {
        let cases = [
            ("upper", "ACME <SHOP>"),
            ("lower", "acme <shop>"),
            ("title", "Acme <Shop>"),
            ("capitalize", "Acme <shop>"),
            ("trim", "Acme <Shop>"),
            ("escape", "Acme &lt;Shop&gt;"),
            ("e", "Acme &lt;Shop&gt;"),
        ];
        assert_eq!(cases.len(), FILTERS.len());
        for (filter, expected) in cases {
            let source = format!("{{{{ PROJECT_NAME|{filter} }}}}");
            let text = render(TemplateFormat::Text, &v(&source, "{{ OTP_CODE }}"), &vars("1")).unwrap();
            assert_eq!(text.subject, expected, "{filter}");
            let html = render(TemplateFormat::Html, &v("s", &source), &vars("1")).unwrap();
            assert!(!html.body.contains('<'), "{filter} let markup through: {}", html.body);
        }
    }

    #[test]
    fn conditions_comparisons_literals_comments_and_raw_text_are_allowed() {
        let body = "{# wording by expiry #}{% if EXPIRES_IN_MINUTES <= 1 and not (PROJECT_NAME == 'x') %}soon\
                    {% elif EXPIRES_IN_SECONDS >= 90 or EXPIRES_IN_MINUTES != -1 %}later\
                    {% else %}never{% endif %} {{ OTP_CODE }} {{ 'lit' }}{{ 3 }}{{ -2 }}{{ true }}\
                    {% raw %}{{ kept }}{% endraw %}{%- if PROJECT_NAME|lower == \"acme <shop>\" -%} !{% endif %}";
        let r = render(TemplateFormat::Text, &v("s", body), &vars("42")).unwrap();
        assert_eq!(r.body, "later 42 lit3-2True{{ kept }}!");
        assert!(validate(TemplateFormat::Html, &v("{% if EXPIRES_IN_MINUTES > 5 %}Code{% endif %}", body)).is_ok());
    }

    /// Templates that make today's engine allocate without bound (or recurse
    /// without bound). Never render these with a plain minijinja environment.
    fn hostile_constructs() -> Vec<(&'static str, String)> {
        let mut cases: Vec<(&'static str, String)> = vec![
            ("filter `indent`", r#"{{ "x"|indent(1099511627776) }}"#.into()),
            ("filter `indent`", "{{ OTP_CODE|indent(99999999, true) }}".into()),
            ("filter `center`", "{{ OTP_CODE|center(1099511627776) }}".into()),
            ("filter `replace`", "{{ PROJECT_NAME|replace('', PROJECT_NAME) }}".into()),
            ("`*`", r#"{{ "x" * 99999999 }}"#.into()),
            ("`*`", "{{ OTP_CODE * 99999999 }}".into()),
            ("`~`", r#"{{ "x" ~ "x" ~ "x" ~ "x" }}"#.into()),
            ("`+`", "{{ EXPIRES_IN_SECONDS + 1 }}".into()),
            ("`**`", "{{ 2 ** 64 }}".into()),
            ("`for` loops", "{% for i in range(99999999) %}x{% endfor %}".into()),
            ("calls", "{{ range(99999999) }}".into()),
            ("calls", "{{ lipsum(99999) }}".into()),
            ("`{% set %}`", "{% set x = OTP_CODE %}{{ x }}".into()),
            ("`{% macro %}`", "{% macro m() %}x{% endmacro %}{{ m() }}".into()),
            ("`{% include %}`", "{% include 'other' %}".into()),
            ("`{% extends %}`", "{% extends 'base' %}".into()),
            ("`{% block %}`", "{% block b %}x{% endblock %}".into()),
            ("`{% filter %}`", "{% filter upper %}x{% endfilter %}".into()),
            ("`{% with %}`", "{% with x = 1 %}x{% endwith %}".into()),
            ("`{% autoescape %}`", "{% autoescape false %}x{% endautoescape %}".into()),
            ("slices", "{{ OTP_CODE[::-1] }}".into()),
            ("item access", "{{ OTP_CODE[0] }}".into()),
            ("attribute access", "{{ PROJECT_NAME.length }}".into()),
            ("calls", "{{ OTP_CODE.upper() }}".into()),
            ("list literals", "{{ [OTP_CODE, OTP_CODE] }}".into()),
            ("map literals", "{{ {'a': OTP_CODE} }}".into()),
            ("tests", "{% if OTP_CODE is defined %}x{% endif %}".into()),
            ("inline `if`", "{{ OTP_CODE if true else 'x' }}".into()),
            ("`in`", "{% if 'a' in PROJECT_NAME %}x{% endif %}".into()),
            ("filter `safe`", "{{ PROJECT_NAME|safe }}".into()),
            ("filter arguments", "{{ PROJECT_NAME|trim('x') }}".into()),
            ("unknown variable", "{{ loop }}".into()),
            ("string literals are limited", format!("{{{{ '{}' }}}}", "x".repeat(LITERAL_BYTES + 1))),
            ("string literals are limited", format!("{{{{ '{}' }}}}", "x".repeat(60_000))),
            // Adjacent literals are joined by the parser into one constant.
            ("string literals are limited", format!("{{{{ {} }}}}", vec!["'xxxxxxxxxxxxxxxxxxxx'"; 40].join(" "))),
            // Hidden behind a guard that is false for the sample values.
            (
                "filter `indent`",
                r#"{% if EXPIRES_IN_SECONDS != 600 %}{{ "x"|indent(1099511627776) }}{% endif %}"#.into(),
            ),
            ("`*`", r#"{% if EXPIRES_IN_SECONDS != 600 %}{{ "x" * 99999999 }}{% endif %}"#.into()),
            (
                "`for` loops",
                "{% if EXPIRES_IN_SECONDS != 600 %}{% for i in range(99999999) %}x{% endfor %}{% endif %}".into(),
            ),
            (
                "`~`",
                "{% if EXPIRES_IN_SECONDS != 600 %}{% if 1 %}{{ OTP_CODE ~ OTP_CODE }}{% endif %}{% endif %}".into(),
            ),
        ];
        // Nesting and chains deep enough to overflow a recursive parser,
        // compiler or destructor.
        cases.push(("nested deeper", format!("{}x{}", "{% if 1 %}".repeat(17), "{% endif %}".repeat(17))));
        cases.push(("nested deeper", format!("{}x{}", "{% if 1 %}".repeat(2_500), "{% endif %}".repeat(2_500))));
        cases.push(("nested deeper", format!("{{% if 1 %}}{}{{% endif %}}", "{% elif 1 %}x".repeat(4_000))));
        cases.push(("tokens", format!("{{{{ {}1 }}}}", "not ".repeat(15_000))));
        cases.push(("tokens", format!("{{{{ {}1 }}}}", "- ".repeat(20_000))));
        cases.push(("tokens", format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000))));
        cases.push(("tokens", format!("{{{{ OTP_CODE{} }}}}", "|upper".repeat(10_000))));
        cases.push(("tokens", format!("{{{{ OTP_CODE{} }}}}", ".a".repeat(10_000))));
        cases.push(("tokens", format!("{{{{ 1{} }}}}", " ~ 1".repeat(10_000))));
        cases.push(("tokens", format!("{{% if {}1 %}}x{{% endif %}}", "1 and ".repeat(10_000))));
        cases
    }

    /// A bound, not a benchmark: an unbounded case takes seconds or aborts.
    const QUICK: Duration = Duration::from_millis(50);

    /// Runs `run` and returns its result and the fastest of up to three
    /// timings: tests share two cores with other builds, and a case that is
    /// really slow is slow on every run, while a preempted one is not.
    fn timed<T>(bound: Duration, mut run: impl FnMut() -> T) -> (T, Duration) {
        let mut fastest = Duration::MAX;
        let mut attempts = 0;
        loop {
            let start = Instant::now();
            let result = run();
            fastest = fastest.min(start.elapsed());
            attempts += 1;
            if fastest < bound || attempts == 3 {
                return (result, fastest);
            }
        }
    }

    fn assert_refused(part: &str, expected: &str, run: impl FnMut() -> Result<(), TemplateError>, case: &str) {
        let (result, elapsed) = timed(QUICK, run);
        let err = result.expect_err(case);
        assert_eq!(err.part, part, "{case}");
        assert!(err.reason.contains(expected), "{case}: reason `{}` does not name `{expected}`", err.reason);
        assert!(err.reason.len() < 300, "{case}: reason echoes too much: {}", err.reason.len());
        assert!(elapsed < QUICK, "{case}: took {elapsed:?}");
    }

    #[test]
    fn hostile_templates_are_refused_quickly_at_validate_and_at_render() {
        for (expected, construct) in hostile_constructs() {
            let case = construct.chars().take(80).collect::<String>();
            let body = format!("{{{{ OTP_CODE }}}}{construct}");
            for format in [TemplateFormat::Text, TemplateFormat::Html] {
                let version = v("Your code", &body);
                assert_refused("body", expected, || validate(format, &version), &case);
                // A version stored before this check is refused at render.
                let rendered = || render(format, &version, &vars("123456")).map(|_| ());
                assert_refused("body", expected, rendered, &case);
            }
            if construct.len() <= SUBJECT_SOURCE_BYTES {
                let version = v(&construct, "{{ OTP_CODE }}");
                assert_refused("subject", expected, || validate(TemplateFormat::Text, &version), &case);
                let rendered = || render(TemplateFormat::Text, &version, &vars("123456")).map(|_| ());
                assert_refused("subject", expected, rendered, &case);
            }
        }
    }

    #[test]
    fn syntax_tree_check_refuses_statements_on_its_own() {
        // The token check refuses these first; the tree walk must too, so
        // the allowlist holds whatever the tokens let through.
        for (expected, source) in [
            ("`for` loops", "{% for i in range(3) %}x{% endfor %}"),
            ("`set`", "{% set x = 1 %}"),
            ("`set`", "{% set x %}x{% endset %}"),
            ("filter blocks", "{% filter upper %}x{% endfilter %}"),
            ("`with`", "{% with x = 1 %}x{% endwith %}"),
            ("`autoescape`", "{% autoescape false %}x{% endautoescape %}"),
            ("this statement", "{% do range(3) %}"),
            ("`for` loops", "{% if 1 %}{% for i in range(3) %}x{% endfor %}{% endif %}"),
        ] {
            let ast = parse(source, "<test>", syntax(), WhitespaceConfig::default()).unwrap();
            let Stmt::Template(root) = &ast else { panic!("not a template") };
            let err = Checker { part: "body" }.stmts(&root.children, 0).unwrap_err();
            assert!(err.reason.contains(expected), "{source}: {}", err.reason);
        }
    }

    #[test]
    fn error_reasons_never_echo_long_names_from_the_template() {
        let long = "A".repeat(10_000);
        for source in [
            format!("{{{{ {long} }}}}"),
            format!("{{{{ OTP_CODE|{long} }}}}"),
            format!("{{% {long} %}}"),
            format!("{{{{ OTP_CODE }}}}{{{{ '{long}' }}}}"),
            format!("{{{{ OTP_CODE {long} }}}}"),
        ] {
            let err = validate(TemplateFormat::Text, &v("s", &source)).unwrap_err();
            assert!(err.reason.len() < 300, "{}", err.reason.len());
            assert!(!err.reason.contains(&"A".repeat(40)), "{}", err.reason);
        }
    }

    #[test]
    fn sources_are_capped_before_parsing() {
        let body = format!("{{{{ OTP_CODE }}}}{}", "x".repeat(BODY_SOURCE_BYTES));
        let err = validate(TemplateFormat::Text, &v("s", &body)).unwrap_err();
        assert_eq!(err.part, "body");
        assert!(err.reason.contains("longer than 65536 bytes"), "{}", err.reason);
        assert!(render(TemplateFormat::Text, &v("s", &body), &vars("1")).is_err());

        let subject = "x".repeat(SUBJECT_SOURCE_BYTES + 1);
        let err = validate(TemplateFormat::Text, &v(&subject, "{{ OTP_CODE }}")).unwrap_err();
        assert_eq!(err.part, "subject");
        assert!(render(TemplateFormat::Text, &v(&subject, "{{ OTP_CODE }}"), &vars("1")).is_err());

        assert!(validate(TemplateFormat::Text, &v("s", "")).is_err());
    }

    #[test]
    fn subject_is_capped_at_256_rendered_bytes() {
        let project = "p".repeat(200);
        let ok = RenderVars { code: "1", expires_in_seconds: 60, project_name: &project[..56] };
        let version =
            v("{{ PROJECT_NAME }}{{ PROJECT_NAME }}{{ PROJECT_NAME|upper }}{{ PROJECT_NAME }}x", "{{ OTP_CODE }}");
        assert_eq!(render(TemplateFormat::Text, &version, &ok).unwrap().subject.len(), 225);

        let long = RenderVars { code: "1", expires_in_seconds: 60, project_name: &project };
        let err = render(TemplateFormat::Text, &version, &long).err().expect("refused");
        assert_eq!(err.part, "subject");
        assert!(err.reason.contains("more than 256 bytes"), "{}", err.reason);
    }

    #[test]
    fn body_is_capped_at_64_kib_even_when_escaping_multiplies_a_value() {
        // Each tag is 18 source bytes; an escaped `'` is 5 bytes and a long
        // project name turns the largest allowed source into megabytes.
        let body = format!("{{{{ OTP_CODE }}}}{}", "{{ PROJECT_NAME }}".repeat(3_000));
        let project = "'".repeat(1_000);
        let hostile = RenderVars { code: "1", expires_in_seconds: 60, project_name: &project };
        let start = Instant::now();
        let err = render(TemplateFormat::Html, &v("s", &body), &hostile).err().expect("refused");
        assert!(start.elapsed() < Duration::from_millis(500), "{:?}", start.elapsed());
        assert_eq!(err.part, "body");
        assert!(err.reason.contains("more than 65536 bytes"), "{}", err.reason);

        let short = RenderVars { code: "1", expires_in_seconds: 60, project_name: "Acme" };
        assert_eq!(render(TemplateFormat::Html, &v("s", &body), &short).unwrap().body.len(), 1 + 4 * 3_000);
    }

    #[test]
    fn sms_bodies_are_capped_in_characters_not_bytes() {
        let fits = format!("{{{{ OTP_CODE }}}}{}", "é".repeat(1_599));
        let too_long = format!("{{{{ OTP_CODE }}}}{}", "é".repeat(1_600));
        let sms = RenderLimits::for_method(ChannelMethod::Sms);
        assert_eq!(sms, RenderLimits::SMS);
        assert_eq!(RenderLimits::for_method(ChannelMethod::Email), RenderLimits::EMAIL);

        let r = render_with_limits(TemplateFormat::Text, &v("s", &fits), &vars("1"), sms).unwrap();
        assert_eq!(r.body.chars().count(), 1_600);
        assert!(validate_with_limits(TemplateFormat::Text, &v("s", &too_long), sms).is_err());
        let err = render_with_limits(TemplateFormat::Text, &v("s", &too_long), &vars("1"), sms).err().expect("refused");
        assert!(err.reason.contains("1600 characters"), "{}", err.reason);
        // 3,202 bytes are fine for email.
        assert!(validate(TemplateFormat::Text, &v("s", &too_long)).is_ok());
    }

    #[test]
    fn largest_allowed_template_is_checked_and_rendered_quickly() {
        let tag = "{{ OTP_CODE }}";
        let body = tag.repeat(BODY_SOURCE_BYTES / tag.len());
        let start = Instant::now();
        validate(TemplateFormat::Html, &v("s", &body)).unwrap();
        let r = render(TemplateFormat::Html, &v("s", &body), &vars("123456")).unwrap();
        assert_eq!(r.body.len(), 6 * (BODY_SOURCE_BYTES / tag.len()));
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    }

    // --- property tests -------------------------------------------------

    /// Expressions from the whole minijinja grammar, including the amplifying
    /// and the forbidden parts.
    fn any_expr() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("OTP_CODE"),
            Just("PROJECT_NAME"),
            Just("EXPIRES_IN_MINUTES"),
            Just("EXPIRES_IN_SECONDS"),
            Just("SECRET"),
            Just("loop"),
            Just("\"x\""),
            Just("'<b>&'"),
            Just("1099511627776"),
            Just("99999999"),
            Just("-3"),
            Just("2.5"),
            Just("true"),
            Just("none"),
            Just("range(99999999)"),
            Just("lipsum(99999)"),
            Just("namespace()"),
            Just("[1, 'a']"),
            Just("{'a': 1}"),
        ]
        .prop_map(String::from);
        let filter = prop_oneof![
            Just("upper"),
            Just("lower"),
            Just("title"),
            Just("capitalize"),
            Just("trim"),
            Just("escape"),
            Just("e"),
            Just("safe"),
            Just("indent(1099511627776)"),
            Just("center(99999999)"),
            Just("replace('', 'xxxxxxxxxx')"),
            Just("join('xxxxxxxx')"),
            Just("batch(99999999)"),
            Just("list"),
            Just("default('x')"),
            Just("trim('x')"),
            Just("tojson"),
            Just("string"),
        ];
        let op = prop_oneof![
            Just("*"),
            Just("~"),
            Just("+"),
            Just("**"),
            Just("//"),
            Just("%"),
            Just("=="),
            Just("!="),
            Just("<"),
            Just(">="),
            Just("and"),
            Just("or"),
            Just("in"),
        ];
        atom.prop_recursive(4, 24, 3, move |inner| {
            prop_oneof![
                (inner.clone(), filter.clone()).prop_map(|(e, f)| format!("{e}|{f}")),
                (inner.clone(), op.clone(), inner.clone()).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
                inner.clone().prop_map(|e| format!("not {e}")),
                inner.clone().prop_map(|e| format!("{e}.x")),
                inner.clone().prop_map(|e| format!("{e}[0]")),
                inner.clone().prop_map(|e| format!("{e}[::-1]")),
                inner.clone().prop_map(|e| format!("{e} is defined")),
                (inner.clone(), inner.clone(), inner.clone()).prop_map(|(a, b, c)| format!("({a} if {b} else {c})")),
            ]
        })
    }

    fn any_template() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("Hello ".to_owned()),
            Just("<p>&".to_owned()),
            Just("{# note #}".to_owned()),
            Just("{% raw %}{{ x }}{% endraw %}".to_owned()),
            Just("{{ OTP_CODE }}".to_owned()),
            any_expr().prop_map(|e| format!("{{{{ {e} }}}}")),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(|parts| parts.concat()),
                (any_expr(), inner.clone(), inner.clone())
                    .prop_map(|(c, a, b)| format!("{{% if {c} %}}{a}{{% else %}}{b}{{% endif %}}")),
                (any_expr(), inner.clone(), any_expr(), inner.clone())
                    .prop_map(|(c, a, d, b)| format!("{{% if {c} %}}{a}{{% elif {d} %}}{b}{{% endif %}}")),
                (any_expr(), inner.clone()).prop_map(|(e, b)| format!("{{% for i in {e} %}}{b}{{% endfor %}}")),
                (any_expr(), inner.clone()).prop_map(|(e, b)| format!("{{% set x = {e} %}}{b}{{{{ x }}}}")),
                inner.clone().prop_map(|b| format!("{{% macro m() %}}{b}{{% endmacro %}}{{{{ m() }}}}")),
                inner.clone().prop_map(|b| format!("{{% filter upper %}}{b}{{% endfilter %}}")),
                (any_expr(), inner.clone()).prop_map(|(e, b)| format!("{{% with x = {e} %}}{b}{{% endwith %}}")),
            ]
        })
    }

    /// Values and conditions from the allowed subset only.
    fn allowed_value() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            prop::sample::select(VARIABLES.to_vec()).prop_map(String::from),
            "[a-z<>& ]{0,12}".prop_map(|s| format!("'{s}'")),
            any::<i32>().prop_map(|n| n.to_string()),
            Just("true".to_owned()),
        ];
        (atom, prop::collection::vec(prop::sample::select(FILTERS.to_vec()), 0..3))
            .prop_map(|(atom, filters)| filters.iter().fold(atom, |acc, f| format!("{acc}|{f}")))
    }

    fn allowed_condition() -> impl Strategy<Value = String> {
        let comparison =
            (allowed_value(), prop::sample::select(vec!["==", "!=", "<", ">", "<=", ">="]), allowed_value())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}"));
        let leaf = prop_oneof![comparison, allowed_value()];
        leaf.prop_recursive(1, 2, 2, |inner| {
            prop_oneof![
                (inner.clone(), prop::sample::select(vec!["and", "or"]), inner.clone())
                    .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
                inner.prop_map(|c| format!("not ({c})")),
            ]
        })
    }

    fn allowed_template() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            "[a-zA-Z<>&é ]{0,20}",
            Just("{# note #}".to_owned()),
            allowed_value().prop_map(|e| format!("{{{{ {e} }}}}")),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(|parts| parts.concat()),
                (allowed_condition(), inner.clone(), allowed_condition(), inner.clone(), inner.clone()).prop_map(
                    |(c, a, d, b, e)| format!("{{% if {c} %}}{a}{{% elif {d} %}}{b}{{% else %}}{e}{{% endif %}}")
                ),
            ]
        })
    }

    fn assert_within(limits: RenderLimits, rendered: &Rendered) {
        assert!(rendered.subject.len() <= limits.subject_bytes);
        assert!(rendered.body.len() <= limits.body_bytes);
        if let Some(max) = limits.body_chars {
            assert!(rendered.body.chars().count() <= max);
        }
    }

    fn any_limits() -> impl Strategy<Value = RenderLimits> {
        prop_oneof![Just(RenderLimits::EMAIL), Just(RenderLimits::SMS)]
    }

    fn any_format() -> impl Strategy<Value = TemplateFormat> {
        prop_oneof![Just(TemplateFormat::Text), Just(TemplateFormat::Html)]
    }

    proptest! {
        // Failures are reported, not saved to a file beside the crate.
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn grammar_templates_never_panic_stay_within_caps_and_are_fast(
            subject in any_template(),
            body in any_template(),
            format in any_format(),
            limits in any_limits(),
            project in "[a-zA-Z<>&'\"é ]{0,300}",
            expires in any::<u32>(),
        ) {
            let version = v(&subject, &body);
            let vars = RenderVars { code: "123456", expires_in_seconds: expires, project_name: &project };
            let ((validated, rendered), elapsed) = timed(QUICK, || {
                (validate_with_limits(format, &version, limits), render_with_limits(format, &version, &vars, limits))
            });
            prop_assert!(elapsed < QUICK, "took {elapsed:?}");
            if let Ok(rendered) = &rendered {
                assert_within(limits, rendered);
            }
            if validated.is_ok() {
                for construct in ["indent", "center", "replace", "join", "batch", "range", "lipsum", " * ", " ~ ", " + ", "for ", "set ", "macro", "filter ", "with "] {
                    prop_assert!(!subject.contains(construct) && !body.contains(construct), "accepted `{construct}`");
                }
                // Accepted templates render for any values, within the caps
                // or with a cap error, never with anything else.
                if let Err(e) = &rendered {
                    prop_assert!(e.reason.contains("renders to more than"), "{e}");
                }
            }
        }

        #[test]
        fn allowed_templates_are_accepted_and_render_within_caps(
            subject in allowed_template(),
            body in allowed_template(),
            format in any_format(),
            limits in any_limits(),
            project in "[a-zA-Z<>&'\"é ]{0,60}",
            expires in any::<u32>(),
        ) {
            let version = v(&subject, &format!("{{{{ OTP_CODE }}}}{body}"));
            let vars = RenderVars { code: "123456", expires_in_seconds: expires, project_name: &project };
            let ((validated, rendered), elapsed) = timed(QUICK, || {
                (validate_with_limits(format, &version, limits), render_with_limits(format, &version, &vars, limits))
            });
            prop_assert!(elapsed < QUICK, "took {elapsed:?}");
            validated.map_err(|e| TestCaseError::fail(e.to_string()))?;
            match rendered {
                Ok(rendered) => assert_within(limits, &rendered),
                Err(e) => prop_assert!(e.reason.contains("renders to more than"), "{e}"),
            }
        }

        #[test]
        fn arbitrary_text_never_panics_validation_or_rendering(
            source in prop_oneof![
                any::<String>(),
                prop::collection::vec(any::<u8>(), 0..400).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
                "[{}%#\\-+~*|.,:()\\[\\]'\" a-zA-Z_0-9]{0,300}",
            ],
        ) {
            let version = v(&source, &source);
            for format in [TemplateFormat::Text, TemplateFormat::Html] {
                let ((_, rendered), elapsed) =
                    timed(QUICK, || (validate(format, &version), render(format, &version, &vars("1"))));
                prop_assert!(elapsed < QUICK, "took {elapsed:?}");
                if let Ok(rendered) = rendered {
                    assert_within(RenderLimits::EMAIL, &rendered);
                }
            }
        }
    }
}
