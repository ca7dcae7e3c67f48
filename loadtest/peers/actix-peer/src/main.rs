//! actix-web peer: `GET /` (the blog's 52-byte JSON), `/json` (serialized per request),
//! `/plaintext`. Usage: actix-peer ADDR WORKERS

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Serialize;

const HELLO: &str = r#"{"message": "Hello bro, this is your HTTP response"}"#;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn root() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(HELLO)
}

async fn json() -> HttpResponse {
    HttpResponse::Ok().json(Message { message: "Hello, World!" })
}

async fn plaintext() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("Hello, World!")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8002".into());
    let workers: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let server = HttpServer::new(|| {
        App::new()
            .route("/", web::get().to(root))
            .route("/json", web::get().to(json))
            .route("/plaintext", web::get().to(plaintext))
    })
    .workers(workers)
    .backlog(1024)
    .bind(&addr)?;
    println!("actix-web listening on http://{}", server.addrs()[0]);
    server.run().await
}
