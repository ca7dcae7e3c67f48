//! The start-up summary: what the server runs with, in one line for the log.

use std::fmt;

use super::Config;
use crate::db::{DbLocation, Durability};

/// [`Config`] as the start-up log line shows it (see [`Config::summary`]).
pub struct Summary<'a>(&'a Config);

impl Config {
    /// The effective configuration, for the start-up log line: address, threads, database,
    /// limits, timeouts, CORS origins, logging. A PostgreSQL password is never shown.
    pub fn summary(&self) -> Summary<'_> {
        Summary(self)
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        // The address without a scheme: the start-up line on stdout is the one to parse for a URL.
        write!(f, "serving {} with {} thread{}; ", c.addr, c.threads, plural(c.threads))?;
        let sync = match c.api.db_sync {
            Durability::Normal => "normal",
            Durability::Full => "full",
        };
        match &c.db {
            DbLocation::Postgres(url) => write!(
                f,
                "database: PostgreSQL at {url}, {} connection{} per worker, query timeout {} s",
                c.api.db_connections,
                plural(c.api.db_connections),
                c.api.db_timeout.as_secs()
            )?,
            DbLocation::File(path) => write!(
                f,
                "database: SQLite at {}, {} thread{}, sync {sync}",
                path.display(),
                c.api.db_threads,
                plural(c.api.db_threads)
            )?,
            DbLocation::Memory => f.write_str("database: SQLite in memory (gone at exit)")?,
            DbLocation::Off => f.write_str("database: off (no /api)")?,
        }
        let conn = &c.conn;
        write!(
            f,
            "; limits: {} connections, head {} B, body {} B; timeouts: header {} s, body {} s, idle {} s, \
             write {} s, drain {} s",
            c.max_connections,
            conn.max_head_bytes,
            conn.max_body,
            conn.header_timeout.as_secs(),
            conn.body_timeout.as_secs(),
            conn.idle_timeout.as_secs(),
            conn.write_timeout.as_secs(),
            c.drain_timeout.as_secs(),
        )?;
        match c.app.cors_origins.as_slice() {
            [] => f.write_str("; CORS: no origins")?,
            origins => write!(f, "; CORS origins: {}", origins.join(" "))?,
        }
        match c.app.access_log {
            Some(format) => write!(f, "; access log: {}", format.name())?,
            None => f.write_str("; access log: off")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_what_an_operator_checks_first() {
        let mut config = Config::new("127.0.0.1:8000".parse().unwrap(), 2);
        config.app.cors_origins = vec!["https://app.example".into()];
        let text = config.summary().to_string();
        for part in [
            "serving 127.0.0.1:8000 with 2 threads",
            "database: SQLite in memory",
            "limits: 10000 connections, head 16384 B, body 1048576 B",
            "timeouts: header 10 s",
            "CORS origins: https://app.example",
            "access log: off",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
        config.db = DbLocation::parse("postgres://app:s3cret@db.example:5432/app").unwrap();
        let text = config.summary().to_string();
        assert!(text.contains("PostgreSQL at") && !text.contains("s3cret"), "{text}");
    }
}
