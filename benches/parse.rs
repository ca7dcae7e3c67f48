//! Parsing request heads: the first thing every request costs.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use pollserve::http::request::{Parsed, header_slots, parse_head};

const MINIMAL: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost:8000\r\n\r\n";

/// What a desktop browser sends for a page: 12 header fields.
const BROWSER: &[u8] = b"GET /articles/http-underneath?ref=home HTTP/1.1\r\n\
Host: localhost:8000\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\n\
Referer: http://localhost:8000/\r\n\
Cookie: session=7f3a9c2e4b1d8f6a; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Priority: u=0, i\r\n\r\n";

fn parse_all(mut buf: &[u8]) -> usize {
    let mut count = 0;
    while !buf.is_empty() {
        let mut slots = header_slots();
        let Ok(Parsed::Complete(head)) = parse_head(buf, &mut slots, 16 * 1024) else {
            break;
        };
        let len = head.len;
        buf = &buf[len..];
        count += 1;
    }
    count
}

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_head");
    let pipelined = MINIMAL.repeat(16);
    for (name, input, requests) in [
        ("minimal_get", MINIMAL.to_vec(), 1),
        ("browser_get_12_headers", BROWSER.to_vec(), 1),
        ("pipelined_16", pipelined, 16),
    ] {
        group.throughput(Throughput::Elements(requests));
        group.bench_function(name, |b| b.iter(|| parse_all(black_box(&input))));
    }
    group.finish();
    let mut bytes = c.benchmark_group("parse_head_bytes");
    bytes.throughput(Throughput::Bytes(BROWSER.len() as u64));
    bytes.bench_function("browser_get_12_headers", |b| b.iter(|| parse_all(black_box(BROWSER))));
    bytes.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
