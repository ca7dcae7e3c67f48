//! What the workers of one server share: the shutdown flag and the process-wide connection
//! count. Touched on accept, close and shutdown only, never on the request path.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The state all workers of one server share.
#[derive(Debug)]
pub struct Shared {
    shutting_down: AtomicBool,
    connections: AtomicUsize,
    max_connections: usize,
}

impl Shared {
    /// Shared state for a server allowing `max_connections` open connections.
    pub fn new(max_connections: usize) -> Self {
        Shared { shutting_down: AtomicBool::new(false), connections: AtomicUsize::new(0), max_connections }
    }

    /// Asks every worker to drain and stop (they must also be woken).
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Connections open now, across workers.
    pub fn open_connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Whether a shutdown was asked for.
    pub(super) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Takes a connection slot if the limit allows.
    pub(super) fn try_acquire(&self) -> bool {
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < self.max_connections).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives a connection slot back.
    pub(super) fn release(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }
}
