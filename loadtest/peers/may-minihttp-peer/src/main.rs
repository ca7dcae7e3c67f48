//! may-minihttp peer: `GET /` (the blog post's 52-byte JSON), `/json` and `/plaintext`, written
//! the way its TechEmpower entry is. Usage: may-minihttp-peer ADDR WORKERS

use std::io;

use may_minihttp::{HttpServer, HttpService, Request, Response};

const HELLO: &str = r#"{"message": "Hello bro, this is your HTTP response"}"#;

#[derive(serde::Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Clone)]
struct Peer;

impl HttpService for Peer {
    fn call(&mut self, req: Request, res: &mut Response) -> io::Result<()> {
        match req.path() {
            "/" => {
                res.header("Content-Type: application/json");
                res.body(HELLO);
            }
            "/plaintext" => {
                res.header("Content-Type: text/plain");
                res.body("Hello, World!");
            }
            "/json" => {
                res.header("Content-Type: application/json");
                let json = serde_json::to_vec(&Message { message: "Hello, World!" })?;
                res.body_mut().extend_from_slice(&json);
            }
            _ => {
                res.status_code(404, "Not Found");
            }
        }
        Ok(())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8004".into());
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    may::config().set_workers(workers);
    let server = HttpServer(Peer).start(&addr).expect("listen");
    println!("may-minihttp listening on http://{addr}");
    server.join().expect("server");
}
