//! Command line and environment → a validated [`Config`].
//!
//! [`Args`] is what the user typed (clap, each flag also readable from a `POLLSERVE_*`
//! variable); [`Args::into_config`] checks it and turns it into the [`Config`] the server runs
//! with. Every default is a documented constant here.

use std::net::{SocketAddr, ToSocketAddrs};
use std::num::NonZeroUsize;
use std::time::Duration;

use clap::Parser;

use crate::app::AccessLogFormat;
use crate::db::{DbLocation, Durability};
use crate::server::conn::ConnConfig;
use crate::site::AppOptions;
use crate::site::api::ApiOptions;

mod summary;
pub mod values;

/// Default listen address: loopback, port 8000, like the blog post's Python server.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8000";
/// Default time a shutdown waits for responses in progress, in seconds.
pub const DEFAULT_DRAIN_TIMEOUT: u64 = 10;
/// Default connection limit per process; stays below the usual 20,000 open-file limit with
/// room for listeners, pollers and the database.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;
/// Default database file, in the working directory.
pub const DEFAULT_DB: &str = "pollserve.db";

/// pollserve: a small, fast HTTP/1.1 server on a mio event loop per core.
#[derive(Debug, Clone, Parser)]
#[command(name = "pollserve", version, about)]
pub struct Args {
    /// Address to listen on (HOST:PORT; port 0 picks a free port).
    #[arg(long, env = "POLLSERVE_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// Worker threads, each with its own event loop [default: available cores].
    #[arg(long, env = "POLLSERVE_THREADS", value_parser = values::positive, allow_negative_numbers = true)]
    pub threads: Option<u64>,
    /// Seconds allowed for a complete request head (408 after).
    #[arg(long, env = "POLLSERVE_HEADER_TIMEOUT", default_value_t = ConnConfig::DEFAULT.header_timeout.as_secs(),
          value_parser = values::positive, allow_negative_numbers = true)]
    pub header_timeout: u64,
    /// Longest pause, in seconds, while a request body arrives (408 after).
    #[arg(long, env = "POLLSERVE_BODY_TIMEOUT", default_value_t = ConnConfig::DEFAULT.body_timeout.as_secs(),
          value_parser = values::positive, allow_negative_numbers = true)]
    pub body_timeout: u64,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, env = "POLLSERVE_IDLE_TIMEOUT", default_value_t = ConnConfig::DEFAULT.idle_timeout.as_secs(),
          value_parser = values::positive, allow_negative_numbers = true)]
    pub idle_timeout: u64,
    /// Seconds to wait for a client to read response bytes before closing.
    #[arg(long, env = "POLLSERVE_WRITE_TIMEOUT", default_value_t = ConnConfig::DEFAULT.write_timeout.as_secs(),
          value_parser = values::positive, allow_negative_numbers = true)]
    pub write_timeout: u64,
    /// Seconds a shutdown waits for responses in progress.
    #[arg(long, env = "POLLSERVE_DRAIN_TIMEOUT", default_value_t = DEFAULT_DRAIN_TIMEOUT,
          value_parser = values::whole, allow_negative_numbers = true)]
    pub drain_timeout: u64,
    /// Seconds between SIGTERM and the drain, while /readyz answers 503 and requests are still
    /// served: time for a load balancer to stop sending new ones.
    #[arg(long, env = "POLLSERVE_SHUTDOWN_GRACE", default_value_t = 0,
          value_parser = values::whole, allow_negative_numbers = true)]
    pub shutdown_grace: u64,
    /// Behind a load balancer: count failed logins by the client address the balancer appends to
    /// X-Forwarded-For instead of by the balancer's own address. Only behind a balancer that
    /// does append it (HAProxy's `option forwardfor`): otherwise a client could pick its address.
    #[arg(long, env = "POLLSERVE_TRUST_FORWARDED_FOR", value_parser = values::boolish)]
    pub trust_forwarded_for: bool,
    /// This instance's name: the prefix of its request ids, so that the logs of several
    /// instances can be merged (1 to 16 of `A-Z a-z 0-9 _ . -`; default: 8 random hex digits).
    #[arg(long, env = "POLLSERVE_INSTANCE", default_value = "", value_parser = values::instance)]
    pub instance: String,
    /// Most open connections for the whole process (more are answered 503 and closed).
    #[arg(long, env = "POLLSERVE_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = values::positive, allow_negative_numbers = true)]
    pub max_connections: u64,
    /// Largest request body (413 beyond): bytes, or with a unit: 64k, 1MiB, 1g.
    #[arg(long, env = "POLLSERVE_MAX_BODY", default_value_t = ConnConfig::DEFAULT.max_body,
          value_parser = values::size, allow_hyphen_values = true)]
    pub max_body: u64,
    /// Largest request head (431 beyond), 256 bytes to 1MiB: bytes, or with a unit: 16k.
    #[arg(long, env = "POLLSERVE_MAX_HEADER_BYTES", default_value_t = ConnConfig::DEFAULT.max_head_bytes as u64,
          value_parser = values::head_size, allow_hyphen_values = true)]
    pub max_header_bytes: u64,
    /// Log one line per request to stdout: time, client, request line, status, bytes, duration,
    /// request id, user agent.
    #[arg(long, env = "POLLSERVE_ACCESS_LOG", value_parser = values::boolish)]
    pub access_log: bool,
    /// The access log's format: text, combined (Apache's Combined Log Format) or json (one
    /// object per line). Implies --access-log.
    #[arg(long, env = "POLLSERVE_ACCESS_LOG_FORMAT", value_parser = values::access_log_format)]
    pub access_log_format: Option<AccessLogFormat>,
    /// Print each connection's raw request bytes, response heads and state changes to stderr.
    /// Credentials are masked: Authorization, Proxy-Authorization, Cookie and Set-Cookie values,
    /// and JSON "password" and "token" strings.
    #[arg(long, env = "POLLSERVE_TRACE", value_parser = values::boolish)]
    pub trace: bool,
    /// Add a Server-Timing header with each handler's duration.
    #[arg(long, env = "POLLSERVE_SERVER_TIMING", value_parser = values::boolish)]
    pub server_timing: bool,
    /// Where /api keeps its data: an SQLite file (`:memory:` for a throwaway database), a
    /// PostgreSQL URL (`postgres://USER:PASSWORD@HOST:PORT/DBNAME`), or `off` (no /api).
    #[arg(long, env = "POLLSERVE_DB", default_value = DEFAULT_DB, value_parser = values::db_location)]
    pub db: DbLocation,
    /// How durable a write is before it is acknowledged. `normal`: committed, survives the
    /// server being killed, but a power loss may lose the last writes. `full`: on disk (fsync)
    /// before its response; concurrent writes share one commit, so it stays cheap.
    #[arg(long, env = "POLLSERVE_DB_SYNC", default_value = "normal", value_parser = values::durability)]
    pub db_sync: Durability,
    /// Threads that run SQLite work, and threads that hash passwords (never the event loops).
    #[arg(long, env = "POLLSERVE_DB_THREADS", default_value_t = crate::db::DEFAULT_THREADS as u64,
          value_parser = values::db_threads, allow_negative_numbers = true)]
    pub db_threads: u64,
    /// PostgreSQL connections per worker thread (the server sees threads × this many).
    #[arg(long, env = "POLLSERVE_DB_CONNECTIONS", default_value_t = crate::db::pg::DEFAULT_CONNECTIONS as u64,
          value_parser = values::db_threads, allow_negative_numbers = true)]
    pub db_connections: u64,
    /// Seconds a PostgreSQL query may wait and run before its request is answered 503.
    #[arg(long, env = "POLLSERVE_DB_TIMEOUT", default_value_t = crate::db::pg::QUERY_TIMEOUT.as_secs(),
          value_parser = values::positive, allow_negative_numbers = true)]
    pub db_timeout: u64,
    /// Failed logins allowed per client address per minute before /api/login answers 429.
    #[arg(long, env = "POLLSERVE_MAX_FAILED_LOGINS", default_value_t = crate::site::auth::MAX_FAILED_LOGINS,
          value_parser = values::attempts, allow_negative_numbers = true)]
    pub max_failed_logins: u32,
    /// Seconds a token issued at login stays valid.
    #[arg(long, env = "POLLSERVE_TOKEN_LIFETIME", default_value_t = crate::site::auth::TOKEN_LIFETIME.as_secs(),
          value_parser = values::positive, allow_negative_numbers = true)]
    pub token_lifetime: u64,
    /// Allow this CORS origin, `scheme://host[:port]` (repeatable, or comma-separated; `*` for
    /// any). Default: deny all.
    #[arg(long = "cors-origin", value_name = "ORIGIN", env = "POLLSERVE_CORS_ORIGIN", value_delimiter = ',', value_parser = values::origin)]
    pub cors_origins: Vec<String>,
}

/// A problem with the command line that clap's own checks cannot see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `--addr` is not `HOST:PORT`.
    BadAddress(String),
    /// `--addr`'s host name could not be resolved.
    Unresolvable(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::BadAddress(addr) => {
                write!(f, "--addr {addr:?} is not a HOST:PORT address (such as 127.0.0.1:8000)")
            }
            ConfigError::Unresolvable(host) => {
                write!(f, "--addr: the host name {host:?} could not be resolved")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// The validated settings a server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Number of worker threads (at least 1).
    pub threads: usize,
    /// Open-connection limit for the process.
    pub max_connections: usize,
    /// How long a shutdown waits for responses in progress.
    pub drain_timeout: Duration,
    /// How long after SIGTERM the server keeps serving (not ready) before it drains.
    pub shutdown_grace: Duration,
    /// Per-connection limits and timeouts.
    pub conn: ConnConfig,
    /// Switches for the built-in middleware.
    pub app: AppOptions,
    /// Where the database lives.
    pub db: DbLocation,
    /// Database threads and login settings for `/api`.
    pub api: ApiOptions,
}

impl Config {
    /// Defaults, listening on `addr`, with `threads` workers.
    pub fn new(addr: SocketAddr, threads: usize) -> Config {
        Config {
            addr,
            threads: threads.max(1),
            max_connections: DEFAULT_MAX_CONNECTIONS as usize,
            drain_timeout: Duration::from_secs(DEFAULT_DRAIN_TIMEOUT),
            shutdown_grace: Duration::ZERO,
            conn: ConnConfig::default(),
            app: AppOptions::default(),
            db: DbLocation::Memory,
            api: ApiOptions::default(),
        }
    }
}

impl From<Config> for crate::server::Settings {
    fn from(config: Config) -> crate::server::Settings {
        crate::server::Settings {
            addr: config.addr,
            threads: config.threads,
            max_connections: config.max_connections,
            drain_timeout: config.drain_timeout,
            conn: config.conn,
        }
    }
}

/// `HOST:PORT` → the first address the host resolves to (an IP address needs no lookup).
fn resolve(addr: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(addr) = addr.parse() {
        return Ok(addr);
    }
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .filter(|(host, _)| !host.is_empty())
        .ok_or_else(|| ConfigError::BadAddress(addr.to_owned()))?;
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| ConfigError::Unresolvable(host.to_owned()))
}

impl Args {
    /// Validates the arguments.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let addr = resolve(&self.addr)?;
        let threads = match self.threads {
            Some(threads) => usize::try_from(threads).unwrap_or(usize::MAX),
            None => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        Ok(Config {
            addr,
            threads,
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            drain_timeout: Duration::from_secs(self.drain_timeout),
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
            conn: ConnConfig {
                max_head_bytes: usize::try_from(self.max_header_bytes).unwrap_or(usize::MAX),
                max_body: self.max_body,
                header_timeout: Duration::from_secs(self.header_timeout),
                body_timeout: Duration::from_secs(self.body_timeout),
                idle_timeout: Duration::from_secs(self.idle_timeout),
                write_timeout: Duration::from_secs(self.write_timeout),
                linger_timeout: ConnConfig::DEFAULT.linger_timeout,
                trace: self.trace,
            },
            app: AppOptions {
                cors_origins: self.cors_origins,
                access_log: match (self.access_log, self.access_log_format) {
                    (_, Some(format)) => Some(format),
                    (true, None) => Some(AccessLogFormat::default()),
                    (false, None) => None,
                },
                server_timing: self.server_timing,
                instance: self.instance,
                ..AppOptions::default()
            },
            db: self.db,
            api: ApiOptions {
                db_threads: usize::try_from(self.db_threads).unwrap_or(1),
                db_connections: usize::try_from(self.db_connections).unwrap_or(1),
                db_timeout: Duration::from_secs(self.db_timeout),
                trust_forwarded_for: self.trust_forwarded_for,
                max_failed_logins: self.max_failed_logins,
                token_lifetime: Duration::from_secs(self.token_lifetime),
                db_sync: self.db_sync,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let config = Args::try_parse_from(["pollserve"]).unwrap().into_config().unwrap();
        assert_eq!(config.addr, "127.0.0.1:8000".parse().unwrap());
        assert!(config.threads >= 1);
        assert_eq!(config.conn.max_body, 1024 * 1024);
        assert_eq!(config.conn.max_head_bytes, 16 * 1024);
        assert_eq!(config.conn.header_timeout, Duration::from_secs(10));
        assert_eq!(config.conn.idle_timeout, Duration::from_secs(60));
    }

    #[test]
    fn flags_override_defaults() {
        let args = ["pollserve", "--addr", "localhost:0", "--threads", "3", "--max-body", "10"];
        let config = Args::try_parse_from(args).unwrap().into_config().unwrap();
        assert_eq!(config.addr.port(), 0);
        assert_eq!(config.threads, 3);
        assert_eq!(config.conn.max_body, 10);
    }

    #[test]
    fn rejects_bad_values() {
        assert!(Args::try_parse_from(["pollserve", "--threads", "0"]).is_err());
        assert!(Args::try_parse_from(["pollserve", "--header-timeout", "0"]).is_err());
        let bad = Args::try_parse_from(["pollserve", "--addr", "nonsense"]).unwrap();
        assert!(matches!(bad.into_config(), Err(ConfigError::BadAddress(_))));
    }
}
