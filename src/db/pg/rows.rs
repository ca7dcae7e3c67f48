//! Reading values out of `DataRow`s with `postgres-types` (binary format).

use std::ops::Range;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::DataRowBody;
use postgres_types::{FromSql, Type};

use crate::store::{Item, StoreError};

/// One row's columns.
pub struct Row<'a> {
    body: &'a DataRowBody,
    columns: Vec<Option<Range<usize>>>,
}

impl<'a> Row<'a> {
    /// Splits a `DataRow` into its columns.
    pub fn new(body: &'a DataRowBody) -> Result<Row<'a>, StoreError> {
        let columns =
            body.ranges().collect().map_err(|e| StoreError::failed(format!("a malformed row: {e}")))?;
        Ok(Row { body, columns })
    }

    /// Column `index` as a `T` of PostgreSQL type `ty` (`Option<T>` for a column that may be
    /// NULL).
    pub fn get<T: FromSql<'a>>(&self, index: usize, ty: &Type) -> Result<T, StoreError> {
        let raw = match self.columns.get(index) {
            Some(Some(range)) => Some(&self.body.buffer()[range.clone()]),
            Some(None) => None,
            None => return Err(StoreError::failed(format!("a row without column {index}"))),
        };
        T::from_sql_nullable(ty, raw).map_err(|e| StoreError::failed(format!("column {index}: {e}")))
    }

    /// Whether column `index` is NULL.
    pub fn is_null(&self, index: usize) -> bool {
        matches!(self.columns.get(index), Some(None))
    }

    /// The item in columns `first..first + 7` (see `sql::item_columns`).
    pub fn item(&self, first: usize) -> Result<Item, StoreError> {
        Ok(Item {
            id: self.get(first, &Type::INT8)?,
            title: self.get(first + 1, &Type::TEXT)?,
            body: self.get(first + 2, &Type::TEXT)?,
            done: self.get(first + 3, &Type::BOOL)?,
            owner: self.get(first + 4, &Type::TEXT)?,
            created_at: self.get(first + 5, &Type::INT8)?,
            updated_at: self.get(first + 6, &Type::INT8)?,
        })
    }
}

/// The only row of a result that has at most one.
pub fn at_most_one(rows: &[DataRowBody]) -> Result<Option<Row<'_>>, StoreError> {
    match rows {
        [] => Ok(None),
        [row] => Row::new(row).map(Some),
        _ => Err(StoreError::failed("more rows than expected")),
    }
}

/// The only row of a result that must have exactly one.
pub fn one(rows: &[DataRowBody]) -> Result<Row<'_>, StoreError> {
    at_most_one(rows)?.ok_or_else(|| StoreError::failed("no row where one was expected"))
}
