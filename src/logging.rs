//! Output that must not block the loop: access-log lines (standard output) and log records
//! (standard error).
//!
//! pollserve logs through the standard `log` facade, so an application's own lines and
//! pollserve's go to the same logger. [`init`] installs this module's [`Logger`]: levels come
//! from `RUST_LOG` as env_logger reads it (`info` when unset; `--trace` adds
//! `pollserve::server::conn=trace`). An application that installs its own logger first gets
//! pollserve's records instead.
//!
//! A thread appends lines to a buffer of its own; [`flush`] (called once per loop iteration, and
//! when a buffer passes 16 KiB; at once on threads that run no loop) hands the whole buffer to a
//! logger thread (one per stream), which does the blocking writes. The hand-off channel is
//! bounded: if the terminal cannot keep up, batches are dropped and counted rather than letting
//! memory grow or the loop wait, and a warning on standard error says how many lines were lost.
//!
//! Until the first loop starts, lines are written at once by the thread that logs them (start-up
//! may wait for the terminal): a logger thread starts only when a loop has something to say, so
//! a server with one worker runs in one thread until then.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::{SystemTime, UNIX_EPOCH};

/// A buffer is handed off once it holds this much, even mid-iteration.
const FLUSH_AT: usize = 16 * 1024;

/// Batches a logger thread may fall behind by before batches are dropped.
const QUEUE_BATCHES: usize = 256;

/// Lines dropped because a logger thread fell behind, and how many of them were reported.
static DROPPED: AtomicU64 = AtomicU64::new(0);
static REPORTED: AtomicU64 = AtomicU64::new(0);

/// When (Unix seconds) dropped lines were last reported: at most one warning a second.
static LAST_WARNING: AtomicU64 = AtomicU64::new(0);

/// Some thread runs an event loop: from then on, lines go through the logger threads.
static LOOP_STARTED: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct Pending {
    stdout: String,
    stderr: String,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
    /// This thread runs an event loop, which flushes once per iteration.
    static ON_LOOP: Cell<bool> = const { Cell::new(false) };
}

/// The calling thread runs an event loop and calls [`flush`] once per iteration; other threads'
/// lines are handed off as they are written.
pub fn on_loop() {
    ON_LOOP.with(|on| on.set(true));
    LOOP_STARTED.store(true, Ordering::Release);
}

/// The logger thread for one stream. Each stream has its own, so a terminal or pipe that
/// stops reading the access log does not also silence the warnings on standard error.
fn sink(to_stdout: bool) -> &'static SyncSender<Batch> {
    static STDOUT: OnceLock<SyncSender<Batch>> = OnceLock::new();
    static STDERR: OnceLock<SyncSender<Batch>> = OnceLock::new();
    let cell = if to_stdout { &STDOUT } else { &STDERR };
    cell.get_or_init(|| {
        let (sender, receiver) = sync_channel::<Batch>(QUEUE_BATCHES);
        let name = if to_stdout { "pollserve-stdout" } else { "pollserve-stderr" };
        // If the thread cannot start, the receiver is dropped and every batch counts as dropped.
        let _ = std::thread::Builder::new().name(name.into()).spawn(move || {
            for batch in receiver {
                match batch {
                    // Nothing useful can be done if the terminal itself fails.
                    Batch::Lines(lines) if to_stdout => {
                        let _ = std::io::stdout().lock().write_all(lines.as_bytes());
                    }
                    Batch::Lines(lines) => {
                        let _ = std::io::stderr().lock().write_all(lines.as_bytes());
                    }
                    Batch::Written(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        sender
    })
}

/// What a logger thread is handed.
enum Batch {
    /// Lines to write.
    Lines(String),
    /// Say when everything before this is written.
    Written(SyncSender<()>),
}

/// Hands off this thread's lines and waits (up to a second) until both logger threads wrote
/// everything queued so far: for the last lines before the process exits.
pub fn finish() {
    flush();
    let (done, written) = sync_channel(2);
    for to_stdout in [true, false] {
        if sink(to_stdout).try_send(Batch::Written(done.clone())).is_ok() {
            let _ = written.recv_timeout(std::time::Duration::from_secs(1));
        }
    }
}

fn append(to_stdout: bool, line: fmt::Arguments<'_>) {
    let full = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        let buffer = if to_stdout { &mut pending.stdout } else { &mut pending.stderr };
        let _ = buffer.write_fmt(line);
        buffer.push('\n');
        buffer.len() >= FLUSH_AT
    });
    if !LOOP_STARTED.load(Ordering::Acquire) {
        write_now();
    } else if full || !ON_LOOP.with(Cell::get) {
        flush();
    }
}

/// This thread's buffered lines (standard output's, standard error's), taken out.
fn take_pending() -> (String, String) {
    PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        (std::mem::take(&mut pending.stdout), std::mem::take(&mut pending.stderr))
    })
}

/// Writes this thread's buffered lines itself (before any loop runs).
fn write_now() {
    let (stdout, stderr) = take_pending();
    // Nothing useful can be done if the terminal itself fails.
    if !stdout.is_empty() {
        let _ = std::io::stdout().lock().write_all(stdout.as_bytes());
    }
    if !stderr.is_empty() {
        let _ = std::io::stderr().lock().write_all(stderr.as_bytes());
    }
}

/// Queues one access-log line (standard output).
pub fn access(line: fmt::Arguments<'_>) {
    append(true, line);
}

/// The `log` facade's records, filtered as `RUST_LOG` says and written off the loop.
pub struct Logger {
    filter: env_filter::Filter,
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.filter.matches(record) {
            let time = humantime::format_rfc3339_millis(SystemTime::now());
            append(
                false,
                format_args!("{time} {:<5} {}: {}", record.level(), record.target(), record.args()),
            );
        }
    }

    fn flush(&self) {
        flush();
    }
}

/// Installs the [`Logger`] behind the `log` facade, unless a logger is installed already (an
/// application's own: pollserve's records go to it). `trace`: `--trace`'s connection tracing.
pub fn init(trace: bool) {
    let mut spec = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    if trace {
        spec.push_str(",pollserve::server::conn=trace");
    }
    let filter = env_filter::Builder::new().parse(&spec).build();
    let level = filter.filter();
    if log::set_boxed_logger(Box::new(Logger { filter })).is_ok() {
        log::set_max_level(level);
    }
}

/// Hands this thread's buffered lines to the logger threads. Cheap when there are none. A
/// batch a logger cannot take is dropped and counted, and a warning says so (once a second).
pub fn flush() {
    let (stdout, stderr) = take_pending();
    let mut dropped = false;
    for (to_stdout, batch) in [(true, stdout), (false, stderr)] {
        if batch.is_empty() {
            continue;
        }
        if let Err(
            TrySendError::Full(Batch::Lines(batch)) | TrySendError::Disconnected(Batch::Lines(batch)),
        ) = sink(to_stdout).try_send(Batch::Lines(batch))
        {
            DROPPED.fetch_add(batch.matches('\n').count() as u64, Ordering::Relaxed);
            dropped = true;
        }
    }
    if dropped {
        warn_dropped();
    }
}

/// Queues a warning with the number of lines dropped since the last one, unless one went out
/// this second.
fn warn_dropped() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if LAST_WARNING.swap(now, Ordering::Relaxed) == now {
        return;
    }
    // Straight to the stream, not through the facade: the filter must not hide it.
    if let Some(warning) = take_dropped_warning() {
        append(false, format_args!("{warning}"));
    }
}

/// Reports the lines dropped so far on `/metrics`.
#[derive(Debug)]
pub struct DroppedLines;

impl crate::metrics::Source for DroppedLines {
    fn report(&self, out: &mut crate::metrics::Exposition) {
        out.counter(
            "pollserve_log_lines_dropped_total",
            "Log lines dropped because standard output or error did not keep up.",
            DROPPED.load(Ordering::Relaxed),
        );
    }
}

/// The warning for lines dropped and not reported yet, if any; they count as reported now.
/// `main` prints it at exit, so even a last burst of drops is told.
pub fn take_dropped_warning() -> Option<String> {
    let total = DROPPED.load(Ordering::Relaxed);
    let unreported = total - REPORTED.swap(total, Ordering::Relaxed).min(total);
    (unreported > 0).then(|| {
        format!(
            "pollserve: warning: {unreported} log lines dropped: standard output or error is not keeping up"
        )
    })
}
