//! Scopes: routes under a common prefix with middleware of their own.
//!
//! ```no_run
//! use pollserve::app::{App, Context, Reply, Request, Response};
//! use pollserve::app::middleware::Exchange;
//! use pollserve::http::status::StatusCode;
//!
//! fn secret(_: &Request<'_>, _: &mut Context<'_>) -> Reply {
//!     Response::text(StatusCode::OK, "42").into()
//! }
//!
//! fn signed_in(_: &(), request: &Request<'_>, _: &mut Exchange) -> Option<Response> {
//!     match request.header("authorization") {
//!         Some(_) => None,
//!         None => Some(Response::text(StatusCode::UNAUTHORIZED, "who are you?")),
//!     }
//! }
//!
//! let app = App::new().scope("/admin", |admin| admin.before(signed_in).get("/secret", secret));
//! ```
//!
//! A scope's middleware runs only for its routes, after routing: a path the app does not have
//! gets 404, and a method it does not have 405, before any of it runs. Its `before` hooks run
//! after the app's, its `after` hooks before the app's. A scope nested in another (an empty
//! prefix groups routes without changing their paths) starts with the middleware its parent has
//! at that point.

use std::sync::Arc;

use super::middleware::{Exchange, Middleware};
use super::{App, IntoHandler, Request, Response};
use crate::http::request::Method;

/// `get`, `post`, `put`, `patch` and `delete` for a builder with a `route` method: written once
/// for [`App`] and [`Scope`].
macro_rules! method_shortcuts {
    ($builder:ty) => {
        /// Adds a GET route (HEAD is served from it).
        pub fn get<M>(self, pattern: &str, handler: impl $crate::app::IntoHandler<S, M>) -> $builder {
            self.route(Method::Get, pattern, handler)
        }

        /// Adds a POST route.
        pub fn post<M>(self, pattern: &str, handler: impl $crate::app::IntoHandler<S, M>) -> $builder {
            self.route(Method::Post, pattern, handler)
        }

        /// Adds a PUT route.
        pub fn put<M>(self, pattern: &str, handler: impl $crate::app::IntoHandler<S, M>) -> $builder {
            self.route(Method::Put, pattern, handler)
        }

        /// Adds a PATCH route.
        pub fn patch<M>(self, pattern: &str, handler: impl $crate::app::IntoHandler<S, M>) -> $builder {
            self.route(Method::Patch, pattern, handler)
        }

        /// Adds a DELETE route.
        pub fn delete<M>(self, pattern: &str, handler: impl $crate::app::IntoHandler<S, M>) -> $builder {
            self.route(Method::Delete, pattern, handler)
        }
    };
}
pub(super) use method_shortcuts;

/// Routes under a prefix, with middleware of their own. Made by [`App::scope`].
pub struct Scope<S> {
    app: App<S>,
    prefix: String,
    /// The scope's place in the app's list of chains.
    id: usize,
}

impl<S: Send + Sync + 'static> Scope<S> {
    pub(super) fn new(app: App<S>, prefix: &str, id: usize) -> Scope<S> {
        Scope { app, prefix: prefix.trim_end_matches('/').to_owned(), id }
    }

    pub(super) fn into_app(self) -> App<S> {
        self.app
    }

    /// Adds a route at the scope's prefix followed by `pattern`.
    pub fn route<M>(mut self, method: Method, pattern: &str, handler: impl IntoHandler<S, M>) -> Scope<S> {
        let full = [self.prefix.as_str(), pattern].concat();
        self.app.add(self.id, method, &full, handler);
        self
    }

    method_shortcuts!(Scope<S>);

    /// Appends a middleware to the scope's chain.
    pub fn with(mut self, middleware: impl Middleware) -> Scope<S> {
        self.app.scopes[self.id].push(Arc::new(middleware));
        self
    }

    /// Appends a `before` hook that reads the app's state (see [`App::before`]).
    pub fn before<F>(self, hook: F) -> Scope<S>
    where
        F: Fn(&S, &Request<'_>, &mut Exchange) -> Option<Response> + Send + Sync + 'static,
    {
        let hook = StateHook { state: Arc::clone(&self.app.state), hook };
        self.with(hook)
    }

    /// A scope inside this one, under `prefix` (empty: the same paths), that starts with this
    /// scope's middleware.
    pub fn scope(mut self, prefix: &str, build: impl FnOnce(Scope<S>) -> Scope<S>) -> Scope<S> {
        let chain = self.app.scopes[self.id].clone();
        self.app.scopes.push(chain);
        let id = self.app.scopes.len() - 1;
        let inner = Scope::new(self.app, &[self.prefix.as_str(), prefix].concat(), id);
        Scope { app: build(inner).app, prefix: self.prefix, id: self.id }
    }
}

/// A `before` hook with the app's state: [`App::before`] and [`Scope::before`].
pub(super) struct StateHook<S, F> {
    pub(super) state: Arc<S>,
    pub(super) hook: F,
}

impl<S, F> Middleware for StateHook<S, F>
where
    S: Send + Sync + 'static,
    F: Fn(&S, &Request<'_>, &mut Exchange) -> Option<Response> + Send + Sync + 'static,
{
    fn before(&self, request: &Request<'_>, exchange: &mut Exchange) -> Option<Response> {
        (self.hook)(&self.state, request, exchange)
    }
}
