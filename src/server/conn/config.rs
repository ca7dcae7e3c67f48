//! The limits and timeouts every connection of a server shares, and their defaults (written
//! once: the command line reads its defaults from here).

use std::time::Duration;

/// Limits and timeouts every connection of a server shares.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// Largest request head, in bytes (431 beyond it).
    pub max_head_bytes: usize,
    /// Largest request body, in bytes (413 beyond it).
    pub max_body: u64,
    /// Time allowed for a whole request head once its first byte arrived (408 after it).
    pub header_timeout: Duration,
    /// Longest pause between two reads of a request body (408 after it).
    pub body_timeout: Duration,
    /// Time an idle keep-alive connection stays open.
    pub idle_timeout: Duration,
    /// Longest wait for the client to accept more response bytes.
    pub write_timeout: Duration,
    /// Time allowed, after the last response, for the client to close its side.
    pub linger_timeout: Duration,
    /// Print raw request bytes, response heads and state transitions to standard error.
    pub trace: bool,
}

impl ConnConfig {
    /// The defaults, written once: the command line's defaults are read from here.
    pub const DEFAULT: ConnConfig = ConnConfig {
        // nginx allows 4 × 8 KiB; most heads are under 1 KiB.
        max_head_bytes: 16 * 1024,
        max_body: 1024 * 1024,
        // nginx's `client_header_timeout` is 60 s; shorter here because the slowloris defence
        // matters more than very slow clients.
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
        write_timeout: Duration::from_secs(30),
        linger_timeout: Duration::from_secs(5),
        trace: false,
    };
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig::DEFAULT
    }
}
