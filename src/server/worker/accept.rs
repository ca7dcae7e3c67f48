//! Accepting connections: until the listener would block, within the process's connection
//! limit (over it, one best-effort 503 and close), and backing off when descriptors run out.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::{Entry, Env, FIRST_CONN, Worker};
use crate::app::{HeaderValue, HttpError};
use crate::http::response::Persistence;
use crate::http::status::StatusCode;
use crate::server::conn::{Conn, Identity};
use crate::server::would_block;

/// How long to stop accepting after the process ran out of file descriptors. Edge-triggered
/// readiness will not report the waiting connections again, so a timer retries.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

impl Worker {
    /// Accepts until the listener would block.
    pub(super) fn accept(&mut self, now: Instant) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.add_connection(stream, peer, now),
                Err(e) if would_block(&e) => return,
                Err(e) if is_transient_accept_error(&e) => {}
                Err(_) => {
                    // Out of descriptors or memory: the waiting connections stay in the
                    // backlog, and a timer retries instead of spinning on the error.
                    self.accept_retry_at = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn add_connection(&mut self, mut stream: TcpStream, peer: SocketAddr, now: Instant) {
        if !self.shared.try_acquire() {
            self.env.counters.refused_at_capacity.add(1);
            return reject_over_capacity(stream, &self.env, now);
        }
        // Responses are written whole, so Nagle's delay would only add latency.
        let _ = stream.set_nodelay(true);
        let slot = self.conns.vacant_entry();
        let key = slot.key();
        if self.poll.registry().register(&mut stream, Token(key + FIRST_CONN), Interest::READABLE).is_err() {
            self.shared.release();
            return;
        }
        let identity = Identity { key, id: self.next_conn_id, peer: Some(peer) };
        self.next_conn_id += 1;
        let conn = Conn::new(stream, identity, &self.env.config, now);
        slot.insert(Entry { conn, writable: false, armed: None });
        self.env.counters.open_connections.add(1);
        self.settle(key);
    }
}

/// Errors that concern one connection attempt, not the listener: skip and keep accepting.
fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Over the connection limit: tell the client why (one best-effort write), then close.
fn reject_over_capacity(mut stream: TcpStream, env: &Env, now: Instant) {
    use std::io::Write;
    let error = HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "too many connections")
        .with_header("Retry-After", HeaderValue::from_static("1"))
        .with_cause("the connection limit (--max-connections) is reached");
    let mut out = Vec::with_capacity(256);
    env.app.reject(error, now, |response, exchange| {
        response.write_to(&mut out, &env.date, Persistence::Close, false, exchange.request_id.as_ref());
    });
    let _ = stream.write(&out);
}
