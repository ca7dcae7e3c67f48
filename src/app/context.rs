//! What a handler can do besides reading its request: reach the app's state, defer its
//! response, run blocking work, read what middleware learned.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use super::defer::ReturnAddress;
use super::middleware::{Exchange, Principal};
use super::response::{HeaderValue, HttpError, Response};
use super::{Completer, Deferred, Reply, blocking};
use crate::http::status::StatusCode;
use crate::metrics::Metrics;

/// The handler's side of one request. `S` is the app's state ([`App::with_state`]); handlers
/// of an app without state take `Context<'_>`.
///
/// [`App::with_state`]: super::App::with_state
pub struct Context<'a, S = ()> {
    pub(super) defer: Option<ReturnAddress<'a>>,
    pub(super) exchange: &'a Exchange,
    pub(super) metrics: Option<&'a Metrics>,
    pub(super) work: &'a blocking::HandlerPool,
    /// Set by [`Context::run_blocking`]: the response is due within this long.
    pub(super) due_within: Option<Duration>,
    pub(super) state: &'a S,
}

impl<'a> Context<'a> {
    /// The same context seeing `state` (for a handler of an app with state).
    pub(super) fn with_state<'s, T>(&self, state: &'s T) -> Context<'s, T>
    where
        'a: 's,
    {
        Context {
            defer: self.defer,
            exchange: self.exchange,
            metrics: self.metrics,
            work: self.work,
            due_within: self.due_within,
            state,
        }
    }
}

impl<'a, S> Context<'a, S> {
    /// The app's state, as given to [`App::with_state`](super::App::with_state).
    pub fn state(&self) -> &'a S {
        self.state
    }

    /// Defers the response: returns the marker to return from the handler and the
    /// [`Completer`] to answer with from another thread. 503 where the server cannot defer.
    pub fn defer(&mut self) -> Result<(Deferred, Completer), HttpError> {
        let to = self.defer.ok_or_else(|| {
            HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "deferred responses are unavailable here")
        })?;
        Ok(to.target.completer(to))
    }

    /// The authenticated caller, on routes the auth middleware protects.
    pub fn principal(&self) -> Option<&Principal> {
        self.extension()
    }

    /// Runs `work` on the app's pool of blocking threads (`App::with_blocking_threads`, 2 by
    /// default) and answers with what it returns: for blocking calls and CPU-heavy work, which
    /// must never run on an event loop. Return the `Reply` this gives. The answer is 503 +
    /// `Retry-After` at once when the pool's queue is full, and 504 when `work` has not finished
    /// within `limit` (its result is then dropped).
    pub fn run_blocking(
        &mut self,
        limit: Duration,
        work: impl FnOnce() -> Result<Response, HttpError> + Send + 'static,
    ) -> Result<Reply, HttpError> {
        let pool = self.work.pool()?;
        let (deferred, completer) = self.defer()?;
        self.due_within = Some(limit);
        pool.spawn(move |started| match started {
            Ok(()) => match catch_unwind(AssertUnwindSafe(work)) {
                Ok(result) => completer.complete(result.unwrap_or_else(Response::from)),
                Err(_) => completer.complete(HttpError::internal("the blocking work panicked")),
            },
            Err(blocking::Refused) => completer.complete(
                HttpError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too much blocking work queued, retry shortly",
                )
                .with_header("Retry-After", HeaderValue::from_static("1")),
            ),
        });
        Ok(deferred.into())
    }

    /// The value of type `T` a middleware put in this request's extensions, if any.
    pub fn extension<T: std::any::Any>(&self) -> Option<&T> {
        self.exchange.extensions.get()
    }

    /// The request id, when the request-id middleware runs.
    pub fn request_id(&self) -> Option<&HeaderValue> {
        self.exchange.request_id.as_ref()
    }

    /// The server's metrics (none where the app runs without a server, as in unit tests).
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics
    }
}
