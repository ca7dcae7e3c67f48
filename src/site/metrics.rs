//! `GET /metrics`: the server's counters in the Prometheus text exposition format.

use crate::app::{Context, Reply, Request, Response};
use crate::http::status::StatusCode;

/// The content type Prometheus scrapes expect for the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the server's metrics (503 where the app runs without a server).
pub fn metrics(_: &Request<'_>, context: &mut Context<'_>) -> Reply {
    match context.metrics() {
        Some(metrics) => Response::bytes(StatusCode::OK, CONTENT_TYPE, metrics.render().into_bytes()).into(),
        None => Response::text(StatusCode::SERVICE_UNAVAILABLE, "no metrics outside a server\n").into(),
    }
}
