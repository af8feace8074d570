//! The OpenAPI 3.1 document served at `GET /v1/openapi.json`, generated from
//! the handlers' `#[utoipa::path]` annotations and the wire types: the
//! route tables that build the routers also build it, so what is served is
//! what is documented. This module adds what belongs to no one route: the
//! info, the security schemes, the shared error answers.

use std::sync::LazyLock;

use utoipa::Modify;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Object, ObjectBuilder, OpenApi, Type};

use crate::error::{ErrorBody, RateLimited};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Secure-2FA",
        description = "Self-hosted OTP verification. The OTP API takes payloads encrypted with AES-256-GCM under \
                       the project's secret key (see `EncryptedRequest`). The management API needs \
                       `Authorization: Bearer` with the deployment's operator token (every client) or a client's \
                       API token (`s2fa_ct_...`: that client's records only; another client's ids answer 404, \
                       admin-only routes 403), or a signed-in session's cookie."
    ),
    security(("operatorToken" = []), ("sessionCookie" = [])),
    components(schemas(ErrorBody), responses(ErrorBody, RateLimited)),
    modifiers(&SecuritySchemes)
)]
struct Base;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("operatorToken", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme(
            "sessionCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::SESSION_COOKIE,
                "A signed-in session (POST /v1/account/login, then /v1/account/login/second-factor). HttpOnly, \
                 Secure, SameSite=Lax; idle timeout 30 minutes, absolute 12 hours.",
            ))),
        );
    }
}

/// The whole document: every router's operations and schemas.
pub fn openapi() -> OpenApi {
    let mut doc = Base::openapi();
    for (_, part) in crate::route_tables() {
        doc.merge(part);
    }
    doc
}

static JSON: LazyLock<String> =
    LazyLock::new(|| openapi().to_json().expect("the generated OpenAPI document serializes"));

/// [`openapi`] as served: built once per process.
pub fn openapi_json() -> &'static str {
    &JSON
}

/// A string schema that takes one of `values`: for a field whose values are
/// named by the core as strings rather than an enum.
pub(crate) fn string_enum(values: &[&str]) -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values.iter().copied())).build()
}
