//! Logging: pollserve's records go through the standard `log` facade (so an application's own
//! lines and pollserve's reach the same logger), levels follow `RUST_LOG`, and the binary says
//! what it runs with at start-up and what the shutdown drained.

mod support;

use std::sync::{Arc, Mutex};

use pollserve::app::{Context, HttpError, Request};
use pollserve::site::{self, AppOptions};
use support::{InProcess, TestServer};

#[test]
fn start_up_summary_and_shutdown_line_at_info() {
    let mut server = TestServer::start_with_env_capturing_stderr(
        &[("RUST_LOG", "info")],
        &["--threads", "2", "--cors-origin", "https://app.example", "--max-connections", "500"],
    );
    let summary = server.stderr_line();
    for part in
        [" INFO  pollserve", "with 2 threads", "database: SQLite in memory", "limits: 500 connections"]
    {
        assert!(summary.contains(part), "{part:?} in {summary}");
    }
    assert!(summary.contains("CORS origins: https://app.example"), "{summary}");
    assert!(summary.contains(&format!("serving {} with", server.addr)), "the bound address: {summary}");
    let time = summary.split(' ').next().unwrap();
    assert!(humantime::parse_rfc3339(time).is_ok(), "an RFC 3339 time first: {summary}");
    // One connection open (and known to the server: it answered on it) when the drain begins.
    let mut open = server.connect();
    assert_eq!(open.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    server.signal("TERM");
    let stopped = server.stderr_line();
    assert!(stopped.contains("stopped: 1 connection open at shutdown, drained in "), "{stopped}");
    assert_eq!(server.wait(), Some(0));
}

#[test]
fn rust_log_sets_the_level() {
    // At `error`, the start-up summary (info) is not printed; a 5xx (error) is.
    let mut server = TestServer::start_with_env_capturing_stderr(&[("RUST_LOG", "error")], &[]);
    let response = server.connect().request(b"GET /status/500 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(response.status, 500);
    let line = server.stderr_line();
    assert!(line.contains(" ERROR pollserve::app: 500 Internal Server Error (request "), "{line}");
}

/// Every record a logger of the application's own received.
#[derive(Default)]
struct Captured(Mutex<Vec<String>>);

impl log::Log for Captured {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push(format!("{} {}: {}", record.level(), record.target(), record.args()));
    }

    fn flush(&self) {}
}

#[test]
fn an_applications_logger_gets_pollserves_records_and_its_own() {
    let captured: &'static Captured = Box::leak(Box::default());
    log::set_logger(captured).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let app = site::builtin(&AppOptions::default()).get("/fail", |_: &Request<'_>, _: &mut Context<'_>| {
        log::info!(target: "my_app", "about to fail");
        Err::<pollserve::app::Response, _>(
            HttpError::internal("it failed").with_cause("a cause only the log sees"),
        )
    });
    let server = InProcess::start(app);
    assert_eq!(server.connect().request(b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n").status, 500);
    let records = Arc::new(captured.0.lock().unwrap().clone());
    assert!(records.iter().any(|r| r == "INFO my_app: about to fail"), "{records:?}");
    assert!(
        records
            .iter()
            .any(|r| r.starts_with("ERROR pollserve::app: 500") && r.ends_with("a cause only the log sees")),
        "{records:?}"
    );
}
