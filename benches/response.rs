//! Encoding responses and the cached Date: the per-request cost of answering.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Instant, SystemTime};

use pollserve::app::{Exchange, HandleEnv, HeaderValue, HttpError, Response};
use pollserve::http::date::CachedDate;
use pollserve::http::request::{Request, header_slots, parse_head};
use pollserve::http::response::Persistence;
use pollserve::site::builtin::HELLO;
use pollserve::site::{self, AppOptions};

fn bench_encode(c: &mut Criterion) {
    let date = CachedDate::new();
    let mut out = Vec::with_capacity(4096);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));

    group.bench_function("precomputed_root", |b| {
        b.iter(|| {
            out.clear();
            Response::precomputed(&HELLO).write_to(&mut out, &date, Persistence::KeepAlive, false, None);
            black_box(out.len())
        })
    });
    group.bench_function("precomputed_root_with_request_id", |b| {
        b.iter(|| {
            out.clear();
            let id = HeaderValue::try_from_bytes(b"5f3a9c2e-0-1a2b");
            Response::precomputed(&HELLO).write_to(
                &mut out,
                &date,
                Persistence::KeepAlive,
                false,
                id.as_ref(),
            );
            black_box(out.len())
        })
    });

    let app = site::builtin(&AppOptions::default());
    let raw = b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut slots = header_slots();
    let head = parse_head(raw, &mut slots, 16 * 1024).unwrap().complete().unwrap();
    let request = Request { head: &head, body: b"" };
    group.bench_function("json_routed_and_serialized_per_request", |b| {
        b.iter(|| {
            out.clear();
            let env = HandleEnv { now: Instant::now(), metrics: None, peer: None, defer: None };
            let send = |response: &Response, exchange: &Exchange| {
                let id = exchange.request_id.as_ref();
                response.write_to(&mut out, &date, Persistence::KeepAlive, false, id)
            };
            black_box(app.handle(black_box(&request), &env, send));
            black_box(out.len())
        })
    });

    group.bench_function("error_404", |b| {
        b.iter(|| {
            out.clear();
            Response::from(HttpError::not_found("not found")).write_to(
                &mut out,
                &date,
                Persistence::KeepAlive,
                false,
                None,
            );
            black_box(out.len())
        })
    });
    group.finish();
}

fn bench_date(c: &mut Criterion) {
    let mut group = c.benchmark_group("date");
    group.throughput(Throughput::Elements(1));
    let mut cached = CachedDate::new();
    let mut out = Vec::with_capacity(64);
    group.bench_function("cached_copy_per_request", |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&cached).as_bytes());
            black_box(out.len())
        })
    });
    group.bench_function("refresh_check_per_wakeup", |b| {
        b.iter(|| cached.refresh(black_box(SystemTime::now())))
    });
    group.bench_function("format_per_request_for_comparison", |b| {
        b.iter(|| black_box(httpdate::fmt_http_date(black_box(SystemTime::now()))))
    });
    group.finish();
}

criterion_group!(benches, bench_encode, bench_date);
criterion_main!(benches);
