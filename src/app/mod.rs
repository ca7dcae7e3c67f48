//! Building an API on the event loop: routes, handlers, middleware.
//!
//! ```no_run
//! use pollserve::app::{App, Context, Reply, Request, Response};
//! use pollserve::http::status::StatusCode;
//!
//! fn show(request: &Request<'_>, _: &mut Context<'_>) -> Reply {
//!     let id: u64 = match request.param_as("id") {
//!         Ok(id) => id,
//!         Err(error) => return error.into(),
//!     };
//!     Response::json(StatusCode::OK, &serde_json::json!({ "id": id })).into()
//! }
//!
//! let app = App::new().get("/items/{id}", show);
//! ```
//!
//! - [`router`]: method + path pattern → handler (a trie; `{name}`, `{*rest}`).
//! - [`request`]: the [`Request`] view handlers get, borrowed from the connection's buffer.
//! - [`response`]: [`Response`] and [`HttpError`], and their encoding.
//! - [`middleware`]: the chain around handlers, and the built-in middleware.
//! - [`defer`]: answering later from another thread.
//! - [`query`]: strict percent-decoding of paths and queries.
//! - [`scope`]: routes under a prefix with middleware of their own.
//! - [`handler`], [`extract`], [`validate`]: typed inputs (path, query, JSON body), checked
//!   against the rules declared on their types (422 naming the fields).
//! - [`openapi`]: the app's OpenAPI document, built from its routes, and `/docs`.
//! - [`Context`]: the app's state, deferral, blocking work, extensions.
//!
//! pollserve's own endpoints are built with this same API, in [`crate::site`].

pub mod access_log;
pub mod blocking;
mod context;
pub mod defer;
mod docs_page;
pub mod extensions;
pub mod extract;
mod handle;
pub mod handler;
pub mod middleware;
pub mod openapi;
pub mod query;
pub mod request;
pub mod response;
pub mod router;
pub mod scope;
pub mod validate;

use std::any::Any;
use std::sync::Arc;

pub use crate::on_loop::{LoopService, LoopServices};
pub use access_log::AccessLogFormat;
pub use context::Context;
pub use defer::{Completer, Deferred};
pub use extensions::Extensions;
pub use handle::{HandleEnv, Outcome};
pub use handler::IntoHandler;
pub use middleware::{Exchange, Middleware};
pub use request::Request;
pub use response::{Body, HeaderValue, HttpError, Response};
pub use router::RouteError;
pub use scope::Scope;

use crate::http::request::Method;
use crate::http::status::StatusCode;
use crate::metrics::{Metrics, Source};
use openapi::op;
use router::Router;

/// What a handler returns: a response now, or the promise of one later.
// A Response is large on purpose (headers inline, so the hot path does not allocate); boxing it
// would cost the allocation this avoids.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Reply {
    /// The response.
    Now(Response),
    /// The handler called [`Context::defer`]; its [`Completer`] will deliver the response.
    Later(Deferred),
}

impl From<Response> for Reply {
    fn from(response: Response) -> Reply {
        Reply::Now(response)
    }
}

impl From<HttpError> for Reply {
    fn from(error: HttpError) -> Reply {
        Reply::Now(error.into())
    }
}

impl From<Deferred> for Reply {
    fn from(deferred: Deferred) -> Reply {
        Reply::Later(deferred)
    }
}

impl<T: Into<Reply>, E: Into<Reply>> From<Result<T, E>> for Reply {
    fn from(result: Result<T, E>) -> Reply {
        result.map_or_else(Into::into, Into::into)
    }
}

/// A request handler, as the app keeps it (handlers of an app with state see it through a
/// [`Context`] of their state type; see [`App::with_state`]). It puts its reply in the slot
/// it is given: a reply returned through `catch_unwind` is copied on its way out, a few hundred
/// bytes just written, on every request.
pub type Handler = Arc<dyn Fn(&Request<'_>, &mut Context<'_>, &mut Option<Reply>) + Send + Sync>;

/// A handler of an app whose state is `S`.
pub type TypedHandler<S> = Arc<dyn Fn(&Request<'_>, &mut Context<'_, S>, &mut Option<Reply>) + Send + Sync>;

/// What the router finds for a method and path: the handler, and the scope whose middleware
/// runs around it.
pub struct Route {
    handler: Handler,
    scope: usize,
    /// What the OpenAPI document says of it.
    doc: openapi::Operation,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route").field("scope", &self.scope).finish()
    }
}

/// Routes, handlers and the middleware chain, and the state handlers share (`S`; none by
/// default).
pub struct App<S = ()> {
    router: Router<Route>,
    work: blocking::HandlerPool,
    /// The chain around every request.
    middleware: Vec<Arc<dyn Middleware>>,
    /// Each scope's chain (around its routes only); scope 0 is the app's own, with none.
    scopes: Vec<Vec<Arc<dyn Middleware>>>,
    errors: Vec<RouteError>,
    services: Vec<Arc<dyn LoopServices>>,
    metric_sources: Vec<Arc<dyn Source>>,
    state: Arc<S>,
}

impl Default for App {
    fn default() -> App {
        App {
            router: Router::new(),
            work: blocking::HandlerPool::default(),
            middleware: Vec::new(),
            scopes: vec![Vec::new()],
            errors: Vec::new(),
            services: Vec::new(),
            metric_sources: Vec::new(),
            state: Arc::new(()),
        }
    }
}

impl<S> std::fmt::Debug for App<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("middleware", &self.middleware.len())
            .field("scopes", &self.scopes.len())
            .field("errors", &self.errors)
            .finish()
    }
}

/// The scope of routes added to the app itself: no middleware of its own.
const ROOT_SCOPE: usize = 0;

impl App {
    /// An app with no routes and no middleware.
    pub fn new() -> App {
        App::default()
    }
}

impl<S: Send + Sync + 'static> App<S> {
    /// Gives the handlers and middleware added from here on `state`: a handler takes
    /// `&mut Context<'_, T>` and reads it with [`Context::state`]; a [`App::before`] hook gets
    /// `&T`. Routes added earlier keep the state they were added with.
    pub fn with_state<T: Send + Sync + 'static>(self, state: T) -> App<T> {
        App {
            router: self.router,
            work: self.work,
            middleware: self.middleware,
            scopes: self.scopes,
            errors: self.errors,
            services: self.services,
            metric_sources: self.metric_sources,
            state: Arc::new(state),
        }
    }

    /// The app as the server runs it: every handler keeps its state; only the type is
    /// forgotten.
    pub fn erase(self) -> App {
        self.with_state(())
    }

    /// Runs `services` on every worker's event loop (see [`crate::on_loop`]).
    pub fn on_each_worker(mut self, services: Arc<dyn LoopServices>) -> App<S> {
        self.services.push(services);
        self
    }

    /// Sets how many threads run [`Context::run_blocking`]'s work (2 by default; started on
    /// first use).
    pub fn with_blocking_threads(mut self, threads: usize) -> App<S> {
        self.work = blocking::HandlerPool::new(threads);
        self
    }

    /// Adds figures of its own to `/metrics` (a database's queue, say).
    pub fn with_metrics(mut self, source: Arc<dyn Source>) -> App<S> {
        self.metric_sources.push(source);
        self
    }

    /// Adds a route. Conflicts are kept and reported by [`App::check`] (and so when the server
    /// starts).
    pub fn route<M>(mut self, method: Method, pattern: &str, handler: impl IntoHandler<S, M>) -> App<S> {
        self.add(ROOT_SCOPE, method, pattern, handler);
        self
    }

    scope::method_shortcuts!(App<S>);

    /// Appends a middleware to the chain around every request (its `before` runs after those
    /// added earlier, once the request is routed; it runs for 404s and 405s too).
    pub fn with(mut self, middleware: impl Middleware) -> App<S> {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Appends a `before` hook that reads the app's state: `hook(state, request, exchange)`
    /// answers the request itself by returning a response.
    pub fn before<F>(self, hook: F) -> App<S>
    where
        F: Fn(&S, &Request<'_>, &mut Exchange) -> Option<Response> + Send + Sync + 'static,
    {
        let hook = scope::StateHook { state: Arc::clone(&self.state), hook };
        self.with(hook)
    }

    /// Adds the routes `build` adds to a [`Scope`] under `prefix`, with the middleware `build`
    /// gives the scope: it runs around those routes only, after routing (a request for a
    /// path or method the app does not have gets its 404 or 405 first).
    pub fn scope(mut self, prefix: &str, build: impl FnOnce(Scope<S>) -> Scope<S>) -> App<S> {
        self.scopes.push(Vec::new());
        let id = self.scopes.len() - 1;
        build(Scope::new(self, prefix, id)).into_app()
    }

    /// Serves the app's OpenAPI document at `path`: every route added so far (and this one),
    /// described by its extractors, its scope's middleware and its [`openapi::op`] notes. Add
    /// it after the routes.
    pub fn openapi(self, path: &str, info: openapi::Info) -> App<S> {
        let document = Arc::new(std::sync::OnceLock::<Vec<u8>>::new());
        let served = Arc::clone(&document);
        let serve = move |_: &Request<'_>, _: &mut Context<'_, S>| match served.get() {
            Some(json) => Response::bytes(StatusCode::OK, "application/json", json.clone()),
            None => HttpError::internal("the OpenAPI document is not built").into(),
        };
        let described = openapi::op(serve).summary("This document").responds_with(
            200,
            "application/json",
            "the OpenAPI 3.0 document",
        );
        let app = self.get(path, described);
        let json = serde_json::to_vec(&app.openapi_document(&info)).unwrap_or_default();
        let _ = document.set(json);
        app
    }

    /// Serves interactive documentation (Swagger UI, from the binary) for the document at
    /// `openapi_url` under `path` (`/docs`: the page is `/docs/`, its files beside it). These
    /// routes are left out of the document.
    pub fn docs(self, path: &str, openapi_url: &str) -> App<S> {
        let path = path.trim_end_matches('/');
        let page = Arc::new(docs_page::Page::new(path, openapi_url));
        let folder = Arc::clone(&page);
        let redirect = move |_: &Request<'_>, _: &mut Context<'_, S>| folder.redirect();
        let files = move |request: &Request<'_>, _: &mut Context<'_, S>| {
            page.file(request.param("file").unwrap_or(""))
        };
        self.get(path, op(redirect).hidden()).get(&[path, "/{*file}"].concat(), op(files).hidden())
    }

    /// The OpenAPI document of the routes added so far.
    pub fn openapi_document(&self, info: &openapi::Info) -> serde_json::Value {
        let entries = self.router.endpoints().iter().flat_map(|endpoint| {
            endpoint.methods().map(move |(method, route)| {
                let mut operation = route.doc.clone();
                for middleware in self.middleware.iter().chain(self.chain(route.scope)) {
                    middleware.describe(&mut operation);
                }
                let method = method.as_str().to_ascii_lowercase();
                openapi::Entry { method, pattern: endpoint.pattern(), operation }
            })
        });
        openapi::document(info, entries)
    }

    /// The middleware of scope `scope` (none for the app's own).
    fn chain(&self, scope: usize) -> &[Arc<dyn Middleware>] {
        self.scopes.get(scope).map_or(&[], Vec::as_slice)
    }

    /// Registers `handler` for `method` and `pattern` in scope `scope`.
    fn add<M>(&mut self, scope: usize, method: Method, pattern: &str, handler: impl IntoHandler<S, M>) {
        let (typed, doc) = handler.into_parts();
        let route = Route { handler: erase_state(&self.state, typed), scope, doc };
        if let Err(error) = self.router.insert(method, pattern, route) {
            self.errors.push(error);
        }
    }
}

/// A handler of an app with state `S` as the app keeps it: for `S = ()`, itself; otherwise a
/// closure that holds the state and shows it to the handler.
fn erase_state<S: Send + Sync + 'static>(state: &Arc<S>, typed: TypedHandler<S>) -> Handler {
    let any: Box<dyn Any> = Box::new(Arc::clone(&typed));
    if let Ok(plain) = any.downcast::<Handler>() {
        return *plain;
    }
    let state = Arc::clone(state);
    Arc::new(move |request, context, reply| {
        let mut with_state = context.with_state(&*state);
        typed(request, &mut with_state, reply);
        context.due_within = with_state.due_within;
    })
}

impl App {
    /// The services started on every worker.
    pub fn loop_services(&self) -> &[Arc<dyn LoopServices>] {
        &self.services
    }

    /// The metrics of a server running this app: its route patterns, its sources and `more`.
    pub fn metrics(&self, more: Vec<Arc<dyn Source>>) -> Metrics {
        let sources = self.metric_sources.iter().cloned().chain(more).collect();
        Metrics::new(self.router.patterns().map(str::to_owned), sources)
    }

    /// The first route error, if any route could not be added.
    pub fn check(&self) -> Result<(), RouteError> {
        self.errors.first().map_or(Ok(()), |error| Err(error.clone()))
    }
}
