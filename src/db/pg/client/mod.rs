//! One worker's PostgreSQL connections, driven by that worker's event loop.
//!
//! Each connection (`Link`) is a non-blocking socket registered with the worker's `Poll` and a
//! [`Session`] that speaks the protocol. Queries from this worker's handlers wait in one queue;
//! once per loop turn they go out in batches to the connections that are free,
//! one `Sync` per batch, one batch per connection at a time, and the replies come back on
//! readiness, in order. Nothing here blocks:
//! connecting, logging in, preparing and reconnecting are states of a link, moved on by
//! readiness and deadlines.
//!
//! A link's states: `Waiting` (the schema is not ready yet, or backing off after a failure) →
//! `Connecting` (TCP) → `Handshaking` (logging in, preparing statements) → `Ready` (queries in
//! flight or not) → on any failure `Waiting` again, with every query it had in flight answered
//! "unavailable".

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use bytes::Buf;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use postgres_protocol::message::backend::DataRowBody;

use super::proto::{Fatal, Login, Notification, Outcome, Phase, Query, Session};
use super::sql::{REVOKED_CHANNEL, STATEMENTS};
use crate::nonblocking::{interrupted, would_block};
use crate::store::{Changes, StoreError};

/// What a query's answer goes to: its rows once its batch committed, or why not.
pub type Reply = Box<dyn FnOnce(Result<Vec<DataRowBody>, StoreError>) + Send>;

/// A query and where its answer goes.
pub struct Request {
    /// The query.
    pub query: Query,
    /// Where its answer goes.
    pub reply: Reply,
}

/// Most queries waiting per worker before new ones are refused (busy, 503).
pub const MAX_QUEUE: usize = 1024;
/// Most queries sent with one `Sync`. A connection carries one batch at a time: what arrives
/// meanwhile waits and goes out as the next batch, so a batch of writes shares one commit (one
/// WAL flush) however many requests it holds.
pub const MAX_BATCH: usize = 256;
/// First wait before reconnecting; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait before reconnecting.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often a link looks again whether the schema is ready.
const SCHEMA_POLL: Duration = Duration::from_millis(50);

/// What every worker's client shares: where the database is and how to behave.
#[derive(Debug)]
pub struct Settings {
    /// The server's address.
    pub addr: SocketAddr,
    /// Who to log in as.
    pub login: Login,
    /// Longest a query may wait and run before it is answered "unavailable".
    pub query_timeout: Duration,
    /// Longest a connection may take to connect, log in and prepare.
    pub connect_timeout: Duration,
    /// Set once the schema is migrated: links connect only after.
    pub schema_ready: AtomicBool,
    /// Told of revocations other instances make (every link listens for them), and of
    /// reconnections (notices may have been missed meanwhile).
    pub changes: Arc<dyn Changes>,
    /// Queries waiting in every worker's queue (for `/metrics`).
    pub queued: AtomicUsize,
}

/// A query in a session, and when it must be answered by.
struct Tagged {
    reply: Reply,
    deadline: Instant,
}

/// Where a link is (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not connected; connects at the instant.
    Waiting(Instant),
    /// The TCP connection is being made, until the deadline.
    Connecting(Instant),
    /// Logging in and preparing statements, until the deadline.
    Handshaking(Instant),
    /// Serving queries.
    Ready,
}

/// One connection.
struct Link {
    token: Token,
    state: State,
    stream: Option<TcpStream>,
    session: Option<Session<Tagged>>,
    /// Failures since the link was last ready (for the backoff).
    failures: u32,
    /// Whether the last failure was logged (one line per outage, not one per attempt).
    outage_logged: bool,
}

impl Link {
    /// Ready, with no batch in flight.
    fn is_free(&self) -> bool {
        self.state == State::Ready && self.session.as_ref().is_some_and(|s| s.in_flight() == 0)
    }

    /// When this link must be looked at again regardless of readiness.
    fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Waiting(at) | State::Connecting(at) | State::Handshaking(at) => Some(at),
            State::Ready => self.session.as_ref().and_then(|s| s.first_in_flight()).map(|t| t.deadline),
        }
    }
}

/// One worker's connections and queue.
pub struct Client {
    settings: Arc<Settings>,
    registry: Registry,
    links: Vec<Link>,
    queue: VecDeque<(Request, Instant)>,
    remote: Receiver<Request>,
    outcomes: Vec<Outcome<Tagged>>,
    read_buf: Box<[u8]>,
    /// This client's share of [`Settings::queued`].
    published: usize,
}

impl Client {
    /// A client with `connections` links using tokens `first_token..`; they connect on the
    /// first [`Client::turn`].
    pub fn new(
        settings: Arc<Settings>,
        registry: Registry,
        first_token: usize,
        connections: usize,
        remote: Receiver<Request>,
        now: Instant,
    ) -> Client {
        let links = (0..connections.max(1))
            .map(|i| Link {
                token: Token(first_token + i),
                state: State::Waiting(now),
                stream: None,
                session: None,
                failures: 0,
                outage_logged: false,
            })
            .collect();
        Client {
            settings,
            registry,
            links,
            queue: VecDeque::new(),
            remote,
            outcomes: Vec::new(),
            read_buf: vec![0; 64 * 1024].into_boxed_slice(),
            published: 0,
        }
    }

    /// Queues a query. Answered at once when no connection is up or coming up ("unavailable")
    /// or when the queue is full ("busy").
    pub fn submit(&mut self, request: Request, now: Instant) {
        let reachable = self.links.iter().any(|l| !matches!(l.state, State::Waiting(_)) || l.failures == 0);
        if !reachable || !self.settings.schema_ready.load(Ordering::Acquire) {
            return (request.reply)(Err(StoreError::unavailable("PostgreSQL is not reachable")));
        }
        if self.queue.len() >= MAX_QUEUE {
            return (request.reply)(Err(StoreError::busy("the PostgreSQL queue is full")));
        }
        self.queue.push_back((request, now + self.settings.query_timeout));
    }

    /// Readiness on one of this client's tokens.
    pub fn on_ready(&mut self, token: Token, now: Instant) {
        if let Some(index) = self.links.iter().position(|l| l.token == token) {
            self.drive(index, now);
            self.deliver();
        }
    }

    /// Once per loop turn: take queries from other threads, answer what timed out, (re)connect
    /// links that are due, send what is queued.
    pub fn turn(&mut self, now: Instant) {
        while let Ok(request) = self.remote.try_recv() {
            self.submit(request, now);
        }
        self.expire(now);
        for index in 0..self.links.len() {
            if let State::Waiting(at) = self.links[index].state
                && at <= now
            {
                self.connect(index, now);
            }
        }
        self.dispatch(now);
        self.deliver();
        self.publish_depth();
    }

    /// Brings this client's share of the queue count up to date.
    fn publish_depth(&mut self) {
        let depth = self.queue.len();
        if depth > self.published {
            self.settings.queued.fetch_add(depth - self.published, Ordering::Relaxed);
        } else {
            self.settings.queued.fetch_sub(self.published - depth, Ordering::Relaxed);
        }
        self.published = depth;
    }

    /// When [`Client::turn`] must run next: at once if queries wait for a ready connection
    /// (including queries from other threads, or from this loop's reply callbacks).
    pub fn next_deadline(&mut self, now: Instant) -> Option<Instant> {
        while let Ok(request) = self.remote.try_recv() {
            self.submit(request, now);
        }
        if self.links.iter().any(Link::is_free) && !self.queue.is_empty() {
            return Some(now);
        }
        let queued = self.queue.front().map(|(_, deadline)| *deadline);
        self.links.iter().filter_map(Link::deadline).chain(queued).min()
    }

    /// Answers queued queries and connections that ran out of time.
    fn expire(&mut self, now: Instant) {
        while self.queue.front().is_some_and(|(_, deadline)| *deadline <= now) {
            if let Some((request, _)) = self.queue.pop_front() {
                (request.reply)(Err(StoreError::unavailable("no PostgreSQL connection was free in time")));
            }
        }
        for index in 0..self.links.len() {
            let link = &self.links[index];
            let late = link.deadline().is_some_and(|at| at <= now);
            match link.state {
                State::Connecting(_) | State::Handshaking(_) if late => {
                    self.fail(index, "connecting to PostgreSQL timed out", now);
                }
                State::Ready if late => self.fail(index, "a PostgreSQL query timed out", now),
                _ => {}
            }
        }
    }

    fn connect(&mut self, index: usize, now: Instant) {
        if !self.settings.schema_ready.load(Ordering::Acquire) {
            self.links[index].state = State::Waiting(now + SCHEMA_POLL);
            return;
        }
        let mut stream = match TcpStream::connect(self.settings.addr) {
            Ok(stream) => stream,
            Err(e) => return self.fail(index, &format!("cannot connect to PostgreSQL: {e}"), now),
        };
        let link = &mut self.links[index];
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.registry.register(&mut stream, link.token, interest) {
            return self.fail(index, &format!("cannot register the PostgreSQL socket: {e}"), now);
        }
        let _ = stream.set_nodelay(true);
        link.stream = Some(stream);
        link.session = Some(Session::new(self.settings.login.clone(), STATEMENTS));
        link.state = State::Connecting(now + self.settings.connect_timeout);
    }

    /// Moves a link's bytes: finish connecting, read until the socket would block, write what
    /// is pending.
    fn drive(&mut self, index: usize, now: Instant) {
        if let Err(cause) = self.exchange(index) {
            return self.fail(index, &cause, now);
        }
        let link = &mut self.links[index];
        if matches!(link.state, State::Handshaking(_))
            && link.session.as_ref().is_some_and(|s| s.phase() == Phase::Ready)
        {
            if link.failures > 0 {
                // Revocations made while this link was down were not heard: forget the cache.
                self.settings.changes.missed();
            }
            if link.outage_logged {
                log::info!("reconnected to PostgreSQL");
            }
            link.state = State::Ready;
            link.failures = 0;
            link.outage_logged = false;
            if let Some(session) = link.session.as_mut() {
                let listen = Query::simple(&["LISTEN ", REVOKED_CHANNEL].concat());
                let ignore: Reply = Box::new(|_| {});
                session
                    .send([(Tagged { reply: ignore, deadline: now + self.settings.query_timeout }, listen)]);
            }
            // Prepared and ready: send what waited for it.
            self.dispatch(now);
        }
    }

    /// The socket work of [`Client::drive`]; `Err` is why the link must close.
    fn exchange(&mut self, index: usize) -> Result<(), String> {
        let link = &mut self.links[index];
        let (Some(stream), Some(session)) = (link.stream.as_mut(), link.session.as_mut()) else {
            return Ok(());
        };
        if let State::Connecting(deadline) = link.state {
            if let Ok(Some(e)) | Err(e) = stream.take_error() {
                return Err(format!("cannot connect to PostgreSQL: {e}"));
            }
            match stream.peer_addr() {
                Ok(_) => link.state = State::Handshaking(deadline),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(format!("cannot connect to PostgreSQL: {e}")),
            }
        }
        loop {
            match stream.read(&mut self.read_buf) {
                Ok(0) => return Err("PostgreSQL closed the connection".to_owned()),
                Ok(n) => {
                    session.receive(&self.read_buf[..n], &mut self.outcomes).map_err(describe)?;
                    for notification in session.notifications() {
                        revoked(&*self.settings.changes, &notification);
                    }
                }
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => {}
                Err(e) => return Err(format!("reading from PostgreSQL: {e}")),
            }
        }
        write_pending(stream, session)
    }

    /// Sends queued queries, a batch to each free link.
    fn dispatch(&mut self, now: Instant) {
        let deadline = now + self.settings.query_timeout;
        for link in self.links.iter_mut().filter(|l| l.is_free()) {
            if self.queue.is_empty() {
                break;
            }
            let take = MAX_BATCH.min(self.queue.len());
            let Some(session) = link.session.as_mut() else { continue };
            let batch = self.queue.drain(..take);
            session
                .send(batch.map(|(request, _)| (Tagged { reply: request.reply, deadline }, request.query)));
        }
        for index in 0..self.links.len() {
            let link = &mut self.links[index];
            let (Some(stream), Some(session)) = (link.stream.as_mut(), link.session.as_mut()) else {
                continue;
            };
            if link.state != State::Ready || session.output().is_empty() {
                continue;
            }
            if let Err(cause) = write_pending(stream, session) {
                self.fail(index, &cause, now);
            }
        }
    }

    /// Hands out what finished: results, errors, and queries to send again (first in line, in
    /// their order).
    fn deliver(&mut self) {
        let mut retry = Vec::new();
        for outcome in self.outcomes.drain(..) {
            match outcome {
                Outcome::Rows(tag, rows) => (tag.reply)(Ok(rows)),
                Outcome::Failed(tag, error) if error.is_transient() => {
                    (tag.reply)(Err(StoreError::unavailable(error)));
                }
                Outcome::Failed(tag, error) => (tag.reply)(Err(StoreError::failed(error))),
                Outcome::Retry(tag, query) => retry.push((Request { query, reply: tag.reply }, tag.deadline)),
            }
        }
        for entry in retry.into_iter().rev() {
            self.queue.push_front(entry);
        }
    }

    /// Closes a link: every query it had in flight is answered "unavailable" (a write among them
    /// may or may not have committed; it was not acknowledged). It reconnects after a backoff.
    fn fail(&mut self, index: usize, cause: &str, now: Instant) {
        let link = &mut self.links[index];
        let was_ready = link.state == State::Ready;
        // Dropping the socket closes it, which also removes it from the poll.
        link.stream = None;
        let abandoned: Vec<Tagged> =
            link.session.take().map(|mut s| s.abandon().collect()).unwrap_or_default();
        let backoff = FIRST_BACKOFF.saturating_mul(1 << link.failures.min(6)).min(MAX_BACKOFF);
        link.failures = link.failures.saturating_add(1);
        link.state = State::Waiting(now + backoff);
        if was_ready || !link.outage_logged {
            log::warn!(
                "{cause}; {} queries answered 503; reconnecting in {} ms",
                abandoned.len(),
                backoff.as_millis()
            );
            link.outage_logged = true;
        }
        for tag in abandoned {
            (tag.reply)(Err(StoreError::unavailable(cause)));
        }
        // With no link up or coming up, waiting queries have nowhere to go.
        if self.links.iter().all(|l| matches!(l.state, State::Waiting(_))) {
            for (request, _) in self.queue.drain(..) {
                (request.reply)(Err(StoreError::unavailable(cause)));
            }
        }
    }
}

/// A revocation announced on [`REVOKED_CHANNEL`]: the token's hash in hex.
fn revoked(changes: &dyn Changes, notification: &Notification) {
    let hex = notification.payload.as_bytes();
    if notification.channel != REVOKED_CHANNEL || hex.len() != 64 {
        return;
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(hex.chunks(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(high), Some(low)) => *byte = (high * 16 + low) as u8,
            _ => return,
        }
    }
    changes.token_revoked(hash);
}

/// Writes a session's pending output until done or the socket would block.
fn write_pending(stream: &mut TcpStream, session: &mut Session<Tagged>) -> Result<(), String> {
    let output = session.output();
    while !output.is_empty() {
        match stream.write(output) {
            Ok(0) => return Err("PostgreSQL stopped taking data".to_owned()),
            Ok(n) => output.advance(n),
            Err(e) if would_block(&e) => break,
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(format!("writing to PostgreSQL: {e}")),
        }
    }
    Ok(())
}

fn describe(fatal: Fatal) -> String {
    match fatal {
        Fatal::Server(e) => format!("PostgreSQL ended the session: {e}"),
        Fatal::Protocol(what) => format!("PostgreSQL {what}"),
    }
}
