//! pollserve's own endpoints — the product, built only with the library's public API
//! ([`crate::app`]), the way a user's own API is: the learner's endpoints (`/`, `/json`,
//! `/plaintext`, `/echo`, `/hello/{name}`, `/status/{code}`), the operator's (`/healthz`,
//! `/readyz`, `/metrics`), the `/api` resource on a database, and the generated `/openapi.json`
//! and `/docs`.

pub mod api;
pub mod auth;
pub mod builtin;
pub mod echo;
pub mod health;
pub mod learn;
pub mod metrics;

use std::sync::Arc;

use crate::app::access_log::AccessLog;
use crate::app::openapi::{self, Info, op};
use crate::app::{AccessLogFormat, App, middleware};
use crate::http::request::Method;

/// Switches for the built-in middleware.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Origins allowed by CORS (`*` for any); empty denies every cross-origin request.
    pub cors_origins: Vec<String>,
    /// Log one line per request to standard output, in this format (none: no access log).
    pub access_log: Option<AccessLogFormat>,
    /// Add a `Server-Timing` header with the handler's duration.
    pub server_timing: bool,
    /// This instance's name, the prefix of its request ids (empty: a random one).
    pub instance: String,
    /// Cleared when a graceful shutdown begins (`/readyz`).
    pub readiness: health::Readiness,
    /// What `/readyz` asks besides (the database, when there is one).
    pub probe: Option<health::Probe>,
}

/// pollserve's own endpoints and default middleware (request id, CORS; timing and the
/// access log when switched on), with `/openapi.json` and `/docs`.
pub fn builtin(options: &AppOptions) -> App {
    documented(site(options))
}

/// pollserve's own endpoints, the `/api` resource on `services`' database, and the default
/// middleware, with `/openapi.json` and `/docs`.
pub fn with_api(options: &AppOptions, services: &Arc<api::Services>) -> App {
    let options = AppOptions { probe: Some(api::probe(services)), ..options.clone() };
    documented(api::routes(site(&options), services))
}

/// pollserve's own endpoints without any middleware (deterministic output, for tests).
pub fn endpoints() -> App {
    documented(learning())
}

/// The learner's endpoints and the operator's, with the default middleware.
fn site(options: &AppOptions) -> App {
    let mut app = learning();
    if let Some(format) = options.access_log {
        app = app.with(AccessLog::new(format));
    }
    use health::Status;
    app = app
        .get(
            "/healthz",
            Status::documented(op(health::healthz).summary("Liveness: 200 while the process serves")),
        )
        .get(
            "/readyz",
            Status::documented(op(health::readyz(options.readiness.clone(), options.probe.clone())))
                .summary("Readiness: 200 when the database answers and no shutdown has begun")
                .errors(&[503]),
        )
        .get(
            "/metrics",
            op(metrics::metrics)
                .summary("The server's counters in the Prometheus text format")
                .responds_with(200, "text/plain", "the metrics"),
        )
        .with(middleware::RequestId::for_instance(&options.instance))
        .with(middleware::Cors::new(options.cors_origins.clone()));
    if options.server_timing {
        app = app.with(middleware::Timing);
    }
    app
}

/// The learner's endpoints: the blog post's response, the benchmark ones, echo, path and
/// query parameters, status codes.
fn learning() -> App {
    fn message<H>(handler: H, summary: &str) -> openapi::Op<H> {
        op(handler).summary(summary).responds::<builtin::Message>(200, "a message")
    }
    let mut app = App::new()
        .get("/", message(builtin::hello, "The blog post's response"))
        .get("/json", message(builtin::json, "TechEmpower's JSON test"))
        .get(
            "/plaintext",
            op(builtin::plaintext).summary("TechEmpower's plaintext test").responds_with(
                200,
                "text/plain",
                "Hello, World!",
            ),
        )
        .get("/hello/{name}", message(learn::hello_name, "Path and query parameters"))
        .get(
            "/status/{code}",
            op(learn::status).summary("Answers with the status asked for (200 to 599)").responds_otherwise(
                "the status asked for; a JSON body {status, reason} unless it is 204 or 304, or an error",
            ),
        );
    for method in [Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete] {
        let echo = op(echo::echo)
            .summary("The request as received")
            .responds::<echo::Echo<'static>>(200, "the request");
        let echo = match method {
            Method::Get | Method::Delete => echo,
            _ => echo.accepts("application/json").accepts("text/plain"),
        };
        app = app.route(method, "/echo", echo.errors(&[400, 413]));
    }
    app
}

/// With `/openapi.json` describing every route, and `/docs` showing it.
fn documented(app: App) -> App {
    let info = Info::new("pollserve", env!("CARGO_PKG_VERSION")).with_description(
        "A small, fast HTTP/1.1 server on a mio event loop per core. Every error is \
         {\"error\":{\"status\":N,\"message\":\"...\"}}.",
    );
    app.docs("/docs", "/openapi.json").openapi("/openapi.json", info)
}
