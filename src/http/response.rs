//! Response encoding: status line, headers and body appended to a connection's output buffer.
//!
//! Every response carries `Server`, `Date`, `Content-Type` (when it has a body) and
//! `Content-Length`; pollserve never sends chunked responses, so HTTP/1.0 clients can read all of
//! them. [`Precomputed`] holds a whole response except its `Date` for the hot endpoints: sending
//! one is a few `memcpy`s into the output buffer and no allocation.

use super::date::CachedDate;
use super::status::StatusCode;

/// The value of every response's `Server` header.
pub const SERVER_NAME: &str = "pollserve";

/// The request-id header's name, written once for both constants below.
macro_rules! request_id_name {
    () => {
        "X-Request-Id"
    };
}

/// The header that carries a request's id, the last one before `Connection`.
pub const REQUEST_ID: &str = request_id_name!();

/// What goes before a request id: the end of the line before it, and its name.
const REQUEST_ID_LINE: &[u8] = concat!("\r\n", request_id_name!(), ": ").as_bytes();

/// The interim response sent before reading a body the client is waiting to send.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What a response says about the connection's future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1 default: stays open, no header needed.
    KeepAlive,
    /// HTTP/1.0 client that asked for keep-alive: stays open, must be confirmed.
    KeepAliveHttp10,
    /// Last response on this connection: `Connection: close`.
    Close,
}

impl Persistence {
    /// The header line (with its leading CRLF) this choice adds after the other headers.
    pub fn header_line(self) -> &'static [u8] {
        match self {
            Persistence::KeepAlive => b"",
            Persistence::KeepAliveHttp10 => b"\r\nConnection: keep-alive",
            Persistence::Close => b"\r\nConnection: close",
        }
    }
}

/// A whole response built once at start-up; only the `Date` and `Connection` headers (and any
/// headers added after `Date`) vary.
#[derive(Debug, Clone)]
pub struct Precomputed {
    /// The status code.
    status: StatusCode,
    /// Status line, the fixed headers (`Server`, `Content-Type`, `Content-Length`) and the
    /// name of the `Date` header that follows them.
    head: Box<[u8]>,
    /// The CRLF that ends the last header line, the empty line, and the body: one copy.
    tail: Box<[u8]>,
}

/// What ends the last header line and the head.
const HEAD_END: &[u8] = b"\r\n\r\n";

impl Precomputed {
    /// Encodes a response with this status, `Content-Type` and body.
    pub fn new(status: StatusCode, content_type: &str, body: &[u8]) -> Precomputed {
        let mut head = Vec::with_capacity(128);
        write_status_line(&mut head, status);
        push_header(&mut head, "Server", SERVER_NAME.as_bytes());
        push_header(&mut head, "Content-Type", content_type.as_bytes());
        push_header(&mut head, "Content-Length", itoa::Buffer::new().format(body.len()).as_bytes());
        head.extend_from_slice(DATE_NAME);
        let tail = [HEAD_END, body].concat();
        Precomputed { status, head: head.into(), tail: tail.into() }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.tail[HEAD_END.len()..]
    }

    /// Appends the response to `out`, with `fields` (headers, then the request id) after `Date`;
    /// `head_only` leaves out the body (for HEAD).
    #[inline]
    pub fn write<'h>(
        &self,
        out: &mut Vec<u8>,
        date: &CachedDate,
        persistence: Persistence,
        fields: Fields<'_, impl IntoIterator<Item = (&'h str, &'h [u8])>>,
        head_only: bool,
    ) {
        // Fewer, larger copies than the general encoder: `Date: ` is in the head, and the end
        // of the head and the body are one slice.
        out.extend_from_slice(&self.head);
        out.extend_from_slice(date.as_bytes());
        write_headers(out, fields);
        write_connection(out, persistence);
        out.extend_from_slice(if head_only { &self.tail[..HEAD_END.len()] } else { &self.tail });
    }
}

/// A response's head fields besides the ones every response gets.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a, H> {
    /// The status code.
    pub status: StatusCode,
    /// `Content-Type`, sent only when the response has a body.
    pub content_type: &'a str,
    /// Further header fields and the request id.
    pub fields: Fields<'a, H>,
}

/// The header fields a response adds after `Date`.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a, H> {
    /// (name, value) pairs, sent in this order.
    pub headers: H,
    /// The request's id, sent as [`REQUEST_ID`] after them.
    pub request_id: Option<&'a [u8]>,
}

/// Appends a full response to `out`. `head_only` (HEAD requests) sends the head with the
/// `Content-Length` the body would have had, and no body.
pub fn write<'h>(
    out: &mut Vec<u8>,
    date: &CachedDate,
    persistence: Persistence,
    head: Head<'_, impl IntoIterator<Item = (&'h str, &'h [u8])>>,
    body: &[u8],
    head_only: bool,
) {
    write_status_line(out, head.status);
    push_header(out, "Server", SERVER_NAME.as_bytes());
    if head.status.allows_body() {
        if !body.is_empty() {
            push_header(out, "Content-Type", head.content_type.as_bytes());
        }
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    write_date_and_headers(out, date, head.fields, persistence);
    out.extend_from_slice(b"\r\n");
    if !head_only && head.status.allows_body() {
        out.extend_from_slice(body);
    }
}

/// One invalid field of a request body, listed in a 422's error body.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The JSON error body `{"error":{"status":N,"message":"…"}}`, with `"fields":[…]` when there
/// are invalid fields to list.
pub fn error_body(status: StatusCode, message: &str, fields: &[FieldError]) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        error: Detail<'a>,
    }
    #[derive(serde::Serialize)]
    struct Detail<'a> {
        status: u16,
        message: &'a str,
        #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
        fields: &'a [FieldError],
    }
    let envelope = Envelope { error: Detail { status: status.code(), message, fields } };
    // Serializing strings and integers into a Vec cannot fail.
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// The part of a head that varies per response, in the one order both encoders use: `Date`,
/// then `headers`, then `Connection`, ending with the CRLF of the last line.
fn write_date_and_headers<'h>(
    out: &mut Vec<u8>,
    date: &CachedDate,
    fields: Fields<'_, impl IntoIterator<Item = (&'h str, &'h [u8])>>,
    persistence: Persistence,
) {
    out.extend_from_slice(DATE_NAME);
    out.extend_from_slice(date.as_bytes());
    write_headers(out, fields);
    write_connection(out, persistence);
    out.extend_from_slice(b"\r\n");
}

/// The `Connection` line `persistence` needs, if any (HTTP/1.1 keep-alive needs none, and then
/// nothing is copied at all).
#[inline]
fn write_connection(out: &mut Vec<u8>, persistence: Persistence) {
    if persistence != Persistence::KeepAlive {
        out.extend_from_slice(persistence.header_line());
    }
}

/// The name of the `Date` header, which both encoders write first among the varying lines.
const DATE_NAME: &[u8] = b"Date: ";

/// Each field as its own line, after the line before it (`\r\n` first), the request id last.
fn write_headers<'h>(out: &mut Vec<u8>, fields: Fields<'_, impl IntoIterator<Item = (&'h str, &'h [u8])>>) {
    for (name, value) in fields.headers {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
    }
    if let Some(id) = fields.request_id {
        out.extend_from_slice(REQUEST_ID_LINE);
        out.extend_from_slice(id);
    }
}

fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status.code()).as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.reason().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn fixed_date() -> CachedDate {
        CachedDate::at(UNIX_EPOCH + Duration::from_secs(784111777))
    }

    /// No further fields; a request id when `id` is given.
    fn fields(id: Option<&[u8]>) -> Fields<'_, [(&'static str, &'static [u8]); 0]> {
        Fields { headers: [], request_id: id }
    }

    #[test]
    fn precomputed_matches_the_general_encoder() {
        let body = br#"{"message": "Hello bro, this is your HTTP response"}"#;
        let pre = Precomputed::new(StatusCode::OK, "application/json", body);
        for persistence in [Persistence::KeepAlive, Persistence::KeepAliveHttp10, Persistence::Close] {
            for (head_only, id) in [(false, None), (true, None), (false, Some(&b"i-1"[..]))] {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                pre.write(&mut a, &fixed_date(), persistence, fields(id), head_only);
                let head =
                    Head { status: StatusCode::OK, content_type: "application/json", fields: fields(id) };
                write(&mut b, &fixed_date(), persistence, head, body, head_only);
                assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
            }
        }
    }

    #[test]
    fn encodes_the_blog_response_exactly() {
        let body = br#"{"message": "Hello bro, this is your HTTP response"}"#;
        assert_eq!(body.len(), 52);
        let mut out = Vec::new();
        Precomputed::new(StatusCode::OK, "application/json", body).write(
            &mut out,
            &fixed_date(),
            Persistence::Close,
            fields(None),
            false,
        );
        let expected = "HTTP/1.1 200 OK\r\nServer: pollserve\r\nContent-Type: application/json\r\n\
            Content-Length: 52\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n\
            {\"message\": \"Hello bro, this is your HTTP response\"}";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn bodiless_statuses_get_no_length_or_body() {
        let mut out = Vec::new();
        let head = Head {
            status: StatusCode::from_u16(204).unwrap(),
            content_type: "text/plain",
            fields: fields(Some(b"a-1")),
        };
        write(&mut out, &fixed_date(), Persistence::KeepAlive, head, b"ignored", false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 204 No Content\r\nServer: pollserve\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             X-Request-Id: a-1\r\n\r\n"
        );
    }

    #[test]
    fn error_bodies_are_small_json() {
        assert_eq!(
            error_body(StatusCode::NOT_FOUND, "no route for \"/x\"", &[]),
            br#"{"error":{"status":404,"message":"no route for \"/x\""}}"#
        );
    }
}
