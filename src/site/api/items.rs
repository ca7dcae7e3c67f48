//! `/api`'s `items` resource: list (paged, filtered), read, create, replace, delete.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Api, DEFAULT_LIMIT, MAX_BODY, MAX_LIMIT, MAX_TITLE, answer, rfc3339, with_caller};
use crate::app::extract::{Extract, Json, Path, Query};
use crate::app::openapi::Operation;
use crate::app::{Context, HttpError, Reply, Request, Response};
use crate::http::status::StatusCode;
use crate::site::auth;
use crate::store::{self, Change, ItemFields, ItemQuery};

/// An item as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Item {
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
pub(super) struct ItemList {
    items: Vec<Item>,
    limit: i64,
    offset: i64,
    total: i64,
}

/// An item's fields, as a client sends them.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct ItemInput {
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
pub(super) struct IdPath {
    id: i64,
}

/// The `{id}` of an item route: 422 when it is not an integer, 404 when it is one no item can
/// have (before the body is looked at).
#[derive(Debug)]
pub(super) struct ItemId(i64);

impl<S> Extract<S> for ItemId {
    fn extract(request: &Request<'_>, context: &Context<'_, S>) -> Result<ItemId, HttpError> {
        let Path(IdPath { id }) = Path::extract(request, context)?;
        if id > 0 { Ok(ItemId(id)) } else { Err(no_such_item()) }
    }

    fn describe(operation: &mut Operation) {
        <Path<IdPath> as Extract<S>>::describe(operation);
        operation.errors(&[404]);
    }
}

/// Which page of items, and a filter.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct Page {
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

pub(super) fn list_items(
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

/// 404 for an item that does not exist (or an id no item can have).
fn no_such_item() -> HttpError {
    HttpError::not_found("no such item")
}

/// 404 for an item that does not exist, 403 for one the caller does not own.
fn changed<T>(change: Change<T>) -> Result<T, HttpError> {
    match change {
        Change::Done(result) => Ok(result),
        Change::NotFound => Err(no_such_item()),
        Change::NotOwner => Err(HttpError::new(StatusCode::FORBIDDEN, "not your item")),
    }
}

pub(super) fn get_item(
    _: &Request<'_>,
    context: &mut Context<'_, Api>,
    ItemId(id): ItemId,
) -> Result<Reply, HttpError> {
    let services = context.state();
    let (deferred, completer) = context.defer()?;
    services.store.item(
        id,
        answer(completer, |item| match item {
            Some(item) => Ok(Response::json(StatusCode::OK, &Item::from(item))),
            None => Err(no_such_item()),
        }),
    );
    Ok(deferred.into())
}

pub(super) fn create_item(
    request: &Request<'_>,
    context: &mut Context<'_, Api>,
    Json(input): Json<ItemInput>,
) -> Result<Reply, HttpError> {
    let services = context.state();
    let fields = ItemFields::from(input);
    let store = Arc::clone(&services.store);
    with_caller(request, context, move |owner, completer| {
        let respond = |item: store::Item| {
            Ok(Response::created(&["/api/items/", &item.id.to_string()].concat(), &Item::from(item)))
        };
        store.create_item(owner.user_id, fields, auth::unix_now(), answer(completer, respond));
    })
}

pub(super) fn update_item(
    request: &Request<'_>,
    context: &mut Context<'_, Api>,
    (ItemId(id), Json(input)): (ItemId, Json<ItemInput>),
) -> Result<Reply, HttpError> {
    let services = context.state();
    let fields = ItemFields::from(input);
    let store = Arc::clone(&services.store);
    with_caller(request, context, move |caller, completer| {
        let respond = |change| Ok(Response::json(StatusCode::OK, &Item::from(changed(change)?)));
        store.update_item(id, caller.user_id, fields, auth::unix_now(), answer(completer, respond));
    })
}

pub(super) fn delete_item(
    request: &Request<'_>,
    context: &mut Context<'_, Api>,
    ItemId(id): ItemId,
) -> Result<Reply, HttpError> {
    let services = context.state();
    let store = Arc::clone(&services.store);
    with_caller(request, context, move |caller, completer| {
        let respond = |change| changed(change).map(|()| Response::no_content());
        store.delete_item(id, caller.user_id, answer(completer, respond));
    })
}
