//! The hot endpoints: `GET /` (the blog post's response), `/json` and `/plaintext`
//! (TechEmpower's tests).

use std::sync::LazyLock;

use serde::Serialize;

use crate::app::{Context, Reply, Request, Response};
use crate::http::response::Precomputed;
use crate::http::status::StatusCode;

/// The body of `GET /`, byte for byte what the blog post's Python server sent.
pub const HELLO_BODY: &[u8] = br#"{"message": "Hello bro, this is your HTTP response"}"#;

/// The body of `GET /plaintext`.
pub const PLAINTEXT_BODY: &[u8] = b"Hello, World!";

/// `GET /`, built once: sending it is a few copies and no allocation.
pub static HELLO: LazyLock<Precomputed> =
    LazyLock::new(|| Precomputed::new(StatusCode::OK, "application/json", HELLO_BODY));

/// `GET /plaintext`, built once.
pub static PLAINTEXT: LazyLock<Precomputed> =
    LazyLock::new(|| Precomputed::new(StatusCode::OK, "text/plain", PLAINTEXT_BODY));

/// `GET /`
pub fn hello(_: &Request<'_>, _: &mut Context<'_>) -> Reply {
    Response::precomputed(&HELLO).into()
}

/// `GET /plaintext`
pub fn plaintext(_: &Request<'_>, _: &mut Context<'_>) -> Reply {
    Response::precomputed(&PLAINTEXT).into()
}

/// A JSON body with one message.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Message {
    message: &'static str,
}

/// `GET /json`: serialized per request, as TechEmpower's rules require.
pub fn json(_: &Request<'_>, _: &mut Context<'_>) -> Reply {
    Response::json(StatusCode::OK, &Message { message: "Hello, World!" }).into()
}
