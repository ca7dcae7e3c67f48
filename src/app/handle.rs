//! Handling one request: route it, run the middleware chains and the handler, and lend the
//! response to the connection.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use super::defer::ReturnAddress;
use super::router::{self, Params};
use super::{
    App, Context, Exchange, HeaderValue, HttpError, ROOT_SCOPE, Reply, Request, Response, Route, query,
};
use crate::http::request::{self as http, Method};
use crate::http::status::StatusCode;
use crate::metrics::Metrics;

/// Where the connection is, for one call to [`App::handle`].
pub struct HandleEnv<'a> {
    /// The loop's clock.
    pub now: Instant,
    /// The server's metrics, for a handler that reports them (`/metrics`).
    pub metrics: Option<&'a Metrics>,
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// Where a deferred response goes (none: handlers cannot defer).
    pub defer: Option<ReturnAddress<'a>>,
}

/// What [`App::handle`] did.
#[derive(Debug)]
pub enum Outcome {
    /// The response went to the `send` callback with its exchange (the middleware chain had
    /// run).
    Responded,
    /// The handler deferred; give the response and this exchange to [`App::finish`] when its
    /// completion arrives.
    Deferred(Box<Exchange>),
}

/// The `Allow` value for `OPTIONS *`: everything pollserve can route.
const SERVER_ALLOW: HeaderValue = HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");

impl App {
    /// Routes one request, runs the middleware and the handler, and passes the response to
    /// `send` (it is lent, not returned: a `Response` carries its headers inline, so every move
    /// is a few hundred bytes of memcpy).
    pub fn handle(
        &self,
        request: &http::Request<'_>,
        env: &HandleEnv<'_>,
        send: impl FnOnce(&Response, &Exchange),
    ) -> Outcome {
        let method = request.head.method;
        let mut exchange = Exchange::new(env.now, method);
        let path = request.head.path;
        // Most paths name a route without parameters: one lookup. (No such route's path holds
        // a `%`, so a path with escapes is not found here and is decoded below.)
        // Decoded only when the lookup fails; assigned in that branch alone, so the common
        // path pays no drop for it.
        let segments;
        let (params, target) = match self.router.find_exact(path) {
            Some(endpoint) => {
                exchange.route = endpoint.id();
                (Params::new(), Self::target(endpoint, method))
            }
            None if path == b"*" && method == Method::Options => (Params::new(), Target::ServerOptions),
            None if path == b"*" => (Params::new(), Target::NotFound),
            None => {
                segments = query::decode_path(http::text(path));
                match &segments {
                    Ok(segments) => self.resolve(segments, method, &mut exchange),
                    Err(error) => (Params::new(), Target::Error(error.clone())),
                }
            }
        };
        let view = Request::new(request, params, env.peer);
        if let Some(mut response) = self.middleware.iter().find_map(|m| m.before(&view, &mut exchange)) {
            self.finish(&exchange, &mut response);
            send(&response, &exchange);
            return Outcome::Responded;
        }
        let route = match target {
            Target::Handler(route) => route,
            other => {
                let mut response = other.into_response(method);
                self.finish(&exchange, &mut response);
                send(&response, &exchange);
                return Outcome::Responded;
            }
        };
        if route.scope != ROOT_SCOPE {
            exchange.scope = route.scope;
            let chain = self.chain(route.scope);
            if let Some(mut response) = chain.iter().find_map(|m| m.before(&view, &mut exchange)) {
                self.finish(&exchange, &mut response);
                send(&response, &exchange);
                return Outcome::Responded;
            }
        }
        let mut context = Context {
            defer: env.defer,
            exchange: &exchange,
            metrics: env.metrics,
            work: &self.work,
            due_within: None,
            state: &(),
        };
        let mut reply = None;
        let caught = catch_unwind(AssertUnwindSafe(|| (route.handler)(&view, &mut context, &mut reply)));
        let due_within = context.due_within;
        // What the handler returns decides, and nothing else: the `Deferred` marker waits for its
        // Completer; a response or error (or a panic) is answered now, even after `defer()`,
        // and a Completer of this request answering later is ignored (its ticket is spent).
        let mut panicked: Response;
        let response = match (caught, &mut reply) {
            (Ok(()), Some(Reply::Now(response))) => response,
            (Ok(()), Some(Reply::Later(_))) => {
                exchange.due_within = due_within;
                return Outcome::Deferred(Box::new(exchange));
            }
            _ => {
                panicked = HttpError::internal("the handler panicked").into();
                &mut panicked
            }
        };
        self.finish(&exchange, response);
        send(response, &exchange);
        Outcome::Responded
    }

    /// Finds the endpoint for decoded path segments, and the handler for the method.
    fn resolve<'a>(
        &'a self,
        segments: &'a [std::borrow::Cow<'a, str>],
        method: Method,
        exchange: &mut Exchange,
    ) -> (Params<'a>, Target<'a>) {
        match self.router.find(segments) {
            Some((endpoint, params)) => {
                exchange.route = endpoint.id();
                (params, Self::target(endpoint, method))
            }
            None if method == Method::Other => (Params::new(), Target::NotImplemented),
            None => (Params::new(), Target::NotFound),
        }
    }

    /// The handler of `endpoint` for `method`, or 405.
    fn target(endpoint: &router::Endpoint<Route>, method: Method) -> Target<'_> {
        match endpoint.get(method) {
            Some(handler) => Target::Handler(handler),
            None => Target::NotAllowed(endpoint.allow()),
        }
    }

    /// Runs the `after` half of the middleware chain on a response, and logs it if it is a 5xx.
    pub fn finish(&self, exchange: &Exchange, response: &mut Response) {
        let scoped = self.chain(exchange.scope);
        for middleware in scoped.iter().rev().chain(self.middleware.iter().rev()) {
            middleware.after(exchange, response);
        }
        if response.status.is_server_error() {
            log_server_error(exchange, response);
        }
    }

    /// The answer to a request the connection refused before routing it (bad framing, a
    /// limit, a timeout, capacity): `error` as a response that went through the middleware's
    /// `rejected` and `after` hooks, lent to `send` with its exchange (so it carries a request
    /// id and is logged like any other).
    pub fn reject(&self, error: HttpError, now: Instant, send: impl FnOnce(&Response, &Exchange)) {
        let mut exchange = Exchange::new(now, Method::Other);
        for middleware in &self.middleware {
            middleware.rejected(&mut exchange);
        }
        let mut response = error.into();
        self.finish(&exchange, &mut response);
        send(&response, &exchange);
    }
}

/// One line on standard error for a 5xx: status, request id and cause. Nothing fails silently.
fn log_server_error(exchange: &Exchange, response: &Response) {
    let id = exchange.request_id.as_ref().map_or(&b"-"[..], HeaderValue::as_bytes);
    // The target stays `pollserve::app`, what RUST_LOG directives name, wherever this code lives.
    log::error!(
        target: "pollserve::app",
        "{} {} (request {}): {}",
        response.status.code(),
        response.status.reason(),
        id.escape_ascii(),
        response.cause.as_deref().unwrap_or("the handler gave no cause"),
    );
}

/// Where routing led: a handler, or an answer the app gives itself.
enum Target<'a> {
    Handler(&'a Route),
    /// The path exists but not with this method; the endpoint's `Allow` value.
    NotAllowed(&'a str),
    NotFound,
    NotImplemented,
    /// `OPTIONS *`.
    ServerOptions,
    /// The path could not be decoded.
    Error(HttpError),
}

impl Target<'_> {
    /// The app's own answer (everything but a handler).
    fn into_response(self, method: Method) -> Response {
        match self {
            Target::Handler(_) => HttpError::internal("no response").into(),
            // OPTIONS on a known path is answered with its Allow list.
            Target::NotAllowed(allow) if method == Method::Options => {
                let allow = HeaderValue::try_from_bytes(allow.as_bytes()).unwrap_or(SERVER_ALLOW);
                Response::no_content().with_header("Allow", allow)
            }
            Target::NotAllowed(allow) => {
                let allow = HeaderValue::try_from_bytes(allow.as_bytes()).unwrap_or(SERVER_ALLOW);
                HttpError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
                    .with_header("Allow", allow)
                    .into()
            }
            Target::NotFound => HttpError::not_found("not found").into(),
            Target::NotImplemented => {
                HttpError::new(StatusCode::NOT_IMPLEMENTED, "method not implemented").into()
            }
            Target::ServerOptions => Response::no_content().with_header("Allow", SERVER_ALLOW),
            Target::Error(error) => error.into(),
        }
    }
}
