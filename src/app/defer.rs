//! Answering later, without blocking the loop.
//!
//! A handler that must wait (a database query, password hashing) calls [`Context::defer`],
//! hands the [`Completer`] to another thread and returns the [`Deferred`] marker. Its
//! connection waits in its own state — later pipelined requests stay queued behind it, so
//! responses keep their order — while the worker serves every other connection. The other
//! thread calls [`Completer::complete`]; the response travels back over a channel and the
//! worker's `mio::Waker` wakes the loop to write it.
//!
//! [`Context::defer`]: super::Context::defer

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};

use mio::Waker;

use super::response::{HttpError, Response};

/// Proof that a handler deferred its response; return it as the handler's reply.
#[derive(Debug)]
pub struct Deferred {
    _private: (),
}

/// A finished deferred response on its way back to its connection.
#[derive(Debug)]
pub struct Completion {
    /// The connection's slot in its worker.
    pub conn_key: usize,
    /// The connection's unique id, so a reused slot is never answered by mistake.
    pub conn_id: u64,
    /// Which of the connection's requests it answers. A response for a request that was
    /// answered otherwise (its handler returned a response after all) is dropped.
    pub ticket: u64,
    /// The response.
    pub response: Response,
}

/// Where a deferred response goes: the worker's channel, and the request's connection and
/// ticket there.
#[derive(Debug, Clone, Copy)]
pub struct ReturnAddress<'a> {
    /// The worker's channel.
    pub target: &'a DeferTarget,
    /// The connection's slot in its worker.
    pub conn_key: usize,
    /// The connection's unique id.
    pub conn_id: u64,
    /// The request's number on its connection.
    pub ticket: u64,
}

/// Where completions for one worker go: a channel and the waker of the worker's poll.
#[derive(Debug, Clone)]
pub struct DeferTarget {
    sender: Sender<Completion>,
    waker: Option<Arc<Waker>>,
}

impl DeferTarget {
    /// A target whose completions arrive on the returned receiver; `waker` wakes its loop.
    pub fn new(waker: Option<Arc<Waker>>) -> (DeferTarget, Receiver<Completion>) {
        let (sender, receiver) = mpsc::channel();
        (DeferTarget { sender, waker }, receiver)
    }

    pub(crate) fn completer(&self, to: ReturnAddress<'_>) -> (Deferred, Completer) {
        let (conn_key, conn_id, ticket) = (to.conn_key, to.conn_id, to.ticket);
        let completer = Completer { target: self.clone(), conn_key, conn_id, ticket, sent: false };
        (Deferred { _private: () }, completer)
    }
}

/// Delivers one deferred response. Dropping it unanswered answers 500, so a connection never
/// waits forever for a handler that forgot it.
#[derive(Debug)]
pub struct Completer {
    target: DeferTarget,
    conn_key: usize,
    conn_id: u64,
    ticket: u64,
    sent: bool,
}

impl Completer {
    /// Sends the response to the connection and wakes its worker (once per batch, inside
    /// [`crate::wake::batched`]).
    pub fn complete(mut self, response: impl Into<Response>) {
        if let Some(waker) = self.send(response.into()) {
            crate::wake::wake(&waker);
        }
    }

    fn send(&mut self, response: Response) -> Option<Arc<Waker>> {
        self.sent = true;
        let completion =
            Completion { conn_key: self.conn_key, conn_id: self.conn_id, ticket: self.ticket, response };
        // A closed channel means the worker has exited (shutdown): nobody is left to answer.
        self.target.sender.send(completion).ok()?;
        self.target.waker.clone()
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        if !self.sent
            && let Some(waker) =
                self.send(HttpError::internal("the handler dropped its deferred response").into())
        {
            crate::wake::wake(&waker);
        }
    }
}
