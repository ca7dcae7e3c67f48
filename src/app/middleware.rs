//! Middleware: an ordered chain around every handler that can inspect the request, answer
//! early, and change the response.
//!
//! [`Middleware::before`] runs in order, after routing and before the handler; the first one
//! that returns a response answers instead of the handler. [`Middleware::after`] runs in reverse
//! order on every response — handler, early answer, 404 or 405 alike — and, for a deferred
//! handler, when its response arrives. State a middleware needs from `before` to `after` goes
//! in the per-request [`Exchange`].
//!
//! Writing your own: implement the trait and add it with `App::with` (see
//! `examples/custom_api.rs`).

use std::cell::RefCell;
use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::request::Request;
use super::response::{HeaderValue, HttpError, Response};
use crate::http::request::Method;
use crate::http::status::StatusCode;

/// One hook pair in the chain.
pub trait Middleware: Send + Sync + 'static {
    /// Inspects the request; returning a response answers it without calling the handler.
    fn before(&self, request: &Request<'_>, exchange: &mut Exchange) -> Option<Response> {
        let _ = (request, exchange);
        None
    }

    /// Adjusts the response (status, headers, body) on its way out.
    fn after(&self, exchange: &Exchange, response: &mut Response) {
        let _ = (exchange, response);
    }

    /// Adds what this middleware means for a route it runs on to the route's OpenAPI
    /// operation (the auth middleware marks it as needing a token).
    fn describe(&self, operation: &mut super::openapi::Operation) {
        let _ = operation;
    }

    /// Called instead of `before` for a request the connection refused before it could be
    /// routed (malformed, too large, too slow, over capacity). Its answer is fixed, but it is
    /// still an exchange to identify and log; `after` runs on that answer as usual.
    fn rejected(&self, exchange: &mut Exchange) {
        let _ = exchange;
    }
}

/// Per-request state shared by the chain, from `before` to `after`.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// When the worker picked the request up (the loop's clock).
    pub received: Instant,
    /// The request method.
    pub method: Method,
    /// The request id (set by [`RequestId`]). When set, it goes out as the response's last
    /// header, [`REQUEST_ID`](super::response::REQUEST_ID), written by the encoder: no
    /// middleware has to copy it into the response.
    pub request_id: Option<HeaderValue>,
    /// The allowed CORS origin of this request (set by [`Cors`]).
    pub cors_origin: Option<HeaderValue>,
    /// When the handler started (set by [`Timing`]).
    pub handler_started: Option<Instant>,
    /// What the access log says of the request (set by [`AccessLog`](super::access_log::AccessLog)).
    pub access: Option<Box<super::access_log::AccessRecord>>,
    /// Values for the handler, one per type (the auth middleware puts the caller's
    /// [`Principal`] here).
    pub extensions: super::extensions::Extensions,
    /// The id of the endpoint the request was routed to (`usize::MAX`: none), for metrics.
    pub route: usize,
    /// The scope whose middleware ran on the request (0: none), so its `after` hooks run too.
    pub scope: usize,
    /// A deferred response is due within this long, or it is answered 504
    /// ([`Context::run_blocking`](super::Context::run_blocking)).
    pub due_within: Option<std::time::Duration>,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's id.
    pub user_id: i64,
    /// The user's name.
    pub username: std::sync::Arc<str>,
}

impl Exchange {
    /// A fresh exchange for a request.
    pub fn new(received: Instant, method: Method) -> Exchange {
        Exchange {
            received,
            method,
            request_id: None,
            cors_origin: None,
            handler_started: None,
            access: None,
            extensions: super::extensions::Extensions::default(),
            route: usize::MAX,
            scope: 0,
            due_within: None,
        }
    }
}

/// Echoes a well-formed `X-Request-Id`, or generates one, into [`Exchange::request_id`]; every
/// response then carries it.
#[derive(Debug)]
pub struct RequestId {
    /// `instance-`, laid out as an inline header value: an id is this copied, with its thread
    /// and counter digits appended (no allocation, no variable-length copy). The instance name
    /// (at most [`MAX_INSTANCE`] bytes) tells this instance's ids from another's.
    head: [u8; HeaderValue::INLINE],
    /// How many bytes of `head` are used.
    head_len: usize,
    /// Tells this middleware's ids from another's in a thread's cache of the last id.
    instance: u32,
}

/// Longest instance name (the request ids' prefix).
pub const MAX_INSTANCE: usize = 16;

/// Longest client-supplied request id echoed back; longer (or odd-charactered) ones are replaced.
const MAX_CLIENT_REQUEST_ID: usize = 64;

impl RequestId {
    /// The request-id middleware, with a random instance prefix (8 hex digits).
    pub fn new() -> RequestId {
        RequestId::for_instance("")
    }

    /// The request-id middleware for the instance `name`: ids from several instances merged in
    /// one log stay unique. An empty name (or one that is too long or not `[A-Za-z0-9_.-]`)
    /// gets a random prefix.
    pub fn for_instance(name: &str) -> RequestId {
        let valid = !name.is_empty()
            && name.len() <= MAX_INSTANCE
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        let instance = valid.then(|| HeaderValue::try_from_bytes(name.as_bytes())).flatten();
        let instance = instance.unwrap_or_else(random_instance);
        let mut head = [0u8; HeaderValue::INLINE];
        let name = instance.as_bytes();
        head[..name.len()].copy_from_slice(name);
        head[name.len()] = b'-';
        static INSTANCES: AtomicU32 = AtomicU32::new(0);
        let instance = INSTANCES.fetch_add(1, Ordering::Relaxed);
        RequestId { head_len: name.len() + 1, head, instance }
    }

    /// Puts a new id in `slot`: `iiiiiiii-tt-nnnnnnnn`, instance, thread, per-thread counter.
    /// No shared counter, so workers never contend on a cache line for it. Each thread keeps
    /// the last id it made: the next one of the same middleware is that id with its counter's
    /// hex digits incremented (usually one byte), not formatted again.
    ///
    /// The id is built where it stays, and the kept one is copied before either is incremented:
    /// reading bytes back whole just after changing one of them stalls the CPU (the load cannot
    /// be served from the pending byte store), and that stall cost more than the rest of it.
    fn generate_into(&self, slot: &mut Option<HeaderValue>) {
        static NEXT_THREAD: AtomicU32 = AtomicU32::new(0);
        thread_local! {
            static IDS: RefCell<LastId> = const { RefCell::new(LastId::NONE) };
        }
        IDS.with(|last| {
            let mut last = last.borrow_mut();
            if last.thread == u32::MAX {
                last.thread = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            }
            last.count += 1;
            let len = last.len;
            if last.instance == self.instance && len > 0 {
                let id = HeaderValue::inline_in(slot, &last.bytes, len);
                if increment_hex(id) {
                    increment_hex(&mut last.bytes[..len]);
                    return;
                }
            }
            *slot = Some(self.render(&mut last));
        })
    }

    /// The id for `last`'s thread and counter, written out; kept in `last` when it fits inline.
    fn render(&self, last: &mut LastId) -> HeaderValue {
        let start = self.head_len;
        // Instance (≤ 16) + dash + thread + dash + counter: inline up to 30 bytes, which holds
        // any thread number and 2^40 requests with a 16-byte name; past that, the long way.
        let digits = |n: u64| (16 - n.leading_zeros() as usize / 4).max(1);
        let (thread, count) = (u64::from(last.thread), last.count);
        if start + digits(thread) + 1 + digits(count) <= HeaderValue::INLINE {
            let mut bytes = self.head;
            let len = push_hex(&mut bytes, start, thread, 1);
            bytes[len] = b'-';
            let len = push_hex(&mut bytes, len + 1, count, 1);
            *last = LastId { instance: self.instance, bytes, len, ..*last };
            return HeaderValue::from_safe_inline(bytes, len);
        }
        last.len = 0;
        let mut buf = [0u8; MAX_INSTANCE + 26];
        buf[..start].copy_from_slice(&self.head[..start]);
        let mut len = push_hex(&mut buf, start, thread, 1);
        buf[len] = b'-';
        len = push_hex(&mut buf, len + 1, count, 1);
        HeaderValue::from_safe_short(&buf[..len])
    }
}

/// A thread's request-id state: its number, its counter, and the last id it made inline.
#[derive(Clone, Copy)]
struct LastId {
    /// The thread's number (`u32::MAX` until its first id).
    thread: u32,
    /// Ids made on this thread.
    count: u64,
    /// Which [`RequestId`] made `bytes`.
    instance: u32,
    bytes: [u8; HeaderValue::INLINE],
    /// How many of `bytes` are the id (0: none kept).
    len: usize,
}

impl LastId {
    const NONE: LastId =
        LastId { thread: u32::MAX, count: 0, instance: u32::MAX, bytes: [0; HeaderValue::INLINE], len: 0 };
}

/// Adds one to the lowercase hex number at the end of `id`, in place. False when the carry
/// would run past its first digit (the number needs one more digit: write it out instead).
fn increment_hex(id: &mut [u8]) -> bool {
    for digit in id.iter_mut().rev() {
        match *digit {
            b'f' => *digit = b'0',
            b'9' => return set(digit, b'a'),
            b'0'..=b'8' | b'a'..=b'e' => return set(digit, *digit + 1),
            _ => return false,
        }
    }
    false
}

fn set(digit: &mut u8, value: u8) -> bool {
    *digit = value;
    true
}

/// 8 random hex digits (from the clock and the process id if the OS has no randomness).
fn random_instance() -> HeaderValue {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        bytes = (nanos ^ std::process::id().rotate_left(16)).to_be_bytes();
    }
    let mut buf = [0u8; 8];
    let len = push_hex(&mut buf, 0, u64::from(u32::from_be_bytes(bytes)), 8);
    HeaderValue::from_safe_short(&buf[..len])
}

/// Writes `value` in lowercase hex (at least `min_digits` digits) at `buf[at..]`; returns the
/// end. A hand-rolled loop: `write!` costs more than the rest of the request id middleware.
fn push_hex(buf: &mut [u8], at: usize, value: u64, min_digits: usize) -> usize {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (16 - value.leading_zeros() as usize / 4).max(min_digits);
    let mut rest = value;
    for digit in buf[at..at + digits].iter_mut().rev() {
        *digit = DIGITS[(rest & 0xf) as usize];
        rest >>= 4;
    }
    at + digits
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl Middleware for RequestId {
    fn before(&self, request: &Request<'_>, exchange: &mut Exchange) -> Option<Response> {
        let echoed = request.header(super::response::REQUEST_ID).filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_CLIENT_REQUEST_ID
                && id.iter().all(|&b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
        match echoed.and_then(HeaderValue::try_from_bytes) {
            Some(id) => exchange.request_id = Some(id),
            None => self.generate_into(&mut exchange.request_id),
        }
        None
    }

    fn rejected(&self, exchange: &mut Exchange) {
        self.generate_into(&mut exchange.request_id);
    }
}

/// Cross-origin resource sharing: origins on the list may read responses, and their preflight
/// `OPTIONS` requests are answered; every other origin is denied (no CORS headers, preflight 403).
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// Allowed origins, exactly as browsers send them (`https://app.example`); `*` allows any.
    pub allowed_origins: Vec<String>,
}

/// Methods a preflight is told it may use.
const CORS_METHODS: HeaderValue = HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");

/// How long a browser may cache a preflight answer, in seconds.
const CORS_MAX_AGE: HeaderValue = HeaderValue::from_static("600");

impl Cors {
    /// CORS allowing these origins (none: deny all).
    pub fn new(allowed_origins: Vec<String>) -> Cors {
        Cors { allowed_origins }
    }

    fn allows(&self, origin: &[u8]) -> bool {
        self.allowed_origins.iter().any(|allowed| allowed == "*" || allowed.as_bytes() == origin)
    }

    /// [`Middleware::before`] once there is something to check. Out of line, so the common
    /// early return does not pay for this body's stack frame.
    #[inline(never)]
    fn check(&self, request: &Request<'_>, exchange: &mut Exchange) -> Option<Response> {
        let origin = request.header("origin")?;
        let allowed = self.allows(origin);
        if allowed {
            exchange.cors_origin = HeaderValue::try_from_bytes(origin);
        }
        let preflight =
            request.method() == Method::Options && request.header("access-control-request-method").is_some();
        if !preflight {
            return None;
        }
        if !allowed {
            return Some(HttpError::new(StatusCode::FORBIDDEN, "origin not allowed").into());
        }
        let mut response = Response::no_content()
            .with_header("Access-Control-Allow-Methods", CORS_METHODS)
            .with_header("Access-Control-Max-Age", CORS_MAX_AGE);
        if let Some(headers) =
            request.header("access-control-request-headers").and_then(HeaderValue::try_from_bytes)
        {
            response.headers.push(("Access-Control-Allow-Headers", headers));
        }
        Some(response)
    }
}

impl Middleware for Cors {
    fn before(&self, request: &Request<'_>, exchange: &mut Exchange) -> Option<Response> {
        // No origin is allowed and this is no preflight: nothing to find out (the default, so
        // most requests skip the header lookup).
        if self.allowed_origins.is_empty() && request.method() != Method::Options {
            return None;
        }
        self.check(request, exchange)
    }

    fn after(&self, exchange: &Exchange, response: &mut Response) {
        if let Some(origin) = &exchange.cors_origin {
            allow_origin(origin, response);
        }
    }
}

/// Lets `origin` read `response`. Out of line, like [`Cors::check`].
#[inline(never)]
fn allow_origin(origin: &HeaderValue, response: &mut Response) {
    response.headers.push(("Access-Control-Allow-Origin", origin.clone()));
    response.headers.push(("Vary", HeaderValue::from_static("Origin")));
}

/// Adds `Server-Timing: app;dur=<ms>`: the time from the handler's start to its response
/// (for a deferred handler, until the response arrived).
#[derive(Debug, Default)]
pub struct Timing;

impl Middleware for Timing {
    fn before(&self, _request: &Request<'_>, exchange: &mut Exchange) -> Option<Response> {
        exchange.handler_started = Some(Instant::now());
        None
    }

    fn after(&self, exchange: &Exchange, response: &mut Response) {
        let Some(started) = exchange.handler_started else { return };
        let micros = started.elapsed().as_micros();
        let mut buf = [0u8; 40];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(cursor, "app;dur={}.{:03}", micros / 1000, micros % 1000);
        let len = cursor.position() as usize;
        if let Some(value) = HeaderValue::try_from_bytes(&buf[..len]) {
            response.headers.push(("Server-Timing", value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl RequestId {
        fn generate(&self) -> HeaderValue {
            let mut slot = Some(HeaderValue::from_static("overwritten"));
            self.generate_into(&mut slot);
            slot.expect("an id")
        }
    }

    #[test]
    fn request_ids_carry_the_instance_and_count_up() {
        let ids = RequestId::for_instance("abcdefghijklmnop");
        let first = ids.generate();
        let second = ids.generate();
        let (first, second) = (first.as_bytes(), second.as_bytes());
        assert!(first.starts_with(b"abcdefghijklmnop-"), "{:?}", String::from_utf8_lossy(first));
        assert_ne!(first, second);
        let parts: Vec<&[u8]> = second.split(|&b| b == b'-').collect();
        assert_eq!(parts.len(), 3);
        assert!(parts[1..].iter().all(|p| !p.is_empty() && p.iter().all(u8::is_ascii_hexdigit)));
        let random = RequestId::new().generate();
        assert_eq!(random.as_bytes().iter().position(|&b| b == b'-'), Some(8), "8 random hex digits");
        // Counting up in place, across a new digit and between two middlewares on one thread.
        let ids = RequestId::for_instance("x");
        let other = RequestId::for_instance("y");
        let count = |id: &HeaderValue| {
            let text = std::str::from_utf8(id.as_bytes()).unwrap().to_owned();
            u64::from_str_radix(text.rsplit('-').next().unwrap(), 16).unwrap()
        };
        let first = count(&ids.generate());
        for i in 1..40 {
            let id = if i % 7 == 3 { other.generate() } else { ids.generate() };
            assert_eq!(count(&id), first + i, "{:?}", String::from_utf8_lossy(id.as_bytes()));
            assert!(id.as_bytes().starts_with(if i % 7 == 3 { b"y-" } else { b"x-" }));
        }
        let mut id = *b"a-0-fff";
        assert!(!increment_hex(&mut id));
        let mut id = *b"a-0-19f";
        assert!(increment_hex(&mut id));
        assert_eq!(&id, b"a-0-1a0");
        let invalid = RequestId::for_instance("no spaces allowed").generate();
        assert_eq!(invalid.as_bytes().iter().position(|&b| b == b'-'), Some(8), "replaced by a random name");
    }
}
