//! A small pool of threads for blocking or CPU-heavy work (password hashing), so that no
//! event loop ever runs it. The queue is bounded: when it is full, a task is told at once that
//! it was refused, so its caller answers 503 instead of waiting without limit.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The pool behind `Context::run_blocking`: its size, and the pool, started on first use.
#[derive(Debug)]
pub struct HandlerPool {
    threads: usize,
    pool: std::sync::OnceLock<Option<Arc<Blocking>>>,
}

impl Default for HandlerPool {
    fn default() -> HandlerPool {
        HandlerPool::new(2)
    }
}

impl HandlerPool {
    /// A pool of `threads` threads, started when first asked for.
    pub fn new(threads: usize) -> HandlerPool {
        HandlerPool { threads: threads.max(1), pool: std::sync::OnceLock::new() }
    }

    /// The pool, started now if it was not; 503 if its threads cannot start.
    pub fn pool(&self) -> Result<&Blocking, super::HttpError> {
        let pool = self.pool.get_or_init(|| Blocking::new("pollserve-work", self.threads).ok());
        pool.as_deref().ok_or_else(|| {
            super::HttpError::new(
                crate::http::status::StatusCode::SERVICE_UNAVAILABLE,
                "no threads for blocking work",
            )
            .with_cause("the blocking pool's threads could not start")
        })
    }
}

/// Tasks waiting per thread before new ones are refused.
pub const QUEUE_PER_THREAD: usize = 64;

/// A task: called with `Ok` on a pool thread, or with `Err` at once when it was refused.
type Task = Box<dyn FnOnce(Result<(), Refused>) + Send>;

/// The pool.
pub struct Blocking {
    sender: Mutex<Option<SyncSender<Task>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for Blocking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Blocking")
    }
}

/// The pool's queue was full (or it was closed): the task did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

impl Blocking {
    /// Starts `threads` threads (at least one), named `{name}-{i}`.
    pub fn new(name: &str, threads: usize) -> std::io::Result<Arc<Blocking>> {
        let threads = threads.max(1);
        let (sender, receiver) = sync_channel::<Task>(QUEUE_PER_THREAD * threads);
        let receiver = Arc::new(Mutex::new(receiver));
        let mut handles = Vec::with_capacity(threads);
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            handles.push(
                std::thread::Builder::new().name(format!("{name}-{index}")).spawn(move || run(&receiver))?,
            );
        }
        Ok(Arc::new(Blocking { sender: Mutex::new(Some(sender)), threads: Mutex::new(handles) }))
    }

    /// Queues `task`, which a pool thread calls with `Ok(())`; when the queue is full (or the
    /// pool closed) `task` is called at once, on this thread, with `Err(Refused)`.
    pub fn spawn(&self, task: impl FnOnce(Result<(), Refused>) + Send + 'static) {
        let task: Task = Box::new(task);
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let refused = match sender {
            Some(sender) => match sender.try_send(task) {
                Ok(()) => return,
                Err(TrySendError::Full(task) | TrySendError::Disconnected(task)) => task,
            },
            None => task,
        };
        refused(Err(Refused));
    }

    /// Stops taking tasks, lets queued ones finish, and joins the threads.
    pub fn close(&self) {
        self.sender.lock().unwrap_or_else(PoisonError::into_inner).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

fn run(receiver: &Mutex<Receiver<Task>>) {
    loop {
        let task = {
            let receiver = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            let Ok(task) = receiver.recv() else { return };
            task
        };
        // A panicking task must not take the thread with it.
        let _ = catch_unwind(AssertUnwindSafe(|| task(Ok(()))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_tasks_and_refuses_when_full() {
        let pool = Blocking::new("test", 1).unwrap();
        let (gate_open, gate) = std::sync::mpsc::channel::<()>();
        let (done, finished) = std::sync::mpsc::channel();
        pool.spawn(move |started| {
            assert_eq!(started, Ok(()));
            gate.recv().unwrap();
        });
        // Queue until one is refused: that one is told at once, on this thread.
        let mut queued = 0;
        loop {
            let (refused, told) = std::sync::mpsc::channel();
            let done = done.clone();
            pool.spawn(move |started| match started {
                Ok(()) => done.send(()).unwrap(),
                Err(Refused) => refused.send(()).unwrap(),
            });
            if told.try_recv().is_ok() {
                break;
            }
            queued += 1;
            assert!(queued <= QUEUE_PER_THREAD + 1);
        }
        gate_open.send(()).unwrap();
        for _ in 0..queued {
            finished.recv().unwrap();
        }
        pool.close();
        let (refused, told) = std::sync::mpsc::channel();
        pool.spawn(move |started| refused.send(started).unwrap());
        assert_eq!(told.try_recv(), Ok(Err(Refused)), "a closed pool refuses at once");
    }
}
