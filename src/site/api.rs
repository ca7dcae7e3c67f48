//! `/api`: users, login/logout and the `items` resource, on a [`Store`].
//!
//! Every handler here validates what it can on the loop (cheap), then defers: the store answers
//! later through a callback (on a database thread for SQLite, on this loop for PostgreSQL), and
//! password hashing runs on the [`Blocking`] pool. The response goes back through the
//! connection's `Completer`. The handlers do not know which database is behind the store.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::blocking::{Blocking, Refused};
use crate::app::extract::{Extract, Json, Path, Query};
use crate::app::middleware::Principal;
use crate::app::openapi::{Operation, op};
use crate::app::{App, Completer, Context, HeaderValue, HttpError, Reply, Request, Response};
use crate::db::pg::PgStore;
use crate::db::{DbError, DbLocation, Durability, SqliteStore};
use crate::http::status::StatusCode;
use crate::site::auth::{self, TokenCache};
use crate::store::{
    self, Change, ErrorKind, Failures, ItemFields, ItemQuery, NewUser, Store, StoreError, TokenRow,
};

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

// --- users and tokens ----------------------------------------------------------------------

/// A new account.
#[derive(Debug, Deserialize, JsonSchema)]
struct NewAccount {
    #[schemars(length(min = 3, max = 32), regex(pattern = r"^[A-Za-z0-9_.-]+$"))]
    username: String,
    #[schemars(length(min = 8, max = 128))]
    password: String,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
struct User {
    id: i64,
    username: String,
    #[schemars(extend("format" = "date-time"))]
    created_at: String,
}

fn create_user(
    _: &Request<'_>,
    context: &mut Context<'_, Api>,
    Json(account): Json<NewAccount>,
) -> Result<Reply, HttpError> {
    let services = context.state();
    let NewAccount { username, password } = account;
    let (deferred, completer) = context.defer()?;
    let store = Arc::clone(&services.store);
    on_blocking(services, completer, move |completer| {
        let password_hash = match auth::hash_password(&password) {
            Ok(hash) => hash,
            Err(error) => return completer.complete(error),
        };
        let user = NewUser { username, password_hash, created_at: auth::unix_now() };
        store.create_user(
            user,
            answer(completer, |user: Option<store::User>| match user {
                Some(user) => Ok(Response::json(
                    StatusCode::CREATED,
                    &User { id: user.id, username: user.username, created_at: rfc3339(user.created_at) },
                )),
                None => Err(HttpError::new(StatusCode::CONFLICT, "username already taken")),
            }),
        );
    });
    Ok(deferred.into())
}

/// A login.
#[derive(Debug, Deserialize, JsonSchema)]
struct Credentials {
    username: String,
    password: String,
}

/// A bearer token and when it expires.
#[derive(Debug, Serialize, JsonSchema)]
struct Token {
    token: String,
    #[schemars(extend("format" = "date-time"))]
    expires_at: String,
}

fn login(
    request: &Request<'_>,
    context: &mut Context<'_, Api>,
    Json(Credentials { username, password }): Json<Credentials>,
) -> Result<Reply, HttpError> {
    let services = context.state();
    let address = client_address(request, services.trust_forwarded_for);
    let attempt = Attempt { username, address, now: auth::unix_now() };
    let (lookup, address, since) = (attempt.username.clone(), attempt.address.clone(), attempt.since());
    let (deferred, completer) = context.defer()?;
    let for_job = Arc::clone(services);
    let found = move |result: Result<(Option<store::Credentials>, Failures), StoreError>| match result {
        Err(error) => completer.complete(store_error(error)),
        Ok((_, failures)) if failures.count >= for_job.max_failed_logins => {
            // Counted in the database, so every instance's failures add up.
            let window = window_secs();
            let retry_after = failures.oldest.map_or(window, |oldest| oldest + window - attempt.now);
            completer.complete(auth::too_many_logins(retry_after.clamp(1, window) as u64));
        }
        Ok((user, _)) => {
            let services = Arc::clone(&for_job);
            on_blocking(&for_job, completer, move |completer| {
                check_password(&services, user, attempt, &password, completer);
            });
        }
    };
    services.store.credentials(lookup, address, since, Box::new(found));
    Ok(deferred.into())
}

/// The client's address as the login limiter counts it: the peer's, or, behind a trusted
/// balancer (`--trust-forwarded-for`), the last address in `X-Forwarded-For` (the one the
/// balancer appended; a client can forge only the ones before it).
fn client_address(request: &Request<'_>, trust_forwarded_for: bool) -> String {
    let forwarded = trust_forwarded_for
        .then(|| request.headers().filter(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-for")).last())
        .flatten()
        .and_then(|(_, value)| std::str::from_utf8(value).ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok());
    let peer = request.peer().map_or(IpAddr::from([0, 0, 0, 0]), |peer| peer.ip());
    forwarded.unwrap_or(peer).to_string()
}

/// Who is logging in, from where, when.
#[derive(Debug)]
struct Attempt {
    username: String,
    /// The client's address, as the login limiter counts it.
    address: String,
    /// Unix seconds.
    now: i64,
}

impl Attempt {
    /// Where the limiter's window starts: failures up to here no longer count.
    fn since(&self) -> i64 {
        self.now - window_secs()
    }
}

/// The CPU-heavy half of a login (on the hashing threads): check the password (unknown users
/// against a dummy hash, so both failures take as long); then record the failure, or store a new
/// token.
fn check_password(
    services: &Arc<Services>,
    user: Option<store::Credentials>,
    attempt: Attempt,
    password: &str,
    completer: Completer,
) {
    let phc = user.as_ref().map_or(services.dummy_hash.as_str(), |user| user.password_hash.as_str());
    let valid = auth::verify_password(password, phc);
    let Some(user) = user.filter(|_| valid) else {
        // The 401 goes out once the failure is recorded, so the next attempt, on any instance,
        // counts it.
        let since = attempt.since();
        let refuse = |()| Err(HttpError::new(StatusCode::UNAUTHORIZED, "invalid username or password"));
        return services.store.record_failed_login(
            attempt.address,
            attempt.now,
            since,
            answer(completer, refuse),
        );
    };
    let token = match auth::new_token() {
        Ok(token) => token,
        Err(error) => return completer.complete(error),
    };
    let expires_at = attempt.now + i64::try_from(services.token_lifetime.as_secs()).unwrap_or(i64::MAX);
    let row = TokenRow {
        hash: auth::token_hash(&token),
        user_id: user.user_id,
        username: attempt.username,
        expires_at,
    };
    let tokens = Arc::clone(&services.tokens);
    let stored = row.clone();
    let respond = move |()| {
        let principal = Principal { user_id: stored.user_id, username: stored.username.into() };
        tokens.insert(stored.hash, principal, stored.expires_at);
        Ok(Response::json(StatusCode::OK, &Token { token, expires_at: rfc3339(expires_at) }))
    };
    services.store.insert_token(row, attempt.address, answer(completer, respond));
}

/// The login limiter's window, in seconds.
fn window_secs() -> i64 {
    auth::LOGIN_WINDOW.as_secs() as i64
}

fn logout(request: &Request<'_>, context: &mut Context<'_, Api>) -> Result<Reply, HttpError> {
    let services = context.state();
    let token = auth::bearer(request).ok_or_else(|| auth::unauthorized(auth::AuthError::Missing))?;
    let hash = auth::token_hash(token);
    let store = Arc::clone(&services.store);
    let tokens = Arc::clone(&services.tokens);
    with_caller(services, request, context, move |_, completer| {
        let respond = move |()| {
            tokens.revoke(&hash);
            Ok(Response::no_content())
        };
        store.revoke_token(hash, answer(completer, respond));
    })
}

// --- items ----------------------------------------------------------------------------------

/// An item as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
struct Item {
    id: i64,
    title: String,
    body: String,
    done: bool,
    owner: String,
    #[schemars(extend("format" = "date-time"))]
    created_at: String,
    #[schemars(extend("format" = "date-time"))]
    updated_at: String,
}

/// A page of items.
#[derive(Debug, Serialize, JsonSchema)]
struct ItemList {
    items: Vec<Item>,
    limit: i64,
    offset: i64,
    total: i64,
}

/// An item's fields, as a client sends them.
#[derive(Debug, Deserialize, JsonSchema)]
struct ItemInput {
    #[schemars(length(min = 1, max = MAX_TITLE))]
    title: String,
    #[serde(default)]
    #[schemars(length(max = MAX_BODY))]
    body: String,
    #[serde(default)]
    done: bool,
}

impl From<ItemInput> for ItemFields {
    fn from(input: ItemInput) -> ItemFields {
        ItemFields { title: input.title, body: input.body, done: input.done }
    }
}

/// The `{id}` of an item route, as the path has it.
#[derive(Debug, Deserialize, JsonSchema)]
struct IdPath {
    id: i64,
}

/// The `{id}` of an item route: 422 when it is not an integer, 404 when it is one no item can
/// have (before the body is looked at).
#[derive(Debug)]
struct ItemId(i64);

impl<S> Extract<S> for ItemId {
    fn extract(request: &Request<'_>, context: &Context<'_, S>) -> Result<ItemId, HttpError> {
        let Path(IdPath { id }) = Path::extract(request, context)?;
        if id > 0 { Ok(ItemId(id)) } else { Err(HttpError::not_found("no such item")) }
    }

    fn describe(operation: &mut Operation) {
        <Path<IdPath> as Extract<S>>::describe(operation);
        operation.errors(&[404]);
    }
}

/// Which page of items, and a filter.
#[derive(Debug, Deserialize, JsonSchema)]
struct Page {
    /// Items per page.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    limit: i64,
    /// Items to skip.
    #[serde(default)]
    #[schemars(range(min = 0))]
    offset: i64,
    /// Only items whose title contains this text.
    q: Option<String>,
}

fn default_limit() -> i64 {
    DEFAULT_LIMIT
}

impl From<store::Item> for Item {
    fn from(item: store::Item) -> Item {
        Item {
            id: item.id,
            title: item.title,
            body: item.body,
            done: item.done,
            owner: item.owner,
            created_at: rfc3339(item.created_at),
            updated_at: rfc3339(item.updated_at),
        }
    }
}

/// Defers the response and runs `then` with the caller: the one the auth middleware found in
/// the token cache, or, for a token this instance has not seen (another instance on the same
/// database issued it), the one the store finds (then cached). 401 when there is none.
fn with_caller(
    services: &Arc<Services>,
    request: &Request<'_>,
    context: &mut Context<'_, Api>,
    then: impl FnOnce(Principal, Completer) + Send + 'static,
) -> Result<Reply, HttpError> {
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

fn list_items(
    _: &Request<'_>,
    context: &mut Context<'_, Api>,
    Query(Page { limit, offset, q }): Query<Page>,
) -> Result<Reply, HttpError> {
    let services = context.state();
    // LIKE pattern with the user's text taken literally: escape the wildcards.
    let pattern = q.filter(|q| !q.is_empty()).map(|q| {
        let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        ["%", &escaped, "%"].concat()
    });
    let (deferred, completer) = context.defer()?;
    let query = ItemQuery { pattern, limit, offset };
    services.store.items(
        query,
        answer(completer, move |page: store::ItemPage| {
            let items: Vec<Item> = page.items.into_iter().map(Item::from).collect();
            Ok(Response::json(StatusCode::OK, &ItemList { items, limit, offset, total: page.total }))
        }),
    );
    Ok(deferred.into())
}

/// 404 for an item that does not exist, 403 for one the caller does not own.
fn changed<T>(change: Change<T>) -> Result<T, HttpError> {
    match change {
        Change::Done(result) => Ok(result),
        Change::NotFound => Err(HttpError::not_found("no such item")),
        Change::NotOwner => Err(HttpError::new(StatusCode::FORBIDDEN, "not your item")),
    }
}

fn get_item(_: &Request<'_>, context: &mut Context<'_, Api>, ItemId(id): ItemId) -> Result<Reply, HttpError> {
    let services = context.state();
    let (deferred, completer) = context.defer()?;
    services.store.item(
        id,
        answer(completer, |item| match item {
            Some(item) => Ok(Response::json(StatusCode::OK, &Item::from(item))),
            None => Err(HttpError::not_found("no such item")),
        }),
    );
    Ok(deferred.into())
}

fn create_item(
    request: &Request<'_>,
    context: &mut Context<'_, Api>,
    Json(input): Json<ItemInput>,
) -> Result<Reply, HttpError> {
    let services = context.state();
    let fields = ItemFields::from(input);
    let store = Arc::clone(&services.store);
    with_caller(services, request, context, move |owner, completer| {
        let respond = |item: store::Item| {
            Ok(Response::created(&["/api/items/", &item.id.to_string()].concat(), &Item::from(item)))
        };
        store.create_item(owner.user_id, fields, auth::unix_now(), answer(completer, respond));
    })
}

fn update_item(
    request: &Request<'_>,
    context: &mut Context<'_, Api>,
    (ItemId(id), Json(input)): (ItemId, Json<ItemInput>),
) -> Result<Reply, HttpError> {
    let services = context.state();
    let fields = ItemFields::from(input);
    let store = Arc::clone(&services.store);
    with_caller(services, request, context, move |caller, completer| {
        let respond = |change| Ok(Response::json(StatusCode::OK, &Item::from(changed(change)?)));
        store.update_item(id, caller.user_id, fields, auth::unix_now(), answer(completer, respond));
    })
}

fn delete_item(
    request: &Request<'_>,
    context: &mut Context<'_, Api>,
    ItemId(id): ItemId,
) -> Result<Reply, HttpError> {
    let services = context.state();
    let store = Arc::clone(&services.store);
    with_caller(services, request, context, move |caller, completer| {
        let respond = |change| changed(change).map(|()| Response::no_content());
        store.delete_item(id, caller.user_id, answer(completer, respond));
    })
}
