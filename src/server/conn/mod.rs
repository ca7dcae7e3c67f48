//! One client connection: the state machine that turns received bytes into responses.
//!
//! A [`Conn`] owns its stream, a read buffer reused across requests (`ReadBuf`) and an output
//! buffer that collects every response of a batch so they go out in one `write`. The worker
//! calls [`Conn::on_ready`] whenever the socket may be readable or writable, and
//! [`Conn::on_timeout`] when its deadline passes; everything else happens in here.
//!
//! The connection is generic over [`Stream`], so unit tests and benchmarks drive it with
//! in-memory bytes ([`MemoryStream`](super::memory::MemoryStream)) and no socket.
//!
//! # Layout
//! - `state`: the states, the events and the one transition table;
//! - `read_buf`: received bytes and the cursors over them;
//! - `deadline`: which deadline applies, and what restarts it;
//! - `dispatch`: parsing heads and bodies out of the read buffer and answering them;
//! - `transfer`: moving bytes between the buffers and the stream;
//! - `trace`: what `--trace` prints of the bytes, credentials masked;
//! - `config`: the limits and timeouts, and their defaults;
//! - this file: the events from the worker.
//!
//! One request's path: `fill` reads until `WouldBlock` → `process` parses every complete head
//! in the buffer (`read_head`), waits for bodies (`read_body`), and hands each request to the
//! [`App`], which routes it, runs the middleware and the handler → the response is encoded into
//! `output` → `flush` writes `output` in one call. A deferred handler parks the connection in
//! [`State::Awaiting`] until [`Conn::on_completion`] brings its response.

mod config;
mod deadline;
mod dispatch;
mod read_buf;
mod state;
mod trace;
mod transfer;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

pub use config::ConnConfig;
pub use deadline::{TIMED_OUT_GRACE, TimerKind};
pub use read_buf::INITIAL_READ_BUFFER;
pub use state::{Gone, State};

use super::buffers::BufferPool;
use crate::app::defer::DeferTarget;
use crate::app::{App, HttpError, Response};
use crate::http::date::CachedDate;
use crate::http::error::RequestError;
use crate::http::response::Persistence;
use crate::http::status::StatusCode;
use crate::metrics::{Metrics, Timeout, WorkerMetrics};
use deadline::Deadline;
use read_buf::ReadBuf;
use state::Event;
use transfer::Fill;

/// Once this many response bytes wait unsent, the connection stops parsing requests until the
/// client reads (back-pressure: pipelining cannot grow memory without bound).
pub const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// Parsing resumes when pending output falls below this.
pub const OUTPUT_LOW_WATER: usize = 16 * 1024;

/// Most bytes read and thrown away while lingering. Lingering exists so a client's unread
/// request bytes do not turn our close into a reset; one still sending after this much is not
/// about to close, and is closed.
pub const MAX_LINGER_BYTES: usize = 64 * 1024;

/// A byte stream the connection can read, write and half-close.
pub trait Stream: Read + Write {
    /// Whether a read that returns fewer bytes than asked proves the stream is drained for
    /// now, so the read that would return `WouldBlock` can be skipped.
    const SHORT_READ_DRAINS: bool = false;

    /// Shuts down the write side (sends FIN), keeping the read side open.
    fn shutdown_write(&mut self) -> io::Result<()>;
}

impl Stream for mio::net::TcpStream {
    // Linux epoll, edge-triggered: a read shorter than the buffer emptied the socket's receive
    // queue, and any byte arriving later raises a new edge. So the extra read that would only
    // return EAGAIN is skipped, saving one system call per request (nginx does the same). A FIN
    // that arrived together with the data raises no later edge; the worker passes it in via
    // `Conn::note_read_closed`, and then the connection reads on to end-of-stream.
    const SHORT_READ_DRAINS: bool = cfg!(target_os = "linux");

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

/// What a connection borrows from its worker for one call.
pub struct Ctx<'a> {
    /// The endpoints.
    pub app: &'a App,
    /// Limits and timeouts.
    pub config: &'a ConnConfig,
    /// The worker's cached `Date` value.
    pub date: &'a CachedDate,
    /// The worker loop's notion of now (read once per wakeup).
    pub now: Instant,
    /// The server is shutting down: every response is the last on its connection.
    pub draining: bool,
    /// The worker's spare buffers, lent to connections while they have bytes in flight.
    pub buffers: &'a mut BufferPool,
    /// Where deferred responses come back (none: handlers cannot defer).
    pub defer: Option<&'a DeferTarget>,
    /// The server's metrics, and this worker's counters in them.
    pub metrics: &'a Metrics,
    /// This worker's counters.
    pub counters: &'a WorkerMetrics,
}

/// Who a connection is, for tracing and for routing deferred responses back to it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity {
    /// The connection's slot in its worker.
    pub key: usize,
    /// Unique per worker, never reused.
    pub id: u64,
    /// The client's address.
    pub peer: Option<SocketAddr>,
}

/// A client connection over any [`Stream`].
pub struct Conn<S> {
    stream: S,
    identity: Identity,
    /// Print bytes and transitions (`--trace`).
    trace: bool,
    state: State,
    input: ReadBuf,
    /// Queued response bytes; `output[written..]` is not yet sent. Empty (unallocated) while
    /// nothing is queued: borrowed from the worker's [`BufferPool`] like the read buffer.
    output: Vec<u8>,
    written: usize,
    /// The peer shut down its write side (read returned 0).
    peer_eof: bool,
    /// The poller reported the read side closed (or an error): read until end-of-stream even
    /// after a short read.
    read_closed_hint: bool,
    deadline: Deadline,
    /// Requests handed to the app so far: each one's ticket for a deferred response.
    tickets: u64,
}

impl<S: Stream> Conn<S> {
    /// A new connection in [`State::ReadingHead`], with its idle deadline starting at `now`.
    pub fn new(stream: S, identity: Identity, config: &ConnConfig, now: Instant) -> Self {
        if config.trace {
            log::trace!("conn#{} open from {:?}", identity.id, identity.peer);
        }
        Conn {
            stream,
            identity,
            trace: config.trace,
            state: State::ReadingHead,
            input: ReadBuf::default(),
            output: Vec::new(),
            written: 0,
            peer_eof: false,
            read_closed_hint: false,
            deadline: Deadline::new(config, now),
            tickets: 0,
        }
    }

    /// Who this connection is.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The stream, e.g. for (de)registering it with the poller.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Whether the worker should drop this connection.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// Whether response bytes are waiting for the socket to become writable.
    pub fn has_pending_output(&self) -> bool {
        self.written < self.output.len()
    }

    /// When [`Conn::on_timeout`] should be called, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.at()
    }

    /// Whether the connection is between requests with nothing in flight.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::ReadingHead) && self.input.is_empty() && !self.has_pending_output()
    }

    /// The poller saw the peer's FIN (or an error) with this readiness event.
    pub fn note_read_closed(&mut self) {
        self.read_closed_hint = true;
    }

    /// Bytes of buffer this connection holds right now (0 when idle).
    pub fn buffered_capacity(&self) -> usize {
        self.input.capacity() + self.output.capacity()
    }

    /// The socket may be readable or writable: move bytes and requests as far as they go.
    pub fn on_ready(&mut self, ctx: &mut Ctx<'_>) {
        if self.is_closed() {
            return;
        }
        self.borrow_buffers(ctx.buffers);
        loop {
            self.flush();
            if matches!(self.state, State::BackedUp) && self.pending_output() < OUTPUT_LOW_WATER {
                self.transition(Event::OutputDrained);
            }
            let fill = if self.wants_input() { self.fill(ctx.config) } else { Fill::Drained };
            self.process(ctx);
            self.flush();
            // A full buffer may hide more bytes in the socket: once there is room again (requests
            // consumed, or a parsed head raised the limit to its body's size), read again, since
            // edge-triggered readiness will not report those bytes a second time.
            if !(fill == Fill::Full && self.wants_input() && self.has_room(ctx.config)) {
                break;
            }
        }
        self.finish_if_done();
        self.return_buffers(ctx.buffers);
        self.update_deadline(ctx);
    }

    /// A deferred response for request `ticket` arrived: send it, then carry on with any
    /// requests queued behind it.
    pub fn on_completion(&mut self, mut response: Response, ticket: u64, ctx: &mut Ctx<'_>) {
        let State::Awaiting(awaiting) = &self.state else {
            return; // closed meanwhile, or not waiting: nothing to answer
        };
        if awaiting.ticket != ticket {
            // For a request that was answered otherwise: its handler returned a response after
            // deferring, and that response went out.
            return log::debug!("conn#{} dropped a late response for request {ticket}", self.identity.id);
        }
        ctx.app.finish(&awaiting.exchange, &mut response);
        let persistence = if ctx.draining { Persistence::Close } else { awaiting.persistence };
        let head_only = awaiting.head_only;
        let waited = WorkerMetrics::elapsed(awaiting.exchange.received, ctx.now);
        ctx.counters.record(awaiting.exchange.route, response.status.code(), waited);
        let id = awaiting.exchange.request_id.clone();
        self.borrow_buffers(ctx.buffers);
        let start = self.output.len();
        response.write_to(&mut self.output, ctx.date, persistence, head_only, id.as_ref());
        self.trace_response(start);
        self.transition(Event::Completed { keep_alive: persistence != Persistence::Close });
        self.on_ready(ctx);
    }

    /// The deadline passed: answer 408 to a request that did not arrive in time, or close.
    pub fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let Some(kind) = self.deadline.expired(ctx.now) else {
            return;
        };
        match kind {
            TimerKind::Header | TimerKind::Body => {
                ctx.counters.timed_out(if kind == TimerKind::Header {
                    Timeout::Header
                } else {
                    Timeout::Body
                });
                self.deadline.close_within_grace(ctx.now);
                self.borrow_buffers(ctx.buffers);
                self.reject(RequestError::Timeout, ctx);
                self.flush();
                self.finish_if_done();
                self.return_buffers(ctx.buffers);
            }
            TimerKind::Handler => {
                let State::Awaiting(awaiting) = &self.state else { return };
                let ticket = awaiting.ticket;
                let late = HttpError::new(StatusCode::GATEWAY_TIMEOUT, "the handler did not answer in time")
                    .with_cause("a deferred response was not ready within the handler's limit");
                // Answered like any deferred response; the real one, if it comes, is dropped.
                self.deadline.clear();
                return self.on_completion(late.into(), ticket, ctx);
            }
            TimerKind::Idle | TimerKind::Write | TimerKind::Linger => {
                self.transition(Event::Gone(Gone::TimedOut(kind)));
            }
        }
        self.deadline.clear();
        self.update_deadline(ctx);
    }

    /// The server is shutting down: close now if idle; otherwise the next response closes.
    pub fn on_drain(&mut self) {
        if self.is_idle() {
            self.transition(Event::Gone(Gone::Drained));
        }
    }

    /// Takes buffers from the pool for this wakeup, unless the connection still holds its own.
    fn borrow_buffers(&mut self, pool: &mut BufferPool) {
        self.input.borrow_from(pool);
        if self.output.capacity() == 0 {
            self.output = pool.take_output();
        }
    }

    /// Gives buffers back once nothing in them is still needed: an idle connection holds none.
    /// A pending body keeps the read buffer even before its first byte (its head is in it).
    fn return_buffers(&mut self, pool: &mut BufferPool) {
        if !matches!(self.state, State::ReadingBody(_)) {
            self.input.return_to(pool);
        }
        if !self.has_pending_output() {
            self.written = 0;
            pool.put_output(std::mem::take(&mut self.output));
        }
    }

    fn pending_output(&self) -> usize {
        self.output.len() - self.written
    }

    /// Whether reading more input is useful in the current state.
    fn wants_input(&self) -> bool {
        !self.peer_eof
            && matches!(self.state, State::ReadingHead | State::ReadingBody(_) | State::Lingering { .. })
    }

    /// Closes once the peer has gone and nothing is left to send or linger for.
    fn finish_if_done(&mut self) {
        if self.peer_eof && self.state.is_settled_by_peer_eof(self.has_pending_output()) {
            self.transition(Event::Gone(Gone::PeerClosed));
        }
    }

    /// The single place the state changes ([`State::next`] holds the rules); traces changes.
    #[inline]
    fn transition(&mut self, event: Event) {
        // The event of almost every request changes nothing (the table says so too): skip
        // moving the state and the event through it, and the call.
        if matches!((&self.state, &event), (State::ReadingHead, Event::Responded { keep_alive: true })) {
            return;
        }
        self.change(event);
    }

    /// [`Conn::transition`] through the table, traced when tracing.
    fn change(&mut self, event: Event) {
        let state = std::mem::replace(&mut self.state, State::Closed(Gone::Failed));
        if !self.trace {
            self.state = state.next(event);
            return;
        }
        let from = state.to_string();
        self.state = state.next(event);
        let to = self.state.to_string();
        if from != to {
            log::trace!("conn#{} {from} -> {to}", self.identity.id);
        }
    }

    /// Sets the deadline for the state the connection is in now.
    fn update_deadline(&mut self, ctx: &Ctx<'_>) {
        let kind = TimerKind::for_state(&self.state, !self.input.is_empty(), self.has_pending_output());
        let due = match &self.state {
            State::Awaiting(awaiting) => awaiting.due,
            _ => None,
        };
        self.deadline.update(kind, due, ctx.config, ctx.now);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::server::memory::{Driver, MemoryStream};

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    const GET_404: &[u8] = b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n";

    /// The built-in endpoints without middleware: deterministic output.
    static APP: std::sync::LazyLock<App> = std::sync::LazyLock::new(crate::site::endpoints);

    /// A connection over a memory stream, and the driver that lends it what a worker would.
    struct Harness {
        conn: Conn<MemoryStream>,
        driver: Driver<'static>,
    }

    impl Harness {
        fn new() -> Self {
            let driver = Driver::new(&APP, ConnConfig::default());
            Harness { conn: driver.connect(), driver }
        }

        fn ready(&mut self) {
            self.driver.ready(&mut self.conn);
        }

        fn timeout(&mut self) {
            self.driver.timeout(&mut self.conn);
        }

        /// Delivers `bytes` in one chunk and returns what the connection wrote.
        fn send(&mut self, bytes: &[u8]) -> String {
            self.driver.feed(&mut self.conn, bytes);
            String::from_utf8(self.conn.stream.take_written()).unwrap()
        }
    }

    fn statuses(output: &str) -> Vec<&str> {
        output.match_indices("HTTP/1.1 ").map(|(i, _)| &output[i + 9..i + 12]).collect()
    }

    #[test]
    fn answers_get_root_with_the_blog_response() {
        let mut h = Harness::new();
        let out = h.send(GET);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nServer: pollserve\r\nContent-Type: application/json\r\nContent-Length: 52\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n{\"message\": \"Hello bro, this is your HTTP response\"}"
        );
        assert!(matches!(h.conn.state(), State::ReadingHead));
        assert!(h.conn.is_idle());
    }

    #[test]
    fn idle_connections_hold_no_buffers_and_reuse_the_pooled_ones() {
        let mut h = Harness::new();
        assert_eq!(h.conn.buffered_capacity(), 0);
        h.send(GET);
        assert_eq!(h.conn.buffered_capacity(), 0);
        assert_eq!(h.driver.buffers.spares(), (1, 1));
        // A partial request keeps its read buffer until the request completes.
        h.send(b"GET / HTTP/1.1\r\n");
        assert_eq!(h.conn.buffered_capacity(), INITIAL_READ_BUFFER);
        assert_eq!(h.driver.buffers.spares(), (0, 1));
        h.send(b"Host: t\r\n\r\n");
        assert_eq!(h.conn.buffered_capacity(), 0);
    }

    #[test]
    fn pipelined_requests_get_responses_in_order_in_one_write() {
        let mut h = Harness::new();
        let batch: Vec<u8> = (0..16).flat_map(|i| if i % 3 == 0 { GET_404 } else { GET }).copied().collect();
        let out = h.send(&batch);
        let expected: Vec<&str> = (0..16).map(|i| if i % 3 == 0 { "404" } else { "200" }).collect();
        assert_eq!(statuses(&out), expected);
        assert_eq!(h.conn.stream.write_calls, 1);
    }

    #[test]
    fn byte_by_byte_delivery_gives_identical_output() {
        let stream: Vec<u8> =
            [GET, GET_404, b"POST /json HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", GET].concat();
        let whole = Harness::new().send(&stream);
        let mut h = Harness::new();
        let mut pieces = String::new();
        for byte in &stream {
            pieces += &h.send(std::slice::from_ref(byte));
        }
        assert_eq!(pieces, whole);
        assert_eq!(statuses(&whole), ["200", "404", "405", "200"]);
    }

    #[test]
    fn a_head_whose_body_comes_later_is_seen_by_the_handler_as_sent() {
        // The head is parsed once; its positions are kept while the body arrives (more fields
        // than the first parse makes room for, a query, a body in two reads).
        let fields: String = (0..12).map(|i| format!("X-Field-{i}: value {i}\r\n")).collect();
        let head = format!("POST /echo?a=1&b=two HTTP/1.1\r\nHost: t\r\n{fields}Content-Length: 10\r\n\r\n");
        let whole = Harness::new().send(&[head.as_bytes(), b"0123456789"].concat());
        let mut h = Harness::new();
        let mut pieces = h.send(head.as_bytes());
        pieces += &h.send(b"01234");
        pieces += &h.send(b"56789");
        assert_eq!(pieces, whole);
        assert_eq!(statuses(&whole), ["200"]);
        for expected in ["X-Field-11", "value 11", r#""b":"two""#, "0123456789"] {
            assert!(whole.contains(expected), "{expected} in {whole}");
        }
    }

    #[test]
    fn http10_closes_unless_keep_alive_was_asked() {
        let mut h = Harness::new();
        let out = h.send(b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n");
        assert_eq!(statuses(&out), ["200"]);
        assert!(out.contains("Connection: close\r\n"));
        assert!(h.conn.stream.shut_down);

        let mut h = Harness::new();
        let out = h.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(out.contains("Connection: keep-alive\r\n"));
        assert!(matches!(h.conn.state(), State::ReadingHead));
    }

    #[test]
    fn connection_close_ends_after_one_response() {
        let mut h = Harness::new();
        let out = h.send(&[b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", GET].concat());
        assert_eq!(statuses(&out), ["200"]);
        assert!(matches!(h.conn.state(), State::Lingering { .. }));
        h.conn.stream.close_write();
        h.ready();
        assert!(h.conn.is_closed());
    }

    #[test]
    fn head_gets_headers_only_then_the_next_request_is_served() {
        let mut h = Harness::new();
        let out = h.send(&[b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", GET].concat());
        assert_eq!(statuses(&out), ["200", "200"]);
        let first = &out[..out.find("\r\n\r\n").unwrap() + 4];
        assert!(first.contains("Content-Length: 52"));
        assert_eq!(out.matches("Hello bro").count(), 1);
    }

    #[test]
    fn chunked_body_is_decoded_and_the_connection_reused() {
        let mut h = Harness::new();
        let req = b"POST /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\n";
        let out = h.send(&[&req[..], GET].concat());
        assert_eq!(statuses(&out), ["404", "200"]);
    }

    #[test]
    fn a_body_larger_than_the_head_limit_arriving_at_once_is_read_completely() {
        // Regression (found by schemathesis): the buffer filled at the head limit, the head
        // was parsed, and the connection stopped reading with the body still in the socket.
        let mut h = Harness::new();
        let body = "x".repeat(100_000);
        let request =
            format!("POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        let out = h.send(&[request.as_bytes(), GET].concat());
        assert_eq!(statuses(&out), ["404", "200"]);
        let chunked = format!(
            "POST /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n186a0\r\n{body}\r\n0\r\n\r\n"
        );
        let out = h.send(&[chunked.as_bytes(), GET].concat());
        assert_eq!(statuses(&out), ["404", "200"]);
    }

    #[test]
    fn expect_continue_gets_100_before_the_body() {
        let mut h = Harness::new();
        let out = h.send(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(out, "HTTP/1.1 100 Continue\r\n\r\n");
        let out = h.send(b"hello");
        assert_eq!(statuses(&out), ["404"]);
    }

    #[test]
    fn body_over_the_limit_is_refused_before_reading_it() {
        let mut h = Harness::new();
        let out = h
            .send(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(statuses(&out), ["413"]);
        assert!(!out.contains("100 Continue"));
        assert!(out.contains("Connection: close"));
    }

    #[test]
    fn malformed_request_gets_400_and_close() {
        let mut h = Harness::new();
        let out = h.send(b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n");
        assert_eq!(statuses(&out), ["400"]);
        assert!(out.ends_with(r#"{"error":{"status":400,"message":"invalid header name"}}"#));
        assert!(h.conn.stream.shut_down);
    }

    #[test]
    fn half_closed_client_still_gets_its_response() {
        let mut h = Harness::new();
        h.conn.stream.push(GET);
        h.conn.stream.close_write();
        h.ready();
        assert_eq!(statuses(&String::from_utf8(h.conn.stream.take_written()).unwrap()), ["200"]);
        assert!(h.conn.is_closed());
    }

    #[test]
    fn a_client_that_does_not_read_gets_back_pressure() {
        let mut h = Harness::new();
        h.conn.stream.write_budget = Some(0);
        let batch: Vec<u8> = GET.repeat(100);
        for _ in 0..50 {
            h.conn.stream.push(&batch);
        }
        h.ready();
        assert!(matches!(h.conn.state(), State::BackedUp));
        assert!(h.conn.output.len() < OUTPUT_HIGH_WATER + 1024);
        assert!(h.conn.input.capacity() <= h.driver.config.max_head_bytes);
        // The client starts reading: every request is answered, in order.
        h.conn.stream.write_budget = None;
        let mut out = String::new();
        for _ in 0..200 {
            h.ready();
            out += &String::from_utf8(h.conn.stream.take_written()).unwrap();
        }
        assert_eq!(statuses(&out).len(), 5000);
    }

    #[test]
    fn partial_writes_are_resumed() {
        let whole = Harness::new().send(&GET.repeat(3));
        let mut h = Harness::new();
        h.conn.stream.write_budget = Some(10);
        let mut out = h.send(&GET.repeat(3));
        assert_eq!(out.len(), 10);
        assert!(h.conn.has_pending_output());
        h.conn.stream.write_budget = None;
        h.ready();
        out += &String::from_utf8(h.conn.stream.take_written()).unwrap();
        assert_eq!(out, whole);
        assert!(!h.conn.has_pending_output());
    }

    #[test]
    fn slow_head_times_out_with_408() {
        let mut h = Harness::new();
        h.send(b"GET / HTTP/1.1\r\nHo");
        let deadline = h.conn.deadline().unwrap();
        assert_eq!(deadline, h.driver.now + h.driver.config.header_timeout);
        h.driver.now = deadline;
        h.timeout();
        let out = String::from_utf8(h.conn.stream.take_written()).unwrap();
        assert_eq!(statuses(&out), ["408"]);
        assert!(matches!(h.conn.state(), State::Lingering { .. }));
    }

    #[test]
    fn trickled_header_lines_never_move_the_header_deadline() {
        let mut h = Harness::new();
        h.send(b"GET / HTTP/1.1\r\n");
        let deadline = h.conn.deadline().unwrap();
        assert_eq!(deadline, h.driver.now + h.driver.config.header_timeout);
        // One header line every half second, right up to the deadline.
        while h.driver.now + Duration::from_millis(500) < deadline {
            h.driver.now += Duration::from_millis(500);
            assert_eq!(h.send(b"X-Trickle: 1\r\n"), "");
            assert_eq!(h.conn.deadline(), Some(deadline), "a trickled line moved the deadline");
            h.timeout(); // early: nothing happens
            assert!(h.conn.stream.written.is_empty());
        }
        h.driver.now = deadline;
        h.timeout();
        assert_eq!(statuses(&String::from_utf8(h.conn.stream.take_written()).unwrap()), ["408"]);
    }

    /// Times a connection out with a partial head and returns when the 408 was decided.
    fn time_out_a_partial_head(h: &mut Harness) -> Instant {
        h.send(b"GET / HTTP/1.1\r\nHo");
        h.driver.now = h.conn.deadline().unwrap();
        h.timeout();
        h.driver.now
    }

    #[test]
    fn a_timed_out_connection_is_gone_within_the_grace_whatever_the_client_sends() {
        let mut h = Harness::new();
        let timed_out = time_out_a_partial_head(&mut h);
        assert!(matches!(h.conn.state(), State::Lingering { .. }));
        for _ in 0..9 {
            h.driver.now += Duration::from_millis(100);
            h.send(b"X-Trickle: 1\r\n");
            assert!(h.conn.deadline().unwrap() <= timed_out + TIMED_OUT_GRACE);
        }
        h.driver.now = timed_out + TIMED_OUT_GRACE;
        h.timeout();
        assert!(h.conn.is_closed());
    }

    #[test]
    fn a_timed_out_client_that_does_not_read_is_gone_within_the_grace() {
        let mut h = Harness::new();
        h.conn.stream.write_budget = Some(10);
        let timed_out = time_out_a_partial_head(&mut h);
        assert!(matches!(h.conn.state(), State::Closing), "the 408 waits for the client");
        assert_eq!(h.conn.deadline(), Some(timed_out + TIMED_OUT_GRACE));
        h.conn.stream.write_budget = Some(1); // a byte at a time: progress, yet no extension
        h.driver.now += Duration::from_millis(500);
        h.ready();
        assert_eq!(h.conn.deadline(), Some(timed_out + TIMED_OUT_GRACE));
        h.driver.now = timed_out + TIMED_OUT_GRACE;
        h.timeout();
        assert!(h.conn.is_closed());
    }

    #[test]
    fn lingering_after_an_error_is_bounded_by_time_and_by_bytes() {
        let mut h = Harness::new();
        assert_eq!(statuses(&h.send(b"BAD\r\n\r\n")), ["400"]);
        assert!(matches!(h.conn.state(), State::Lingering { .. }));
        assert_eq!(h.conn.deadline(), Some(h.driver.now + h.driver.config.linger_timeout));
        h.send(&[b'x'; MAX_LINGER_BYTES]);
        assert!(matches!(h.conn.state(), State::Lingering { discarded: MAX_LINGER_BYTES }));
        h.send(b"x");
        assert!(h.conn.is_closed(), "still lingering after {} bytes", MAX_LINGER_BYTES + 1);
    }

    #[test]
    fn idle_connections_close_at_the_idle_deadline() {
        let mut h = Harness::new();
        h.send(GET);
        h.driver.now += h.driver.config.idle_timeout;
        h.timeout();
        assert!(h.conn.is_closed());
        assert!(h.conn.stream.written.is_empty());
    }
}
