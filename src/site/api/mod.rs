//! `/api`: users, login/logout and the `items` resource, on a [`Store`].
//!
//! Every handler here validates what it can on the loop (cheap), then defers: the store answers
//! later through a callback (on a database thread for SQLite, on this loop for PostgreSQL), and
//! password hashing runs on the [`Blocking`] pool. The response goes back through the
//! connection's `Completer`. The handlers do not know which database is behind the store.

mod items;
mod users;

use items::{Item, ItemList, create_item, delete_item, get_item, list_items, update_item};
use users::{Token, User, create_user, login, logout};

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::app::blocking::{Blocking, Refused};
use crate::app::middleware::Principal;
use crate::app::openapi::op;
use crate::app::{App, Completer, Context, HeaderValue, HttpError, Reply, Request, Response};
use crate::db::pg::PgStore;
use crate::db::{DbError, DbLocation, Durability, SqliteStore};
use crate::http::status::StatusCode;
use crate::site::auth::{self, TokenCache};
use crate::store::{self, ErrorKind, Store, StoreError, TokenRow};

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 20;
/// Largest `limit` accepted.
pub const MAX_LIMIT: i64 = 100;
/// Longest item title, in Unicode code points (as JSON Schema's `maxLength` counts them).
pub const MAX_TITLE: usize = 200;
/// Longest item body, in characters.
pub const MAX_BODY: usize = 10_000;

/// The API's state, as its handlers see it.
type Api = Arc<Services>;

/// What the API handlers share: the store, live tokens, the login limiter.
#[derive(Debug)]
pub struct Services {
    /// Where users, tokens and items are kept.
    pub store: Arc<dyn Store>,
    /// PostgreSQL's per-worker connections, when the store is PostgreSQL.
    pg: Option<Arc<PgStore>>,
    /// Threads for password hashing.
    pub blocking: Arc<Blocking>,
    /// Live bearer tokens.
    pub tokens: Arc<TokenCache>,
    /// Failed logins allowed per client address per [`auth::LOGIN_WINDOW`] (counted in the
    /// database, so that every instance's failures add up).
    pub max_failed_logins: u32,
    /// Whether the login limiter counts the address in `X-Forwarded-For` (behind a balancer).
    pub trust_forwarded_for: bool,
    /// How long a token issued at login stays valid.
    pub token_lifetime: Duration,
    /// What an unknown user's password is checked against ([`auth::dummy_hash`]).
    dummy_hash: String,
}

/// How the API is set up: the command line's database and login settings.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Database pool threads (SQLite), or password-hashing threads (PostgreSQL).
    pub db_threads: usize,
    /// PostgreSQL connections per worker.
    pub db_connections: usize,
    /// Longest a PostgreSQL query may wait and run.
    pub db_timeout: Duration,
    /// Count failed logins by the address a balancer put in `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// Failed logins per client address per minute before 429.
    pub max_failed_logins: u32,
    /// How long a token stays valid after login.
    pub token_lifetime: Duration,
    /// How durable a commit is.
    pub db_sync: Durability,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            db_sync: Durability::Normal,
            db_threads: crate::db::DEFAULT_THREADS,
            db_connections: crate::db::pg::DEFAULT_CONNECTIONS,
            db_timeout: crate::db::pg::QUERY_TIMEOUT,
            trust_forwarded_for: false,
            max_failed_logins: auth::MAX_FAILED_LOGINS,
            token_lifetime: auth::TOKEN_LIFETIME,
        }
    }
}

/// Why the API could not start.
#[derive(Debug)]
pub enum StartError {
    /// The database could not be opened, migrated or written.
    Db(DbError),
    /// The dummy hash of the login timing defence could not be built.
    DummyHash(HttpError),
    /// The password-hashing threads could not be started.
    Threads(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Db(e) => write!(f, "cannot open the database: {e}"),
            StartError::DummyHash(e) => write!(f, "cannot prepare the login timing defence: {}", e.message),
            StartError::Threads(e) => write!(f, "cannot start the password-hashing threads: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl Services {
    /// Opens (and migrates) the database, loads the live tokens and builds the dummy hash.
    pub fn open(location: &DbLocation, options: &ApiOptions) -> Result<Arc<Services>, StartError> {
        let dummy_hash = auth::dummy_hash().map_err(StartError::DummyHash)?;
        let now = auth::unix_now();
        let tokens = Arc::new(TokenCache::default());
        let (store, pg): (Arc<dyn Store>, _) = match location {
            DbLocation::Postgres(url) => {
                let loader = Arc::clone(&tokens);
                let load = move |rows: Vec<TokenRow>| loader.load(rows);
                let changes = Arc::clone(&tokens) as Arc<dyn store::Changes>;
                let pg =
                    PgStore::open(url, options.db_connections, options.db_timeout, Box::new(load), changes)
                        .map_err(StartError::Db)?;
                (Arc::clone(&pg) as Arc<dyn Store>, Some(pg))
            }
            _ => {
                let (store, rows) = SqliteStore::open(location, options.db_threads, options.db_sync, now)
                    .map_err(StartError::Db)?;
                tokens.load(rows);
                (Arc::new(store), None)
            }
        };
        let blocking = Blocking::new("pollserve-hash", options.db_threads).map_err(StartError::Threads)?;
        Ok(Arc::new(Services {
            store,
            pg,
            blocking,
            tokens,
            max_failed_logins: options.max_failed_logins,
            trust_forwarded_for: options.trust_forwarded_for,
            token_lifetime: options.token_lifetime,
            dummy_hash,
        }))
    }

    /// Finishes queued work (commits included) and stops the database and hashing threads.
    pub fn close(&self) {
        self.blocking.close();
        self.store.close();
    }
}

/// `/readyz`'s question to the database: does it answer a trivial query?
pub fn probe(services: &Services) -> crate::site::health::Probe {
    let store = Arc::clone(&services.store);
    crate::site::health::Probe(Arc::new(move |done| {
        store.ping(Box::new(move |result| done(result.map_err(|e| e.cause))));
    }))
}

/// Adds the `/api` routes to `app`: reading is open to all; writing items and logging out
/// need a bearer token (the auth middleware on the `signed_in` scope).
pub fn routes(app: App, services: &Arc<Services>) -> App {
    let auth = auth::Auth::new(Arc::clone(&services.tokens));
    // Other instances on the same database issue tokens too: the handler looks up the ones this
    // instance has not seen.
    let auth = if services.pg.is_some() { auth.looking_up_misses() } else { auth };
    let app = app.with_state(Arc::clone(services)).scope("/api", |api| {
        api.post(
            "/users",
            op(create_user).summary("Register").responds::<User>(201, "the new user").errors(&[409, 503]),
        )
        .post(
            "/login",
            op(login)
                .summary("Log in: a bearer token")
                .responds::<Token>(200, "the token")
                .errors(&[401, 429, 503]),
        )
        .get(
            "/items",
            op(list_items).summary("List items").responds::<ItemList>(200, "a page").errors(&[503]),
        )
        .get(
            "/items/{id}",
            op(get_item).summary("One item").responds::<Item>(200, "the item").errors(&[404, 503]),
        )
        .scope("", |signed_in| {
            signed_in
                .with(auth)
                .post(
                    "/logout",
                    op(logout).summary("Revoke the token").responds_empty(204, "revoked").errors(&[503]),
                )
                .post(
                    "/items",
                    op(create_item).summary("Create an item").responds::<Item>(201, "created").errors(&[503]),
                )
                .put(
                    "/items/{id}",
                    op(update_item)
                        .summary("Replace an item")
                        .responds::<Item>(200, "updated")
                        .errors(&[403, 404, 503]),
                )
                .delete(
                    "/items/{id}",
                    op(delete_item)
                        .summary("Delete an item")
                        .responds_empty(204, "deleted")
                        .errors(&[403, 404, 503]),
                )
        })
    });
    let app = app.with_metrics(Arc::new(store::StoreMetrics(Arc::clone(&services.store))));
    match &services.pg {
        Some(pg) => app.on_each_worker(Arc::clone(pg) as Arc<dyn crate::app::LoopServices>),
        None => app,
    }
    .erase()
}

/// The callback of a store operation that answers the deferred request: `respond` turns the
/// result into the response; a store error answers 503 or 500 (see [`store_error`]).
fn answer<T: 'static>(
    completer: Completer,
    respond: impl FnOnce(T) -> Result<Response, HttpError> + Send + 'static,
) -> store::Done<T> {
    Box::new(move |result| {
        let response = result.map_err(store_error).and_then(respond).unwrap_or_else(Response::from);
        completer.complete(response);
    })
}

/// A store error as a response: busy or unavailable → 503 with `Retry-After`, failed → 500; the
/// cause goes to the log only.
fn store_error(error: StoreError) -> HttpError {
    let retry = |message: &'static str| {
        HttpError::new(StatusCode::SERVICE_UNAVAILABLE, message)
            .with_header("Retry-After", HeaderValue::from_static("1"))
    };
    match error.kind {
        ErrorKind::Busy => retry("database busy, retry shortly"),
        ErrorKind::Unavailable => retry("database unavailable, retry shortly"),
        ErrorKind::Failed => HttpError::internal("database error"),
    }
    .with_cause(error.cause)
}

/// Runs `task` on the hashing threads, or answers 503 at once when they are saturated.
fn on_blocking(services: &Services, completer: Completer, task: impl FnOnce(Completer) + Send + 'static) {
    services.blocking.spawn(move |started| match started {
        Ok(()) => task(completer),
        Err(Refused) => {
            completer.complete(store_error(StoreError::busy("the password-hashing queue is full")))
        }
    });
}

fn rfc3339(unix: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Defers the response and runs `then` with the caller: the one the auth middleware found in
/// the token cache, or, for a token this instance has not seen (another instance on the same
/// database issued it), the one the store finds (then cached). 401 when there is none.
fn with_caller(
    request: &Request<'_>,
    context: &mut Context<'_, Api>,
    then: impl FnOnce(Principal, Completer) + Send + 'static,
) -> Result<Reply, HttpError> {
    let services = context.state();
    let known = context.principal().cloned();
    let token = auth::bearer(request).ok_or_else(|| auth::unauthorized(auth::AuthError::Missing))?;
    let hash = auth::token_hash(token);
    let (deferred, completer) = context.defer()?;
    if let Some(principal) = known {
        then(principal, completer);
        return Ok(deferred.into());
    }
    let tokens = Arc::clone(&services.tokens);
    let found = move |result: Result<Option<TokenRow>, StoreError>| match result {
        Err(error) => completer.complete(store_error(error)),
        Ok(None) => completer.complete(auth::unauthorized(auth::AuthError::Invalid)),
        Ok(Some(row)) => {
            let principal = Principal { user_id: row.user_id, username: row.username.into() };
            tokens.insert(hash, principal.clone(), row.expires_at);
            then(principal, completer);
        }
    };
    services.store.token(hash, auth::unix_now(), Box::new(found));
    Ok(deferred.into())
}
