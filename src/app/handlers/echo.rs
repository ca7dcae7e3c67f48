//! `/echo`: the request exactly as the server received it, as JSON — the learner's `curl -v`,
//! seen from the server's side.

use base64::Engine;
use serde_json::{Map, Value, json};

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
    let headers: Vec<Value> =
        request.headers().map(|(name, value)| json!([name, String::from_utf8_lossy(value)])).collect();
    let body = match std::str::from_utf8(request.body()) {
        Ok(text) => json!({ "encoding": "utf-8", "text": text }),
        Err(_) => {
            json!({ "encoding": "base64", "base64": base64::engine::general_purpose::STANDARD.encode(request.body()) })
        }
    };
    let view = json!({
        "method": request.method_str(),
        "target": request.target(),
        "path": request.path(),
        "query": decoded,
        "version": request.version(),
        "headers": headers,
        "body": body,
        "body_length": request.body().len(),
        "client": request.peer().map(|peer| peer.to_string()),
    });
    Response::json(StatusCode::OK, &view).into()
}
