//! Endpoints for learning: path and query parameters, and status codes on demand.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::app::extract::Query;
use crate::app::{Context, HttpError, Reply, Request, Response};
use crate::http::status::StatusCode;

/// `GET /hello/{name}?greeting=Hi` → `{"message": "Hi, name"}` (greeting defaults to Hello).
pub fn hello_name(request: &Request<'_>, _: &mut Context<'_>, Query(query): Query<Greeting>) -> Reply {
    let name = request.param("name").unwrap_or_default();
    let greeting = query.greeting.as_deref().unwrap_or("Hello");
    Response::json(StatusCode::OK, &json!({ "message": format!("{greeting}, {name}") })).into()
}

/// The query of `/hello/{name}`.
#[derive(Deserialize, JsonSchema)]
pub struct Greeting {
    /// What to say before the name (`Hello` when left out).
    greeting: Option<String>,
}

/// `GET /status/{code}` → a response with that status (200–599); anything else is 400.
pub fn status(request: &Request<'_>, _: &mut Context<'_>) -> Reply {
    let code: u16 = match request.param_as("code") {
        Ok(code) => code,
        Err(error) => return error.into(),
    };
    let Some(status) = StatusCode::from_u16(code).filter(|_| (200..=599).contains(&code)) else {
        return HttpError::bad_request(format!("status must be 200 to 599, not {code}")).into();
    };
    if !status.allows_body() {
        return Response::new(status).into();
    }
    Response::json(status, &json!({ "status": code, "reason": status.reason() })).into()
}
