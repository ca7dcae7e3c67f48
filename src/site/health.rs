//! Health for load balancers: `GET /healthz` (the process serves) and `GET /readyz` (it should
//! get traffic: the database answers, and no graceful shutdown has begun).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::app::{Completer, Context, HeaderValue, HttpError, Reply, Request, Response};
use crate::http::status::StatusCode;

/// Whether the process still wants traffic: cleared when a graceful shutdown begins, so that
/// `/readyz` fails and balancers stop sending requests before the server drains.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    stopping: Arc<AtomicBool>,
}

impl Readiness {
    /// From now on `/readyz` answers 503.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether [`Readiness::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// What a probe calls back with: `Err(cause)` when the database does not answer.
pub type ProbeDone = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Checks the database for `/readyz`.
#[derive(Clone)]
pub struct Probe(pub Arc<dyn Fn(ProbeDone) + Send + Sync>);

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Probe")
    }
}

/// The body of `/healthz` and `/readyz`.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Status {
    /// `ok` or `ready`.
    status: &'static str,
}

impl Status {
    /// `handler` documented as answering with a status.
    pub fn documented<H>(handler: crate::app::openapi::Op<H>) -> crate::app::openapi::Op<H> {
        handler.responds::<Status>(200, "the status")
    }
}

/// `GET /healthz`: 200 while the process serves at all.
pub fn healthz(_: &Request<'_>, _: &mut Context<'_>) -> Reply {
    Response::json(StatusCode::OK, &Status { status: "ok" }).into()
}

/// `GET /readyz`: 503 once shutdown began or when `probe` fails, else 200.
pub fn readyz(
    readiness: Readiness,
    probe: Option<Probe>,
) -> impl Fn(&Request<'_>, &mut Context<'_>) -> Result<Reply, HttpError> + Send + Sync + 'static {
    move |_, context| {
        if readiness.is_stopping() {
            return Err(not_ready("shutting down"));
        }
        let Some(probe) = &probe else {
            return Ok(ready().into());
        };
        let (deferred, completer) = context.defer()?;
        (probe.0)(Box::new(move |result: Result<(), String>| answer(completer, result)));
        Ok(deferred.into())
    }
}

fn answer(completer: Completer, result: Result<(), String>) {
    match result {
        Ok(()) => completer.complete(ready()),
        Err(cause) => completer.complete(not_ready("the database does not answer").with_cause(cause)),
    }
}

fn ready() -> Response {
    Response::json(StatusCode::OK, &Status { status: "ready" })
}

fn not_ready(message: &'static str) -> HttpError {
    HttpError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        .with_header("Retry-After", HeaderValue::from_static("1"))
}
