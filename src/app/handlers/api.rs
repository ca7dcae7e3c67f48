//! `/api`: users, login/logout and the `items` resource, on a [`Store`].
//!
//! Every handler here validates what it can on the loop (cheap), then defers: the store answers
//! later through a callback (on a database thread for SQLite, on this loop for PostgreSQL), and
//! password hashing runs on the [`Blocking`] pool. The response goes back through the
//! connection's `Completer`. The handlers do not know which database is behind the store.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::app::auth::{self, TokenCache};
use crate::app::blocking::{Blocking, Refused};
use crate::app::middleware::Principal;
use crate::app::response::FieldError;
use crate::app::{App, Completer, Context, HeaderValue, HttpError, Reply, Request, Response};
use crate::db::pg::PgStore;
use crate::db::{DbError, DbLocation, Durability, SqliteStore};
use crate::http::status::StatusCode;
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
pub fn probe(services: &Services) -> crate::app::handlers::health::Probe {
    let store = Arc::clone(&services.store);
    crate::app::handlers::health::Probe(Arc::new(move |done| {
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
        api.post("/users", create_user)
            .post("/login", login)
            .get("/items", list_items)
            .get("/items/{id}", get_item)
            .scope("", |signed_in| {
                signed_in
                    .with(auth)
                    .post("/logout", logout)
                    .post("/items", create_item)
                    .put("/items/{id}", update_item)
                    .delete("/items/{id}", delete_item)
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

fn field(name: &str, message: &str) -> FieldError {
    FieldError { field: name.to_owned(), message: message.to_owned() }
}

/// The body as a JSON object (400 malformed, 415 wrong type, 422 not an object).
fn json_object(request: &Request<'_>) -> Result<Map<String, Value>, HttpError> {
    match request.json::<Value>()? {
        Value::Object(object) => Ok(object),
        _ => Err(HttpError::invalid_fields(vec![field("(body)", "must be a JSON object")])),
    }
}

// --- users and tokens ----------------------------------------------------------------------

fn create_user(request: &Request<'_>, context: &mut Context<'_, Api>) -> Result<Reply, HttpError> {
    let services = context.state();
    let body = json_object(request)?;
    let mut problems = Vec::new();
    let username = match body.get("username") {
        Some(Value::String(name))
            if (3..=32).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) =>
        {
            name.clone()
        }
        Some(Value::String(_)) => {
            problems.push(field("username", "must be 3 to 32 characters: letters, digits, '_', '.', '-'"));
            String::new()
        }
        _ => {
            problems.push(field("username", "is required and must be a string"));
            String::new()
        }
    };
    let password = match body.get("password") {
        Some(Value::String(p)) if (8..=128).contains(&p.chars().count()) => p.clone(),
        Some(Value::String(_)) => {
            problems.push(field("password", "must be 8 to 128 characters"));
            String::new()
        }
        _ => {
            problems.push(field("password", "is required and must be a string"));
            String::new()
        }
    };
    if !problems.is_empty() {
        return Err(HttpError::invalid_fields(problems));
    }
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
                    &json!({ "id": user.id, "username": user.username, "created_at": rfc3339(user.created_at) }),
                )),
                None => Err(HttpError::new(StatusCode::CONFLICT, "username already taken")),
            }),
        );
    });
    Ok(deferred.into())
}

fn login(request: &Request<'_>, context: &mut Context<'_, Api>) -> Result<Reply, HttpError> {
    let services = context.state();
    let address = client_address(request, services.trust_forwarded_for);
    let body = json_object(request)?;
    let (Some(Value::String(username)), Some(Value::String(password))) =
        (body.get("username"), body.get("password"))
    else {
        return Err(HttpError::invalid_fields(vec![
            field("username", "is required and must be a string"),
            field("password", "is required and must be a string"),
        ]));
    };
    let attempt = Attempt { username: username.clone(), address, now: auth::unix_now() };
    let (lookup, address, since) = (attempt.username.clone(), attempt.address.clone(), attempt.since());
    let password = password.clone();
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
        Ok(Response::json(StatusCode::OK, &json!({ "token": token, "expires_at": rfc3339(expires_at) })))
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
#[derive(Debug, Serialize)]
struct Item {
    id: i64,
    title: String,
    body: String,
    done: bool,
    owner: String,
    created_at: String,
    updated_at: String,
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

/// Checks every field and reports all problems at once (422).
fn item_input(request: &Request<'_>) -> Result<ItemFields, HttpError> {
    let object = json_object(request)?;
    let mut problems = Vec::new();
    let title = match object.get("title") {
        Some(Value::String(t)) if (1..=MAX_TITLE).contains(&t.chars().count()) => t.clone(),
        Some(Value::String(_)) => {
            problems.push(field("title", "must be 1 to 200 characters"));
            String::new()
        }
        Some(_) => {
            problems.push(field("title", "must be a string"));
            String::new()
        }
        None => {
            problems.push(field("title", "is required"));
            String::new()
        }
    };
    let body = match object.get("body") {
        None => String::new(),
        Some(Value::String(b)) if b.chars().count() <= MAX_BODY => b.clone(),
        Some(Value::String(_)) => {
            problems.push(field("body", "must be at most 10000 characters"));
            String::new()
        }
        Some(_) => {
            problems.push(field("body", "must be a string"));
            String::new()
        }
    };
    let done = match object.get("done") {
        None => false,
        Some(Value::Bool(done)) => *done,
        Some(_) => {
            problems.push(field("done", "must be true or false"));
            false
        }
    };
    if problems.is_empty() {
        Ok(ItemFields { title, body, done })
    } else {
        Err(HttpError::invalid_fields(problems))
    }
}

/// The `{id}` of an item route: 400 when it is not an integer, like any malformed path
/// parameter; 404 when it is one no item can have.
fn item_id(request: &Request<'_>) -> Result<i64, HttpError> {
    let id: i64 = request.param_as("id")?;
    if id > 0 { Ok(id) } else { Err(HttpError::not_found("no such item")) }
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

fn list_items(request: &Request<'_>, context: &mut Context<'_, Api>) -> Result<Reply, HttpError> {
    let services = context.state();
    let query = request.query()?;
    let number = |name: &str, default: i64, range: std::ops::RangeInclusive<i64>| -> Result<i64, HttpError> {
        match query.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| HttpError::bad_request(format!("{name} must be an integer in {range:?}"))),
        }
    };
    let limit = number("limit", DEFAULT_LIMIT, 1..=MAX_LIMIT)?;
    let offset = number("offset", 0, 0..=i64::MAX)?;
    // LIKE pattern with the user's text taken literally: escape the wildcards.
    let pattern = query.get("q").filter(|q| !q.is_empty()).map(|q| {
        let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        ["%", &escaped, "%"].concat()
    });
    let (deferred, completer) = context.defer()?;
    let query = ItemQuery { pattern, limit, offset };
    services.store.items(
        query,
        answer(completer, move |page: store::ItemPage| {
            let items: Vec<Item> = page.items.into_iter().map(Item::from).collect();
            Ok(Response::json(
                StatusCode::OK,
                &json!({ "items": items, "limit": limit, "offset": offset, "total": page.total }),
            ))
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

fn get_item(request: &Request<'_>, context: &mut Context<'_, Api>) -> Result<Reply, HttpError> {
    let services = context.state();
    let id = item_id(request)?;
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

fn create_item(request: &Request<'_>, context: &mut Context<'_, Api>) -> Result<Reply, HttpError> {
    let services = context.state();
    let fields = item_input(request)?;
    let store = Arc::clone(&services.store);
    with_caller(services, request, context, move |owner, completer| {
        let respond = |item: store::Item| {
            Ok(Response::created(&["/api/items/", &item.id.to_string()].concat(), &Item::from(item)))
        };
        store.create_item(owner.user_id, fields, auth::unix_now(), answer(completer, respond));
    })
}

fn update_item(request: &Request<'_>, context: &mut Context<'_, Api>) -> Result<Reply, HttpError> {
    let services = context.state();
    let id = item_id(request)?;
    let fields = item_input(request)?;
    let store = Arc::clone(&services.store);
    with_caller(services, request, context, move |caller, completer| {
        let respond = |change| Ok(Response::json(StatusCode::OK, &Item::from(changed(change)?)));
        store.update_item(id, caller.user_id, fields, auth::unix_now(), answer(completer, respond));
    })
}

fn delete_item(request: &Request<'_>, context: &mut Context<'_, Api>) -> Result<Reply, HttpError> {
    let services = context.state();
    let id = item_id(request)?;
    let store = Arc::clone(&services.store);
    with_caller(services, request, context, move |caller, completer| {
        let respond = |change| changed(change).map(|()| Response::no_content());
        store.delete_item(id, caller.user_id, answer(completer, respond));
    })
}
