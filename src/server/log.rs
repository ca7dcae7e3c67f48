//! Output that must not block the loop: access-log lines (standard output) and `--trace` lines
//! (standard error).
//!
//! A worker appends lines to a buffer of its own thread; [`flush`] (called once per loop
//! iteration, and when a buffer passes 16 KiB) hands the whole buffer to a logger thread (one per
//! stream), which does the blocking writes. The hand-off channel is bounded: if the terminal
//! cannot keep up, batches are dropped and counted rather than letting memory grow or the loop
//! wait, and a warning on standard error says how many lines were lost.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
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

#[derive(Default)]
struct Pending {
    stdout: String,
    stderr: String,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
}

/// The logger thread for one stream. Each stream has its own, so a terminal or pipe that
/// stops reading the access log does not also silence the warnings on standard error.
fn sink(to_stdout: bool) -> &'static SyncSender<String> {
    static STDOUT: OnceLock<SyncSender<String>> = OnceLock::new();
    static STDERR: OnceLock<SyncSender<String>> = OnceLock::new();
    let cell = if to_stdout { &STDOUT } else { &STDERR };
    cell.get_or_init(|| {
        let (sender, receiver) = sync_channel::<String>(QUEUE_BATCHES);
        let name = if to_stdout { "pollserve-stdout" } else { "pollserve-stderr" };
        // If the thread cannot start, the receiver is dropped and every batch counts as dropped.
        let _ = std::thread::Builder::new().name(name.into()).spawn(move || {
            for batch in receiver {
                // Nothing useful can be done if the terminal itself fails.
                let _ = if to_stdout {
                    std::io::stdout().lock().write_all(batch.as_bytes())
                } else {
                    std::io::stderr().lock().write_all(batch.as_bytes())
                };
            }
        });
        sender
    })
}

fn append(to_stdout: bool, line: fmt::Arguments<'_>) {
    let full = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        let buffer = if to_stdout { &mut pending.stdout } else { &mut pending.stderr };
        let _ = buffer.write_fmt(line);
        buffer.push('\n');
        buffer.len() >= FLUSH_AT
    });
    if full {
        flush();
    }
}

/// Queues one access-log line (standard output).
pub fn access(line: fmt::Arguments<'_>) {
    append(true, line);
}

/// Queues one trace line (standard error).
pub fn trace(line: fmt::Arguments<'_>) {
    append(false, line);
}

/// Queues one error line (standard error): a 5xx and its cause, dropped log lines.
pub fn error(line: fmt::Arguments<'_>) {
    append(false, line);
}

/// Hands this thread's buffered lines to the logger threads. Cheap when there are none. A
/// batch a logger cannot take is dropped and counted, and a warning says so (once a second).
pub fn flush() {
    let (stdout, stderr) = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        (std::mem::take(&mut pending.stdout), std::mem::take(&mut pending.stderr))
    });
    let mut dropped = false;
    for (to_stdout, batch) in [(true, stdout), (false, stderr)] {
        if batch.is_empty() {
            continue;
        }
        if let Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) =
            sink(to_stdout).try_send(batch)
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
    if let Some(warning) = take_dropped_warning() {
        error(format_args!("{warning}"));
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
