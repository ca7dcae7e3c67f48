//! The whole connection state machine fed arbitrary bytes in arbitrary pieces: no panic, the
//! same output as whole delivery, and never more responses than requests could have been sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pollserve::server::conn::ConnConfig;
use pollserve::server::memory::Driver;
use pollserve::site;

/// pollserve's own endpoints, built once (building them builds the OpenAPI document).
static APP: std::sync::LazyLock<pollserve::app::App> = std::sync::LazyLock::new(site::endpoints);

fn run(chunks: &[&[u8]]) -> Vec<u8> {
    let config = ConnConfig { max_head_bytes: 1024, max_body: 4096, ..ConnConfig::default() };
    let mut driver = Driver::new(&APP, config);
    let mut conn = driver.connect();
    for chunk in chunks {
        driver.feed(&mut conn, chunk);
    }
    let written = std::mem::take(&mut conn.stream_mut().written);
    // Whether 100 Continue is sent depends on whether the body came with the head.
    let text = String::from_utf8_lossy(&written).replace("HTTP/1.1 100 Continue\r\n\r\n", "");
    text.into_bytes()
}

/// Status lines (`HTTP/1.1 ddd `) in the output: a body mentioning "HTTP/1.1" does not count.
fn count_status_lines(output: &[u8]) -> usize {
    output
        .windows(13)
        .filter(|w| w.starts_with(b"HTTP/1.1 ") && w[9..12].iter().all(u8::is_ascii_digit) && w[12] == b' ')
        .count()
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the piece size; the rest is what the client sends.
    let Some((&size, input)) = data.split_first() else { return };
    let size = usize::from(size % 16) + 1;
    let pieces: Vec<&[u8]> = input.chunks(size).collect();
    let whole = run(&[input]);
    assert_eq!(run(&pieces), whole);
    let responses = count_status_lines(&whole);
    let line_ends = input.iter().filter(|&&b| b == b'\n').count();
    assert!(responses <= line_ends + 1);
});
