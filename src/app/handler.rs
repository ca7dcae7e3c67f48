//! What can be a handler: a function of the request and its context, or one that also takes
//! typed inputs ([`Extract`]: path parameters, a query, a JSON body), which are taken from the
//! request — or answered 4xx — before it is called, and described in the OpenAPI document.
//!
//! ```no_run
//! use pollserve::app::extract::{Path, Query};
//! use pollserve::app::{App, Context, Request, Response};
//! use pollserve::http::status::StatusCode;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct ItemId {
//!     id: u64,
//! }
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Detail {
//!     #[serde(default)]
//!     verbose: bool,
//! }
//!
//! fn show(_: &Request<'_>, _: &mut Context<'_>, (Path(item), Query(detail)): (Path<ItemId>, Query<Detail>)) -> Response {
//!     Response::json(StatusCode::OK, &serde_json::json!({ "id": item.id, "verbose": detail.verbose }))
//! }
//!
//! let app = App::new().get("/items/{id}", show);
//! ```
//!
//! [`Extract`]: super::extract::Extract

use std::marker::PhantomData;
use std::sync::Arc;

use super::extract::Extract;
use super::openapi::Operation;
use super::{Context, Reply, Request, TypedHandler};

/// A handler for an app with state `S`. `M` tells the two forms apart; you never name it.
pub trait IntoHandler<S, M>: Send + Sync + 'static {
    /// The handler as the app calls it, and what the document says of it.
    fn into_parts(self) -> (TypedHandler<S>, Operation);
}

/// The form `Fn(&Request, &mut Context<S>)`.
#[derive(Debug)]
pub struct Plain;

/// The form `Fn(&Request, &mut Context<S>, E)` with inputs `E`.
#[derive(Debug)]
pub struct Extracting<E>(PhantomData<fn() -> E>);

impl<S, F, R> IntoHandler<S, Plain> for F
where
    S: 'static,
    F: Fn(&Request<'_>, &mut Context<'_, S>) -> R + Send + Sync + 'static,
    R: Into<Reply>,
{
    fn into_parts(self) -> (TypedHandler<S>, Operation) {
        (
            Arc::new(move |request, context, reply| *reply = Some(self(request, context).into())),
            Operation::default(),
        )
    }
}

impl<S, F, R, E> IntoHandler<S, Extracting<E>> for F
where
    S: 'static,
    F: Fn(&Request<'_>, &mut Context<'_, S>, E) -> R + Send + Sync + 'static,
    R: Into<Reply>,
    E: Extract<S> + 'static,
{
    fn into_parts(self) -> (TypedHandler<S>, Operation) {
        let mut doc = Operation::default();
        E::describe(&mut doc);
        let handler =
            move |request: &Request<'_>, context: &mut Context<'_, S>, reply: &mut Option<Reply>| {
                *reply = Some(match E::extract(request, context) {
                    Ok(inputs) => self(request, context, inputs).into(),
                    Err(error) => error.into(),
                });
            };
        (Arc::new(handler), doc)
    }
}
