//! `/echo`: the request exactly as the server received it, as JSON — the learner's `curl -v`,
//! seen from the server's side.

use base64::Engine;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::app::{Context, Reply, Request, Response};
use crate::http::status::StatusCode;

/// `GET|POST|PUT|PATCH|DELETE /echo`
pub fn echo(request: &Request<'_>, _: &mut Context<'_>) -> Reply {
    let query = match request.query() {
        Ok(query) => query,
        Err(error) => return error.into(),
    };
    let mut decoded = Map::new();
    for (key, value) in query.pairs() {
        match decoded.get_mut(key.as_ref()) {
            None => {
                decoded.insert(key.to_string(), Value::from(value.as_ref()));
            }
            Some(Value::Array(values)) => values.push(Value::from(value.as_ref())),
            Some(first) => *first = Value::Array(vec![first.take(), Value::from(value.as_ref())]),
        }
    }
    let headers =
        request.headers().map(|(name, value)| [name.to_owned(), String::from_utf8_lossy(value).into()]);
    let body = match std::str::from_utf8(request.body()) {
        Ok(text) => EchoBody { encoding: Encoding::Utf8, text: Some(text.to_owned()), base64: None },
        Err(_) => {
            let base64 = base64::engine::general_purpose::STANDARD.encode(request.body());
            EchoBody { encoding: Encoding::Base64, text: None, base64: Some(base64) }
        }
    };
    let view = Echo {
        method: request.method_str(),
        target: request.target(),
        path: request.path(),
        query: decoded,
        version: request.version(),
        headers: headers.collect(),
        body,
        body_length: request.body().len(),
        client: request.peer().map(|peer| peer.to_string()),
    };
    Response::json(StatusCode::OK, &view).into()
}

/// The request as `/echo` shows it.
#[derive(Serialize, JsonSchema)]
pub struct Echo<'a> {
    method: &'a str,
    target: &'a str,
    path: &'a str,
    /// Each key's value, or its values in order when it was repeated.
    query: Map<String, Value>,
    version: &'a str,
    /// `[name, value]` pairs in the order received.
    headers: Vec<[String; 2]>,
    body: EchoBody,
    body_length: usize,
    /// The client's address.
    client: Option<String>,
}

/// The body: as text when it is UTF-8, else as base64.
#[derive(Serialize, JsonSchema)]
struct EchoBody {
    encoding: Encoding,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
}

#[derive(Serialize, JsonSchema)]
enum Encoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "base64")]
    Base64,
}
