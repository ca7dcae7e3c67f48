//! What handlers return: [`Response`] (status, headers, body), [`HttpError`] (the one error type
//! handlers use, answered as `{"error":{"status":N,"message":"…"}}`), and their encoding.
//!
//! Headers live inline (a `SmallVec` of up to three) and short values inline too, so adding a
//! header such as `Server-Timing` to a precomputed response allocates nothing. The request id is
//! not among them: the encoder writes the exchange's id after them ([`REQUEST_ID`]).

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use smallvec::SmallVec;

use crate::http::date::CachedDate;
use crate::http::response::{self, Fields, Persistence, Precomputed};
pub use crate::http::response::{FieldError, REQUEST_ID};
use crate::http::status::StatusCode;

/// A header name: always a string known at compile time.
pub type HeaderName = &'static str;

/// Header values up to this many bytes are stored inside the value, not on the heap: enough for
/// generated request ids and timings, and small enough that responses stay cheap to move.
const INLINE_VALUE: usize = 30;

/// A header value: checked to contain no CR, LF or NUL, so it cannot split a response.
#[derive(Clone)]
pub struct HeaderValue(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static [u8]),
    Inline { len: u8, bytes: [u8; INLINE_VALUE] },
    Heap(Box<[u8]>),
}

impl HeaderValue {
    /// A value from a string known at compile time.
    pub const fn from_static(value: &'static str) -> HeaderValue {
        HeaderValue(Repr::Static(value.as_bytes()))
    }

    /// A value from bytes, or `None` if they hold CR, LF, NUL or another control byte (HTAB
    /// aside). Short values are stored inline.
    pub fn try_from_bytes(value: &[u8]) -> Option<HeaderValue> {
        if value.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
            return None;
        }
        Some(if value.len() <= INLINE_VALUE {
            let mut bytes = [0; INLINE_VALUE];
            bytes[..value.len()].copy_from_slice(value);
            HeaderValue(Repr::Inline { len: value.len() as u8, bytes })
        } else {
            HeaderValue(Repr::Heap(value.into()))
        })
    }

    /// The most bytes a value holds inline (without allocating).
    pub(crate) const INLINE: usize = INLINE_VALUE;

    /// A value the caller built in place from safe bytes (hex digits, dashes): `bytes[..len]`,
    /// stored as it is. `len` must be at most [`HeaderValue::INLINE`].
    pub(crate) fn from_safe_inline(bytes: [u8; INLINE_VALUE], len: usize) -> HeaderValue {
        debug_assert!(len <= INLINE_VALUE);
        HeaderValue(Repr::Inline { len: len.min(INLINE_VALUE) as u8, bytes })
    }

    /// Makes `slot` an inline value, `bytes[..len]` (safe bytes: hex digits, dashes), built in
    /// place; returns those bytes for the caller to change, keeping them safe. `len` must be at
    /// most [`HeaderValue::INLINE`].
    pub(crate) fn inline_in<'s>(
        slot: &'s mut Option<HeaderValue>,
        bytes: &[u8; INLINE_VALUE],
        len: usize,
    ) -> &'s mut [u8] {
        debug_assert!(len <= INLINE_VALUE);
        let value =
            slot.insert(HeaderValue(Repr::Inline { len: len.min(INLINE_VALUE) as u8, bytes: *bytes }));
        match &mut value.0 {
            Repr::Inline { len, bytes } => &mut bytes[..usize::from(*len)],
            _ => &mut [],
        }
    }

    /// A short value the caller built from safe bytes (hex digits, dashes): stored inline
    /// without re-checking it. Falls back to the checked path if it is too long.
    pub(crate) fn from_safe_short(value: &[u8]) -> HeaderValue {
        if value.len() > INLINE_VALUE {
            return HeaderValue::try_from_bytes(value).unwrap_or(HeaderValue::from_static(""));
        }
        let mut bytes = [0; INLINE_VALUE];
        bytes[..value.len()].copy_from_slice(value);
        HeaderValue(Repr::Inline { len: value.len() as u8, bytes })
    }

    /// The value's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Static(bytes) => bytes,
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(bytes) => bytes,
        }
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl From<&'static str> for HeaderValue {
    fn from(value: &'static str) -> Self {
        HeaderValue::from_static(value)
    }
}

/// A response body.
#[derive(Debug, Clone, Default)]
pub enum Body {
    /// No body (`Content-Length: 0`, or none at all for 204 and 304).
    #[default]
    Empty,
    /// Bytes known at compile time.
    Static(&'static [u8]),
    /// Bytes built for this response.
    Bytes(Vec<u8>),
    /// A whole response built at start-up; status and `Content-Type` come from it.
    Precomputed(&'static Precomputed),
}

impl Body {
    /// The body length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::Static(bytes) => bytes.len(),
            Body::Bytes(bytes) => bytes.len(),
            Body::Precomputed(p) => p.body().len(),
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Body::Empty => b"",
            Body::Static(bytes) => bytes,
            Body::Bytes(bytes) => bytes,
            Body::Precomputed(p) => p.body(),
        }
    }
}

/// A response: status, `Content-Type`, further headers, body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// `Content-Type`, sent when the body is not empty.
    pub content_type: &'static str,
    /// Further header fields, in order.
    pub headers: SmallVec<[(HeaderName, HeaderValue); 3]>,
    /// The body.
    pub body: Body,
    /// Why a 5xx happened, for the server's log; never sent to the client.
    pub cause: Option<Box<str>>,
}

impl Response {
    /// A response with this status and no body.
    pub fn new(status: StatusCode) -> Response {
        Response { status, content_type: "", headers: SmallVec::new(), body: Body::Empty, cause: None }
    }

    /// A precomputed response (built once; only `Date` and added headers vary).
    pub fn precomputed(response: &'static Precomputed) -> Response {
        Response {
            status: response.status(),
            content_type: "",
            headers: SmallVec::new(),
            body: Body::Precomputed(response),
            cause: None,
        }
    }

    /// `value` serialized as JSON.
    pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response::bytes(status, "application/json", body),
            Err(_) => HttpError::internal("response serialization failed").into(),
        }
    }

    /// A body of bytes with its content type.
    pub fn bytes(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
        Response { status, content_type, headers: SmallVec::new(), body: Body::Bytes(body), cause: None }
    }

    /// Plain text.
    pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
        Response::bytes(status, "text/plain; charset=utf-8", body.into().into_bytes())
    }

    /// 201 Created with a `Location` header and a JSON body.
    pub fn created<T: Serialize + ?Sized>(location: &str, value: &T) -> Response {
        let mut response = Response::json(StatusCode::CREATED, value);
        match HeaderValue::try_from_bytes(location.as_bytes()) {
            Some(location) => response.headers.push(("Location", location)),
            None => return HttpError::internal("invalid Location").into(),
        }
        response
    }

    /// 204 No Content.
    pub fn no_content() -> Response {
        Response::new(StatusCode::NO_CONTENT)
    }

    /// Sets the content type (builder style).
    pub fn with_content_type(mut self, content_type: &'static str) -> Response {
        self.content_type = content_type;
        self
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Response {
        self.headers.push((name, value));
        self
    }

    /// The value of the first header with this name.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// Appends the encoded response to `out`, with `request_id` (the exchange's) as its last
    /// header; `head_only` leaves out the body (HEAD).
    pub fn write_to(
        &self,
        out: &mut Vec<u8>,
        date: &CachedDate,
        persistence: Persistence,
        head_only: bool,
        request_id: Option<&HeaderValue>,
    ) {
        let fields = Fields {
            headers: self.headers.iter().map(|(n, v)| (*n, v.as_bytes())),
            request_id: request_id.map(HeaderValue::as_bytes),
        };
        if let Body::Precomputed(p) = &self.body
            && p.status() == self.status
        {
            return p.write(out, date, persistence, fields, head_only);
        }
        let content_type =
            if self.content_type.is_empty() { "application/octet-stream" } else { self.content_type };
        let head = response::Head { status: self.status, content_type, fields };
        response::write(out, date, persistence, head, self.body.bytes(), head_only);
    }
}

/// The error type handlers return: a status and a message, answered as
/// `{"error":{"status":N,"message":"…"}}`, plus optional headers (`Allow`, `Retry-After` …).
#[derive(Debug, Clone)]
pub struct HttpError {
    /// The status code (4xx or 5xx).
    pub status: StatusCode,
    /// A message for the client.
    pub message: Cow<'static, str>,
    /// Extra headers for the error response (a `Vec`: errors are off the hot path, and a small
    /// error type keeps every `Result` small).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Per-field problems (validation errors), sent as `"fields": [{"field", "message"}]`.
    pub fields: Vec<FieldError>,
    /// What went wrong inside the server, for its log only (a database error's text, say);
    /// a 5xx without one is logged with its message.
    pub cause: Option<Box<str>>,
}

impl HttpError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> HttpError {
        HttpError { status, message: message.into(), headers: Vec::new(), fields: Vec::new(), cause: None }
    }

    /// 422 listing each invalid field.
    pub fn invalid_fields(fields: Vec<FieldError>) -> HttpError {
        let mut error = HttpError::new(StatusCode::UNPROCESSABLE_CONTENT, "validation failed");
        error.fields = fields;
        error
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> HttpError {
        HttpError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> HttpError {
        HttpError::new(StatusCode::NOT_FOUND, message)
    }

    /// 500 Internal Server Error.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> HttpError {
        HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> HttpError {
        self.headers.push((name, value));
        self
    }

    /// Records the cause for the server's log (builder style); the client sees only the message.
    pub fn with_cause(mut self, cause: impl fmt::Display) -> HttpError {
        self.cause = Some(cause.to_string().into());
        self
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.code(), self.message)
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for Response {
    fn from(error: HttpError) -> Response {
        let body = response::error_body(error.status, &error.message, &error.fields);
        let mut response = Response::bytes(error.status, "application/json", body);
        response.headers.extend(error.headers);
        response.cause = error.cause.or_else(|| error.status.is_server_error().then(|| error.message.into()));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn date() -> CachedDate {
        CachedDate::at(UNIX_EPOCH + Duration::from_secs(784111777))
    }

    #[test]
    fn header_values_refuse_response_splitting() {
        assert!(HeaderValue::try_from_bytes(b"ok value\tx").is_some());
        assert!(HeaderValue::try_from_bytes(b"a\r\nSet-Cookie: x").is_none());
        assert!(HeaderValue::try_from_bytes(b"a\0").is_none());
        let long = vec![b'a'; 100];
        assert_eq!(HeaderValue::try_from_bytes(&long).unwrap().as_bytes(), &long[..]);
    }

    #[test]
    fn precomputed_with_added_headers_matches_the_general_encoder() {
        let body: &'static [u8] = b"{\"a\":1}";
        let pre: &'static Precomputed =
            Box::leak(Box::new(Precomputed::new(StatusCode::OK, "application/json", body)));
        let mut fast = Response::precomputed(pre);
        fast.headers.push(("Server-Timing", HeaderValue::from_static("app;dur=0.010")));
        let mut slow = Response::bytes(StatusCode::OK, "application/json", body.to_vec());
        slow.headers.push(("Server-Timing", HeaderValue::from_static("app;dur=0.010")));
        for head_only in [false, true] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let id = HeaderValue::from_static("id-1");
            fast.write_to(&mut a, &date(), Persistence::Close, head_only, Some(&id));
            slow.write_to(&mut b, &date(), Persistence::Close, head_only, Some(&id));
            assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
        }
    }

    #[test]
    fn errors_become_json_with_their_headers() {
        let error = HttpError::new(StatusCode::METHOD_NOT_ALLOWED, "no").with_header("Allow", "GET".into());
        let response = Response::from(error);
        assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.header("allow").unwrap().as_bytes(), b"GET");
        assert!(
            matches!(&response.body, Body::Bytes(b) if b == br#"{"error":{"status":405,"message":"no"}}"#)
        );
    }
}
