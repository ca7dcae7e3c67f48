//! # pollserve
//!
//! A small, fast HTTP/1.1 server you can read in one sitting: one non-blocking `mio` event loop
//! per core, a state machine per connection, keep-alive and pipelining, precomputed responses
//! for the hot endpoints.
//!
//! # Layout
//!
//! Layers, each importing only from the ones below it (`tests/layers.rs` checks this):
//!
//! 1. [`http`]: HTTP/1.x as pure functions on bytes: parse, frame, decode, encode, `Date`.
//!    Beside it, the small shared pieces: [`wake`] (waking loops once per batch), [`metrics`]
//!    (per-worker counters, Prometheus text), [`on_loop`] (services a worker's loop drives),
//!    [`logging`] (output that never blocks a loop).
//! 2. [`app`]: the framework: routes, scopes, state, typed extraction, middleware, deferred
//!    and blocking work, the generated OpenAPI document and `/docs`.
//! 3. [`server`]: listeners, the per-thread worker loop, the connection state machine; it runs
//!    an [`app::App`]. [`testing`]: the same connection on in-memory bytes, for apps' tests.
//! 4. [`store`] and [`db`]: what `/api` keeps and the two databases behind it (SQLite on a pool
//!    of threads, PostgreSQL driven by each worker's loop); they know nothing about HTTP.
//! 5. [`site`]: pollserve's own endpoints and `/api`, built only with the public API of
//!    [`app`], on a [`store`].
//! 6. [`config`]: command line + environment → a validated [`config::Config`]; then `main`.
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
pub mod logging;
pub mod metrics;
mod nonblocking;
pub mod on_loop;
pub mod server;
pub mod site;
pub mod store;
pub mod testing;
pub mod wake;
