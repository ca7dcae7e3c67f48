//! SIGINT and SIGTERM, handled on an event loop instead of by a thread of their own.
//!
//! The signal handler only writes a byte to one end of a socket pair (signal-hook's self-pipe);
//! the other end is one more source on a worker's `Poll`. The loop drains it and acts outside
//! the handler: the caller's `first` action (pollserve's: `/readyz` answers 503), then, after
//! the grace period, the graceful shutdown. A second signal exits at once with status 130, from
//! the handler itself, so it works even while the loops are busy draining.
//!
//! No thread waits for signals, so a server with one worker runs in one thread: then the kernel
//! skips the file table's reference count on every system call, and glibc its cancellation
//! bookkeeping around `send` and `recv` (`loadtest/PERFORMANCE.md`, "One worker, one thread").

use std::io::{self, Read};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::UnixStream;

use super::ShutdownHandle;
use crate::nonblocking::interrupted;

/// Status of a process ended by a second signal (128 + SIGINT, as shells report Ctrl-C).
pub const EXIT_ON_SECOND_SIGNAL: i32 = 130;

/// The signals that shut a server down.
const SIGNALS: [i32; 2] = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM];

/// What the first signal sets off.
type First = Box<dyn FnOnce() + Send>;

/// The read end of the signal pipe and what to do when it turns readable. Given to
/// [`Server::start_here`](super::Server::start_here), which watches it on the calling thread's loop.
pub struct SignalWatch {
    pipe: UnixStream,
    grace: Duration,
    first: Option<First>,
    /// Once set, the next signal ends the process in its handler.
    second_exits: Arc<AtomicBool>,
    handle: Option<ShutdownHandle>,
    /// When the grace period ends and the drain begins.
    shutdown_at: Option<Instant>,
}

impl std::fmt::Debug for SignalWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalWatch")
            .field("grace", &self.grace)
            .field("shutdown_at", &self.shutdown_at)
            .finish()
    }
}

impl SignalWatch {
    /// Installs the handlers for SIGINT and SIGTERM. On the first, `first` runs on the loop, the
    /// server keeps serving for `grace`, then drains; a second exits with
    /// [`EXIT_ON_SECOND_SIGNAL`].
    pub fn install(grace: Duration, first: impl FnOnce() + Send + 'static) -> io::Result<SignalWatch> {
        let (write, read) = StdUnixStream::pair()?;
        write.set_nonblocking(true)?;
        read.set_nonblocking(true)?;
        let second_exits = Arc::new(AtomicBool::new(false));
        for signal in SIGNALS {
            // The exit goes first: on the first signal it is not armed yet, and the byte that
            // follows arms it.
            signal_hook::flag::register_conditional_shutdown(
                signal,
                EXIT_ON_SECOND_SIGNAL,
                Arc::clone(&second_exits),
            )?;
            signal_hook::low_level::pipe::register(signal, write.try_clone()?)?;
        }
        Ok(SignalWatch {
            pipe: UnixStream::from_std(read),
            grace,
            first: Some(Box::new(first)),
            second_exits,
            handle: None,
            shutdown_at: None,
        })
    }

    /// The shutdown the watch starts.
    pub(crate) fn attach(&mut self, handle: ShutdownHandle) {
        self.handle = Some(handle);
    }

    /// The pipe, to register with the loop's `Poll`.
    pub(crate) fn source(&mut self) -> &mut UnixStream {
        &mut self.pipe
    }

    /// The pipe is readable: empty it, then act on the first signal (in that order, so a signal
    /// arriving meanwhile wakes the loop again). The drain itself waits for [`SignalWatch::turn`].
    pub(crate) fn on_readable(&mut self, now: Instant) {
        if self.drain_pipe()
            && let Some(first) = self.first.take()
        {
            self.second_exits.store(true, Ordering::SeqCst);
            first();
            self.shutdown_at = Some(now + self.grace);
        }
    }

    /// Reads the pipe until it is empty; whether it held a byte (a signal came).
    fn drain_pipe(&mut self) -> bool {
        let mut bytes = [0u8; 16];
        let mut signalled = false;
        loop {
            match self.pipe.read(&mut bytes) {
                Ok(0) => return signalled,
                Ok(_) => signalled = true,
                Err(e) if interrupted(&e) => {}
                // Drained (`WouldBlock`), or the pipe failed: nothing more to read either way.
                Err(_) => return signalled,
            }
        }
    }

    /// Starts the drain once the grace period is over.
    pub(crate) fn turn(&mut self, now: Instant) {
        if self.shutdown_at.is_some_and(|at| at <= now) {
            self.shutdown_at = None;
            if let Some(handle) = &self.handle {
                handle.shutdown();
            }
        }
    }

    /// When [`SignalWatch::turn`] must run next.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.shutdown_at
    }
}
