//! PostgreSQL's failure cases, against a real server: a refused login, a server that is down at
//! start, restarted under load, or stalled. Each test that stops or pauses the server has a
//! cluster of its own (see `support/postgres.rs`).

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::api::{request, user};
use support::postgres::{Cluster, PASSWORD, USER};
use support::{Client, TestServer};

/// Runs the server expecting it to refuse to start; returns its exit code and standard error.
fn refused_start(db: &str) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pollserve"))
        .args(["--addr", "127.0.0.1:0", "--db", db])
        .stdout(Stdio::null())
        .output()
        .expect("run pollserve");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_wrong_password_or_an_unknown_database_fails_the_start_with_one_line() {
    let cluster = Cluster::shared();
    let (code, stderr) =
        refused_start(&format!("postgres://{USER}:wrong@127.0.0.1:{}/postgres", cluster.port));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("password authentication failed"), "{stderr}");
    assert!(!stderr.contains("wrong"), "the password is not shown: {stderr}");
    let (code, stderr) = refused_start(&cluster.url("no_such_database"));
    assert_eq!((code, stderr.lines().count()), (1, 1), "{stderr}");
    assert!(stderr.contains("\"no_such_database\" does not exist"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

/// Polls `path` until it answers `status` (bounded).
fn wait_for(client: &mut Client, path: &str, status: u16) {
    let started = Instant::now();
    loop {
        let response = client.request(&request("GET", path, None, None));
        if response.status == status {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{path} never answered {status}");
        std::thread::sleep(Duration::from_millis(50)); // polling a real condition, bounded
    }
}

#[test]
fn a_database_down_at_start_answers_503_until_it_comes_up() {
    let cluster = Cluster::start();
    cluster.stop_server();
    let mut server = TestServer::start_capturing_stderr(&["--db", &cluster.url("postgres")]);
    let line = server.stderr_line();
    assert!(line.contains("retrying in the background") && line.contains("503"), "{line}");
    let mut c = server.connect();
    let response = c.request(&request("GET", "/api/items/1", None, None));
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(response.header("Retry-After"), Some("1"));
    assert_eq!(c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200, "the rest of the server serves");
    assert_eq!(c.request(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status, 200, "alive");
    assert_eq!(c.request(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").status, 503, "not ready");
    cluster.start_server();
    wait_for(&mut c, "/readyz", 200);
    wait_for(&mut c, "/api/items", 200);
    let token = user(&mut c, "patient");
    let created =
        c.request(&request("POST", "/api/items", Some(&token), Some(&json!({ "title": "made it" }))));
    assert_eq!(created.status, 201);
}

#[test]
fn a_restart_under_load_answers_503_never_hangs_and_loses_no_acknowledged_write() {
    let cluster = Cluster::start();
    let server = TestServer::start(&["--db", &cluster.url("postgres"), "--threads", "2"]);
    let token = user(&mut server.connect(), "steady");
    let stop = Arc::new(AtomicBool::new(false));
    let addr = server.addr;
    let clients: Vec<_> = (0..8)
        .map(|n| {
            let (stop, token) = (Arc::clone(&stop), token.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let (mut written, mut statuses) = (Vec::new(), Vec::new());
                let mut stopped_at = None;
                for i in 0.. {
                    // Once told to stop, a client carries on until it is served again: each
                    // worker reconnects on its own backoff (up to 2 s), so one worker serving
                    // again says nothing of the others. The assertions below say if it never is.
                    if stop.load(Ordering::Relaxed) {
                        let since = *stopped_at.get_or_insert_with(Instant::now);
                        if ends_served(&statuses) || since.elapsed() > SERVED_AGAIN_WITHIN {
                            break;
                        }
                    }
                    let title = format!("c{n}-{i}");
                    // Every request is answered (the client's read times out after 10 s).
                    let response = c.request(&request(
                        "POST",
                        "/api/items",
                        Some(&token),
                        Some(&json!({ "title": title })),
                    ));
                    statuses.push(response.status);
                    if response.status == 201 {
                        let item: Value = serde_json::from_slice(&response.body).unwrap();
                        written.push((item["id"].as_i64().unwrap(), title));
                    }
                    statuses.push(c.request(&request("GET", "/api/items?limit=1", None, None)).status);
                }
                (written, statuses)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500)); // let load build up (the load is the point)
    cluster.stop_server();
    std::thread::sleep(Duration::from_millis(300));
    cluster.start_server();
    let mut c = server.connect();
    wait_for(&mut c, "/api/items", 200);
    std::thread::sleep(Duration::from_millis(500)); // load after the restart, re-prepared statements
    stop.store(true, Ordering::Relaxed);
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let statuses: Vec<u16> = results.iter().flat_map(|(_, s)| s.iter().copied()).collect();
    assert!(statuses.iter().all(|s| [200, 201, 503].contains(s)), "only successes and 503s");
    assert!(statuses.contains(&503), "the restart was noticed");
    for (_, s) in &results {
        assert!(ends_served(s), "each client ends served again: {s:?}");
    }
    for (id, title) in results.iter().flat_map(|(w, _)| w) {
        let response = c.request(&request("GET", &format!("/api/items/{id}"), None, None));
        let item: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!((response.status, item["title"].as_str()), (200, Some(title.as_str())), "item {id}");
    }
}

/// How long after the restart test's stop signal a client may take to be served again: well
/// past the longest reconnection backoff (2 s).
const SERVED_AGAIN_WITHIN: Duration = Duration::from_secs(10);

/// Whether a client's last two requests (a POST and a GET) were served.
fn ends_served(statuses: &[u16]) -> bool {
    statuses.len() >= 2 && statuses.iter().rev().take(2).all(|s| *s == 200 || *s == 201)
}

/// Sends SIGSTOP or SIGCONT to every backend of the cluster: one `kill` for them all, right
/// after listing them, so the list is as fresh as it can be when the signals go out.
fn signal_backends(cluster: &Cluster, signal: &str) {
    let pids: Vec<String> = cluster.backend_pids().iter().map(u32::to_string).collect();
    if !pids.is_empty() {
        let _ = Command::new("kill").arg(format!("-{signal}")).args(&pids).status();
    }
}

#[test]
fn a_stalled_database_times_queries_out_and_a_full_queue_answers_503_at_once() {
    let cluster = Cluster::start();
    let db = cluster.url("postgres");
    let args = ["--db", db.as_str(), "--threads", "1", "--db-connections", "1", "--db-timeout", "2"];
    let server = TestServer::start(&args);
    let mut c = server.connect();
    wait_for(&mut c, "/api/items/1", 404);
    signal_backends(&cluster, "STOP");
    // 1,400 requests at once: a batch goes out to the stalled connection and 1,024 wait in the
    // queue, until the timeout; the rest are refused at once.
    let mut clients: Vec<Client> = (0..1400).map(|_| server.connect()).collect();
    for client in &mut clients {
        client.send(&request("GET", "/api/items/1", None, None));
    }
    let mut answers = std::collections::HashMap::new();
    for client in &mut clients {
        let response = client.read_response();
        assert_eq!(response.status, 503, "{}", response.text());
        assert_eq!(response.header("Retry-After"), Some("1"));
        let kind = if response.text().contains("busy") { "queue full" } else { "timed out" };
        *answers.entry(kind).or_insert(0) += 1;
    }
    // The stalled connection took one batch (up to 256: those read before it went out).
    let (full, late) =
        (answers.get("queue full").copied().unwrap_or(0), answers.get("timed out").copied().unwrap_or(0));
    assert!((120..=376).contains(&full) && late >= 1024, "{answers:?}");
    signal_backends(&cluster, "CONT");
    wait_for(&mut c, "/api/items/1", 404);
}
