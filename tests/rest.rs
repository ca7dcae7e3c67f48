//! Wire tests for the REST layer: routes, methods, path and query parameters, bodies, status
//! codes, middleware, deferred handlers. Built-in endpoints run in the real binary; custom apps
//! (the `custom_api` example, and small apps built here) run in-process on port 0.

mod support;

#[allow(dead_code)]
#[path = "../examples/custom_api.rs"]
mod custom_api;
#[path = "../examples/hello_library.rs"]
mod hello_library;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use pollserve::app::{App, Context, HttpError, Reply, Request, Response};
use pollserve::config::Config;
use pollserve::http::status::StatusCode;
use pollserve::server::{Server, ServerError};
use pollserve::testing::TestClient;
use support::{Client, InProcess, TestServer};

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

fn with_body(method: &str, path: &str, content_type: &str, body: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn json_of(response: &support::Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()))
}

// --- built-in learning endpoints -----------------------------------------------------------

#[test]
fn hello_takes_a_path_parameter_and_a_query_parameter() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    let hi = client.request(&get("/hello/Ann?greeting=Hi"));
    assert_eq!(hi.status, 200);
    assert_eq!(json_of(&hi), json!({ "message": "Hi, Ann" }));
    assert_eq!(json_of(&client.request(&get("/hello/Bob"))), json!({ "message": "Hello, Bob" }));
    let decoded = client.request(&get("/hello/J%C3%BCrgen?greeting=Gr%C3%BC%C3%9F+dich"));
    assert_eq!(json_of(&decoded), json!({ "message": "Grüß dich, Jürgen" }));
}

#[test]
fn invalid_percent_encodings_are_400() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    for path in ["/hello/a%zz", "/hello/%ff", "/hello/a?greeting=%", "/hello/a?greeting=%c3"] {
        let response = client.request(&get(path));
        assert_eq!(response.status, 400, "{path}: {}", response.text());
    }
}

#[test]
fn status_endpoint_answers_with_the_asked_status() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    for code in [200u16, 201, 202, 400, 401, 403, 404, 409, 418, 422, 429, 500, 503] {
        let response = client.request(&get(&format!("/status/{code}")));
        assert_eq!(response.status, code);
        assert_eq!(json_of(&response)["status"], json!(code));
    }
    let no_content = client.request(&get("/status/204"));
    assert_eq!((no_content.status, no_content.header("Content-Length")), (204, None));
    for bad in ["/status/99", "/status/600", "/status/abc", "/status/-1"] {
        assert_eq!(client.request(&get(bad)).status, 400, "{bad}");
    }
}

#[test]
fn echo_shows_the_request_as_received() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    let local = client.stream.local_addr().unwrap().to_string();
    let request = with_body(
        "POST",
        "/echo?a=1&b=two+words&a=2",
        "application/json",
        r#"{"k": "v"}"#,
        "X-Custom: yes\r\n",
    );
    let response = client.request(&request);
    assert_eq!(response.status, 200);
    let echo = json_of(&response);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["target"], "/echo?a=1&b=two+words&a=2");
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["query"], json!({ "a": ["1", "2"], "b": "two words" }));
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(
        echo["headers"],
        json!([
            ["Host", "x"],
            ["Content-Type", "application/json"],
            ["Content-Length", "10"],
            ["X-Custom", "yes"]
        ])
    );
    assert_eq!(echo["body"], json!({ "encoding": "utf-8", "text": r#"{"k": "v"}"# }));
    assert_eq!(echo["client"], local);
}

#[test]
fn echo_answers_every_method_and_shows_binary_bodies_as_base64() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        let response = client.request(format!("{method} /echo HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(json_of(&response)["method"], method);
    }
    let mut raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n".to_vec();
    raw.extend_from_slice(&[0xff, 0x00, 0xfe]);
    let response = client.request(&raw);
    assert_eq!(json_of(&response)["body"], json!({ "encoding": "base64", "base64": "/wD+" }));
    let chunked = client.request(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n",
    );
    assert_eq!(json_of(&chunked)["body"]["text"], "abcdefg");
}

#[test]
fn head_is_served_from_get_and_options_lists_methods() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    client.send(b"HEAD /hello/x HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = client.read_response_with(true);
    assert_eq!(head.status, 200);
    assert!(head.header("Content-Length").is_some() && head.body.is_empty());
    let options = client.request(b"OPTIONS /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (options.status, options.header("Allow")),
        (204, Some("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"))
    );
    let star = client.request(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(star.status, 204);
    let wrong = client.request(b"POST /hello/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((wrong.status, wrong.header("Allow")), (405, Some("GET, HEAD, OPTIONS")));
}

#[test]
fn body_over_the_limit_is_413() {
    let server = TestServer::start(&["--max-body", "16"]);
    let response =
        server.connect().request(&with_body("POST", "/echo", "application/json", &"x".repeat(17), ""));
    assert_eq!(response.status, 413);
}

// --- middleware ----------------------------------------------------------------------------

#[test]
fn every_response_carries_a_request_id_and_a_good_one_is_echoed() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    let mut seen = Vec::new();
    for path in ["/", "/json", "/missing", "/hello/%zz"] {
        let response = client.request(&get(path));
        seen.push(response.header("X-Request-Id").expect("X-Request-Id").to_owned());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "ids are unique");
    let echoed = client.request(b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-42.a\r\n\r\n");
    assert_eq!(echoed.header("X-Request-Id"), Some("trace-42.a"));
    let odd = client.request(b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: has spaces\r\n\r\n");
    assert_ne!(odd.header("X-Request-Id"), Some("has spaces"));
}

#[test]
fn cors_denies_by_default() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    let simple = client.request(b"GET /json HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\r\n");
    assert_eq!(simple.status, 200);
    assert_eq!(simple.header("Access-Control-Allow-Origin"), None);
    let preflight = client.request(
        b"OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n\r\n",
    );
    assert_eq!(preflight.status, 403);
}

#[test]
fn cors_allows_configured_origins_and_answers_their_preflight() {
    let server = TestServer::start(&["--cors-origin", "https://app.example"]);
    let mut client = server.connect();
    let simple = client.request(b"GET /json HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\r\n");
    assert_eq!(simple.header("Access-Control-Allow-Origin"), Some("https://app.example"));
    assert_eq!(simple.header("Vary"), Some("Origin"));
    let preflight = client.request(
        b"OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\
          Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type\r\n\r\n",
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("Access-Control-Allow-Origin"), Some("https://app.example"));
    assert_eq!(preflight.header("Access-Control-Allow-Headers"), Some("content-type"));
    assert!(preflight.header("Access-Control-Allow-Methods").unwrap().contains("PUT"));
    let other = client.request(b"GET /json HTTP/1.1\r\nHost: x\r\nOrigin: https://other.example\r\n\r\n");
    assert_eq!(other.header("Access-Control-Allow-Origin"), None);
}

#[test]
fn server_timing_reports_the_handler_duration_when_enabled() {
    let server = TestServer::start(&["--server-timing"]);
    let response = server.connect().request(&get("/json"));
    let timing = response.header("Server-Timing").expect("Server-Timing");
    let ms: f64 = timing.strip_prefix("app;dur=").expect("app;dur=").parse().expect("a number");
    assert!(ms >= 0.0);
    let plain = TestServer::start(&[]);
    assert_eq!(plain.connect().request(&get("/json")).header("Server-Timing"), None);
}

#[test]
fn access_log_writes_one_line_per_request() {
    let mut server = TestServer::start(&["--access-log"]);
    let mut client = server.connect();
    let response =
        client.request(b"GET /hello/log?greeting=Hey HTTP/1.1\r\nHost: x\r\nX-Request-Id: log-1\r\n\r\n");
    assert_eq!(response.status, 200);
    let missing = client.request(&get("/missing"));
    assert_eq!(missing.status, 404);
    // Time (RFC 3339), client, request line, status, body bytes, duration, request id, agent.
    let first = server.stdout_line();
    let fields: Vec<&str> = first.splitn(3, ' ').collect();
    assert!(humantime::parse_rfc3339(fields[0]).is_ok(), "{first}");
    assert!(fields[1].starts_with("127.0.0.1:"), "{first}");
    assert!(fields[2].starts_with(r#""GET /hello/log?greeting=Hey HTTP/1.1" 200 "#), "{first}");
    assert!(first.contains("ms id=log-1 \"-\""), "{first}");
    let second = server.stdout_line();
    assert!(second.contains(r#""GET /missing HTTP/1.1" 404 46 "#), "{second}");
}

#[test]
fn access_log_formats_combined_and_json() {
    let head = b"HEAD /json HTTP/1.1\r\nHost: x\r\nUser-Agent: probe/1.0\r\nX-Request-Id: fmt-1\r\n\r\n";
    let head_request = |server: &TestServer| {
        let mut client = server.connect();
        client.send(head);
        client.read_response_with(true).status
    };
    let mut combined = TestServer::start(&["--access-log-format", "combined"]);
    assert_eq!(head_request(&combined), 200);
    let line = combined.stdout_line();
    // host ident user [time] "request" status bytes (- for none: HEAD sends no body) referer agent
    let (host, rest) = line.split_once(" - - [").unwrap();
    assert_eq!(host, "127.0.0.1", "{line}");
    assert!(rest.contains(r#" +0000] "HEAD /json HTTP/1.1" 200 - "-" "probe/1.0""#), "{line}");

    let mut json = TestServer::start(&["--access-log-format", "json"]);
    assert_eq!(head_request(&json), 200);
    let line: serde_json::Value = serde_json::from_str(&json.stdout_line()).unwrap();
    assert!(humantime::parse_rfc3339(line["time"].as_str().unwrap()).is_ok(), "{line}");
    assert!(line["client"].as_str().unwrap().starts_with("127.0.0.1:"), "{line}");
    assert_eq!((line["method"].as_str(), line["target"].as_str()), (Some("HEAD"), Some("/json")));
    assert_eq!((line["version"].as_str(), line["status"].as_u64()), (Some("HTTP/1.1"), Some(200)));
    assert_eq!(line["bytes"].as_u64(), Some(0), "HEAD sends no body");
    assert!(line["duration_ms"].as_f64().is_some(), "{line}");
    assert_eq!(
        (line["request_id"].as_str(), line["user_agent"].as_str()),
        (Some("fmt-1"), Some("probe/1.0"))
    );
}

#[test]
fn trace_prints_bytes_heads_and_transitions() {
    let mut server = TestServer::start_capturing_stderr(&["--trace", "--threads", "1"]);
    let mut client = server.connect();
    assert_eq!(client.request(&get("/json")).status, 200);
    let last = b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(client.request(last).status, 200);
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("closing -> lingering")) {
        lines.push(server.stderr_line());
    }
    let text = lines.concat();
    assert!(text.contains("open from"), "{text}");
    assert!(text.contains(r"read 31 bytes: GET /json HTTP/1.1\r\nHost: x\r\n\r\n"), "{text}");
    assert!(text.contains(r"response head: HTTP/1.1 200 OK\r\n"), "{text}");
    // Only real changes are traced: a kept-alive request leaves the state as it was.
    assert!(!text.contains("reading-head -> reading-head"), "{text}");
    assert!(text.contains("conn#0 reading-head -> closing"), "{text}");
}

// --- a custom API: the custom_api example ------------------------------------------------------

#[test]
fn notes_api_full_flow() {
    let server = InProcess::start(custom_api::app());
    let mut client = server.connect();
    let key = "X-Api-Key: secret\r\n";
    let created =
        client.request(&with_body("POST", "/notes", "application/json", r#"{"title": "buy milk"}"#, key));
    assert_eq!((created.status, created.header("Location")), (201, Some("/notes/1")));
    assert_eq!(json_of(&created), json!({ "id": 1, "title": "buy milk", "done": false }));
    let shown = client.request(&get("/notes/1"));
    assert_eq!(json_of(&shown)["title"], "buy milk");
    let updated = client.request(&with_body(
        "PUT",
        "/notes/1",
        "application/json",
        r#"{"title": "buy oat milk", "done": true}"#,
        key,
    ));
    assert_eq!((updated.status, json_of(&updated)["done"].clone()), (200, json!(true)));
    assert_eq!(json_of(&client.request(&get("/notes"))).as_array().unwrap().len(), 1);
    let deleted = client.request(format!("DELETE /notes/1 HTTP/1.1\r\nHost: x\r\n{key}\r\n").as_bytes());
    assert_eq!((deleted.status, deleted.body.len()), (204, 0));
    assert_eq!(client.request(&get("/notes/1")).status, 404);
}

#[test]
fn the_example_api_through_the_test_client() {
    // The library's test client: no socket, the real connection state machine underneath.
    let client = TestClient::new(custom_api::app());
    let created = client
        .request("POST", "/notes")
        .header("X-Api-Key", "secret")
        .json(&json!({ "title": "buy milk" }))
        .send();
    assert_eq!((created.status, created.header("Location")), (201, Some("/notes/1")));
    assert_eq!(created.json::<Value>().unwrap(), json!({ "id": 1, "title": "buy milk", "done": false }));
    assert_eq!(client.get("/notes/1").json::<Value>().unwrap()["title"], "buy milk");
    assert_eq!(client.request("POST", "/notes").json(&json!({ "title": "x" })).send().status, 401);
    // A deferred handler (run_blocking) is waited for.
    assert_eq!(client.get("/slow/5").json::<Value>().unwrap(), json!({ "slept_ms": 5 }));
    assert_eq!(client.get("/slow/10001").status, 422);
    // Its own document: the writes carry the key's header and its 401/403.
    let doc: Value = client.get("/openapi.json").json().unwrap();
    let create = &doc["paths"]["/notes"]["post"];
    assert_eq!(create["parameters"][0]["name"], "X-Api-Key");
    assert!(
        create["responses"]["401"].is_object() && doc["paths"]["/notes"]["get"]["responses"]["401"].is_null()
    );
    assert_eq!(doc["components"]["schemas"]["NoteInput"]["properties"]["title"]["maxLength"], 100);
    assert_eq!(client.get("/docs").status, 308);
    assert!(client.get("/docs/").text().contains("swagger-ui"));
}

#[test]
fn notes_api_error_codes() {
    let server = InProcess::start(custom_api::app());
    let mut client = server.connect();
    let key = "X-Api-Key: secret\r\n";
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        // Typed inputs (Path<NoteId>, Json<NoteInput>): a mismatch is 422 naming the fields.
        (get("/notes/abc"), 422, "validation failed"),
        (get("/notes/999"), 404, "no note 999"),
        (with_body("POST", "/notes", "text/plain", r#"{"title": "x"}"#, key), 415, "application/json"),
        (with_body("POST", "/notes", "application/json", r#"{"title": "x",}"#, key), 400, "line 1 column"),
        (with_body("POST", "/notes", "application/json", r#"{"nope": 1}"#, key), 422, "validation failed"),
        (with_body("POST", "/notes", "application/json", r#"{"title": ""}"#, key), 422, "validation failed"),
        (with_body("POST", "/notes", "application/json", r#"{"title": "x"}"#, ""), 401, "X-Api-Key"),
        (
            with_body("POST", "/notes", "application/json", r#"{"title": "x"}"#, "X-Api-Key: no\r\n"),
            403,
            "wrong",
        ),
        (
            b"PATCH /notes/1 HTTP/1.1\r\nHost: x\r\nX-Api-Key: secret\r\nContent-Length: 0\r\n\r\n".to_vec(),
            405,
            "not allowed",
        ),
    ];
    for (request, status, message) in cases {
        let response = client.request(&request);
        assert_eq!(response.status, status, "{}", String::from_utf8_lossy(&request));
        let error = json_of(&response);
        assert_eq!(error["error"]["status"], json!(status));
        assert!(error["error"]["message"].as_str().unwrap().contains(message), "{error}");
    }
    let empty = client.request(&with_body("POST", "/notes", "application/json", r#"{"title": ""}"#, key));
    let fields = &json_of(&empty)["error"]["fields"];
    assert_eq!(fields, &json!([{ "field": "title", "message": "must be 1 to 100 characters" }]));
    let first = client.request(&with_body("POST", "/notes", "application/json", r#"{"title": "once"}"#, key));
    assert_eq!(first.status, 201);
    let again = client.request(&with_body("POST", "/notes", "application/json", r#"{"title": "once"}"#, key));
    assert_eq!(again.status, 409);
    assert_eq!(
        client.request(b"DELETE /notes/1 HTTP/1.1\r\nHost: x\r\n\r\n").header("WWW-Authenticate"),
        Some("ApiKey")
    );
}

#[test]
fn notes_api_rate_limits_writes_with_429() {
    let server = InProcess::start(custom_api::app());
    let mut client = server.connect();
    let statuses: Vec<u16> = (0..custom_api::WRITES_PER_SECOND + 5)
        .map(|i| {
            let body = format!(r#"{{"title": "n{i}"}}"#);
            client
                .request(&with_body("POST", "/notes", "application/json", &body, "X-Api-Key: secret\r\n"))
                .status
        })
        .collect();
    let limited = client.request(&with_body(
        "POST",
        "/notes",
        "application/json",
        r#"{"title": "z"}"#,
        "X-Api-Key: secret\r\n",
    ));
    assert!(statuses.contains(&429) || limited.status == 429, "{statuses:?}");
    if limited.status == 429 {
        assert_eq!(limited.header("Retry-After"), Some("1"));
    }
}

#[test]
fn a_panicking_handler_gets_500_and_the_worker_keeps_serving() {
    let server = InProcess::start(custom_api::app());
    let mut client = server.connect();
    let response = client.request(&get("/panic"));
    assert_eq!(response.status, 500);
    assert_eq!(json_of(&response)["error"]["message"], "the handler panicked");
    assert_eq!(client.request(&get("/notes")).status, 200, "same connection still works");
    assert_eq!(server.connect().request(&get("/notes")).status, 200, "the single worker still serves");
}

// --- answering later -----------------------------------------------------------------------

/// An app whose `/wait` handler answers only when the test says so, from another thread.
fn gated_app() -> (App, mpsc::Sender<()>) {
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let app = App::new()
        .get("/wait", move |_: &Request<'_>, context: &mut Context<'_>| -> Result<Reply, HttpError> {
            let (deferred, completer) = context.defer()?;
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || {
                let _ = gate.lock().unwrap().recv();
                completer.complete(Response::text(StatusCode::OK, "released"));
            });
            Ok(deferred.into())
        })
        .get("/now", |_: &Request<'_>, _: &mut Context<'_>| Response::text(StatusCode::OK, "now"));
    (app, release)
}

#[test]
fn a_deferred_response_does_not_block_other_connections() {
    let (app, release) = gated_app();
    let server = InProcess::start(app); // one worker thread
    let mut waiting = server.connect();
    waiting.send(&get("/wait"));
    // Answered while /wait is still pending on the same (only) worker: the loop is not blocked.
    assert_eq!(server.connect().request(&get("/now")).text(), "now");
    release.send(()).unwrap();
    assert_eq!(waiting.read_response().text(), "released");
}

#[test]
fn pipelined_requests_behind_a_deferred_one_keep_their_order() {
    let (app, release) = gated_app();
    let server = InProcess::start(app);
    let mut client = server.connect();
    client.send(&[get("/wait"), get("/now"), get("/now")].concat());
    // Prove the server has the batch before releasing: another connection round-trips first.
    assert_eq!(server.connect().request(&get("/now")).text(), "now");
    release.send(()).unwrap();
    let texts: Vec<String> = (0..3).map(|_| client.read_response().text()).collect();
    assert_eq!(texts, ["released", "now", "now"]);
}

#[test]
fn a_dropped_completer_answers_500() {
    let app =
        App::new().get("/forget", |_: &Request<'_>, context: &mut Context<'_>| -> Result<Reply, HttpError> {
            let (deferred, completer) = context.defer()?;
            drop(completer);
            Ok(deferred.into())
        });
    let server = InProcess::start(app);
    let mut client: Client = server.connect();
    assert_eq!(client.request(&get("/forget")).status, 500);
    assert_eq!(client.request(&get("/forget")).status, 500, "the connection goes on");
}

#[test]
fn what_a_handler_returns_is_answered_even_after_it_deferred() {
    // Deferral is signalled once, by the returned marker: an error returned after `defer()` is
    // the answer, and the Completer it left behind cannot answer a later request instead.
    let (stale_sent, stale_done) = mpsc::channel::<()>();
    let stale_sent = Mutex::new(Some(stale_sent));
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(Some(released));
    let app = App::new()
        .get(
            "/defer-then-fail",
            move |_: &Request<'_>, context: &mut Context<'_>| -> Result<Reply, HttpError> {
                let (_deferred, completer) = context.defer()?;
                let sent = stale_sent.lock().unwrap().take().unwrap();
                std::thread::spawn(move || {
                    completer.complete(Response::text(StatusCode::OK, "stale"));
                    sent.send(()).unwrap();
                });
                Err(HttpError::bad_request("changed my mind"))
            },
        )
        .get("/later", move |_: &Request<'_>, context: &mut Context<'_>| -> Result<Reply, HttpError> {
            let (deferred, completer) = context.defer()?;
            let released = released.lock().unwrap().take().unwrap();
            std::thread::spawn(move || {
                released.recv().unwrap();
                completer.complete(Response::text(StatusCode::OK, "fresh"));
            });
            Ok(deferred.into())
        });
    let server = InProcess::start(app);
    let mut client: Client = server.connect();
    client.send(&[get("/defer-then-fail"), get("/later")].concat());
    let first = client.read_response();
    assert_eq!((first.status, first.text().contains("changed my mind")), (400, true));
    // The stale completion reaches the worker while /later waits, and is dropped.
    stale_done.recv().unwrap();
    release.send(()).unwrap();
    assert_eq!(client.read_response().text(), "fresh");
}

/// What the tenant middleware below learned from a request, for its handler.
#[derive(Debug)]
struct Tenant(String);

/// Reads `X-Tenant` and hands it to the handler through the request's extensions.
struct TenantFromHeader;

impl pollserve::app::Middleware for TenantFromHeader {
    fn before(&self, request: &Request<'_>, exchange: &mut pollserve::app::Exchange) -> Option<Response> {
        let tenant = request.header("x-tenant").map(|t| String::from_utf8_lossy(t).into_owned())?;
        exchange.extensions.insert(Tenant(tenant));
        None
    }
}

#[test]
fn middleware_hands_typed_values_to_handlers() {
    let app = App::new()
        .get("/whoami", |_: &Request<'_>, context: &mut Context<'_>| {
            let tenant = context.extension::<Tenant>().map_or("nobody", |t| t.0.as_str());
            Response::text(StatusCode::OK, format!("tenant {tenant}"))
        })
        .with(TenantFromHeader);
    let server = InProcess::start(app);
    let mut client = server.connect();
    let tagged = client.request(b"GET /whoami HTTP/1.1\r\nHost: x\r\nX-Tenant: acme\r\n\r\n");
    assert_eq!(tagged.text(), "tenant acme");
    assert_eq!(client.request(&get("/whoami")).text(), "tenant nobody", "each request has its own");
}

#[test]
fn blocking_work_answers_from_its_pool_503_when_full_504_when_late() {
    use std::time::Duration;
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let (started, running) = mpsc::channel::<()>();
    let started = Mutex::new(started);
    let app = App::new()
        .with_blocking_threads(1)
        .get("/quick", |_: &Request<'_>, context: &mut Context<'_>| {
            context.run_blocking(Duration::from_secs(10), || Ok(Response::text(StatusCode::OK, "done")))
        })
        .get("/panics", |_: &Request<'_>, context: &mut Context<'_>| {
            context
                .run_blocking(Duration::from_secs(10), || -> Result<Response, HttpError> { panic!("boom") })
        })
        .get("/held", move |_: &Request<'_>, context: &mut Context<'_>| {
            let (gate, started) = (Arc::clone(&gate), started.lock().unwrap().clone());
            context.run_blocking(Duration::from_millis(300), move || {
                let _ = started.send(());
                let _ = gate.lock().unwrap().recv(); // until the test releases it
                Ok(Response::text(StatusCode::OK, "released"))
            })
        });
    let server = InProcess::start(app);
    let mut client = server.connect();
    assert_eq!(client.request(&get("/quick")).text(), "done");
    assert_eq!(client.request(&get("/panics")).status, 500);
    // One thread, held; its queue holds 64 more; one more is refused at once (whichever the
    // worker reaches last), and past its limit each waiting request gets 504; the work's late
    // answers are dropped.
    let mut held: Vec<Client> = (0..66).map(|_| server.connect()).collect();
    held[0].send(&get("/held"));
    running.recv().unwrap(); // the pool's thread is busy with the first
    for c in &mut held[1..] {
        c.send(&get("/held"));
    }
    let answers: Vec<_> = held.iter_mut().map(|c| c.read_response()).collect();
    let refused: Vec<_> = answers.iter().filter(|r| r.status == 503).collect();
    assert_eq!(refused.len(), 1, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(refused[0].header("Retry-After"), Some("1"));
    assert_eq!(answers.iter().filter(|r| r.status == 504).count(), 65);
    for _ in 0..65 {
        let _ = release.send(());
    }
    for _ in 1..65 {
        running.recv().unwrap(); // every queued piece of work has run: the queue is empty
    }
    assert_eq!(client.request(&get("/quick")).text(), "done", "the pool and the connection go on");
}

#[test]
fn conflicting_routes_are_reported_when_the_server_is_built() {
    let ok = |_: &Request<'_>, _: &mut Context<'_>| Response::no_content();
    let app = App::new().get("/items/{id}", ok).get("/items/{name}", ok);
    let config = Config::new("127.0.0.1:0".parse().unwrap(), 1);
    match Server::bind(config, app) {
        Err(ServerError::Routes(error)) => assert!(error.to_string().contains("conflicts"), "{error}"),
        Err(other) => panic!("expected a route conflict, got {other}"),
        Ok(_) => panic!("expected a route conflict"),
    }
}

// --- the README's library example --------------------------------------------------------------

#[test]
fn the_library_example_serves_its_route() {
    let client = TestClient::new(hello_library::app());
    let response = client.get("/hello/Ann?greeting=Hi");
    assert_eq!((response.status, response.text()), (200, r#"{"message":"Hi, Ann"}"#.to_owned()));
    assert!(response.header("X-Request-Id").is_some());
    assert_eq!(client.get("/hello/Ann?greeting=%zz").status, 400);
}

#[test]
fn a_handler_with_state_in_a_scope_keeps_its_blocking_deadline() {
    // The state's wrapper hands the handler a typed context and must carry `run_blocking`'s
    // deadline back: past it the answer is 504, as for a handler without state.
    use std::time::Duration;
    type Gate = Arc<Mutex<mpsc::Receiver<()>>>;
    let (release, gate) = mpsc::channel::<()>();
    let app = App::new().with_state(Arc::new(Mutex::new(gate))).scope("/slow", |slow| {
        slow.get("/late", |_: &Request<'_>, context: &mut Context<'_, Gate>| {
            let gate = Arc::clone(context.state());
            context.run_blocking(Duration::from_millis(200), move || {
                let _ = gate.lock().unwrap().recv(); // until the test releases it
                Ok(Response::text(StatusCode::OK, "late"))
            })
        })
    });
    let server = InProcess::start(app.erase());
    let late = server.connect().request(&get("/slow/late"));
    let _ = release.send(());
    assert_eq!(late.status, 504);
}
