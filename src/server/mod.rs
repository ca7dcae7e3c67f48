//! The server: binds one listener per worker, runs each worker's loop on a thread (the first
//! on the caller's, with [`Server::start_here`]), and drains them on shutdown.
//!
//! - [`listener`]: `SO_REUSEPORT` listening sockets (socket2).
//! - [`worker`]: one `mio` event loop per thread.
//! - [`shared`]: the little the workers share (the connection count, the shutdown flag).
//! - [`signals`]: SIGINT and SIGTERM, watched by one worker's loop.
//! - [`conn`]: the per-connection state machine.
//! - [`timers`]: each worker's deadlines.
//! - [`buffers`]: each worker's spare buffers, lent to connections with bytes in flight.
//! - [`memory`]: an in-memory stream for driving a connection without a socket.
//! - [`redact`]: masks credentials in what `--trace` prints.
//!
//! Access-log and trace lines go through [`crate::logging`], written by a logger thread.

pub mod buffers;
pub mod conn;
pub mod listener;
pub mod memory;
pub mod redact;
pub mod shared;
pub mod signals;
pub mod timers;
pub mod worker;

use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use mio::Waker;
use mio::net::TcpListener;

use crate::app::{App, RouteError};
pub(crate) use crate::nonblocking::{interrupted, would_block};
use conn::ConnConfig;
use shared::Shared;
use signals::SignalWatch;
use worker::Worker;

/// Why a server could not start or stopped with an error.
#[derive(Debug)]
pub enum ServerError {
    /// A route could not be added (conflict or malformed pattern).
    Routes(RouteError),
    /// The listening address could not be bound (already in use, not permitted …).
    Bind(SocketAddr, io::Error),
    /// Starting a worker, or a worker's loop failed.
    Io(io::Error),
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerError::Routes(e) => write!(f, "{e}"),
            ServerError::Bind(addr, e) if e.kind() == io::ErrorKind::AddrInUse => {
                write!(f, "{addr} is already in use (is another server running there?)")
            }
            ServerError::Bind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            ServerError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ServerError {}

/// What the server needs to know: where to listen, how many workers, and its limits
/// (`config::Config` converts into it).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Number of worker threads (at least 1).
    pub threads: usize,
    /// Open-connection limit for the process.
    pub max_connections: usize,
    /// How long a shutdown waits for responses in progress.
    pub drain_timeout: std::time::Duration,
    /// Per-connection limits and timeouts.
    pub conn: ConnConfig,
}

/// A bound, not yet running server.
pub struct Server {
    listeners: Vec<TcpListener>,
    local_addr: SocketAddr,
    config: Settings,
    app: Arc<App>,
}

impl Server {
    /// Binds one listener per worker thread on the configured address.
    /// Fails if a route could not be added to `app`, or the address cannot be bound.
    pub fn bind<S: Send + Sync + 'static>(
        config: impl Into<Settings>,
        app: App<S>,
    ) -> Result<Server, ServerError> {
        let (config, app) = (config.into(), app.erase());
        app.check().map_err(ServerError::Routes)?;
        let listeners =
            listener::bind_all(config.addr, config.threads).map_err(|e| ServerError::Bind(config.addr, e))?;
        let local_addr = listeners[0].local_addr().map_err(ServerError::Io)?;
        Ok(Server { listeners, local_addr, config, app: Arc::new(app) })
    }

    /// Binds, starts the workers (the first on the calling thread) and runs until a shutdown is
    /// requested through the handle passed to `ready` (called once the server listens, e.g. to
    /// print the address).
    pub fn run<S: Send + Sync + 'static>(
        config: impl Into<Settings>,
        app: App<S>,
        ready: impl FnOnce(SocketAddr, ShutdownHandle),
    ) -> Result<(), ServerError> {
        let server = Server::bind(config, app)?;
        let addr = server.local_addr();
        let running = server.start_here(None).map_err(ServerError::Io)?;
        ready(addr, running.shutdown_handle());
        running.join().map_err(ServerError::Io)
    }

    /// The address actually bound (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts every worker on a thread of its own.
    pub fn start(self) -> io::Result<Running> {
        self.launch(false, None)
    }

    /// Starts every worker but the first on a thread of its own; the first runs on the calling
    /// thread, in [`Running::join`], and watches `signals` if given. With one worker the
    /// process then has no other thread (none waits for signals either).
    pub fn start_here(self, signals: Option<SignalWatch>) -> io::Result<Running> {
        self.launch(true, signals)
    }

    fn launch(self, keep_first: bool, signals: Option<SignalWatch>) -> io::Result<Running> {
        let shared = Arc::new(Shared::new(self.config.max_connections));
        let conn_config = Arc::new(self.config.conn.clone());
        let metrics = Arc::new(self.app.metrics(vec![Arc::new(crate::logging::DroppedLines)]));
        let mut workers = Vec::new();
        let mut wakers = Vec::new();
        for listener in self.listeners {
            let (worker, waker) = Worker::new(
                listener,
                Arc::clone(&self.app),
                Arc::clone(&metrics),
                Arc::clone(&conn_config),
                Arc::clone(&shared),
                self.config.drain_timeout,
            )?;
            workers.push(worker);
            wakers.push(waker);
        }
        let handle = ShutdownHandle { shared, wakers: Arc::new(wakers), began: Arc::default() };
        let mut workers = workers.into_iter();
        let here = match keep_first.then(|| workers.next()).flatten() {
            Some(mut worker) => {
                if let Some(mut watch) = signals {
                    watch.attach(handle.clone());
                    worker.watch_signals(watch)?;
                }
                Some(worker)
            }
            None => None,
        };
        let mut threads = Vec::new();
        for (index, worker) in workers.enumerate() {
            let index = index + usize::from(here.is_some());
            let thread = std::thread::Builder::new()
                .name(format!("pollserve-worker-{index}"))
                .spawn(|| worker.run())?;
            threads.push(thread);
        }
        Ok(Running { local_addr: self.local_addr, handle, here, threads })
    }
}

/// A running server.
pub struct Running {
    local_addr: SocketAddr,
    handle: ShutdownHandle,
    /// The worker [`Server::start_here`] kept for the calling thread.
    here: Option<Worker>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl Running {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that can start the graceful shutdown from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Runs the worker kept for this thread, if any, then waits for every other worker to
    /// finish; the first worker error, if any.
    pub fn join(self) -> io::Result<()> {
        let mut result = match self.here {
            // A panic here ends as one on a worker's own thread does: as an error.
            Some(worker) => {
                catch_unwind(AssertUnwindSafe(|| worker.run())).unwrap_or_else(|_| Err(panicked()))
            }
            None => Ok(()),
        };
        if result.is_err() {
            // That worker may have been the one watching for signals: without it, nothing
            // would stop the others.
            self.handle.shutdown();
        }
        for thread in self.threads {
            let outcome = thread.join().unwrap_or_else(|_| Err(panicked()));
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

/// What joining a worker that panicked gives.
fn panicked() -> io::Error {
    io::Error::other("worker thread panicked")
}

/// Starts a graceful shutdown: workers stop accepting, finish responses in progress, close
/// idle connections, and exit once drained or after the drain timeout.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
    wakers: Arc<Vec<Arc<Waker>>>,
    /// When the drain began, and how many connections were open then.
    began: Arc<std::sync::OnceLock<(std::time::Instant, usize)>>,
}

impl ShutdownHandle {
    /// Begins the shutdown (idempotent).
    pub fn shutdown(&self) {
        let _ = self.began.set((std::time::Instant::now(), self.shared.open_connections()));
        self.shared.begin_shutdown();
        for waker in self.wakers.iter() {
            // A failed wake means the worker's poll is gone, i.e. the worker already ended.
            let _ = waker.wake();
        }
    }

    /// When the shutdown began and how many connections were open then (none before it).
    pub fn began(&self) -> Option<(std::time::Instant, usize)> {
        self.began.get().copied()
    }
}
