//! The smallest complete program serving an app of your own with the pollserve library: one
//! route with a path parameter and a query parameter, JSON out, pollserve's logger for errors.
//!
//! `cargo run --release --example hello_library` (or `-- 127.0.0.1:3001` for another address),
//! then `curl "localhost:3000/hello/Ann?greeting=Hi"`.

use pollserve::app::{App, Context, HttpError, Request, Response};
use pollserve::config::Config;
use pollserve::http::status::StatusCode;
use pollserve::server::Server;

fn hello(request: &Request<'_>, _: &mut Context<'_>) -> Result<Response, HttpError> {
    let name = request.param("name").unwrap_or("world");
    let query = request.query()?; // a malformed query string is a 400, never a panic
    let greeting = query.get("greeting").unwrap_or("Hello");
    Ok(Response::json(StatusCode::OK, &serde_json::json!({ "message": format!("{greeting}, {name}") })))
}

/// The app: routes, handlers and middleware (tests run it in-process).
pub fn app() -> App {
    App::new().get("/hello/{name}", hello).with(pollserve::app::middleware::RequestId::new())
}

#[allow(dead_code)] // a test includes this file for `app` alone
fn main() -> std::io::Result<()> {
    pollserve::logging::init(false); // or any `log` logger of your own
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3000".into());
    let addr = addr.parse().map_err(|e| std::io::Error::other(format!("{addr}: {e}")))?;
    let server = Server::bind(Config::new(addr, 2), app()).map_err(std::io::Error::other)?;
    println!("listening on http://{}", server.local_addr());
    server.start()?.join()
}
