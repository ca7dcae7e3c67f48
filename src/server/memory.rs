//! An in-memory [`Stream`], and a [`Driver`] that runs a [`Conn`] over it without a socket, for
//! unit tests, property tests, fuzz targets and benchmarks.

use std::sync::Arc;

use crate::metrics::{Metrics, WorkerMetrics};
use std::collections::VecDeque;
use std::io::{self, Read, Write};

use std::time::{Duration, Instant, UNIX_EPOCH};

use super::buffers::BufferPool;
use super::conn::{Conn, ConnConfig, Ctx, Identity, Stream};
use crate::app::App;
use crate::app::defer::{Completion, DeferTarget};
use crate::http::date::CachedDate;
use std::sync::mpsc::Receiver;

/// A scripted peer: reads return the queued chunks one at a time (like packets), then
/// `WouldBlock`, or end-of-stream once [`MemoryStream::close_write`] was called. Writes are
/// collected, up to an optional budget that simulates a client that stops reading.
#[derive(Debug, Default)]
pub struct MemoryStream {
    /// Queued bytes not yet read, `incoming[read..]`; chunk boundaries in `chunk_ends`.
    incoming: Vec<u8>,
    read: usize,
    /// End offset (in `incoming`) of each queued chunk. Reusing one byte buffer keeps the
    /// benchmarks free of an allocation per push.
    chunk_ends: VecDeque<usize>,
    peer_closed: bool,
    /// Everything the connection wrote.
    pub written: Vec<u8>,
    /// Bytes the peer will still accept; `None` is unlimited.
    pub write_budget: Option<usize>,
    /// Number of `write` calls that moved bytes.
    pub write_calls: usize,
    /// The connection shut down its write side.
    pub shut_down: bool,
}

impl MemoryStream {
    /// A peer with nothing sent yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues bytes as one arriving chunk.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.read == self.incoming.len() {
            self.incoming.clear();
            self.read = 0;
            self.chunk_ends.clear();
        }
        self.incoming.extend_from_slice(bytes);
        self.chunk_ends.push_back(self.incoming.len());
    }

    /// The peer half-closes: once the queue is empty, reads return 0.
    pub fn close_write(&mut self) {
        self.peer_closed = true;
    }

    /// Takes what the connection wrote so far.
    pub fn take_written(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.written)
    }
}

impl Read for MemoryStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(&chunk_end) = self.chunk_ends.front() else {
            return if self.peer_closed { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        };
        let n = (chunk_end - self.read).min(buf.len());
        buf[..n].copy_from_slice(&self.incoming[self.read..self.read + n]);
        self.read += n;
        if self.read == chunk_end {
            self.chunk_ends.pop_front();
        }
        Ok(n)
    }
}

impl Write for MemoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.shut_down {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = self.write_budget.map_or(buf.len(), |budget| budget.min(buf.len()));
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if let Some(budget) = &mut self.write_budget {
            *budget -= n;
        }
        self.written.extend_from_slice(&buf[..n]);
        self.write_calls += 1;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for MemoryStream {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shut_down = true;
        Ok(())
    }
}

/// Drives a [`Conn`] over a [`MemoryStream`] the way a worker would, with everything a worker
/// lends it: for unit tests, property tests, fuzz targets and benchmarks.
pub struct Driver<'a> {
    /// The app answering the requests.
    pub app: &'a App,
    /// Limits and timeouts.
    pub config: ConnConfig,
    /// The `Date` value responses carry.
    pub date: CachedDate,
    /// The worker's spare buffers.
    pub buffers: BufferPool,
    /// The loop's clock.
    pub now: Instant,
    /// The metrics of the driven connections' server.
    pub metrics: Arc<Metrics>,
    /// The driving worker's counters.
    pub counters: Arc<WorkerMetrics>,
    /// Where deferred responses come back, when handlers may defer ([`Driver::deferring`]).
    deferral: Option<(DeferTarget, Receiver<Completion>)>,
}

impl<'a> Driver<'a> {
    /// A driver with `config` and a fixed date (Sun, 06 Nov 1994 08:49:37 GMT), so outputs
    /// taken at different times compare equal.
    pub fn new(app: &'a App, config: ConnConfig) -> Driver<'a> {
        let date = CachedDate::at(UNIX_EPOCH + Duration::from_secs(784_111_777));
        let metrics = Arc::new(app.metrics(Vec::new()));
        let counters = metrics.add_worker();
        let buffers = BufferPool::new();
        Driver { app, config, date, buffers, now: Instant::now(), metrics, counters, deferral: None }
    }

    /// Lets handlers defer: their responses come back through [`Driver::await_completion`].
    pub fn deferring(mut self) -> Driver<'a> {
        self.deferral = Some(DeferTarget::new(None));
        self
    }

    /// Waits (up to `limit`) for the next deferred response and hands it to `conn`, as a worker
    /// does; false when none came in time (or handlers cannot defer here).
    pub fn await_completion(&mut self, conn: &mut Conn<MemoryStream>, limit: Duration) -> bool {
        let Some((_, completions)) = &self.deferral else { return false };
        let Ok(completion) = completions.recv_timeout(limit) else { return false };
        conn.on_completion(completion.response, completion.ticket, &mut self.ctx());
        true
    }

    /// A new connection in its first state.
    pub fn connect(&self) -> Conn<MemoryStream> {
        Conn::new(MemoryStream::new(), Identity::default(), &self.config, self.now)
    }

    fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            app: self.app,
            config: &self.config,
            date: &self.date,
            now: self.now,
            draining: false,
            buffers: &mut self.buffers,
            defer: self.deferral.as_ref().map(|(target, _)| target),
            metrics: &self.metrics,
            counters: &self.counters,
        }
    }

    /// Runs the connection as after a readiness event.
    pub fn ready(&mut self, conn: &mut Conn<MemoryStream>) {
        conn.on_ready(&mut self.ctx());
    }

    /// Runs the connection as after its deadline passed.
    pub fn timeout(&mut self, conn: &mut Conn<MemoryStream>) {
        conn.on_timeout(&mut self.ctx());
    }

    /// Delivers `bytes` as one arriving chunk and runs the connection.
    pub fn feed(&mut self, conn: &mut Conn<MemoryStream>, bytes: &[u8]) {
        conn.stream_mut().push(bytes);
        self.ready(conn);
    }
}
