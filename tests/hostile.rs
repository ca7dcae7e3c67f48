//! Hostile clients: malformed, malicious and slow. Each case sends raw bytes, checks the exact
//! status, that the connection is closed when framing can no longer be trusted, and that a
//! normal client is served right after.

mod support;

use support::{Client, TestServer};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Sends `raw`, expects `status` then (for `closes`) end-of-stream; then serves a normal client.
fn check(raw: &[u8], status: u16, closes: bool) {
    let server = TestServer::start(&["--threads", "1"]);
    let mut client = server.connect();
    client.send(raw);
    let response = client.read_response();
    assert_eq!(response.status, status, "for {:?}: {}", String::from_utf8_lossy(raw), response.text());
    if status >= 400 {
        assert!(response.header("X-Request-Id").is_some(), "no request id on {status}");
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert!(response.text().starts_with(&format!(r#"{{"error":{{"status":{status},"#)));
    }
    if closes {
        assert_eq!(response.header("Connection"), Some("close"));
        assert!(client.is_closed_by_server(), "connection left open after {status}");
    }
    let mut normal = server.connect();
    assert_eq!(normal.request(GET).status, 200, "a normal client is still served");
}

macro_rules! hostile {
    ($($name:ident: $raw:expr => $status:expr, $closes:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check($raw, $status, $closes);
            }
        )*
    };
}

const CLOSES: bool = true;

hostile! {
    // Host (RFC 9112 §3.2): exactly one, and a valid one.
    missing_host_in_http11: b"GET / HTTP/1.1\r\n\r\n" => 400, CLOSES;
    duplicated_host: b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" => 400, CLOSES;
    host_with_space: b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n" => 400, CLOSES;
    host_with_userinfo: b"GET / HTTP/1.1\r\nHost: user@evil\r\n\r\n" => 400, CLOSES;
    host_with_bad_port: b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n" => 400, CLOSES;
    // Header syntax.
    whitespace_before_colon: b"GET / HTTP/1.1\r\nHost : x\r\n\r\n" => 400, CLOSES;
    obs_fold_continuation: b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n" => 400, CLOSES;
    whitespace_led_line_after_request_line: b"GET / HTTP/1.1\r\n Host: x\r\n\r\n" => 400, CLOSES;
    cr_inside_value: b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n" => 400, CLOSES;
    nul_inside_value: b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n" => 400, CLOSES;
    lf_inside_value: b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\nb\r\n\r\n" => 400, CLOSES;
    bad_byte_in_header_name: b"GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n" => 400, CLOSES;
    header_line_without_colon: b"GET / HTTP/1.1\r\nHost: x\r\nJust text\r\n\r\n" => 400, CLOSES;
    // Content-Length = 1*DIGIT, one value.
    content_length_with_plus: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello" => 400, CLOSES;
    content_length_negative: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n" => 400, CLOSES;
    content_length_hex: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello" => 400, CLOSES;
    content_length_two_numbers: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 5\r\n\r\nhello" => 400, CLOSES;
    content_length_empty: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n" => 400, CLOSES;
    content_length_list: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!" => 400, CLOSES;
    content_lengths_differ: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!" => 400, CLOSES;
    content_length_overflows: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n" => 400, CLOSES;
    // Transfer-Encoding (RFC 9112 §6.1, §6.3): the request-smuggling cases.
    transfer_encoding_with_content_length:
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" => 400, CLOSES;
    chunked_not_last: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n" => 400, CLOSES;
    chunked_twice: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" => 400, CLOSES;
    unknown_transfer_coding: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" => 501, CLOSES;
    transfer_encoding_on_http10: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" => 400, CLOSES;
    // Chunked bodies.
    chunk_size_not_hex: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" => 400, CLOSES;
    chunk_size_overflows:
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n" => 400, CLOSES;
    chunk_size_line_empty: b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n" => 400, CLOSES;
    chunk_extension_with_bare_lf:
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n" => 400, CLOSES;
    chunk_data_longer_than_size:
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n" => 400, CLOSES;
    chunked_body_over_the_limit:
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n" => 413, CLOSES;
    // Versions.
    http2_version: b"GET / HTTP/2.0\r\nHost: x\r\n\r\n" => 505, CLOSES;
    http2_preface: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" => 505, CLOSES;
    junk_version: b"GET / HTTP/x.y\r\nHost: x\r\n\r\n" => 400, CLOSES;
    lowercase_version: b"GET / http/1.1\r\nHost: x\r\n\r\n" => 400, CLOSES;
    missing_version: b"GET /\r\nHost: x\r\n\r\n" => 400, CLOSES;
    // Methods and expectations.
    unknown_method: b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n" => 501, false;
    unknown_method_on_known_path: b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n" => 405, false;
    unsupported_expectation: b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx" => 417, CLOSES;
    // Limits.
    body_over_the_limit_is_refused_before_reading:
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n" => 413, CLOSES;
    // Whatever arrives: no panic, a 400.
    tls_client_hello: b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x00\x01\x02\x03\x04\x05\x06\x07\r\n\r\n" => 400, CLOSES;
    random_binary: b"\x8f\x02\xff\xfe\x00\x13\x99\x7f\x80\r\n\r\n" => 400, CLOSES;
    nul_bytes: b"\0\0\0\0\0\0\0\0\r\n\r\n" => 400, CLOSES;
    non_utf8_target: b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n" => 400, CLOSES;
    unknown_scheme_in_absolute_form: b"GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n" => 400, CLOSES;
    relative_target: b"GET index.html HTTP/1.1\r\nHost: x\r\n\r\n" => 400, CLOSES;
}

#[test]
fn request_line_over_the_limit_gets_414() {
    let raw = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    check(raw.as_bytes(), 414, CLOSES);
}

#[test]
fn header_block_over_the_limit_gets_431() {
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(17 * 1024));
    check(raw.as_bytes(), 431, CLOSES);
}

#[test]
fn header_block_over_a_configured_limit_gets_431() {
    let server = TestServer::start(&["--max-header-bytes", "1024"]);
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(1100));
    let mut client = server.connect();
    assert_eq!(client.request(raw.as_bytes()).status, 431);
    assert_eq!(server.connect().request(GET).status, 200);
}

#[test]
fn too_many_header_fields_gets_431() {
    let fields: String = (0..70).map(|i| format!("X-{i}: v\r\n")).collect();
    check(format!("GET / HTTP/1.1\r\nHost: x\r\n{fields}\r\n").as_bytes(), 431, CLOSES);
}

#[test]
fn body_over_a_configured_limit_gets_413_without_100_continue() {
    let server = TestServer::start(&["--max-body", "10"]);
    let mut client = server.connect();
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
    let response = client.read_response();
    assert_eq!(response.status, 413, "no 100 Continue first");
    assert!(client.is_closed_by_server());
}

#[test]
fn smuggled_request_after_conflicting_framing_is_never_processed() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    // A front proxy using Content-Length would see one request; one using chunked would see two.
    client.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n\
          0\r\n\r\nGET /json HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(client.read_response().status, 400);
    assert!(client.is_closed_by_server(), "the smuggled GET /json got no answer");
}

#[test]
fn chunked_trailers_are_discarded_and_the_connection_stays_usable() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    client.send(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n");
    assert_eq!(client.read_response().status, 404);
    assert_eq!(client.request(GET).status, 200);
}

#[test]
fn connection_close_means_nothing_after_is_processed() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    client
        .send(b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = client.read_response();
    assert_eq!((response.status, response.header("Connection")), (200, Some("close")));
    assert!(client.is_closed_by_server());
}

#[test]
fn incomplete_head_times_out_with_408() {
    let server = TestServer::start(&["--header-timeout", "1"]);
    let mut client = server.connect();
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n");
    let response = client.read_response();
    assert_eq!((response.status, response.header("Connection")), (408, Some("close")));
    assert!(client.is_closed_by_server());
}

#[test]
fn stalled_body_times_out_with_408() {
    let server = TestServer::start(&["--body-timeout", "1"]);
    let mut client = server.connect();
    client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(client.read_response().status, 408);
    assert!(client.is_closed_by_server());
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start(&["--idle-timeout", "1"]);
    let mut client = server.connect();
    assert_eq!(client.request(GET).status, 200);
    assert!(client.is_closed_by_server(), "closed without another response");
}

#[test]
fn connections_over_the_limit_get_503() {
    let server = TestServer::start(&["--max-connections", "2", "--threads", "1"]);
    let mut first = server.connect();
    let mut second = server.connect();
    assert_eq!(first.request(GET).status, 200);
    assert_eq!(second.request(GET).status, 200);
    let mut third = server.connect();
    let response = third.read_response();
    assert_eq!((response.status, response.header("Retry-After")), (503, Some("1")));
    assert!(response.header("X-Request-Id").is_some());
    drop(first);
    // The slot frees once the server sees the close; a later client gets in.
    let deadline = std::time::Instant::now() + support::IO_TIMEOUT;
    loop {
        let mut client = Client::connect(server.addr);
        client.send(GET);
        if client.read_response().status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
    }
}

#[test]
fn refused_requests_are_in_the_access_log_with_their_request_id() {
    let mut server = TestServer::start(&["--access-log", "--threads", "1"]);
    let mut client = server.connect();
    client.send(b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n");
    let response = client.read_response();
    assert_eq!(response.status, 400);
    let id = response.header("X-Request-Id").expect("a request id").to_owned();
    let line = server.stdout_line();
    assert!(line.contains(" 400 ") && line.contains(&format!("id={id}")), "access log: {line}");
}

#[test]
fn access_log_lines_dropped_under_back_pressure_are_reported() {
    use std::io::BufRead;
    // Standard output is a pipe this test never reads past the start-up line: it fills, the
    // logger falls behind, and lines are dropped. Standard error must say so.
    let mut server = TestServer::start_capturing_stderr(&["--access-log", "--threads", "1"]);
    let (sender, warnings) = std::sync::mpsc::channel();
    let mut stderr = server.take_stderr();
    std::thread::spawn(move || {
        let mut line = String::new();
        while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
            let _ = sender.send(std::mem::take(&mut line));
        }
    });
    let batch: Vec<u8> = GET.repeat(64);
    let mut client = server.connect();
    for round in 0.. {
        assert!(round < 10_000, "no warning after {round} batches of 64 requests");
        client.send(&batch);
        for _ in 0..64 {
            assert_eq!(client.read_response().status, 200);
        }
        if let Ok(line) = warnings.try_recv() {
            assert!(line.contains("log lines dropped"), "unexpected stderr line: {line}");
            break;
        }
    }
}
