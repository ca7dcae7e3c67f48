//! [`Store`] on PostgreSQL: each operation is one prepared statement, queued on the calling
//! worker's connections (see [`super::PgStore::query`]).

use postgres_types::Type;

use super::PgStore;
use super::rows::{Row, at_most_one, one};
use super::sql;
use crate::store::{
    Change, Credentials, Done, Failures, Item, ItemFields, ItemPage, ItemQuery, NewUser, Store, StoreError,
    TokenRow, User,
};

/// An update's or delete's row: none → no such item; `owner` and NULLs → not the caller's.
fn change<T>(
    row: Option<Row<'_>>,
    changed: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Change<T>, StoreError> {
    match row {
        None => Ok(Change::NotFound),
        Some(row) if row.is_null(1) => Ok(Change::NotOwner),
        Some(row) => changed(&row).map(Change::Done),
    }
}

impl Store for PgStore {
    fn create_user(&self, user: NewUser, done: Done<Option<User>>) {
        let params: [&(dyn postgres_types::ToSql + Sync); 3] =
            [&user.username, &user.password_hash, &user.created_at];
        let (username, created_at) = (user.username.clone(), user.created_at);
        self.query(&sql::CREATE_USER, &params, done, move |rows| {
            Ok(match at_most_one(&rows)? {
                Some(row) => Some(User { id: row.get(0, &Type::INT8)?, username, created_at }),
                None => None,
            })
        });
    }

    fn credentials(
        &self,
        username: String,
        address: String,
        since: i64,
        done: Done<(Option<Credentials>, Failures)>,
    ) {
        self.query(&sql::CREDENTIALS, &[&username, &address, &since], done, |rows| {
            let row = one(&rows)?;
            let user = match row.is_null(0) {
                true => None,
                false => Some(Credentials {
                    user_id: row.get(0, &Type::INT8)?,
                    password_hash: row.get(1, &Type::TEXT)?,
                }),
            };
            let count: i64 = row.get(2, &Type::INT8)?;
            let failures = Failures {
                count: u32::try_from(count).unwrap_or(u32::MAX),
                oldest: row.get(3, &Type::INT8)?,
            };
            Ok((user, failures))
        });
    }

    fn record_failed_login(&self, address: String, at: i64, since: i64, done: Done<()>) {
        self.query(&sql::RECORD_FAILED_LOGIN, &[&address, &at, &since], done, |_| Ok(()));
    }

    fn insert_token(&self, token: TokenRow, address: String, done: Done<()>) {
        let hash: &[u8] = &token.hash;
        self.query(&sql::INSERT_TOKEN, &[&hash, &token.user_id, &token.expires_at, &address], done, |_| {
            Ok(())
        });
    }

    fn token(&self, hash: [u8; 32], now: i64, done: Done<Option<TokenRow>>) {
        let key: &[u8] = &hash;
        self.query(&sql::TOKEN, &[&key, &now], done, move |rows| {
            at_most_one(&rows)?
                .map(|row| {
                    Ok(TokenRow {
                        hash,
                        user_id: row.get(0, &Type::INT8)?,
                        username: row.get(1, &Type::TEXT)?,
                        expires_at: row.get(2, &Type::INT8)?,
                    })
                })
                .transpose()
        });
    }

    fn revoke_token(&self, hash: [u8; 32], done: Done<()>) {
        let hash: &[u8] = &hash;
        self.query(&sql::REVOKE_TOKEN, &[&hash], done, |_| Ok(()));
    }

    fn ping(&self, done: Done<()>) {
        self.query(&sql::PING, &[], done, |_| Ok(()));
    }

    fn item(&self, id: i64, done: Done<Option<Item>>) {
        self.query(&sql::ITEM, &[&id], done, |rows| at_most_one(&rows)?.map(|row| row.item(0)).transpose());
    }

    fn items(&self, query: ItemQuery, done: Done<ItemPage>) {
        let params: [&(dyn postgres_types::ToSql + Sync); 3] = [&query.pattern, &query.limit, &query.offset];
        self.query(&sql::ITEMS, &params, done, |rows| {
            let mut page = ItemPage { items: Vec::with_capacity(rows.len()), total: 0 };
            for body in &rows {
                let row = Row::new(body)?;
                page.total = row.get(0, &Type::INT8)?;
                if !row.is_null(1) {
                    page.items.push(row.item(1)?);
                }
            }
            Ok(page)
        });
    }

    fn create_item(&self, owner: i64, fields: ItemFields, now: i64, done: Done<Item>) {
        let params: [&(dyn postgres_types::ToSql + Sync); 5] =
            [&fields.title, &fields.body, &fields.done, &owner, &now];
        self.query(&sql::CREATE_ITEM, &params, done, |rows| one(&rows)?.item(0));
    }

    fn update_item(&self, id: i64, owner: i64, fields: ItemFields, now: i64, done: Done<Change<Item>>) {
        let params: [&(dyn postgres_types::ToSql + Sync); 6] =
            [&fields.title, &fields.body, &fields.done, &now, &id, &owner];
        self.query(&sql::UPDATE_ITEM, &params, done, |rows| change(at_most_one(&rows)?, |row| row.item(1)));
    }

    fn delete_item(&self, id: i64, owner: i64, done: Done<Change<()>>) {
        self.query(&sql::DELETE_ITEM, &[&id, &owner], done, |rows| change(at_most_one(&rows)?, |_| Ok(())));
    }

    fn close(&self) {
        // Every query is answered before its worker exits; the connections close with it.
    }

    fn queue_depth(&self) -> usize {
        self.settings.queued.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Every live token, decoded.
pub fn live_tokens(
    rows: &[postgres_protocol::message::backend::DataRowBody],
) -> Result<Vec<TokenRow>, StoreError> {
    rows.iter()
        .map(|body| {
            let row = Row::new(body)?;
            let hash: Vec<u8> = row.get(0, &Type::BYTEA)?;
            Ok(TokenRow {
                hash: hash.try_into().map_err(|_| StoreError::failed("a token hash that is not 32 bytes"))?,
                user_id: row.get(1, &Type::INT8)?,
                username: row.get(2, &Type::TEXT)?,
                expires_at: row.get(3, &Type::INT8)?,
            })
        })
        .collect()
}
