//! What `/api` keeps, and the one interface both databases offer for it.
//!
//! The `/api` handlers talk to a [`Store`] and do not know which database is behind it: SQLite
//! on a pool of threads (`db::SqliteStore`) or PostgreSQL driven by each worker's event
//! loop (`db::pg::PgStore`). Every operation is one call that answers later through a
//! [`Done`] callback, on whatever thread finished it; a write's callback runs only after the
//! write committed. Nothing here knows about HTTP.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch: the clock of token expiry and login windows.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The callback an operation answers through: exactly once, after any write it made committed.
pub type Done<T> = Box<dyn FnOnce(Result<T, StoreError>) + Send>;

/// Why an operation did not happen (or may not have: a write whose commit was never confirmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// What kind of failure, which decides the answer a client gets.
    pub kind: ErrorKind,
    /// What went wrong, for the log (never shown to clients).
    pub cause: String,
}

/// The kinds of [`StoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Too much work queued; retry shortly (503 with `Retry-After`).
    Busy,
    /// The database cannot be reached or did not confirm in time; retry shortly (503).
    Unavailable,
    /// The database failed the operation (500).
    Failed,
}

impl ErrorKind {
    /// Every kind, in [`error_counts`] order.
    pub const ALL: [ErrorKind; 3] = [ErrorKind::Busy, ErrorKind::Unavailable, ErrorKind::Failed];

    /// The kind's name, for metrics.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Busy => "busy",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Failed => "failed",
        }
    }
}

/// Store errors made since the process started, by kind ([`ErrorKind::ALL`] order). Every
/// error is made by one of [`StoreError`]'s constructors, which count it.
static ERRORS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// How many store errors of each kind were made since the process started (for `/metrics`):
/// busy ones are the requests refused because a queue was full (or the database locked).
pub fn error_counts() -> [(ErrorKind, u64); 3] {
    ErrorKind::ALL.map(|kind| (kind, ERRORS[kind as usize].load(Ordering::Relaxed)))
}

impl StoreError {
    fn new(kind: ErrorKind, cause: impl fmt::Display) -> StoreError {
        ERRORS[kind as usize].fetch_add(1, Ordering::Relaxed);
        StoreError { kind, cause: cause.to_string() }
    }

    /// A [`ErrorKind::Busy`] error.
    pub fn busy(cause: impl fmt::Display) -> StoreError {
        StoreError::new(ErrorKind::Busy, cause)
    }

    /// An [`ErrorKind::Unavailable`] error.
    pub fn unavailable(cause: impl fmt::Display) -> StoreError {
        StoreError::new(ErrorKind::Unavailable, cause)
    }

    /// An [`ErrorKind::Failed`] error.
    pub fn failed(cause: impl fmt::Display) -> StoreError {
        StoreError::new(ErrorKind::Failed, cause)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cause)
    }
}

impl std::error::Error for StoreError {}

/// A user as stored. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id.
    pub id: i64,
    /// The unique name.
    pub username: String,
    /// When the user registered.
    pub created_at: i64,
}

/// A new user: the password is already hashed (hashing is CPU work for the caller's pool).
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The unique name.
    pub username: String,
    /// The PHC string of the password.
    pub password_hash: String,
    /// Now, in Unix seconds.
    pub created_at: i64,
}

/// What a login checks a password against.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user's id.
    pub user_id: i64,
    /// The PHC string of the password.
    pub password_hash: String,
}

/// Failed logins from one client address within the limiter's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    /// How many.
    pub count: u32,
    /// When the oldest of them was, in Unix seconds.
    pub oldest: Option<i64>,
}

/// A live token as stored: only the SHA-256 of the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// SHA-256 of the token.
    pub hash: [u8; 32],
    /// Whose it is.
    pub user_id: i64,
    /// Their name.
    pub username: String,
    /// When it expires, in Unix seconds.
    pub expires_at: i64,
}

/// An item as stored, with its owner's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The item's id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// Whether it is done.
    pub done: bool,
    /// The owner's username.
    pub owner: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// The fields a client sets on an item (validated before they get here).
#[derive(Debug, Clone)]
pub struct ItemFields {
    /// The title.
    pub title: String,
    /// The text.
    pub body: String,
    /// Whether it is done.
    pub done: bool,
}

/// Which page of which items to list.
#[derive(Debug, Clone)]
pub struct ItemQuery {
    /// A `LIKE` pattern (with `\` escaping) matched against titles and bodies, if any.
    pub pattern: Option<String>,
    /// Most items on the page.
    pub limit: i64,
    /// Items skipped before the page.
    pub offset: i64,
}

/// One page of items and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemPage {
    /// The page.
    pub items: Vec<Item>,
    /// How many items match.
    pub total: i64,
}

/// What a change to someone's item came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// Done: the result.
    Done(T),
    /// There is no such item.
    NotFound,
    /// The item belongs to someone else; nothing changed.
    NotOwner,
}

/// What a store tells its user about changes made elsewhere (by other instances on the same
/// database), for caches to follow.
pub trait Changes: Send + Sync + fmt::Debug {
    /// A token was revoked.
    fn token_revoked(&self, hash: [u8; 32]);
    /// Notices may have been missed (the store was disconnected): forget what is cached.
    fn missed(&self);
}

/// The operations `/api` needs, each answering through a [`Done`].
pub trait Store: Send + Sync + fmt::Debug {
    /// Adds a user; `None` when the name is taken.
    fn create_user(&self, user: NewUser, done: Done<Option<User>>);
    /// The id and password hash of `username` (if there is such a user), and the failed logins
    /// from `address` after `since` (Unix seconds).
    fn credentials(
        &self,
        username: String,
        address: String,
        since: i64,
        done: Done<(Option<Credentials>, Failures)>,
    );
    /// Records a failed login from `address` at `at`, forgetting its failures up to `since`.
    fn record_failed_login(&self, address: String, at: i64, since: i64, done: Done<()>);
    /// Stores a new token (its hash), and forgets the failed logins from `address`.
    fn insert_token(&self, token: TokenRow, address: String, done: Done<()>);
    /// The live (unrevoked, unexpired at `now`) token with this hash.
    fn token(&self, hash: [u8; 32], now: i64, done: Done<Option<TokenRow>>);
    /// Revokes a token (and tells every instance listening, where the database can).
    fn revoke_token(&self, hash: [u8; 32], done: Done<()>);
    /// Answers once the database answers a trivial query (readiness checks).
    fn ping(&self, done: Done<()>);
    /// One item.
    fn item(&self, id: i64, done: Done<Option<Item>>);
    /// A page of items, in id order.
    fn items(&self, query: ItemQuery, done: Done<ItemPage>);
    /// Adds an item owned by `owner` (a user id) at time `now`.
    fn create_item(&self, owner: i64, fields: ItemFields, now: i64, done: Done<Item>);
    /// Changes item `id` if `owner` owns it.
    fn update_item(&self, id: i64, owner: i64, fields: ItemFields, now: i64, done: Done<Change<Item>>);
    /// Deletes item `id` if `owner` owns it.
    fn delete_item(&self, id: i64, owner: i64, done: Done<Change<()>>);
    /// Stops taking work and finishes what was taken (commits included).
    fn close(&self);
    /// Operations waiting for the database now (for `/metrics`).
    fn queue_depth(&self) -> usize {
        0
    }
}

/// A store's figures on `/metrics`: its queue, and the errors made so far.
pub struct StoreMetrics(pub std::sync::Arc<dyn Store>);

impl crate::metrics::Source for StoreMetrics {
    fn report(&self, out: &mut crate::metrics::Exposition) {
        out.gauge(
            "pollserve_db_queue_depth",
            "Database operations waiting to run.",
            self.0.queue_depth() as f64,
        );
        out.family(
            "pollserve_db_errors_total",
            "counter",
            "Database operations that failed, by kind: busy (refused at once, a queue was full or the \
             database locked: 503), unavailable (503), failed (500).",
        );
        for (kind, count) in error_counts() {
            out.sample("pollserve_db_errors_total", &[("kind", kind.name())], count as f64);
        }
    }
}
