//! The routes of [`super::resources`]: each kind of resource with its own paths, so that each
//! is in the OpenAPI document (a macro writes the same five handlers per kind).

use super::paging::{Page, PageQuery};
use super::problem::Problem;
use super::resources::{self, Coll, Op, WriteQuery, writer};
use super::{ApiState, ClientAddr};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use hrsync_auth::http::{AsAdmin, AsViewer};

/// A resource as JSON, as in the TOML file (secret-looking keys: `{"set": bool}`, with the
/// `env`/`file` reference when it is one).
#[derive(utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct Resource(#[allow(dead_code)] serde_json::Value);

macro_rules! collection {
    ($m:ident, $key:literal, $tag:literal, $list:literal, $one:literal) => {
        pub mod $m {
            use super::*;

            fn coll() -> Coll {
                Coll::Top($key)
            }

            #[utoipa::path(
                get,
                path = $list,
                tag = $tag,
                operation_id = concat!("list_", $key),
                summary = concat!("Lists the [[", $key, "]] of the configuration"),
                params(PageQuery),
                responses(
                    (status = 200, description = "A page of them; the ETag is the file's hash", body = Page<Resource>),
                    (status = 401, description = "Not signed in", body = Problem),
                )
            )]
            pub async fn list(
                State(st): State<ApiState>,
                _viewer: AsViewer,
                Query(page): Query<PageQuery>,
            ) -> Result<Response, Problem> {
                resources::list(&st, &coll(), &page).await
            }

            #[utoipa::path(
                get,
                path = $one,
                tag = $tag,
                operation_id = concat!("get_", $key),
                summary = concat!("One [[", $key, "]]"),
                params(("name" = String, Path, description = "Its name")),
                responses(
                    (status = 200, description = "It; the ETag is the file's hash", body = Resource),
                    (status = 404, description = "None of that name", body = Problem),
                )
            )]
            pub async fn get(
                State(st): State<ApiState>,
                _viewer: AsViewer,
                Path(name): Path<String>,
            ) -> Result<Response, Problem> {
                resources::get(&st, &coll(), &name).await
            }

            #[utoipa::path(
                post,
                path = $list,
                tag = $tag,
                operation_id = concat!("create_", $key),
                summary = concat!("Creates a [[", $key, "]] (a secret: {\"secret\": \"…\"}, stored in a 0600 file)"),
                request_body = Resource,
                params(WriteQuery, ("If-Match" = String, Header, description = "The file's hash as read (its ETag)")),
                responses(
                    (status = 201, description = "Created (or, in a dry run, 200 with what would change)", body = super::super::config::EditResult),
                    (status = 403, description = "Not an admin", body = Problem),
                    (status = 409, description = "One of that name exists", body = Problem),
                    (status = 412, description = "The file changed since it was read", body = Problem),
                    (status = 422, description = "Not valid, or a literal secret", body = Problem),
                    (status = 428, description = "No If-Match", body = Problem),
                )
            )]
            pub async fn create(
                State(st): State<ApiState>,
                AsAdmin(p): AsAdmin,
                ClientAddr(addr): ClientAddr,
                headers: HeaderMap,
                Query(q): Query<WriteQuery>,
                Json(body): Json<serde_json::Value>,
            ) -> Result<Response, Problem> {
                let w = writer(&p, addr, &headers, q)?;
                resources::write(&st, &coll(), Op::Create(body), w).await
            }

            #[utoipa::path(
                put,
                path = $one,
                tag = $tag,
                operation_id = concat!("replace_", $key),
                summary = concat!("Replaces a [[", $key, "]] (kept keys keep their comments; a secret shown as {\"set\": true} is kept)"),
                request_body = Resource,
                params(("name" = String, Path, description = "Its name"), WriteQuery, ("If-Match" = String, Header, description = "The file's hash as read (its ETag)")),
                responses(
                    (status = 200, description = "Replaced (or what would change)", body = super::super::config::EditResult),
                    (status = 403, description = "Not an admin", body = Problem),
                    (status = 404, description = "None of that name", body = Problem),
                    (status = 412, description = "The file changed since it was read", body = Problem),
                    (status = 422, description = "Not valid, or a literal secret", body = Problem),
                    (status = 428, description = "No If-Match", body = Problem),
                )
            )]
            pub async fn replace(
                State(st): State<ApiState>,
                AsAdmin(p): AsAdmin,
                ClientAddr(addr): ClientAddr,
                headers: HeaderMap,
                Path(name): Path<String>,
                Query(q): Query<WriteQuery>,
                Json(body): Json<serde_json::Value>,
            ) -> Result<Response, Problem> {
                let w = writer(&p, addr, &headers, q)?;
                resources::write(&st, &coll(), Op::Replace(name, body), w).await
            }

            #[utoipa::path(
                delete,
                path = $one,
                tag = $tag,
                operation_id = concat!("delete_", $key),
                summary = concat!("Deletes a [[", $key, "]] (refused when the rest of the configuration needs it)"),
                params(("name" = String, Path, description = "Its name"), WriteQuery, ("If-Match" = String, Header, description = "The file's hash as read (its ETag)")),
                responses(
                    (status = 200, description = "Deleted (or what would change)", body = super::super::config::EditResult),
                    (status = 403, description = "Not an admin", body = Problem),
                    (status = 404, description = "None of that name", body = Problem),
                    (status = 412, description = "The file changed since it was read", body = Problem),
                    (status = 422, description = "The configuration would not be valid without it", body = Problem),
                    (status = 428, description = "No If-Match", body = Problem),
                )
            )]
            pub async fn delete(
                State(st): State<ApiState>,
                AsAdmin(p): AsAdmin,
                ClientAddr(addr): ClientAddr,
                headers: HeaderMap,
                Path(name): Path<String>,
                Query(q): Query<WriteQuery>,
            ) -> Result<Response, Problem> {
                let w = writer(&p, addr, &headers, q)?;
                resources::write(&st, &coll(), Op::Delete(name), w).await
            }
        }
    };
}

collection!(
    integrations,
    "integration",
    "integrations",
    "/api/v1/integrations",
    "/api/v1/integrations/{name}"
);
collection!(
    mappings,
    "mapping",
    "mappings",
    "/api/v1/mappings",
    "/api/v1/mappings/{name}"
);
collection!(
    webhooks,
    "webhook",
    "webhooks",
    "/api/v1/webhooks",
    "/api/v1/webhooks/{name}"
);
collection!(
    orchestrations,
    "orchestration",
    "orchestrations",
    "/api/v1/orchestrations",
    "/api/v1/orchestrations/{name}"
);
collection!(
    automations,
    "automation",
    "automations",
    "/api/v1/automations",
    "/api/v1/automations/{name}"
);

/// `[[integration.endpoint]]`: the named endpoints of an integration.
pub mod endpoints {
    use super::super::config::EditResult;
    use super::*;

    fn coll(integration: &str) -> Coll {
        Coll::Endpoints(integration.to_string())
    }

    /// Lists the endpoints (`[[integration.endpoint]]`) of an integration.
    #[utoipa::path(
        get,
        path = "/api/v1/integrations/{name}/endpoints",
        tag = "integrations",
        operation_id = "list_endpoints",
        params(("name" = String, Path, description = "The integration"), PageQuery),
        responses(
            (status = 200, description = "A page of them; the ETag is the file's hash", body = Page<Resource>),
            (status = 404, description = "No such integration", body = Problem),
        )
    )]
    pub async fn list(
        State(st): State<ApiState>,
        _viewer: AsViewer,
        Path(name): Path<String>,
        Query(page): Query<PageQuery>,
    ) -> Result<Response, Problem> {
        resources::list(&st, &coll(&name), &page).await
    }

    /// One endpoint of an integration.
    #[utoipa::path(
        get,
        path = "/api/v1/integrations/{name}/endpoints/{endpoint}",
        tag = "integrations",
        operation_id = "get_endpoint",
        params(("name" = String, Path, description = "The integration"), ("endpoint" = String, Path, description = "The endpoint's name")),
        responses(
            (status = 200, description = "It; the ETag is the file's hash", body = Resource),
            (status = 404, description = "No such integration or endpoint", body = Problem),
        )
    )]
    pub async fn get(
        State(st): State<ApiState>,
        _viewer: AsViewer,
        Path((name, endpoint)): Path<(String, String)>,
    ) -> Result<Response, Problem> {
        resources::get(&st, &coll(&name), &endpoint).await
    }

    /// Adds an endpoint to an integration.
    #[utoipa::path(
        post,
        path = "/api/v1/integrations/{name}/endpoints",
        tag = "integrations",
        operation_id = "create_endpoint",
        request_body = Resource,
        params(("name" = String, Path, description = "The integration"), WriteQuery, ("If-Match" = String, Header, description = "The file's hash as read (its ETag)")),
        responses(
            (status = 201, description = "Created (or, in a dry run, 200 with what would change)", body = EditResult),
            (status = 403, description = "Not an admin", body = Problem),
            (status = 409, description = "An endpoint of that name exists", body = Problem),
            (status = 412, description = "The file changed since it was read", body = Problem),
            (status = 422, description = "Not valid, or a literal secret", body = Problem),
        )
    )]
    pub async fn create(
        State(st): State<ApiState>,
        AsAdmin(p): AsAdmin,
        ClientAddr(addr): ClientAddr,
        headers: HeaderMap,
        Path(name): Path<String>,
        Query(q): Query<WriteQuery>,
        Json(body): Json<serde_json::Value>,
    ) -> Result<Response, Problem> {
        let w = writer(&p, addr, &headers, q)?;
        resources::write(&st, &coll(&name), Op::Create(body), w).await
    }

    /// Replaces an endpoint of an integration.
    #[utoipa::path(
        put,
        path = "/api/v1/integrations/{name}/endpoints/{endpoint}",
        tag = "integrations",
        operation_id = "replace_endpoint",
        request_body = Resource,
        params(("name" = String, Path, description = "The integration"), ("endpoint" = String, Path, description = "The endpoint's name"), WriteQuery, ("If-Match" = String, Header, description = "The file's hash as read (its ETag)")),
        responses(
            (status = 200, description = "Replaced (or what would change)", body = EditResult),
            (status = 403, description = "Not an admin", body = Problem),
            (status = 404, description = "No such integration or endpoint", body = Problem),
            (status = 412, description = "The file changed since it was read", body = Problem),
            (status = 422, description = "Not valid, or a literal secret", body = Problem),
        )
    )]
    pub async fn replace(
        State(st): State<ApiState>,
        AsAdmin(p): AsAdmin,
        ClientAddr(addr): ClientAddr,
        headers: HeaderMap,
        Path((name, endpoint)): Path<(String, String)>,
        Query(q): Query<WriteQuery>,
        Json(body): Json<serde_json::Value>,
    ) -> Result<Response, Problem> {
        let w = writer(&p, addr, &headers, q)?;
        resources::write(&st, &coll(&name), Op::Replace(endpoint, body), w).await
    }

    /// Deletes an endpoint of an integration.
    #[utoipa::path(
        delete,
        path = "/api/v1/integrations/{name}/endpoints/{endpoint}",
        tag = "integrations",
        operation_id = "delete_endpoint",
        params(("name" = String, Path, description = "The integration"), ("endpoint" = String, Path, description = "The endpoint's name"), WriteQuery, ("If-Match" = String, Header, description = "The file's hash as read (its ETag)")),
        responses(
            (status = 200, description = "Deleted (or what would change)", body = EditResult),
            (status = 403, description = "Not an admin", body = Problem),
            (status = 404, description = "No such integration or endpoint", body = Problem),
            (status = 412, description = "The file changed since it was read", body = Problem),
            (status = 422, description = "The configuration would not be valid without it", body = Problem),
        )
    )]
    pub async fn delete(
        State(st): State<ApiState>,
        AsAdmin(p): AsAdmin,
        ClientAddr(addr): ClientAddr,
        headers: HeaderMap,
        Path((name, endpoint)): Path<(String, String)>,
        Query(q): Query<WriteQuery>,
    ) -> Result<Response, Problem> {
        let w = writer(&p, addr, &headers, q)?;
        resources::write(&st, &coll(&name), Op::Delete(endpoint), w).await
    }
}
