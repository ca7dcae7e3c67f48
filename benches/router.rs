//! Router lookup: static and parameterised paths, in a router with many routes (the cost must
//! not grow with the number of routes).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use pollserve::app::query::decode_path;
use pollserve::app::router::Router;
use pollserve::http::request::Method;

fn router(extra_routes: usize) -> Router<u32> {
    let mut router = Router::new();
    router.insert(Method::Get, "/", 0).unwrap();
    router.insert(Method::Get, "/json", 1).unwrap();
    router.insert(Method::Get, "/api/items", 2).unwrap();
    router.insert(Method::Get, "/api/items/{id}", 3).unwrap();
    router.insert(Method::Get, "/api/users/{user}/items/{id}", 4).unwrap();
    for i in 0..extra_routes {
        router.insert(Method::Get, &format!("/filler{i}/{{x}}/more{i}"), 5).unwrap();
    }
    router
}

fn bench_router(c: &mut Criterion) {
    let mut group = c.benchmark_group("router_lookup");
    group.throughput(Throughput::Elements(1));
    for routes in [5, 500] {
        let router = router(routes);
        for (name, path) in
            [("static", "/json"), ("param", "/api/items/42"), ("two_params", "/api/users/ann/items/7")]
        {
            group.bench_function(format!("{name}_{routes}_routes"), |b| {
                b.iter(|| {
                    let segments = decode_path(black_box(path)).unwrap();
                    let (endpoint, params) = router.find(&segments).unwrap();
                    black_box((endpoint.get(Method::Get).copied(), params.len()))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_router);
criterion_main!(benches);
