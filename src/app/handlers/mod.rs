//! The built-in endpoints, one file per group, all defined with the same [`App`](super::App)
//! API a user's own API uses.

pub mod api;
pub mod builtin;
pub mod echo;
pub mod health;
pub mod learn;
pub mod metrics;
