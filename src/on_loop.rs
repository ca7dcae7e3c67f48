//! Services that live on every worker's event loop beside its HTTP connections.
//!
//! A [`LoopServices`] (say, a database client) is started once on each worker thread. It may
//! register sockets with that worker's `Poll`, using the tokens it is given; the worker passes
//! it their readiness, lets it act once per loop turn, and sleeps no longer than its next
//! deadline. Handlers running on that worker reach it through whatever the service offers
//! (a thread-local), so a request's I/O never leaves the loop.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use mio::{Registry, Token, Waker};

/// Starts a service on each worker.
pub trait LoopServices: Send + Sync + fmt::Debug {
    /// Called on each worker thread as its loop starts. The service may register sources with
    /// `registry` using tokens `first_token..first_token + TOKENS_PER_SERVICE`; `waker` wakes
    /// this worker's loop from another thread.
    fn start(
        &self,
        registry: &Registry,
        first_token: usize,
        waker: &Arc<Waker>,
        now: Instant,
    ) -> io::Result<Box<dyn LoopService>>;
}

/// Tokens each service may use.
pub const TOKENS_PER_SERVICE: usize = 1 << 16;

/// One worker's instance of a service.
pub trait LoopService {
    /// Readiness on one of the service's tokens.
    fn on_ready(&mut self, token: Token, now: Instant);
    /// Once per loop turn, after readiness was handled.
    fn turn(&mut self, now: Instant);
    /// When [`LoopService::turn`] must run next (the loop does not sleep past it).
    fn next_deadline(&mut self, now: Instant) -> Option<Instant>;
}
