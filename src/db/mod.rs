//! The database: SQLite (bundled) opened by a small pool of blocking threads.
//!
//! Event-loop threads never touch SQLite. A handler defers its response and submits a [`Job`];
//! a pool thread runs it against its own connection and completes the response, which the
//! worker's `mio::Waker` brings back to the loop. The queue is bounded: when it is full the
//! request is answered 503 with `Retry-After` instead of waiting without limit.
//!
//! Durability: every write commits before its response goes out, in WAL mode. With
//! [`Durability::Normal`] (`synchronous=NORMAL`) an acknowledged write survives a crash or
//! `kill -9` of the server, and a power loss may lose the last commits; with
//! [`Durability::Full`] every commit is fsynced first. Writes queued together share one
//! transaction and one commit (`batch`), so `full` costs one fsync per batch, not per write.

mod batch;
pub mod migrations;
pub mod pg;
mod sqlite_store;

pub use sqlite_store::SqliteStore;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::store::StoreError;

/// Database threads unless `--db-threads` says otherwise.
pub const DEFAULT_THREADS: usize = 2;

/// Jobs waiting per pool thread before new ones are refused with 503.
pub const QUEUE_PER_THREAD: usize = 256;

/// How long SQLite waits for a lock held by another pool thread before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// A PostgreSQL server (`postgres://user:password@host:port/dbname`).
    Postgres(pg::PgUrl),
    /// A file (created if missing).
    File(PathBuf),
    /// A throwaway in-memory database, gone at exit; served by a single pool thread.
    Memory,
    /// No database at all: the `/api` routes are not served (for comparing the bare HTTP server
    /// with frameworks that have no database either).
    Off,
}

impl DbLocation {
    /// `:memory:`, `off`, a `postgres://` or `postgresql://` URL, or a path.
    pub fn parse(value: &str) -> Result<DbLocation, String> {
        Ok(match value {
            ":memory:" => DbLocation::Memory,
            "off" => DbLocation::Off,
            url if pg::PgUrl::is_url(url) => DbLocation::Postgres(pg::PgUrl::parse(url)?),
            path => DbLocation::File(path.into()),
        })
    }
}

/// Why the database could not be opened or migrated.
#[derive(Debug)]
pub enum DbError {
    /// SQLite said no.
    Sqlite(rusqlite::Error),
    /// A pool thread could not be started.
    Thread(std::io::Error),
    /// Not an SQLite database: off (`--db off`), or PostgreSQL.
    Off,
    /// PostgreSQL: the URL, the login or start-up failed.
    Postgres(String),
    /// The database file can be read but not written by this process: every write would fail.
    ReadOnly(PathBuf),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "database: {e}"),
            DbError::Thread(e) => write!(f, "database thread: {e}"),
            DbError::Off => f.write_str("the database is off"),
            DbError::Postgres(e) => f.write_str(e),
            DbError::ReadOnly(path) => {
                write!(
                    f,
                    "{} is read-only for this user; the server must be able to write it",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}

/// Work for a pool thread: an operation and where its result goes.
pub trait Job: Send {
    /// Runs against the thread's connection. The result is delivered only later, after the
    /// transaction holding it committed.
    fn run(self: Box<Self>, connection: &mut Connection) -> Finished;
    /// The job will not run (the queue is full, or the pool closed): answer with `error`.
    fn refuse(self: Box<Self>, error: StoreError);
}

/// A job that ran, waiting for its transaction's fate.
pub struct Finished {
    /// Whether the job failed: its savepoint is rolled back.
    pub failed: bool,
    /// Delivers the result, or the commit's failure instead (`Some`).
    pub deliver: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

/// A job from a closure and its callback.
pub fn job<T: Send + 'static>(
    op: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    done: crate::store::Done<T>,
) -> Box<dyn Job> {
    struct Op<F, T> {
        op: F,
        done: crate::store::Done<T>,
    }
    impl<F, T> Job for Op<F, T>
    where
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        fn run(self: Box<Self>, connection: &mut Connection) -> Finished {
            let Op { op, done } = *self;
            let result = op(connection);
            Finished {
                failed: result.is_err(),
                deliver: Box::new(move |commit| {
                    done(match commit {
                        Some(error) => Err(error),
                        None => result,
                    })
                }),
            }
        }

        fn refuse(self: Box<Self>, error: StoreError) {
            (self.done)(Err(error));
        }
    }
    Box::new(Op { op, done })
}

/// What a job does to the database, which decides how a database thread runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads, or writes that commit by themselves: run as they are, outside any transaction.
    Alone,
    /// A write that may share one transaction (and one durable commit) with the other writes
    /// of its batch, inside a savepoint of its own: an error response rolls back only its work,
    /// and its response goes out only after the commit. Such a job must not begin a transaction
    /// of its own (a savepoint is fine), nor act outside the database (caches, files) before
    /// the commit.
    Grouped,
}

/// How durable a commit is (`--db-sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL mode: a commit survives the process being killed; a power
    /// loss may lose the last ones.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is on disk before it is acknowledged (one fsync per
    /// commit, shared by every write in a batch).
    Full,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

/// A job and how it touches the database.
struct Queued {
    job: Box<dyn Job>,
    access: Access,
}

/// The pool of database threads.
pub struct DbPool {
    sender: Mutex<Option<SyncSender<Queued>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Jobs queued and not yet taken by a database thread.
    queued: Arc<AtomicUsize>,
}

impl fmt::Debug for DbPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DbPool")
    }
}

impl DbPool {
    /// Opens `threads` connections to `location`, migrating the schema first, then runs `init`
    /// on the first connection (start-up work such as loading caches) and returns its result.
    pub fn open<T>(
        location: &DbLocation,
        threads: usize,
        durability: Durability,
        init: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<(Arc<DbPool>, T), DbError> {
        // An in-memory database is shared through SQLite's shared cache, whose table locks fail
        // at once (SQLITE_LOCKED) instead of waiting like file locks do: one thread serializes
        // its writers instead.
        let threads = if *location == DbLocation::Memory { 1 } else { threads.max(1) };
        // A unique name per pool, so two in-memory servers in one process stay apart.
        let memory_name =
            format!("file:pollserve-{}-{}?mode=memory&cache=shared", std::process::id(), unique());
        let open = || -> Result<Connection, DbError> {
            let connection = match location {
                DbLocation::Off | DbLocation::Postgres(_) => return Err(DbError::Off),
                DbLocation::File(path) => {
                    // SQLite falls back to read-only without a word when the file cannot be
                    // written; every write would then fail with 500. Refuse to start instead.
                    let connection = Connection::open(path)?;
                    if connection.is_readonly(rusqlite::MAIN_DB)? {
                        return Err(DbError::ReadOnly(path.clone()));
                    }
                    connection
                }
                DbLocation::Memory => Connection::open_with_flags(
                    &memory_name,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_CREATE
                        | OpenFlags::SQLITE_OPEN_URI,
                )?,
            };
            configure(&connection, durability)?;
            Ok(connection)
        };
        let mut first = open()?;
        migrations::migrate(&mut first)?;
        let initialized = init(&mut first)?;
        let mut connections = vec![first];
        for _ in 1..threads {
            connections.push(open()?);
        }
        let (sender, receiver) = sync_channel::<Queued>(QUEUE_PER_THREAD * threads);
        let receiver = Arc::new(Mutex::new(receiver));
        let queued = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for (index, mut connection) in connections.into_iter().enumerate() {
            let (receiver, queued) = (Arc::clone(&receiver), Arc::clone(&queued));
            let handle = std::thread::Builder::new()
                .name(format!("pollserve-db-{index}"))
                .spawn(move || {
                    lower_priority();
                    batch::run_jobs(&receiver, &queued, &mut connection);
                })
                .map_err(DbError::Thread)?;
            handles.push(handle);
        }
        let pool = DbPool { sender: Mutex::new(Some(sender)), threads: Mutex::new(handles), queued };
        Ok((Arc::new(pool), initialized))
    }

    /// Queues `job`. When the queue is full it is refused at once ([`StoreError::busy`]).
    pub fn submit(&self, access: Access, job: Box<dyn Job>) {
        let queued = Queued { job, access };
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner).clone();
        // Counted before it is sent, so a thread taking it never brings the count below zero.
        self.queued.fetch_add(1, Ordering::Relaxed);
        let refused = match sender {
            Some(sender) => match sender.try_send(queued) {
                Ok(()) => return,
                Err(TrySendError::Full(queued) | TrySendError::Disconnected(queued)) => queued,
            },
            None => queued,
        };
        self.queued.fetch_sub(1, Ordering::Relaxed);
        refused.job.refuse(StoreError::busy("the database queue is full"));
    }

    /// Jobs queued and not yet taken by a database thread.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Stops accepting jobs, lets queued ones finish, and joins the threads.
    pub fn close(&self) {
        self.sender.lock().unwrap_or_else(PoisonError::into_inner).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// Per-connection settings: WAL, foreign keys, a busy timeout, a statement cache.
fn configure(connection: &Connection, durability: Durability) -> rusqlite::Result<()> {
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", durability.pragma())?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // The query planner stability guarantee: a statement's plan never depends on the values
    // bound to it. Without it SQLite re-prepares a cached statement (the whole parser and
    // planner, `sqlite3Reprepare`) whenever a value it looked at while planning is re-bound,
    // which a perf profile showed on every `GET /api/items/{id}` (issue 12). Every query here is
    // a key lookup or a scan whose plan does not depend on the value anyway.
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// How much lower than the event loops the database threads run (a nice value, 0–19).
const DB_THREAD_NICENESS: i32 = 10;

/// Database work is throughput work; the event loops are latency work. When both want the same
/// core, the kernel should run the loop first, so a slow query delays other queries, not `GET /`.
/// (On Linux, `setpriority` with a thread id applies to that one thread.) Best effort: a failure
/// only means the thread keeps the default priority.
fn lower_priority() {
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), DB_THREAD_NICENESS);
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Occupies one of `pool`'s threads with a job that waits until the returned sender sends, so
/// the jobs submitted meanwhile queue up: for tests of queueing and batches. The job's result
/// (`Ok(0)`) goes to `results`.
#[cfg(test)]
fn hold_a_thread(
    pool: &DbPool,
    results: &std::sync::mpsc::Sender<Result<i64, StoreError>>,
) -> std::sync::mpsc::Sender<()> {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let results = results.clone();
    let op = move |_: &mut Connection| {
        let _ = gate.recv();
        Ok(0)
    };
    pool.submit(Access::Alone, job(op, Box::new(move |r| results.send(r).unwrap())));
    release
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::store::ErrorKind;

    #[test]
    fn a_full_queue_is_refused_at_once_and_queued_jobs_still_run() {
        let (pool, ()) = DbPool::open(&DbLocation::Memory, 1, Durability::Normal, |_| Ok(())).unwrap();
        let (results, finished) = mpsc::channel();
        // Job 0 blocks the only thread; then QUEUE_PER_THREAD jobs fill the queue.
        let release = hold_a_thread(&pool, &results);
        // The thread may or may not have taken job 0 yet, and takes up to a batch with it (the
        // jobs queued at that moment leave the queue): submit until one is refused.
        let mut submitted = 1;
        loop {
            let sent = results.clone();
            pool.submit(Access::Alone, job(|_| Ok(1), Box::new(move |r| sent.send(r).unwrap())));
            if let Ok(refused) = finished.try_recv() {
                assert_eq!(refused.unwrap_err().kind, ErrorKind::Busy);
                break;
            }
            submitted += 1;
            assert!(submitted <= QUEUE_PER_THREAD + batch::MAX_BATCH + 1, "the queue never filled");
        }
        release.send(()).unwrap();
        let done = (0..submitted).map(|_| finished.recv().unwrap()).filter(Result::is_ok);
        assert_eq!(done.count(), submitted);
        pool.close();
    }

    #[test]
    fn in_memory_pools_are_separate_and_shared_by_their_threads() {
        let (a, ()) = DbPool::open(&DbLocation::Memory, 2, Durability::Normal, |c| {
            c.execute_batch("CREATE TABLE only_in_a (x)")
        })
        .unwrap();
        let (b, found) = DbPool::open(&DbLocation::Memory, 2, Durability::Normal, |c| {
            c.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'only_in_a'", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .unwrap();
        assert_eq!(found, 0);
        a.close();
        b.close();
    }
}
