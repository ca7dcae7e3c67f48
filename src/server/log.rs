//! Output that must not block the loop: access-log lines (standard output) and `--trace` lines
//! (standard error).
//!
//! A worker appends lines to a buffer of its own thread; [`flush`] (called once per loop
//! iteration, and when a buffer passes 16 KiB) hands the whole buffer to a logger thread, which
//! does the blocking writes. The hand-off channel is bounded: if the terminal cannot keep up,
//! batches are dropped and counted rather than letting memory grow or the loop wait.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};

/// A buffer is handed off once it holds this much, even mid-iteration.
const FLUSH_AT: usize = 16 * 1024;

/// Batches the logger thread may fall behind by before batches are dropped.
const QUEUE_BATCHES: usize = 256;

/// Batches dropped because the logger thread fell behind.
static DROPPED: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
struct Pending {
    stdout: String,
    stderr: String,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
}

fn sink() -> &'static SyncSender<(bool, String)> {
    static SINK: OnceLock<SyncSender<(bool, String)>> = OnceLock::new();
    SINK.get_or_init(|| {
        let (sender, receiver) = sync_channel::<(bool, String)>(QUEUE_BATCHES);
        let spawned = std::thread::Builder::new().name("pollserve-log".into()).spawn(move || {
            for (to_stdout, batch) in receiver {
                // Nothing useful can be done if the terminal itself fails.
                let _ = if to_stdout {
                    std::io::stdout().lock().write_all(batch.as_bytes())
                } else {
                    std::io::stderr().lock().write_all(batch.as_bytes())
                };
            }
        });
        if spawned.is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
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

/// Hands this thread's buffered lines to the logger thread. Cheap when there are none.
pub fn flush() {
    let (stdout, stderr) = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        (std::mem::take(&mut pending.stdout), std::mem::take(&mut pending.stderr))
    });
    for (to_stdout, batch) in [(true, stdout), (false, stderr)] {
        if !batch.is_empty() && sink().try_send((to_stdout, batch)).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Batches dropped so far because output could not keep up.
pub fn dropped_batches() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}
