//! A tiny API of your own on pollserve: in-memory notes with GET/POST/PUT/DELETE in the app's
//! state, typed path parameters and JSON bodies checked against rules declared on the types
//! (422 naming the fields), writes in a scope with two middlewares of their own, a handler that
//! runs blocking work off the loop, one that panics, and its own `/openapi.json` and `/docs`.
//!
//! ```sh
//! cargo run --release --example custom_api -- --addr 127.0.0.1:8080
//! curl -i -X POST localhost:8080/notes -H 'Content-Type: application/json' \
//!      -H 'X-Api-Key: secret' -d '{"title": "buy milk"}'
//! curl -i localhost:8080/notes/1
//! ```

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use pollserve::app::extract::{Json, Path};
use pollserve::app::openapi::{Info, Operation, op};
use pollserve::app::{App, Context, Exchange, HeaderValue, HttpError, Middleware, Reply, Request, Response};
use pollserve::config::Config;
use pollserve::http::status::StatusCode;
use pollserve::server::Server;

/// The key writes must present in `X-Api-Key`.
pub const API_KEY: &str = "secret";

/// Writes allowed per second before 429.
pub const WRITES_PER_SECOND: u32 = 50;

/// A note.
#[derive(Debug, Clone, Serialize, JsonSchema)]
struct Note {
    id: u64,
    title: String,
    done: bool,
}

/// A note as a client writes it.
#[derive(Debug, Deserialize, JsonSchema)]
struct NoteInput {
    #[schemars(length(min = 1, max = 100))]
    title: String,
    #[serde(default)]
    done: bool,
}

/// The `{id}` of a note's path.
#[derive(Debug, Deserialize, JsonSchema)]
struct NoteId {
    id: u64,
}

/// The app's state: every note, behind one lock (held for a map operation, never across I/O).
#[derive(Default)]
struct Notes(Mutex<NoteMap>);

#[derive(Default)]
struct NoteMap {
    next_id: u64,
    by_id: BTreeMap<u64, Note>,
}

impl Notes {
    fn lock(&self) -> std::sync::MutexGuard<'_, NoteMap> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn missing(id: u64) -> HttpError {
    HttpError::not_found(format!("no note {id}"))
}

fn list(_: &Request<'_>, context: &mut Context<'_, Notes>) -> Response {
    let notes = context.state().lock();
    let all: Vec<&Note> = notes.by_id.values().collect();
    Response::json(StatusCode::OK, &all)
}

fn create(
    _: &Request<'_>,
    context: &mut Context<'_, Notes>,
    Json(input): Json<NoteInput>,
) -> Result<Response, HttpError> {
    let mut notes = context.state().lock();
    if notes.by_id.values().any(|n| n.title == input.title) {
        return Err(HttpError::new(StatusCode::CONFLICT, "a note with this title exists"));
    }
    notes.next_id += 1;
    let note = Note { id: notes.next_id, title: input.title, done: input.done };
    notes.by_id.insert(note.id, note.clone());
    Ok(Response::created(&format!("/notes/{}", note.id), &note))
}

fn show(
    _: &Request<'_>,
    context: &mut Context<'_, Notes>,
    Path(NoteId { id }): Path<NoteId>,
) -> Result<Response, HttpError> {
    let notes = context.state().lock();
    let note = notes.by_id.get(&id).ok_or_else(|| missing(id))?;
    Ok(Response::json(StatusCode::OK, note))
}

fn update(
    _: &Request<'_>,
    context: &mut Context<'_, Notes>,
    (Path(NoteId { id }), Json(input)): (Path<NoteId>, Json<NoteInput>),
) -> Result<Response, HttpError> {
    let mut notes = context.state().lock();
    let note = notes.by_id.get_mut(&id).ok_or_else(|| missing(id))?;
    note.title = input.title;
    note.done = input.done;
    Ok(Response::json(StatusCode::OK, note))
}

fn remove(
    _: &Request<'_>,
    context: &mut Context<'_, Notes>,
    Path(NoteId { id }): Path<NoteId>,
) -> Result<Response, HttpError> {
    context.state().lock().by_id.remove(&id).ok_or_else(|| missing(id))?;
    Ok(Response::no_content())
}

/// How long `/slow` sleeps.
#[derive(Debug, Deserialize, JsonSchema)]
struct Nap {
    #[schemars(range(max = 10_000))]
    ms: u64,
}

/// Sleeps `ms` milliseconds on the app's blocking pool (a stand-in for a slow call) and then
/// answers; the event loop keeps serving meanwhile. Past 5 s the answer is 504.
fn slow(
    _: &Request<'_>,
    context: &mut Context<'_, Notes>,
    Path(Nap { ms }): Path<Nap>,
) -> Result<Reply, HttpError> {
    context.run_blocking(Duration::from_secs(5), move || {
        std::thread::sleep(Duration::from_millis(ms));
        Ok(Response::json(StatusCode::OK, &serde_json::json!({ "slept_ms": ms })))
    })
}

/// Needs `X-Api-Key` on the routes of its scope: missing → 401, wrong → 403.
struct ApiKey;

impl Middleware for ApiKey {
    fn before(&self, request: &Request<'_>, _: &mut Exchange) -> Option<Response> {
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

    fn describe(&self, operation: &mut Operation) {
        operation.parameter("X-Api-Key", "header", true, serde_json::json!({ "type": "string" }));
        operation.errors(&[401, 403]);
    }
}

/// At most [`WRITES_PER_SECOND`] requests per second across its scope: 429 with `Retry-After`.
struct WriteRateLimit {
    window: Mutex<(Instant, u32)>,
}

impl Middleware for WriteRateLimit {
    fn before(&self, _: &Request<'_>, _: &mut Exchange) -> Option<Response> {
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

/// The notes API: reading is open, writing needs the key (a scope with its middleware), and
/// the API describes itself at `/openapi.json` and `/docs`.
pub fn app() -> App {
    let writes = WriteRateLimit { window: Mutex::new((Instant::now(), 0)) };
    App::new()
        .with_state(Notes::default())
        .get("/notes", op(list).summary("Every note").responds::<Vec<Note>>(200, "the notes"))
        .get("/notes/{id}", op(show).summary("One note").responds::<Note>(200, "the note").errors(&[404]))
        .scope("", |signed| {
            signed
                .with(ApiKey)
                .with(writes)
                .post(
                    "/notes",
                    op(create).summary("Add a note").responds::<Note>(201, "the note").errors(&[409, 429]),
                )
                .put(
                    "/notes/{id}",
                    op(update).summary("Change a note").responds::<Note>(200, "the note").errors(&[404, 429]),
                )
                .delete(
                    "/notes/{id}",
                    op(remove).summary("Delete a note").responds_empty(204, "deleted").errors(&[404, 429]),
                )
        })
        .get("/slow/{ms}", op(slow).summary("Answer after a nap, off the loop").errors(&[503, 504]))
        .get("/panic", |_: &Request<'_>, _: &mut Context<'_, Notes>| -> Reply {
            panic!("this handler always panics")
        })
        .with(pollserve::app::middleware::RequestId::new())
        .docs("/docs", "/openapi.json")
        .openapi("/openapi.json", Info::new("notes", "1.0"))
        .erase()
}

/// `--addr HOST:PORT` (default 127.0.0.1:8080), or a usage line and exit code 2.
fn addr_flag() -> std::net::SocketAddr {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = match args.as_slice() {
        [] => Some("127.0.0.1:8080"),
        [flag, addr] if flag == "--addr" => Some(addr.as_str()),
        _ => None,
    };
    match addr.and_then(|addr| addr.parse().ok()) {
        Some(addr) => addr,
        None => {
            eprintln!("usage: custom_api [--addr HOST:PORT]");
            std::process::exit(2);
        }
    }
}

#[allow(dead_code)] // tests include this file for `app()` and do not call main
fn main() {
    let config = Config::new(addr_flag(), 1);
    let result =
        Server::run(config, app(), |addr, _shutdown| println!("notes API on http://{addr} (docs: /docs/)"));
    if let Err(e) = result {
        eprintln!("custom_api: {e}");
        std::process::exit(1);
    }
}
