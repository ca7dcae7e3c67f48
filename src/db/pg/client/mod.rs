//! One worker's PostgreSQL connections, driven by that worker's event loop.
//!
//! Each connection (`Link`) is a non-blocking socket registered with the worker's `Poll` and a
//! [`Session`](super::proto::Session) that speaks the protocol. Queries from this worker's
//! handlers wait in one queue; once per loop turn they go out in batches to the connections
//! that are free, one `Sync` per batch, one batch per connection at a time, and the replies come
//! back on readiness, in order. Nothing here blocks: connecting, logging in, preparing and
//! reconnecting are states of a link, moved on by readiness and deadlines.
//!
//! A link's states are in `client/link.rs`; when one fails, every query it had in flight is
//! answered "unavailable".

mod link;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use mio::{Registry, Token};
use postgres_protocol::message::backend::DataRowBody;

use self::link::{Link, State, Tagged};
use super::proto::{Login, Outcome, Query};
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
        let links = (0..connections.max(1)).map(|i| Link::new(Token(first_token + i), now)).collect();
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

    /// Starts a waiting link connecting.
    fn connect(&mut self, index: usize, now: Instant) {
        if let Err(cause) = self.links[index].connect(&self.settings, &self.registry, now) {
            self.fail(index, &cause, now);
        }
    }

    /// Moves a link's bytes on readiness; once it is prepared, sends what waited for it.
    fn drive(&mut self, index: usize, now: Instant) {
        let link = &mut self.links[index];
        if let Err(cause) = link.exchange(&mut self.read_buf, &mut self.outcomes, &*self.settings.changes) {
            return self.fail(index, &cause, now);
        }
        if link.finish_handshake(&self.settings, now) {
            self.dispatch(now);
        }
    }

    /// Sends queued queries, a batch to each free link.
    fn dispatch(&mut self, now: Instant) {
        let deadline = now + self.settings.query_timeout;
        for link in self.links.iter_mut().filter(|l| l.is_free()) {
            if self.queue.is_empty() {
                break;
            }
            let take = MAX_BATCH.min(self.queue.len());
            let batch = self.queue.drain(..take);
            link.send(batch.map(|(request, _)| (Tagged { reply: request.reply, deadline }, request.query)));
        }
        for index in 0..self.links.len() {
            if let Err(cause) = self.links[index].flush() {
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
        for tag in self.links[index].close(cause, now) {
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
