//! The examples as their users meet them: `fastapi_first` answers what FastAPI's first app
//! answers, and `custom_api` and `fastapi_first` take `--addr` (and refuse anything else).

mod support;

#[allow(dead_code)]
#[path = "../examples/fastapi_first.rs"]
mod fastapi_first;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use pollserve::testing::TestClient;
use serde_json::{Value, json};

#[test]
fn the_fastapi_mirror_answers_like_fastapi() {
    let client = TestClient::new(fastapi_first::app());
    assert_eq!(client.get("/").json::<Value>().unwrap(), json!({ "Hello": "World" }));
    let item = client.get("/items/5?q=somequery").json::<Value>().unwrap();
    assert_eq!(item, json!({ "item_id": 5, "q": "somequery" }));
    assert_eq!(client.get("/items/5").json::<Value>().unwrap(), json!({ "item_id": 5, "q": null }));
    let updated = client.request("PUT", "/items/5").json(&json!({ "name": "Barz", "price": 3.5 })).send();
    assert_eq!(updated.json::<Value>().unwrap(), json!({ "item_name": "Barz", "item_id": 5 }));
    // Where FastAPI answers 422, so does this: a path parameter that is not an integer, a body
    // without its required field or with one of the wrong type.
    let not_int = client.get("/items/foo");
    assert_eq!(not_int.status, 422);
    let no_price = client.request("PUT", "/items/5").json(&json!({ "name": "Barz" })).send();
    assert_eq!(no_price.status, 422);
    let fields = &no_price.json::<Value>().unwrap()["error"]["fields"];
    assert_eq!(fields, &json!([{ "field": "price", "message": "is required" }]));
    let wrong =
        client.request("PUT", "/items/5").json(&json!({ "name": "x", "price": 1, "is_offer": "yes" })).send();
    assert_eq!(wrong.status, 422);
    let doc: Value = client.get("/openapi.json").json().unwrap();
    let read = &doc["paths"]["/items/{item_id}"]["get"];
    assert_eq!(
        (read["parameters"][0]["name"].clone(), read["parameters"][1]["name"].clone()),
        (json!("item_id"), json!("q"))
    );
    assert_eq!(doc["components"]["schemas"]["Item"]["required"], json!(["name", "price"]));
    assert_eq!(client.get("/docs/").status, 200);
}

/// An example's binary: `cargo test` builds the examples beside the test binaries; a run of this
/// test file alone builds the one it needs.
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let binary = deps.parent().unwrap().join("examples").join(name);
    if !binary.exists() {
        let built = Command::new(env!("CARGO")).args(["build", "--example", name]).status().unwrap();
        assert!(built.success(), "cargo build --example {name}");
    }
    binary
}

#[test]
fn the_examples_listen_where_addr_says_and_refuse_other_flags() {
    for name in ["custom_api", "fastapi_first"] {
        let mut child = Command::new(example(name))
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.split("http://").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap();
        let mut client = support::Client::connect(addr.parse().unwrap());
        let status = client.request(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n").status;
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(status, 200, "{name} on {addr}");
        let refused = Command::new(example(name)).arg("--port").output().unwrap();
        assert_eq!(refused.status.code(), Some(2), "{name}");
        assert!(String::from_utf8_lossy(&refused.stderr).contains("usage"), "{name}");
    }
}
