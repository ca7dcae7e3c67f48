//! # pollserve
//!
//! A small, fast HTTP/1.1 server you can read in one sitting: one non-blocking `mio` event loop
//! per core, a state machine per connection, keep-alive and pipelining, precomputed responses
//! for the hot endpoints.
//!
//! # Layout
//!
//! - [`config`]: command line + environment → validated [`config::Config`].
//! - [`server`]: listeners, the per-thread worker loop, the connection state machine.
//! - [`http`]: HTTP/1.x as pure functions on bytes: parse, frame, decode, encode, `Date`.
//! - [`app`]: building an API: router, request/response, middleware, deferred responses, auth,
//!   and pollserve's own endpoints (`app::handlers`).
//! - [`store`]: what `/api` keeps, and the one interface both databases offer for it.
//! - [`db`]: the two databases behind it: SQLite on a pool of blocking threads, and PostgreSQL
//!   driven by each worker's event loop ([`db::pg`]).
//! - [`wake`]: waking event loops from other threads, once per batch.
//! - [`metrics`]: per-worker counters and their Prometheus text, for `/metrics`.
//! - [`testing`]: a test client for apps: requests through the real connection, no socket.
//!
//! A request's path: `server::worker` accepts → `server::conn` reads into its buffer →
//! `http::request` parses the head → `app` picks the endpoint → `http::response` encodes into
//! the connection's output buffer → `server::conn` writes every queued response in one call.

#![deny(missing_docs, rust_2018_idioms)]
#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod db;
pub mod http;
pub mod metrics;
pub mod server;
pub mod store;
pub mod testing;
pub mod wake;
