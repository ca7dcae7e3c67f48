//! What pollserve answers: the built-in endpoints, and the [`Responder`] handlers write with.
//!
//! | route        | answer                                                             |
//! |--------------|--------------------------------------------------------------------|
//! | `GET /`      | the blog post's 52-byte JSON, precomputed at start-up              |
//! | `GET /json`  | TechEmpower's JSON test, serialized per request as their rules ask |
//! | `GET /plaintext` | `Hello, World!` as `text/plain`, precomputed                   |
//!
//! `HEAD` is answered wherever `GET` is. A known path with another method gets 405 and `Allow`;
//! an unknown path 404 (or 501 for a method pollserve does not know at all).

use serde::Serialize;

use crate::http::date::CachedDate;
use crate::http::request::{Method, Request};
use crate::http::response::{self, Persistence, Precomputed};
use crate::http::status::StatusCode;

/// The body of `GET /`, byte for byte what the blog post's Python server sent.
pub const HELLO_BODY: &[u8] = br#"{"message": "Hello bro, this is your HTTP response"}"#;

/// The body of `GET /plaintext`.
pub const PLAINTEXT_BODY: &[u8] = b"Hello, World!";

/// The `Allow` value for the built-in read-only resources.
const GET_HEAD: &[u8] = b"GET, HEAD";

/// Writes one response into a connection's output buffer, with the connection's choices
/// (persistence, HEAD) already applied. Handlers receive one per request and consume it.
pub struct Responder<'a> {
    out: &'a mut Vec<u8>,
    date: &'a CachedDate,
    persistence: Persistence,
    head_only: bool,
    /// Reusable per-worker space for serializing bodies without allocating.
    scratch: &'a mut Vec<u8>,
}

impl<'a> Responder<'a> {
    /// A responder appending to `out`.
    pub fn new(
        out: &'a mut Vec<u8>,
        date: &'a CachedDate,
        persistence: Persistence,
        head_only: bool,
        scratch: &'a mut Vec<u8>,
    ) -> Self {
        Responder {
            out,
            date,
            persistence,
            head_only,
            scratch,
        }
    }

    /// Sends a response built at start-up.
    pub fn precomputed(self, response: &Precomputed) {
        response.write(self.out, self.date, self.persistence, self.head_only);
    }

    /// Sends `value` serialized as JSON with this status.
    pub fn json<T: Serialize>(self, status: StatusCode, value: &T) {
        self.scratch.clear();
        if serde_json::to_writer(&mut *self.scratch, value).is_err() {
            return self.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "response serialization failed",
                &[],
            );
        }
        let head = response::Head {
            status,
            content_type: "application/json",
            headers: &[],
        };
        response::write(
            self.out,
            self.date,
            self.persistence,
            head,
            self.scratch,
            self.head_only,
        );
    }

    /// Sends an error with the standard JSON body and any extra headers (such as `Allow`).
    pub fn error(self, status: StatusCode, message: &str, headers: &[(&str, &[u8])]) {
        response::write_error(
            self.out,
            self.date,
            self.persistence,
            status,
            message,
            headers,
            self.head_only,
        );
    }
}

/// The built-in endpoints.
#[derive(Debug, Clone)]
pub struct App {
    hello: Precomputed,
    plaintext: Precomputed,
}

/// The message of TechEmpower's JSON test.
#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// Which built-in resource a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Hello,
    Json,
    Plaintext,
}

impl App {
    /// Builds the app, precomputing the hot responses.
    pub fn new() -> App {
        App {
            hello: Precomputed::new(StatusCode::OK, "application/json", HELLO_BODY),
            plaintext: Precomputed::new(StatusCode::OK, "text/plain", PLAINTEXT_BODY),
        }
    }

    /// Answers one request.
    pub fn respond(&self, request: &Request<'_>, responder: Responder<'_>) {
        let endpoint = match request.head.path {
            "/" => Endpoint::Hello,
            "/json" => Endpoint::Json,
            "/plaintext" => Endpoint::Plaintext,
            _ => return not_found(request.head.method, responder),
        };
        if !matches!(request.head.method, Method::Get | Method::Head) {
            return responder.error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed",
                &[("Allow", GET_HEAD)],
            );
        }
        match endpoint {
            Endpoint::Hello => responder.precomputed(&self.hello),
            Endpoint::Json => responder.json(
                StatusCode::OK,
                &Message {
                    message: "Hello, World!",
                },
            ),
            Endpoint::Plaintext => responder.precomputed(&self.plaintext),
        }
    }
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

fn not_found(method: Method, responder: Responder<'_>) {
    if method == Method::Other {
        responder.error(StatusCode::NOT_IMPLEMENTED, "method not implemented", &[]);
    } else {
        responder.error(StatusCode::NOT_FOUND, "not found", &[]);
    }
}
