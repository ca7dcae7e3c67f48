//! One worker thread: its own `mio::Poll`, its own listener, its connections and deadlines.
//!
//! The loop: wait for readiness (or the next deadline) → refresh the cached `Date` → accept
//! until `WouldBlock` → let each ready connection move its bytes → fire due deadlines. Workers
//! share nothing on the request path; the only shared state is the shutdown flag and the
//! process-wide connection count, touched on accept and close.
//!
//! Accepting (the connection limit, the back-off when descriptors run out) is in `accept.rs`.

mod accept;

use std::io;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use super::buffers::BufferPool;
use super::conn::{Conn, ConnConfig, Ctx};
use super::interrupted;
use super::shared::Shared;
use super::signals::SignalWatch;
use super::timers::Timers;
use crate::app::defer::{Completion, DeferTarget};
use crate::app::{App, LoopService};
use crate::http::date::CachedDate;
use crate::logging as log;
use crate::metrics::{Metrics, WorkerMetrics};
use crate::on_loop::TOKENS_PER_SERVICE;

/// The worker's listener.
const LISTENER: Token = Token(0);
/// Wakes the worker from another thread (shutdown).
const WAKER: Token = Token(1);
/// The signal pipe, on the worker that watches for SIGINT and SIGTERM.
const SIGNALS: Token = Token(2);
/// Connection tokens are slab keys offset past the fixed tokens.
const FIRST_CONN: usize = 3;
/// Tokens from here on belong to the app's loop services, [`TOKENS_PER_SERVICE`] each (far
/// above any connection's token).
const FIRST_SERVICE: usize = usize::MAX / 2;

/// Readiness events taken per `poll` call.
const EVENTS_PER_POLL: usize = 1024;

/// A connection and the worker's bookkeeping for it.
struct Entry {
    conn: Conn<TcpStream>,
    /// Registered for WRITABLE as well as READABLE (only while output is pending).
    writable: bool,
    /// The deadline of this connection's live timer entry.
    armed: Option<Instant>,
}

/// What connections borrow from the worker while they run.
struct Env {
    app: Arc<App>,
    metrics: Arc<Metrics>,
    counters: Arc<WorkerMetrics>,
    config: Arc<ConnConfig>,
    date: CachedDate,
    buffers: BufferPool,
    defer: DeferTarget,
    draining: bool,
}

impl Env {
    fn ctx(&mut self, now: Instant) -> Ctx<'_> {
        Ctx {
            app: &self.app,
            config: &self.config,
            date: &self.date,
            now,
            draining: self.draining,
            buffers: &mut self.buffers,
            defer: Some(&self.defer),
            metrics: &self.metrics,
            counters: &self.counters,
        }
    }
}

/// One event loop thread's state.
pub struct Worker {
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Slab<Entry>,
    timers: Timers,
    env: Env,
    shared: Arc<Shared>,
    drain_timeout: Duration,
    /// Set while accepting is paused after descriptor exhaustion.
    accept_retry_at: Option<Instant>,
    /// Deferred responses coming back from other threads.
    completions: Receiver<Completion>,
    /// The id the next connection gets.
    next_conn_id: u64,
    /// Wakes this loop from other threads.
    waker: Arc<Waker>,
    /// SIGINT and SIGTERM, on the one worker that watches for them.
    signals: Option<SignalWatch>,
}

impl Worker {
    /// Creates a worker around `listener`, returning it and the waker that interrupts its poll.
    pub fn new(
        mut listener: TcpListener,
        app: Arc<App>,
        metrics: Arc<Metrics>,
        config: Arc<ConnConfig>,
        shared: Arc<Shared>,
        drain_timeout: Duration,
    ) -> io::Result<(Worker, Arc<Waker>)> {
        let poll = Poll::new()?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (defer, completions) = DeferTarget::new(Some(Arc::clone(&waker)));
        let counters = metrics.add_worker();
        let date = CachedDate::new();
        let buffers = BufferPool::new();
        let env = Env { app, metrics, counters, config, date, buffers, defer, draining: false };
        let worker = Worker {
            poll,
            listener: Some(listener),
            conns: Slab::with_capacity(256),
            timers: Timers::new(),
            env,
            shared,
            drain_timeout,
            accept_retry_at: None,
            completions,
            next_conn_id: 0,
            waker: Arc::clone(&waker),
            signals: None,
        };
        Ok((worker, waker))
    }

    /// Makes this worker watch for SIGINT and SIGTERM (one worker per process does).
    pub fn watch_signals(&mut self, mut watch: SignalWatch) -> io::Result<()> {
        self.poll.registry().register(watch.source(), SIGNALS, Interest::READABLE)?;
        self.signals = Some(watch);
        Ok(())
    }

    /// Runs the loop until shutdown has drained every connection (or the drain time ran out).
    pub fn run(mut self) -> io::Result<()> {
        log::on_loop();
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        let mut drain_deadline: Option<Instant> = None;
        // Started here, on the loop's own thread: they may keep thread-local state.
        let mut services = self.start_services()?;
        let waker = Arc::clone(&self.waker);
        let mut now = Instant::now();
        loop {
            // `now` is the clock read after the last poll: a deadline counted from it is late by
            // at most one turn's work, and the loop reads one clock per turn instead of three.
            let timeout = self.poll_timeout(&mut services, now, drain_deadline);
            let polled = self.poll.poll(&mut events, timeout);
            now = Instant::now();
            if let Err(e) = polled {
                if interrupted(&e) {
                    continue;
                }
                return Err(e);
            }
            self.env.date.tick(now);
            // Responses this loop completes for itself need no wake-up: they are delivered below.
            crate::wake::batched(Some(&waker), || self.turn(&mut services, &events, now));
            if self.accept_retry_at.is_some_and(|at| at <= now) {
                self.accept_retry_at = None;
                self.accept(now);
            }
            if self.shared.is_shutting_down() && drain_deadline.is_none() {
                drain_deadline = Some(now + self.drain_timeout);
                self.begin_drain();
            }
            log::flush();
            if drain_deadline.is_some_and(|at| self.conns.is_empty() || at <= now) {
                return Ok(());
            }
        }
    }

    /// Starts the app's loop services on this thread.
    fn start_services(&self) -> io::Result<Vec<Box<dyn LoopService>>> {
        let now = Instant::now();
        let registry = self.poll.registry();
        let services = self.env.app.loop_services().iter().enumerate();
        services
            .map(|(index, services)| {
                services.start(registry, FIRST_SERVICE + index * TOKENS_PER_SERVICE, &self.waker, now)
            })
            .collect()
    }

    /// One turn of the loop: readiness, deadlines, services, and the responses that came back.
    fn turn(&mut self, services: &mut [Box<dyn LoopService>], events: &Events, now: Instant) {
        for event in events {
            match event.token() {
                LISTENER => self.accept(now),
                WAKER => {}
                SIGNALS => {
                    if let Some(signals) = &mut self.signals {
                        signals.on_readable(now);
                    }
                }
                Token(token) if token >= FIRST_SERVICE => {
                    let index = (token - FIRST_SERVICE) / TOKENS_PER_SERVICE;
                    if let Some(service) = services.get_mut(index) {
                        service.on_ready(event.token(), now);
                    }
                }
                Token(token) => {
                    let read_closed = event.is_read_closed() || event.is_error();
                    self.on_ready(token - FIRST_CONN, read_closed, now);
                }
            }
        }
        self.fire_timers(now);
        self.deliver_completions(now);
        for service in services.iter_mut() {
            service.turn(now);
        }
        self.deliver_completions(now);
        if let Some(signals) = &mut self.signals {
            signals.turn(now);
        }
    }

    fn poll_timeout(
        &self,
        services: &mut [Box<dyn LoopService>],
        now: Instant,
        drain_deadline: Option<Instant>,
    ) -> Option<Duration> {
        let services = services.iter_mut().filter_map(|s| s.next_deadline(now)).min();
        [
            services.map(|at| at.saturating_duration_since(now)),
            self.timers.next_in(now),
            self.accept_retry_at.map(|at| at.saturating_duration_since(now)),
            drain_deadline.map(|at| at.saturating_duration_since(now)),
            self.signals.as_ref().and_then(SignalWatch::deadline).map(|at| at.saturating_duration_since(now)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_ready(&mut self, key: usize, read_closed: bool, now: Instant) {
        let Some(entry) = self.conns.get_mut(key) else {
            return;
        };
        if read_closed {
            entry.conn.note_read_closed();
        }
        entry.conn.on_ready(&mut self.env.ctx(now));
        self.settle(key);
    }

    /// Hands each deferred response that came back to its connection, if it is still there.
    fn deliver_completions(&mut self, now: Instant) {
        while let Ok(completion) = self.completions.try_recv() {
            let key = completion.conn_key;
            let Some(entry) = self.conns.get_mut(key) else { continue };
            if entry.conn.identity().id != completion.conn_id {
                continue; // that connection closed and its slot was reused
            }
            entry.conn.on_completion(completion.response, completion.ticket, &mut self.env.ctx(now));
            self.settle(key);
        }
    }

    /// Fires every deadline that is due.
    fn fire_timers(&mut self, now: Instant) {
        while let Some((at, key)) = self.timers.pop_due(now) {
            let Some(entry) = self.conns.get_mut(key) else {
                continue;
            };
            if entry.armed != Some(at) {
                continue; // superseded by an earlier entry for the same connection
            }
            entry.armed = None;
            if entry.conn.deadline().is_some_and(|deadline| deadline <= now) {
                entry.conn.on_timeout(&mut self.env.ctx(now));
            }
            self.settle(key);
        }
    }

    /// After a connection ran: drop it if closed, otherwise sync its poll interest and timer.
    fn settle(&mut self, key: usize) {
        let Some(entry) = self.conns.get_mut(key) else {
            return;
        };
        if entry.conn.is_closed() {
            // Closing the descriptor also removes it from the epoll set.
            self.conns.remove(key);
            self.shared.release();
            self.env.counters.open_connections.add(-1);
            self.drop_stale_timers();
            return;
        }
        let wants_writable = entry.conn.has_pending_output();
        if wants_writable != entry.writable {
            let interest =
                if wants_writable { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            let token = Token(key + FIRST_CONN);
            if self.poll.registry().reregister(entry.conn.stream_mut(), token, interest).is_ok() {
                entry.writable = wants_writable;
            }
        }
        if let Some(deadline) = entry.conn.deadline() {
            entry.armed = Some(self.timers.arm(key, deadline, entry.armed));
            // Re-arming earlier (a partial request head on an idle connection) left the older
            // entry stale.
            self.drop_stale_timers();
        }
    }

    /// Rebuilds the timer heap without entries for closed (or since re-armed) connections once
    /// those are the majority: bounded memory under connection churn.
    fn drop_stale_timers(&mut self) {
        let conns = &self.conns;
        self.timers.compact_if_mostly_stale(conns.len(), |at, key| {
            conns.get(key).is_some_and(|entry| entry.armed == Some(at))
        });
    }

    /// Stops accepting, closes idle connections, and makes every later response the last.
    fn begin_drain(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.accept_retry_at = None;
        self.env.draining = true;
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            if let Some(entry) = self.conns.get_mut(key) {
                entry.conn.on_drain();
            }
            self.settle(key);
        }
    }
}
