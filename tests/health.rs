//! Health for load balancers: `/healthz`, `/readyz`, the shutdown grace period, and request ids
//! that carry the instance's name.

mod support;

use std::time::{Duration, Instant};

use support::TestServer;

const GET_READYZ: &[u8] = b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn healthz_and_readyz_answer_200_while_the_database_answers() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    let health = c.request(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((health.status, health.text()), (200, r#"{"status":"ok"}"#.to_owned()));
    let ready = c.request(GET_READYZ);
    assert_eq!((ready.status, ready.text()), (200, r#"{"status":"ready"}"#.to_owned()));
    let off = TestServer::start(&["--db", "off"]);
    assert_eq!(off.connect().request(GET_READYZ).status, 200, "no database to ask");
}

#[test]
fn request_ids_start_with_the_instance_name() {
    let server = TestServer::start(&["--instance", "east-1"]);
    let response = server.connect().request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let id = response.header("X-Request-Id").unwrap();
    assert!(id.starts_with("east-1-"), "{id}");
    let other = TestServer::start(&[]);
    let response = other.connect().request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let id = response.header("X-Request-Id").unwrap();
    assert_eq!(id.split('-').next().unwrap().len(), 8, "a random prefix: {id}");
}

#[test]
fn sigterm_makes_readyz_fail_at_once_serves_through_the_grace_period_then_exits_0() {
    let mut server = TestServer::start(&["--shutdown-grace", "2"]);
    let mut c = server.connect();
    assert_eq!(c.request(GET_READYZ).status, 200);
    let signalled = Instant::now();
    server.signal("TERM");
    // The flag is set by the loop that reads the signal: poll the real condition, bounded.
    let refused = loop {
        let response = c.request(GET_READYZ);
        if response.status != 200 || signalled.elapsed() > Duration::from_secs(5) {
            break response;
        }
    };
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("Retry-After"), Some("1"));
    assert!(refused.text().contains("shutting down"), "{}", refused.text());
    // Still serving, on the same connection and on new ones, during the grace period.
    assert_eq!(c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    assert_eq!(server.connect().request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    let status = server.child.wait().expect("wait for the server");
    assert!(status.success(), "{status:?}");
    assert!(signalled.elapsed() >= Duration::from_secs(2), "the drain waited for the grace period");
}

/// Polls `/readyz` on `c` until it answers 503 (the first signal was acted on), bounded.
fn wait_until_not_ready(c: &mut support::Client) {
    let since = Instant::now();
    while c.request(GET_READYZ).status == 200 {
        assert!(since.elapsed() < Duration::from_secs(5), "/readyz still answers 200");
    }
}

#[test]
fn a_second_signal_during_the_grace_period_exits_at_once_with_130() {
    for second in ["TERM", "INT"] {
        let mut server = TestServer::start(&["--db", "off", "--shutdown-grace", "60"]);
        let mut c = server.connect();
        server.signal("TERM");
        wait_until_not_ready(&mut c);
        server.signal(second);
        assert_eq!(server.wait(), Some(130), "after TERM then {second}");
    }
}

#[test]
fn sigint_drains_like_sigterm() {
    let mut server = TestServer::start(&["--db", "off", "--shutdown-grace", "0"]);
    assert_eq!(server.connect().request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    server.signal("INT");
    assert_eq!(server.wait(), Some(0));
}

/// The threads of process `pid` (Linux: `/proc/PID/task`).
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task").count()
}

#[test]
fn one_worker_without_a_database_runs_in_one_thread_and_still_answers_signals() {
    let mut server = TestServer::start(&["--db", "off", "--threads", "1", "--shutdown-grace", "0"]);
    let pid = server.child.id();
    assert_eq!(server.connect().request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    // The loop, signals and logging share the main thread: no thread waits for signals, and
    // a logger thread starts only when the loop has a line to write.
    assert_eq!(threads(pid), 1);
    server.signal("TERM");
    assert_eq!(server.wait(), Some(0));
    // Two workers: the first runs on the main thread, the second on its own.
    let server = TestServer::start(&["--db", "off", "--threads", "2"]);
    assert_eq!(server.connect().request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    assert_eq!(threads(server.child.id()), 2);
}
