//! `/api`: users, login/logout and the `items` resource, backed by SQLite.
//!
//! Every handler here validates what it can on the loop (cheap), then defers: the database work
//! (and password hashing) runs on the [`DbPool`], and the response comes back through the
//! connection's `Completer`. All SQL is parameterised; nothing is built with `format!`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::app::auth::{self, LoginLimiter, TokenCache};
use crate::app::middleware::Principal;
use crate::app::response::FieldError;
use crate::app::{App, Context, HttpError, Reply, Request, Response};
use crate::db::{Access, DbError, DbLocation, DbPool, Durability};
use crate::http::request::Method;
use crate::http::status::StatusCode;

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 20;
/// Largest `limit` accepted.
pub const MAX_LIMIT: i64 = 100;
/// Longest item title, in Unicode code points (as JSON Schema's `maxLength` counts them).
pub const MAX_TITLE: usize = 200;
/// Longest item body, in characters.
pub const MAX_BODY: usize = 10_000;

/// What the API handlers share: the database pool, live tokens, the login limiter.
#[derive(Debug)]
pub struct Services {
    /// The database threads.
    pub db: Arc<DbPool>,
    /// Live bearer tokens.
    pub tokens: Arc<TokenCache>,
    /// Failed-login counts per client address.
    pub logins: LoginLimiter,
    /// How long a token issued at login stays valid.
    pub token_lifetime: Duration,
    /// What an unknown user's password is checked against ([`auth::dummy_hash`]).
    dummy_hash: String,
}

/// How the API is set up: the command line's database and login settings.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Database pool threads.
    pub db_threads: usize,
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
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Db(e) => write!(f, "cannot open the database: {e}"),
            StartError::DummyHash(e) => write!(f, "cannot prepare the login timing defence: {}", e.message),
        }
    }
}

impl std::error::Error for StartError {}

impl Services {
    /// Opens (and migrates) the database, loads the live tokens and builds the dummy hash.
    pub fn open(location: &DbLocation, options: &ApiOptions) -> Result<Arc<Services>, StartError> {
        let dummy_hash = auth::dummy_hash().map_err(StartError::DummyHash)?;
        let (db, tokens) = DbPool::open(location, options.db_threads, options.db_sync, |connection| {
            TokenCache::load(connection)
        })
        .map_err(StartError::Db)?;
        Ok(Arc::new(Services {
            db,
            tokens: Arc::new(tokens),
            logins: LoginLimiter::new(options.max_failed_logins),
            token_lifetime: options.token_lifetime,
            dummy_hash,
        }))
    }
}

/// The routes that need a bearer token: every write to items, and logout.
pub fn protects(method: Method, path: &str) -> bool {
    match path {
        "/api/logout" => true,
        "/api/items" => method == Method::Post,
        _ => path.starts_with("/api/items/") && matches!(method, Method::Put | Method::Delete),
    }
}

/// Adds the `/api` routes and the auth middleware to `app`.
pub fn routes(app: App, services: &Arc<Services>) -> App {
    let s = |f: fn(&Arc<Services>, &Request<'_>, &mut Context<'_>) -> Result<Reply, HttpError>| {
        let services = Arc::clone(services);
        move |request: &Request<'_>, context: &mut Context<'_>| f(&services, request, context)
    };
    app.post("/api/users", s(create_user))
        .post("/api/login", s(login))
        .post("/api/logout", s(logout))
        .get("/api/items", s(list_items))
        .post("/api/items", s(create_item))
        .get("/api/items/{id}", s(get_item))
        .put("/api/items/{id}", s(update_item))
        .delete("/api/items/{id}", s(delete_item))
        .with(auth::Auth::new(Arc::clone(&services.tokens), protects))
}

/// Defers the response and runs `work` on the database pool, alone or grouped with other writes
/// (see [`Access`]).
fn on_db(
    services: &Services,
    context: &mut Context<'_>,
    access: Access,
    work: impl FnOnce(&mut Connection) -> Result<Response, HttpError> + Send + 'static,
) -> Result<Reply, HttpError> {
    let (deferred, completer) = context.defer()?;
    let work = Box::new(move |connection: &mut Connection| work(connection).unwrap_or_else(Response::from));
    services.db.submit(completer, access, work);
    Ok(deferred.into())
}

/// Maps an SQLite failure to a response: busy → 503, anything else → 500.
fn db_error(error: rusqlite::Error) -> HttpError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "database busy")
                .with_header("Retry-After", crate::app::HeaderValue::from_static("1"))
                .with_cause(error)
        }
        _ => HttpError::internal("database error").with_cause(error),
    }
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

fn create_user(
    services: &Arc<Services>,
    request: &Request<'_>,
    context: &mut Context<'_>,
) -> Result<Reply, HttpError> {
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
    on_db(services, context, Access::Alone, move |connection| {
        let hash = auth::hash_password(&password)?;
        let now = auth::unix_now();
        let inserted = connection.execute(
            "INSERT INTO users (username, password_hash, created_at) VALUES (?1, ?2, ?3)",
            params![username, hash, now],
        );
        match inserted {
            Ok(_) => {
                let id = connection.last_insert_rowid();
                let user = json!({ "id": id, "username": username, "created_at": rfc3339(now) });
                Ok(Response::json(StatusCode::CREATED, &user))
            }
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                Err(HttpError::new(StatusCode::CONFLICT, "username already taken"))
            }
            Err(e) => Err(db_error(e)),
        }
    })
}

fn login(
    services: &Arc<Services>,
    request: &Request<'_>,
    context: &mut Context<'_>,
) -> Result<Reply, HttpError> {
    let address = request.peer().map_or(IpAddr::from([0, 0, 0, 0]), |peer| peer.ip());
    services.logins.check(address, Instant::now()).map_err(auth::too_many_logins)?;
    let body = json_object(request)?;
    let (Some(Value::String(username)), Some(Value::String(password))) =
        (body.get("username"), body.get("password"))
    else {
        return Err(HttpError::invalid_fields(vec![
            field("username", "is required and must be a string"),
            field("password", "is required and must be a string"),
        ]));
    };
    let (username, password) = (username.clone(), password.clone());
    let services_for_job = Arc::clone(services);
    on_db(services, context, Access::Alone, move |connection| {
        let services = services_for_job;
        let user: Option<(i64, String)> = connection
            .prepare_cached("SELECT id, password_hash FROM users WHERE username = ?1")
            .and_then(|mut s| s.query_row([&username], |row| Ok((row.get(0)?, row.get(1)?))).optional())
            .map_err(db_error)?;
        // Unknown users are checked against a dummy hash so both failures take as long.
        let phc = user.as_ref().map_or_else(|| services.dummy_hash.clone(), |(_, phc)| phc.clone());
        let valid = auth::verify_password(&password, &phc);
        let Some((user_id, _)) = user.filter(|_| valid) else {
            services.logins.failed(address, Instant::now());
            return Err(HttpError::new(StatusCode::UNAUTHORIZED, "invalid username or password"));
        };
        let token = auth::new_token()?;
        let hash = auth::token_hash(&token);
        let expires_at =
            auth::unix_now() + i64::try_from(services.token_lifetime.as_secs()).unwrap_or(i64::MAX);
        connection
            .prepare_cached("INSERT INTO tokens (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![hash.as_slice(), user_id, expires_at]))
            .map_err(db_error)?;
        services.tokens.insert(hash, Principal { user_id, username: username.into() }, expires_at);
        services.logins.succeeded(address);
        Ok(Response::json(StatusCode::OK, &json!({ "token": token, "expires_at": rfc3339(expires_at) })))
    })
}

fn logout(
    services: &Arc<Services>,
    request: &Request<'_>,
    context: &mut Context<'_>,
) -> Result<Reply, HttpError> {
    let token = auth::bearer(request).ok_or_else(|| auth::unauthorized(auth::AuthError::Missing))?;
    let hash = auth::token_hash(token);
    let services_for_job = Arc::clone(services);
    on_db(services, context, Access::Alone, move |connection| {
        connection
            .prepare_cached("UPDATE tokens SET revoked = 1 WHERE token_hash = ?1")
            .and_then(|mut s| s.execute([hash.as_slice()]))
            .map_err(db_error)?;
        services_for_job.tokens.revoke(&hash);
        Ok(Response::no_content())
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

const SELECT_ITEM: &str = "SELECT i.id, i.title, i.body, i.done, u.username, i.created_at, i.updated_at
     FROM items i JOIN users u ON u.id = i.owner";

fn item_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        id: row.get(0)?,
        title: row.get(1)?,
        body: row.get(2)?,
        done: row.get(3)?,
        owner: row.get(4)?,
        created_at: rfc3339(row.get(5)?),
        updated_at: rfc3339(row.get(6)?),
    })
}

fn load_item(connection: &Connection, id: i64) -> Result<Option<Item>, HttpError> {
    connection
        .prepare_cached(&[SELECT_ITEM, " WHERE i.id = ?1"].concat())
        .and_then(|mut s| s.query_row([id], item_from_row).optional())
        .map_err(db_error)
}

/// A validated item body.
#[derive(Debug)]
struct ItemInput {
    title: String,
    body: String,
    done: bool,
}

/// Checks every field and reports all problems at once (422).
fn item_input(request: &Request<'_>) -> Result<ItemInput, HttpError> {
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
        Ok(ItemInput { title, body, done })
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

fn caller(context: &Context<'_>) -> Result<Principal, HttpError> {
    context.principal().cloned().ok_or_else(|| auth::unauthorized(auth::AuthError::Missing))
}

fn list_items(
    services: &Arc<Services>,
    request: &Request<'_>,
    context: &mut Context<'_>,
) -> Result<Reply, HttpError> {
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
    on_db(services, context, Access::Alone, move |connection| {
        const FILTER: &str =
            " WHERE (?1 IS NULL OR i.title LIKE ?1 ESCAPE '\\' OR i.body LIKE ?1 ESCAPE '\\')";
        let total: i64 = connection
            .prepare_cached(&["SELECT count(*) FROM items i", FILTER].concat())
            .and_then(|mut s| s.query_row([&pattern], |row| row.get(0)))
            .map_err(db_error)?;
        let items: Vec<Item> = connection
            .prepare_cached(&[SELECT_ITEM, FILTER, " ORDER BY i.id LIMIT ?2 OFFSET ?3"].concat())
            .and_then(|mut s| s.query_map(params![pattern, limit, offset], item_from_row)?.collect())
            .map_err(db_error)?;
        Ok(Response::json(
            StatusCode::OK,
            &json!({ "items": items, "limit": limit, "offset": offset, "total": total }),
        ))
    })
}

fn get_item(
    services: &Arc<Services>,
    request: &Request<'_>,
    context: &mut Context<'_>,
) -> Result<Reply, HttpError> {
    let id = item_id(request)?;
    on_db(services, context, Access::Alone, move |connection| match load_item(connection, id)? {
        Some(item) => Ok(Response::json(StatusCode::OK, &item)),
        None => Err(HttpError::not_found("no such item")),
    })
}

fn create_item(
    services: &Arc<Services>,
    request: &Request<'_>,
    context: &mut Context<'_>,
) -> Result<Reply, HttpError> {
    let input = item_input(request)?;
    let owner = caller(context)?;
    on_db(services, context, Access::Grouped, move |connection| {
        let now = auth::unix_now();
        connection
            .prepare_cached(
                "INSERT INTO items (title, body, done, owner, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )
            .and_then(|mut s| s.execute(params![input.title, input.body, input.done, owner.user_id, now]))
            .map_err(db_error)?;
        let id = connection.last_insert_rowid();
        let item = load_item(connection, id)?.ok_or_else(|| HttpError::internal("item vanished"))?;
        Ok(Response::created(&["/api/items/", &id.to_string()].concat(), &item))
    })
}

/// 404 if the item does not exist, 403 if the caller does not own it.
fn check_owner(connection: &Connection, id: i64, caller: &Principal) -> Result<(), HttpError> {
    let owner: Option<i64> = connection
        .prepare_cached("SELECT owner FROM items WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |row| row.get(0)).optional())
        .map_err(db_error)?;
    match owner {
        None => Err(HttpError::not_found("no such item")),
        Some(owner) if owner != caller.user_id => Err(HttpError::new(StatusCode::FORBIDDEN, "not your item")),
        Some(_) => Ok(()),
    }
}

fn update_item(
    services: &Arc<Services>,
    request: &Request<'_>,
    context: &mut Context<'_>,
) -> Result<Reply, HttpError> {
    let id = item_id(request)?;
    let input = item_input(request)?;
    let caller = caller(context)?;
    on_db(services, context, Access::Grouped, move |connection| {
        let savepoint = connection.savepoint().map_err(db_error)?;
        check_owner(&savepoint, id, &caller)?;
        savepoint
            .prepare_cached(
                "UPDATE items SET title = ?1, body = ?2, done = ?3, updated_at = ?4 WHERE id = ?5",
            )
            .and_then(|mut s| s.execute(params![input.title, input.body, input.done, auth::unix_now(), id]))
            .map_err(db_error)?;
        let item = load_item(&savepoint, id)?.ok_or_else(|| HttpError::not_found("no such item"))?;
        savepoint.commit().map_err(db_error)?;
        Ok(Response::json(StatusCode::OK, &item))
    })
}

fn delete_item(
    services: &Arc<Services>,
    request: &Request<'_>,
    context: &mut Context<'_>,
) -> Result<Reply, HttpError> {
    let id = item_id(request)?;
    let caller = caller(context)?;
    on_db(services, context, Access::Grouped, move |connection| {
        let savepoint = connection.savepoint().map_err(db_error)?;
        check_owner(&savepoint, id, &caller)?;
        savepoint.execute("DELETE FROM items WHERE id = ?1", [id]).map_err(db_error)?;
        savepoint.commit().map_err(db_error)?;
        Ok(Response::no_content())
    })
}
