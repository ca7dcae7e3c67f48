//! How a database thread runs its jobs: in batches. A batch is everything queued when the thread
//! looks, up to [`MAX_BATCH`] jobs. Its [`Access::Alone`] jobs run one after another as they
//! are; its [`Access::Grouped`] writes share one transaction, each in a savepoint of its own,
//! and one commit: with `synchronous=FULL` one fsync makes the whole batch durable (group
//! commit). Responses go back after the commit that holds their writes, and each worker that
//! has new responses is woken once per batch.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;

use rusqlite::Connection;

use super::{Access, Finished, Job, Queued};
use crate::store::StoreError;
use crate::wake;

/// Most jobs a database thread takes at once. Their results go back with one wake-up per
/// worker instead of one each (on a busy server the worker and the database threads share
/// cores, and every wake-up was a context switch), and their writes with one commit. Bounded,
/// so a job's result does not wait behind many others.
pub const MAX_BATCH: usize = 16;

/// A database thread's life: take what is queued (waiting for the first job), run it, deliver
/// the results, wake each worker that has new ones once; until the pool closes.
pub fn run_jobs(receiver: &Mutex<Receiver<Queued>>, queued: &AtomicUsize, connection: &mut Connection) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut writes = Vec::with_capacity(MAX_BATCH);
    loop {
        {
            // The lock is held only while taking jobs, never while running them.
            let receiver = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            let Ok(first) = receiver.recv() else { return };
            batch.push(first);
            batch.extend(receiver.try_iter().take(MAX_BATCH - 1));
            queued.fetch_sub(batch.len(), Ordering::Relaxed);
        }
        wake::batched(None, || {
            for queued in batch.drain(..) {
                match queued.access {
                    Access::Alone => deliver(run(queued.job, connection), None),
                    Access::Grouped => writes.push(queued.job),
                }
            }
            if !writes.is_empty() {
                let (finished, commit) = run_grouped(connection, writes.drain(..));
                for done in finished {
                    deliver(done, commit.clone());
                }
            }
        });
    }
}

/// Runs one job; a panic fails it.
fn run(job: Box<dyn Job>, connection: &mut Connection) -> Finished {
    catch_unwind(AssertUnwindSafe(|| job.run(connection)))
        .unwrap_or_else(|_| Finished { failed: true, deliver: Box::new(|_| {}) })
}

/// Hands a result to its callback; a panicking callback is contained.
fn deliver(finished: Finished, commit: Option<StoreError>) {
    let _ = catch_unwind(AssertUnwindSafe(|| (finished.deliver)(commit)));
}

/// Runs writes in one transaction, each in its own savepoint (a failed job rolls back its write
/// alone), and commits once. If the transaction cannot start or commit, no write in it
/// happened, and every one is answered with that error: nothing is acknowledged that is not
/// committed.
fn run_grouped(
    connection: &mut Connection,
    writes: impl Iterator<Item = Box<dyn Job>>,
) -> (Vec<Finished>, Option<StoreError>) {
    let mut done = Vec::with_capacity(MAX_BATCH);
    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        for job in writes {
            job.refuse(not_committed(&error));
        }
        return (done, None);
    }
    let mut failure = None;
    for job in writes {
        if let Err(error) = connection.execute_batch("SAVEPOINT write") {
            job.refuse(not_committed(&error));
            continue;
        }
        let finished = run(job, connection);
        let undo = if finished.failed { "ROLLBACK TO write; RELEASE write" } else { "RELEASE write" };
        if let Err(error) = connection.execute_batch(undo) {
            failure.get_or_insert(error);
        }
        done.push(finished);
    }
    let committed = match failure {
        Some(error) => Err(error),
        None => connection.execute_batch("COMMIT"),
    };
    match committed {
        Ok(()) => (done, None),
        Err(error) => {
            let _ = connection.execute_batch("ROLLBACK");
            (done, Some(not_committed(&error)))
        }
    }
}

/// The error of a write whose transaction did not commit.
fn not_committed(error: &rusqlite::Error) -> StoreError {
    StoreError::unavailable(format!("the write could not be committed: {error}"))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::super::{DbLocation, DbPool, Durability, job};
    use super::*;

    /// What a test job answers: the value inserted, or why not.
    type Answer = Result<i64, String>;

    /// A grouped write inserting `x`, failing on a constraint violation; `then_fail` inserts and
    /// then fails, which must roll its insert back.
    fn insert(x: i64, then_fail: bool, answers: &mpsc::Sender<(i64, Answer)>) -> Box<dyn Job> {
        let answers = answers.clone();
        job(
            move |connection| match connection.execute("INSERT INTO t (x) VALUES (?1)", [x]) {
                Ok(_) if then_fail => Err(StoreError::failed("no")),
                Ok(_) => Ok(x),
                Err(e) => Err(StoreError::failed(e)),
            },
            Box::new(move |result| answers.send((x, result.map_err(|e| e.cause))).unwrap()),
        )
    }

    #[test]
    fn one_failing_write_in_a_batch_answers_alone_and_the_others_commit() {
        let (pool, ()) = DbPool::open(&DbLocation::Memory, 1, Durability::Full, |c| {
            c.execute_batch("CREATE TABLE t (x UNIQUE)")
        })
        .unwrap();
        let (held, _) = mpsc::channel();
        // Hold the only thread, so the writes queue up and run as one batch.
        let release = super::super::hold_a_thread(&pool, &held);
        let (answers, answered) = mpsc::channel();
        for (x, fail) in [(1, false), (1, false), (2, true), (3, false)] {
            pool.submit(Access::Grouped, insert(x, fail, &answers));
        }
        release.send(()).unwrap();
        let got: Vec<(i64, Answer)> = (0..4).map(|_| answered.recv().unwrap()).collect();
        assert_eq!(got[0], (1, Ok(1)));
        assert!(got[1].1.as_ref().unwrap_err().contains("UNIQUE"), "{got:?}");
        assert_eq!(got[2], (2, Err("no".to_owned())));
        assert_eq!(got[3], (3, Ok(3)));
        // Committed: 1 and 3; neither the duplicate nor the insert whose job failed.
        let (rows, read) = mpsc::channel();
        let op = |c: &mut Connection| {
            let mut statement = c.prepare("SELECT x FROM t ORDER BY x").unwrap();
            let xs: Vec<i64> = statement.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            Ok(xs)
        };
        pool.submit(Access::Alone, job(op, Box::new(move |xs| rows.send(xs).unwrap())));
        assert_eq!(read.recv().unwrap().unwrap(), [1, 3]);
        pool.close();
    }
}
