//! FastAPI's first app (the example in its README: a root, an item with a path and a query
//! parameter, and a PUT with a validated body), line for line on pollserve. Same URLs, same
//! JSON, same 422s for input that does not fit, and its own `/openapi.json` and `/docs`.
//!
//! `cargo run --release --example fastapi_first` (or `-- --addr 127.0.0.1:8001`), then
//! `curl "localhost:8000/items/5?q=somequery"` and open <http://localhost:8000/docs>.

use pollserve::app::extract::{Json, Path, Query};
use pollserve::app::openapi::Info;
use pollserve::app::{App, Context, Request, Response};
use pollserve::config::Config;
use pollserve::http::status::StatusCode;
use pollserve::server::Server;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

// The whole body is checked; the handler uses its name, as FastAPI's does.
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
struct Item {
    name: String,
    price: f64,
    is_offer: Option<bool>,
}

#[derive(Deserialize, JsonSchema)]
struct ItemId {
    item_id: i64,
}

#[derive(Deserialize, JsonSchema)]
struct Q {
    q: Option<String>,
}

fn read_root(_: &Request<'_>, _: &mut Context<'_>) -> Response {
    Response::json(StatusCode::OK, &json!({ "Hello": "World" }))
}

fn read_item(
    _: &Request<'_>,
    _: &mut Context<'_>,
    (Path(id), Query(q)): (Path<ItemId>, Query<Q>),
) -> Response {
    Response::json(StatusCode::OK, &json!({ "item_id": id.item_id, "q": q.q }))
}

fn update_item(
    _: &Request<'_>,
    _: &mut Context<'_>,
    (Path(id), Json(item)): (Path<ItemId>, Json<Item>),
) -> Response {
    Response::json(StatusCode::OK, &json!({ "item_name": item.name, "item_id": id.item_id }))
}

/// The app (tests run it through the test client).
pub fn app() -> App {
    App::new()
        .get("/", read_root)
        .get("/items/{item_id}", read_item)
        .put("/items/{item_id}", update_item)
        .docs("/docs", "/openapi.json")
        .openapi("/openapi.json", Info::new("FastAPI's first app, on pollserve", "0.1.0"))
}

#[allow(dead_code)] // a test includes this file for `app` alone
fn main() {
    let addr = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => "127.0.0.1:8000".parse().ok(),
        [flag, addr] if flag == "--addr" => addr.parse().ok(),
        _ => None,
    };
    let Some(addr) = addr else {
        eprintln!("usage: fastapi_first [--addr HOST:PORT]");
        std::process::exit(2);
    };
    let result = Server::run(Config::new(addr, 1), app(), |addr, _| println!("listening on http://{addr}"));
    if let Err(e) = result {
        eprintln!("fastapi_first: {e}");
        std::process::exit(1);
    }
}
