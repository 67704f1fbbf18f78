//! The OpenAPI 3.1 document of the HTTP API. Nothing in it is written by hand beside the code:
//! each path comes from its handler's `#[utoipa::path]`, registered by the same `routes!` call
//! that routes it (`crate::api_routes`), and each schema from the core's types
//! (`flowgate_core::api`), which the handlers read and write.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use flowgate_core::api::Problem;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::auth::SESSION_COOKIE;

/// What the document says besides its paths and schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "flowgate",
        description = "Rate-limit decisions (multi-window token buckets per key, endpoint and \
            platform), the retry policy and its statistics, tasks with progress streamed as \
            Server-Sent Events, platform connections and context, accounts and tokens.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    // Named by the error responses of every path, which utoipa does not collect.
    components(schemas(Problem, flowgate_core::FieldError)),
    modifiers(&Credentials),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "limits", description = "The decision service, the limits and each key's buckets"),
        (name = "retry", description = "The retry policy and retry statistics"),
        (name = "tasks", description = "Caption tasks and their live progress"),
        (name = "platforms", description = "Platform connections, the platform context, posts"),
        (name = "accounts", description = "Signing in, accounts and API tokens"),
        (name = "operations", description = "Health, readiness, metrics, the overview, this document"),
    )
)]
pub(crate) struct ApiDoc;

/// The two ways to prove who is calling: an API token, or the console's session cookie.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (`POST /api/v1/tokens`): `fg_…`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The console's session (`POST /api/v1/auth/login`); a change made with it must \
                 come from the console's own origin",
            ))),
        );
    }
}

/// The error answers any route may give: a problem document (`errors` for 422).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a description for the document, never built
pub(crate) enum Errors {
    /// The request was refused: bad input (400, 422 naming each field), no or bad credentials
    /// (401), not allowed (403), nothing there (404), a conflict (409), a stale `If-Match`
    /// (412), too large (413), not JSON (415), rate-limited (429, with `Retry-After`).
    #[response(status = "4XX", content_type = "application/problem+json")]
    Refused(Problem),
    /// The server could not answer: a backend is unreachable or busy (503, with
    /// `Retry-After`: nothing was changed), or a bug (500).
    #[response(status = "5XX", content_type = "application/problem+json")]
    Failed(Problem),
}

/// The whole document: every route of [`crate::app`] but the console's pages.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = crate::documented_routes().split_for_parts();
    let mut whole = ApiDoc::openapi();
    whole.merge(doc);
    whole
}

/// The document as served, made once.
static JSON: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the document did not serialise: {e}\"}}"))
});

/// `GET /api/v1/openapi.json`: this document, open to anyone (it holds no secret).
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "get_openapi", tag = "operations", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], JSON.as_str()).into_response()
}
