//! axum peer: `GET /` (the blog's 52-byte JSON), `/json` (serialized per request), `/plaintext`.
//! Usage: axum-peer ADDR THREADS

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;

const HELLO: &str = r#"{"message": "Hello bro, this is your HTTP response"}"#;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn root() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], HELLO)
}

async fn json() -> impl IntoResponse {
    axum::Json(Message { message: "Hello, World!" })
}

async fn plaintext() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain")], "Hello, World!")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8001".into());
    let threads: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_io().build().unwrap();
    runtime.block_on(async {
        let app = Router::new().route("/", get(root)).route("/json", get(json)).route("/plaintext", get(plaintext));
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        println!("axum listening on http://{}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
}
