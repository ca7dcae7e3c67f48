//! Feeds batches of 16 pipelined `GET /plaintext` through one connection of pollserve's default
//! app (middleware included) on in-memory bytes, N times: what `tools/count-instructions.sh`
//! runs under callgrind to count the instructions per request, with no socket and no kernel.
//!
//! `cargo run --release --example count_pipelined -- 3000`

use pollserve::server::conn::ConnConfig;
use pollserve::server::memory::Driver;
use pollserve::site::{self, AppOptions};

fn main() {
    let batches: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let app = site::builtin(&AppOptions::default());
    let input = b"GET /plaintext HTTP/1.1\r\nHost: localhost:8000\r\n\r\n".repeat(16);
    let mut driver = Driver::new(&app, ConnConfig::default());
    let mut conn = driver.connect();
    let mut written = 0;
    for _ in 0..batches {
        driver.feed(&mut conn, std::hint::black_box(&input));
        written += conn.stream_mut().written.len();
        conn.stream_mut().written.clear();
    }
    println!("{batches} batches, {written} bytes written");
}
