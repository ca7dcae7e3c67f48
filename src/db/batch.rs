//! How a database thread runs its jobs: in batches. A batch is everything queued when the thread
//! looks, up to [`MAX_BATCH`] jobs. Its [`Access::Alone`] jobs run one after another as they
//! are; its [`Access::Grouped`] writes share one transaction, each in a savepoint of its own,
//! and one commit: with `synchronous=FULL` one fsync makes the whole batch durable (group
//! commit). Responses go back after the commit that holds their writes, and each worker that
//! has new responses is woken once per batch.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, PoisonError};

use mio::Waker;
use rusqlite::Connection;

use super::{Access, Job, Work};
use crate::app::{Completer, HeaderValue, HttpError, Response};
use crate::http::status::StatusCode;

/// Most jobs a database thread takes at once. Their responses go back with one wake-up per
/// worker instead of one each (on a busy server the worker and the database threads share
/// cores, and every wake-up was a context switch), and their writes with one commit. Bounded,
/// so a job's response does not wait behind many others.
pub const MAX_BATCH: usize = 16;

/// A database thread's life: take what is queued (waiting for the first job), run it, send the
/// responses, wake each worker that has new ones once; until the pool closes.
pub fn run_jobs(receiver: &Mutex<Receiver<Job>>, connection: &mut Connection) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut writes = Vec::with_capacity(MAX_BATCH);
    let mut wakers: Vec<Arc<Waker>> = Vec::new();
    loop {
        {
            // The lock is held only while taking jobs, never while running them.
            let receiver = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            let Ok(first) = receiver.recv() else { return };
            batch.push(first);
            batch.extend(receiver.try_iter().take(MAX_BATCH - 1));
        }
        for job in batch.drain(..) {
            match job.access {
                Access::Alone => {
                    let response = run(job.work, connection);
                    deliver(job.completer, response, &mut wakers);
                }
                Access::Grouped => writes.push(job),
            }
        }
        if !writes.is_empty() {
            for (completer, response) in run_grouped(connection, writes.drain(..)) {
                deliver(completer, response, &mut wakers);
            }
        }
        for waker in wakers.drain(..) {
            let _ = waker.wake();
        }
    }
}

/// Runs one job; a panic answers 500.
fn run(work: Work, connection: &mut Connection) -> Response {
    catch_unwind(AssertUnwindSafe(|| work(connection)))
        .unwrap_or_else(|_| HttpError::internal("database job panicked").into())
}

/// Sends a response without waking its worker, remembering the worker to wake.
fn deliver(completer: Completer, response: Response, wakers: &mut Vec<Arc<Waker>>) {
    if let Some(waker) = completer.complete_quietly(response)
        && !wakers.iter().any(|known| Arc::ptr_eq(known, &waker))
    {
        wakers.push(waker);
    }
}

/// Runs writes in one transaction, each in its own savepoint (an error response rolls back that
/// write alone), and commits once. If the transaction cannot start or commit, no write in it
/// happened, and every one answers 503: nothing is acknowledged that is not committed.
fn run_grouped(connection: &mut Connection, writes: impl Iterator<Item = Job>) -> Vec<(Completer, Response)> {
    let mut done = Vec::with_capacity(MAX_BATCH);
    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        return writes.map(|job| (job.completer, not_committed(&error))).collect();
    }
    let mut failure = None;
    for job in writes {
        let response = match connection.execute_batch("SAVEPOINT write") {
            Ok(()) => run(job.work, connection),
            Err(error) => not_committed(&error),
        };
        let undo =
            if response.status.code() >= 400 { "ROLLBACK TO write; RELEASE write" } else { "RELEASE write" };
        if let Err(error) = connection.execute_batch(undo) {
            failure.get_or_insert(error);
        }
        done.push((job.completer, response));
    }
    let committed = match failure {
        Some(error) => Err(error),
        None => connection.execute_batch("COMMIT"),
    };
    if let Err(error) = committed {
        let _ = connection.execute_batch("ROLLBACK");
        for (_, response) in &mut done {
            *response = not_committed(&error);
        }
    }
    done
}

/// 503 for a write whose transaction did not commit.
fn not_committed(error: &rusqlite::Error) -> Response {
    HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "the write could not be committed, retry")
        .with_header("Retry-After", HeaderValue::from_static("1"))
        .with_cause(error)
        .into()
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::super::{DbLocation, DbPool, Durability};
    use super::*;
    use crate::app::defer::DeferTarget;

    /// A grouped write inserting `x`, answering 201, or 409 on a constraint violation; `then_fail`
    /// inserts and then answers 422, which must roll its insert back.
    fn insert(x: i64, then_fail: bool) -> Work {
        Box::new(move |connection| match connection.execute("INSERT INTO t (x) VALUES (?1)", [x]) {
            Ok(_) if then_fail => HttpError::new(StatusCode::UNPROCESSABLE_CONTENT, "no").into(),
            Ok(_) => Response::new(StatusCode::CREATED),
            Err(_) => HttpError::new(StatusCode::CONFLICT, "taken").into(),
        })
    }

    #[test]
    fn one_failing_write_in_a_batch_answers_alone_and_the_others_commit() {
        let (pool, ()) = DbPool::open(&DbLocation::Memory, 1, Durability::Full, |c| {
            c.execute_batch("CREATE TABLE t (x UNIQUE)")
        })
        .unwrap();
        let (target, completions) = DeferTarget::new(None);
        // Hold the only thread, so the writes queue up and run as one batch.
        let release = super::super::hold_a_thread(&pool, &target);
        let writes = [insert(1, false), insert(1, false), insert(2, true), insert(3, false)];
        for (key, work) in writes.into_iter().enumerate() {
            let (_, completer) = target.completer(key + 1, 0);
            pool.submit(completer, Access::Grouped, work);
        }
        release.send(()).unwrap();
        let mut statuses: Vec<(usize, u16)> = (0..5)
            .map(|_| completions.recv().unwrap())
            .map(|c| (c.conn_key, c.response.status.code()))
            .collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [(0, 204), (1, 201), (2, 409), (3, 422), (4, 201)]);
        // Committed: 1 and 3; neither the duplicate nor the insert whose job answered 422.
        let (_, completer) = target.completer(9, 0);
        let (rows, read) = mpsc::channel();
        pool.submit(
            completer,
            Access::Alone,
            Box::new(move |c| {
                let mut statement = c.prepare("SELECT x FROM t ORDER BY x").unwrap();
                let xs: Vec<i64> =
                    statement.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
                rows.send(xs).unwrap();
                Response::no_content()
            }),
        );
        assert_eq!(read.recv().unwrap(), [1, 3]);
        pool.close();
    }
}
