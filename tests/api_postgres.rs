//! The tests of `api.rs`, unchanged, against PostgreSQL: each server gets a new database on a
//! throwaway cluster this test process starts (see `support/postgres.rs`). Without PostgreSQL
//! installed they are skipped, loudly; `.ci/run` installs it and requires them.

#[path = "api.rs"]
mod cases;
