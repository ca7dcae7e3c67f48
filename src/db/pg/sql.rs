//! Every SQL statement pollserve sends PostgreSQL, and the schema's migrations.
//!
//! Each `/api` operation is one statement, so each is one query in a pipeline and commits by
//! itself (no `BEGIN`/`COMMIT` round trips): the ownership check of an update or delete is in
//! the same statement as the change, and creating a user whose name is taken inserts nothing
//! instead of failing.

/// A statement prepared once per connection.
#[derive(Debug)]
pub struct Statement {
    /// Its name on the connection.
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
    /// The type (OID) of each parameter.
    pub params: &'static [u32],
}

/// Type OIDs (`pg_type.oid`) of the parameters used here.
pub mod oid {
    /// `boolean`.
    pub const BOOL: u32 = 16;
    /// `bytea`.
    pub const BYTEA: u32 = 17;
    /// `bigint`.
    pub const INT8: u32 = 20;
    /// `text`.
    pub const TEXT: u32 = 25;
}

use oid::{BOOL, BYTEA, INT8, TEXT};

/// The columns an item is read with, in [`super::rows`]'s order.
macro_rules! item_columns {
    ($alias:literal) => {
        concat!(
            $alias,
            ".id, ",
            $alias,
            ".title, ",
            $alias,
            ".body, ",
            $alias,
            ".done, u.username, ",
            $alias,
            ".created_at, ",
            $alias,
            ".updated_at"
        )
    };
}

/// `$1` username, `$2` password hash, `$3` now → `id`; no row when the name is taken.
pub const CREATE_USER: Statement = Statement {
    name: "create_user",
    sql: "INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3)
          ON CONFLICT (username) DO NOTHING RETURNING id",
    params: &[TEXT, TEXT, INT8],
};

/// `$1` username, `$2` address, `$3` since → one row: `id, password_hash` (NULL: no such user),
/// the address's failed logins after `since` and the oldest one's time.
pub const CREDENTIALS: Statement = Statement {
    name: "credentials",
    sql: "SELECT u.id, u.password_hash, f.count, f.oldest
          FROM (SELECT count(*) AS count, min(at) AS oldest FROM login_failures WHERE address = $2 AND at > $3) f
          LEFT JOIN users u ON u.username = $1",
    params: &[TEXT, TEXT, INT8],
};

/// `$1` address, `$2` now, `$3` since: records a failed login, forgetting those up to `since`.
pub const RECORD_FAILED_LOGIN: Statement = Statement {
    name: "record_failed_login",
    sql: "WITH old AS (DELETE FROM login_failures WHERE address = $1 AND at <= $3)
          INSERT INTO login_failures (address, at) VALUES ($1, $2)",
    params: &[TEXT, INT8, INT8],
};

/// `$1` hash, `$2` user id, `$3` expiry, `$4` address (its failed logins are forgotten).
pub const INSERT_TOKEN: Statement = Statement {
    name: "insert_token",
    sql: "WITH cleared AS (DELETE FROM login_failures WHERE address = $4)
          INSERT INTO tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
    params: &[BYTEA, INT8, INT8, TEXT],
};

/// `$1` hash, `$2` now → `user_id, username, expires_at` of a live token.
pub const TOKEN: Statement = Statement {
    name: "token",
    sql: "SELECT t.user_id, u.username, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id
          WHERE t.token_hash = $1 AND NOT t.revoked AND t.expires_at > $2",
    params: &[BYTEA, INT8],
};

/// The channel a revocation is announced on (a macro, so the SQL below can be built from it).
macro_rules! revoked_channel {
    () => {
        "pollserve_revoked"
    };
}

/// The channel a revocation is announced on, to every instance (payload: the hash, in hex).
pub const REVOKED_CHANNEL: &str = revoked_channel!();

/// `$1` hash: revokes the token and, at commit, notifies every connection listening on
/// [`REVOKED_CHANNEL`].
pub const REVOKE_TOKEN: Statement = Statement {
    name: "revoke_token",
    sql: concat!(
        "WITH r AS (UPDATE tokens SET revoked = true WHERE token_hash = $1 RETURNING token_hash)
         SELECT pg_notify('",
        revoked_channel!(),
        "', encode(token_hash, 'hex')) FROM r"
    ),
    params: &[BYTEA],
};

/// A query that only shows the server answers.
pub const PING: Statement = Statement { name: "ping", sql: "SELECT 1", params: &[] };

/// `$1` now → `token_hash, user_id, username, expires_at` of every live token.
pub const LIVE_TOKENS: Statement = Statement {
    name: "live_tokens",
    sql: "SELECT t.token_hash, t.user_id, u.username, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id
          WHERE NOT t.revoked AND t.expires_at > $1",
    params: &[INT8],
};

/// `$1` id → the item.
pub const ITEM: Statement = Statement {
    name: "item",
    sql: concat!(
        "SELECT ",
        item_columns!("i"),
        " FROM items i JOIN users u ON u.id = i.owner WHERE i.id = $1"
    ),
    params: &[INT8],
};

/// `$1` pattern or NULL, `$2` limit, `$3` offset → `total` and the page's items; one row with
/// only `total` when the page is empty. (`ILIKE`: SQLite's `LIKE` ignores ASCII case too.)
pub const ITEMS: Statement = Statement {
    name: "items",
    sql: concat!(
        "WITH matching AS (SELECT * FROM items i WHERE $1::text IS NULL
             OR i.title ILIKE $1 ESCAPE '\\' OR i.body ILIKE $1 ESCAPE '\\')
         SELECT t.total, ",
        item_columns!("p"),
        "
         FROM (SELECT count(*) AS total FROM matching) t
         LEFT JOIN LATERAL (SELECT * FROM matching ORDER BY id LIMIT $2 OFFSET $3) p ON true
         LEFT JOIN users u ON u.id = p.owner
         ORDER BY p.id"
    ),
    params: &[TEXT, INT8, INT8],
};

/// `$1` title, `$2` body, `$3` done, `$4` owner, `$5` now → the new item.
pub const CREATE_ITEM: Statement = Statement {
    name: "create_item",
    sql: concat!(
        "WITH i AS (INSERT INTO items (title, body, done, owner, created_at, updated_at)
                    VALUES ($1, $2, $3, $4, $5, $5) RETURNING *)
         SELECT ",
        item_columns!("i"),
        " FROM i JOIN users u ON u.id = i.owner"
    ),
    params: &[TEXT, TEXT, BOOL, INT8, INT8],
};

/// `$1` title, `$2` body, `$3` done, `$4` now, `$5` id, `$6` caller → no row: no such item;
/// `owner` and NULLs: not the caller's; `owner` and the changed item: done.
pub const UPDATE_ITEM: Statement = Statement {
    name: "update_item",
    sql: concat!(
        "WITH target AS (SELECT owner FROM items WHERE id = $5),
              changed AS (UPDATE items SET title = $1, body = $2, done = $3, updated_at = $4
                          WHERE id = $5 AND owner = $6 RETURNING *)
         SELECT t.owner, ",
        item_columns!("c"),
        "
         FROM target t LEFT JOIN changed c ON true LEFT JOIN users u ON u.id = c.owner"
    ),
    params: &[TEXT, TEXT, BOOL, INT8, INT8, INT8],
};

/// `$1` id, `$2` caller → no row: no such item; `owner, deleted id` (NULL: not the caller's).
pub const DELETE_ITEM: Statement = Statement {
    name: "delete_item",
    sql: "WITH target AS (SELECT owner FROM items WHERE id = $1),
               gone AS (DELETE FROM items WHERE id = $1 AND owner = $2 RETURNING id)
          SELECT t.owner, g.id FROM target t LEFT JOIN gone g ON true",
    params: &[INT8, INT8],
};

/// Every statement, prepared on every connection.
pub static STATEMENTS: &[Statement] = &[
    CREATE_USER,
    CREDENTIALS,
    RECORD_FAILED_LOGIN,
    INSERT_TOKEN,
    TOKEN,
    REVOKE_TOKEN,
    PING,
    LIVE_TOKENS,
    ITEM,
    ITEMS,
    CREATE_ITEM,
    UPDATE_ITEM,
    DELETE_ITEM,
];

/// Serializes migrations of concurrent start-ups (several instances on one database): the key
/// of a transaction-scoped advisory lock.
pub const MIGRATION_LOCK: i64 = 0x706f_6c6c_7365_7276; // "pollserv"

/// Creates the table that records which migrations ran.
pub const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// Each entry is one migration (version = index + 1); never edit a shipped one, append.
pub const MIGRATIONS: &[&str] = &[
    // 1: users, their tokens (only SHA-256 hashes), and items; times in Unix seconds.
    "CREATE TABLE users (
        id            bigserial PRIMARY KEY,
        username      text NOT NULL UNIQUE,
        password_hash text NOT NULL,
        created_at    bigint NOT NULL
    );
    CREATE TABLE tokens (
        token_hash bytea PRIMARY KEY,
        user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at bigint NOT NULL,
        revoked    boolean NOT NULL DEFAULT false
    );
    CREATE TABLE items (
        id         bigserial PRIMARY KEY,
        title      text NOT NULL,
        body       text NOT NULL DEFAULT '',
        done       boolean NOT NULL DEFAULT false,
        owner      bigint NOT NULL REFERENCES users(id),
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
    );
    CREATE INDEX items_owner ON items(owner);",
    // 2: failed logins per client address, shared by every instance's login limiter.
    "CREATE TABLE login_failures (
        address text NOT NULL,
        at      bigint NOT NULL
    );
    CREATE INDEX login_failures_address ON login_failures(address, at);",
];
