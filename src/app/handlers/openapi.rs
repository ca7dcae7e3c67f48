//! `GET /openapi.json`: an OpenAPI 3.0 description of every endpoint, kept beside the code in
//! `openapi.json` and checked by schemathesis in CI.

use crate::app::{Context, Reply, Request, Response};
use crate::http::status::StatusCode;

/// The document, embedded at compile time.
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /openapi.json`
pub fn document(_: &Request<'_>, _: &mut Context<'_>) -> Reply {
    Response { body: crate::app::Body::Static(OPENAPI.as_bytes()), ..Response::new(StatusCode::OK) }
        .with_content_type("application/json")
        .into()
}
