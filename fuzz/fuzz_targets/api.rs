//! The `/api` resource (users, login, items) on an in-memory SQLite database, with the default
//! middleware, fed arbitrary requests: no panic, every deferred request answered, and no 500
//! (a handler, extractor or validation that fails on what a client sent is a bug; 503 is the
//! database refusing, and the database here does not refuse). `TOKEN` in an input stands for a
//! live bearer token, so the signed-in routes are reached too.
#![no_main]

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pollserve::app::App;
use pollserve::db::DbLocation;
use pollserve::server::conn::{ConnConfig, State};
use pollserve::server::memory::Driver;
use pollserve::site::api::{ApiOptions, Services};
use pollserve::site::{self, AppOptions};

/// Longer than any handler needs, even hashing a password under the sanitizer.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// The fixture's user, registered once and logged in with.
const CREDENTIALS: &str = r#"{"username":"fuzz","password":"fuzz-password"}"#;

struct Fixture {
    app: App,
    /// A live token (logged in again after an input logs it out).
    token: Mutex<String>,
    _services: Arc<Services>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    // No limit on failed logins: the fuzzer fails many, and the fixture must still log in.
    let options = ApiOptions { max_failed_logins: u32::MAX, ..ApiOptions::default() };
    let services = Services::open(&DbLocation::Memory, &options).expect("an in-memory database");
    let app = site::with_api(&AppOptions::default(), &services);
    exchange(&app, &post("/api/users", CREDENTIALS));
    let token = log_in(&app);
    Fixture { app, token: Mutex::new(token), _services: services }
});

fn post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: f\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn log_in(app: &App) -> String {
    let output = exchange(app, &post("/api/login", CREDENTIALS));
    let text = String::from_utf8_lossy(&output);
    let start = text.find(r#""token":""#).expect("a token from the login") + 9;
    let end = start + text[start..].find('"').expect("the token's end");
    text[start..end].to_owned()
}

/// Runs one connection over `input` until nothing is left waiting; what it wrote.
fn exchange(app: &App, input: &[u8]) -> Vec<u8> {
    let config = ConnConfig { max_body: 16 * 1024, ..ConnConfig::default() };
    let mut driver = Driver::new(app, config).deferring();
    let mut conn = driver.connect();
    driver.feed(&mut conn, input);
    while matches!(conn.state(), State::Awaiting(_)) {
        assert!(driver.await_completion(&mut conn, ANSWER_WITHIN), "a deferred request was never answered");
    }
    conn.stream_mut().take_written()
}

/// `input` with every `TOKEN` replaced by `token`.
fn with_token(input: &[u8], token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + 64);
    let mut rest = input;
    while let Some(at) = rest.windows(5).position(|w| w == b"TOKEN") {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(token.as_bytes());
        rest = &rest[at + 5..];
    }
    out.extend_from_slice(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let token = fixture.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let output = exchange(&fixture.app, &with_token(data, &token));
    let text = String::from_utf8_lossy(&output);
    if std::env::var_os("API_FUZZ_PRINT").is_some() {
        eprintln!("{text}");
    }
    assert!(!text.contains("HTTP/1.1 500 "), "a 500:\n{text}");
    if data.windows(7).any(|w| w == b"/logout") && text.contains("HTTP/1.1 204 ") {
        *fixture.token.lock().unwrap_or_else(|e| e.into_inner()) = log_in(&fixture.app);
    }
});
