//! The whole connection state machine without sockets: request bytes in, response bytes out.
//! This bounds what the server can do per core, minus the system calls.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use pollserve::server::conn::ConnConfig;
use pollserve::server::memory::Driver;
use pollserve::site::{self, AppOptions};

fn bench_conn(c: &mut Criterion) {
    let bare = site::endpoints();
    let default_chain = site::builtin(&AppOptions::default());
    let mut group = c.benchmark_group("conn_round_trip");
    let cases = [
        ("get_root_x1", b"GET / HTTP/1.1\r\nHost: localhost:8000\r\n\r\n".to_vec(), 1),
        ("get_root_pipelined_x16", b"GET / HTTP/1.1\r\nHost: localhost:8000\r\n\r\n".repeat(16), 16),
        (
            "plaintext_pipelined_x16",
            b"GET /plaintext HTTP/1.1\r\nHost: localhost:8000\r\n\r\n".repeat(16),
            16,
        ),
        ("json_x1", b"GET /json HTTP/1.1\r\nHost: localhost:8000\r\n\r\n".to_vec(), 1),
    ];
    for ((name, input, requests), (chain, app)) in
        cases.iter().flat_map(|case| [(case, ("bare", &bare)), (case, ("default_chain", &default_chain))])
    {
        group.throughput(Throughput::Elements(*requests));
        let mut driver = Driver::new(app, ConnConfig::default());
        let mut conn = driver.connect();
        group.bench_function(format!("{name}/{chain}"), |b| {
            b.iter(|| {
                driver.feed(&mut conn, black_box(input));
                let written = conn.stream_mut().written.len();
                conn.stream_mut().written.clear();
                black_box(written)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_conn);
criterion_main!(benches);
