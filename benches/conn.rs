//! The whole connection state machine without sockets: request bytes in, response bytes out.
//! This bounds what the server can do per core, minus the system calls.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Instant;

use pollserve::app::{App, AppOptions};
use pollserve::http::date::CachedDate;
use pollserve::server::buffers::BufferPool;
use pollserve::server::conn::{Conn, ConnConfig, Ctx, Identity};
use pollserve::server::memory::MemoryStream;

fn bench_conn(c: &mut Criterion) {
    let bare = App::endpoints();
    let default_chain = App::builtin(&AppOptions::default());
    let config = ConnConfig::default();
    let date = CachedDate::new();
    let mut buffers = BufferPool::new();
    let now = Instant::now();
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
        let mut conn = Conn::new(MemoryStream::new(), Identity::default(), &config, now);
        group.bench_function(format!("{name}/{chain}"), |b| {
            b.iter(|| {
                conn.stream_mut().push(black_box(input));
                let mut ctx = Ctx {
                    app,
                    config: &config,
                    date: &date,
                    now,
                    draining: false,
                    buffers: &mut buffers,
                    defer: None,
                };
                conn.on_ready(&mut ctx);
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
