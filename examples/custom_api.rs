//! A tiny API of your own on pollserve: in-memory notes with GET/POST/PUT/DELETE, JSON in and
//! out, path parameters, the status codes that go with them, two custom middlewares, a handler
//! that answers later from another thread, and one that panics.
//!
//! ```sh
//! cargo run --release --example custom_api            # listens on 127.0.0.1:8080
//! curl -i -X POST localhost:8080/notes -H 'Content-Type: application/json' \
//!      -H 'X-Api-Key: secret' -d '{"title": "buy milk"}'
//! curl -i localhost:8080/notes/1
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use pollserve::app::{App, Context, Exchange, HeaderValue, HttpError, Middleware, Reply, Request, Response};
use pollserve::config::Config;
use pollserve::http::request::Method;
use pollserve::http::status::StatusCode;
use pollserve::server::Server;

/// The key writes must present in `X-Api-Key`.
pub const API_KEY: &str = "secret";

/// Writes allowed per second before 429.
pub const WRITES_PER_SECOND: u32 = 50;

#[derive(Debug, Clone, Serialize)]
struct Note {
    id: u64,
    title: String,
    done: bool,
}

#[derive(Debug, Deserialize)]
struct NoteInput {
    title: String,
    #[serde(default)]
    done: bool,
}

#[derive(Default)]
struct Notes {
    next_id: u64,
    by_id: BTreeMap<u64, Note>,
}

type Store = Arc<Mutex<Notes>>;

/// 422 unless the title is 1–100 characters.
fn validate(input: &NoteInput) -> Result<(), HttpError> {
    let chars = input.title.trim().chars().count();
    if chars == 0 || chars > 100 {
        return Err(HttpError::new(StatusCode::UNPROCESSABLE_CONTENT, "title must be 1 to 100 characters"));
    }
    Ok(())
}

fn list(store: &Store) -> Reply {
    let notes = store.lock().unwrap_or_else(PoisonError::into_inner);
    let all: Vec<&Note> = notes.by_id.values().collect();
    Response::json(StatusCode::OK, &all).into()
}

fn create(store: &Store, request: &Request<'_>) -> Result<Response, HttpError> {
    let input: NoteInput = request.json()?;
    validate(&input)?;
    let mut notes = store.lock().unwrap_or_else(PoisonError::into_inner);
    if notes.by_id.values().any(|n| n.title == input.title) {
        return Err(HttpError::new(StatusCode::CONFLICT, "a note with this title exists"));
    }
    notes.next_id += 1;
    let note = Note { id: notes.next_id, title: input.title, done: input.done };
    notes.by_id.insert(note.id, note.clone());
    Ok(Response::created(&format!("/notes/{}", note.id), &note))
}

fn show(store: &Store, request: &Request<'_>) -> Result<Response, HttpError> {
    let id: u64 = request.param_as("id")?;
    let notes = store.lock().unwrap_or_else(PoisonError::into_inner);
    let note = notes.by_id.get(&id).ok_or_else(|| HttpError::not_found(format!("no note {id}")))?;
    Ok(Response::json(StatusCode::OK, note))
}

fn update(store: &Store, request: &Request<'_>) -> Result<Response, HttpError> {
    let id: u64 = request.param_as("id")?;
    let input: NoteInput = request.json()?;
    validate(&input)?;
    let mut notes = store.lock().unwrap_or_else(PoisonError::into_inner);
    let note = notes.by_id.get_mut(&id).ok_or_else(|| HttpError::not_found(format!("no note {id}")))?;
    note.title = input.title;
    note.done = input.done;
    Ok(Response::json(StatusCode::OK, note))
}

fn remove(store: &Store, request: &Request<'_>) -> Result<Response, HttpError> {
    let id: u64 = request.param_as("id")?;
    let mut notes = store.lock().unwrap_or_else(PoisonError::into_inner);
    notes.by_id.remove(&id).ok_or_else(|| HttpError::not_found(format!("no note {id}")))?;
    Ok(Response::no_content())
}

/// Sleeps `ms` milliseconds on the app's blocking pool (a stand-in for a slow call) and then
/// answers; the event loop keeps serving meanwhile. Past 5 s the answer is 504.
fn slow(request: &Request<'_>, context: &mut Context<'_>) -> Result<Reply, HttpError> {
    let ms: u64 = request.param_as("ms")?;
    if ms > 10_000 {
        return Err(HttpError::bad_request("at most 10000 ms"));
    }
    context.run_blocking(Duration::from_secs(5), move || {
        std::thread::sleep(Duration::from_millis(ms));
        Ok(Response::json(StatusCode::OK, &serde_json::json!({ "slept_ms": ms })))
    })
}

/// Writes (POST, PUT, PATCH, DELETE) need `X-Api-Key`: missing → 401, wrong → 403.
struct ApiKey;

impl Middleware for ApiKey {
    fn before(&self, request: &Request<'_>, _: &mut Exchange) -> Option<Response> {
        if !matches!(request.method(), Method::Post | Method::Put | Method::Patch | Method::Delete) {
            return None;
        }
        match request.header("x-api-key") {
            None => Some(
                HttpError::new(StatusCode::UNAUTHORIZED, "X-Api-Key required")
                    .with_header("WWW-Authenticate", HeaderValue::from_static("ApiKey"))
                    .into(),
            ),
            Some(key) if key != API_KEY.as_bytes() => {
                Some(HttpError::new(StatusCode::FORBIDDEN, "wrong API key").into())
            }
            Some(_) => None,
        }
    }
}

/// At most [`WRITES_PER_SECOND`] writes per second across the server: 429 with `Retry-After`.
struct WriteRateLimit {
    window: Mutex<(Instant, u32)>,
}

impl Middleware for WriteRateLimit {
    fn before(&self, request: &Request<'_>, _: &mut Exchange) -> Option<Response> {
        if matches!(request.method(), Method::Get | Method::Head | Method::Options) {
            return None;
        }
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if window.0.elapsed() >= Duration::from_secs(1) {
            *window = (Instant::now(), 0);
        }
        window.1 += 1;
        (window.1 > WRITES_PER_SECOND).then(|| {
            HttpError::new(StatusCode::TOO_MANY_REQUESTS, "too many writes")
                .with_header("Retry-After", HeaderValue::from_static("1"))
                .into()
        })
    }
}

/// The notes API.
pub fn app() -> App {
    let store: Store = Arc::default();
    let (s1, s2, s3, s4, s5) = (store.clone(), store.clone(), store.clone(), store.clone(), store);
    App::new()
        .get("/notes", move |_: &Request<'_>, _: &mut Context<'_>| list(&s1))
        .post("/notes", move |r: &Request<'_>, _: &mut Context<'_>| create(&s2, r))
        .get("/notes/{id}", move |r: &Request<'_>, _: &mut Context<'_>| show(&s3, r))
        .put("/notes/{id}", move |r: &Request<'_>, _: &mut Context<'_>| update(&s4, r))
        .delete("/notes/{id}", move |r: &Request<'_>, _: &mut Context<'_>| remove(&s5, r))
        .get("/slow/{ms}", slow)
        .get("/panic", |_: &Request<'_>, _: &mut Context<'_>| -> Reply {
            panic!("this handler always panics")
        })
        .with(pollserve::app::middleware::RequestId::new())
        .with(ApiKey)
        .with(WriteRateLimit { window: Mutex::new((Instant::now(), 0)) })
}

#[allow(dead_code)] // tests include this file for `app()` and do not call main
fn main() {
    let addr = std::env::args().nth(2).unwrap_or_else(|| "127.0.0.1:8080".into());
    let Ok(addr) = addr.parse() else {
        eprintln!("usage: custom_api [--addr HOST:PORT]");
        std::process::exit(2);
    };
    let config = Config::new(addr, 1);
    let result = Server::run(config, app(), |addr, _shutdown| println!("notes API on http://{addr}"));
    if let Err(e) = result {
        eprintln!("custom_api: {e}");
        std::process::exit(1);
    }
}
