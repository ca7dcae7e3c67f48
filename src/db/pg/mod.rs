//! PostgreSQL, driven by each worker's event loop.
//!
//! Every worker owns a few connections to the server ([`client::Client`]), registered with its
//! own `Poll`: a handler's query is queued on the worker it runs on, sent (pipelined with the
//! other requests' queries) when the loop turns, and answered when the reply is read — the
//! query never leaves the loop's thread. The protocol itself ([`proto`]) is a state machine on
//! bytes, with `postgres-protocol` for the message codec and SCRAM-SHA-256, and
//! `postgres-types` for values.
//!
//! - `url`: `postgres://USER:PASSWORD@HOST:PORT/DBNAME`.
//! - `proto`: one connection's protocol: log in, prepare, pipeline.
//! - `client`: one worker's connections: sockets, queue, deadlines, reconnecting.
//! - `sql`: the statements and migrations.
//! - `setup`: start-up work on a blocking connection: check the login, migrate, load tokens.
//! - `store`, `rows`: the [`Store`](crate::store::Store) operations, and decoding their rows.

pub mod client;
pub mod proto;
mod rows;
pub mod setup;
pub mod sql;
mod store;
pub mod url;

pub use url::PgUrl;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mio::{Registry, Token, Waker};
use postgres_protocol::message::backend::DataRowBody;
use postgres_types::ToSql;

use self::client::{Client, Request, Settings};
use self::proto::Query;
use self::setup::SetupError;
use self::sql::Statement;
use super::DbError;
use crate::on_loop::{LoopService, LoopServices};
use crate::store::{Changes, Done, StoreError, TokenRow};

/// Connections per worker unless `--db-connections` says otherwise. Pipelining keeps each
/// one busy, so a few suffice; PostgreSQL sees workers × this many connections.
pub const DEFAULT_CONNECTIONS: usize = 2;

/// Longest a query may wait and run before it is answered 503, unless `--db-timeout` says
/// otherwise.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest connecting and logging in may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// First wait between start-up attempts while the server is unreachable; doubles up to 5 s.
const SETUP_RETRY: Duration = Duration::from_millis(200);

/// The PostgreSQL store: settings every worker's client shares, and a way into each of them.
#[derive(Debug)]
pub struct PgStore {
    /// Tells this store's clients apart from another store's on the same thread.
    id: usize,
    settings: Arc<Settings>,
    connections: usize,
    /// Each started worker's queue, for queries from threads that are not loops.
    remotes: Mutex<Vec<Remote>>,
    next_remote: AtomicUsize,
}

/// A worker's queue, from outside its loop.
#[derive(Debug, Clone)]
struct Remote {
    sender: Sender<Request>,
    waker: Arc<Waker>,
}

/// A worker's client on its own thread: the store it belongs to, the client, its queue.
type Local = (usize, Rc<RefCell<Client>>, Remote);

thread_local! {
    /// The clients of the worker running on this thread.
    static CLIENTS: RefCell<Vec<Local>> = const { RefCell::new(Vec::new()) };
}

impl PgStore {
    /// Connects once to check the login, migrates the schema and hands the live tokens to
    /// `tokens`; `changes` hears of revocations made by other instances. A refused login fails at once; an unreachable server is retried in the
    /// background (with a log line), and `/api` answers 503 until it answers.
    pub fn open(
        url: &PgUrl,
        connections: usize,
        query_timeout: Duration,
        tokens: Box<dyn FnOnce(Vec<TokenRow>) + Send>,
        changes: Arc<dyn Changes>,
    ) -> Result<Arc<PgStore>, DbError> {
        let addr = url.resolve().map_err(DbError::Postgres)?;
        let settings = Arc::new(Settings {
            addr,
            login: url.login.clone(),
            query_timeout,
            connect_timeout: CONNECT_TIMEOUT,
            schema_ready: AtomicBool::new(false),
            changes,
            queued: AtomicUsize::new(0),
        });
        static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
        let store = Arc::new(PgStore {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            settings: Arc::clone(&settings),
            connections,
            remotes: Mutex::new(Vec::new()),
            next_remote: AtomicUsize::new(0),
        });
        match setup::setup(&settings, crate::store::unix_now()) {
            Ok(rows) => {
                tokens(rows);
                settings.schema_ready.store(true, Ordering::Release);
            }
            Err(SetupError::Unreachable(cause)) => {
                log::warn!("{cause}; retrying in the background, /api answers 503 meanwhile");
                let url = url.clone();
                std::thread::Builder::new()
                    .name("pollserve-pg-setup".to_owned())
                    .spawn(move || retry_setup(&settings, &url, tokens))
                    .map_err(DbError::Thread)?;
            }
            Err(e) => return Err(DbError::Postgres(format!("{url}: {e}"))),
        }
        Ok(store)
    }

    /// Queues `statement` with `params` on this thread's worker (or, from another thread, on
    /// one of the workers); `decode` turns its rows into the answer for `done`.
    fn query<T: 'static>(
        &self,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
        done: Done<T>,
        decode: impl FnOnce(Vec<DataRowBody>) -> Result<T, StoreError> + Send + 'static,
    ) {
        let query = match Query::prepared(statement, params) {
            Ok(query) => query,
            Err(cause) => return done(Err(StoreError::failed(cause))),
        };
        let reply = Box::new(move |rows: Result<Vec<DataRowBody>, StoreError>| done(rows.and_then(decode)));
        self.submit(Request { query, reply });
    }

    fn submit(&self, request: Request) {
        let local = CLIENTS.with(|clients| {
            clients
                .borrow()
                .iter()
                .find(|(id, ..)| *id == self.id)
                .map(|(_, client, remote)| (Rc::clone(client), remote.clone()))
        });
        let remote = match local {
            // On a worker's loop, and not inside its client (a reply's callback): queue directly.
            Some((client, remote)) => match client.try_borrow_mut() {
                Ok(mut client) => return client.submit(request, Instant::now()),
                Err(_) => remote,
            },
            None => {
                let remotes = self.remotes.lock().unwrap_or_else(PoisonError::into_inner);
                if remotes.is_empty() {
                    drop(remotes);
                    return (request.reply)(Err(StoreError::unavailable("no worker is running")));
                }
                let index = self.next_remote.fetch_add(1, Ordering::Relaxed) % remotes.len();
                remotes[index].clone()
            }
        };
        match remote.sender.send(request) {
            Ok(()) => crate::wake::wake(&remote.waker),
            Err(refused) => (refused.0.reply)(Err(StoreError::unavailable("the worker has stopped"))),
        }
    }
}

/// Retries start-up until it succeeds (the server was unreachable when pollserve started).
fn retry_setup(settings: &Settings, url: &PgUrl, tokens: Box<dyn FnOnce(Vec<TokenRow>) + Send>) {
    let mut wait = SETUP_RETRY;
    let mut last = String::new();
    loop {
        std::thread::sleep(wait);
        match setup::setup(settings, crate::store::unix_now()) {
            Ok(rows) => {
                tokens(rows);
                settings.schema_ready.store(true, Ordering::Release);
                log::info!("connected to PostgreSQL at {url}; /api is available");
                return;
            }
            Err(e) => {
                let cause = e.to_string();
                if cause != last {
                    log::warn!("{cause}; still retrying");
                    last = cause;
                }
            }
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

impl LoopServices for PgStore {
    fn start(
        &self,
        registry: &Registry,
        first_token: usize,
        waker: &Arc<Waker>,
        now: Instant,
    ) -> io::Result<Box<dyn LoopService>> {
        let (sender, receiver) = channel();
        let client = Client::new(
            Arc::clone(&self.settings),
            registry.try_clone()?,
            first_token,
            self.connections,
            receiver,
            now,
        );
        let client = Rc::new(RefCell::new(client));
        let remote = Remote { sender, waker: Arc::clone(waker) };
        self.remotes.lock().unwrap_or_else(PoisonError::into_inner).push(remote.clone());
        CLIENTS.with(|clients| clients.borrow_mut().push((self.id, Rc::clone(&client), remote)));
        Ok(Box::new(OnLoop { id: self.id, client }))
    }
}

/// A worker's client, as the worker drives it.
struct OnLoop {
    id: usize,
    client: Rc<RefCell<Client>>,
}

impl LoopService for OnLoop {
    fn on_ready(&mut self, token: Token, now: Instant) {
        self.client.borrow_mut().on_ready(token, now);
    }

    fn turn(&mut self, now: Instant) {
        self.client.borrow_mut().turn(now);
    }

    fn next_deadline(&mut self, now: Instant) -> Option<Instant> {
        self.client.borrow_mut().next_deadline(now)
    }
}

impl Drop for OnLoop {
    fn drop(&mut self) {
        let _ = CLIENTS.try_with(|clients| clients.borrow_mut().retain(|(id, ..)| *id != self.id));
    }
}
