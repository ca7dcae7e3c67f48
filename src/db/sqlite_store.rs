//! [`Store`] on SQLite: each operation is a job for the [`DbPool`]'s threads.

use std::sync::Arc;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::{Access, DbError, DbLocation, DbPool, Durability, job};
use crate::store::{
    Change, Credentials, Done, Failures, Item, ItemFields, ItemPage, ItemQuery, NewUser, Store, StoreError,
    TokenRow, User,
};

/// The SQLite store: a pool of database threads.
#[derive(Debug)]
pub struct SqliteStore {
    pool: Arc<DbPool>,
}

impl SqliteStore {
    /// Opens (creating and migrating) the database and returns it with the live tokens.
    pub fn open(
        location: &DbLocation,
        threads: usize,
        durability: Durability,
        now: i64,
    ) -> Result<(SqliteStore, Vec<TokenRow>), DbError> {
        let (pool, tokens) = DbPool::open(location, threads, durability, |c| live_tokens(c, now))?;
        Ok((SqliteStore { pool }, tokens))
    }

    fn submit<T: Send + 'static>(
        &self,
        access: Access,
        op: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
        done: Done<T>,
    ) {
        self.pool.submit(access, job(move |c| op(c).map_err(store_error), done));
    }
}

/// Busy or locked → [`StoreError::busy`]; anything else → [`StoreError::failed`].
fn store_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::busy(error),
        _ => StoreError::failed(error),
    }
}

/// Every unexpired, unrevoked token.
fn live_tokens(connection: &Connection, now: i64) -> rusqlite::Result<Vec<TokenRow>> {
    let mut statement = connection.prepare(
        "SELECT t.token_hash, t.user_id, u.username, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.revoked = 0 AND t.expires_at > ?1",
    )?;
    let rows = statement
        .query_map([now], |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?;
    let mut tokens = Vec::new();
    for row in rows {
        let (hash, user_id, username, expires_at) = row?;
        if let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) {
            tokens.push(TokenRow { hash, user_id, username, expires_at });
        }
    }
    Ok(tokens)
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
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

fn load_item(connection: &Connection, id: i64) -> rusqlite::Result<Option<Item>> {
    connection
        .prepare_cached(&[SELECT_ITEM, " WHERE i.id = ?1"].concat())?
        .query_row([id], item_from_row)
        .optional()
}

/// The owner of item `id`, if it exists.
fn owner_of(connection: &Connection, id: i64) -> rusqlite::Result<Option<i64>> {
    connection
        .prepare_cached("SELECT owner FROM items WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()
}

/// Runs `change` if `owner` owns item `id`.
fn if_owner<T>(
    connection: &Connection,
    id: i64,
    owner: i64,
    change: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<Change<T>> {
    match owner_of(connection, id)? {
        None => Ok(Change::NotFound),
        Some(actual) if actual != owner => Ok(Change::NotOwner),
        Some(_) => change(connection).map(Change::Done),
    }
}

impl Store for SqliteStore {
    fn create_user(&self, user: NewUser, done: Done<Option<User>>) {
        let op = move |c: &mut Connection| {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO users (username, password_hash, created_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![user.username, user.password_hash, user.created_at]);
            match inserted {
                Ok(_) => Ok(Some(User {
                    id: c.last_insert_rowid(),
                    username: user.username,
                    created_at: user.created_at,
                })),
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => Ok(None),
                Err(e) => Err(e),
            }
        };
        self.submit(Access::Alone, op, done);
    }

    fn credentials(
        &self,
        username: String,
        address: String,
        since: i64,
        done: Done<(Option<Credentials>, Failures)>,
    ) {
        let op = move |c: &mut Connection| {
            let user = c
                .prepare_cached("SELECT id, password_hash FROM users WHERE username = ?1")?
                .query_row([&username], |row| {
                    Ok(Credentials { user_id: row.get(0)?, password_hash: row.get(1)? })
                })
                .optional()?;
            let failures = c
                .prepare_cached(
                    "SELECT count(*), min(at) FROM login_failures WHERE address = ?1 AND at > ?2",
                )?
                .query_row(params![address, since], |row| {
                    Ok(Failures { count: row.get::<_, u32>(0)?, oldest: row.get(1)? })
                })?;
            Ok((user, failures))
        };
        self.submit(Access::Alone, op, done);
    }

    fn record_failed_login(&self, address: String, at: i64, since: i64, done: Done<()>) {
        let op = move |c: &mut Connection| {
            c.prepare_cached("DELETE FROM login_failures WHERE address = ?1 AND at <= ?2")?
                .execute(params![address, since])?;
            c.prepare_cached("INSERT INTO login_failures (address, at) VALUES (?1, ?2)")?
                .execute(params![address, at])
                .map(drop)
        };
        self.submit(Access::Grouped, op, done);
    }

    fn insert_token(&self, token: TokenRow, address: String, done: Done<()>) {
        let op = move |c: &mut Connection| {
            c.prepare_cached("DELETE FROM login_failures WHERE address = ?1")?.execute([&address])?;
            c.prepare_cached("INSERT INTO tokens (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)")?
                .execute(params![token.hash.as_slice(), token.user_id, token.expires_at])
                .map(drop)
        };
        self.submit(Access::Grouped, op, done);
    }

    fn token(&self, hash: [u8; 32], now: i64, done: Done<Option<TokenRow>>) {
        let op = move |c: &mut Connection| {
            c.prepare_cached(
                "SELECT t.user_id, u.username, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = ?1 AND t.revoked = 0 AND t.expires_at > ?2",
            )?
            .query_row(params![hash.as_slice(), now], |row| {
                Ok(TokenRow { hash, user_id: row.get(0)?, username: row.get(1)?, expires_at: row.get(2)? })
            })
            .optional()
        };
        self.submit(Access::Alone, op, done);
    }

    fn revoke_token(&self, hash: [u8; 32], done: Done<()>) {
        let op = move |c: &mut Connection| {
            c.prepare_cached("UPDATE tokens SET revoked = 1 WHERE token_hash = ?1")?
                .execute([hash.as_slice()])
                .map(drop)
        };
        self.submit(Access::Alone, op, done);
    }

    fn ping(&self, done: Done<()>) {
        self.submit(Access::Alone, |c| c.query_row("SELECT 1", [], |_| Ok(())), done);
    }

    fn item(&self, id: i64, done: Done<Option<Item>>) {
        self.submit(Access::Alone, move |c| load_item(c, id), done);
    }

    fn items(&self, query: ItemQuery, done: Done<ItemPage>) {
        let op = move |c: &mut Connection| {
            const FILTER: &str =
                " WHERE (?1 IS NULL OR i.title LIKE ?1 ESCAPE '\\' OR i.body LIKE ?1 ESCAPE '\\')";
            let total: i64 = c
                .prepare_cached(&["SELECT count(*) FROM items i", FILTER].concat())?
                .query_row([&query.pattern], |row| row.get(0))?;
            let items = c
                .prepare_cached(&[SELECT_ITEM, FILTER, " ORDER BY i.id LIMIT ?2 OFFSET ?3"].concat())?
                .query_map(params![query.pattern, query.limit, query.offset], item_from_row)?
                .collect::<rusqlite::Result<Vec<Item>>>()?;
            Ok(ItemPage { items, total })
        };
        self.submit(Access::Alone, op, done);
    }

    fn create_item(&self, owner: i64, fields: ItemFields, now: i64, done: Done<Item>) {
        let op = move |c: &mut Connection| {
            c.prepare_cached(
                "INSERT INTO items (title, body, done, owner, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )?
            .execute(params![fields.title, fields.body, fields.done, owner, now])?;
            load_item(c, c.last_insert_rowid())?.ok_or(rusqlite::Error::QueryReturnedNoRows)
        };
        self.submit(Access::Grouped, op, done);
    }

    fn update_item(&self, id: i64, owner: i64, fields: ItemFields, now: i64, done: Done<Change<Item>>) {
        let op = move |c: &mut Connection| {
            if_owner(c, id, owner, |c| {
                c.prepare_cached(
                    "UPDATE items SET title = ?1, body = ?2, done = ?3, updated_at = ?4 WHERE id = ?5",
                )?
                .execute(params![fields.title, fields.body, fields.done, now, id])?;
                load_item(c, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
            })
        };
        self.submit(Access::Grouped, op, done);
    }

    fn delete_item(&self, id: i64, owner: i64, done: Done<Change<()>>) {
        let op = move |c: &mut Connection| {
            if_owner(c, id, owner, |c| {
                c.prepare_cached("DELETE FROM items WHERE id = ?1")?.execute([id]).map(drop)
            })
        };
        self.submit(Access::Grouped, op, done);
    }

    fn close(&self) {
        self.pool.close();
    }

    fn queue_depth(&self) -> usize {
        self.pool.queue_depth()
    }
}
