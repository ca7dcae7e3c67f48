//! One PostgreSQL connection of a worker's [`Client`](super::Client): a non-blocking socket, the
//! [`Session`] on it, and the states it moves through.
//!
//! `Waiting` (the schema is not ready yet, or backing off after a failure) → `Connecting` (TCP)
//! → `Handshaking` (logging in, preparing statements) → `Ready` (queries in flight or not) → on
//! any failure [`Link::close`], and `Waiting` again.

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Buf;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::{Reply, Settings};
use crate::db::pg::proto::{Fatal, Notification, Outcome, Phase, Query, Session};
use crate::db::pg::sql::{REVOKED_CHANNEL, STATEMENTS};
use crate::nonblocking::{interrupted, would_block};
use crate::store::{Changes, StoreError};

/// First wait before reconnecting; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait before reconnecting.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often a link looks again whether the schema is ready.
const SCHEMA_POLL: Duration = Duration::from_millis(50);

/// A query in a session, and when it must be answered by.
pub(super) struct Tagged {
    pub reply: Reply,
    pub deadline: Instant,
}

/// Where a link is (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
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
pub(super) struct Link {
    pub token: Token,
    pub state: State,
    stream: Option<TcpStream>,
    session: Option<Session<Tagged>>,
    /// Failures since the link was last ready (for the backoff).
    pub failures: u32,
    /// Whether the last failure was logged (one line per outage, not one per attempt).
    outage_logged: bool,
}

impl Link {
    /// A link that connects at `now` (or as soon as the schema is ready).
    pub fn new(token: Token, now: Instant) -> Link {
        Link {
            token,
            state: State::Waiting(now),
            stream: None,
            session: None,
            failures: 0,
            outage_logged: false,
        }
    }

    /// Ready, with no batch in flight.
    pub fn is_free(&self) -> bool {
        self.state == State::Ready && self.session.as_ref().is_some_and(|s| s.in_flight() == 0)
    }

    /// When this link must be looked at again regardless of readiness.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Waiting(at) | State::Connecting(at) | State::Handshaking(at) => Some(at),
            State::Ready => self.session.as_ref().and_then(|s| s.first_in_flight()).map(|t| t.deadline),
        }
    }

    /// Starts connecting (`Waiting` → `Connecting`), or waits a little longer while the schema
    /// is not ready. `Err` is why the link must close.
    pub fn connect(&mut self, settings: &Settings, registry: &Registry, now: Instant) -> Result<(), String> {
        if !settings.schema_ready.load(Ordering::Acquire) {
            self.state = State::Waiting(now + SCHEMA_POLL);
            return Ok(());
        }
        let mut stream =
            TcpStream::connect(settings.addr).map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
        registry
            .register(&mut stream, self.token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| format!("cannot register the PostgreSQL socket: {e}"))?;
        let _ = stream.set_nodelay(true);
        self.stream = Some(stream);
        self.session = Some(Session::new(settings.login.clone(), STATEMENTS));
        self.state = State::Connecting(now + settings.connect_timeout);
        Ok(())
    }

    /// The socket work on readiness: finish connecting, read until the socket would block
    /// (finished queries go to `outcomes`, revocations to `changes`), write what is pending.
    /// `Err` is why the link must close.
    pub fn exchange(
        &mut self,
        read_buf: &mut [u8],
        outcomes: &mut Vec<Outcome<Tagged>>,
        changes: &dyn Changes,
    ) -> Result<(), String> {
        let (Some(stream), Some(session)) = (self.stream.as_mut(), self.session.as_mut()) else {
            return Ok(());
        };
        if let State::Connecting(deadline) = self.state {
            if let Ok(Some(e)) | Err(e) = stream.take_error() {
                return Err(format!("cannot connect to PostgreSQL: {e}"));
            }
            match stream.peer_addr() {
                Ok(_) => self.state = State::Handshaking(deadline),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(format!("cannot connect to PostgreSQL: {e}")),
            }
        }
        loop {
            match stream.read(read_buf) {
                Ok(0) => return Err("PostgreSQL closed the connection".to_owned()),
                Ok(n) => {
                    session.receive(&read_buf[..n], outcomes).map_err(describe)?;
                    for notification in session.notifications() {
                        revoked(changes, &notification);
                    }
                }
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => {}
                Err(e) => return Err(format!("reading from PostgreSQL: {e}")),
            }
        }
        write_pending(stream, session)
    }

    /// `Handshaking` → `Ready` once the session has logged in and prepared its statements; then
    /// it listens for revocations. True when the link just became ready.
    pub fn finish_handshake(&mut self, settings: &Settings, now: Instant) -> bool {
        let Some(session) = self.session.as_mut() else { return false };
        if !matches!(self.state, State::Handshaking(_)) || session.phase() != Phase::Ready {
            return false;
        }
        if self.failures > 0 {
            // Revocations made while this link was down were not heard: forget the cache.
            settings.changes.missed();
        }
        if self.outage_logged {
            log::info!("reconnected to PostgreSQL");
        }
        self.state = State::Ready;
        self.failures = 0;
        self.outage_logged = false;
        let listen = Query::simple(&["LISTEN ", REVOKED_CHANNEL].concat());
        let ignore: Reply = Box::new(|_| {});
        session.send([(Tagged { reply: ignore, deadline: now + settings.query_timeout }, listen)]);
        true
    }

    /// Queues a batch of queries, sent as one with a `Sync` (a free link only).
    pub fn send(&mut self, batch: impl IntoIterator<Item = (Tagged, Query)>) {
        match self.session.as_mut() {
            Some(session) => session.send(batch),
            // A free link has a session; but were this reached, no query goes unanswered.
            None => {
                for (tag, _) in batch {
                    (tag.reply)(Err(StoreError::unavailable("the PostgreSQL connection is closed")));
                }
            }
        }
    }

    /// A ready link writes what its session has pending. `Err` is why the link must close.
    pub fn flush(&mut self) -> Result<(), String> {
        match (self.state, self.stream.as_mut(), self.session.as_mut()) {
            (State::Ready, Some(stream), Some(session)) => write_pending(stream, session),
            _ => Ok(()),
        }
    }

    /// Closes the link for `cause` and schedules the reconnection after a backoff; returns the
    /// queries it had in flight (a write among them may or may not have committed).
    pub fn close(&mut self, cause: &str, now: Instant) -> Vec<Tagged> {
        let was_ready = self.state == State::Ready;
        // Dropping the socket closes it, which also removes it from the poll.
        self.stream = None;
        let abandoned: Vec<Tagged> =
            self.session.take().map(|mut s| s.abandon().collect()).unwrap_or_default();
        let backoff = FIRST_BACKOFF.saturating_mul(1 << self.failures.min(6)).min(MAX_BACKOFF);
        self.failures = self.failures.saturating_add(1);
        self.state = State::Waiting(now + backoff);
        if was_ready || !self.outage_logged {
            log::warn!(
                "{cause}; {} queries answered 503; reconnecting in {} ms",
                abandoned.len(),
                backoff.as_millis()
            );
            self.outage_logged = true;
        }
        abandoned
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
