//! `GET /metrics` scraped over TCP from a real server, its text read by the Prometheus client
//! library's own parser (Python's `prometheus_client`).

mod support;

use std::collections::HashMap;
use std::io::Write as _;
use std::net::TcpStream;
use std::process::{Command, Stdio};

use support::{TestServer, missing};

const GET_METRICS: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

/// One sample: metric name, labels, value.
type Sample = (String, HashMap<String, String>, f64);

/// A Python that has `prometheus_client`: `POLLSERVE_PYTHON`, Debian's (the package
/// `python3-prometheus-client`), or the first on `PATH`.
fn python() -> String {
    let candidates =
        std::env::var("POLLSERVE_PYTHON").into_iter().chain(["/usr/bin/python3".into(), "python3".into()]);
    for python in candidates {
        let works =
            Command::new(&python).args(["-c", "import prometheus_client"]).stderr(Stdio::null()).status();
        if works.is_ok_and(|status| status.success()) {
            return python;
        }
    }
    missing(
        "prometheus_client",
        "apt-get install python3-prometheus-client; or pip install prometheus_client)",
        "POLLSERVE_REQUIRE_PROMETHEUS",
    )
}

/// Every sample of `text`, as the Prometheus client library parses it (it raises on text
/// that does not follow the format).
fn parse(text: &str) -> Vec<Sample> {
    const SCRIPT: &str = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        families = text_string_to_metric_families(sys.stdin.read())\n\
        print(json.dumps([[s.name, s.labels, s.value] for f in families for s in f.samples]))\n";
    let mut child = Command::new(python())
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the parser refused the text:\n{}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .map_or(0.0, |(_, _, value)| *value)
}

fn scrape(server: &TestServer) -> Vec<Sample> {
    let response = server.connect().request(GET_METRICS);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    parse(&response.text())
}

#[test]
fn metrics_count_requests_by_route_and_class_and_parse_as_prometheus_text() {
    let server = TestServer::start(&["--threads", "2"]);
    let before = scrape(&server);
    let mut client = server.connect();
    for _ in 0..3 {
        assert_eq!(client.request(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    }
    assert_eq!(client.request(b"GET /hello/ana HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    assert_eq!(client.request(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
    assert_eq!(client.request(b"GET /status/503 HTTP/1.1\r\nHost: x\r\n\r\n").status, 503);
    // A malformed request is refused before routing, and counted as such.
    let mut raw = TcpStream::connect(server.addr).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    std::io::Read::read_to_end(&mut raw, &mut reply).unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 400"));

    let after = scrape(&server);
    let grew =
        |name: &str, labels: &[(&str, &str)]| value(&after, name, labels) - value(&before, name, labels);
    let requests = "pollserve_requests_total";
    assert_eq!(grew(requests, &[("route", "/plaintext"), ("class", "2xx")]), 3.0);
    assert_eq!(
        grew(requests, &[("route", "/hello/{name}"), ("class", "2xx")]),
        1.0,
        "the pattern, not the path"
    );
    assert_eq!(grew(requests, &[("route", "(unmatched)"), ("class", "4xx")]), 1.0);
    assert_eq!(grew(requests, &[("route", "/status/{code}"), ("class", "5xx")]), 1.0);
    assert_eq!(grew(requests, &[("route", "(rejected)"), ("class", "4xx")]), 1.0);
    // The first scrape itself is a request too: 8 since then, plus the 2xx of that scrape.
    let count = "pollserve_request_duration_seconds_count";
    assert_eq!(grew(count, &[]), 8.0);
    let infinite = value(&after, "pollserve_request_duration_seconds_bucket", &[("le", "+Inf")]);
    assert_eq!(infinite, value(&after, count, &[]), "+Inf holds every request");
    // Open now: the scraping connection (the others may not be closed yet).
    assert!(value(&after, "pollserve_open_connections", &[]) >= 1.0);
    for family in [
        "pollserve_connections_refused_total",
        "pollserve_log_lines_dropped_total",
        "pollserve_db_queue_depth",
    ] {
        assert!(after.iter().any(|(name, _, _)| name == family), "{family} is reported");
    }
    assert!(after.iter().any(|(n, l, _)| n == "pollserve_db_errors_total" && l["kind"] == "busy"));
}

#[test]
fn refused_connections_and_timeouts_are_counted() {
    let server = TestServer::start(&["--threads", "1", "--max-connections", "2", "--header-timeout", "1"]);
    let mut scraper = server.connect();
    // A second connection sends half a head and waits out the header timeout (one second).
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    // The third is over the limit: answered 503 and closed.
    let mut over = TcpStream::connect(server.addr).unwrap();
    let mut reply = Vec::new();
    std::io::Read::read_to_end(&mut over, &mut reply).unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 503"), "{}", String::from_utf8_lossy(&reply));
    let mut timed_out = Vec::new();
    std::io::Read::read_to_end(&mut slow, &mut timed_out).unwrap();
    assert!(timed_out.starts_with(b"HTTP/1.1 408"));

    let response = scraper.request(GET_METRICS);
    let samples = parse(&response.text());
    assert_eq!(value(&samples, "pollserve_connections_refused_total", &[]), 1.0);
    assert_eq!(value(&samples, "pollserve_request_timeouts_total", &[("kind", "header")]), 1.0);
    assert_eq!(value(&samples, "pollserve_request_timeouts_total", &[("kind", "body")]), 0.0);
}
